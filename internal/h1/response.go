package h1

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// bufferBeforeChunking is how much body a response holds before it
// commits to chunked encoding when the handler set no Content-Length:
// net/http's figure, so both servers frame the same response alike.
const bufferBeforeChunking = 2048

// response is the lean loop's http.ResponseWriter and http.Flusher.
type response struct {
	c   *conn
	req *http.Request
	hdr http.Header

	status      int
	wroteHeader bool  // the status is set and the header snapshot taken
	committed   bool  // the head has gone to the write buffer
	chunked     bool  // the body is chunked
	userLen     bool  // the handler set Content-Length
	cl          int64 // Content-Length, -1 until known
	written     int64
	handlerDone bool
	haveType    bool
	haveCE      bool // a Content-Encoding: no sniffing
	haveDate    bool
	connHdr     []string // the handler's Connection header, written at commit
	te          string   // the handler's Transfer-Encoding
	trailers    []string // declared trailer names (the Trailer header)
	prefixed    bool     // the handler set http.TrailerPrefix headers
	closeAfter  bool
	err         error

	head    []byte // status line and the handler's headers, taken at WriteHeader
	pending []byte // body held until the framing is decided
	keys    []string
}

// responseBufs are a connection's response buffers, lent to one
// response at a time.
type responseBufs struct {
	head, pending []byte
	keys          []string
}

func (r *response) take(b *responseBufs) {
	r.head, r.pending, r.keys = b.head[:0], b.pending[:0], b.keys[:0]
}

// give returns the buffers once the response is complete; a response
// used after that (by a goroutine outliving its handler) gets new ones.
func (r *response) give(b *responseBufs) {
	b.head, b.pending, b.keys = r.head, r.pending, r.keys
	if cap(b.pending) > 64<<10 {
		b.pending = nil
	}
	r.head, r.pending, r.keys = nil, nil, nil
}

func (r *response) Header() http.Header {
	if r.hdr == nil {
		r.hdr = make(http.Header, 4)
	}
	return r.hdr
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

func (r *response) WriteHeader(code int) {
	if r.handlerDone || r.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response goes out at once, as with net/http.
		b := appendStatusLine(r.head[:0], code)
		b = r.appendHeaders(b, false) // without Content-Length, Transfer-Encoding
		b = append(b, "\r\n"...)
		r.write(b)
		r.flush()
		r.head = b[:0]
		return
	}
	r.wroteHeader = true
	r.status = code
	r.closeAfter = r.req.Close || r.c.srv.closing.Load()
	r.head = appendStatusLine(r.head[:0], code)
	r.head = r.appendHeaders(r.head, true)
	if r.userLen && r.te != "" && r.te != "identity" {
		r.c.srv.logf("h1: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", r.te, r.cl)
		r.userLen, r.cl = false, -1
	}
}

