package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// sdkHead is a request head as the OpenAI Python SDK sends it.
const sdkHead = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:6767\r\nAccept-Encoding: gzip, deflate\r\n" +
	"Connection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\nUser-Agent: OpenAI/Python 1.99.0\r\n" +
	"X-Stainless-Lang: python\r\nX-Stainless-Package-Version: 1.99.0\r\nX-Stainless-Os: Linux\r\nX-Stainless-Arch: x64\r\n" +
	"X-Stainless-Runtime: CPython\r\nX-Stainless-Runtime-Version: 3.12.3\r\nAuthorization: Bearer cf-0123456789abcdefghijklmnopqrstuv\r\n" +
	"X-Stainless-Async: false\r\nX-Stainless-Retry-Count: 0\r\nX-Stainless-Read-Timeout: 600\r\nContent-Length: 120\r\n\r\n"

// BenchmarkParseHead compares the lean head parse (with the request it
// builds) against http.ReadRequest, what net/http's server parses with.
func BenchmarkParseHead(b *testing.B) {
	b.Run("lean", func(b *testing.B) {
		c := &conn{srv: &Server{}, remote: "127.0.0.1:5", strs: map[string]string{}}
		head := []byte(sdkHead)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.parse(head); !ok {
				b.Fatal("not taken")
			}
			c.cancel(nil)
		}
	})
	b.Run("net/http", func(b *testing.B) {
		r := strings.NewReader(sdkHead)
		br := bufio.NewReader(r)
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(sdkHead)
			br.Reset(r)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkServe runs keep-alive requests with a small body and a small
// reply through the lean server and through net/http's, client included.
func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	run := func(b *testing.B, serve func(net.Listener)) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go serve(ln)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		req := sdkHead[:len(sdkHead)-len("120\r\n\r\n")] + "2\r\n\r\n{}"
		br := bufio.NewReader(c)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.WriteString(c, req); err != nil {
				b.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("lean", func(b *testing.B) {
		s := &Server{Handler: h}
		defer s.Close()
		run(b, func(ln net.Listener) { s.Serve(ln) })
		if s.leanConns.Load() != 1 || s.handedOff.Load() != 0 {
			b.Fatalf("lean %d, handed off %d", s.leanConns.Load(), s.handedOff.Load())
		}
	})
	b.Run("net/http", func(b *testing.B) {
		s := &http.Server{Handler: h}
		defer s.Close()
		run(b, func(ln net.Listener) { s.Serve(ln) })
	})
}
