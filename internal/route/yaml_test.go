package route

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAMLShape decodes the documented penny.yaml shape of both strategies
// strictly, as the config package does, and compiles it.
func TestYAMLShape(t *testing.T) {
	const doc = `
- name: support
  baseline: nova-pro
  strategy: agent
  tiers:
    - {name: cheap, model: nova-micro}
    - {name: strong, model: nova-pro}
  agent:
    model: nova-micro
    labels: {simple: cheap, complex: strong}
    default: cheap
- name: extract
  baseline: nova-pro
  strategy: cascade
  tiers:
    - {name: cheap, model: nova-micro, max_tokens: 400}
    - {name: strong, model: nova-pro}
  cascade:
    cheap: cheap
    strong: strong
    checks:
      min_chars: 20
      refusal_patterns: ["(?i)i can't help"]
      stop_reasons_ok: [end_turn, stop_sequence]
      json_schema:
        type: object
        required: [name, total]
        properties:
          name: {type: string}
          total: {type: number}
          lines: {type: array, items: {type: object}}
      judge: {model: nova-pro, min_score: 7}
`
	var cfgs []Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfgs); err != nil {
		t.Fatal(err)
	}
	tb, err := NewTable(cfgs, known)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tb.Get("extract")
	if err := r.cascade.schema.validateText(`{"name": "x", "total": 3}`); err != nil {
		t.Error(err)
	}
	if err := r.cascade.schema.validateText(`{"name": "x"}`); err == nil {
		t.Error("missing total accepted")
	}
}
