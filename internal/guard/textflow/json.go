package textflow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// SyntaxError says where a document stops being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("textflow: invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// maxDepth bounds nesting, as encoding/json does, so that a hostile body
// cannot make the recursive scan use unbounded stack.
const maxDepth = 10000

// Strings calls fn for every string value (not object member names) of the
// JSON document raw, in document order. key is the member name the string
// is the value of or, for an array element, the member name of the
// innermost named array ("" at top level). key is an ordinary string
// (names common in LLM APIs cost nothing; others one allocation per
// document). text is the decoded string; when the raw string has no escapes
// text aliases raw (no allocation). fn must not retain text: it is reused.
// fn returns false to stop the walk.
//
// Strings is fast rather than thorough: numbers are checked only loosely,
// and invalid UTF-8 is passed on as it is (encoding/json would substitute
// U+FFFD). It never panics and always terminates; malformed structure is a
// *SyntaxError. Nesting deeper than 10000 is an error, as in encoding/json.
func Strings(raw []byte, fn func(key string, text []byte) bool) error {
	s := scanner{b: raw, strFn: fn}
	return s.run()
}

// Rewrite is Strings with replacement: fn returns (newText, true) to
// replace the string, which is then re-encoded as a JSON string (", \ and
// control characters escaped, non-ASCII kept as UTF-8, no HTML escaping).
// A replacement equal to the decoded text counts as no change, so the
// original spelling (escapes included) is kept. Everything else in raw is
// kept byte for byte; when nothing changes Rewrite returns raw itself.
func Rewrite(raw []byte, fn func(key string, text []byte) ([]byte, bool)) ([]byte, error) {
	s := scanner{b: raw, rwFn: fn}
	if err := s.run(); err != nil {
		return nil, err
	}
	if s.out == nil {
		return raw, nil
	}
	return append(s.out, raw[s.last:]...), nil
}

// scanner is a recursive-descent walk over one document. It lives on the
// caller's stack: nothing in it escapes unless a string needs decoding.
type scanner struct {
	b     []byte
	strFn func(string, []byte) bool
	rwFn  func(string, []byte) ([]byte, bool)
	out   []byte // Rewrite's result, nil until the first change
	last  int    // b[last:] is not yet copied to out
	buf   []byte // decoded text of an escaped string
	kbuf  []byte // decoded escaped member name
	cache [8]string
	nc    int
	stop  bool
}

func (s *scanner) run() error {
	i := skipWS(s.b, 0)
	i, err := s.value(i, "", 0)
	if err != nil || s.stop {
		return err
	}
	if i = skipWS(s.b, i); i != len(s.b) {
		return s.fail(i, "data after the top-level value")
	}
	return nil
}

func (s *scanner) fail(i int, msg string) error { return &SyntaxError{Offset: i, Msg: msg} }

func (s *scanner) value(i int, key string, depth int) (int, error) {
	b := s.b
	if i >= len(b) {
		return i, s.fail(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		return s.str(i, key)
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, key, depth+1)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(b) && isNumByte(b[j]) {
			j++
		}
		if b[j-1] < '0' || b[j-1] > '9' {
			return j, s.fail(j, "malformed number")
		}
		return j, nil
	}
	return i, s.fail(i, "unexpected character")
}

func isNumByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func (s *scanner) literal(i int, lit string) (int, error) {
	if len(s.b)-i < len(lit) || string(s.b[i:i+len(lit)]) != lit {
		return i, s.fail(i, "malformed literal")
	}
	return i + len(lit), nil
}

func (s *scanner) object(i, depth int) (int, error) {
	if depth > maxDepth {
		return i, s.fail(i, "nested too deeply")
	}
	b := s.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, s.fail(i, "expected a member name")
		}
		ke, esc, err := scanString(b, i+1)
		if err != nil {
			return i, err
		}
		ks := i + 1
		i = skipWS(b, ke+1)
		if i >= len(b) || b[i] != ':' {
			return i, s.fail(i, "expected ':' after a member name")
		}
		i = skipWS(b, i+1)
		key := ""
		// The name is only needed, and only made a string, for values
		// that are strings or hold strings directly.
		if i < len(b) && (b[i] == '"' || b[i] == '[') {
			if key, err = s.key(ks, ke, esc); err != nil {
				return ks, err
			}
		}
		if i, err = s.value(i, key, depth); err != nil || s.stop {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, s.fail(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, s.fail(i, "expected ',' or '}'")
		}
	}
}

func (s *scanner) array(i int, key string, depth int) (int, error) {
	if depth > maxDepth {
		return i, s.fail(i, "nested too deeply")
	}
	b := s.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = s.value(i, key, depth); err != nil || s.stop {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, s.fail(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, s.fail(i, "expected ',' or ']'")
		}
	}
}

// str handles the string value whose opening quote is at i.
func (s *scanner) str(i int, key string) (int, error) {
	end, esc, err := scanString(s.b, i+1)
	if err != nil {
		return i, err
	}
	text := s.b[i+1 : end]
	if esc {
		var ok bool
		if s.buf, ok = unescape(s.buf[:0], text); !ok {
			return i, s.fail(i, "invalid escape in string")
		}
		text = s.buf
	}
	if s.strFn != nil {
		if !s.strFn(key, text) {
			s.stop = true
		}
		return end + 1, nil
	}
	if nt, ok := s.rwFn(key, text); ok && !bytes.Equal(nt, text) {
		if s.out == nil {
			s.out = make([]byte, 0, len(s.b)+len(nt)+16)
		}
		s.out = append(s.out, s.b[s.last:i]...)
		s.out = appendQuoted(s.out, nt)
		s.last = end + 1
	}
	return end + 1, nil
}

