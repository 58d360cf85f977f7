package llmapi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

const wireDir = "../../testdata/wire"

func readAll(t testing.TB, r io.Reader) []Event {
	t.Helper()
	rd := NewReader(r)
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		evs = append(evs, ev)
	}
}

func names(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		n := ev.Name
		if n == "" {
			n = "-"
		}
		out = append(out, n)
	}
	return out
}

func TestReaderFixtures(t *testing.T) {
	rep := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		file  string
		names []string
	}{
		{"anthropic-stream.sse", cat(
			[]string{"message_start", "content_block_start", "ping"},
			rep(7, "content_block_delta"),
			[]string{"content_block_stop", "message_delta", "message_stop"})},
		{"anthropic-stream-tools.sse", cat(
			[]string{"message_start", "content_block_start", "ping"},
			rep(7, "content_block_delta"),
			[]string{"content_block_stop", "message_delta", "message_stop"})},
		// No newline after the last data line: message_stop must still come out.
		{"anthropic-stream-text-tools.sse", cat(
			[]string{"message_start", "content_block_start", "ping"},
			rep(2, "content_block_delta"),
			[]string{"content_block_stop", "content_block_start"},
			rep(5, "content_block_delta"),
			[]string{"content_block_stop", "message_delta", "message_stop"})},
		{"anthropic-stream-thinking.sse", cat(
			[]string{"message_start", "content_block_start"},
			rep(5, "content_block_delta"),
			[]string{"content_block_stop", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"})},
		{"anthropic-stream-error.sse", []string{"error"}},
		{"openai-chat-stream.sse", rep(34, "-")},
		{"openai-chat-stream-tools.sse", rep(26, "-")},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(wireDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			evs := readAll(t, bytes.NewReader(raw))
			if got := names(evs); !reflect.DeepEqual(got, tt.names) {
				t.Fatalf("event names:\n got %v\nwant %v", got, tt.names)
			}
			for i, ev := range evs {
				if len(ev.Data) == 0 || bytes.ContainsAny(ev.Data, "\r\n") {
					t.Errorf("event %d: data %q", i, ev.Data)
				}
				if ev.Name != "" && !bytes.Contains(ev.Data, []byte(ev.Name)) {
					t.Errorf("event %d: data %s does not repeat its name %q", i, ev.Data, ev.Name)
				}
			}
			if strings.HasPrefix(tt.file, "openai") && !evs[len(evs)-1].IsDone() {
				t.Errorf("last OpenAI event is %q, want [DONE]", evs[len(evs)-1].Data)
			}
			// One byte at a time must give the same events.
			if slow := readAll(t, iotest.OneByteReader(bytes.NewReader(raw))); !reflect.DeepEqual(slow, evs) {
				t.Errorf("byte-at-a-time read differs")
			}
		})
	}
}

// Every fixture written back out and read again gives the same events.
func TestWriterRoundTripFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(wireDir, "*.sse"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs := readAll(t, bytes.NewReader(raw))
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, ev := range evs {
			if err := w.WriteEvent(ev); err != nil {
				t.Fatal(err)
			}
		}
		if again := readAll(t, &buf); !reflect.DeepEqual(again, evs) {
			t.Errorf("%s: round trip differs", filepath.Base(f))
		}
	}
}

// The fixtures use the canonical framing, so writing their events gives
// their bytes back (one file lacks the final newlines).
func TestWriterCanonicalBytes(t *testing.T) {
	for _, name := range []string{"anthropic-stream.sse", "openai-chat-stream-tools.sse", "anthropic-stream-text-tools.sse"} {
		raw, _ := os.ReadFile(filepath.Join(wireDir, name))
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, ev := range readAll(t, bytes.NewReader(raw)) {
			w.WriteEvent(ev)
		}
		want := string(raw)
		if !strings.HasSuffix(want, "\n\n") {
			want = strings.TrimRight(want, "\n") + "\n\n"
		}
		if buf.String() != want {
			t.Errorf("%s: writer output differs from the fixture", name)
		}
	}
}

