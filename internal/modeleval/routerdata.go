package modeleval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
)

// routerRow is a line `penny router train` reads (eval.ReadJSONL).
type routerRow struct {
	Prompt        string   `json:"prompt"`
	CheapCorrect  bool     `json:"cheap_correct"`
	StrongCorrect bool     `json:"strong_correct"`
	CheapScore    *float64 `json:"cheap_score,omitempty"`
	StrongScore   *float64 `json:"strong_score,omitempty"`
	// Tags are the item's metadata, which its requests carried as tags
	// (penny_* keys left out), for a router that reads x-penny-tags.
	Tags map[string]string `json:"tags,omitempty"`
	ID   string            `json:"id"`
}

// routerTags returns the tags of an item's requests that a learned router
// may use: its metadata but Penny's own penny_* keys; nil for none.
func routerTags(it Item) map[string]string {
	var out map[string]string
	for k, v := range it.Metadata {
		if strings.HasPrefix(k, "penny_") {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// CheapStrong orders two models by catalog price: cheap first.
func CheapStrong(cat *catalog.Catalog, a, b string) (cheap, strong string) {
	if UnitPrice(cat, b) < UnitPrice(cat, a) {
		return b, a
	}
	return a, b
}

// WriteRouterData writes one row per item that both models answered
// without error: {"prompt", "cheap_correct", "strong_correct"}, with
// "cheap_score" and "strong_score" too when graded (not binary) and "tags"
// when the item has metadata, in the order of items. It returns how many rows it wrote.
func WriteRouterData(w io.Writer, items []Item, results []Result, cheap, strong string, graded bool) (int, error) {
	if cheap == strong {
		return 0, errors.New("router data needs two different models")
	}
	by := map[Key]Result{}
	for _, r := range results {
		by[r.Key()] = r
	}
	enc := json.NewEncoder(w)
	n := 0
	for _, it := range items {
		c, ok1 := by[Key{it.ID, cheap}]
		s, ok2 := by[Key{it.ID, strong}]
		if !ok1 || !ok2 || c.Error != "" || s.Error != "" {
			continue
		}
		row := routerRow{Prompt: it.PromptText(), CheapCorrect: c.Correct, StrongCorrect: s.Correct, Tags: routerTags(it), ID: it.ID}
		if graded {
			cs, ss := c.Score, s.Score
			row.CheapScore, row.StrongScore = &cs, &ss
		}
		if err := enc.Encode(row); err != nil {
			return n, fmt.Errorf("writing router data: %w", err)
		}
		n++
	}
	return n, nil
}
