package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/credflow/credflow/pkg/llmapi"
)

// Micro-benchmarks of the request path's own work, one piece at a time:
// what a request costs the gateway apart from the network (BenchmarkProxy
// in bench_test.go measures the whole round trip).

func wire(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wire", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

const smallRequest = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today?"}],"temperature":0.2}`

// BenchmarkRequestFields reads "model" and "stream", all the request path
// parses of a same-format request.
func BenchmarkRequestFields(b *testing.B) {
	for name, body := range map[string][]byte{"small": []byte(smallRequest), "tools": wire(b, "openai-request-tools.json")} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := requestFields(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrepare builds the upstream request of a same-format call: the
// model renamed, and for a stream OpenAI's include_usage added.
func BenchmarkPrepare(b *testing.B) {
	s := &Server{}
	st := &state{}
	p, _ := provider.New("up", config.Provider{Type: "openai-compatible", BaseURL: "http://127.0.0.1:1/v1"}, "", nil)
	for _, stream := range []bool{false, true} {
		b.Run(map[bool]string{false: "rename", true: "rename+include_usage"}[stream], func(b *testing.B) {
			b.ReportAllocs()
			c := &call{client: provider.FormatOpenAI, endpoint: provider.ChatCompletions}
			c.ev.Model = "fast"
			for b.Loop() {
				if _, _, aerr := s.prepare(st, p, c, route.Target{Provider: "up", Model: "gpt-4o-mini"}, []byte(smallRequest), stream, nil); aerr != nil {
					b.Fatal(aerr)
				}
			}
		})
	}
}

// BenchmarkTapBody reads the usage off a non-streaming response.
func BenchmarkTapBody(b *testing.B) {
	for _, c := range []struct {
		name string
		f    provider.Format
	}{{"openai-chat.json", provider.FormatOpenAI}, {"anthropic-messages.json", provider.FormatAnthropic}} {
		body := wire(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var u eventUsage
				tapBody(c.f, body, &u)
				if !u.final {
					b.Fatal("no usage found")
				}
			}
		})
	}
}

// BenchmarkRelayStream reads a recorded stream and taps every event, as
// relayStream does (without the client write).
func BenchmarkRelayStream(b *testing.B) {
	for _, c := range []struct {
		name string
		f    provider.Format
	}{{"openai-chat-stream.sse", provider.FormatOpenAI}, {"anthropic-stream.sse", provider.FormatAnthropic}} {
		data := wire(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var u eventUsage
				rd := llmapi.NewReader(bytes.NewReader(data))
				for {
					ev, err := rd.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					tapEvent(c.f, ev, &u)
					if c.f == provider.FormatOpenAI {
						isUsageOnlyChunk(ev.Data)
					}
				}
				if !u.final {
					b.Fatal("no usage found")
				}
			}
		})
	}
}

// BenchmarkAccount is the accounting of one finished request: price,
// metrics, the ledger's in-memory batch and the event bus (with one
// subscriber, as a running `credflow top` or the status's day counter).
func BenchmarkAccount(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, store.FileName)
	open := func() (*store.DB, error) { return store.Open(path, store.Options{Process: "bench"}) }
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), bus: NewBus()}
	s.metrics = newMetrics(s)
	s.ledger = ledger.NewWriter(open, ledger.Options{FlushInterval: 50 * time.Millisecond})
	defer s.ledger.Close(b.Context())
	events, cancel := s.bus.Subscribe(4096)
	defer cancel()
	go func() {
		for range events {
		}
	}()
	pc := config.Provider{Type: "openai", BaseURL: "https://api.openai.com/v1"}
	cfg := &config.Config{Providers: map[string]config.Provider{"up": pc}}
	st := &state{cfg: cfg, prices: PriceTable(cfg)}
	st.priceIDs = map[string]string{"up": PricingProvider(st.prices, pc)}
	if _, ok := st.price("up", "gpt-4o-mini"); !ok {
		b.Fatal("gpt-4o-mini has no price")
	}
	b.ReportAllocs()
	for b.Loop() {
		c := &call{st: st}
		c.ev.Key, c.ev.Model, c.ev.Provider, c.ev.UpstreamModel, c.ev.Status = "bench", "gpt-4o-mini", "up", "gpt-4o-mini", 200
		c.ev.LatencyMS, c.ev.TTFBMS = 1.5, 1.2
		c.usage = eventUsage{final: true, InputTokens: 12, OutputTokens: 9}
		s.account(c)
	}
}

