// Package layering_test keeps the module's imports pointing the way the
// architecture says: down toward internal/llm, storage technology inside the
// packages named after it. It reads the imports of every non-test Go file
// under internal/ and cmd/ and checks them against one table of rules.
package layering_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/penny-gateway/penny"

// A pattern names packages:
//
//	net/http            that package
//	net/http/...        it and every package below it
//	internal/llm        a package of this module (patterns starting with
//	                    internal/ or cmd/ are relative to the module)
//	...                 every package of this module
//	notStd              every package outside the standard library, this
//	                    module's included
//	anyPackage          every package
const (
	notStd     = "<not std>"
	anyPackage = "<any>"
)

// stages are the packages whose Stage wraps an llm.Invoker: the cost
// levers of the chain that internal/app assembles.
var stages = []string{
	"internal/route", "internal/cache", "internal/promptcache", "internal/govern",
	"internal/promptpolicy", "internal/templates", "internal/tracing", "internal/fallback",
	"internal/account", "internal/servicetier",
}

// storageDrivers are the packages that talk to a database.
var storageDrivers = []string{
	"database/sql/...", "modernc.org/...", "github.com/mattn/go-sqlite3/...",
	"github.com/jackc/...", "github.com/lib/pq/...", "github.com/redis/...",
}

// rule forbids the packages from (less except) to import deny (less allow).
type rule struct {
	name   string // what the rule keeps, for the failure message
	from   []string
	except []string
	deny   []string
	allow  []string
	// pending rules describe where the code is going: their violations
	// are logged, not failures, until the code gets there and the flag
	// comes off.
	pending bool
}

var rules = []rule{
	{
		name: "internal/llm is the bottom: nothing from the module, no HTTP, no SQL",
		from: []string{"internal/llm"},
		deny: []string{module + "/...", "net/http/...", "database/sql/..."},
	},
	{
		name:  "internal/llm needs nothing but basic standard packages: no I/O, HTTP or storage",
		from:  []string{"internal/llm"},
		deny:  []string{anyPackage},
		allow: []string{"context", "encoding/json", "errors", "fmt", "io", "strconv", "strings", "time"},
	},
	{
		name: "internal/ledger has no HTTP and no store subpackages: stores live in packages named after their technology",
		from: []string{"internal/ledger"},
		deny: []string{"net/http/...", "internal/ledger/..."},
	},
	{
		name: "domain packages import no storage driver",
		from: []string{"internal/ledger", "internal/keys", "internal/responses", "internal/batch"},
		deny: storageDrivers,
	},
	{
		name: "internal/keys has no HTTP and no AWS: verification lives in internal/auth",
		from: []string{"internal/keys"},
		deny: []string{"net/http/...", "github.com/aws/..."},
	},
	{
		name:  "internal/cache knows only internal/llm: its backends live in subpackages",
		from:  []string{"internal/cache"},
		deny:  []string{"internal/...", "github.com/redis/...", "github.com/maypok86/...", "net/http/...", "database/sql/..."},
		allow: []string{"internal/llm"},
	},
	{
		name:  "internal/govern has no storage and no HTTP: it reaches the ledger only through BudgetOptions.Spent",
		from:  []string{"internal/govern"},
		deny:  []string{notStd, "net/http/...", "database/sql/..."},
		allow: []string{"internal/llm", "internal/keys", "internal/catalog", "internal/tokens"},
	},
	{
		name:   "only internal/sqlite imports the SQLite driver",
		from:   []string{"..."},
		except: []string{"internal/sqlite"},
		deny:   []string{"modernc.org/sqlite/..."},
	},
	{
		name: "internal/advise reads the ledger through ledger.Profiler and prices with internal/catalog: no storage, no HTTP",
		from: []string{"internal/advise"},
		deny: append([]string{"net/http/...", "internal/sqlite/...", "internal/app/..."}, storageDrivers...),
	},
	{
		name: "no stage imports another stage: internal/app orders them",
		from: stages,
		deny: stages,
	},
	{
		name: "internal/gateway imports no stage: internal/app assembles the chain",
		from: []string{"internal/gateway"},
		deny: stages,
	},
}

