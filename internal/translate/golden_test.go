package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/llmapi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/translate")

const (
	wireDir   = "../../testdata/wire"
	goldenDir = "../../testdata/translate"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// "created" must not change between runs.
	now = func() time.Time { return time.Unix(1750000000, 0) }
	os.Exit(m.Run())
}

// input reads a test input: "wire/NAME" or "translate/NAME", optionally
// followed by "#" and a dot-separated path into the JSON ("0.request.body").
func input(t testing.TB, ref string) []byte {
	t.Helper()
	file, path, _ := strings.Cut(ref, "#")
	dir, name, _ := strings.Cut(file, "/")
	base := map[string]string{"wire": wireDir, "translate": goldenDir}[dir]
	raw, err := os.ReadFile(filepath.Join(base, name))
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		return raw
	}
	for _, key := range strings.Split(path, ".") {
		if i, err := strconv.Atoi(key); err == nil {
			var a []json.RawMessage
			if err := json.Unmarshal(raw, &a); err != nil || i >= len(a) {
				t.Fatalf("%s: no index %d", ref, i)
			}
			raw = a[i]
		} else {
			var o map[string]json.RawMessage
			if err := json.Unmarshal(raw, &o); err != nil || o[key] == nil {
				t.Fatalf("%s: no key %q", ref, key)
			}
			raw = o[key]
		}
	}
	return raw
}

// golden compares got with testdata/translate/NAME, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

// pretty indents a JSON body for a readable golden file, after checking
// it is valid.
func pretty(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// readEvents parses an SSE file with the llmapi reader.
func readEvents(t testing.TB, raw []byte) []llmapi.Event {
	t.Helper()
	rd := llmapi.NewReader(bytes.NewReader(raw))
	var evs []llmapi.Event
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		evs = append(evs, ev)
	}
	return evs
}

// runStream feeds events through a translator and returns the emitted
// stream as SSE text, written by the llmapi writer.
func runStream(t testing.TB, tr StreamTranslator, evs []llmapi.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := llmapi.NewWriter(&buf)
	emit := func(ev llmapi.Event) error {
		if !json.Valid(ev.Data) && !ev.IsDone() {
			t.Errorf("emitted invalid JSON: %s", ev.Data)
		}
		return w.WriteEvent(ev)
	}
	for _, ev := range evs {
		if err := tr.Translate(ev, emit); err != nil {
			t.Fatalf("Translate: %v", err)
		}
	}
	if err := tr.Finish(emit); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return buf.Bytes()
}

func TestOpenAIRequestToAnthropicGolden(t *testing.T) {
	tests := []struct {
		in, golden string
		opt        Options
	}{
		{"wire/openai-request-tools.json", "openai-request-tools.to-anthropic.golden.json", Options{Model: "claude-sonnet-4-5"}},
		{"translate/openai-request-chat.json", "openai-request-chat.to-anthropic.golden.json", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, err := OpenAIRequestToAnthropic(input(t, tt.in), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, pretty(t, out))
		})
	}
}

func TestAnthropicRequestToOpenAIGolden(t *testing.T) {
	tests := []struct {
		in, golden string
		opt        Options
	}{
		{"wire/anthropic-request-claude-code.json", "anthropic-request-claude-code.to-openai.golden.json", Options{Model: "gpt-5.4", Reasoning: true}},
		{"wire/anthropic-request-claude-code-2.1.328.json", "anthropic-request-claude-code-2.1.328.to-openai.golden.json", Options{Model: "gpt-5.4", Reasoning: true}},
		{"wire/anthropic-exchange-tools.json#1.request.body", "anthropic-exchange-tools.to-openai.golden.json", Options{}},
		{"wire/anthropic-count-tokens.json#with_tools.request", "anthropic-count-tokens.to-openai.golden.json", Options{}},
		{"translate/anthropic-request-features.json", "anthropic-request-features.to-openai.golden.json", Options{Reasoning: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, err := AnthropicRequestToOpenAI(input(t, tt.in), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, pretty(t, out))
		})
	}
}

func TestAnthropicResponseToOpenAIGolden(t *testing.T) {
	tests := []struct {
		in, golden, model string
	}{
		{"wire/anthropic-messages.json", "anthropic-messages.to-openai.golden.json", "claude-haiku"},
		{"wire/anthropic-messages-tools.json", "anthropic-messages-tools.to-openai.golden.json", ""},
		{"translate/anthropic-response-thinking.json", "anthropic-response-thinking.to-openai.golden.json", "claude-sonnet"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, err := AnthropicResponseToOpenAI(input(t, tt.in), tt.model)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, pretty(t, out))
		})
	}
}

