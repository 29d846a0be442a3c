package catalog

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/llm"
)

// Status is a model's lifecycle state on Bedrock.
type Status string

const (
	// StatusActive models are served and maintained.
	StatusActive Status = "active"
	// StatusLegacy models are still served but have (or will get) an
	// end-of-life date; new accounts may not get access.
	StatusLegacy Status = "legacy"
	// StatusRetired models have reached end of life: Bedrock refuses them.
	StatusRetired Status = "retired"
)

// Lifecycle is where a model stands on Bedrock, per its source.
type Lifecycle struct {
	// Status is active when not set.
	Status Status `yaml:"status"`
	// LegacySince is when the model became legacy, if known.
	LegacySince Date `yaml:"legacy_since"`
	// Retires is the end-of-life date: from that day (UTC) Bedrock
	// refuses the model, whatever Status says.
	Retires Date `yaml:"retires"`
	// Replacement is the catalog id of the model to move to.
	Replacement string `yaml:"replacement"`
	// Source is the key, in the catalog's sources, of these facts.
	Source string `yaml:"source"`
}

// Date is a calendar date, written YYYY-MM-DD; the zero Date is unknown.
type Date struct{ time.Time }

// UnmarshalYAML parses YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil {
		return fmt.Errorf("line %d: date %q is not YYYY-MM-DD", n.Line, n.Value)
	}
	d.Time = t
	return nil
}

// String is YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Format(time.DateOnly)
}

func (l Lifecycle) validate(ids map[string]bool) error {
	switch l.Status {
	case "", StatusActive, StatusLegacy, StatusRetired:
	default:
		return fmt.Errorf("status %q is not active, legacy or retired", l.Status)
	}
	if l.Replacement != "" && !ids[l.Replacement] {
		return fmt.Errorf("replacement %q is not a catalog id", l.Replacement)
	}
	if !l.LegacySince.IsZero() && !l.Retires.IsZero() && l.Retires.Before(l.LegacySince.Time) {
		return fmt.Errorf("retires %s is before legacy_since %s", l.Retires, l.LegacySince)
	}
	return nil
}

// Status returns m's lifecycle state at now: retired from its end-of-life
// date on, legacy from its legacy date on, else what the catalog says.
func (m *Model) Status(now time.Time) Status {
	l := m.Lifecycle
	day := now.UTC()
	switch {
	case l.Status == StatusRetired || !l.Retires.IsZero() && !day.Before(l.Retires.Time):
		return StatusRetired
	case l.Status == StatusLegacy || !l.LegacySince.IsZero() && !day.Before(l.LegacySince.Time):
		return StatusLegacy
	}
	return StatusActive
}

// CheckServable says whether Bedrock still serves m at now. A retired model
// is an *llm.Error of kind not_found (Bedrock no longer knows the id, as
// for an unknown model) naming the date and the replacement; a legacy
// model is served, with a warning for the client naming the end-of-life
// date, if known, and the replacement; an active one has neither.
func (m *Model) CheckServable(now time.Time) (warning string, err error) {
	l := m.Lifecycle
	instead := ""
	if l.Replacement != "" {
		instead = "; use " + l.Replacement + " instead"
	}
	switch m.Status(now) {
	case StatusRetired:
		when := ""
		if !l.Retires.IsZero() {
			when = " on " + l.Retires.String()
		}
		return "", llm.Errorf(llm.KindNotFound,
			"model %s (%s) was retired on Bedrock%s and is no longer served%s, or map the old id to another model with a route",
			m.ID, m.BedrockID, when, instead)
	case StatusLegacy:
		w := "model " + m.ID + " is legacy on Bedrock"
		if !l.Retires.IsZero() {
			w += " and retires on " + l.Retires.String()
		}
		return w + instead, nil
	}
	return "", nil
}
