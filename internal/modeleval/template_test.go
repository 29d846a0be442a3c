package modeleval

import (
	"strings"
	"testing"
)

// A dataset item may name a managed prompt template instead of a prompt,
// so templates can be evaluated like prompts.
func TestTemplateItems(t *testing.T) {
	items, err := ReadDataset(strings.NewReader(`{"id":"t1","metadata":{"penny_template":"support-answer@2","product":"x","question":"q"},"expected":"a"}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := items[0].Request("nova-micro")
	if err != nil {
		t.Fatal(err)
	}
	if req.Meta.Tags["penny_template"] != "support-answer@2" || req.Meta.Tags["product"] != "x" || len(req.Messages) != 0 {
		t.Errorf("request: tags %v, %d messages", req.Meta.Tags, len(req.Messages))
	}
	req.Meta.Tags["product"] = "changed"
	if items[0].Metadata["product"] != "x" {
		t.Error("the request shares the item's metadata map")
	}
	if _, err := ReadDataset(strings.NewReader(`{"id":"t2","metadata":{"product":"x"},"expected":"a"}` + "\n")); err == nil {
		t.Error("an item with neither prompt nor template was accepted")
	}
}
