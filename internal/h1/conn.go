package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown and the timeout sweep.
const (
	stateNew    int32 = iota // accepted, nothing received yet
	stateIdle                // waiting for the next request's first byte
	stateHead                // reading a request head
	stateActive              // serving a request
	stateClosed
)

const (
	// bufSize bounds a request head on the lean loop; a larger head goes
	// to net/http, which allows up to a megabyte.
	bufSize = 8 << 10
	// watchAfter is how long a request runs before a goroutine starts
	// watching for the client hanging up. A request answered sooner (the
	// common case under load) never pays for the watch.
	watchAfter = 5 * time.Millisecond
	// maxDiscard is the most unread request body drained to keep a
	// connection alive (net/http's figure); more closes it.
	maxDiscard = 256 << 10
)

var (
	errClientGone = errors.New("client closed the connection")
	aLongTimeAgo  = time.Unix(1, 0)
	readerPool    sync.Pool
	writerPool    sync.Pool
)

type conn struct {
	srv    *Server
	nc     net.Conn
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	state  atomic.Int32
	since  atomic.Int64 // UnixNano when the state was entered
	// readDeadline is the request's read deadline (UnixNano, 0 for none),
	// set through http.ResponseController and enforced by the sweep.
	readDeadline atomic.Int64
	// deadlineHit: the sweep failed the connection's reads; it is not
	// reused.
	deadlineHit atomic.Bool
	handed      bool // the fallback server owns nc now
	lean        bool // counted in leanConns
	lastPost    bool // the last request was a POST

	// strs interns canonical header names a client sent in another case
	// (Node sends them lower-case), once per connection.
	strs map[string]string

	// The request being served. Its body and response are allocated per
	// request (a goroutine that outlives its handler must not reach the
	// next request); their buffers are the connection's.
	cancel context.CancelCauseFunc
	body   *body
	bufs   responseBufs

	// The hang-up watch; wmu guards wstate, wabort and the cancel call.
	timer  *time.Timer
	wmu    sync.Mutex
	wcond  sync.Cond
	wstate int8
	wabort bool
	gone   atomic.Bool
}

const (
	watchOff = iota
	watchArmed
	watchRunning
)

// connReader is what the bufio.Reader reads from: a byte the hang-up
// watch read (a pipelined request) comes first.
type connReader struct {
	nc      net.Conn
	hasByte bool
	b       [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.hasByte {
		if len(p) == 0 {
			return 0, nil
		}
		p[0] = r.b[0]
		r.hasByte = false
		return 1, nil
	}
	return r.nc.Read(p)
}

// connWriter cancels the request when a write to the client fails, so the
// upstream call stops too.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	n, err := w.c.nc.Write(p)
	if err != nil {
		w.c.cancelRequest(errClientGone)
	}
	return n, err
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String(), strs: map[string]string{}}
	c.cr.nc = nc
	c.wcond.L = &c.wmu
	if v := readerPool.Get(); v != nil {
		c.br = v.(*bufio.Reader)
		c.br.Reset(&c.cr)
	} else {
		c.br = bufio.NewReaderSize(&c.cr, bufSize)
	}
	if v := writerPool.Get(); v != nil {
		c.bw = v.(*bufio.Writer)
		c.bw.Reset(connWriter{c})
	} else {
		c.bw = bufio.NewWriterSize(connWriter{c}, bufSize)
	}
	c.setState(stateNew)
	return c
}

func (c *conn) setState(st int32) {
	c.since.Store(time.Now().UnixNano())
	c.state.Store(st)
}

