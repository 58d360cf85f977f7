package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Claude Code's models routed to OpenAI-format upstreams: gpt-5.4
// reasons, gpt-4o does not, a local model is unknown to the catalogue
// (so does not reason), and one route translates strictly.
const claudeCodeConfig = `
providers:
  openai:
    type: openai
    base_url: {{OPENAI}}/v1
    secret: openai
  local:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
    secret: openai
routes:
  - model: claude-sonnet-4-5
    targets: [openai/gpt-5.4]
  - model: claude-haiku-4-5
    targets: [openai/gpt-4o]
  - model: claude-local
    targets: [local/qwen-coder]
  - model: claude-strict
    targets: [openai/gpt-5.4]
    translate: strict
  - model: "gpt-*"
    targets: [openai]
`

// claudeCodeRequest is the recorded first request of Claude Code 2.1.328
// (testdata/wire), for model, and its anthropic-beta header.
func claudeCodeRequest(t *testing.T, model string) ([]byte, string) {
	t.Helper()
	body := fixture(t, "anthropic-request-claude-code-2.1.328.json")
	body = bytes.Replace(body, []byte(`"model": "claude-sonnet-4-5"`), []byte(`"model": "`+model+`"`), 1)
	if !bytes.Contains(body, []byte(`"model": "`+model+`"`)) {
		t.Fatal("the fixture's model field moved")
	}
	beta := ""
	sc := bufio.NewScanner(bytes.NewReader(fixture(t, "anthropic-request-claude-code-2.1.328.headers.txt")))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Anthropic-Beta: "); ok {
			beta = v
		}
	}
	if beta == "" {
		t.Fatal("no Anthropic-Beta in the recorded headers")
	}
	return body, beta
}

// sendClaudeCode sends the recorded request through the Anthropic SDK as
// Claude Code does (streaming, with its betas) and returns the response
// headers and the accumulated message.
func sendClaudeCode(t *testing.T, e *env, model string) (http.Header, anthropic.Message, error) {
	t.Helper()
	body, beta := claudeCodeRequest(t, model)
	var resp *http.Response
	c := e.anthropic(e.key)
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{},
		aoption.WithRequestBody("application/json", body), aoption.WithHeader("anthropic-beta", beta),
		aoption.WithResponseInto(&resp))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	var h http.Header
	if resp != nil {
		h = resp.Header
	}
	return h, msg, stream.Err()
}

// syncBuffer is a log destination safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Claude Code on a GPT model: its request is translated with every hint
// dropped and named, its betas stay home, and the answer comes back as an
// Anthropic stream.
func TestClaudeCodeOnOpenAIModel(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig, oa, nil)
	// Restarted with a log to read (once serving: a gateway stopped
	// before it serves keeps its listener).
	if resp, err := http.Get(e.base + "/healthz"); err == nil {
		resp.Body.Close()
	}
	logs := &syncBuffer{}
	e.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	e.restart()

	hdr, msg, err := sendClaudeCode(t, e, "claude-sonnet-4-5")
	if err != nil {
		t.Fatalf("Claude Code's request to gpt-5.4: %v", err)
	}
	if msg.StopReason != "tool_use" || len(msg.Content) == 0 {
		t.Fatalf("translated stream: %+v", msg)
	}
	const want = "context_management, system[*].cache_control, messages[0].content[9].cache_control, tools[10].defer_loading, thinking.display"
	if got := hdr.Get("X-Credflow-Dropped"); got != want {
		t.Errorf("x-credflow-dropped = %q\nwant %q", got, want)
	}
	body, uh, path := seen.last(t)
	if path != "/v1/chat/completions" || body["model"] != "gpt-5.4" {
		t.Fatalf("upstream got %s for %v", path, body["model"])
	}
	seen.mu.Lock()
	raw := seen.bodies[len(seen.bodies)-1]
	seen.mu.Unlock()
	for _, leak := range []string{"context_management", "cache_control", `"display"`, "defer_loading", "thinking", "clear_thinking"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("%s reached the OpenAI upstream", leak)
		}
	}
	if body["reasoning_effort"] != "high" {
		t.Errorf("gpt-5.4 reasons: reasoning_effort = %v, want high (thinking budget 31999)", body["reasoning_effort"])
	}
	for _, h := range []string{"Anthropic-Version", "Anthropic-Beta"} {
		if v := uh.Get(h); v != "" {
			t.Errorf("%s: %q forwarded to the OpenAI upstream", h, v)
		}
	}
	// The request log line names them too (written once the request is
	// accounted, after the stream's end).
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), `dropped="`+want+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("request log lacks the dropped fields:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Only a model that reasons gets reasoning_effort: gpt-4o and a local
// model the catalogue does not know get none, and the header says the
// thinking setting was dropped.
func TestClaudeCodeThinkingOnlyForReasoningModels(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig, oa, nil)
	for model, upstream := range map[string]string{"claude-haiku-4-5": "gpt-4o", "claude-local": "qwen-coder"} {
		hdr, _, err := sendClaudeCode(t, e, model)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		body, _, _ := seen.last(t)
		if body["model"] != upstream || body["reasoning_effort"] != nil {
			t.Errorf("%s → %v: reasoning_effort %v, want none", model, body["model"], body["reasoning_effort"])
		}
		if got := hdr.Get("X-Credflow-Dropped"); !strings.HasSuffix(got, ", thinking") {
			t.Errorf("%s: x-credflow-dropped = %q, want thinking named", model, got)
		}
	}
}

