// Package templates holds managed prompt templates: named, versioned
// prompts with text/template variables and few-shot examples, loaded from
// YAML files at start-up and referenced by requests as "name@version"
// (the latest version when the version is left out).
package templates

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/llm"
)

// File is one template file: a template with all its versions.
type File struct {
	// Name is what requests reference, e.g. "support-answer".
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Versions    []Version `yaml:"versions"`
}

// Version is one version of a template. System, User and the examples are
// text/template texts whose variables ({{.product}}) come from the request.
type Version struct {
	// Version is a positive integer; the highest is the latest.
	Version  int       `yaml:"version"`
	System   string    `yaml:"system"`
	User     string    `yaml:"user"`
	Examples []Example `yaml:"examples"`
	// MaxTokens, if set, is max_tokens for requests that send none.
	MaxTokens int `yaml:"max_tokens"`
}

// Example is a few-shot pair inserted before the user message.
type Example struct {
	User      string `yaml:"user"`
	Assistant string `yaml:"assistant"`
}

// Store holds the loaded templates. It is read-only after Load and safe
// for concurrent use.
type Store struct {
	byName map[string]*entry
}

type entry struct {
	name     string
	versions map[int]*compiled
	latest   int
}

type compiled struct {
	ref       string
	system    *template.Template
	user      *template.Template
	examples  [][2]*template.Template
	maxTokens int
	vars      []string // sorted variable names the texts use
}

// Rendered is a template rendered with a request's variables.
type Rendered struct {
	// Ref is the template and version used, "name@version".
	Ref string
	// System is the rendered system prompt (empty when it has none).
	System []llm.SystemBlock
	// Messages are the few-shot examples followed by the user message.
	Messages []llm.Message
	// MaxTokens is the template's default max_tokens, or nil.
	MaxTokens *int
	// Vars are the variable names the template uses.
	Vars []string
}

// Load reads every *.yaml and *.yml file in dir. Decoding is strict
// (unknown keys are errors); names must be unique across files and
// versions within a template; every text must parse as a template.
func Load(dir string) (*Store, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	more, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	paths = append(paths, more...)
	sort.Strings(paths)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s := &Store{byName: map[string]*entry{}}
	files := map[string]string{}
	for _, p := range paths {
		f, err := decodeFile(p)
		if err != nil {
			return nil, err
		}
		if prev, dup := files[f.Name]; dup {
			return nil, fmt.Errorf("templates: %s: template %q is already defined in %s", p, f.Name, prev)
		}
		files[f.Name] = p
		e, err := compileFile(f)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
		s.byName[f.Name] = e
	}
	return s, nil
}

func decodeFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("templates: %s: file is empty", path)
		}
		return nil, fmt.Errorf("templates: %s: %w", path, err)
	}
	return &f, nil
}

func compileFile(f *File) (*entry, error) {
	if f.Name == "" {
		return nil, errors.New("name is required")
	}
	if strings.ContainsAny(f.Name, "@ \t\n") {
		return nil, fmt.Errorf("template name %q must not contain '@' or white space", f.Name)
	}
	if len(f.Versions) == 0 {
		return nil, fmt.Errorf("template %s: at least one version is required", f.Name)
	}
	e := &entry{name: f.Name, versions: map[int]*compiled{}}
	for i, v := range f.Versions {
		where := fmt.Sprintf("template %s: versions[%d]", f.Name, i)
		if v.Version < 1 {
			return nil, fmt.Errorf("%s: version must be a positive integer, got %d", where, v.Version)
		}
		if _, dup := e.versions[v.Version]; dup {
			return nil, fmt.Errorf("%s: duplicate version %d", where, v.Version)
		}
		if strings.TrimSpace(v.User) == "" {
			return nil, fmt.Errorf("%s: user is required", where)
		}
		if v.MaxTokens < 0 {
			return nil, fmt.Errorf("%s: max_tokens must not be negative", where)
		}
		c := &compiled{ref: f.Name + "@" + strconv.Itoa(v.Version), maxTokens: v.MaxTokens}
		vars := map[string]bool{}
		var err error
		parseText := func(field, text string) *template.Template {
			if err != nil {
				return nil
			}
			var t *template.Template
			t, err = template.New(c.ref + " " + field).Option("missingkey=error").Parse(text)
			if err != nil {
				err = fmt.Errorf("%s: %s: %w", where, field, err)
				return nil
			}
			collectVars(t.Tree.Root, vars)
			return t
		}
		c.system = parseText("system", v.System)
		c.user = parseText("user", v.User)
		for j, ex := range v.Examples {
			if err == nil && (strings.TrimSpace(ex.User) == "" || strings.TrimSpace(ex.Assistant) == "") {
				err = fmt.Errorf("%s: examples[%d]: user and assistant are both required", where, j)
			}
			u := parseText(fmt.Sprintf("examples[%d].user", j), ex.User)
			a := parseText(fmt.Sprintf("examples[%d].assistant", j), ex.Assistant)
			c.examples = append(c.examples, [2]*template.Template{u, a})
		}
		if err != nil {
			return nil, err
		}
		for k := range vars {
			c.vars = append(c.vars, k)
		}
		sort.Strings(c.vars)
		e.versions[v.Version] = c
		e.latest = max(e.latest, v.Version)
	}
	return e, nil
}

