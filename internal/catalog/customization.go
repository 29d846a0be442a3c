package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/llm"
)

//go:embed customization.yaml
var customizationYAML []byte

// HoursPerMonth is the hours AWS bills a month of Provisioned Throughput
// by (24 × 365 / 12), as its pricing examples do.
const HoursPerMonth = 730

// Amount is a published dollar amount, or unknown. In YAML it is an exact
// decimal such as "1.95", or "unknown".
type Amount struct {
	Money llm.Money
	Known bool
}

// UnmarshalYAML parses a decimal amount exactly, or "unknown".
func (a *Amount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == unknownWord {
		*a = Amount{}
		return nil
	}
	m, err := ParseDollars(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if m < 0 {
		return fmt.Errorf("line %d: amount must not be negative", n.Line)
	}
	*a = Amount{Money: m, Known: true}
	return nil
}

// String is the amount in dollars, or "unknown".
func (a Amount) String() string {
	if !a.Known {
		return unknownWord
	}
	return a.Money.String()
}

// Offer is whether Bedrock offers a customization step for a model, and its
// training price. In YAML it is "not_offered", "unknown" (offered or not,
// unpublished) or {train_per_1k: "0.004"}.
type Offer struct {
	// Offered is false for "not_offered"; Unknown is true for "unknown".
	Offered, Unknown bool
	// TrainPer1K is the price per 1,000 training tokens (the dataset's
	// tokens times the epochs).
	TrainPer1K Amount `yaml:"train_per_1k"`
}

const notOffered = "not_offered"

// UnmarshalYAML accepts "not_offered", "unknown" or a mapping.
func (o *Offer) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case notOffered:
			*o = Offer{}
			return nil
		case unknownWord:
			*o = Offer{Offered: true, Unknown: true}
			return nil
		}
		return fmt.Errorf("line %d: %q is not not_offered, unknown or {train_per_1k}", n.Line, n.Value)
	}
	type plain struct {
		TrainPer1K Amount `yaml:"train_per_1k"`
	}
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*o = Offer{Offered: true, TrainPer1K: p.TrainPer1K}
	return nil
}

// PTPrices are Provisioned Throughput prices per model unit per hour, by
// commitment.
type PTPrices struct {
	NoCommit Amount `yaml:"no_commit"`
	OneMonth Amount `yaml:"one_month"`
	SixMonth Amount `yaml:"six_month"`
}

// Ways a custom model is served.
const (
	ServeProvisioned = "provisioned"
	ServeOnDemand    = "on_demand"
)

// Customization is what customizing one base model costs on Bedrock.
type Customization struct {
	// Model is the catalog id of the base model, or a name for a model
	// the catalog does not list (a legacy one).
	Model                string `yaml:"model"`
	Name                 string `yaml:"name"`
	FineTuning           Offer  `yaml:"fine_tuning"`
	ContinuedPretraining Offer  `yaml:"continued_pretraining"`
	// StorageMonth is the price of storing the custom model per month.
	StorageMonth Amount `yaml:"storage_month"`
	// Serving is ServeProvisioned or ServeOnDemand (at the base model's
	// per-token rates).
	Serving string `yaml:"serving"`
	// Provisioned are the custom model's Provisioned Throughput prices.
	Provisioned PTPrices `yaml:"provisioned"`
	// Sources are keys of the data's sources.
	Sources []string `yaml:"sources"`
}

// Customizations is the customization data: entries by model and the
// sources they name.
type Customizations struct {
	AsOf    string            `yaml:"as_of"`
	Sources map[string]Source `yaml:"sources"`
	Models  []Customization   `yaml:"models"`
}

// BuiltinCustomizations returns the embedded customization data.
func BuiltinCustomizations() (*Customizations, error) {
	c, err := ParseCustomizations(customizationYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in customization data: %w", err)
	}
	return c, nil
}

// ParseCustomizations decodes customization data strictly and checks that
// every entry names known sources and a way of serving.
func ParseCustomizations(data []byte) (*Customizations, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Customizations
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		if m.Model == "" {
			return nil, fmt.Errorf("models[%d]: model is required", i)
		}
		if seen[m.Model] {
			return nil, fmt.Errorf("model %s: listed twice", m.Model)
		}
		seen[m.Model] = true
		if m.Serving != ServeProvisioned && m.Serving != ServeOnDemand {
			return nil, fmt.Errorf("model %s: serving %q is not provisioned or on_demand", m.Model, m.Serving)
		}
		if len(m.Sources) == 0 {
			return nil, fmt.Errorf("model %s: sources are required", m.Model)
		}
		for _, k := range m.Sources {
			if _, ok := c.Sources[k]; !ok {
				return nil, fmt.Errorf("model %s: source %q is not in the sources", m.Model, k)
			}
		}
	}
	for k, s := range c.Sources {
		if s.AsOf == "" || s.Title == "" {
			return nil, fmt.Errorf("source %s: title and as_of are required", k)
		}
	}
	return &c, nil
}

// Lookup returns the entry of a model, by catalog id or entry name
// (case-insensitively), and false when the data has none.
func (c *Customizations) Lookup(model string) (Customization, bool) {
	for _, m := range c.Models {
		if strings.EqualFold(m.Model, model) {
			return m, true
		}
	}
	return Customization{}, false
}

// TrainingCost is what training on tokens (the dataset's tokens times the
// epochs) costs at o's price, rounded half up to the nano-dollar; false
// when the price is unknown or the step not offered.
func (o Offer) TrainingCost(tokens int64) (llm.Money, bool) {
	if !o.Offered || o.Unknown || !o.TrainPer1K.Known || tokens < 0 {
		return 0, false
	}
	p := int64(o.TrainPer1K.Money)
	return llm.Money(tokens/1000*p + (tokens%1000*p+500)/1000), true
}

// ProvisionedCost is what units model units cost for hours at hourly (a
// price per model unit per hour): Provisioned Throughput bills every hour
// of the term, used or not.
func ProvisionedCost(units, hours int64, hourly llm.Money) llm.Money {
	return llm.Money(units*hours) * hourly
}
