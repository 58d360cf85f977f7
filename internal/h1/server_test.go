package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testServer is an h1.Server on a loopback listener, its fallback serving
// the same handler, both logging to log.
type testServer struct {
	*Server
	addr string
	log  *syncBuffer

	served   chan error
	resultMu sync.Mutex
	returned bool
	serveErr error
}

func startServer(t *testing.T, h http.Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	logger := log.New(buf, "", 0)
	s := &Server{Handler: h, ErrorLog: logger, Fallback: &http.Server{Handler: h, ErrorLog: logger}}
	for _, f := range configure {
		f(s)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), log: buf, served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := ts.serveResult(5 * time.Second); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ts
}

// serveResult waits up to d for Serve to return, and remembers what it
// returned.
func (ts *testServer) serveResult(d time.Duration) error {
	ts.resultMu.Lock()
	defer ts.resultMu.Unlock()
	if ts.returned {
		return ts.serveErr
	}
	select {
	case err := <-ts.served:
		ts.serveErr, ts.returned = err, true
		return err
	case <-time.After(d):
		return fmt.Errorf("Serve did not return within %v", d)
	}
}

func (ts *testServer) url() string { return "http://" + ts.addr }

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// roundTrip writes req and reads one response and its body.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) (*http.Response, string) {
	t.Helper()
	write(t, c, req)
	return readResp(t, c, br)
}

func readResp(t *testing.T, c net.Conn, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// expectClosed asserts that the server closes c (EOF or reset, not a
// timeout) within d.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := br.ReadByte()
	switch {
	case err == nil:
		t.Fatalf("read %q from a connection that should be closed", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection still open after %v", d)
	}
}

// waitFor polls cond every few milliseconds for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// awaitCancel waits for ctx to end; an error if it has not after 10 s.
func awaitCancel(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("context not cancelled after 10s")
	}
}

func recv[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	panic("unreachable")
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return true
	}
	// Accepted by the kernel: if the server is stopping it closes the
	// connection without answering; either way this is not a refusal.
	c.Close()
	return false
}

func wantPaths(t *testing.T, ts *testServer, lean, handed int64) {
	t.Helper()
	if l, h := ts.leanConns.Load(), ts.handedOff.Load(); l != lean || h != handed {
		t.Errorf("leanConns=%d handedOff=%d, want %d and %d", l, h, lean, handed)
	}
}

// chunkedPost is a request the lean loop hands to net/http.
func chunkedPost(target, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", target, diffHost, len(body), body)
}

// (a) A client hanging up cancels the request's context.
func TestHangupCancelsContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  string
		lean bool
	}{
		{"post-body", post("/wait", `{"model":"m"}`), true},
		{"post-large-body", post("/wait", strings.Repeat("z", 200<<10)), true},
		{"get", get("/wait"), true},
		{"handed-off", chunkedPost("/wait", "abc"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			done := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(r.Body); err != nil {
					done <- fmt.Errorf("reading body: %v", err)
					return
				}
				started <- struct{}{}
				done <- awaitCancel(r.Context())
			}))
			c, _ := dial(t, ts.addr)
			write(t, c, tc.req)
			recv(t, started, 5*time.Second, "the handler to read the body")
			if tc.lean {
				wantPaths(t, ts, 1, 0)
			} else {
				wantPaths(t, ts, 0, 1)
			}
			c.Close()
			t0 := time.Now()
			if err := recv(t, done, time.Second, "the handler to see the hang-up"); err != nil {
				t.Fatal(err)
			}
			t.Logf("cancelled %v after the hang-up", time.Since(t0))
		})
	}
}

// A write to a client that has gone cancels the context, even when the
// hang-up watch cannot run: the handler never reads a body too large to
// drain (1 MiB announced, 1 KiB sent), so the connection holds request
// bytes and only a failed write can tell that the client left.
func TestWriteFailureCancelsContext(t *testing.T) {
	done := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("data: x\n\n"), 400)
		deadline := time.After(10 * time.Second)
		for {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				done <- nil
				return
			case <-deadline:
				done <- errors.New("context not cancelled after 10s")
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}))
	c, br := dial(t, ts.addr)
	write(t, c, "POST /stream HTTP/1.1\r\nHost: "+diffHost+"\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("b", 1024))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := recv(t, done, time.Second, "the handler to see the failed write"); err != nil {
		t.Fatal(err)
	}
	wantPaths(t, ts, 1, 0)
}

