package h1

import (
	"bufio"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// FuzzParse holds the lean parser to net/http's: any head it takes,
// http.ReadRequest (what net/http's server parses with) must take too and
// read the same way. Heads it does not take go to net/http anyway.
func FuzzParse(f *testing.F) {
	f.Add("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:6767\r\nContent-Type: application/json\r\nContent-Length: 42\r\nAuthorization: Bearer cf-x\r\n\r\n")
	f.Add("GET /v1/models?x=1&y=%20 HTTP/1.1\r\nhost: a\r\naccept-encoding: gzip\r\nx-stainless-os: Linux\r\nConnection: keep-alive\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nPragma: no-cache\r\nX: 1\r\nx: 2\r\n\r\n")
	f.Add("POST /a HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\nX-V: caf\xc3\xa9 \t\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		if !strings.HasSuffix(head, "\r\n\r\n") {
			head += "\r\n\r\n"
		}
		c := &conn{srv: &Server{}, remote: "1.2.3.4:5", strs: map[string]string{}}
		got, ok := c.parse([]byte(head))
		if !ok {
			return
		}
		if c.cancel != nil {
			c.cancel(nil)
		}
		want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("lean parser took a head net/http refuses (%v): %q", err, head)
		}
		// net/http's server also refuses what ReadRequest lets through
		// (validHeader checks in server.go): the lean parser must be as
		// strict.
		for k, vv := range want.Header {
			if !validName(k) {
				t.Fatalf("lean parser took header name %q: %q", k, head)
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\x00\r\n\x7f") {
					t.Fatalf("lean parser took header value %q: %q", v, head)
				}
			}
		}
		want.Header.Del("Host") // the server moves it to Request.Host
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.URL.String() != want.URL.String() ||
			got.Host != want.Host || got.ContentLength != want.ContentLength || got.Close != want.Close {
			t.Fatalf("head %q:\nlean     %s %s %q host=%q len=%d close=%v\nnet/http %s %s %q host=%q len=%d close=%v", head,
				got.Method, got.RequestURI, got.URL, got.Host, got.ContentLength, got.Close,
				want.Method, want.RequestURI, want.URL, want.Host, want.ContentLength, want.Close)
		}
		if !sameHeader(got.Header, want.Header) {
			t.Fatalf("head %q:\nlean     %v\nnet/http %v", head, got.Header, want.Header)
		}
	})
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if !slices.Equal(va, b[k]) {
			return false
		}
	}
	return true
}