// collectVars adds the top-level field names a template reads ({{.x}},
// {{if .x}}, {{.x | f}}) to vars.
func collectVars(n parse.Node, vars map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectVars(c, vars)
		}
	case *parse.ActionNode:
		collectVars(n.Pipe, vars)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			collectVars(c, vars)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			collectVars(a, vars)
		}
	case *parse.FieldNode:
		if len(n.Ident) > 0 {
			vars[n.Ident[0]] = true
		}
	case *parse.ChainNode:
		collectVars(n.Node, vars)
	case *parse.IfNode:
		collectVars(n.Pipe, vars)
		collectVars(n.List, vars)
		collectVars(n.ElseList, vars)
	case *parse.RangeNode:
		collectVars(n.Pipe, vars)
		collectVars(n.List, vars)
		collectVars(n.ElseList, vars)
	case *parse.WithNode:
		collectVars(n.Pipe, vars)
		collectVars(n.List, vars)
		collectVars(n.ElseList, vars)
	}
}

// Names returns the template names, sorted.
func (s *Store) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Versions returns the versions of a template, ascending, or nil.
func (s *Store) Versions(name string) []int {
	e, ok := s.byName[name]
	if !ok {
		return nil
	}
	vs := make([]int, 0, len(e.versions))
	for v := range e.versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func (s *Store) lookup(ref string) (*compiled, error) {
	name, ver, hasVer := strings.Cut(ref, "@")
	e, ok := s.byName[name]
	if !ok {
		return nil, notFound("prompt template %q is not configured", name)
	}
	if !hasVer || ver == "" || ver == "latest" {
		return e.versions[e.latest], nil
	}
	n, err := strconv.Atoi(ver)
	if err != nil || n < 1 {
		return nil, llm.Errorf(llm.KindValidation, "prompt template %q: version %q is not a positive integer", ref, ver)
	}
	c, ok := e.versions[n]
	if !ok {
		return nil, notFound("prompt template %s has no version %d (latest is %d)", name, n, e.latest)
	}
	return c, nil
}

// Render renders the template ref ("name", "name@latest" or "name@3")
// with vars. An unknown template or version is a KindNotFound error; a
// malformed version or a variable the template uses but vars lacks is a
// KindValidation error naming it. Extra variables are ignored.
func (s *Store) Render(ref string, vars map[string]string) (*Rendered, error) {
	if s == nil {
		return nil, notFound("prompt template %q: no prompt templates are configured", ref)
	}
	c, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, v := range c.vars {
		if _, ok := vars[v]; !ok {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return nil, llm.Errorf(llm.KindValidation, "prompt template %s: missing variable %s (send it in metadata)",
			c.ref, strings.Join(missing, ", "))
	}
	exec := func(t *template.Template) (string, error) {
		var b strings.Builder
		if err := t.Execute(&b, vars); err != nil {
			return "", llm.Errorf(llm.KindValidation, "prompt template %s: %w", c.ref, err)
		}
		return b.String(), nil
	}
	r := &Rendered{Ref: c.ref, Vars: c.vars}
	sys, err := exec(c.system)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(sys) != "" {
		r.System = []llm.SystemBlock{{Text: sys}}
	}
	for _, ex := range c.examples {
		u, err := exec(ex[0])
		if err != nil {
			return nil, err
		}
		a, err := exec(ex[1])
		if err != nil {
			return nil, err
		}
		r.Messages = append(r.Messages,
			llm.Message{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(u)}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(a)}})
	}
	u, err := exec(c.user)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(u) == "" {
		return nil, llm.Errorf(llm.KindValidation, "prompt template %s: the user message rendered empty", c.ref)
	}
	r.Messages = append(r.Messages, llm.Message{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(u)}})
	if c.maxTokens > 0 {
		mt := c.maxTokens
		r.MaxTokens = &mt
	}
	return r, nil
}

// notFound is the error of an unknown template or version, with its own
// code so clients can tell it from an unknown model.
func notFound(format string, args ...any) *llm.Error {
	e := llm.Errorf(llm.KindNotFound, format, args...)
	e.Code = "template_not_found"
	return e
}