// A client that hangs up in the middle of the body makes the body read
// fail at once rather than hang.
func TestHangupDuringBody(t *testing.T) {
	got := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}))
	c, _ := dial(t, ts.addr)
	write(t, c, "POST / HTTP/1.1\r\nHost: "+diffHost+"\r\nContent-Length: 100\r\n\r\n0123456789")
	// Let the server start reading the body before hanging up.
	waitFor(time.Second, func() bool { return ts.leanConns.Load() == 1 })
	c.Close()
	if err := recv(t, got, time.Second, "the body read to fail"); err == nil {
		t.Fatal("reading a truncated body succeeded")
	}
}

// The request context ends when the handler returns.
func TestContextCancelledAfterHandler(t *testing.T) {
	ctxs := make(chan context.Context, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxs <- r.Context()
		io.WriteString(w, "ok")
	}))
	c, br := dial(t, ts.addr)
	roundTrip(t, c, br, post("/", "{}"))
	ctx := recv(t, ctxs, time.Second, "the context")
	if !waitFor(time.Second, func() bool { return ctx.Err() != nil }) {
		t.Fatal("request context still live 1s after the handler returned")
	}
	// The connection goes on serving.
	if _, body := roundTrip(t, c, br, get("/")); body != "ok" {
		t.Fatalf("second response %q", body)
	}
}

// A request sent while the previous one is being served (the hang-up watch
// is reading the connection) is neither taken for a hang-up nor lost.
func TestPipelinedDuringWatch(t *testing.T) {
	for _, tc := range []struct {
		name          string
		next          string
		split, handed bool
	}{
		{"whole", post("/next", `{"n":2}`), false, false},
		{"split", post("/next", `{"n":2}`), true, false},
		// The byte the watch read must reach net/http with the rest.
		{"handed-off", chunkedPost("/next", `{"n":2}`), false, true},
		{"handed-off-split", chunkedPost("/next", `{"n":2}`), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					entered <- struct{}{}
					select {
					case <-r.Context().Done():
						io.WriteString(w, "cancelled")
						return
					case <-release:
					case <-time.After(10 * time.Second):
					}
				}
				io.WriteString(w, "ok "+r.URL.Path)
			}))
			c, br := dial(t, ts.addr)
			write(t, c, get("/slow"))
			recv(t, entered, 5*time.Second, "the slow handler")
			// Setup, not an assertion: give the watch (armed after
			// a few ms) time to start reading the connection.
			time.Sleep(30 * time.Millisecond)
			next := tc.next
			if tc.split {
				write(t, c, next[:1])
				time.Sleep(30 * time.Millisecond)
				write(t, c, next[1:])
			} else {
				write(t, c, next)
			}
			time.Sleep(30 * time.Millisecond)
			close(release)
			if _, body := readResp(t, c, br); body != "ok /slow" {
				t.Fatalf("first response %q, want %q", body, "ok /slow")
			}
			if _, body := readResp(t, c, br); body != "ok /next" {
				t.Fatalf("second response %q, want %q", body, "ok /next")
			}
			if _, body := roundTrip(t, c, br, get("/third")); body != "ok /third" {
				t.Fatalf("third response %q", body)
			}
			if tc.handed {
				wantPaths(t, ts, 1, 1)
			} else {
				wantPaths(t, ts, 1, 0)
			}
		})
	}
}

func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading event: %v (so far %q)", err, lines)
		}
		if line == "\n" {
			return strings.Join(lines, "")
		}
		lines = append(lines, line)
	}
}

