package llmapi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
)

// Event is one Server-Sent Event.
type Event struct {
	// Name is the event's "event:" field; empty when it has none, as in
	// OpenAI streams.
	Name string
	// Data is the event's "data:" lines joined with "\n".
	Data []byte
}

// Done is OpenAI's end-of-stream marker, sent as the data of a last event.
var Done = []byte("[DONE]")

// IsDone reports whether ev is OpenAI's "data: [DONE]" event.
func (ev Event) IsDone() bool { return bytes.Equal(ev.Data, Done) }

// readerBufSize is the bufio buffer; longer lines (base64 images, long tool
// arguments) still work, they are just assembled in a second buffer.
const readerBufSize = 32 << 10

// keepBuf bounds the scratch buffers a Reader keeps between events, so one
// huge event does not pin its memory for the rest of a long stream.
const keepBuf = 1 << 20

// Reader reads events from a text/event-stream body, following the WHATWG
// parsing rules: "field: value" lines with at most one space dropped after
// the colon, lines starting with ":" are comments, "id" and "retry" and
// unknown fields are ignored, data lines accumulate until a blank line
// dispatches the event, and an event without data is not dispatched.
// Lines may end in LF or CRLF. Unlike a strict parser, Reader also
// dispatches a last event that the stream ends without a blank line for:
// real upstreams do end that way, and the last event is message_stop.
type Reader struct {
	br      *bufio.Reader
	long    []byte // a line longer than br's buffer
	data    []byte // data of the event being read
	name    string
	hasData bool
	first   bool // the next line is the stream's first (BOM check)
	err     error
}

// NewReader returns a Reader that reads events from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readerBufSize), first: true}
}

// Next returns the next event, or io.EOF after the last one. Event.Data is
// a fresh slice the caller may keep. Any other error is the underlying
// reader's, and an event it interrupted is dropped.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	for {
		line, err := r.readLine()
		if err == nil && len(line) == 0 {
			if r.hasData {
				return r.dispatch(), nil
			}
			r.name = ""
			continue
		}
		if len(line) > 0 {
			r.field(line)
		}
		if err != nil {
			r.err = err
			if err == io.EOF && r.hasData {
				return r.dispatch(), nil
			}
			return Event{}, err
		}
	}
}

// readLine returns the next line without its line ending. The slice is only
// valid until the next call. err is io.EOF for a last line with no newline.
func (r *Reader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err == io.EOF && len(b) == 0 {
		return nil, io.EOF
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if r.first {
		r.first = false
		b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	}
	if cap(r.long) > keepBuf {
		// b may alias r.long: hand it out as is, but do not keep it.
		r.long = nil
	}
	return b, err
}

func (r *Reader) field(line []byte) {
	colon := bytes.IndexByte(line, ':')
	if colon == 0 {
		return // comment
	}
	name, value := line, []byte(nil)
	if colon > 0 {
		name, value = line[:colon], line[colon+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if r.hasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.hasData = true
	case "event":
		r.name = eventName(value)
	}
}

func (r *Reader) dispatch() Event {
	ev := Event{Name: r.name, Data: bytes.Clone(r.data)}
	if ev.Data == nil {
		ev.Data = []byte{}
	}
	r.name, r.hasData = "", false
	if cap(r.data) > keepBuf {
		r.data = nil
	} else {
		r.data = r.data[:0]
	}
	return ev
}

// eventName returns the known Anthropic event names without allocating.
func eventName(b []byte) string {
	switch string(b) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	}
	return string(b)
}

// Writer writes events in text/event-stream format, flushing after each
// one so that a client sees every event as soon as it is written.
type Writer struct {
	w     io.Writer
	flush func() error
	buf   []byte
}

// NewWriter returns a Writer on w. After each event it flushes w if w has
// a Flush method (http.Flusher's Flush() or bufio.Writer's Flush() error);
// an http.ResponseWriter without one is flushed through
// http.ResponseController, which finds a Flush on wrapped writers.
func NewWriter(w io.Writer) *Writer {
	wr := &Writer{w: w}
	switch f := w.(type) {
	case interface{ Flush() error }:
		wr.flush = f.Flush
	case interface{ Flush() }:
		wr.flush = func() error { f.Flush(); return nil }
	case http.ResponseWriter:
		rc := http.NewResponseController(f)
		wr.flush = func() error {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
	}
	return wr
}

// ErrBadEventName reports an event name that would break the framing.
var ErrBadEventName = errors.New("llmapi: SSE event name contains a line break")

// WriteEvent writes ev as "event: NAME\ndata: DATA\n\n", leaving out the
// event line when Name is empty. Data containing line breaks is written as
// several data lines, which a reader joins back with "\n".
func (w *Writer) WriteEvent(ev Event) error {
	if bytes.ContainsAny([]byte(ev.Name), "\r\n") {
		return ErrBadEventName
	}
	b := w.buf[:0]
	if ev.Name != "" {
		b = append(b, "event: "...)
		b = append(b, ev.Name...)
		b = append(b, '\n')
	}
	data := ev.Data
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	if cap(b) <= keepBuf {
		w.buf = b
	}
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if w.flush != nil {
		return w.flush()
	}
	return nil
}

// WriteDone writes OpenAI's end-of-stream event, "data: [DONE]\n\n".
func (w *Writer) WriteDone() error { return w.WriteEvent(Event{Data: Done}) }
