package cache_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies keeps package cache free of storage technology: the
// backends live in subpackages named after it.
func TestDependencies(t *testing.T) {
	forbidden := []string{"github.com/redis/", "github.com/maypok86/", "net/http", "database/sql", "github.com/penny-gateway/penny/internal/"}
	allowed := []string{"github.com/penny-gateway/penny/internal/llm"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
	imports:
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, ok := range allowed {
				if path == ok {
					continue imports
				}
			}
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s; package cache must not", file, path)
				}
			}
		}
	}
}