// (b) Each flushed event reaches the client while the handler is still
// running: the handler writes the next event only after the client has
// read the previous one.
func TestStreamingLockstep(t *testing.T) {
	next := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/again" {
			io.WriteString(w, "again")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 5 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			if i < 4 {
				select {
				case <-next:
				case <-time.After(10 * time.Second):
					return
				}
			}
		}
	}))
	c, br := dial(t, ts.addr)
	write(t, c, post("/v1/chat/completions", `{"stream":true}`))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response head while the handler waits after its first flush: %v", err)
	}
	if te := resp.TransferEncoding; len(te) != 1 || te[0] != "chunked" || resp.ContentLength != -1 {
		t.Errorf("framing: transfer-encoding %q, content-length %d; want chunked", te, resp.ContentLength)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	er := bufio.NewReader(resp.Body)
	for i := range 5 {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if ev, want := readEvent(t, er), fmt.Sprintf("data: %d\n", i); ev != want {
			t.Fatalf("event %d = %q, want %q", i, ev, want)
		}
		if i < 4 {
			next <- struct{}{}
		}
	}
	if rest, err := io.ReadAll(er); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v", rest, err)
	}
	if _, body := roundTrip(t, c, br, get("/again")); body != "again" {
		t.Fatalf("keep-alive after a stream: %q", body)
	}
}

