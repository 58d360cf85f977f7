package provider

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is the upstream transport shared by a gateway's providers.
//
// Calls go through a lean HTTP/1.1 client when the upstream allows it:
// plain http://, or https:// to a server that does not offer HTTP/2, with no
// proxy configured for it. The client keeps a pool of keep-alive
// connections per upstream host and runs each call on the caller's
// goroutine: the request goes out in one write from a pooled buffer and the
// response is parsed from the connection's own bufio.Reader. net/http's
// Transport instead runs two goroutines per connection and hands every
// request and response between them over channels; in profiles of the
// gateway under load, those hand-offs, their wake-ups and the client's
// allocations were a quarter of its CPU.
//
// Everything else goes through net/http's Transport, which is also what
// RoundTrip uses: an upstream that negotiates HTTP/2 (the large hosted
// providers do), a proxy from the environment, platforms without the
// idle-connection check (Windows), and configurations the lean client does
// not write itself (see newLeanTarget).
type Transport struct {
	fallback *http.Transport
	dialer   net.Dialer
	// tlsHandshakeTimeout bounds a TLS handshake.
	tlsHandshakeTimeout time.Duration
	sessions            tls.ClientSessionCache
	// idleTimeout closes connections idle longer than this.
	idleTimeout time.Duration
	maxIdle     int
	// tlsBase, when set, is the TLS configuration dialled connections
	// start from (tests trust their own certificate with it).
	tlsBase *tls.Config

	mu    sync.Mutex
	pools map[poolKey]*pool
}

// NewTransport returns the shared upstream transport: keep-alive pools
// large enough that a busy gateway does not reconnect per request.
func NewTransport() *Transport {
	return &Transport{
		fallback: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		dialer:              net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second},
		tlsHandshakeTimeout: 10 * time.Second,
		sessions:            tls.NewLRUClientSessionCache(64),
		idleTimeout:         90 * time.Second,
		maxIdle:             256,
		pools:               map[poolKey]*pool{},
	}
}

// RoundTrip implements http.RoundTripper with net/http's Transport.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.fallback.RoundTrip(r)
}

// CloseIdleConnections closes every idle connection of both clients.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := make([]*pool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeIdle(time.Time{})
	}
	t.fallback.CloseIdleConnections()
}

type poolKey struct {
	addr, serverName string
	tls              bool
}

// pool returns the connection pool of one upstream address.
func (t *Transport) pool(k poolKey) *pool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pools[k]
	if p == nil {
		p = &pool{t: t, key: k}
		if k.tls {
			p.tlsConf = &tls.Config{}
			if t.tlsBase != nil {
				p.tlsConf = t.tlsBase.Clone()
			}
			p.tlsConf.ServerName = k.serverName
			// Offering h2 finds the upstreams that prefer it: those are
			// left to net/http, which speaks it.
			p.tlsConf.NextProtos = []string{"h2", "http/1.1"}
			p.tlsConf.ClientSessionCache = t.sessions
		}
		t.pools[k] = p
	}
	return p
}

// errFallback sends a call through net/http's Transport.
var errFallback = errors.New("provider: use net/http")

// pool is the idle connections to one upstream, most recently used last.
type pool struct {
	t       *Transport
	key     poolKey
	tlsConf *tls.Config
	// h2 is set once the upstream chose HTTP/2: its calls use net/http.
	h2 atomic.Bool

	mu      sync.Mutex
	idle    []*conn
	janitor *time.Timer
}

// get returns an idle connection that still looks alive, or dials one.
func (p *pool) get(ctx context.Context, deadline time.Time) (c *conn, reused bool, err error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(c.idleAt) < p.t.idleTimeout && c.alive() {
			return c, true, nil
		}
		c.close()
	}
	c, err = p.dial(ctx, deadline)
	return c, false, err
}

