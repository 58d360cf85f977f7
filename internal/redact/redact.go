// Package redact owns taking credflow's secrets out of text that leaves the
// gateway: upstream error bodies and stream error events, which providers
// sometimes fill with what they were sent ("Incorrect API key provided:
// sk-…"). A Redactor knows the provider key values the gateway holds and
// the shape of a virtual key, and replaces every exact occurrence, also
// when JSON escapes spell it differently.
package redact

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Mask replaces a secret; the same words `credflow exec` uses in a child's
// output.
const Mask = "<concealed by credflow>"

// minLen is the shortest value treated as a secret: shorter ones would
// mask ordinary words (no provider issues keys this short).
const minLen = 8

// virtual keys: "cf-" and 32 base64url characters (internal/keys).
const (
	vkeyPrefix = "cf-"
	vkeyBody   = 32
)

// Redactor replaces a fixed set of secret values. The zero value and nil
// replace virtual keys only.
type Redactor struct {
	secrets []string
}

// New returns a Redactor for values; empty and too-short ones are ignored.
func New(values []string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) < minLen || seen[v] {
			continue
		}
		seen[v] = true
		r.secrets = append(r.secrets, v)
	}
	// Longest first, so a secret that contains another is masked whole.
	for i := 1; i < len(r.secrets); i++ {
		for j := i; j > 0 && len(r.secrets[j]) > len(r.secrets[j-1]); j-- {
			r.secrets[j], r.secrets[j-1] = r.secrets[j-1], r.secrets[j]
		}
	}
	return r
}

// String returns s with every secret and virtual key replaced by Mask.
func (r *Redactor) String(s string) string {
	if r != nil {
		for _, v := range r.secrets {
			if strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, Mask)
			}
		}
	}
	if strings.Contains(s, vkeyPrefix) {
		s = string(maskVirtualKeys([]byte(s)))
	}
	return s
}

// Bytes returns b, or a copy with every secret and virtual key replaced by
// Mask. A JSON body whose strings hold escapes is also checked string by
// string after decoding (a client decodes "sk\u002d…" to "sk-…"), and is
// re-encoded only when something was masked.
func (r *Redactor) Bytes(b []byte) []byte {
	if r != nil {
		for _, v := range r.secrets {
			if bytes.Contains(b, []byte(v)) {
				b = bytes.ReplaceAll(b, []byte(v), []byte(Mask))
			}
		}
	}
	if bytes.Contains(b, []byte(vkeyPrefix)) {
		b = maskVirtualKeys(b)
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return b
	}
	v, changed := r.walk(v)
	if !changed {
		return b
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return b
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// walk masks the strings of a decoded JSON value, keys included.
func (r *Redactor) walk(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		m := r.String(t)
		return m, m != t
	case []any:
		changed := false
		for i := range t {
			var c bool
			t[i], c = r.walk(t[i])
			changed = changed || c
		}
		return t, changed
	case map[string]any:
		changed := false
		for k, e := range t {
			e, c := r.walk(e)
			if mk := r.String(k); mk != k {
				delete(t, k)
				k, c = mk, true
			}
			t[k] = e
			changed = changed || c
		}
		return t, changed
	}
	return v, false
}

// maskVirtualKeys replaces every "cf-" followed by 32 base64url characters.
func maskVirtualKeys(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(vkeyPrefix))
		if j < 0 {
			break
		}
		start := i + j
		end := start + len(vkeyPrefix)
		n := 0
		for end+n < len(b) && n < vkeyBody && isB64URL(b[end+n]) {
			n++
		}
		if n < vkeyBody {
			i = start + 1
			continue
		}
		out = append(out, b[last:start]...)
		out = append(out, Mask...)
		last = end + vkeyBody
		i = last
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isB64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