// (b) With the handler sleeping 20 ms between flushes, each event arrives
// as it is flushed: well before the handler gets two events further (a
// 40 ms margin, so a loaded machine does not make this flaky; the
// lockstep test above is the strict one).
func TestStreamingTimestamps(t *testing.T) {
	const n, gap = 5, 20 * time.Millisecond
	flushed := make(chan time.Time, n)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, "data: {\"i\":%d}\n\n", i)
			flushed <- time.Now()
			w.(http.Flusher).Flush()
		}
	}))
	c, br := dial(t, ts.addr)
	write(t, c, get("/events"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	er := bufio.NewReader(resp.Body)
	var arrived [n]time.Time
	for i := range n {
		if ev, want := readEvent(t, er), fmt.Sprintf("data: {\"i\":%d}\n", i); ev != want {
			t.Fatalf("event %d = %q, want %q", i, ev, want)
		}
		arrived[i] = time.Now()
	}
	if _, err := io.ReadAll(er); err != nil {
		t.Fatal(err)
	}
	var sent [n]time.Time
	for i := range n {
		sent[i] = <-flushed
	}
	for i := range n {
		t.Logf("event %d: flushed +%v, arrived +%v", i, sent[i].Sub(sent[0]), arrived[i].Sub(sent[0]))
		if i+2 < n && !arrived[i].Before(sent[i+2]) {
			t.Errorf("event %d arrived %v after it was flushed, after event %d was flushed: the stream is buffered",
				i, arrived[i].Sub(sent[i]), i+2)
		}
	}
	if total := sent[n-1].Sub(sent[0]); total < (n-1)*gap {
		t.Errorf("handler ran %v, less than its sleeps", total)
	}
}

// (c) Shutdown closes idle connections and refuses new ones at once, waits
// for a stream in flight to finish, and then returns nil.
func TestShutdownWaitsForStream(t *testing.T) {
	release := make(chan struct{})
	var streamEnded atomic.Bool
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 5 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			if i == 0 {
				select {
				case <-release:
				case <-time.After(10 * time.Second):
					return
				}
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		streamEnded.Store(true)
	}))
	idle, idleBR := dial(t, ts.addr)
	if _, body := roundTrip(t, idle, idleBR, get("/")); body != "ok" {
		t.Fatalf("idle connection's response %q", body)
	}
	sc, sbr := dial(t, ts.addr)
	write(t, sc, post("/stream", `{"stream":true}`))
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(sbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	er := bufio.NewReader(resp.Body)
	if ev := readEvent(t, er); ev != "data: 0\n" {
		t.Fatalf("first event %q", ev)
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	expectClosed(t, idle, idleBR, time.Second)
	if !waitFor(time.Second, func() bool { return refused(ts.addr) }) {
		t.Fatal("new connections still accepted 1s after Shutdown started")
	}
	if !refused(ts.addr) {
		t.Fatal("a new connection was accepted after a refusal")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a stream in flight", err)
	default:
	}

	close(release)
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 1; i < 5; i++ {
		if ev, want := readEvent(t, er), fmt.Sprintf("data: %d\n", i); ev != want {
			t.Fatalf("event %d = %q, want %q", i, ev, want)
		}
	}
	if _, err := io.ReadAll(er); err != nil {
		t.Fatalf("stream cut short by Shutdown: %v", err)
	}
	if err := recv(t, shut, 5*time.Second, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if !streamEnded.Load() {
		t.Fatal("Shutdown returned before the stream's handler did")
	}
	expectClosed(t, sc, sbr, time.Second)
	if err := ts.serveResult(time.Second); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
	}
	wantPaths(t, ts, 2, 0)
}

// (c) A request in flight when Shutdown starts is answered with
// Connection: close and Shutdown waits for it; on either path.
func TestShutdownInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  string
		lean bool
	}{
		{"lean", post("/slow", `{"a":1}`), true},
		{"handed-off", chunkedPost("/slow", `{"a":1}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				entered <- struct{}{}
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
				io.WriteString(w, "done")
			}))
			c, br := dial(t, ts.addr)
			write(t, c, tc.req)
			recv(t, entered, 5*time.Second, "the handler")
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shut <- ts.Shutdown(ctx)
			}()
			if !waitFor(time.Second, func() bool { return refused(ts.addr) }) {
				t.Fatal("new connections still accepted 1s after Shutdown started")
			}
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with a request in flight", err)
			default:
			}
			close(release)
			resp, body := readResp(t, c, br)
			// http.ReadResponse turns Connection: close into resp.Close.
			if body != "done" || !resp.Close {
				t.Errorf("response during shutdown: body %q, close %v; want done with Connection: close", body, resp.Close)
			}
			expectClosed(t, c, br, time.Second)
			if err := recv(t, shut, 5*time.Second, "Shutdown to return"); err != nil {
				t.Fatalf("Shutdown = %v, want nil", err)
			}
			if tc.lean {
				wantPaths(t, ts, 1, 0)
			} else {
				wantPaths(t, ts, 0, 1)
			}
		})
	}
}

// (c) A connection accepted just before Shutdown, whose request arrives
// after Shutdown started, is still served (as net/http gives a new
// connection a grace period), with Connection: close.
func TestShutdownServesJustAcceptedConnection(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") }))
	c, br := dial(t, ts.addr)
	// Make sure the server has accepted c before Shutdown starts.
	if !waitFor(time.Second, func() bool {
		ts.Server.mu.Lock()
		defer ts.Server.mu.Unlock()
		return len(ts.Server.conns) == 1
	}) {
		t.Fatal("connection not tracked")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	if !waitFor(time.Second, func() bool { return refused(ts.addr) }) {
		t.Fatal("new connections still accepted 1s after Shutdown started")
	}
	resp, body := roundTrip(t, c, br, post("/late", `{}`))
	if body != "served" || !resp.Close {
		t.Errorf("late request: %q, close %v; want served with Connection: close", body, resp.Close)
	}
	if err := recv(t, shut, 3*time.Second, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}

// (d) Shutdown gives up at its deadline while a handler is blocked; Close
// then ends the connection and the handler's context.
func TestShutdownDeadlineThenClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  string
	}{
		{"lean-get", get("/block")},
		{"lean-stream", post("/block", `{"stream":true}`, "X-Stream: 1")},
		{"handed-off", chunkedPost("/block", "x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			ended := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				if r.Header.Get("X-Stream") != "" {
					io.WriteString(w, "data: first\n\n")
					w.(http.Flusher).Flush()
				}
				entered <- struct{}{}
				ended <- awaitCancel(r.Context())
			}))
			c, br := dial(t, ts.addr)
			write(t, c, tc.req)
			recv(t, entered, 5*time.Second, "the handler")

			t0 := time.Now() // before the deadline is set: Shutdown cannot end sooner than 100ms after
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := ts.Shutdown(ctx)
			took := time.Since(t0)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			if took < 90*time.Millisecond || took > 2*time.Second {
				t.Errorf("Shutdown took %v with a 100ms deadline", took)
			}
			select {
			case err := <-ended:
				t.Fatalf("handler ended (%v) before Close", err)
			default:
			}
			if err := ts.serveResult(time.Second); !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve = %v after Shutdown, want http.ErrServerClosed", err)
			}

			ts.Close()
			if err := recv(t, ended, time.Second, "the handler's context to end after Close"); err != nil {
				t.Fatal(err)
			}
			// The client sees the connection end (a stream's head
			// may have arrived first).
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err = io.Copy(io.Discard, br)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("client connection still open 1s after Close")
			}
		})
	}
}

// (e) ReadHeaderTimeout cuts a client that stalls inside a request head,
// and nothing else.
func TestReadHeaderTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ts := startServer(t, http.HandlerFunc(echoHandler), func(s *Server) { s.ReadHeaderTimeout = timeout })

	t.Run("stalled-head", func(t *testing.T) {
		for _, half := range []string{
			"POST /v1/chat/completions HTTP/1.1\r\nHost: " + diffHost + "\r\nContent-",
			"G",
		} {
			// t0 before the dial: the server's clock for a connection
			// starts at accept at the earliest, so the cut cannot come
			// sooner than timeout after t0, however late this goroutine
			// runs.
			t0 := time.Now()
			c, br := dial(t, ts.addr)
			write(t, c, half)
			expectClosed(t, c, br, 3*time.Second)
			took := time.Since(t0)
			t.Logf("%q: closed after %v", half, took)
			if took < timeout-10*time.Millisecond || took > time.Second {
				t.Errorf("stalled head %q closed after %v, want about %v", half, took, timeout)
			}
		}
	})
	t.Run("silent-connection", func(t *testing.T) {
		// As net/http, whose header deadline starts at accept: a
		// connection that never sends a byte is cut too. (t0 before
		// the dial, as above.)
		t0 := time.Now()
		c, br := dial(t, ts.addr)
		expectClosed(t, c, br, 3*time.Second)
		if took := time.Since(t0); took < timeout-10*time.Millisecond || took > time.Second {
			t.Errorf("silent connection closed after %v, want about %v", took, timeout)
		}
	})
	t.Run("slow-head-in-time", func(t *testing.T) {
		// The head comes in three pieces 40 ms apart, 80 ms in all, so
		// the sweep (every 50 ms) sees it in progress and must leave it
		// alone. A cut sooner than the timeout after the dial is a bug
		// whatever the load. A cut later says nothing: on a loaded
		// machine this goroutine, or the connection's, may run so late
		// that the server rightly finds the head incomplete at the
		// timeout. Such an attempt is made again; a server that does not
		// serve a slow head fails them all.
		const attempts = 5
		req := get("/slow")
		for attempt := 1; ; attempt++ {
			t0 := time.Now() // before the dial, as in stalled-head
			c, br := dial(t, ts.addr)
			var sent []time.Duration
			for i, part := range []string{req[:5], req[5:20], req[20:]} {
				if i > 0 {
					time.Sleep(40 * time.Millisecond)
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, part); err != nil {
					break // cut: the read below tells
				}
				sent = append(sent, time.Since(t0))
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				return
			}
			took := time.Since(t0)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatalf("neither a response nor a close 5s after the head (pieces sent at %v)", sent)
			case took < timeout-10*time.Millisecond:
				t.Fatalf("head cut %v after the dial, before the %v timeout (pieces sent at %v): %v", took, timeout, sent, err)
			case attempt == attempts:
				t.Fatalf("slow head cut in all %d attempts; the last %v after the dial (pieces sent at %v): %v", attempts, took, sent, err)
			}
			t.Logf("attempt %d: head cut %v after the dial (pieces sent at %v), past the timeout: a loaded machine; again", attempt, took, sent)
		}
	})
	t.Run("idle-keep-alive-not-cut", func(t *testing.T) {
		c, br := dial(t, ts.addr)
		roundTrip(t, c, br, get("/1"))
		time.Sleep(3 * timeout) // idle, not in a head: no limit applies
		if resp, _ := roundTrip(t, c, br, get("/2")); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("slow-handler-not-cut", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * timeout)
			io.WriteString(w, "late")
		})
		ts := startServer(t, h, func(s *Server) { s.ReadHeaderTimeout = timeout })
		c, br := dial(t, ts.addr)
		if _, body := roundTrip(t, c, br, post("/", `{}`)); body != "late" {
			t.Fatalf("body %q", body)
		}
	})
}

// IdleTimeout closes a keep-alive connection left idle.
func TestIdleTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	handlerDone := make(chan time.Time, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * timeout)
		}
		io.WriteString(w, "ok")
		handlerDone <- time.Now()
	}), func(s *Server) { s.IdleTimeout = timeout })
	c, br := dial(t, ts.addr)
	if _, body := roundTrip(t, c, br, get("/slow")); body != "ok" {
		t.Fatalf("a handler longer than IdleTimeout: %q", body)
	}
	// The connection turns idle after its handler returns: measured from
	// then, not from when this goroutine got the response (which may be
	// later on a loaded machine), the close cannot come early.
	t0 := recv(t, handlerDone, time.Second, "the handler's end")
	expectClosed(t, c, br, 3*time.Second)
	if took := time.Since(t0); took < timeout-10*time.Millisecond || took > time.Second {
		t.Errorf("idle connection closed after %v, want about %v", took, timeout)
	}
}

// (f) A handler panic closes its connection only; the server serves on.
func TestHandlerPanic(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom-for-test")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/partial":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom-after-flush")
		}
		io.WriteString(w, "ok")
	}))
	other, otherBR := dial(t, ts.addr)
	if _, body := roundTrip(t, other, otherBR, get("/")); body != "ok" {
		t.Fatal(body)
	}

	c, br := dial(t, ts.addr)
	write(t, c, get("/panic"))
	expectClosed(t, c, br, 2*time.Second)
	if !waitFor(time.Second, func() bool { return strings.Contains(ts.log.String(), "boom-for-test") }) {
		t.Errorf("panic not logged; log: %q", ts.log.String())
	}

	before := ts.log.String()
	c, br = dial(t, ts.addr)
	write(t, c, get("/abort"))
	expectClosed(t, c, br, 2*time.Second)
	if after := ts.log.String(); after != before {
		t.Errorf("http.ErrAbortHandler logged: %q", strings.TrimPrefix(after, before))
	}

	// A panic after a flush must not look like a complete response.
	c, br = dial(t, ts.addr)
	write(t, c, get("/partial"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("body after a panic: %q, error %v; want the connection cut mid-body", body, err)
	}

	if _, body := roundTrip(t, other, otherBR, get("/")); body != "ok" {
		t.Fatalf("other connection after panics: %q", body)
	}
	c, br = dial(t, ts.addr)
	if _, body := roundTrip(t, c, br, post("/", "{}")); body != "ok" {
		t.Fatalf("new connection after panics: %q", body)
	}
	wantPaths(t, ts, 5, 0)
}

// An unread request body is drained before the next request; a large one
// closes the connection after a complete response.
func TestUnreadBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })
	t.Run("small", func(t *testing.T) {
		ts := startServer(t, h)
		c, br := dial(t, ts.addr)
		if _, body := roundTrip(t, c, br, post("/big", strings.Repeat("u", 64<<10))); body != "ok /big" {
			t.Fatal(body)
		}
		if _, body := roundTrip(t, c, br, get("/next")); body != "ok /next" {
			t.Fatalf("request after an unread body: %q", body)
		}
		wantPaths(t, ts, 1, 0)
	})
	t.Run("large", func(t *testing.T) {
		ts := startServer(t, h)
		c, br := dial(t, ts.addr)
		go func() {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, post("/huge", strings.Repeat("u", 4<<20)))
		}()
		resp, body := readResp(t, c, br)
		if resp.StatusCode != 200 || body != "ok /huge" {
			t.Fatalf("response to a large unread body: %d %q", resp.StatusCode, body)
		}
		expectClosed(t, c, br, 2*time.Second)
	})
}

// (g) net/http's client, keeping connections alive, through the lean loop.
func TestGoClientKeepAlive(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if r.URL.Query().Get("stream") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, part := range bytes.SplitAfter(body, []byte(",")) {
				w.Write(part)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"len":%d,"echo":%s}`, r.URL.Path, len(body), body)
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 200 {
		reqBody := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("p", i*37%3000))
		u := ts.url() + "/v1/chat/completions"
		if i%10 == 9 {
			u += "?stream=1"
		}
		resp, err := client.Post(u, "application/json", strings.NewReader(reqBody))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: body: %v", i, err)
		}
		want := fmt.Sprintf(`{"path":"/v1/chat/completions","len":%d,"echo":%s}`, len(reqBody), reqBody)
		if i%10 == 9 {
			want = reqBody
		}
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, got, want)
		}
	}
	if l, h := ts.leanConns.Load(), ts.handedOff.Load(); l < 1 || l > 2 || h != 0 {
		t.Errorf("leanConns=%d handedOff=%d: want 1 or 2 reused connections, none handed off", l, h)
	}
}