// put returns a connection whose last response was read in full.
func (p *pool) put(c *conn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if len(p.idle) >= p.t.maxIdle {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	if p.janitor == nil {
		p.janitor = time.AfterFunc(p.t.idleTimeout, p.sweep)
	}
	p.mu.Unlock()
}

// sweep closes connections idle past the idle timeout, and runs again
// while any connection is left.
func (p *pool) sweep() {
	p.closeIdle(time.Now().Add(-p.t.idleTimeout))
	p.mu.Lock()
	if len(p.idle) > 0 {
		p.janitor.Reset(p.t.idleTimeout)
	} else {
		p.janitor = nil
	}
	p.mu.Unlock()
}

// closeIdle closes the idle connections that went idle before cutoff (all
// of them for a zero cutoff).
func (p *pool) closeIdle(cutoff time.Time) {
	p.mu.Lock()
	var old []*conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if cutoff.IsZero() || c.idleAt.Before(cutoff) {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

func (p *pool) dial(ctx context.Context, deadline time.Time) (*conn, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := p.t.dialer.DialContext(dctx, "tcp", p.key.addr)
	if err != nil {
		return nil, err
	}
	c := &conn{pool: p, raw: nc}
	if p.key.tls {
		hctx, hcancel := context.WithTimeout(dctx, p.t.tlsHandshakeTimeout)
		tc := tls.Client(nc, p.tlsConf)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			// net/http speaks HTTP/2 with this upstream from now on.
			p.h2.Store(true)
			tc.Close()
			return nil, errFallback
		}
		c.nc = tc
	} else {
		c.nc = nc
	}
	if err := c.init(); err != nil {
		c.nc.Close()
		return nil, err
	}
	c.br = bufio.NewReaderSize(c.nc, 4096)
	c.abortFn = c.abort
	return c, nil
}

// conn is one keep-alive connection, used by one call at a time.
type conn struct {
	pool   *pool
	nc     net.Conn // what the request and response go through
	raw    net.Conn // the TCP connection under nc
	br     *bufio.Reader
	idleAt time.Time
	// scratch collects a response's header lines.
	scratch []byte
	// abortFn is abort as a func value, made once.
	abortFn func()
	peek    peeker
}

// abort makes every pending and later read and write on c fail at once.
func (c *conn) abort() { c.nc.SetDeadline(aLongTimeAgo) }

var aLongTimeAgo = time.Unix(1, 0)

func (c *conn) close() { c.nc.Close() }

// bufPool holds request buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxCopy is the largest body copied into the request buffer; a larger one
// is written after the header from the caller's slice.
const maxCopy = 64 << 10

// call is one lean HTTP/1.1 exchange.
type call struct {
	pool     *pool
	head     []byte // request line and headers, blank line included
	body     []byte
	timeout  time.Duration
	method   string // for errors
	url      string // for errors
	provider string
}

// roundTrip sends c and reads the response headers. A connection the
// upstream closed while it sat idle is found before anything is written and
// another one used. Should writing still fail with nothing sent on a reused
// connection, the call is retried once on another; once any byte went out
// it is not: an LLM call is not idempotent and the upstream may have taken
// it.
func (t *Transport) roundTrip(ctx context.Context, k *call) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(k.timeout)
	for attempt := 0; ; attempt++ {
		c, reused, err := k.pool.get(ctx, deadline)
		if err != nil {
			if err == errFallback {
				return nil, err
			}
			return nil, k.fail(ctx, err)
		}
		c.nc.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, c.abortFn)
		n, err := c.write(k.head, k.body)
		if err != nil && n == 0 {
			stop()
			c.close()
			if reused && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return nil, k.fail(ctx, err)
		}
		if err != nil {
			// The upstream stopped reading part way, maybe to answer
			// early (413 Content Too Large): read that answer if there is
			// one, and close the connection after it.
			resp, rerr := c.readResponse(ctx, stop, true)
			if rerr != nil {
				stop()
				c.close()
				return nil, k.fail(ctx, err)
			}
			return resp, nil
		}
		resp, err := c.readResponse(ctx, stop, false)
		if err != nil {
			stop()
			c.close()
			return nil, k.fail(ctx, err)
		}
		return resp, nil
	}
}

// fail turns a failed call's error into what net/http would return: the
// context's error when it ended, a TimeoutError when the deadline passed.
func (k *call) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Provider: k.provider, After: k.timeout}
	}
	return &urlError{Op: k.method, URL: k.url, Err: err}
}

// urlError reads like net/http's *url.Error.
type urlError struct {
	Op, URL string
	Err     error
}

func (e *urlError) Error() string { return fmt.Sprintf("%s %q: %s", e.Op, e.URL, e.Err) }
func (e *urlError) Unwrap() error { return e.Err }