// key returns the member name b[ks:ke] as a string without allocating for
// the names LLM APIs use, and at most once per name per document otherwise.
func (s *scanner) key(ks, ke int, esc bool) (string, error) {
	k := s.b[ks:ke]
	if esc {
		var ok bool
		if s.kbuf, ok = unescape(s.kbuf[:0], k); !ok {
			return "", s.fail(ks, "invalid escape in member name")
		}
		k = s.kbuf
	}
	if name, ok := knownKey(k); ok {
		return name, nil
	}
	for _, c := range s.cache[:s.nc] {
		if c == string(k) {
			return c, nil
		}
	}
	name := string(k)
	if s.nc < len(s.cache) {
		s.cache[s.nc] = name
		s.nc++
	} else {
		copy(s.cache[:], s.cache[1:])
		s.cache[len(s.cache)-1] = name
	}
	return name, nil
}

// knownKey interns the member names of the Chat Completions, Messages and
// Responses APIs whose values are strings or arrays of them; the switch on
// string(k) does not allocate.
func knownKey(k []byte) (string, bool) {
	switch string(k) {
	case "role":
		return "role", true
	case "content":
		return "content", true
	case "text":
		return "text", true
	case "type":
		return "type", true
	case "name":
		return "name", true
	case "model":
		return "model", true
	case "messages":
		return "messages", true
	case "arguments":
		return "arguments", true
	case "description":
		return "description", true
	case "id":
		return "id", true
	case "tool_call_id":
		return "tool_call_id", true
	case "tool_use_id":
		return "tool_use_id", true
	case "call_id":
		return "call_id", true
	case "input":
		return "input", true
	case "output":
		return "output", true
	case "instructions":
		return "instructions", true
	case "system":
		return "system", true
	case "thinking":
		return "thinking", true
	case "signature":
		return "signature", true
	case "data":
		return "data", true
	case "media_type":
		return "media_type", true
	case "url":
		return "url", true
	case "detail":
		return "detail", true
	case "refusal":
		return "refusal", true
	case "title":
		return "title", true
	case "summary":
		return "summary", true
	case "enum":
		return "enum", true
	case "required":
		return "required", true
	case "format":
		return "format", true
	case "pattern":
		return "pattern", true
	case "tools":
		return "tools", true
	case "tool_calls":
		return "tool_calls", true
	case "tool_choice":
		return "tool_choice", true
	case "stop":
		return "stop", true
	case "stop_sequences":
		return "stop_sequences", true
	case "user":
		return "user", true
	case "user_id":
		return "user_id", true
	case "status":
		return "status", true
	case "include":
		return "include", true
	case "modalities":
		return "modalities", true
	case "encrypted_content":
		return "encrypted_content", true
	case "reasoning_content":
		return "reasoning_content", true
	case "image_url":
		return "image_url", true
	case "file_id":
		return "file_id", true
	case "$schema":
		return "$schema", true
	case "$ref":
		return "$ref", true
	case "ttl":
		return "ttl", true
	case "effort":
		return "effort", true
	case "previous_response_id":
		return "previous_response_id", true
	case "prompt_cache_key":
		return "prompt_cache_key", true
	case "service_tier":
		return "service_tier", true
	case "reasoning_effort":
		return "reasoning_effort", true
	}
	return "", false
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanString finds the closing quote of a string whose content starts at
// i, eight bytes at a time: a word is looked at byte by byte only when it
// holds a quote, a backslash or a control character. esc reports a
// backslash (the content then needs unescape).
func scanString(b []byte, i int) (end int, esc bool, err error) {
	for {
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			q := v ^ (lsb * '"')
			bs := v ^ (lsb * '\\')
			m := ((q - lsb) &^ q) | ((bs - lsb) &^ bs) | ((v - lsb*0x20) &^ v)
			if m &= msb; m != 0 {
				// The lowest flagged byte is exact (borrows only run upward).
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return i, esc, &SyntaxError{Offset: i, Msg: "unterminated string"}
		}
		switch c := b[i]; {
		case c == '"':
			return i, esc, nil
		case c == '\\':
			esc = true
			i += 2
		case c < 0x20:
			return i, esc, &SyntaxError{Offset: i, Msg: "control character in string"}
		default:
			i++
		}
	}
}

// unescape appends the decoded content of a JSON string to dst, with
// encoding/json's handling of surrogates: a pair becomes one rune, a lone
// surrogate U+FFFD.
func unescape(dst, src []byte) ([]byte, bool) {
	for len(src) > 0 {
		j := bytes.IndexByte(src, '\\')
		if j < 0 {
			return append(dst, src...), true
		}
		dst = append(dst, src[:j]...)
		src = src[j:]
		if len(src) < 2 {
			return dst, false
		}
		switch src[1] {
		case '"', '\\', '/':
			dst = append(dst, src[1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(src[2:])
			if !ok {
				return dst, false
			}
			if utf16.IsSurrogate(r) {
				if len(src) >= 12 && src[6] == '\\' && src[7] == 'u' {
					if r2, ok := hex4(src[8:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							src = src[12:]
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			src = src[6:]
			continue
		default:
			return dst, false
		}
		src = src[2:]
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string: quotes, backslashes and control
// characters escaped, everything else (non-ASCII, invalid UTF-8, <>&) as
// it is, so a replacement changes no more bytes than it must.
func appendQuoted[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			q := v ^ (lsb * '"')
			bs := v ^ (lsb * '\\')
			if m := (((q - lsb) &^ q) | ((bs - lsb) &^ bs) | ((v - lsb*0x20) &^ v)) & msb; m == 0 {
				i += 8
				continue
			} else {
				i += bits.TrailingZeros64(m) >> 3
			}
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