// (h) Many clients at once, on both paths; run with -race.
func TestConcurrentClients(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if r.URL.Query().Get("stream") != "" {
			for i := range 3 {
				fmt.Fprintf(w, "%d:%s;", i, body)
				w.(http.Flusher).Flush()
			}
			return
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
	}))
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	const workers, each = 32, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				payload := fmt.Sprintf(`{"g":%d,"i":%d,"pad":"%s"}`, g, i, strings.Repeat("c", (g*each+i)%700))
				var req *http.Request
				var want string
				switch i % 10 {
				case 0: // no length: chunked, handed off to net/http
					req, _ = http.NewRequest("POST", ts.url()+"/chunked", io.MultiReader(strings.NewReader(payload)))
					want = "POST /chunked " + payload
				case 1:
					req, _ = http.NewRequest("POST", ts.url()+"/s?stream=1", strings.NewReader(payload))
					want = "0:" + payload + ";1:" + payload + ";2:" + payload + ";"
				case 2:
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/get?g=%d&i=%d", ts.url(), g, i), nil)
					want = fmt.Sprintf("GET /get?g=%d&i=%d ", g, i)
				case 3:
					req, _ = http.NewRequest("POST", ts.url()+"/close", strings.NewReader(payload))
					req.Close = true
					want = "POST /close " + payload
				default:
					req, _ = http.NewRequest("POST", ts.url()+"/v1/chat/completions", strings.NewReader(payload))
					want = "POST /v1/chat/completions " + payload
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("worker %d request %d: %v", g, i, err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(got) != want {
					errs <- fmt.Errorf("worker %d request %d: %d %q (%v), want %q", g, i, resp.StatusCode, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l, h := ts.leanConns.Load(), ts.handedOff.Load(); l == 0 || h == 0 {
		t.Errorf("leanConns=%d handedOff=%d: want both paths used", l, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr.CloseIdleConnections()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after the load: %v", err)
	}
}

// With no Fallback set, Serve makes one serving Handler.
func TestDefaultFallback(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.Method)
	}), func(s *Server) { s.Fallback = nil })
	c, br := dial(t, ts.addr)
	if _, body := roundTrip(t, c, br, "PUT / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"); body != "HTTP/1.0 PUT" {
		t.Fatalf("handed-off request: %q", body)
	}
	wantPaths(t, ts, 0, 1)
}

// Serve after Shutdown returns at once.
func TestServeAfterShutdown(t *testing.T) {
	s := &Server{Handler: http.NotFoundHandler()}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of an unstarted server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	if err := recv(t, done, 2*time.Second, "Serve"); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
	}
}
