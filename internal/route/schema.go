package route

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// schema is the subset of JSON Schema a cascade checks answers against:
// type, properties, required, items, enum and a boolean
// additionalProperties. It is small on purpose: enough to catch a cheap
// model that ignored the requested output shape.
type schema struct {
	types      []string
	properties map[string]*schema
	required   []string
	items      *schema
	enum       []any
	// closed is additionalProperties: false.
	closed bool
}

var schemaTypes = map[string]bool{"object": true, "array": true, "string": true, "number": true, "integer": true, "boolean": true, "null": true}

// compileSchema accepts a schema decoded from YAML (maps and lists) or a
// string holding JSON.
func compileSchema(v any) (*schema, error) {
	var raw []byte
	if s, ok := v.(string); ok {
		raw = []byte(s)
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return parseSchema(doc, "")
}

func parseSchema(doc any, at string) (*schema, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema must be an object", where(at))
	}
	s := &schema{}
	for k, v := range m {
		switch k {
		case "title", "description", "$schema", "$id":
		case "type":
			switch t := v.(type) {
			case string:
				s.types = []string{t}
			case []any:
				for _, x := range t {
					name, ok := x.(string)
					if !ok {
						return nil, fmt.Errorf("%s: type must be a string or a list of strings", where(at))
					}
					s.types = append(s.types, name)
				}
			default:
				return nil, fmt.Errorf("%s: type must be a string or a list of strings", where(at))
			}
			for _, t := range s.types {
				if !schemaTypes[t] {
					return nil, fmt.Errorf("%s: unknown type %q", where(at), t)
				}
			}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: properties must be an object", where(at))
			}
			s.properties = map[string]*schema{}
			for name, p := range props {
				ps, err := parseSchema(p, at+"."+name)
				if err != nil {
					return nil, err
				}
				s.properties[name] = ps
			}
		case "required":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: required must be a list of names", where(at))
			}
			for _, x := range list {
				name, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%s: required must be a list of names", where(at))
				}
				s.required = append(s.required, name)
			}
		case "items":
			is, err := parseSchema(v, at+"[]")
			if err != nil {
				return nil, err
			}
			s.items = is
		case "enum":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s: enum must be a non-empty list", where(at))
			}
			s.enum = list
		case "additionalProperties":
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: only additionalProperties: true or false is supported", where(at))
			}
			s.closed = !b
		default:
			return nil, fmt.Errorf("%s: keyword %q is not supported (type, properties, required, items, enum, additionalProperties)", where(at), k)
		}
	}
	return s, nil
}

func where(at string) string {
	if at == "" {
		return "$"
	}
	return "$" + at
}

// validateText checks that text, or the body of a single ``` fence around
// it, is JSON valid against s.
func (s *schema) validateText(text string) error {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "```") && strings.HasSuffix(text, "```") && len(text) >= 6 {
		body := text[3 : len(text)-3]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[\"") {
			body = body[nl+1:] // the language tag, e.g. json
		}
		text = strings.TrimSpace(body)
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.validate(v, "")
}

func (s *schema) validate(v any, at string) error {
	if len(s.types) > 0 {
		ok := false
		for _, t := range s.types {
			if hasType(v, t) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s: want %s", where(at), strings.Join(s.types, " or "))
		}
	}
	if s.enum != nil {
		ok := false
		for _, e := range s.enum {
			if reflect.DeepEqual(e, v) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s: not one of the enum values", where(at))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range s.required {
			if _, ok := x[name]; !ok {
				return fmt.Errorf("%s: %q is required", where(at), name)
			}
		}
		names := make([]string, 0, len(x))
		for name := range x {
			names = append(names, name)
		}
		sort.Strings(names) // the first error is deterministic
		for _, name := range names {
			ps, ok := s.properties[name]
			if !ok {
				if s.closed {
					return fmt.Errorf("%s: property %q is not allowed", where(at), name)
				}
				continue
			}
			if err := ps.validate(x[name], at+"."+name); err != nil {
				return err
			}
		}
	case []any:
		if s.items != nil {
			for i, e := range x {
				if err := s.items.validate(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f) && !math.IsInf(f, 0)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}
