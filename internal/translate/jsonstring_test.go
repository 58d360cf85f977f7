package translate

import (
	"bytes"
	"encoding/json"
	"testing"
)

// appendJSONString writes exactly what encoding/json (without HTML
// escaping) writes for any string, valid UTF-8 or not.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" backslash \\", "\n\r\t\b\f\x00\x1f", "<a&b>", "héllo 世界", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x80"} {
		f.Add(s)
	}
	// Long strings, for the eight-bytes-at-a-time path: a byte to escape
	// at every offset of a word, and words that are all plain.
	for _, c := range []string{"\"", "\\", "\n", "\x1f", "\x7f", "é", "\u2028", "\xff", " ", "~"} {
		for off := 0; off < 17; off++ {
			f.Add("abcdefghijklmnopqrstuvwxyz"[:off] + c + "0123456789abcdefghij")
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		got := appendJSONString(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, want %s", s, got, want.Bytes())
		}
	})
}
