// Package jsonx reads and edits the top-level fields of a JSON object
// without decoding the rest, so the gateway can look at "model" and
// "stream" and rewrite "model" while every other byte of a request (fields
// credflow has never heard of included) passes through untouched.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotObject reports a body that is not a JSON object.
var ErrNotObject = errors.New("request body is not a JSON object")

// span is a top-level member: key and value byte ranges.
type span struct {
	keyStart, valStart, valEnd int
}

// SyntaxError says where a body stops being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Fields scans the top-level object once and calls fn for each member with
// its unquoted key and raw value. fn returning false stops the scan.
func Fields(body []byte, fn func(key string, raw []byte) bool) error {
	_, err := scan(body, func(key []byte, s span) bool { return fn(string(key), body[s.valStart:s.valEnd]) })
	return err
}

// Members is Fields with the key as bytes: for hot paths, where a string
// per key would be an allocation. The key aliases body (or, when it holds
// escapes, a fresh copy), so it stays valid as long as body does; callers
// must not modify it.
func Members(body []byte, fn func(key, raw []byte) bool) error {
	_, err := scan(body, func(key []byte, s span) bool { return fn(key, body[s.valStart:s.valEnd]) })
	return err
}

// Get returns the raw value of a top-level key.
func Get(body []byte, key string) (raw []byte, ok bool, err error) {
	_, err = scan(body, func(k []byte, s span) bool {
		if string(k) == key {
			raw, ok = body[s.valStart:s.valEnd], true
			return false
		}
		return true
	})
	return raw, ok, err
}

// GetString returns a top-level string value ("" when absent or null).
func GetString(body []byte, key string) (string, error) {
	raw, ok, err := Get(body, key)
	if err != nil || !ok || string(raw) == "null" {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q must be a string", key)
	}
	return s, nil
}

// GetBool returns a top-level boolean (false when absent or null).
func GetBool(body []byte, key string) (bool, error) {
	raw, ok, err := Get(body, key)
	if err != nil || !ok {
		return false, err
	}
	switch string(raw) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("%q must be true or false", key)
}

// Set returns a copy of body with key's value replaced by raw, or added as
// the last member when absent. raw must be valid JSON.
func Set(body []byte, key string, raw []byte) ([]byte, error) {
	var found *span
	end, err := scan(body, func(k []byte, s span) bool {
		if string(k) == key {
			found = &s
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found != nil {
		out := make([]byte, 0, len(body)-(found.valEnd-found.valStart)+len(raw))
		out = append(out, body[:found.valStart]...)
		out = append(out, raw...)
		return append(out, body[found.valEnd:]...), nil
	}
	// end is the index of the closing brace.
	kq, _ := json.Marshal(key)
	out := make([]byte, 0, len(body)+len(kq)+len(raw)+2)
	head := bytes.TrimRight(body[:end], " \t\r\n")
	out = append(out, head...)
	if head[len(head)-1] != '{' {
		out = append(out, ',')
	}
	out = append(out, kq...)
	out = append(out, ':')
	out = append(out, raw...)
	return append(out, body[end:]...), nil
}

// Delete returns a copy of body without the top-level key (body itself
// when it has no such key), its comma handled so the object stays valid.
func Delete(body []byte, key string) ([]byte, error) {
	var found *span
	var prevEnd int // where the member before key ends (its value's end)
	last := -1
	_, err := scan(body, func(k []byte, s span) bool {
		if found == nil && string(k) == key {
			found = &s
			prevEnd = last
			return false
		}
		last = s.valEnd
		return true
	})
	if err != nil || found == nil {
		return body, err
	}
	end := skipWS(body, found.valEnd)
	out := make([]byte, 0, len(body))
	switch {
	case body[end] == ',':
		// Not the last member: drop it and its comma.
		out = append(out, body[:found.keyStart]...)
		out = append(out, body[skipWS(body, end+1):]...)
	case prevEnd >= 0:
		// The last of several: drop the comma before it.
		out = append(out, body[:prevEnd]...)
		out = append(out, body[end:]...)
	default:
		// The only member.
		out = append(out, body[:found.keyStart]...)
		out = append(out, body[end:]...)
	}
	return out, nil
}

// SetString sets a top-level string value.
func SetString(body []byte, key, value string) ([]byte, error) {
	raw, _ := json.Marshal(value)
	return Set(body, key, raw)
}

// scan walks the top-level object, calling fn per member; it returns the
// offset of the closing brace. The whole body is validated only as far as
// the scan goes: values are skipped structurally, not decoded.
func scan(b []byte, fn func(key []byte, s span) bool) (int, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		if i >= len(b) {
			return 0, &SyntaxError{Offset: i, Msg: "empty body; send a JSON object"}
		}
		return 0, ErrNotObject
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i, trailing(b, i+1)
	}
	stopped := false
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, &SyntaxError{Offset: i, Msg: "expected a quoted key"}
		}
		keyStart := i
		ke, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[keyStart+1 : ke-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if err := json.Unmarshal(b[keyStart:ke], &k); err != nil {
				return 0, &SyntaxError{Offset: keyStart, Msg: "bad key"}
			}
			key = []byte(k)
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, &SyntaxError{Offset: i, Msg: "expected ':' after a key"}
		}
		i = skipWS(b, i+1)
		vs := i
		ve, err := skipValue(b, i, 0)
		if err != nil {
			return 0, err
		}
		if !stopped && !fn(key, span{keyStart: keyStart, valStart: vs, valEnd: ve}) {
			stopped = true
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return 0, &SyntaxError{Offset: i, Msg: "unexpected end of body"}
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i, trailing(b, i+1)
		default:
			return 0, &SyntaxError{Offset: i, Msg: "expected ',' or '}'"}
		}
	}
}

