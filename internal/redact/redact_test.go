package redact

import (
	"strings"
	"testing"
)

const (
	secret = "sk-proj-0123456789abcdef"
	vkey   = "cf-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
)

func TestBytes(t *testing.T) {
	r := New([]string{secret, "", "short", "sk-ant-api03-zzzzzzzzzz"})
	for _, c := range []struct{ in, want string }{
		{`{"error":{"message":"Incorrect API key provided: ` + secret + `."}}`,
			`{"error":{"message":"Incorrect API key provided: ` + Mask + `."}}`},
		// Escapes spell the same key differently; a client decodes them.
		{`{"error":{"message":"key sk\u002dproj-0123456789abcdef\n"}}`,
			`{"error":{"message":"key ` + Mask + `\n"}}`},
		{`{"error":{"message":"presented ` + vkey + `"}}`,
			`{"error":{"message":"presented ` + Mask + `"}}`},
		{`<html>` + secret + ` and ` + secret + `</html>`, `<html>` + Mask + ` and ` + Mask + `</html>`},
		// Nothing to mask: the same bytes, escapes untouched.
		{`{"error":{"message":"bad \"model\" short"}}`, `{"error":{"message":"bad \"model\" short"}}`},
		// Not a virtual key: too short.
		{`cf-abc`, `cf-abc`},
		{`{"k":"sk-ant-api03-zzzzzzzzzz"}`, `{"k":"` + Mask + `"}`},
	} {
		if got := string(r.Bytes([]byte(c.in))); got != c.want {
			t.Errorf("Bytes(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestStringAndNil(t *testing.T) {
	var r *Redactor
	if got := r.String("x " + vkey + " y"); got != "x "+Mask+" y" {
		t.Errorf("nil redactor: %q", got)
	}
	r = New([]string{secret})
	if got := r.String("dial https://h/?key=" + secret); strings.Contains(got, secret) {
		t.Errorf("%q", got)
	}
}

func TestInputNotModified(t *testing.T) {
	in := []byte(`{"m":"` + secret + `"}`)
	orig := string(in)
	New([]string{secret}).Bytes(in)
	if string(in) != orig {
		t.Error("input changed")
	}
}
