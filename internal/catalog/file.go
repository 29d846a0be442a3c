package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// file is the shape of a catalog file.
type file struct {
	Source string `yaml:"source"`
	AsOf   string `yaml:"as_of"`
	// Sources are referred to by key from models, prices and lifecycles.
	Sources map[string]Source `yaml:"sources"`
	Models  []*Model          `yaml:"models"`
}

// Parse decodes a complete catalog file strictly (unknown keys are errors)
// and validates it.
func Parse(data []byte) (*Catalog, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	return c, c.index(c.models)
}

// decode decodes a catalog file strictly without validating its models,
// which in a user file may be partial entries that merge into built-in ones.
func decode(data []byte) (*Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var raw struct {
		Models []yaml.Node `yaml:"models"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	c := &Catalog{Source: f.Source, AsOf: f.AsOf, Sources: f.Sources, models: f.Models, raw: map[string]*yaml.Node{}}
	for i, m := range f.Models {
		if m != nil && i < len(raw.Models) {
			c.raw[m.ID] = &raw.Models[i]
		}
	}
	return c, nil
}

// Load returns the built-in catalog with the models of a user file merged
// in. An entry whose id is a built-in model's merges into it: the keys it
// sets replace the built-in values (mappings such as prices and
// capabilities key by key, lists whole), except aliases, which are added to
// the built-in ones; keys it leaves out keep the built-in values. An entry
// with a new id adds a model and must be complete. The file is decoded
// strictly: unknown keys are errors.
func Load(path string) (*Catalog, error) {
	base, err := Builtin()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return base, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	user, err := decode(data)
	if err == nil {
		user, err = base.Merge(user)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return user, nil
}

// Merge returns c with other's models merged in as Load describes, and
// other's sources added to c's. The result is validated.
func (c *Catalog) Merge(other *Catalog) (*Catalog, error) {
	out := &Catalog{Source: c.Source, AsOf: c.AsOf, Sources: maps.Clone(c.Sources), raw: maps.Clone(c.raw)}
	if other.Source != "" {
		out.Source = c.Source + "; " + other.Source
	}
	if out.Sources == nil {
		out.Sources = map[string]Source{}
	}
	maps.Copy(out.Sources, other.Sources)
	if out.raw == nil {
		out.raw = map[string]*yaml.Node{}
	}
	byID := map[string]*Model{}
	var order []string
	for _, m := range c.models {
		byID[m.ID] = m
		order = append(order, m.ID)
	}
	for i, m := range other.models {
		if m == nil {
			return nil, fmt.Errorf("models[%d]: empty entry", i)
		}
		prev, ok := byID[m.ID]
		if !ok {
			order = append(order, m.ID)
		}
		base, patch := c.raw[m.ID], other.raw[m.ID]
		if ok && prev != nil && base != nil && patch != nil {
			node := mergeNode(base, patch, true)
			merged := new(Model)
			if err := node.Decode(merged); err != nil {
				return nil, fmt.Errorf("model %s: merging into the built-in entry: %w", m.ID, err)
			}
			// Prices or a lifecycle the file sets are the file's, not the
			// built-in source's, unless it names one.
			if v := child(patch, "prices"); v != nil && child(v, "source") == nil {
				merged.Prices.Source = ""
			}
			if v := child(patch, "lifecycle"); v != nil && child(v, "source") == nil {
				merged.Lifecycle.Source = ""
			}
			m = merged
			patch = node
		}
		byID[m.ID] = m
		out.raw[m.ID] = patch
	}
	models := make([]*Model, 0, len(order))
	for _, id := range order {
		models = append(models, byID[id])
	}
	return out, out.index(models)
}

// mergeNode returns base with over's keys merged in when both are
// mappings, else over. At the top (a model's mapping) aliases are a union.
func mergeNode(base, over *yaml.Node, top bool) *yaml.Node {
	if base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := *base
	out.Content = append([]*yaml.Node(nil), base.Content...)
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		j := -1
		for n := 0; n+1 < len(out.Content); n += 2 {
			if out.Content[n].Value == k.Value {
				j = n + 1
				break
			}
		}
		switch {
		case j < 0:
			out.Content = append(out.Content, k, v)
		case top && k.Value == "aliases":
			out.Content[j] = unionSeq(out.Content[j], v)
		default:
			out.Content[j] = mergeNode(out.Content[j], v, false)
		}
	}
	return &out
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// unionSeq returns the items of a followed by those of b it lacks
// (case-insensitively), or b when either is not a sequence.
func unionSeq(a, b *yaml.Node) *yaml.Node {
	if a.Kind != yaml.SequenceNode || b.Kind != yaml.SequenceNode {
		return b
	}
	out := *a
	out.Content = append([]*yaml.Node(nil), a.Content...)
	for _, x := range b.Content {
		dup := false
		for _, y := range a.Content {
			dup = dup || strings.EqualFold(x.Value, y.Value)
		}
		if !dup {
			out.Content = append(out.Content, x)
		}
	}
	return &out
}

// index validates models and builds the name index.
func (c *Catalog) index(models []*Model) error {
	c.models = models
	c.byName = map[string]*Model{}
	ids := map[string]bool{}
	for _, m := range models {
		if m != nil {
			ids[m.ID] = true
		}
	}
	add := func(name string, m *Model) error {
		key := strings.ToLower(name)
		if prev, ok := c.byName[key]; ok && prev != m {
			return fmt.Errorf("name %q is used by both %s and %s", name, prev.ID, m.ID)
		}
		c.byName[key] = m
		return nil
	}
	for i, m := range models {
		if m == nil || m.ID == "" {
			return fmt.Errorf("models[%d]: id is required", i)
		}
		if err := c.validate(m, ids); err != nil {
			return fmt.Errorf("model %s: %w", m.ID, err)
		}
		if m.Provider == "" {
			m.Provider = "bedrock"
		}
		names := append([]string{m.ID}, m.Aliases...)
		if m.BedrockID != "" {
			names = append(names, m.BedrockID)
			for _, geo := range m.InferenceProfiles {
				names = append(names, geo+"."+m.BedrockID)
			}
		}
		for _, n := range names {
			if err := add(n, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks one model against the catalog's ids and sources.
func (c *Catalog) validate(m *Model, ids map[string]bool) error {
	if m.BedrockID == "" && m.Provider == "" {
		return errors.New("bedrock_id is required")
	}
	if m.Tier.Rank() == 0 {
		return fmt.Errorf("tier %q is not one of economy, standard, premium, frontier", m.Tier)
	}
	if err := m.Prices.validate(m.Capabilities.Chat); err != nil {
		return fmt.Errorf("prices: %w", err)
	}
	for _, t := range m.Capabilities.ServiceTiers {
		if !t.Valid() || t == "" || t == "default" {
			return fmt.Errorf("capabilities.service_tiers: %q is not flex, priority or reserved", t)
		}
	}
	if pc := m.Capabilities.PromptCache; pc != nil {
		for _, ttl := range pc.TTLs {
			if ttl != "5m" && ttl != "1h" {
				return fmt.Errorf("capabilities.prompt_cache.ttls: %q is not 5m or 1h", ttl)
			}
		}
	}
	if err := m.Lifecycle.validate(ids); err != nil {
		return fmt.Errorf("lifecycle: %w", err)
	}
	keys := append([]string{m.Prices.Source, m.Lifecycle.Source}, m.Sources...)
	for _, k := range keys {
		if _, ok := c.Sources[k]; k != "" && !ok {
			return fmt.Errorf("source %q is not in the catalog's sources", k)
		}
	}
	return nil
}