func trailing(b []byte, i int) error {
	if i = skipWS(b, i); i != len(b) {
		return &SyntaxError{Offset: i, Msg: "data after the JSON object"}
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the end of the string starting at b[i]. It jumps from
// quote to quote (IndexByte is vectorised: a long completion text is most of
// a response) and counts the backslashes before each: an odd run escapes it.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		j += k
		n := 0
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, nil
		}
	}
	return 0, &SyntaxError{Offset: i, Msg: "unterminated string"}
}

const maxDepth = 512

func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{Offset: i, Msg: "nested too deeply"}
	}
	if i >= len(b) {
		return 0, &SyntaxError{Offset: i, Msg: "unexpected end of body"}
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == closing {
			return j + 1, nil
		}
		for {
			if c == '{' {
				if j >= len(b) || b[j] != '"' {
					return 0, &SyntaxError{Offset: j, Msg: "expected a quoted key"}
				}
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = skipWS(b, e)
				if j >= len(b) || b[j] != ':' {
					return 0, &SyntaxError{Offset: j, Msg: "expected ':'"}
				}
				j = skipWS(b, j+1)
			}
			e, err := skipValue(b, j, depth+1)
			if err != nil {
				return 0, err
			}
			j = skipWS(b, e)
			if j >= len(b) {
				return 0, &SyntaxError{Offset: j, Msg: "unexpected end of body"}
			}
			if b[j] == closing {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, &SyntaxError{Offset: j, Msg: fmt.Sprintf("expected ',' or '%c'", closing)}
			}
			j = skipWS(b, j+1)
		}
	case c == 't':
		return lit(b, i, "true")
	case c == 'f':
		return lit(b, i, "false")
	case c == 'n':
		return lit(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	}
	return 0, &SyntaxError{Offset: i, Msg: fmt.Sprintf("unexpected character %q", b[i])}
}

func lit(b []byte, i int, word string) (int, error) {
	if bytes.HasPrefix(b[i:], []byte(word)) {
		return i + len(word), nil
	}
	return 0, &SyntaxError{Offset: i, Msg: "invalid literal"}
}
