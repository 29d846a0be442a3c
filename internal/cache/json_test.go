package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"
)

func canonicalHash(raw []byte) string {
	e := keyEncoder{h: sha256.New()}
	e.json(raw)
	return string(e.sum(nil))
}

// reencode returns raw decoded and encoded again by encoding/json: keys
// sorted, compact, strings escaped its way, numbers as written.
func reencode(raw []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

var jsonSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-1.5e+10`, `"x"`,
	`{"b":1,"a":[1,2,{"d":null,"c":true}]}`,
	` { "a" : "\u00e9\n\"q\"" , "b" : [ ] } `,
	`{"é":1,"e":2,"\u00e9\u0301":3}`,
	`[{"":""},{"\\":"\/"}]`,
	`{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`,
	`[1, [2, [3, [4, {"x": [5]}]]]]`,
	`"{\"not\":\"an object\"}"`,
}

// TestCanonicalJSONMatchesDecoding: two JSON texts share a canonical form
// exactly when encoding/json decodes them to the same value.
func TestCanonicalJSONMatchesDecoding(t *testing.T) {
	pairs := []struct {
		a, b string
		same bool
	}{
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{`{"a":1,"b":2}`, "{\n\t\"a\" : 1 ,\r\n \"b\":2}", true},
		{`{"a":"é"}`, `{"a":"\u00e9"}`, true},
		{`{"\u0061":1}`, `{"a":1}`, true},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":1}`, `{"a":"1"}`, false},
		{`{"a":null}`, `{}`, false},
		{`{"a":{}}`, `{"a":[]}`, false},
		{`[[1],[2]]`, `[[1,2]]`, false},
		{`[["a","b"]]`, `[["ab"]]`, false},
		{`{"a":{"b":1}}`, `{"a":{"b":1},"c":{}}`, false},
		{`{"ab":1}`, `{"a":1,"b":1}`, false},
		{`true`, `"true"`, false},
		{`{"a":1}`, `{"a":1} x`, false},
	}
	for _, p := range pairs {
		if got := canonicalHash([]byte(p.a)) == canonicalHash([]byte(p.b)); got != p.same {
			t.Errorf("%s vs %s: same canonical form %v, want %v", p.a, p.b, got, p.same)
		}
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := canonicalHash(raw) // must not panic, valid or not
		if !json.Valid(raw) {
			return
		}
		re, ok := reencode(raw)
		if !ok {
			return
		}
		if canonicalHash(re) != h {
			t.Fatalf("%q and its re-encoding %q have different canonical forms", raw, re)
		}
	})
}