// write sends head and body, in one write when the body is small.
func (c *conn) write(head, body []byte) (int, error) {
	if len(body) == 0 {
		return c.nc.Write(head)
	}
	if _, ok := c.nc.(*net.TCPConn); ok {
		bufs := net.Buffers{head, body}
		n, err := bufs.WriteTo(c.nc)
		return int(n), err
	}
	n, err := c.nc.Write(head)
	if err != nil {
		return n, err
	}
	m, err := c.nc.Write(body)
	return n + m, err
}

// maxHeaderBytes bounds a response's status line and headers.
const maxHeaderBytes = 1 << 20

// readResponse reads the status line and headers (skipping 1xx interim
// responses) and returns the response with its body framed. closeAfter
// forbids reusing the connection.
func (c *conn) readResponse(ctx context.Context, stop func() bool, closeAfter bool) (*http.Response, error) {
	for interim := 0; ; interim++ {
		resp, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			if resp.StatusCode == http.StatusSwitchingProtocols || interim >= 5 {
				return nil, fmt.Errorf("unexpected %s response", resp.Status)
			}
			continue
		}
		// The timeout covers the wait for headers only: a long stream may
		// run as long as it keeps sending. A context that ended just now
		// may have had its abort undone by this: look again.
		c.nc.SetDeadline(time.Time{})
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := &body{c: c, ctx: ctx, stop: stop, remaining: -1}
		h := resp.Header
		if resp.ProtoMajor == 1 && resp.ProtoMinor == 0 {
			b.closeAfter = !headerHasToken(h["Connection"], "keep-alive")
		} else {
			b.closeAfter = headerHasToken(h["Connection"], "close")
		}
		b.closeAfter = b.closeAfter || closeAfter
		resp.Close = b.closeAfter
		te := h["Transfer-Encoding"]
		switch {
		case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified:
			resp.ContentLength = 0
			b.remaining = 0
		case len(te) > 0:
			if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
				return nil, fmt.Errorf("unsupported transfer encoding %q", te)
			}
			delete(h, "Transfer-Encoding")
			delete(h, "Content-Length")
			resp.TransferEncoding = chunkedTE
			resp.ContentLength = -1
			b.chunked = httputil.NewChunkedReader(c.br)
		case len(h["Content-Length"]) > 0:
			n, err := contentLength(h["Content-Length"])
			if err != nil {
				return nil, err
			}
			resp.ContentLength = n
			b.remaining = n
		default:
			// Delimited by the end of the connection.
			resp.ContentLength = -1
			b.closeAfter = true
			resp.Close = true
		}
		resp.Body = b
		if b.remaining == 0 {
			b.finish(true)
		}
		return resp, nil
	}
}

var chunkedTE = []string{"chunked"}

