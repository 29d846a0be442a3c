package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

// This file holds the small JSON walker DecodeRequest and DecodeResponse are
// built on. Every value is checked for its JSON type before it is decoded, so
// that each error names the field path and what was wrong, the way Bedrock's
// own validation messages do.

// invalid returns a validation error for the field at path.
func invalid(path, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindValidation, Message: path + ": " + fmt.Sprintf(format, args...)}
}

// unsupported returns an error saying Penny cannot carry the field at path.
func unsupported(path, what string) *llm.Error {
	return &llm.Error{
		Kind:    llm.KindUnsupported,
		Message: path + ": " + what + " is not supported by Penny",
	}
}

// jsonType names the JSON type of raw for error messages.
func jsonType(raw json.RawMessage) string {
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
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || (len(raw) == 4 && string(raw) == "null")
}

// object is a decoded JSON object whose members are still raw.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// parseObject splits the JSON object raw into its members. raw must come
// from a body already checked with json.Valid: the splitter skips values
// without validating them again, which keeps decoding linear in practice.
// Members alias raw; values that escape into an llm.Request are copied
// (see parseJSONObject).
func parseObject(path string, raw json.RawMessage) (object, *llm.Error) {
	if len(raw) == 0 || raw[0] != '{' {
		return object{}, invalid(path, "expected an object, got %s", jsonType(raw))
	}
	bad := func() (object, *llm.Error) { return object{}, invalid(path, "malformed object") }
	m := make(map[string]json.RawMessage, 4)
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return object{path: path, m: m}, nil
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return bad()
		}
		n := stringLen(raw[i:])
		if n < 2 {
			return bad()
		}
		key, ok := unquote(raw[i : i+n])
		if !ok {
			return bad()
		}
		i = skipSpace(raw, i+n)
		if i >= len(raw) || raw[i] != ':' {
			return bad()
		}
		i = skipSpace(raw, i+1)
		n = valueLen(raw[i:])
		if n == 0 {
			return bad()
		}
		m[key] = raw[i : i+n]
		i = skipSpace(raw, i+n)
		if i >= len(raw) {
			return bad()
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return object{path: path, m: m}, nil
		default:
			return bad()
		}
	}
	return bad()
}

