package govern

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies keeps govern away from storage and HTTP: the ledger is
// reached only through BudgetOptions.Spent.
func TestDependencies(t *testing.T) {
	allowed := map[string]bool{
		"github.com/penny-gateway/penny/internal/llm":     true,
		"github.com/penny-gateway/penny/internal/keys":    true,
		"github.com/penny-gateway/penny/internal/catalog": true,
		"github.com/penny-gateway/penny/internal/tokens":  true,
	}
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(p, ".") && !allowed[p] || p == "net/http" || p == "database/sql" {
				t.Errorf("%s imports %s", file, p)
			}
		}
	}
}
