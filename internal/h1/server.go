// Package h1 owns the gateway's client-facing HTTP/1.1 server: a lean loop
// for the requests that make up the gateway's traffic (GET and POST over
// HTTP/1.1 with a Content-Length or no body), and a hand-off of every other
// connection, untouched, to a net/http Server.
//
// Why: under load net/http's server spent about a fifth of the gateway's
// CPU outside the handler (the per-request goroutine that watches for a
// client hanging up, response buffering and chunking, header parsing).
// The lean loop serves a connection on one goroutine, parses the request
// head in place, and watches for a hang-up only when a request outlives a
// few milliseconds. Anything it does not recognise (HTTP/1.0, chunked
// bodies, Expect, Upgrade, obsolete header folding, oversized heads, other
// methods) goes to net/http with the bytes already read, so odd clients
// get exactly net/http's behaviour.
package h1

import (
	"context"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 on a listener with Handler, handing connections
// it does not take to Fallback.
type Server struct {
	// Handler serves the requests of the lean loop. Fallback's handler
	// should be the same.
	Handler http.Handler
	// Fallback serves handed-off connections; New fills in a default.
	Fallback *http.Server
	// ReadHeaderTimeout bounds the time from a request's first byte to the
	// end of its head; 0 means no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle for longer; 0 means
	// never (as net/http with no IdleTimeout and no ReadTimeout).
	IdleTimeout time.Duration
	// ErrorLog receives handler panics and accept errors; nil is log's
	// standard logger.
	ErrorLog *log.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	fallback *chanListener
	closing  atomic.Bool
	done     chan struct{}

	// Counts of connections served by each path, for tests.
	leanConns, handedOff atomic.Int64
}

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln until Shutdown or Close, and then
// returns ErrServerClosed. It may be called once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() || s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.ln = ln
	s.conns = map[*conn]struct{}{}
	s.done = make(chan struct{})
	if s.Fallback == nil {
		s.Fallback = &http.Server{Handler: s.Handler, ReadHeaderTimeout: s.ReadHeaderTimeout, IdleTimeout: s.IdleTimeout, ErrorLog: s.ErrorLog}
	}
	s.fallback = newChanListener(ln.Addr())
	fb := s.Fallback
	s.mu.Unlock()
	defer close(s.done)

	go fb.Serve(s.fallback)
	go s.sweep(s.sweepEvery())
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			// As net/http: back off on errors such as too many open files.
			if ne, ok := err.(net.Error); ok && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("h1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc)
		if !s.track(c) {
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// track adds c to the live connections, unless the server is stopping.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for the
// requests in flight (streams included) to finish, or for ctx to end, in
// which case it returns ctx's error and leaves the rest to Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	ln, fb := s.ln, s.Fallback
	s.mu.Unlock()
	if fb != nil {
		// Before the listener closes: a handed-off request answered once
		// Shutdown can be seen gets Connection: close, as on the lean
		// loop (fb.Shutdown runs on its own goroutine below).
		fb.SetKeepAlivesEnabled(false)
	}
	if ln != nil {
		ln.Close()
	}
	fbErr := make(chan error, 1)
	if fb != nil {
		go func() { fbErr <- fb.Shutdown(ctx) }()
	} else {
		fbErr <- nil
	}
	// Poll as net/http does: a connection becomes idle (and closable)
	// when its response is written.
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 50*time.Millisecond)
			t.Reset(wait)
		}
	}
	select {
	case err := <-fbErr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	for c := range s.conns {
		// As net/http, a connection that has sent nothing yet gets five
		// seconds: its request may be on the way.
		if c.state.CompareAndSwap(stateIdle, stateClosed) ||
			now-c.since.Load() > int64(5*time.Second) && c.state.CompareAndSwap(stateNew, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	ln, fb := s.ln, s.Fallback
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.nc.Close()
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	if fb != nil {
		fb.Close()
	}
	return err
}

// sweepEvery is how often the timeouts are checked: a quarter of the
// shortest one, so a connection is cut at most 25% late, and at least once
// a second for the read deadlines handlers set.
func (s *Server) sweepEvery() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{s.ReadHeaderTimeout, s.IdleTimeout} {
		if t > 0 {
			d = min(d, t/4)
		}
	}
	return max(d, 10*time.Millisecond)
}

// sweep enforces ReadHeaderTimeout, IdleTimeout and the read deadlines
// handlers set from one goroutine, so a request pays for no deadline of
// its own.
func (s *Server) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		s.mu.Lock()
		for c := range s.conns {
			// State before since: the state's writer stores since first,
			// so a fresh state is never paired with a stale start time.
			st := c.state.Load()
			since := now - c.since.Load()
			switch {
			case (st == stateHead || st == stateNew) && s.ReadHeaderTimeout > 0 && since > int64(s.ReadHeaderTimeout):
				if c.state.CompareAndSwap(st, stateClosed) {
					c.nc.Close()
				}
			case st == stateIdle && s.IdleTimeout > 0 && since > int64(s.IdleTimeout):
				if c.state.CompareAndSwap(stateIdle, stateClosed) {
					c.nc.Close()
				}
			case st == stateActive:
				// A body that does not arrive in time: as with net/http,
				// reads fail (the handler's, and the drain of a body it
				// left unread, which then closes the connection) while
				// the answer can still be written.
				if d := c.readDeadline.Load(); d != 0 && now > d && c.readDeadline.CompareAndSwap(d, 0) {
					c.deadlineHit.Store(true)
					c.nc.SetReadDeadline(aLongTimeAgo)
				}
			}
		}
		s.mu.Unlock()
	}
}

// chanListener hands connections to the fallback server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// deliver gives c to the fallback server; false when it has stopped.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}
