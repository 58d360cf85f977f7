package provider

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
)

// The lean client's tests run against httptest servers (and, where a
// server must misbehave on purpose, a raw TCP one).

func skipWithoutLean(t *testing.T) {
	t.Helper()
	if !leanSupported {
		t.Skip("the lean client does not run on this platform")
	}
}

// connCounter counts the connections a server accepted.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func newCountingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func leanProvider(t *testing.T, base string, tr *Transport) *httpProvider {
	t.Helper()
	p, err := New("up", config.Provider{Type: "openai-compatible", BaseURL: base}, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	hp := p.(*httpProvider)
	if hp.lean == nil {
		t.Fatal("provider does not use the lean client")
	}
	return hp
}

func newTestTransport(t *testing.T) *Transport {
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func call1(t *testing.T, p Provider, body string) (*http.Response, string) {
	t.Helper()
	resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(body)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

func (p *pool) idleLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func TestLeanKeepAliveReuse(t *testing.T) {
	skipWithoutLean(t)
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		fmt.Fprintf(w, `{"echo":%s}`, b)
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	for i := range 20 {
		resp, body := call1(t, p, fmt.Sprintf(`{"n":%d}`, i))
		if want := fmt.Sprintf(`{"echo":{"n":%d}}`, i); body != want {
			t.Fatalf("body = %q, want %q", body, want)
		}
		if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
			t.Errorf("status %q %d %s", resp.Status, resp.StatusCode, resp.Proto)
		}
		if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("X-Multi = %q", got)
		}
		if resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Type %q, ContentLength %d", resp.Header.Get("Content-Type"), resp.ContentLength)
		}
	}
	if n := cc.n.Load(); n != 1 {
		t.Errorf("20 sequential calls used %d connections, want 1", n)
	}
	if n := p.lean.pool.idleLen(); n != 1 {
		t.Errorf("idle connections = %d, want 1", n)
	}
}

func TestLeanConcurrentCallsPool(t *testing.T) {
	skipWithoutLean(t)
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(want)})
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					t.Errorf("got %q, %v; want %q", b, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := cc.n.Load(); n > 8 {
		t.Errorf("8 concurrent callers used %d connections, want at most 8", n)
	}
}

func TestLeanChunkedBody(t *testing.T) {
	skipWithoutLean(t)
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Trailer", "X-Checksum")
		for i := range 5 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Checksum", "abc")
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	for range 3 {
		resp, body := call1(t, p, `{}`)
		if want := "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"; body != want {
			t.Fatalf("body = %q, want %q", body, want)
		}
		if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("ContentLength %d, TransferEncoding %q", resp.ContentLength, resp.TransferEncoding)
		}
		if resp.Header.Get("Transfer-Encoding") != "" {
			t.Error("Transfer-Encoding left in the header")
		}
	}
	// The trailer was consumed: the connection went back to the pool.
	if n := cc.n.Load(); n != 1 {
		t.Errorf("3 chunked responses used %d connections, want 1", n)
	}
}

// TestLeanStreamArrivesAsSent checks that a streamed chunk is readable
// as soon as the upstream flushes it, before the next one is sent.
func TestLeanStreamArrivesAsSent(t *testing.T) {
	skipWithoutLean(t)
	next := make(chan struct{})
	srv, _ := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			<-next
		}
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the last event: %q, %v", rest, err)
	}
}

func TestLeanConnectionClose(t *testing.T) {
	skipWithoutLean(t)
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	for range 3 {
		resp, body := call1(t, p, `{}`)
		if body != "bye" || !resp.Close {
			t.Errorf("body %q, Close %v", body, resp.Close)
		}
	}
	if n := cc.n.Load(); n != 3 {
		t.Errorf("Connection: close answered 3 times over %d connections, want 3", n)
	}
	if n := p.lean.pool.idleLen(); n != 0 {
		t.Errorf("%d closed connections kept idle", n)
	}
}