// appendHeaders writes the handler's headers, sorted, with values made
// safe as net/http makes them; with snapshot it also notes the headers
// that decide framing.
func (r *response) appendHeaders(b []byte, snapshot bool) []byte {
	keys := r.keys[:0]
	for k := range r.hdr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r.keys = keys
	for _, k := range keys {
		vv := r.hdr[k]
		if strings.HasPrefix(k, http.TrailerPrefix) {
			r.prefixed = r.prefixed || snapshot
			continue
		}
		if !snapshot && (k == "Content-Length" || k == "Transfer-Encoding") {
			continue
		}
		if snapshot {
			// What net/http's server does with these, so that both
			// answer alike (see diff_test.go).
			switch k {
			case "Content-Length":
				if !bodyAllowed(r.status) {
					continue
				}
				if len(vv) > 0 {
					if n, ok := parseLength(strings.TrimSpace(vv[0])); ok {
						r.cl, r.userLen = n, true
					} else {
						r.c.srv.logf("h1: invalid Content-Length %q", vv[0])
						continue
					}
				}
			case "Content-Type":
				if r.status == http.StatusNotModified {
					continue
				}
				r.haveType = true
			case "Content-Encoding":
				r.haveCE = len(vv) > 0 && vv[0] != ""
			case "Date":
				r.haveDate = true
			case "Connection":
				r.connHdr = vv
				if len(vv) > 0 && vv[0] == "close" {
					r.closeAfter = true
				}
				continue
			case "Trailer":
				for _, v := range vv {
					for _, t := range strings.Split(v, ",") {
						if t = http.CanonicalHeaderKey(strings.TrimSpace(t)); t != "" {
							r.trailers = append(r.trailers, t)
						}
					}
				}
			case "Transfer-Encoding":
				if len(vv) > 0 {
					r.te = vv[0]
				}
				continue // the server writes the framing
			}
		}
		if !validName(k) {
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

// appendValue writes v with CR and LF turned into spaces and the ends
// trimmed, as net/http does, so a handler cannot split the response.
func appendValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	if !strings.ContainsAny(v, "\r\n") {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func hasToken(v, token string) bool {
	for _, t := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// commit writes the head; final is true when the handler has returned,
// so the whole body is in pending and its length is known.
func (r *response) commit(final bool, sniff []byte) {
	r.committed = true
	r.settleBody()
	b := r.head
	if !r.haveDate {
		b = appendDate(b)
	}
	if bodyAllowed(r.status) {
		if !r.haveType && !r.haveCE && r.te == "" && len(sniff) > 0 {
			b = append(b, "Content-Type: "...)
			b = append(b, http.DetectContentType(sniff)...)
			b = append(b, "\r\n"...)
		}
		switch {
		case r.userLen:
		case r.te == "identity":
			// The handler asked for no framing: the end of the
			// connection ends the body.
			r.closeAfter = true
		case final && r.te == "" && len(r.trailers) == 0 && !r.prefixed:
			r.cl = int64(len(r.pending))
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, r.cl, 10)
			b = append(b, "\r\n"...)
		default:
			r.chunked = true
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		}
	}
	first := ""
	if len(r.connHdr) > 0 {
		first = r.connHdr[0]
	}
	if r.closeAfter && !hasToken(first, "close") {
		b = append(b, "Connection: close\r\n"...)
	} else {
		for _, v := range r.connHdr {
			b = append(append(append(b, "Connection: "...), appendValue(nil, v)...), "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	r.head = b
	r.write(b)
}

// settleBody deals with request body the handler left unread before the
// response starts, as net/http does: a client that sends its whole
// request before reading could otherwise deadlock. A little is read and
// dropped; too much, or a body the handler closed early, closes the
// connection after this response.
func (r *response) settleBody() {
	b := r.c.body
	if b == nil || b.n == 0 || r.closeAfter {
		return
	}
	if b.closed || b.n >= maxDiscard {
		r.closeAfter = true
		return
	}
	if _, err := r.c.br.Discard(int(b.n)); err != nil {
		r.closeAfter = true
		return
	}
	b.n = 0
}

func (r *response) Write(p []byte) (int, error) {
	if r.handlerDone {
		return 0, http.ErrHandlerTimeout
	}
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if r.err != nil {
		return 0, r.err
	}
	if !bodyAllowed(r.status) {
		return 0, http.ErrBodyNotAllowed
	}
	switch {
	case r.userLen:
		if r.written+int64(len(p)) > r.cl {
			return 0, http.ErrContentLength
		}
		if !r.committed {
			r.commit(false, p)
		}
		r.write(p)
	case r.committed && r.chunked:
		r.writeChunk(p)
	case r.committed:
		r.write(p) // Transfer-Encoding: identity, ended by closing
	default:
		r.pending = append(r.pending, p...)
		if len(r.pending) > bufferBeforeChunking {
			r.commitPending(false)
		}
	}
	r.written += int64(len(p))
	if r.err != nil {
		return 0, r.err
	}
	return len(p), nil
}

func (r *response) WriteString(s string) (int, error) {
	// Handlers write small strings; the copy is cheaper than a second path.
	return r.Write([]byte(s))
}

func (r *response) writeChunk(p []byte) {
	if len(p) == 0 {
		return
	}
	var n [20]byte
	b := strconv.AppendInt(n[:0], int64(len(p)), 16)
	b = append(b, "\r\n"...)
	r.write(b)
	r.write(p)
	r.write(crlf)
}

func (r *response) write(p []byte) {
	if r.err != nil {
		return
	}
	if _, err := r.c.bw.Write(p); err != nil {
		r.err = err
	}
}

func (r *response) flush() {
	if r.err != nil {
		return
	}
	if err := r.c.bw.Flush(); err != nil {
		r.err = err
	}
}

// SetReadDeadline is for http.ResponseController: reading the request
// body after t fails with a timeout (the zero time clears it). The timeout
// sweep enforces it, so it costs the request no timer of its own, at most
// one sweep interval late; a connection whose deadline passed is not
// reused.
func (r *response) SetReadDeadline(t time.Time) error {
	if r.handlerDone {
		return http.ErrHandlerTimeout
	}
	var d int64
	if !t.IsZero() {
		d = max(t.UnixNano(), 1)
	}
	r.c.readDeadline.Store(d)
	return nil
}

// Flush sends the head and what the handler wrote so far: a stream's
// events go out as they are written.
func (r *response) Flush() { r.FlushError() }

// FlushError is Flush for http.ResponseController.
func (r *response) FlushError() error {
	if r.handlerDone {
		return http.ErrHandlerTimeout
	}
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if !r.committed {
		r.commitPending(false)
	}
	r.flush()
	return r.err
}

// commitPending writes the head and the body held so far.
func (r *response) commitPending(final bool) {
	r.commit(final, r.pending)
	if r.chunked {
		r.writeChunk(r.pending)
	} else {
		r.write(r.pending)
	}
	r.pending = r.pending[:0]
}

// finish completes the response after the handler returns.
func (r *response) finish() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	r.handlerDone = true
	if !r.committed {
		r.commitPending(true)
	}
	if r.chunked {
		r.write([]byte("0\r\n"))
		r.writeTrailers()
		r.write(crlf)
	}
	if r.userLen && r.written != r.cl && bodyAllowed(r.status) {
		// The client would wait for bytes that never come, or read the
		// rest as the next response: the connection cannot be reused.
		r.closeAfter = true
	}
	r.flush()
}

// writeTrailers sends the declared trailers and the http.TrailerPrefix
// headers, as net/http does, after the last chunk.
func (r *response) writeTrailers() {
	var t http.Header
	for k, vv := range r.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[name] = vv
		}
	}
	for _, k := range r.trailers {
		if vv, ok := r.hdr[k]; ok {
			if t == nil {
				t = http.Header{}
			}
			t[k] = vv
		}
	}
	if t == nil {
		return
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range t {
			if !yield(k) {
				return
			}
		}
	})
	var b []byte
	for _, k := range keys {
		if !validName(k) {
			continue
		}
		for _, v := range t[k] {
			b = append(append(append(append(b, k...), ": "...), appendValue(nil, v)...), "\r\n"...)
		}
	}
	r.write(b)
}

var statusLines [1000]atomic.Pointer[[]byte]

func appendStatusLine(b []byte, code int) []byte {
	if p := statusLines[code].Load(); p != nil {
		return append(b, *p...)
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	line := []byte(fmt.Sprintf("HTTP/1.1 %03d %s\r\n", code, text))
	statusLines[code].Store(&line)
	return append(b, line...)
}

type dateLine struct {
	sec  int64
	line []byte
}

var date atomic.Pointer[dateLine]

// appendDate writes the Date header, formatted once a second.
func appendDate(b []byte) []byte {
	now := time.Now()
	d := date.Load()
	if d == nil || d.sec != now.Unix() {
		d = &dateLine{sec: now.Unix(), line: []byte("Date: " + now.UTC().Format(http.TimeFormat) + "\r\n")}
		date.Store(d)
	}
	return append(b, d.line...)
}