// BenchmarkMetricsObserve is the Prometheus part of accounting.
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics(&Server{auth: nil})
	ev := adminapi.Event{Key: "bench", Model: "gpt-4o-mini", Provider: "up", Status: 200, LatencyMS: 1.5, TTFBMS: 1.2,
		InputTokens: 12, OutputTokens: 9, CostKnown: true, CostMicros: 8}
	b.ReportAllocs()
	for b.Loop() {
		m.observe(&ev)
	}
}

// TestRequestFields checks the one-pass reader: model, stream and the
// output cap as a JSON decoder reads them, and every body the gateway
// could read differently from an upstream refused with a 400 naming the
// field.
func TestRequestFields(t *testing.T) {
	for _, c := range []struct {
		body   string
		model  string
		stream bool
		cap    int64
		code   string // error code, "" for none
		param  string
	}{
		{body: `{"model":"gpt-4o","stream":true}`, model: "gpt-4o", stream: true},
		{body: `{"stream":false,"model":"gpt-4o"}`, model: "gpt-4o"},
		{body: `{"model":"gpt-4o","stream":null}`, model: "gpt-4o"},
		{body: `{"model":"g\u00e9\"x","stream":true}`, model: "gé\"x", stream: true},
		{body: `{"model":"gé","messages":[{"model":"inner","stream":"x"}]}`, model: "gé"},
		{body: `{"model":"m","max_tokens":100,"max_completion_tokens":300}`, model: "m", cap: 300},
		{body: `{"model":"m","max_output_tokens":2147483647}`, model: "m", cap: 2147483647},
		{body: `{"model":"m","max_tokens":null}`, model: "m"},
		// A repeated field: upstreams disagree on which copy counts.
		{body: `{"model":"a","model":"b","stream":true}`, code: "duplicate_field", param: "model"},
		{body: `{"model":"a","stream":true,"stream":false}`, code: "duplicate_field", param: "stream"},
		{body: `{"model":"a","mod\u0065l":"b"}`, code: "duplicate_field", param: "model"},
		{body: `{"model":"a","Model":"b"}`, code: "duplicate_field", param: "model"},
		{body: `{"model":"a","messages":[],"messages":[]}`, code: "duplicate_field", param: "messages"},
		// A checked field in another case: Go decoders would read it.
		{body: `{"model":"a","MAX_TOKENS":100000}`, code: "invalid_field", param: "MAX_TOKENS"},
		{body: `{"model":"a","\u017ftream":true}`, code: "invalid_field", param: "ſtream"},
		{body: `{"model":"a","max_to\u212aens":5}`, code: "invalid_field", param: "max_to\u212aens"},
		// Output caps: whole numbers from 1 to 2^31-1.
		{body: `{"model":"m","max_completion_tokens":-1000000000}`, code: "invalid_value", param: "max_completion_tokens"},
		{body: `{"model":"m","max_tokens":0}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":"m","max_tokens":1.5}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":"m","max_tokens":1e3}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":"m","max_tokens":"100"}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":"m","max_output_tokens":2147483648}`, code: "invalid_value", param: "max_output_tokens"},
		{body: `{"model":"m","max_tokens":99999999999999999999999}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":"m","max_tokens":007}`, code: "invalid_value", param: "max_tokens"},
		{body: `{"model":null}`, code: "missing_model", param: "model"},
		{body: `{"model":""}`, code: "missing_model", param: "model"},
		{body: `{"model":7}`, code: "invalid_json", param: "model"},
		{body: `{"model":"x","stream":"yes"}`, param: "stream", code: "-"},
		{body: `{"model":"x","stream":1}`, param: "stream", code: "-"},
		{body: `{"model":"x", "stream":true, "tail": [`, code: "invalid_json"},
		{body: `[1]`, code: "invalid_json"},
		{body: ``, code: "invalid_json"},
		{body: `{"model":"x"} trailing`, code: "invalid_json"},
	} {
		f, aerr := requestFields([]byte(c.body))
		switch {
		case c.code == "" && aerr != nil:
			t.Errorf("%s: unexpected error %+v", c.body, aerr)
		case c.code != "" && aerr == nil:
			t.Errorf("%s: accepted (%+v), want a 400 %s", c.body, f, c.code)
		case aerr != nil && (aerr.Status != 400 || (c.code != "-" && aerr.Code != c.code) || aerr.Param != c.param):
			t.Errorf("%s: error %+v, want 400 code %s param %q", c.body, aerr, c.code, c.param)
		case aerr == nil && (f.model != c.model || f.stream != c.stream || f.outCap != c.cap):
			t.Errorf("%s: %+v, want model %q stream %v cap %d", c.body, f, c.model, c.stream, c.cap)
		}
	}
}

