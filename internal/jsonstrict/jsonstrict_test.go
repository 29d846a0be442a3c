package jsonstrict

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

type part struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type doc struct {
	Name  string            `json:"name"`
	N     *int              `json:"n"`
	Parts []part            `json:"parts"`
	Meta  map[string]string `json:"meta"`
	Raw   json.RawMessage   `json:"raw"`
}

// TestDecodeInPlace: past InPlace, Decode makes of data exactly what the
// strict json.Decoder makes of it, errors included.
func TestDecodeInPlace(t *testing.T) {
	long := strings.Repeat(`x\"y\\`, 30_000) // escapes, quotes and backslashes
	for _, body := range []string{
		`{"name":"a","n":3,"parts":[{"type":"text","text":"` + long + `"}],"meta":{"k":"` + long + `"},"raw":{"z":"` + long + `"}}`,
		`{"name":"a","parts":[{"type":"text","text":"` + long + `","bogus":1}]}`,
		`{"name":"a","n":"three","parts":[{"text":"` + long + `"}]}`,
		`{"name":"a","parts":[{"text":"` + long + `"}]} {}`,
		`{"name":"a","parts":[{"text":"` + long + `"}]`,
		`["` + long + `"]`,
		`{"` + long + `":1}`,
	} {
		if len(body) <= InPlace {
			t.Fatal("not a large body")
		}
		var strict, inPlace doc
		e1, e2 := decode([]byte(body), &strict), Decode([]byte(body), &inPlace)
		if (e1 == nil) != (e2 == nil) || e1 != nil && e1.Error() != e2.Error() {
			t.Errorf("%.40s…: json.Decoder: %.80v; Decode: %.80v", body, e1, e2)
		}
		if e1 == nil && !reflect.DeepEqual(strict, inPlace) {
			t.Errorf("%.40s…: decoded differently", body)
		}
	}
	var d doc
	if err := Decode(nil, &d); !errors.Is(err, io.EOF) {
		t.Errorf("empty: %v", err)
	}
	if err := Decode([]byte(`{} 1`), &d); !errors.Is(err, ErrTrailing) {
		t.Errorf("trailing: %v", err)
	}
}