// A route with translate: strict refuses the first hint, in Anthropic's
// error shape, and sends nothing upstream.
func TestClaudeCodeStrictRoute(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig, oa, nil)
	_, _, err := sendClaudeCode(t, e, "claude-strict")
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Error(), `context_management\" cannot be translated`) ||
		!strings.Contains(apiErr.Error(), "translate: strict") {
		t.Fatalf("strict route: %v", err)
	}
	if seen.count() != 0 {
		t.Fatal("a refused request reached the upstream")
	}
}

// Claude Code 2.1.197 sends a system message inside messages for model
// names it does not know: it becomes an OpenAI system message in place.
func TestAnthropicSystemMessageToOpenAI(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig, oa, nil)
	status, _, out := e.raw("/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":50,"messages":[
		{"role":"system","content":"You are terse."},{"role":"user","content":"hi"}]}`, "anthropic-version", "2023-06-01")
	if status != 200 {
		t.Fatalf("status %d: %s", status, out)
	}
	body, _, _ := seen.last(t)
	msgs := body["messages"].([]any)
	if first := msgs[0].(map[string]any); first["role"] != "system" || first["content"] != "You are terse." {
		t.Errorf("upstream messages: %v", msgs)
	}
}

// count_tokens for a model on an OpenAI-format provider is answered by
// credflow's tokenizer, in Anthropic's shape, without an upstream call.
func TestCountTokensOnOpenAIModel(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig, oa, nil)
	c := e.anthropic(e.key)
	res, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet-4-5",
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := tokens.CountChat("gpt-5.4", []tokens.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hello there"}})
	if res.InputTokens != int64(want) {
		t.Errorf("input_tokens = %d, want %d", res.InputTokens, want)
	}
	// Tool definitions count: Claude Code's twelve tools (descriptions
	// shortened in the recording) weigh about two thousand.
	body, _ := claudeCodeRequest(t, "claude-sonnet-4-5")
	res, err = c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{},
		aoption.WithRequestBody("application/json", body))
	if err != nil {
		t.Fatal(err)
	}
	if res.InputTokens < 2000 {
		t.Errorf("Claude Code's request counts %d tokens", res.InputTokens)
	}
	if seen.count() != 0 {
		t.Error("count_tokens reached the OpenAI upstream")
	}
	if ev := e.lastEvent(); ev.Status != 200 || ev.InputTokens != 0 || ev.CostMicros != 0 || ev.Estimated {
		t.Errorf("a count is not billed: %+v", ev)
	}
}

// The OpenAI → Anthropic direction reports its dropped hints the same
// way: here a message name, which Anthropic has no place for.
func TestOpenAIClientDroppedHeader(t *testing.T) {
	an, seen := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	var resp *http.Response
	c := e.openai(e.key)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-haiku-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{{OfUser: &openai.ChatCompletionUserMessageParam{
			Name: openai.String("alice"), Content: openai.ChatCompletionUserMessageParamContentUnion{OfString: openai.String("hi")}}}},
		PromptCacheKey: openai.String("session-1"),
	}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Credflow-Dropped"); got != "prompt_cache_key, messages[0].name" {
		t.Errorf("x-credflow-dropped = %q", got)
	}
	body, _, _ := seen.last(t)
	if m := body["messages"].([]any)[0].(map[string]any); m["content"] != "hi" || m["name"] != nil {
		t.Errorf("upstream message %v", m)
	}
}

// The recorded fixture in testdata/wire is the one in ../shared/data/wire.
func TestClaudeCodeFixtureIsTheRecording(t *testing.T) {
	for _, name := range []string{"anthropic-request-claude-code-2.1.328.json", "anthropic-request-claude-code-2.1.328.headers.txt"} {
		shared, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", "wire", name))
		if errors.Is(err, os.ErrNotExist) {
			t.Skip("../shared is absent")
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared, fixture(t, name)) {
			t.Errorf("testdata/wire/%s differs from the recording", name)
		}
	}
}

// A prices: override says a model reasons: then it gets reasoning_effort.
func TestReasoningOverride(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, claudeCodeConfig+"prices:\n  local/qwen-coder: {input: \"0\", output: \"0\", reasoning: true}\n", oa, nil)
	hdr, _, err := sendClaudeCode(t, e, "claude-local")
	if err != nil {
		t.Fatal(err)
	}
	if body, _, _ := seen.last(t); body["reasoning_effort"] != "high" {
		t.Errorf("local model declared reasoning: reasoning_effort %v, want high", body["reasoning_effort"])
	}
	if got := hdr.Get("X-Credflow-Dropped"); !strings.HasSuffix(got, ", thinking.display") {
		t.Errorf("x-credflow-dropped = %q", got)
	}
}