func TestWithUsage(t *testing.T) {
	for body, want := range map[string]string{
		`{"model":"m","stream":true}`:                                         `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","stream_options":null}`:                                 `{"model":"m","stream_options":{"include_usage":true}}`,
		`{"model":"m","stream_options":{"include_usage":true}}`:               `{"model":"m","stream_options":{"include_usage":true}}`,
		`{"model":"m","stream_options":{"include_obfuscation":false}}`:        `{"model":"m","stream_options":{"include_obfuscation":false,"include_usage":true}}`,
		`{"model":"m","stream_options":{"include_usage":false}}`:              `{"model":"m","stream_options":{"include_usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
	} {
		got, asked, err := withUsage([]byte(body))
		if err != nil || string(got) != want || asked != strings.Contains(body, `"include_usage":true`) {
			t.Errorf("%s: %s asked=%v %v, want %s", body, got, asked, err, want)
		}
	}
	if _, _, err := withUsage([]byte(`{"stream_options":3}`)); err == nil {
		t.Error("stream_options 3 accepted")
	}
}

func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		data        string
		length      int64
		want        string
		unexpectEOF bool
	}{
		{"hello", 5, "hello", false},
		{"hello", -1, "hello", false},
		{"hello", 0, "hello", false}, // a Response that did not say its length
		{"hel", 5, "hel", true},
		{"", 5, "", true},
		{"hello world", 100, "hello world", true},
	} {
		got, err := readBody(strings.NewReader(c.data), c.length, 1<<20)
		if string(got) != c.want || (err == io.ErrUnexpectedEOF) != c.unexpectEOF || (err != nil && err != io.ErrUnexpectedEOF) {
			t.Errorf("%q length %d: %q, %v", c.data, c.length, got, err)
		}
	}
	if got, _ := readBody(strings.NewReader("0123456789"), 10, 4); string(got) != "0123" {
		t.Errorf("limit not applied: %q", got)
	}
}

func TestApplyAnthropicEdgeCases(t *testing.T) {
	var u eventUsage
	applyAnthropic([]byte(`{"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":5}`), &u)
	// null leaves a count as it was; a malformed object changes nothing.
	applyAnthropic([]byte(`{"input_tokens":null,"output_tokens":7}`), &u)
	applyAnthropic([]byte(`{"input_tokens":99,"output_tokens":"8"}`), &u)
	applyAnthropic([]byte(`{"input_tokens":99,`), &u)
	if u.InputTokens != 15 || u.OutputTokens != 7 || u.CachedTokens != 5 || u.CacheWriteTokens != 0 {
		t.Errorf("%+v", u)
	}
}