// TestLeanUpstreamClosesIdleConns: the upstream drops its keep-alive
// connections while they sit in the pool; the next calls must notice
// before sending and use fresh connections, each request arriving once.
func TestLeanUpstreamClosesIdleConns(t *testing.T) {
	skipWithoutLean(t)
	var seen atomic.Int64
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		seen.Add(1)
		time.Sleep(5 * time.Millisecond)
		io.WriteString(w, "ok")
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); call1(t, p, `{}`) }()
	}
	wg.Wait()
	if n := p.lean.pool.idleLen(); n < 2 {
		t.Fatalf("idle connections = %d, want several", n)
	}
	srv.CloseClientConnections()
	// Let the FINs arrive.
	time.Sleep(50 * time.Millisecond)
	before := cc.n.Load()
	for range 3 {
		if _, body := call1(t, p, `{}`); body != "ok" {
			t.Fatalf("body %q", body)
		}
	}
	if got := seen.Load(); got != 7 {
		t.Errorf("upstream saw %d requests, want 7 (none lost, none sent twice)", got)
	}
	if n := cc.n.Load() - before; n != 1 {
		t.Errorf("after the upstream closed the pool, 3 calls used %d new connections, want 1", n)
	}
}

// rawServer accepts TCP connections and runs fn on each.
func rawServer(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest reads one request (Content-Length bodies only).
func readRequest(br *bufio.Reader) (string, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func TestLeanNoRetryOnceSent(t *testing.T) {
	skipWithoutLean(t)
	var mu sync.Mutex
	var got []string
	base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			body, err := readRequest(br)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, body)
			mu.Unlock()
			if i == 1 {
				return // read the second request, then hang up without answering
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := leanProvider(t, base, newTestTransport(t))
	call1(t, p, `{"n":1}`)
	_, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{"n":2}`)})
	if err == nil {
		t.Fatal("a call the upstream hung up on succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Errorf("upstream got %q: a sent request must not be retried", got)
	}
}

func TestLeanRetryWhenNothingSent(t *testing.T) {
	skipWithoutLean(t)
	var mu sync.Mutex
	var got []string
	base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			body, err := readRequest(br)
			if err != nil {
				// Keep the connection open: only the client's write side is shut.
				time.Sleep(200 * time.Millisecond)
				return
			}
			mu.Lock()
			got = append(got, body)
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := leanProvider(t, base, newTestTransport(t))
	call1(t, p, `{"n":1}`)
	// Break the pooled connection so that a write fails before sending a
	// byte while it still looks idle and healthy.
	pl := p.lean.pool
	pl.mu.Lock()
	c := pl.idle[0]
	pl.mu.Unlock()
	c.raw.(*net.TCPConn).CloseWrite()
	if _, body := call1(t, p, `{"n":2}`); body != "ok" {
		t.Fatalf("body %q", body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[1] != `{"n":2}` {
		t.Errorf("upstream got %q, want the retried request once", got)
	}
}

func TestLeanCloseDelimitedBody(t *testing.T) {
	skipWithoutLean(t)
	base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{\"until\":\"eof\"}")
	})
	p := leanProvider(t, base, newTestTransport(t))
	for range 2 {
		resp, body := call1(t, p, `{}`)
		if body != `{"until":"eof"}` || resp.ContentLength != -1 || resp.Proto != "HTTP/1.0" {
			t.Errorf("body %q, ContentLength %d, Proto %s", body, resp.ContentLength, resp.Proto)
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("lower-case header not canonicalised: %v", resp.Header)
		}
	}
	if n := p.lean.pool.idleLen(); n != 0 {
		t.Errorf("%d close-delimited connections kept idle", n)
	}
}

func TestLeanInterimResponsesSkipped(t *testing.T) {
	skipWithoutLean(t)
	srv, _ := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Link", "</x>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	resp, body := call1(t, p, `{}`)
	if resp.StatusCode != http.StatusCreated || body != "made" {
		t.Errorf("got %d %q, want 201 made", resp.StatusCode, body)
	}
}

func TestLeanMalformedResponses(t *testing.T) {
	skipWithoutLean(t)
	for name, reply := range map[string]string{
		"not http":             "SSH-2.0-OpenSSH\r\n\r\n",
		"bad status":           "HTTP/1.1 2x0 OK\r\n\r\n",
		"bad content-length":   "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
		"conflicting lengths":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"folded header":        "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n",
		"unknown coding":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"closed before answer": "",
		"cut headers":          "HTTP/1.1 200 OK\r\nContent-Le",
	} {
		t.Run(name, func(t *testing.T) {
			base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, reply)
			})
			p := leanProvider(t, base, newTestTransport(t))
			resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
			if err == nil {
				resp.Body.Close()
				t.Fatalf("accepted %q", reply)
			}
			if !strings.Contains(err.Error(), base) {
				t.Errorf("error %q does not name the URL", err)
			}
		})
	}
}

func TestLeanCutBody(t *testing.T) {
	skipWithoutLean(t)
	base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")
	})
	p := leanProvider(t, base, newTestTransport(t))
	resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "only a part" {
		t.Errorf("got %q, %v; want the part and io.ErrUnexpectedEOF", b, err)
	}
}

func TestLeanLargeBodies(t *testing.T) {
	skipWithoutLean(t)
	srv, _ := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	p := leanProvider(t, srv.URL, newTestTransport(t))
	for _, n := range []int{0, 1, maxCopy, maxCopy + 1, 3 << 20} {
		want := bytes.Repeat([]byte("x"), n)
		resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: want})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: echoed %d bytes, %v", n, len(got), err)
		}
	}
}

func TestLeanTimeoutAndCancelLeaveNoBrokenConn(t *testing.T) {
	skipWithoutLean(t)
	const timeout = 50 * time.Millisecond
	const attempts = 5
	var slow atomic.Bool
	srv, _ := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if slow.Load() {
			// Until the client gives up and closes the connection.
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok")
	})
	tr := newTestTransport(t)
	p, _ := New("up", config.Provider{Type: "openai-compatible", BaseURL: srv.URL, Timeout: config.Duration(timeout)}, "", tr)

	// send makes a call the upstream answers at once and reads its body.
	// On a loaded machine even such a call may outlast the short timeout
	// this test needs. Its TimeoutError then comes no sooner than timeout
	// after the call started (the call's own deadline), and the call is
	// made again; a TimeoutError sooner than that comes from a deadline
	// left on a pooled connection and fails the test, as does any other
	// error.
	send := func(ctx context.Context) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			start := time.Now()
			resp, err := p.Send(ctx, &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
			var te *TimeoutError
			if errors.As(err, &te) {
				if took := time.Since(start); took < timeout {
					t.Fatalf("TimeoutError %v after the call started, before its %v deadline", took, timeout)
				}
				if attempt < attempts {
					t.Logf("a call answered at once outlasted the %v timeout (a loaded machine); again", timeout)
					continue
				}
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "ok" {
				t.Fatalf("body %q, %v", body, err)
			}
			return
		}
	}
	send(context.Background())

	slow.Store(true)
	_, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TimeoutError", err)
	}
	// A cancel during the wait for headers is reported as such, not as a
	// timeout. It comes 10ms in; should a loaded machine run it only
	// after the deadline, the TimeoutError is right (and comes no sooner
	// than timeout after the call started), and the call is made again.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.Send(ctx, &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
		if took := time.Since(start); errors.As(err, &te) && took >= timeout && attempt < attempts {
			t.Logf("the cancel came after the %v timeout (a loaded machine); again", timeout)
			cancel()
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if _, err := p.Send(ctx, &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled context: err = %v, want context.Canceled", err)
		}
		break
	}

	// The deadline of a call that succeeded is gone, and a context
	// cancelled after its body was read does not break the pooled
	// connection the next call gets.
	slow.Store(false)
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		send(ctx)
		cancel()
		time.Sleep(60 * time.Millisecond) // past the 50ms header timeout
	}
	send(context.Background())
}

func TestLeanIdleTimeout(t *testing.T) {
	skipWithoutLean(t)
	srv, cc := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTestTransport(t)
	tr.idleTimeout = 30 * time.Millisecond
	p := leanProvider(t, srv.URL, tr)
	call1(t, p, `{}`)
	deadline := time.Now().Add(2 * time.Second)
	for p.lean.pool.idleLen() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.lean.pool.idleLen(); n != 0 {
		t.Fatalf("%d connections still idle past the idle timeout", n)
	}
	call1(t, p, `{}`)
	if n := cc.n.Load(); n != 2 {
		t.Errorf("connections = %d, want 2 (the idle one was closed)", n)
	}
}

func TestLeanTLS(t *testing.T) {
	skipWithoutLean(t)
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %s", r.Proto, b)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			tr := newTestTransport(t)
			tr.tlsBase = srv.Client().Transport.(*http.Transport).TLSClientConfig
			tr.fallback.TLSClientConfig = tr.tlsBase.Clone()
			p := leanProvider(t, srv.URL, tr)
			for range 3 {
				resp, body := call1(t, p, `{"tls":1}`)
				want := `HTTP/1.1 {"tls":1}`
				if h2 {
					want = `HTTP/2.0 {"tls":1}`
				}
				if body != want || resp.StatusCode != 200 {
					t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
				}
			}
			if got := p.lean.pool.h2.Load(); got != h2 {
				t.Errorf("pool marked HTTP/2 = %v, want %v", got, h2)
			}
			if !h2 && p.lean.pool.idleLen() != 1 {
				t.Errorf("idle TLS connections = %d, want 1", p.lean.pool.idleLen())
			}
		})
	}
}

// TestLeanHeadersMatchNetHTTP sends the same calls through the lean client
// and through net/http and compares what the upstream received.
func TestLeanHeadersMatchNetHTTP(t *testing.T) {
	skipWithoutLean(t)
	var mu sync.Mutex
	var last *http.Request
	srv, _ := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		last = r
		mu.Unlock()
		io.WriteString(w, "{}")
	})
	capture := func(p Provider, r *Request) *http.Request {
		resp, err := p.Send(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		return last
	}
	lean, plain := newTestTransport(t), &http.Transport{}
	defer plain.CloseIdleConnections()
	client := http.Header{"Anthropic-Version": {"2099-01-01"}, "Anthropic-Beta": {"a", "b"}, "Openai-Beta": {"x"},
		"Authorization": {"Bearer client"}, "Cookie": {"c=1"}}
	for _, c := range []struct {
		cfg config.Provider
		key string
		hdr http.Header
	}{
		{config.Provider{Type: "openai", Secret: "s"}, "sk-1", client},
		{config.Provider{Type: "openai-compatible"}, "", nil},
		{config.Provider{Type: "openai-compatible", Headers: map[string]string{"x-org": "acme", "authorization": "Bearer cfg", "Accept": "*/*", "content-type": "application/x", "user-agent": "mine", "openai-beta": "cfg"}}, "", client},
		{config.Provider{Type: "openai", Secret: "s", Headers: map[string]string{"Authorization": "Bearer cfg", "User-Agent": ""}}, "sk-2", nil},
		{config.Provider{Type: "anthropic", Secret: "s"}, "ant", client},
		{config.Provider{Type: "anthropic"}, "", nil},
		{config.Provider{Type: "anthropic", APIVersion: "2024-01-01", Headers: map[string]string{"X-Api-Key": "cfg", "anthropic-version": ""}}, "ant", client},
		{config.Provider{Type: "anthropic", Headers: map[string]string{"X-Api-Key": "cfg"}}, "", http.Header{"Anthropic-Version": {""}}},
		{config.Provider{Type: "azure-openai", Secret: "s", APIVersion: "2024-10-21"}, "az", client},
	} {
		c.cfg.BaseURL = srv.URL
		for _, stream := range []bool{false, true} {
			name := fmt.Sprintf("%s %v stream=%v", c.cfg.Type, c.cfg.Headers, stream)
			pl, err := New("p", c.cfg, c.key, lean)
			if err != nil {
				t.Fatal(err)
			}
			if pl.(*httpProvider).lean == nil {
				t.Fatalf("%s: not on the lean client", name)
			}
			pn, _ := New("p", c.cfg, c.key, plain)
			ep := ChatCompletions
			if c.cfg.Type == "anthropic" {
				ep = Messages
			}
			r := &Request{Endpoint: ep, Model: "dep 1", Body: []byte(`{"a":1}`), Stream: stream, Header: c.hdr}
			got, want := capture(pl, r), capture(pn, r)
			if got.URL.String() != want.URL.String() || got.Host != want.Host || got.ContentLength != want.ContentLength {
				t.Errorf("%s: lean %s %s %d, net/http %s %s %d", name, got.Host, got.URL, got.ContentLength, want.Host, want.URL, want.ContentLength)
			}
			wh := want.Header.Clone()
			wh.Del("Accept-Encoding") // net/http asks for gzip and decompresses itself
			if fmt.Sprint(got.Header) != fmt.Sprint(wh) {
				t.Errorf("%s: headers differ\n lean:     %v\n net/http: %v", name, got.Header, wh)
			}
		}
	}
}

func TestLeanNotUsed(t *testing.T) {
	tr := newTestTransport(t)
	for _, c := range []config.Provider{
		{Type: "openai-compatible", BaseURL: "http://user:pw@127.0.0.1:1"},
		{Type: "openai-compatible", BaseURL: "http://127.0.0.1:1", Headers: map[string]string{"X-Bad": "a\r\nInjected: 1"}},
		{Type: "openai-compatible", BaseURL: "http://127.0.0.1:1", Headers: map[string]string{"Connection": "close"}},
		{Type: "openai-compatible", BaseURL: "unix:///tmp/x"},
	} {
		p, err := New("p", c, "", tr)
		if err != nil {
			t.Fatal(err)
		}
		if p.(*httpProvider).lean != nil {
			t.Errorf("%+v: uses the lean client", c)
		}
	}
	// Any other RoundTripper is used as given.
	p, _ := New("p", config.Provider{Type: "openai-compatible", BaseURL: "http://127.0.0.1:1"}, "", &http.Transport{})
	if p.(*httpProvider).lean != nil {
		t.Error("a plain *http.Transport got the lean client")
	}
}

// BenchmarkUpstreamCall compares one upstream call through the lean client
// and through net/http's Transport, against the same local server.
func BenchmarkUpstreamCall(b *testing.B) {
	reply := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	defer srv.Close()
	body := []byte(`{"model":"bench","messages":[{"role":"user","content":"Hello there"}]}`)
	run := func(b *testing.B, p Provider) {
		b.ReportAllocs()
		buf := make([]byte, 1024)
		for b.Loop() {
			resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: body})
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	}
	b.Run("lean", func(b *testing.B) {
		tr := NewTransport()
		defer tr.CloseIdleConnections()
		p, _ := New("p", config.Provider{Type: "openai-compatible", BaseURL: srv.URL}, "", tr)
		run(b, p)
	})
	b.Run("net-http", func(b *testing.B) {
		tr := NewTransport()
		defer tr.CloseIdleConnections()
		p, _ := New("p", config.Provider{Type: "openai-compatible", BaseURL: srv.URL}, "", tr.fallback)
		run(b, p)
	})
}

func TestLeanDialError(t *testing.T) {
	skipWithoutLean(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	p := leanProvider(t, base, newTestTransport(t))
	_, err = p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: []byte(`{}`)})
	if err == nil || !strings.Contains(err.Error(), base+"/chat/completions") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want a refused connection naming the URL", err)
	}
}

// TestLeanEarlyAnswer: an upstream that answers before reading the whole
// body and hangs up (a 413 from a proxy) is heard, not reported as a
// failed write.
func TestLeanEarlyAnswer(t *testing.T) {
	skipWithoutLean(t)
	base := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 4\r\n\r\nbig!")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(100 * time.Millisecond)
	})
	p := leanProvider(t, base, newTestTransport(t))
	resp, err := p.Send(context.Background(), &Request{Endpoint: ChatCompletions, Body: bytes.Repeat([]byte("x"), 32<<20)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "big!" {
		t.Errorf("got %d %q, %v; want 413 big!", resp.StatusCode, b, err)
	}
	if n := p.lean.pool.idleLen(); n != 0 {
		t.Errorf("a connection whose request was not fully sent went back to the pool")
	}
}