// TestLayering checks the module's imports against the rules.
func TestLayering(t *testing.T) {
	g := loadGraph(t)
	// A rule whose packages do not exist (renamed, mistyped) would pass
	// forever: make it fail instead.
	for _, r := range rules {
		for _, p := range r.from {
			if !slices.ContainsFunc(g.pkgs(), func(pkg string) bool { return match(p, pkg) }) {
				t.Errorf("rule %q: no package matches %s", r.name, p)
			}
		}
	}
	for _, v := range check(rules, g) {
		if v.rule.pending {
			t.Logf("pending: %s", v)
		} else {
			t.Error(v)
		}
	}
}

// TestRulesCatch runs the rules on made-up imports, so that each rule is
// seen to fail, and pending ones to only log.
func TestRulesCatch(t *testing.T) {
	tests := []struct {
		name    string
		imports map[string][]string // package -> its imports, as patterns
		fail    []string            // "package -> import" that must fail
		pend    []string            // "package -> import" that must only be logged
	}{
		{name: "llm on the standard library", imports: map[string][]string{
			"internal/llm": {"context", "encoding/json", "errors"}}},
		{name: "llm above the bottom", imports: map[string][]string{
			"internal/llm": {"fmt", "net/http", "database/sql/driver", "internal/catalog"}},
			fail: []string{"internal/llm -> net/http", "internal/llm -> database/sql/driver", "internal/llm -> internal/catalog"}},
		{name: "llm beyond basic standard packages", imports: map[string][]string{
			"internal/llm": {"strconv", "os", "math/big"}},
			fail: []string{"internal/llm -> os", "internal/llm -> math/big"}},
		{name: "ledger with HTTP, a driver and a store subpackage", imports: map[string][]string{
			"internal/ledger": {"internal/llm", "net/http/httptest", "database/sql", "modernc.org/sqlite", "internal/ledger/sqlite"}},
			fail: []string{"internal/ledger -> net/http/httptest", "internal/ledger -> database/sql",
				"internal/ledger -> modernc.org/sqlite", "internal/ledger -> internal/ledger/sqlite"}},
		{name: "keys with a driver, HTTP and AWS", imports: map[string][]string{
			"internal/keys": {"internal/llm", "crypto/sha256", "github.com/jackc/pgx/v5", "net/http", "github.com/aws/aws-sdk-go-v2/aws"}},
			fail: []string{"internal/keys -> github.com/jackc/pgx/v5", "internal/keys -> net/http",
				"internal/keys -> github.com/aws/aws-sdk-go-v2/aws"}},
		{name: "sqlite may use the driver", imports: map[string][]string{
			"internal/sqlite": {"database/sql", "modernc.org/sqlite", "internal/ledger", "internal/keys"}}},
		{name: "nobody else may", imports: map[string][]string{
			"internal/app": {"internal/sqlite", "modernc.org/sqlite"},
			"cmd/penny":    {"modernc.org/sqlite/lib"}},
			fail: []string{"internal/app -> modernc.org/sqlite", "cmd/penny -> modernc.org/sqlite/lib"}},
		{name: "cache beyond llm", imports: map[string][]string{
			"internal/cache": {"internal/llm", "internal/keys", "internal/cache/redis", "github.com/redis/go-redis/v9", "github.com/maypok86/otter/v2"}},
			fail: []string{"internal/cache -> internal/keys", "internal/cache -> internal/cache/redis",
				"internal/cache -> github.com/redis/go-redis/v9", "internal/cache -> github.com/maypok86/otter/v2"}},
		{name: "cache backends use their technology", imports: map[string][]string{
			"internal/cache/redis": {"internal/cache", "github.com/redis/go-redis/v9"}}},
		{name: "govern beyond its allowance", imports: map[string][]string{
			"internal/govern": {"internal/catalog", "internal/keys", "internal/tokens", "internal/ledger",
				"github.com/prometheus/client_golang/prometheus", "net/http", "time"}},
			fail: []string{"internal/govern -> internal/ledger",
				"internal/govern -> github.com/prometheus/client_golang/prometheus", "internal/govern -> net/http"}},
		{name: "a stage importing a stage", imports: map[string][]string{
			"internal/route":    {"internal/cache", "internal/route/learned"},
			"internal/fallback": {"internal/llm", "internal/catalog"}},
			fail: []string{"internal/route -> internal/cache"}},
		{name: "govern importing a stage fails twice", imports: map[string][]string{
			"internal/govern": {"internal/cache"}},
			fail: []string{"internal/govern -> internal/cache", "internal/govern -> internal/cache"}},
		{name: "the advisor reaching for the store", imports: map[string][]string{
			"internal/advise": {"internal/ledger", "internal/catalog", "internal/sqlite", "database/sql", "net/http"}},
			fail: []string{"internal/advise -> internal/sqlite", "internal/advise -> database/sql", "internal/advise -> net/http"}},
		{name: "the gateway importing a stage", imports: map[string][]string{
			"internal/gateway": {"internal/llm", "internal/tracing", "internal/account"}},
			fail: []string{"internal/gateway -> internal/tracing", "internal/gateway -> internal/account"}},
	}
	caught := map[string]bool{} // rule names that failed or pended somewhere
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graph{}
			for pkg, imps := range tt.imports {
				for _, imp := range imps {
					g[resolve(pkg)] = append(g[resolve(pkg)], importSpec{path: resolve(imp), pos: pkg + "/x.go:1"})
				}
			}
			var fail, pend []string
			for _, v := range check(rules, g) {
				caught[v.rule.name] = true
				edge := short(v.pkg) + " -> " + short(v.imp.path)
				if v.rule.pending {
					pend = append(pend, edge)
				} else {
					fail = append(fail, edge)
				}
			}
			if got, want := set(fail), set(tt.fail); !slices.Equal(got, want) {
				t.Errorf("failures\n got %q\nwant %q", got, want)
			}
			if got, want := set(pend), set(tt.pend); !slices.Equal(got, want) {
				t.Errorf("pending\n got %q\nwant %q", got, want)
			}
		})
	}
	for _, r := range rules {
		if !caught[r.name] {
			t.Errorf("rule %q is never seen to catch anything: add a case", r.name)
		}
	}
}

