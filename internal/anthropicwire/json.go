package anthropicwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/jsonstrict"
	"github.com/penny-gateway/penny/internal/llm"
)

// This file holds the small JSON helpers the decoder is built on: every
// object is split into its members first, so that each error names the
// exact field path ("messages[1].content[0].source.data"), and unknown
// members are refused, as Anthropic refuses them.

func invalid(path, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindValidation, Message: path + ": " + fmt.Sprintf(format, args...)}
}

func unsupported(path, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindUnsupported, Message: path + ": " + fmt.Sprintf(format, args...)}
}

func at(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func dot(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fields is a JSON object split into its members; null members are
// dropped, so that "x": null means the same as no x.
type fields struct {
	path string
	m    map[string]json.RawMessage
}

// ref is a member or element of a JSON value as json.Unmarshal hands it
// over: a slice of the bytes being split, not a copy of them. Splitting a
// 10 MB body level by level (messages, content, source) into
// json.RawMessage would copy the image once per level. The members and
// elements therefore alias the request body: what the decoded request
// keeps of them is copied where it is kept (input schemas, tool inputs;
// additional fields are re-encoded).
type ref []byte

func (r *ref) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

func object(path string, raw json.RawMessage) (fields, error) {
	var refs map[string]ref
	if len(raw) == 0 || raw[0] != '{' {
		return fields{}, invalid(orBody(path), "expected an object, got %s", jsonType(raw))
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		return fields{}, invalid(orBody(path), "malformed object: %v", err)
	}
	m := make(map[string]json.RawMessage, len(refs))
	for k, v := range refs {
		if string(v) != "null" {
			m[k] = json.RawMessage(v)
		}
	}
	return fields{path: path, m: m}, nil
}

func orBody(path string) string {
	if path == "" {
		return "request body"
	}
	return path
}

// check refuses the first member (in sorted order, for stable messages)
// that is not in known.
func (f fields) check(known ...string) error {
	var extra []string
	for k := range f.m {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return invalid(dot(f.path, extra[0]), "extra inputs are not permitted")
}

func (f fields) has(name string) bool { _, ok := f.m[name]; return ok }

// get decodes member name into v when it is present; a JSON type mismatch
// is an error naming the member.
func (f fields) get(name string, v any) (bool, error) {
	raw, ok := f.m[name]
	if !ok {
		return false, nil
	}
	return true, decodeValue(dot(f.path, name), raw, v)
}

// decodeValue decodes raw into v strictly: objects decoded into structs
// may not carry unknown members.
//
// A large value (an image) is decoded without a copy of it (see package
// jsonstrict).
func decodeValue(path string, raw json.RawMessage, v any) error {
	err := jsonstrict.Decode(raw, v)
	if err == nil {
		return nil
	}
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		p := path
		if typ.Field != "" {
			p = dot(path, typ.Field)
		}
		return invalid(p, "expected %s, got %s", kindName(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(dot(path, name), "extra inputs are not permitted")
	}
	return invalid(path, "%v", strings.TrimPrefix(err.Error(), "json: "))
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return k
}

func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// array splits a JSON array into its elements.
func array(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	var refs []ref
	if len(raw) == 0 || raw[0] != '[' {
		return nil, invalid(path, "expected an array, got %s", jsonType(raw))
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		return nil, invalid(path, "malformed array: %v", err)
	}
	a := make([]json.RawMessage, len(refs))
	for i, r := range refs {
		a[i] = json.RawMessage(r)
	}
	return a, nil
}

// stringOrArray reports whether raw is a JSON string, and if so its value.
func stringOrArray(path string, raw json.RawMessage) (s string, isString bool, err error) {
	if len(raw) > 0 && raw[0] == '"' {
		err := decodeValue(path, raw, &s)
		return s, true, err
	}
	if len(raw) == 0 || raw[0] != '[' {
		return "", false, invalid(path, "expected a string or an array of content blocks, got %s", jsonType(raw))
	}
	return "", false, nil
}
