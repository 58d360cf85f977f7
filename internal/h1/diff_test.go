package h1

// A differential test: the same raw requests go to an h1.Server and to a
// plain net/http Server running the same handler, and the parsed responses
// must be the same. Connections the lean loop hands off are served by
// net/http itself, so any difference there is a hand-off bug (bytes lost or
// replayed wrongly); connections the lean loop serves must be
// indistinguishable from net/http's to a client.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const diffHost = "gw.test:8080"

// handlerDate is a Date a handler may set; it must come back unchanged.
const handlerDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// echoHandler writes back what it saw of the request, and lets the request
// choose how the response is made:
//
//	X-Mode: noread       do not read the body
//	X-Mode: read10       read only the first 10 bytes of the body
//	X-Mode: closebody    close the body without reading it
//	X-Mode: trailer      declare a trailer X-Trailer and set it after the body
//	X-Mode: cl-stream    set Content-Length, write half, Flush, write the rest
//	X-Mode: empty        write no body (X-Status still applies)
//	X-Mode: stream       write half the body, Flush, write the rest
//	X-Mode: pieces       write the body 100 bytes at a time
//	X-Mode: flush-first  Flush before writing anything
//	X-Mode: cl           set Content-Length to the body's length
//	X-Mode: cl-short     set Content-Length 5 bytes longer than the body
//	X-Mode: html         start the body with "<html>" (Content-Type sniffing)
//	X-Mode: early-hints  send a 103 with a Link header first
//	X-Mode: early-hints-cl  the same with Content-Length already set
//	X-Mode: inject       set a header value holding CR LF
//	X-Mode: panic        panic (logged by both servers)
//	X-Mode: abort        panic(http.ErrAbortHandler)
//	X-Status: N          WriteHeader(N)
//	X-Set-Header: K: V   add the response header K: V (repeatable)
//	X-Size: N            pad (or cut) the body to exactly N bytes
func echoHandler(w http.ResponseWriter, r *http.Request) {
	mode := r.Header.Get("X-Mode")
	var body []byte
	var bodyErr error
	switch mode {
	case "noread":
	case "read10":
		body = make([]byte, 10)
		_, bodyErr = io.ReadFull(r.Body, body)
	case "closebody":
		bodyErr = r.Body.Close()
	default:
		body, bodyErr = io.ReadAll(r.Body)
	}
	for _, kv := range r.Header.Values("X-Set-Header") {
		k, v, _ := strings.Cut(kv, ":")
		w.Header().Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	status := 0
	if s := r.Header.Get("X-Status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	out := describeRequest(r, body, bodyErr)
	switch mode {
	case "panic":
		panic("echo: requested panic")
	case "abort":
		panic(http.ErrAbortHandler)
	case "empty":
		if status != 0 {
			w.WriteHeader(status)
		}
		return
	case "html":
		out = "<html><body><pre>" + out
	case "early-hints", "early-hints-cl":
		w.Header().Set("Link", "</style.css>; rel=preload")
		if mode == "early-hints-cl" {
			w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		}
		w.WriteHeader(http.StatusEarlyHints)
	case "inject":
		w.Header().Set("X-Injected", "a\r\nX-Evil: 1")
	case "trailer":
		w.Header().Set("Trailer", "X-Trailer")
		defer w.Header().Set("X-Trailer", "after the body")
	}
	if n, err := strconv.Atoi(r.Header.Get("X-Size")); err == nil {
		if len(out) >= n {
			out = out[:n]
		} else {
			out += strings.Repeat(".", n-len(out))
		}
	}
	switch mode {
	case "cl", "cl-stream":
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	case "cl-short":
		w.Header().Set("Content-Length", strconv.Itoa(len(out)+5))
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	switch mode {
	case "stream", "cl-stream":
		half := len(out) / 2
		io.WriteString(w, out[:half])
		w.(http.Flusher).Flush()
		io.WriteString(w, out[half:])
	case "pieces":
		for len(out) > 0 {
			n := min(100, len(out))
			io.WriteString(w, out[:n])
			out = out[n:]
		}
	case "flush-first":
		w.(http.Flusher).Flush()
		io.WriteString(w, out)
	default:
		io.WriteString(w, out)
	}
}

func describeRequest(r *http.Request, body []byte, bodyErr error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "method=%q requestURI=%q\n", r.Method, r.RequestURI)
	fmt.Fprintf(&b, "url=%q path=%q rawPath=%q rawQuery=%q urlHost=%q fragment=%q\n",
		r.URL.String(), r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.URL.Host, r.URL.Fragment)
	fmt.Fprintf(&b, "proto=%q %d.%d host=%q\n", r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host)
	fmt.Fprintf(&b, "contentLength=%d transferEncoding=%q close=%v\n", r.ContentLength, r.TransferEncoding, r.Close)
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		fmt.Fprintf(&b, "header %s=%q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "body=%q bodyErr=%v trailer=%q\n", body, bodyErr, r.Trailer)
	return b.String()
}

// A diffStep is one write on the connection and the responses it should
// draw (a 1xx response is shown with the response that follows it).
type diffStep struct {
	send      string
	responses int
	head      bool // the responses answer HEAD requests (no body)
	halfClose bool // shut the write side after the write
}

type diffPath int

const (
	pathLean            diffPath = iota + 1 // served by the lean loop only
	pathHandoff                             // handed off before the lean loop served anything
	pathLeanThenHandoff                     // the lean loop served a request and then handed off
	pathAny                                 // not asserted; the case says why
)

func (p diffPath) String() string {
	return [...]string{"?", "lean", "handoff", "lean then handoff", "any"}[p]
}

type diffCase struct {
	name  string
	steps []diffStep
	path  diffPath
	// anyFraming compares the bodies but not how they are framed
	// (Content-Length or chunked); only for a case that says why.
	anyFraming bool
	// anyCloseHeader does not compare whether a response announces
	// Connection: close; whether the connection then closes is still
	// compared. Only for a case that says why.
	anyCloseHeader bool
}

func hdrLines(hdrs []string) string {
	var b strings.Builder
	for _, h := range hdrs {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	return b.String()
}

// get is a GET with a Host and the given header lines.
func get(target string, hdrs ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + diffHost + "\r\n" + hdrLines(hdrs) + "\r\n"
}

// post is a POST of a JSON body with Content-Length.
func post(target, body string, hdrs ...string) string {
	return "POST " + target + " HTTP/1.1\r\nHost: " + diffHost + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n" + hdrLines(hdrs) + "\r\n" + body
}

// raw is a request made of the given lines (CRLF-terminated) and body.
func raw(body string, lines ...string) string {
	return hdrLines(lines) + "\r\n" + body
}

func one(send string) []diffStep { return []diffStep{{send: send, responses: 1}} }

// headOfSize is a GET whose head (through the blank line) is exactly n bytes.
func headOfSize(n int) string {
	pre := "GET /pad HTTP/1.1\r\nHost: " + diffHost + "\r\nX-Pad: "
	post := "\r\n\r\n"
	return pre + strings.Repeat("p", n-len(pre)-len(post)) + post
}

// What the official SDKs send, as Go's Transport writes it.
var sdkHeaders = []string{
	"User-Agent: OpenAI/Go 3.98.0",
	"Accept: application/json",
	"Accept-Encoding: gzip",
	"Authorization: Bearer sk-test-0123456789",
	"X-Stainless-Arch: x64",
	"X-Stainless-Lang: go",
	"X-Stainless-Os: Linux",
	"X-Stainless-Package-Version: 3.98.0",
	"X-Stainless-Retry-Count: 0",
	"X-Stainless-Runtime: go",
	"X-Stainless-Runtime-Version: go1.26.8",
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi \u00e9"}],"max_tokens":16}`

func diffCases() []diffCase {
	big := strings.Repeat("x", 100<<10)
	cases := []diffCase{
		// The gateway's traffic: must stay on the lean loop.
		{name: "post-json-sdk", path: pathLean, steps: one(post("/v1/chat/completions", chatBody, sdkHeaders...))},
		{name: "post-json-anthropic", path: pathLean, steps: one(post("/v1/messages", `{"model":"claude","max_tokens":5,"messages":[]}`,
			"X-Api-Key: sk-ant-test", "Anthropic-Version: 2023-06-01", "User-Agent: Anthropic/Go 1.84.0", "Accept: application/json"))},
		{name: "post-json-stream", path: pathLean, steps: one(post("/v1/chat/completions", `{"stream":true}`, append([]string{"X-Mode: stream", "Accept: text/event-stream"}, sdkHeaders...)...))},
		{name: "get", path: pathLean, steps: one(get("/v1/models", "Accept: application/json", "User-Agent: curl/8.5.0"))},
		{name: "get-query-percent", path: pathLean, steps: one(get("/v1/a%2Fb/c%20d?q=%E2%9C%93&x=1+2&empty=&flag"))},
		{name: "get-fragment", path: pathLean, steps: one(get("/a?b#frag"))},
		{name: "get-double-slash", path: pathLean, steps: one(get("//x/../y/./z"))},
		{name: "get-with-cl-zero", path: pathLean, steps: one(get("/", "Content-Length: 0"))},
		{name: "get-with-body", path: pathLean, steps: one(get("/", "Content-Length: 4") + "abcd")},
		{name: "post-no-body-headers", path: pathLean, steps: one(raw("", "POST /v1/x HTTP/1.1", "Host: "+diffHost))},
		{name: "post-empty-body", path: pathLean, steps: one(post("/v1/x", ""))},
		{name: "post-large-body", path: pathLean, steps: one(post("/v1/x", big))},
		{name: "cl-leading-zeros", path: pathLean, steps: one(raw("abcde", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 005"))},
		{name: "lowercase-header-names", path: pathLean, steps: one(raw("hi", "POST /lc HTTP/1.1", "host: "+diffHost, "content-length: 2", "content-type: text/plain", "x-mixed-CASE-name: v"))},
		{name: "odd-but-valid-names", path: pathLean, steps: one(get("/", "x_under_score: 1", "X-A: 1", "x-a: 2", "X-Tokens!#$%&'*+.^`|~: ok"))},
		{name: "header-whitespace", path: pathLean, steps: one(get("/", "X-Spaced:   a  b \t", "X-Empty:", "X-Tab:\tv\tw", "X-Nospace:v"))},
		{name: "header-utf8-value", path: pathLean, steps: one(get("/", "X-Utf8: h\u00e9llo \u2713", "X-Latin1: caf\xe9"))},
		{name: "pragma-no-cache", path: pathLean, steps: one(get("/", "Pragma: no-cache"))},
		{name: "pragma-with-cache-control", path: pathLean, steps: one(get("/", "Pragma: no-cache", "Cache-Control: max-age=5"))},
		{name: "host-variants", path: pathLean, steps: one(raw("", "GET / HTTP/1.1", "Host: [::1]:8080"))},
		{name: "host-uppercase", path: pathLean, steps: one(raw("", "GET / HTTP/1.1", "Host: GW.Test"))},
		{name: "keep-alive-5", path: pathLean, steps: []diffStep{
			{send: post("/1", `{"n":1}`, sdkHeaders...), responses: 1},
			{send: get("/2"), responses: 1},
			{send: post("/3", `{"n":3}`, "X-Mode: stream"), responses: 1},
			{send: post("/4", `{"n":4}`, "X-Mode: noread"), responses: 1},
			{send: post("/5", `{"n":5}`, "Connection: keep-alive"), responses: 1},
		}},
		{name: "pipelined-2", path: pathLean, steps: []diffStep{{send: post("/a", `{"a":1}`) + get("/b"), responses: 2}}},
		{name: "pipelined-4-mixed", path: pathLean, steps: []diffStep{{send: post("/a", big) + get("/b", "X-Mode: stream") +
			post("/c", "unread", "X-Mode: noread") + get("/d", "X-Status: 404"), responses: 4}}},
		{name: "connection-close", path: pathLean, steps: one(post("/", `{}`, "Connection: close"))},
		{name: "connection-close-mixed-case", path: pathLean, steps: one(post("/", `{}`, "Connection: keep-alive, CLOSE"))},
		{name: "connection-close-then-pipelined", path: pathLean, steps: []diffStep{{send: post("/", `{}`, "Connection: close") + get("/never"), responses: 1}}},
		{name: "connection-keep-alive", path: pathLean, steps: one(get("/", "Connection: keep-alive"))},
		{name: "connection-close-handler-keep-alive", path: pathLean, steps: one(get("/", "Connection: close", "X-Set-Header: Connection: keep-alive"))},
		{name: "handler-connection-close", path: pathLean, steps: one(get("/", "X-Set-Header: Connection: close"))},
		{name: "handler-connection-keep-alive", path: pathLean, steps: one(get("/", "X-Set-Header: Connection: keep-alive"))},
		{name: "two-connection-headers", path: pathLean, steps: one(get("/", "Connection: keep-alive", "Connection: close"))},
		{name: "target-empty-query", path: pathLean, steps: one(get("/v1/models?"))},
		{name: "many-headers", path: pathLean, steps: one(get("/", func() []string {
			var h []string
			for i := range 150 {
				h = append(h, fmt.Sprintf("X-H%d: v%d", i%40, i), fmt.Sprintf("Cookie: c%d=%d", i, i))
			}
			return h
		}()...))},
		{name: "read-part-of-body", path: pathLean, steps: []diffStep{
			{send: post("/", strings.Repeat("r", 5000), "X-Mode: read10"), responses: 1},
			{send: get("/next"), responses: 1},
		}},
		{name: "close-body-unread", path: pathLean, steps: []diffStep{
			{send: post("/", strings.Repeat("r", 5000), "X-Mode: closebody"), responses: 1},
		}},

		// Response shapes on the lean loop.
		{name: "status-201", path: pathLean, steps: one(post("/", `{}`, "X-Status: 201"))},
		{name: "status-404-empty", path: pathLean, steps: one(get("/", "X-Status: 404", "X-Mode: empty"))},
		{name: "status-500", path: pathLean, steps: one(get("/", "X-Status: 500"))},
		{name: "status-299-unknown", path: pathLean, steps: one(get("/", "X-Status: 299"))},
		{name: "status-999", path: pathLean, steps: one(get("/", "X-Status: 999"))},
		{name: "extra-headers", path: pathLean, steps: one(get("/", "X-Set-Header: X-Multi: a", "X-Set-Header: X-Multi: b",
			"X-Set-Header: x-lower: c", "X-Set-Header: Cache-Control: no-store", "X-Set-Header: Date: "+handlerDate))},
		{name: "handler-content-type", path: pathLean, steps: one(get("/", "X-Set-Header: Content-Type: application/json"))},
		{name: "handler-content-encoding", path: pathLean, steps: one(get("/", "X-Set-Header: Content-Encoding: gzip"))},
		{name: "handler-invalid-header-name", path: pathLean, steps: one(get("/", "X-Set-Header: Bad Name: v"))},
		{name: "handler-header-crlf", path: pathLean, steps: one(get("/", "X-Mode: inject"))},
		// net/http drops an invalid Content-Length from the handler but,
		// through a quirk (its header snapshot still holds the value),
		// then neither computes one nor accepts it, and chunks the body.
		// The lean loop computes the length. Both frame the same body
		// correctly; which framing is not something a client relies on.
		{name: "handler-invalid-content-length", path: pathLean, anyFraming: true, steps: one(get("/", "X-Set-Header: Content-Length: abc"))},
		{name: "stream", path: pathLean, steps: one(get("/", "X-Mode: stream"))},
		{name: "stream-with-type", path: pathLean, steps: one(get("/", "X-Mode: stream", "X-Set-Header: Content-Type: text/event-stream"))},
		{name: "flush-first", path: pathLean, steps: one(get("/", "X-Mode: flush-first"))},
		{name: "flush-only", path: pathLean, steps: one(get("/", "X-Mode: flush-first", "X-Size: 0"))},
		{name: "write-nothing", path: pathLean, steps: one(get("/", "X-Mode: empty"))},
		{name: "status-204", path: pathLean, steps: one(get("/", "X-Mode: empty", "X-Status: 204"))},
		{name: "status-204-with-body-write", path: pathLean, steps: one(get("/", "X-Status: 204"))},
		{name: "status-204-with-content-length", path: pathLean, steps: one(get("/", "X-Status: 204", "X-Mode: cl"))},
		{name: "status-304-with-content-type", path: pathLean, steps: one(get("/", "X-Status: 304", "X-Mode: empty", "X-Set-Header: Content-Type: text/html"))},
		{name: "explicit-content-length", path: pathLean, steps: one(get("/", "X-Mode: cl"))},
		{name: "explicit-content-length-big", path: pathLean, steps: one(get("/", "X-Mode: cl", "X-Size: 5000"))},
		{name: "explicit-content-length-flush", path: pathLean, steps: one(get("/", "X-Mode: cl-stream"))},
		{name: "trailer", path: pathLean, steps: one(get("/", "X-Mode: trailer"))},
		{name: "trailer-stream", path: pathLean, steps: one(get("/", "X-Mode: trailer", "X-Set-Header: X-Extra: 1", "X-Size: 3000"))},
		// net/http chunks a body whose handler set Transfer-Encoding:
		// chunked; the lean loop drops the header, chooses the framing
		// itself and here sends a Content-Length. Both frame the same
		// body correctly.
		{name: "handler-transfer-encoding-chunked", path: pathLean, anyFraming: true, steps: one(get("/", "X-Set-Header: Transfer-Encoding: chunked"))},
		{name: "handler-transfer-encoding-identity-large", path: pathLean, anyFraming: true, steps: one(get("/", "X-Set-Header: Transfer-Encoding: identity", "X-Size: 9000", "X-Mode: pieces"))},
		{name: "handler-transfer-encoding-identity-stream", path: pathLean, anyFraming: true, steps: one(get("/", "X-Set-Header: Transfer-Encoding: identity", "X-Mode: stream"))},
		{name: "content-length-short-write", path: pathLean, steps: one(get("/", "X-Mode: cl-short"))},
		{name: "sniff-html", path: pathLean, steps: one(get("/", "X-Mode: html"))},
		{name: "sniff-html-status", path: pathLean, steps: one(get("/", "X-Mode: html", "X-Status: 418"))},
		{name: "size-2048", path: pathLean, steps: one(get("/", "X-Size: 2048"))},
		{name: "size-2049", path: pathLean, steps: one(get("/", "X-Size: 2049"))},
		{name: "size-2049-pieces", path: pathLean, steps: one(get("/", "X-Size: 2049", "X-Mode: pieces"))},
		{name: "size-2048-pieces", path: pathLean, steps: one(get("/", "X-Size: 2048", "X-Mode: pieces"))},
		{name: "size-20000-pieces", path: pathLean, steps: one(get("/", "X-Size: 20000", "X-Mode: pieces"))},
		{name: "size-1MiB", path: pathLean, steps: one(get("/", "X-Size: 1048576"))},
		{name: "early-hints", path: pathLean, steps: one(get("/", "X-Mode: early-hints"))},
		{name: "early-hints-content-length", path: pathLean, steps: one(get("/", "X-Mode: early-hints-cl"))},
		{name: "panic", path: pathLean, steps: one(get("/", "X-Mode: panic"))},
		{name: "abort", path: pathLean, steps: one(get("/", "X-Mode: abort"))},
		{name: "pipelined-after-panic", path: pathLean, steps: []diffStep{{send: get("/ok") + get("/", "X-Mode: panic") + get("/never"), responses: 3}}},
		{name: "unread-body-small", path: pathLean, steps: []diffStep{
			{send: post("/", big, "X-Mode: noread"), responses: 1},
			{send: get("/next"), responses: 1},
		}},
		{name: "unread-body-large", path: pathLean, steps: []diffStep{
			{send: post("/", strings.Repeat("y", 300<<10), "X-Mode: noread"), responses: 1},
		}},
		{name: "head-8192-bytes", path: pathLean, steps: one(headOfSize(8192))},
		{name: "head-8000-then-body", path: pathLean, steps: one("POST /pad HTTP/1.1\r\nHost: " + diffHost + "\r\nContent-Length: 20000\r\nX-Pad: " + strings.Repeat("p", 7900) + "\r\n\r\n" + strings.Repeat("b", 20000))},

		// Odd requests: handed off to net/http from the start.
		{name: "http10", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.0"))},
		{name: "http10-keep-alive", path: pathHandoff, steps: []diffStep{
			{send: raw("", "GET /1 HTTP/1.0", "Connection: keep-alive", "X-Mode: cl"), responses: 1},
			{send: raw("", "GET /2 HTTP/1.0", "Connection: keep-alive"), responses: 1},
		}},
		{name: "http12", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.2", "Host: "+diffHost))},
		{name: "http20-version", path: pathHandoff, steps: one(raw("", "GET / HTTP/2.0", "Host: "+diffHost))},
		{name: "h2-preface", path: pathHandoff, steps: one("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")},
		{name: "chunked-body", path: pathHandoff, steps: one(raw("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
			"POST /chunked HTTP/1.1", "Host: "+diffHost, "Transfer-Encoding: chunked"))},
		{name: "chunked-body-trailer", path: pathHandoff, steps: one(raw("5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
			"POST /chunked HTTP/1.1", "Host: "+diffHost, "Trailer: X-Trailer", "Transfer-Encoding: chunked"))},
		{name: "chunked-and-content-length", path: pathHandoff, steps: one(raw("5\r\nhello\r\n0\r\n\r\n",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 3", "Transfer-Encoding: chunked"))},
		{name: "transfer-encoding-identity", path: pathHandoff, steps: one(raw("abc",
			"POST / HTTP/1.1", "Host: "+diffHost, "Transfer-Encoding: identity", "Content-Length: 3"))},
		{name: "expect-100-continue", path: pathHandoff, steps: one(raw("hello",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5", "Expect: 100-continue"))},
		{name: "expect-unknown", path: pathHandoff, steps: one(raw("hello",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5", "Expect: teapot"))},
		{name: "missing-host", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1"))},
		{name: "empty-host", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host:"))},
		{name: "two-hosts", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: a.test", "Host: b.test"))},
		{name: "two-hosts-same", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: a.test", "Host: a.test"))},
		{name: "host-with-space", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: a b"))},
		{name: "host-with-userinfo", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: user@a.test"))},
		{name: "content-length-duplicate-same", path: pathHandoff, steps: one(raw("hello",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5", "Content-Length: 5"))},
		{name: "content-length-conflict", path: pathHandoff, steps: one(raw("hello!",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5", "Content-Length: 6"))},
		{name: "content-length-list", path: pathHandoff, steps: one(raw("hello",
			"POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5, 5"))},
		{name: "content-length-negative", path: pathHandoff, steps: one(raw("", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: -1"))},
		{name: "content-length-nonnumeric", path: pathHandoff, steps: one(raw("abc", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: abc"))},
		{name: "content-length-plus", path: pathHandoff, steps: one(raw("abc", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: +3"))},
		{name: "content-length-empty", path: pathHandoff, steps: one(raw("", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length:"))},
		{name: "content-length-huge", path: pathHandoff, steps: one(raw("", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 99999999999999999999"))},
		{name: "obs-fold", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: "+diffHost, "X-Folded: a", " b", "X-After: c"))},
		{name: "obs-fold-tab", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: "+diffHost, "X-Folded: a", "\tb"))},
		{name: "space-before-colon-host", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host : "+diffHost))},
		{name: "space-before-colon", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: "+diffHost, "X-Foo : bar"))},
		{name: "header-no-colon", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: "+diffHost, "X-Foo"))},
		{name: "header-name-invalid-char", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1", "Host: "+diffHost, "X(Foo): bar"))},
		{name: "header-name-long", path: pathHandoff, steps: one(get("/", "X-"+strings.Repeat("n", 100)+": v"))},
		{name: "nul-in-header-value", path: pathHandoff, steps: one(get("/", "X-Bad: a\x00b"))},
		{name: "cr-in-header-value", path: pathHandoff, steps: one(get("/", "X-Bad: a\rb"))},
		{name: "del-in-header-value", path: pathHandoff, steps: one(get("/", "X-Bad: a\x7fb"))},
		{name: "bare-lf", path: pathHandoff, steps: one("GET /lf HTTP/1.1\nHost: " + diffHost + "\nX-A: 1\n\n")},
		{name: "bare-lf-post", path: pathHandoff, steps: one("POST /lf HTTP/1.1\nHost: " + diffHost + "\nContent-Length: 2\n\nhi")},
		{name: "bare-lf-last-line", path: pathHandoff, steps: one("GET /lf HTTP/1.1\r\nHost: " + diffHost + "\r\n\n")},
		{name: "bare-lf-mixed", path: pathHandoff, steps: one("GET /lf HTTP/1.1\r\nHost: " + diffHost + "\nX-A: 1\r\n\r\n")},
		{name: "bare-lf-request-line", path: pathHandoff, steps: one("GET /lf HTTP/1.1\nHost: " + diffHost + "\r\n\r\n")},
		{name: "head-8193-bytes", path: pathHandoff, steps: one(headOfSize(8193))},
		{name: "head-20k", path: pathHandoff, steps: one(headOfSize(20 << 10))},
		{name: "head-20k-post", path: pathHandoff, steps: one("POST /big HTTP/1.1\r\nHost: " + diffHost +
			"\r\nContent-Length: 5\r\nX-Pad: " + strings.Repeat("p", 20<<10) + "\r\n\r\nhello")},
		{name: "method-put", path: pathHandoff, steps: one(strings.Replace(post("/v1/x", `{"a":1}`), "POST", "PUT", 1))},
		{name: "method-delete", path: pathHandoff, steps: one(raw("", "DELETE /v1/x HTTP/1.1", "Host: "+diffHost))},
		{name: "method-patch", path: pathHandoff, steps: one(strings.Replace(post("/v1/x", `{"a":1}`), "POST", "PATCH", 1))},
		{name: "method-options", path: pathHandoff, steps: one(raw("", "OPTIONS /v1/x HTTP/1.1", "Host: "+diffHost))},
		{name: "method-head", path: pathHandoff, steps: []diffStep{{send: raw("", "HEAD /v1/x HTTP/1.1", "Host: "+diffHost), responses: 1, head: true}}},
		{name: "method-lowercase", path: pathHandoff, steps: one(raw("", "get / HTTP/1.1", "Host: "+diffHost))},
		{name: "method-custom", path: pathHandoff, steps: one(raw("", "PROPFIND / HTTP/1.1", "Host: "+diffHost))},
		{name: "options-star", path: pathHandoff, steps: one(raw("", "OPTIONS * HTTP/1.1", "Host: "+diffHost))},
		{name: "get-star", path: pathHandoff, steps: one(raw("", "GET * HTTP/1.1", "Host: "+diffHost))},
		{name: "absolute-form", path: pathHandoff, steps: one(raw("", "GET http://other.test/v1/models?x=1 HTTP/1.1", "Host: "+diffHost))},
		{name: "absolute-form-post", path: pathHandoff, steps: one(raw("{}", "POST http://"+diffHost+"/v1/x HTTP/1.1", "Host: "+diffHost, "Content-Length: 2"))},
		{name: "authority-form", path: pathHandoff, steps: one(raw("", "CONNECT gw.test:443 HTTP/1.1", "Host: gw.test:443"))},
		{name: "target-no-slash", path: pathHandoff, steps: one(raw("", "GET v1/models HTTP/1.1", "Host: "+diffHost))},
		{name: "target-bad-percent", path: pathHandoff, steps: one(get("/a%zz"))},
		{name: "target-control-char", path: pathHandoff, steps: one(get("/a\x01b"))},
		{name: "target-utf8", path: pathHandoff, steps: one(get("/caf\u00e9"))},
		{name: "request-line-double-space", path: pathHandoff, steps: one(raw("", "GET  / HTTP/1.1", "Host: "+diffHost))},
		{name: "request-line-trailing-space", path: pathHandoff, steps: one(raw("", "GET / HTTP/1.1 ", "Host: "+diffHost))},
		{name: "request-line-space-in-target", path: pathHandoff, steps: one(raw("", "GET /a b HTTP/1.1", "Host: "+diffHost))},
		{name: "leading-crlf", path: pathHandoff, steps: one("\r\n" + get("/"))},
		{name: "garbage", path: pathHandoff, steps: one("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")},
		{name: "upgrade-websocket", path: pathHandoff, steps: one(get("/ws", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))},
		{name: "upgrade-h2c", path: pathHandoff, steps: one(get("/", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"))},
		{name: "upgrade-without-connection", path: pathHandoff, steps: one(get("/", "Upgrade: websocket"))},
		{name: "connection-other-token", path: pathHandoff, steps: one(get("/", "Connection: keep-alive, X-Hop", "X-Hop: 1"))},

		// The lean loop serves the first request, then hands the
		// connection off with what it has read.
		{name: "lean-then-chunked", path: pathLeanThenHandoff, steps: []diffStep{
			{send: post("/lean", `{"a":1}`), responses: 1},
			{send: raw("3\r\nabc\r\n0\r\n\r\n", "POST /chunked HTTP/1.1", "Host: "+diffHost, "Transfer-Encoding: chunked"), responses: 1},
			{send: get("/after"), responses: 1},
		}},
		{name: "lean-then-chunked-pipelined", path: pathLeanThenHandoff, steps: []diffStep{
			{send: post("/lean", `{"a":1}`) + raw("3\r\nabc\r\n0\r\n\r\n", "POST /chunked HTTP/1.1", "Host: "+diffHost, "Transfer-Encoding: chunked") + get("/after"), responses: 3},
		}},
		{name: "lean-then-http10", path: pathLeanThenHandoff, steps: []diffStep{
			{send: get("/lean"), responses: 1},
			{send: raw("", "GET /old HTTP/1.0"), responses: 1},
		}},
		{name: "lean-then-expect", path: pathLeanThenHandoff, steps: []diffStep{
			{send: get("/lean"), responses: 1},
			{send: raw("hello", "POST / HTTP/1.1", "Host: "+diffHost, "Content-Length: 5", "Expect: 100-continue"), responses: 1},
		}},
		{name: "lean-then-big-head-pipelined", path: pathLeanThenHandoff, steps: []diffStep{
			{send: post("/lean", `{"a":1}`) + headOfSize(12000), responses: 2},
		}},
		{name: "lean-then-head-method", path: pathLeanThenHandoff, steps: []diffStep{
			{send: get("/lean"), responses: 1},
			{send: raw("", "HEAD /x HTTP/1.1", "Host: "+diffHost), responses: 1, head: true},
			{send: get("/after"), responses: 1},
		}},
		{name: "lean-then-bad-request", path: pathLeanThenHandoff, steps: []diffStep{
			{send: get("/lean"), responses: 1},
			{send: raw("", "GET / HTTP/1.1", "Host: a", "Host: b"), responses: 1},
		}},
		{name: "lean-then-bare-lf", path: pathLeanThenHandoff, steps: []diffStep{
			{send: get("/lean"), responses: 1},
			{send: "GET /lf HTTP/1.1\nHost: " + diffHost + "\n\n", responses: 1},
		}},
		// Old clients send a CRLF after a POST body; net/http skips up to
		// four CR/LF bytes before the request after a POST. The lean loop
		// may skip them itself or hand off, but the answer must match.
		{name: "crlf-after-post-body", path: pathAny, steps: []diffStep{
			{send: post("/lean", `{"a":1}`) + "\r\n" + get("/after"), responses: 2},
		}},
		{name: "crlf-after-post-body-separate", path: pathAny, steps: []diffStep{
			{send: post("/lean", `{"a":1}`) + "\r\n", responses: 1},
			{send: get("/after"), responses: 1},
		}},

		// The client stops early.
		// The client can send nothing more and both servers close after
		// the response (compared as "afterwards"). net/http does not
		// announce the close, because its body reader counts the early
		// EOF as the body's end; announcing it is as correct and no
		// client can act on it.
		{name: "short-body-then-half-close", path: pathLean, anyCloseHeader: true, steps: []diffStep{
			{send: raw("abc", "POST /short HTTP/1.1", "Host: "+diffHost, "Content-Length: 10"), responses: 1, halfClose: true},
		}},
		{name: "full-request-then-half-close", path: pathLean, steps: []diffStep{
			{send: post("/", `{"a":1}`), responses: 1, halfClose: true},
		}},
	}
	return cases
}

// diffReadWait bounds each read: a server that has not answered by then
// is taken to have hung.
const diffReadWait = 3 * time.Second

// runDiffCase plays c on a new connection to addr and describes, one entry
// per response, what came back, then whether the connection stayed open.
func runDiffCase(addr string, c diffCase) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return []string{"dial: " + err.Error()}
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	var out []string
	alive, halfClosed := true, false
	for i, st := range c.steps {
		if !alive {
			out = append(out, fmt.Sprintf("step %d: not sent, the connection is gone", i+1))
			continue
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			conn.SetWriteDeadline(time.Now().Add(diffReadWait))
			// A write error is not compared: whether writing to a server
			// that has stopped reading fails depends on socket buffers
			// and timing, not on what the server answers.
			io.WriteString(conn, st.send)
			if st.halfClose {
				conn.(*net.TCPConn).CloseWrite()
			}
		}()
		conn.SetReadDeadline(time.Now().Add(diffReadWait))
		method := http.MethodGet
		if st.head {
			method = http.MethodHead
		}
		for j := 0; j < st.responses; j++ {
			s, ok := readDiffResponse(br, method, c)
			out = append(out, fmt.Sprintf("step %d, response %d:\n%s", i+1, j+1, s))
			if !ok {
				alive = false
				break
			}
		}
		<-wrote
		halfClosed = halfClosed || st.halfClose
	}
	if alive {
		out = append(out, "afterwards: "+afterState(conn, br, halfClosed))
	}
	return out
}

// afterState tells whether the server keeps the connection open: a probe
// request is answered on an open connection; a closed one reads EOF.
func afterState(conn net.Conn, br *bufio.Reader, halfClosed bool) string {
	conn.SetDeadline(time.Now().Add(diffReadWait))
	if halfClosed {
		// No probe can go out; the server should answer and close.
		if _, err := br.ReadByte(); err == nil {
			return "unexpected bytes after the last response"
		} else {
			return "read: " + classify(err)
		}
	}
	if _, err := io.WriteString(conn, get("/probe")); err != nil {
		return "probe: " + classify(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "probe: " + classify(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return "open (probe answered " + resp.Status + ")"
}

func classify(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %v", diffReadWait)
	// Whether a server's close reads as EOF or as a reset depends on
	// whether unread request bytes were left in its socket, which is
	// timing: both mean the connection closed with nothing more sent.
	// (http.ReadResponse reports a clean EOF before a response as
	// io.ErrUnexpectedEOF too; a truncated body is told apart by where
	// the error is reported, "no response" or "body error".)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection closed"
	}
	return "error: " + err.Error()
}

// readDiffResponse reads one final response (and any 1xx before it) and
// describes it; ok is false when the connection cannot be read further.
func readDiffResponse(br *bufio.Reader, method string, c diffCase) (desc string, ok bool) {
	var b strings.Builder
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			fmt.Fprintf(&b, "no response: %s\n", classify(err))
			return b.String(), false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			fmt.Fprintf(&b, "informational: %s %s\n", resp.Proto, resp.Status)
			describeHeader(&b, resp.Header)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&b, "%s %s\n", resp.Proto, resp.Status)
		framing := fmt.Sprintf("content-length=%d transfer-encoding=%q", resp.ContentLength, resp.TransferEncoding)
		if c.anyFraming {
			framing = "(not compared)"
			resp.Header.Del("Content-Length")
		}
		closing := fmt.Sprint(resp.Close) // http.ReadResponse takes Connection: close out of the header into Close
		if c.anyCloseHeader {
			closing = "(not compared)"
		}
		fmt.Fprintf(&b, "framing: %s close=%s\n", framing, closing)
		describeHeader(&b, resp.Header)
		for _, line := range strings.SplitAfter(string(body), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "body: %q\n", line)
			}
		}
		if len(resp.Trailer) > 0 {
			fmt.Fprintf(&b, "trailer: %q\n", resp.Trailer)
		}
		if err != nil {
			fmt.Fprintf(&b, "body error: %s\n", classify(err))
			return b.String(), false
		}
		return b.String(), true
	}
}

// describeHeader writes the headers sorted by key: the wire order is not
// compared (net/http writes its own headers in a fixed order after the
// handler's sorted ones; the lean loop sorts all), which no client depends
// on. Date is the only value normalised: it must be a current IMF-fixdate
// (or the handler's own value), and its exact second is not compared.
func describeHeader(b *strings.Builder, h http.Header) {
	h = h.Clone()
	if d, ok := h["Date"]; ok {
		delete(h, "Date")
		if t, err := http.ParseTime(d[0]); len(d) == 1 && d[0] == handlerDate {
			fmt.Fprintf(b, "Date: handler's\n")
		} else if len(d) == 1 && err == nil && time.Since(t).Abs() < time.Minute && d[0] == t.UTC().Format(http.TimeFormat) {
			fmt.Fprintf(b, "Date: now\n")
		} else {
			fmt.Fprintf(b, "Date: %q\n", d)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		fmt.Fprintf(b, "%s: %q\n", k, h[k])
	}
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startStd serves h with a plain net/http Server on a loopback listener.
func startStd(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestDiffNetHTTP(t *testing.T) {
	std := startStd(t, http.HandlerFunc(echoHandler))
	for _, c := range diffCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, http.HandlerFunc(echoHandler))
			want := runDiffCase(std, c)
			got := runDiffCase(ts.addr, c)
			if !slices.Equal(want, got) {
				w, g := strings.Join(want, "\n"), strings.Join(got, "\n")
				t.Errorf("responses differ (- net/http, + h1):\n%s\nrequest bytes: %q", lineDiff(w, g), requestBytes(c))
				if l := ts.log.String(); l != "" {
					t.Logf("h1 log:\n%s", l)
				}
			}
			lean, handed := ts.leanConns.Load(), ts.handedOff.Load()
			var ok bool
			switch c.path {
			case pathLean:
				ok = lean >= 1 && handed == 0
			case pathHandoff:
				ok = lean == 0 && handed >= 1
			case pathLeanThenHandoff:
				ok = lean >= 1 && handed >= 1
			case pathAny:
				ok = true
			}
			if !ok {
				t.Errorf("want path %v; leanConns=%d handedOff=%d", c.path, lean, handed)
			}
		})
	}
}

// lineDiff shows a line by line difference of a and b: "-" lines only in
// a, "+" lines only in b, the rest as context.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] is the length of the longest common subsequence of x[i:], y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j++
		default:
			out.WriteString("- " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}

func requestBytes(c diffCase) string {
	var b strings.Builder
	for _, st := range c.steps {
		s := st.send
		if len(s) > 600 {
			s = s[:300] + fmt.Sprintf("...(%d bytes)...", len(s)-600) + s[len(s)-300:]
		}
		b.WriteString(s)
	}
	return b.String()
}

// TestDiffCorpusShape keeps the corpus honest: the cases the brief names
// are present, and the common path is exercised by several of them.
func TestDiffCorpusShape(t *testing.T) {
	n := map[diffPath]int{}
	names := map[string]bool{}
	for _, c := range diffCases() {
		if names[c.name] {
			t.Errorf("duplicate case %q", c.name)
		}
		names[c.name] = true
		n[c.path]++
	}
	if n[pathLean] < 20 || n[pathHandoff] < 20 || n[pathLeanThenHandoff] < 3 {
		t.Errorf("corpus too thin: %v", n)
	}
}