// importSpec is one import of one file; pos is file:line.
type importSpec struct {
	path, pos string
}

// graph maps each package's import path to the imports of its non-test
// files.
type graph map[string][]importSpec

func (g graph) pkgs() []string {
	var out []string
	for p := range g {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

type violation struct {
	rule *rule
	pkg  string
	imp  importSpec
}

func (v violation) String() string {
	return fmt.Sprintf("%s: %s imports %s; rule: %s", v.imp.pos, short(v.pkg), v.imp.path, v.rule.name)
}

// check returns every import that breaks a rule, in package order.
func check(rules []rule, g graph) []violation {
	var out []violation
	for _, pkg := range g.pkgs() {
		for i := range rules {
			r := &rules[i]
			if !matchAny(r.from, pkg) || matchAny(r.except, pkg) {
				continue
			}
			for _, imp := range g[pkg] {
				if matchAny(r.deny, imp.path) && !matchAny(r.allow, imp.path) {
					out = append(out, violation{rule: r, pkg: pkg, imp: imp})
				}
			}
		}
	}
	return out
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// match reports whether the import path is one of the packages pattern
// names (see notStd for the forms).
func match(pattern, path string) bool {
	switch pattern {
	case anyPackage:
		return true
	case notStd:
		first, _, _ := strings.Cut(path, "/")
		return strings.Contains(first, ".")
	case "...":
		return path == module || strings.HasPrefix(path, module+"/")
	}
	pattern = resolve(pattern)
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// resolve makes a module-relative pattern (internal/…, cmd/…) a full one.
func resolve(pattern string) string {
	if strings.HasPrefix(pattern, "internal/") || strings.HasPrefix(pattern, "cmd/") {
		return module + "/" + pattern
	}
	return pattern
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }

func set(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// loadGraph parses the imports of every non-test Go file under internal/
// and cmd/ (testdata and hidden directories aside).
func loadGraph(t *testing.T) graph {
	t.Helper()
	root := moduleRoot(t)
	g := graph{}
	fset := token.NewFileSet()
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			pkg := module + "/" + filepath.ToSlash(rel)
			if _, ok := g[pkg]; !ok {
				g[pkg] = nil // a package whose files import nothing is still a package
			}
			for _, imp := range f.Imports {
				p, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					return err
				}
				pos := fset.Position(imp.Pos())
				file, _ := filepath.Rel(root, pos.Filename)
				g[pkg] = append(g[pkg], importSpec{path: p, pos: fmt.Sprintf("%s:%d", filepath.ToSlash(file), pos.Line)})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, must := range []string{"internal/llm", "internal/sqlite", "cmd/penny"} {
		if _, ok := g[resolve(must)]; !ok {
			t.Fatalf("found no package %s under %s: the walk is broken", must, root)
		}
	}
	return g
}

// moduleRoot is the directory of the go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