// readHeader reads one status line and header block.
func (c *conn) readHeader() (*http.Response, error) {
	c.scratch = c.scratch[:0]
	// ends[i] is where line i ends in scratch.
	var endsArr [32]int
	ends := endsArr[:0]
	for {
		line, err := c.br.ReadSlice('\n')
		for err == bufio.ErrBufferFull && len(c.scratch) < maxHeaderBytes {
			c.scratch = append(c.scratch, line...)
			line, err = c.br.ReadSlice('\n')
		}
		if err != nil {
			if err == io.EOF && len(ends) == 0 && len(c.scratch) == 0 {
				return nil, errNoResponse
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err == bufio.ErrBufferFull {
				err = errors.New("response headers too large")
			}
			return nil, err
		}
		c.scratch = append(c.scratch, line...)
		if len(c.scratch) > maxHeaderBytes {
			return nil, errors.New("response headers too large")
		}
		start := 0
		if len(ends) > 0 {
			start = ends[len(ends)-1]
		}
		ends = append(ends, len(c.scratch))
		if l := trimCRLF(c.scratch[start:]); len(l) == 0 {
			if len(ends) == 1 {
				return nil, errors.New("malformed HTTP response: empty status line")
			}
			break
		}
	}
	block := string(c.scratch) // the one copy every header value points into
	if cap(c.scratch) > 64<<10 {
		c.scratch = nil // an odd upstream's huge headers are not kept
	}
	statusLine := trimCRLFString(block[:ends[0]])
	resp := &http.Response{}
	proto, status, ok := strings.Cut(statusLine, " ")
	if !ok || len(status) < 3 {
		return nil, fmt.Errorf("malformed HTTP response %q", statusLine)
	}
	switch proto {
	case "HTTP/1.1":
		resp.ProtoMajor, resp.ProtoMinor = 1, 1
	case "HTTP/1.0":
		resp.ProtoMajor, resp.ProtoMinor = 1, 0
	default:
		return nil, fmt.Errorf("malformed HTTP version %q", proto)
	}
	resp.Proto = proto
	resp.Status = strings.TrimLeft(status, " ")
	code, err := strconv.Atoi(resp.Status[:min(3, len(resp.Status))])
	if err != nil || code < 100 || code > 999 || (len(resp.Status) > 3 && resp.Status[3] != ' ') {
		return nil, fmt.Errorf("malformed HTTP status %q", statusLine)
	}
	resp.StatusCode = code
	lines := len(ends) - 2 // minus the status line and the blank line
	h := make(http.Header, lines)
	vals := make([]string, lines)
	for i := 1; i <= lines; i++ {
		l := trimCRLFString(block[ends[i-1]:ends[i]])
		if l[0] == ' ' || l[0] == '\t' {
			return nil, errors.New("malformed HTTP response: obsolete header line folding")
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" || strings.TrimRight(k, " \t") != k {
			return nil, fmt.Errorf("malformed HTTP header line %q", l)
		}
		k = http.CanonicalHeaderKey(k)
		vals[i-1] = strings.Trim(v, " \t")
		if old, ok := h[k]; ok {
			h[k] = append(old, vals[i-1])
		} else {
			h[k] = vals[i-1 : i : i]
		}
	}
	resp.Header = h
	return resp, nil
}

var errNoResponse = errors.New("upstream closed the connection without answering")

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func trimCRLFString(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

func headerHasToken(vals []string, token string) bool {
	for _, v := range vals {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// contentLength parses Content-Length; repeated equal values are allowed.
func contentLength(vals []string) (int64, error) {
	first := strings.TrimSpace(vals[0])
	for _, v := range vals[1:] {
		if strings.TrimSpace(v) != first {
			return 0, errors.New("conflicting Content-Length headers")
		}
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad Content-Length %q", first)
	}
	return n, nil
}

// body reads a response body off its connection. Reading it to the end
// returns the connection to the pool; closing it earlier closes the
// connection, which tells the upstream to stop.
type body struct {
	c    *conn
	ctx  context.Context
	stop func() bool
	// remaining is what a Content-Length body has left (-1: not one).
	remaining  int64
	chunked    io.Reader
	closeAfter bool
	done       bool
	err        error
}

var errBodyClosed = errors.New("http: read on closed response body")

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch {
	case b.remaining >= 0:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			b.finish(true)
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	case b.chunked != nil:
		n, err = b.chunked.Read(p)
		if err == io.EOF {
			if terr := b.readTrailer(); terr != nil {
				err = terr
			} else {
				b.finish(true)
				return n, nil
			}
		}
	default:
		n, err = b.c.br.Read(p)
		if err == io.EOF {
			b.finish(false)
			return n, nil
		}
	}
	if err != nil {
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
		b.finish(false)
		b.err = err
	}
	return n, err
}

// readTrailer consumes a chunked body's trailer section.
func (b *body) readTrailer() error {
	for range 64 {
		line, err := b.c.br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(trimCRLF(line)) == 0 {
			return nil
		}
	}
	return errors.New("too many trailer lines")
}

// finish ends the body: the connection goes back to the pool when it was
// read in full and nothing else forbids it, and is closed otherwise.
func (b *body) finish(complete bool) {
	if b.done {
		return
	}
	b.done = true
	b.err = io.EOF
	// stop fails once the context ended: its abort may have poisoned the
	// connection's deadline.
	reuse := b.stop() && complete && !b.closeAfter && b.c.br.Buffered() == 0
	if reuse {
		b.c.pool.put(b.c)
	} else {
		b.c.close()
	}
	b.c = nil
}

func (b *body) Close() error {
	if !b.done {
		b.finish(false)
	}
	b.err = errBodyClosed
	return nil
}
