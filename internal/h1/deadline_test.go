package h1

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A read deadline set through http.ResponseController behaves as with
// net/http: a body that does not arrive in time fails the handler's read
// with a timeout, the answer still goes out, and the connection is closed
// after it; a deadline lifted once the body is read leaves a kept-alive
// connection as it was.
func TestReadDeadline(t *testing.T) {
	readErr := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		rc.SetReadDeadline(time.Time{})
		// Longer than the deadline was: a lifted deadline cuts nothing.
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "ok")
	})
	ts := startServer(t, h, func(s *Server) { s.ReadHeaderTimeout = 100 * time.Millisecond })

	t.Run("body never sent", func(t *testing.T) {
		c, br := dial(t, ts.addr)
		write(t, c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		err := recv(t, readErr, 5*time.Second, "the handler's read")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read error %v, want a timeout", err)
		}
		resp, _ := readResp(t, c, br)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d", resp.StatusCode)
		}
		expectClosed(t, c, br, 5*time.Second)
	})
	t.Run("deadline lifted", func(t *testing.T) {
		c, br := dial(t, ts.addr)
		for range 2 {
			resp, body := roundTrip(t, c, br, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
			if err := recv(t, readErr, 5*time.Second, "the handler's read"); err != nil || resp.StatusCode != 200 || !strings.Contains(body, "ok") {
				t.Fatalf("%v %d %q", err, resp.StatusCode, body)
			}
		}
	})
}