func TestReaderCases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"no space after colon", "event:ping\ndata:{}\n\n", []Event{{"ping", []byte("{}")}}},
		{"only one space dropped", "data:  x\n\n", []Event{{"", []byte(" x")}}},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []Event{{"", []byte("a\nb\n")}}},
		{"CRLF", "event: e\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []Event{{"e", []byte("1")}, {"", []byte("2")}}},
		{"comments, id and retry ignored", ": hi\nid: 7\nretry: 100\nevent: e\n: mid\ndata: x\nfoo: bar\n\n", []Event{{"e", []byte("x")}}},
		{"field without colon", "data\n\n", []Event{{"", []byte("")}}},
		{"no data, no event", "event: lonely\n\ndata: y\n\n", []Event{{"", []byte("y")}}},
		{"blank lines between", "\n\n\ndata: a\n\n\n\ndata: b\n\n", []Event{{"", []byte("a")}, {"", []byte("b")}}},
		{"final event without blank line", "data: a\n\ndata: b\n", []Event{{"", []byte("a")}, {"", []byte("b")}}},
		{"final event without newline", "event: message_stop\ndata: {}", []Event{{"message_stop", []byte("{}")}}},
		{"final CRLF without blank line", "data: a\r\n", []Event{{"", []byte("a")}}},
		{"BOM", "\xEF\xBB\xBFdata: a\n\n", []Event{{"", []byte("a")}}},
		{"empty", "", nil},
		{"only comments", ": x\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, strings.NewReader(tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderLongLine(t *testing.T) {
	big := strings.Repeat("x", 3*readerBufSize+17)
	in := "event: big\ndata: " + big + "\r\n\r\ndata: small\n\ndata: " + big
	got := readAll(t, iotest.HalfReader(strings.NewReader(in)))
	if len(got) != 3 || got[0].Name != "big" || string(got[0].Data) != big || string(got[1].Data) != "small" || string(got[2].Data) != big {
		t.Fatalf("long lines: got %d events", len(got))
	}
}

// Data is a fresh slice per event: a later event must not overwrite it.
func TestReaderDataNotAliased(t *testing.T) {
	rd := NewReader(strings.NewReader("data: first\n\ndata: other\n\n"))
	a, _ := rd.Next()
	b, _ := rd.Next()
	if string(a.Data) != "first" || string(b.Data) != "other" {
		t.Fatalf("got %q %q", a.Data, b.Data)
	}
}

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	rd := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: cut"), iotest.ErrReader(boom)))
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first: %q %v", ev.Data, err)
	}
	// The interrupted event is dropped, not dispatched half-read.
	if _, err := rd.Next(); err != boom {
		t.Fatalf("err = %v, want boom", err)
	}
	if _, err := rd.Next(); err != boom {
		t.Fatalf("err is not sticky: %v", err)
	}
}

type flushCounter struct {
	bytes.Buffer
	n int
}

func (f *flushCounter) Flush() { f.n++ }

func TestWriter(t *testing.T) {
	var f flushCounter
	w := NewWriter(&f)
	w.WriteEvent(Event{Name: "message_stop", Data: []byte(`{"type":"message_stop"}`)})
	w.WriteEvent(Event{Data: []byte("a\nb\r\nc\rd")})
	w.WriteEvent(Event{Data: []byte("")})
	w.WriteDone()
	want := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n" +
		"data: a\ndata: b\ndata: c\ndata: d\n\n" +
		"data: \n\n" +
		"data: [DONE]\n\n"
	if f.String() != want {
		t.Fatalf("got %q\nwant %q", f.String(), want)
	}
	if f.n != 4 {
		t.Errorf("flushed %d times, want 4", f.n)
	}
	if err := w.WriteEvent(Event{Name: "a\nb"}); err != ErrBadEventName {
		t.Errorf("bad name: %v", err)
	}
}

func TestWriterFlushes(t *testing.T) {
	// bufio.Writer: Flush() error.
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	NewWriter(bw).WriteDone()
	if out.String() != "data: [DONE]\n\n" {
		t.Errorf("bufio.Writer not flushed: %q", out.String())
	}
	// httptest.ResponseRecorder is an http.Flusher.
	rec := httptest.NewRecorder()
	NewWriter(rec).WriteDone()
	if !rec.Flushed {
		t.Error("ResponseRecorder not flushed")
	}
	// A wrapper that hides Flush but unwraps to a writer that has it.
	rec = httptest.NewRecorder()
	NewWriter(wrapped{rec}).WriteDone()
	if !rec.Flushed {
		t.Error("wrapped ResponseWriter not flushed")
	}
}

// wrapped hides the recorder's Flush, as logging middleware often does,
// but unwraps to it for http.ResponseController.
type wrapped struct{ rec *httptest.ResponseRecorder }

func (w wrapped) Header() http.Header         { return w.rec.Header() }
func (w wrapped) Write(b []byte) (int, error) { return w.rec.Write(b) }
func (w wrapped) WriteHeader(code int)        { w.rec.WriteHeader(code) }
func (w wrapped) Unwrap() http.ResponseWriter { return w.rec }

func benchmarkRead(b *testing.B, name string) {
	raw, err := os.ReadFile(filepath.Join(wireDir, name))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(raw))
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkReaderAnthropic(b *testing.B) { benchmarkRead(b, "anthropic-stream-tools.sse") }
func BenchmarkReaderOpenAI(b *testing.B)    { benchmarkRead(b, "openai-chat-stream-tools.sse") }

func BenchmarkWriter(b *testing.B) {
	raw, _ := os.ReadFile(filepath.Join(wireDir, "anthropic-stream-tools.sse"))
	evs := readAll(b, bytes.NewReader(raw))
	w := NewWriter(io.Discard)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			w.WriteEvent(ev)
		}
	}
}