// serve runs the connection's requests one after another.
func (c *conn) serve() {
	defer c.close()
	for {
		if c.srv.closing.Load() {
			return
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if c.lastPost {
			// As net/http: old clients follow a POST body with a CRLF.
			peek, _ := c.br.Peek(4)
			if n := leadingCRLF(peek); n > 0 {
				c.br.Discard(n)
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
		}
		c.since.Store(time.Now().UnixNano())
		if !c.state.CompareAndSwap(stateIdle, stateHead) && !c.state.CompareAndSwap(stateNew, stateHead) {
			return // Shutdown or the idle sweep closed it
		}
		head, err := c.peekHead()
		if err != nil {
			if err == bufio.ErrBufferFull || err == errHandoff {
				c.handoff()
			}
			return
		}
		req, ok := c.parse(head)
		if !ok {
			c.handoff()
			return
		}
		if !c.lean {
			c.lean = true
			c.srv.leanConns.Add(1)
		}
		c.br.Discard(len(head))
		c.lastPost = req.Method == http.MethodPost
		c.state.Store(stateActive)
		if !c.handle(req) {
			return
		}
		// The idle clock starts before the state says idle, so the sweep
		// never sees idle paired with the request's start time.
		c.since.Store(time.Now().UnixNano())
		if !c.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

func (c *conn) close() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.srv.untrack(c)
	if c.handed {
		return
	}
	c.nc.Close()
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
}

// handoff gives the connection, with the bytes read so far, to the
// fallback server, which serves it from then on.
func (c *conn) handoff() {
	c.srv.handedOff.Add(1)
	c.handed = true
	c.srv.untrack(c)
	if !c.srv.fallback.deliver(&handedConn{Conn: c.nc, r: c.br}) {
		c.nc.Close()
	}
}

// handedConn replays what the lean loop buffered before reading on.
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (h *handedConn) Read(p []byte) (int, error) { return h.r.Read(p) }

// errHandoff marks a head the lean loop leaves to net/http before it is
// complete (a bare LF line ending).
var errHandoff = errors.New("h1: hand off")

// peekHead returns the request head (through the blank line) without
// consuming it; bufio.ErrBufferFull when it does not fit the buffer.
func (c *conn) peekHead() ([]byte, error) {
	from := 0
	for {
		n := c.br.Buffered()
		buf, _ := c.br.Peek(n)
		for i := from; i < n; i++ {
			j := bytes.IndexByte(buf[i:], '\n')
			if j < 0 {
				break
			}
			i += j
			if i == 0 || buf[i-1] != '\r' {
				return nil, errHandoff
			}
			if i >= 3 && buf[i-3] == '\r' && buf[i-2] == '\n' {
				return buf[:i+1], nil
			}
		}
		if n >= c.br.Size() {
			return nil, bufio.ErrBufferFull
		}
		from = n
		if _, err := c.br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

var crlf = []byte("\r\n")

// intern returns b as a string, allocated once per distinct value on the
// connection (up to a bound).
func (c *conn) intern(b []byte) string {
	if s, ok := c.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= 256 {
		if len(c.strs) >= 128 {
			clear(c.strs)
		}
		c.strs[s] = s
	}
	return s
}

// parse builds the request from a head the lean loop takes; ok is false
// for anything else (which net/http then serves or refuses itself).
func (c *conn) parse(head []byte) (req *http.Request, ok bool) {
	// One string for the whole head: the target and the header values
	// are slices of it, and header names too when the client sent them
	// in canonical form (most do), so a request costs one allocation
	// here rather than one per header.
	h := string(head)
	line, rest, _ := strings.Cut(h, "\r\n")
	var method string
	switch {
	case strings.HasPrefix(line, "POST "):
		method, line = http.MethodPost, line[5:]
	case strings.HasPrefix(line, "GET "):
		method, line = http.MethodGet, line[4:]
	default:
		return nil, false
	}
	uri, proto, found := strings.Cut(line, " ")
	if !found || proto != "HTTP/1.1" || len(uri) == 0 || uri[0] != '/' {
		return nil, false
	}
	plain := true
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b <= ' ' || b >= 0x7f {
			return nil, false
		} else if !pathByte(b) {
			plain = false // url.ParseRequestURI knows what to keep escaped
		}
	}
	var u *url.URL
	if plain {
		u = &url.URL{Path: uri}
	} else {
		var err error
		if u, err = url.ParseRequestURI(uri); err != nil {
			return nil, false
		}
	}

	lines := strings.Count(rest, "\n") - 1
	hdr := make(http.Header, lines)
	vals := make([]string, lines)
	var (
		host              string
		hosts             int
		clen              int64
		haveLen, closeReq bool
		canon             [64]byte
	)
	for i := 0; ; i++ {
		nl := strings.IndexByte(rest, '\n')
		if nl < 1 || rest[nl-1] != '\r' {
			return nil, false // a bare LF: net/http's to judge
		}
		if nl == 1 {
			break // the blank line ending the head
		}
		line, rest = rest[:nl-1], rest[nl+1:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || colon > len(canon) {
			return nil, false
		}
		name, val := line[:colon], trimOWS(line[colon+1:])
		upper, same := true, true
		for j := 0; j < len(name); j++ {
			b := name[j]
			if !isTokenByte(b) {
				return nil, false
			}
			switch {
			case upper && 'a' <= b && b <= 'z':
				b -= 'a' - 'A'
				same = false
			case !upper && 'A' <= b && b <= 'Z':
				b += 'a' - 'A'
				same = false
			}
			canon[j] = b
			upper = b == '-'
		}
		for j := 0; j < len(val); j++ {
			if byteClass[val[j]]&classValue == 0 {
				return nil, false
			}
		}
		key := name
		if !same {
			key = c.intern(canon[:colon])
		}
		switch key {
		case "Host":
			hosts++
			host = val
			if !validHost(val) {
				return nil, false
			}
		case "Content-Length":
			if haveLen {
				return nil, false
			}
			n, ok := parseLength(val)
			if !ok {
				return nil, false
			}
			clen, haveLen = n, true
		case "Transfer-Encoding", "Expect", "Upgrade":
			return nil, false
		case "Connection":
			for rest := val; rest != ""; {
				var tok string
				tok, rest, _ = strings.Cut(rest, ",")
				tok = trimOWS(tok)
				switch {
				case len(tok) == 0, strings.EqualFold(tok, "keep-alive"):
				case strings.EqualFold(tok, "close"):
					closeReq = true
				default:
					return nil, false
				}
			}
		}
		if key == "Host" {
			continue // net/http's server moves it to Request.Host
		}
		if old := hdr[key]; old != nil {
			hdr[key] = append(old, val)
		} else {
			vals[i] = val
			hdr[key] = vals[i : i+1 : i+1]
		}
	}
	if hosts != 1 {
		return nil, false
	}
	// As net/http's server: Pragma: no-cache implies Cache-Control.
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" && hdr["Cache-Control"] == nil {
		hdr["Cache-Control"] = []string{"no-cache"}
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	c.cancel = cancel
	c.readDeadline.Store(0)
	c.deadlineHit.Store(false)
	c.gone.Store(false)
	c.body = &body{c: c, n: clen}
	r := http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		ContentLength: clen,
		Close:         closeReq,
		Host:          host,
		RemoteAddr:    c.remote,
		RequestURI:    uri,
		Body:          http.NoBody,
	}
	if clen > 0 {
		r.Body = c.body
	}
	return r.WithContext(ctx), true
}

// pathByte reports whether b stands for itself in a URL path (net/url
// would not escape it), so a target made of these is its own URL.Path.
func pathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-._~/$&+,:;=@", b) >= 0
}

func leadingCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

func trimOWS(b string) string {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isTokenByte reports whether b may appear in a header name (RFC 9110 tchar).
func isTokenByte(b byte) bool { return byteClass[b]&classToken != 0 }

// Byte classes, looked up once per byte of a request head.
const (
	classToken = 1 << iota // tchar
	classValue             // allowed in a header value (no CTL but HTAB)
)

var byteClass = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			t[b] |= classToken
		}
		if c >= ' ' && c != 0x7f || c == '\t' {
			t[b] |= classValue
		}
	}
	return t
}()

// validHost accepts the host[:port] forms clients send; anything unusual
// goes to net/http, which knows the full grammar.
func validHost(b string) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

func parseLength(b string) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// handle runs the handler for req and finishes its response; it reports
// whether the connection may serve another request.
func (c *conn) handle(req *http.Request) (keep bool) {
	res := &response{c: c, req: req, cl: -1}
	res.take(&c.bufs)
	if req.ContentLength == 0 {
		c.armWatch()
	}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("h1: panic serving %v: %v\n%s", c.remote, v, buf)
			}
			keep = false
		}
		c.stopWatch()
		c.cancelRequest(context.Canceled)
		c.cancel = nil
	}()
	c.srv.Handler.ServeHTTP(res, req)
	res.finish()
	res.give(&c.bufs)
	c.body.closed = true
	// Body left unread was drained or marked closeAfter when the response
	// started (settleBody); the last check is only a guard.
	return !res.closeAfter && res.err == nil && !c.gone.Load() && !c.srv.closing.Load() && c.body.n == 0 && !c.deadlineHit.Load()
}