func TestOpenAIResponseToAnthropicGolden(t *testing.T) {
	tests := []struct {
		in, golden, model string
	}{
		{"wire/openai-chat.json", "openai-chat.to-anthropic.golden.json", "gpt-4o"},
		{"wire/openai-chat-tools.json", "openai-chat-tools.to-anthropic.golden.json", ""},
		{"translate/openai-response-cached.json", "openai-response-cached.to-anthropic.golden.json", ""},
		{"translate/openai-response-refusal.json", "openai-response-refusal.to-anthropic.golden.json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, err := OpenAIResponseToAnthropic(input(t, tt.in), tt.model)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, pretty(t, out))
		})
	}
}

func TestAnthropicToOpenAIStreamGolden(t *testing.T) {
	tests := []struct {
		in, golden, model string
		includeUsage      bool
	}{
		{"wire/anthropic-stream.sse", "anthropic-stream.to-openai.golden.sse", "claude-haiku", true},
		{"wire/anthropic-stream.sse", "anthropic-stream.to-openai-no-usage.golden.sse", "claude-haiku", false},
		{"wire/anthropic-stream-tools.sse", "anthropic-stream-tools.to-openai.golden.sse", "", true},
		{"wire/anthropic-stream-text-tools.sse", "anthropic-stream-text-tools.to-openai.golden.sse", "", true},
		{"wire/anthropic-stream-thinking.sse", "anthropic-stream-thinking.to-openai.golden.sse", "", true},
		{"wire/anthropic-stream-error.sse", "anthropic-stream-error.to-openai.golden.sse", "claude", true},
		{"translate/anthropic-stream-cache.sse", "anthropic-stream-cache.to-openai.golden.sse", "", true},
		{"translate/anthropic-stream-truncated.sse", "anthropic-stream-truncated.to-openai.golden.sse", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			evs := readEvents(t, input(t, tt.in))
			golden(t, tt.golden, runStream(t, NewAnthropicToOpenAIStream(tt.model, tt.includeUsage), evs))
		})
	}
}

func TestOpenAIToAnthropicStreamGolden(t *testing.T) {
	tests := []struct {
		in, golden, model string
	}{
		{"wire/openai-chat-stream.sse", "openai-chat-stream.to-anthropic.golden.sse", "gpt-4o"},
		{"wire/openai-chat-stream-tools.sse", "openai-chat-stream-tools.to-anthropic.golden.sse", ""},
		{"translate/openai-stream-text-tools.sse", "openai-stream-text-tools.to-anthropic.golden.sse", ""},
		{"translate/openai-stream-error.sse", "openai-stream-error.to-anthropic.golden.sse", ""},
		{"translate/openai-stream-truncated.sse", "openai-stream-truncated.to-anthropic.golden.sse", ""},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			evs := readEvents(t, input(t, tt.in))
			golden(t, tt.golden, runStream(t, NewOpenAIToAnthropicStream(tt.model), evs))
		})
	}
}

// Error bodies of both fixtures, translated, in one golden file per
// direction.
func TestErrorGolden(t *testing.T) {
	type example struct {
		Name   string          `json:"name"`
		Status int             `json:"http_status"`
		Body   json.RawMessage `json:"body"`
	}
	run := func(fixture, golden_ string, conv func(int, []byte) []byte) {
		var f struct {
			Examples []example `json:"examples"`
		}
		if err := json.Unmarshal(input(t, fixture), &f); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, ex := range f.Examples {
			out = append(out, []byte(`{"status":`+strconv.Itoa(ex.Status)+`,"body":`+string(conv(ex.Status, ex.Body))+`}`))
		}
		// Bodies that are not the API's JSON still give a valid error.
		out = append(out, []byte(`{"status":502,"body":`+string(conv(502, []byte("<html>Bad Gateway</html>")))+`}`))
		out = append(out, []byte(`{"status":503,"body":`+string(conv(503, nil))+`}`))
		b := bytes.Join(out, []byte(","))
		golden(t, golden_, pretty(t, append(append([]byte("["), b...), ']')))
	}
	run("wire/anthropic-error.json", "anthropic-error.to-openai.golden.json", AnthropicErrorToOpenAI)
	run("wire/openai-error.json", "openai-error.to-anthropic.golden.json", OpenAIErrorToAnthropic)
}