// field is the path of the member name.
func (o object) field(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// get returns the member name unless it is absent or null.
func (o object) get(name string) (json.RawMessage, bool) {
	raw, ok := o.m[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// fieldSet says what members an object may have: known members Penny
// translates and known members it cannot carry.
type fieldSet struct {
	known       []string
	unsupported []string
}

// check returns an error for the first (in sorted order, so that messages
// are stable) member that is unknown, or known but unsupported and not null.
func (o object) check(fs fieldSet) *llm.Error {
	var unknown, unsup []string
	for k, v := range o.m {
		switch {
		case slices.Contains(fs.known, k):
		case slices.Contains(fs.unsupported, k):
			if !isNull(v) {
				unsup = append(unsup, k)
			}
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return invalid(o.field(unknown[0]), "unknown field")
	}
	if len(unsup) > 0 {
		slices.Sort(unsup)
		return unsupported(o.field(unsup[0]), "field "+strconv.Quote(unsup[0]))
	}
	return nil
}

// union returns the single non-null member of a union object. Zero or
// several set members, or an unknown member, are validation errors; a known
// member Penny cannot carry is an unsupported error.
func (o object) union(what string, fs fieldSet) (string, json.RawMessage, *llm.Error) {
	var set []string
	for k, v := range o.m {
		if !slices.Contains(fs.known, k) && !slices.Contains(fs.unsupported, k) {
			return "", nil, invalid(o.path, "unknown %s kind %q", what, k)
		}
		if !isNull(v) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		return "", nil, invalid(o.path, "%s must set exactly one of %v, got none", what, fs.known)
	case 1:
	default:
		slices.Sort(set)
		return "", nil, invalid(o.path, "%s must set exactly one member, got %v", what, set)
	}
	k := set[0]
	if slices.Contains(fs.unsupported, k) {
		return "", nil, unsupported(o.field(k), what+" kind "+strconv.Quote(k))
	}
	return k, o.m[k], nil
}

// parseArray splits the JSON array raw into its elements, under the same
// contract as parseObject.
func parseArray(path string, raw json.RawMessage) ([]json.RawMessage, *llm.Error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, invalid(path, "expected an array, got %s", jsonType(raw))
	}
	bad := func() ([]json.RawMessage, *llm.Error) { return nil, invalid(path, "malformed array") }
	var a []json.RawMessage
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return a, nil
	}
	for i < len(raw) {
		n := valueLen(raw[i:])
		if n == 0 {
			return bad()
		}
		a = append(a, raw[i:i+n])
		i = skipSpace(raw, i+n)
		if i >= len(raw) {
			return bad()
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return a, nil
		default:
			return bad()
		}
	}
	return bad()
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringLen returns the length of the JSON string at the start of b,
// quotes included, or 0 if it is unterminated.
func stringLen(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return 0
}

// valueLen returns the length of the JSON value at the start of b, or 0
// if there is none.
func valueLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"':
		return stringLen(b)
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				n := stringLen(b[i:])
				if n == 0 {
					return 0
				}
				i += n - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	default: // number, true, false, null
		i := 0
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' &&
			b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// unquote returns the string a JSON string literal denotes. Literals
// without escapes and with valid UTF-8 (nearly all) take a fast path;
// others go through encoding/json, which also replaces invalid UTF-8.
func unquote(lit []byte) (string, bool) {
	if bytes.IndexByte(lit, '\\') < 0 && utf8.Valid(lit) {
		return string(lit[1 : len(lit)-1]), true
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", false
	}
	return s, true
}

func parseString(path string, raw json.RawMessage) (string, *llm.Error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", invalid(path, "expected a string, got %s", jsonType(raw))
	}
	s, ok := unquote(raw)
	if !ok {
		return "", invalid(path, "malformed string")
	}
	return s, nil
}

// parseNonEmpty parses a string that must not be empty.
func parseNonEmpty(path string, raw json.RawMessage) (string, *llm.Error) {
	s, err := parseString(path, raw)
	if err == nil && s == "" {
		err = invalid(path, "must not be empty")
	}
	return s, err
}

func parseEnum(path string, raw json.RawMessage, allowed ...string) (string, *llm.Error) {
	s, err := parseString(path, raw)
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowed, s) {
		return "", invalid(path, "%q is not one of %v", s, allowed)
	}
	return s, nil
}

func parseNumber(path string, raw json.RawMessage) (float64, *llm.Error) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, invalid(path, "expected a number, got %s", jsonType(raw))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, invalid(path, "malformed number %s", raw)
	}
	return f, nil
}

func parseInt(path string, raw json.RawMessage) (int, *llm.Error) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, invalid(path, "expected an integer, got %s", jsonType(raw))
	}
	n, err := strconv.ParseInt(string(raw), 10, 32)
	if err != nil {
		return 0, invalid(path, "expected a 32-bit integer, got %s", raw)
	}
	return int(n), nil
}

func parseBase64(path string, raw json.RawMessage) ([]byte, *llm.Error) {
	if len(raw) > 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		// Base64 needs no escapes: decode straight from the body rather
		// than through a string copy of it (images are megabytes).
		lit := raw[1 : len(raw)-1]
		b := make([]byte, base64.StdEncoding.DecodedLen(len(lit)))
		n, derr := base64.StdEncoding.Decode(b, lit)
		if derr != nil {
			return nil, invalid(path, "invalid base64: %v", derr)
		}
		return b[:n], nil
	}
	s, err := parseNonEmpty(path, raw)
	if err != nil {
		return nil, err
	}
	b, derr := base64.StdEncoding.DecodeString(s)
	if derr != nil {
		return nil, invalid(path, "invalid base64: %v", derr)
	}
	return b, nil
}

// parseJSONObject returns a copy of raw, which must be a JSON object, so
// that the result does not alias the request body.
func parseJSONObject(path string, raw json.RawMessage) (json.RawMessage, *llm.Error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, invalid(path, "expected a JSON object, got %s", jsonType(raw))
	}
	return bytes.Clone(raw), nil
}

// parseJSONValue returns a copy of raw, any JSON value but null.
func parseJSONValue(path string, raw json.RawMessage) (json.RawMessage, *llm.Error) {
	if isNull(raw) {
		return nil, invalid(path, "must not be null")
	}
	return bytes.Clone(raw), nil
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