func (c *conn) cancelRequest(cause error) {
	c.wmu.Lock()
	if c.cancel != nil {
		c.cancel(cause)
	}
	c.wmu.Unlock()
}

// armWatch starts the hang-up watch timer once the request body is read
// and nothing else is buffered (a pipelining client is not watched, as
// with net/http).
func (c *conn) armWatch() {
	if c.br.Buffered() > 0 || c.cr.hasByte {
		return
	}
	c.wmu.Lock()
	c.wstate = watchArmed
	c.wabort = false
	c.wmu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.watch)
	} else {
		c.timer.Reset(watchAfter)
	}
}

// watch runs on the timer's goroutine: one read on the idle connection
// either returns a pipelined byte (kept for the next request) or tells
// that the client went away, which cancels the request.
func (c *conn) watch() {
	c.wmu.Lock()
	if c.wstate != watchArmed {
		c.wmu.Unlock()
		return
	}
	c.wstate = watchRunning
	c.wmu.Unlock()
	n, err := c.nc.Read(c.cr.b[:])
	c.wmu.Lock()
	if n == 1 {
		c.cr.hasByte = true
	} else if err != nil && !c.wabort {
		c.gone.Store(true)
		if c.cancel != nil {
			c.cancel(errClientGone)
		}
	}
	c.wstate = watchOff
	c.wcond.Broadcast()
	c.wmu.Unlock()
}

// stopWatch ends the watch before the connection is read again.
func (c *conn) stopWatch() {
	if c.timer == nil {
		return
	}
	c.timer.Stop()
	c.wmu.Lock()
	if c.wstate != watchRunning {
		c.wstate = watchOff
		c.wmu.Unlock()
		return
	}
	c.wabort = true
	c.nc.SetReadDeadline(aLongTimeAgo)
	for c.wstate == watchRunning {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
	c.nc.SetReadDeadline(time.Time{})
}

// body is the request body of a lean request: ContentLength bytes read
// through the connection's buffer.
type body struct {
	c      *conn
	n      int64 // bytes left
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.c.br.Read(p)
	b.n -= int64(n)
	if b.n == 0 {
		b.c.armWatch()
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close makes further reads fail. As net/http's, it reads and drops what
// is left of a body up to maxDiscard, so the connection can be reused; a
// larger rest closes the connection after the response.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.n > 0 && b.n <= maxDiscard {
		if _, err := b.c.br.Discard(int(b.n)); err == nil {
			b.n = 0
		}
	}
	return nil
}
