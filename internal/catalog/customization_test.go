package catalog

import (
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestBuiltinCustomizations(t *testing.T) {
	c, err := BuiltinCustomizations()
	if err != nil {
		t.Fatal(err)
	}
	cat := MustBuiltin()
	for _, m := range c.Models {
		// An entry is a catalog model or, for a legacy model the catalog
		// does not list, says so in its name.
		if _, err := cat.Resolve(m.Model); err != nil && !strings.Contains(m.Name, "(legacy)") {
			t.Errorf("%s: not in the catalog and not marked legacy", m.Model)
		}
	}
	cmd, ok := c.Lookup("Cohere-Command")
	if !ok {
		t.Fatal("no cohere-command")
	}
	if want := 4 * llm.Dollar / 1000; !cmd.FineTuning.Offered || cmd.FineTuning.TrainPer1K != (Amount{want, true}) {
		t.Errorf("cohere-command fine-tuning = %+v", cmd.FineTuning)
	}
	if cmd.Provisioned.NoCommit.Money != 49*llm.Dollar+llm.Dollar/2 || cmd.Provisioned.OneMonth.Known {
		t.Errorf("cohere-command provisioned = %+v", cmd.Provisioned)
	}
	micro, _ := c.Lookup("nova-micro")
	if micro.Serving != ServeOnDemand || micro.FineTuning.TrainPer1K.Known || micro.ContinuedPretraining.Offered {
		t.Errorf("nova-micro = %+v", micro)
	}
	if _, ok := c.Lookup("nova-2-lite"); ok {
		t.Error("nova-2-lite has no entry")
	}
}

func TestParseCustomizationsErrors(t *testing.T) {
	src := "sources: {s: {title: t, as_of: \"2026-01-01\"}}\nmodels:\n"
	for _, tc := range []struct{ yaml, want string }{
		{"  - {model: m, serving: provisioned}\n", "sources are required"},
		{"  - {model: m, serving: maybe, sources: [s]}\n", "serving"},
		{"  - {model: m, serving: on_demand, sources: [x]}\n", "source \"x\""},
		{"  - {model: m, serving: on_demand, sources: [s], storage_month: \"-1\"}\n", "negative"},
		{"  - {model: m, serving: on_demand, sources: [s], fine_tuning: perhaps}\n", "not_offered"},
		{"  - {model: m, serving: on_demand, sources: [s], colour: red}\n", "colour"},
	} {
		_, err := ParseCustomizations([]byte(src + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestTrainingCost(t *testing.T) {
	o := Offer{Offered: true, TrainPer1K: Amount{Money: 1_490_000, Known: true}} // $0.00149 per 1K
	if c, ok := o.TrainingCost(10_000_000); !ok || c != 14_900_000_000 {
		t.Errorf("10M tokens = %v, %v; want $14.90", c, ok)
	}
	if c, ok := o.TrainingCost(1500); !ok || c != 2_235_000 {
		t.Errorf("1,500 tokens = %v, %v; want $0.002235", c, ok)
	}
	for _, bad := range []Offer{{}, {Offered: true, Unknown: true}, {Offered: true}} {
		if _, ok := bad.TrainingCost(1000); ok {
			t.Errorf("%+v priced", bad)
		}
	}
	if got := ProvisionedCost(2, HoursPerMonth, 23*llm.Dollar+llm.Dollar/2); got != 34310*llm.Dollar {
		t.Errorf("ProvisionedCost = %v", got)
	}
}
