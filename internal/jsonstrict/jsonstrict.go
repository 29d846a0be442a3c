// Package jsonstrict decodes one JSON value strictly — an object member the
// destination has no field for is an error, as with json.Decoder's
// DisallowUnknownFields — without copying a large input: a json.Decoder
// reads its input into a buffer of its own, grown by doubling, so a 10 MB
// request body (an image, a long document) costs twice that again before
// it is decoded. Errors are encoding/json's own, for each wire package to
// word in its API's terms.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
)

// ErrTrailing is returned when data holds more than one JSON value.
var ErrTrailing = errors.New("jsonstrict: data after the JSON value")

// Sizes: inputs over InPlace bytes are decoded in place; their skeleton
// keeps strings of up to skeletonString bytes (enum values, names and ids
// stay as they are).
const (
	InPlace        = 64 << 10
	skeletonString = 1 << 10
)

// Decode decodes data, one JSON value, into v (a non-nil pointer),
// refusing unknown object members. It returns encoding/json's errors
// (*json.SyntaxError, *json.UnmarshalTypeError, "json: unknown field …"),
// io.EOF for empty data and ErrTrailing for data after the value.
//
// Input over InPlace bytes that is valid JSON is decoded twice, neither
// time through a copy: its skeleton (the same JSON with long strings
// emptied, so the same structure, member names and types) strictly into a
// fresh value of v's type, for the errors, then the input itself into v
// with json.Unmarshal, which reads it in place. Decoders that check a
// string's content (not only its type) must therefore accept "" for a long
// string, and see the real one in the second pass.
func Decode(data []byte, v any) error {
	if len(data) > InPlace && json.Valid(data) {
		probe := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := decode(skeleton(data, skeletonString), probe); err != nil {
			return err
		}
		return json.Unmarshal(data, v)
	}
	return decode(data, v)
}

func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More reports false for a stray '}' or ']', so check the rest of
	// the data directly: only white space may follow the value.
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return ErrTrailing
	}
	return nil
}

// skeleton returns data, which must be valid JSON, with every string
// value longer than max bytes replaced by "" (member names stay, for the
// errors that name them).
func skeleton(data []byte, max int) []byte {
	out := make([]byte, 0, 4096)
	for len(data) > 0 {
		q := bytes.IndexByte(data, '"')
		if q < 0 {
			return append(out, data...)
		}
		out = append(out, data[:q]...)
		data = data[q:]
		n := 1 // the literal's length, quotes included
		for n < len(data) && data[n] != '"' {
			if data[n] == '\\' {
				n++ // the escaped byte cannot end the literal
			}
			n++
		}
		n++
		if n > max && !isKey(data[min(n, len(data)):]) {
			out = append(out, '"', '"')
		} else {
			out = append(out, data[:n]...)
		}
		data = data[min(n, len(data)):]
	}
	return out
}

// isKey reports whether the literal followed by rest is a member name.
func isKey(rest []byte) bool {
	for _, c := range rest {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == ':'
	}
	return false
}
