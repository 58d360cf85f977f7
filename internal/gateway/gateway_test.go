package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func (e *env) openai(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func (e *env) anthropic(key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(e.base), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

func TestOpenAIPassThrough(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.openai(e.key)
	ctx := context.Background()

	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say this is a test")},
		N:        openai.Int(1),
		Logprobs: openai.Bool(false),
	}, option.WithJSONSet("x_vendor_extension", map[string]any{"keep": "me"}))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Choices []struct {
			Message struct{ Content string }
		}
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal(fixture(t, "openai-chat.json"), &want)
	if resp.Choices[0].Message.Content != want.Choices[0].Message.Content {
		t.Fatalf("content = %q", resp.Choices[0].Message.Content)
	}
	body, hdr, path := seen.last(t)
	if path != "/v1/chat/completions" {
		t.Fatalf("upstream path %s", path)
	}
	if hdr.Get("Authorization") != "Bearer "+upstreamOpenAIKey {
		t.Fatal("real key not injected")
	}
	if body["x_vendor_extension"].(map[string]any)["keep"] != "me" || body["n"] != float64(1) {
		t.Fatalf("unknown or passthrough fields lost: %v", body)
	}
	ev := e.lastEvent()
	if ev.Key != "test" || ev.Provider != "openai" || ev.Status != 200 || ev.InputTokens != want.Usage.PromptTokens || ev.OutputTokens != want.Usage.CompletionTokens {
		t.Fatalf("event = %+v", ev)
	}

	// An alias rewrites the model for the upstream only.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if body, _, _ := seen.last(t); body["model"] != "gpt-4o-mini" {
		t.Fatalf("alias sent model %v", body["model"])
	}
}

func TestOpenAIStreamPassThrough(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.openai(e.key)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var text strings.Builder
	usageChunks := 0
	for stream.Next() {
		ch := stream.Current()
		if len(ch.Choices) == 0 {
			usageChunks++
			continue
		}
		text.WriteString(ch.Choices[0].Delta.Content)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.Len() == 0 {
		t.Fatal("no streamed content")
	}
	// The gateway asked upstream for usage and hid it from a client that
	// did not ask, but accounted it.
	body, _, _ := seen.last(t)
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("upstream stream_options = %v", body["stream_options"])
	}
	if usageChunks != 0 {
		t.Fatalf("client got %d usage chunks it did not ask for", usageChunks)
	}
	if ev := e.lastEvent(); ev.InputTokens == 0 || ev.OutputTokens == 0 || !ev.Stream {
		t.Fatalf("stream usage not accounted: %+v", ev)
	}

	// A client that asks gets the usage chunk.
	stream = c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-4o",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var usage int64
	for stream.Next() {
		if u := stream.Current().Usage; u.TotalTokens > 0 {
			usage = u.TotalTokens
		}
	}
	if stream.Err() != nil || usage == 0 {
		t.Fatalf("usage chunk missing: %v", stream.Err())
	}
}

func TestAnthropicPassThrough(t *testing.T) {
	an, seen := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	c := e.anthropic(e.key)
	ctx := context.Background()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     "claude-haiku-4-5",
		MaxTokens: 256,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}, aoption.WithHeader("anthropic-beta", "prompt-caching-2024-07-31"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) == 0 || msg.Content[0].Text == "" {
		t.Fatalf("message = %+v", msg)
	}
	_, hdr, path := seen.last(t)
	if path != "/v1/messages" || hdr.Get("X-Api-Key") != upstreamAnthropicKey {
		t.Fatalf("upstream path %s / key injected %v", path, hdr.Get("X-Api-Key") == upstreamAnthropicKey)
	}
	if hdr.Get("Anthropic-Version") == "" || hdr.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" {
		t.Fatalf("anthropic headers not forwarded: %v", hdr)
	}
	if ev := e.lastEvent(); ev.OutputTokens != msg.Usage.OutputTokens || ev.InputTokens != msg.Usage.InputTokens+msg.Usage.CacheReadInputTokens+msg.Usage.CacheCreationInputTokens {
		t.Fatalf("usage event %+v vs %+v", ev, msg.Usage)
	}

	stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model: "claude-haiku-4-5", MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	acc := anthropic.Message{}
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil || len(acc.Content) == 0 || acc.Content[0].Text == "" {
		t.Fatalf("stream: %v %+v", stream.Err(), acc)
	}
	if ev := e.lastEvent(); ev.OutputTokens != acc.Usage.OutputTokens || ev.OutputTokens == 0 {
		t.Fatalf("stream usage event %+v vs %+v", ev, acc.Usage)
	}

	n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
		Model:    "claude-haiku-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	if err != nil || n.InputTokens != 14 {
		t.Fatalf("count_tokens = %+v, %v", n, err)
	}
}

func TestAuthErrors(t *testing.T) {
	oa, _ := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}
	for _, key := range []string{"cf-not-a-real-key-aaaaaaaaaaaaaaaaaaaa", upstreamOpenAIKey} {
		c := e.openai(key)
		_, err := c.Chat.Completions.New(ctx, params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Fatalf("key %q...: err = %v", key[:6], err)
		}
		if strings.Contains(err.Error(), upstreamOpenAIKey) {
			t.Fatal("error echoes the presented key")
		}
	}
	ac := e.anthropic("cf-nope")
	_, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 1,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
	var aErr *anthropic.Error
	if !errors.As(err, &aErr) || aErr.StatusCode != 401 || !strings.Contains(aErr.RawJSON(), `"authentication_error"`) {
		t.Fatalf("anthropic 401: %v", err)
	}
	// x-api-key works for OpenAI-format requests too.
	req, _ := http.NewRequest("POST", e.base+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("x-api-key", e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("x-api-key: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestBadRequests(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, strings.Replace(baseConfig, "providers:", "server:\n  max_body_bytes: 2048\nproviders:", 1), oa, nil)
	cases := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"broken JSON", "/v1/chat/completions", `{"model": "gpt-4o", "messages": [`, 400, "invalid JSON"},
		{"not an object", "/v1/chat/completions", `[1,2]`, 400, "not a JSON object"},
		{"missing model", "/v1/chat/completions", `{"messages":[]}`, 400, `has no \"model\"`},
		{"unknown model", "/v1/chat/completions", `{"model":"llama-9","messages":[]}`, 404, `model \"llama-9\" is not routed`},
		{"too big", "/v1/chat/completions", `{"model":"gpt-4o","pad":"` + strings.Repeat("x", 4096) + `"}`, 413, "over the gateway's limit of 2048 bytes"},
		{"anthropic unknown model", "/v1/messages", `{"model":"nope","max_tokens":1,"messages":[]}`, 404, `"not_found_error"`},
		{"embeddings to anthropic", "/v1/embeddings", `{"model":"claude-x","input":"a"}`, 400, "has no equivalent of /v1/embeddings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.raw(c.path, c.body)
			if status != c.status || !strings.Contains(string(body), c.want) {
				t.Fatalf("status %d body %s", status, body)
			}
			var shape map[string]any
			if json.Unmarshal(body, &shape) != nil || shape["error"] == nil {
				t.Fatalf("error body is not the API's error shape: %s", body)
			}
			if c.path == "/v1/messages" && shape["type"] != "error" {
				t.Fatalf("anthropic error shape: %s", body)
			}
		})
	}
	if seen.count() != 0 {
		t.Fatalf("bad requests reached the upstream %d times", seen.count())
	}
}

func TestUpstreamErrorsPassThrough(t *testing.T) {
	oa, _ := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.openai(e.key)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "rate-limited", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" {
		t.Fatalf("429 not passed through: %v", err)
	}
	if apiErr.Response.Header.Get("Retry-After") != "7" {
		t.Fatal("Retry-After not passed through")
	}
}

func TestMockEchoAndUsage(t *testing.T) {
	e := startGateway(t, `
routes:
  - model: "mock*"
    targets: [mock]
providers:
  mock:
    type: mock
    mock:
      chunk_size: 2
`, nil, nil)
	ctx := context.Background()
	c := e.openai(e.key)
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You are terse."), openai.UserMessage("echo this back, please"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "echo this back, please" {
		t.Fatalf("echo = %q", resp.Choices[0].Message.Content)
	}
	wantIn := int64(tokens.CountChat("mock", []tokens.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "echo this back, please"}}))
	if resp.Usage.PromptTokens != wantIn || resp.Usage.CompletionTokens != int64(tokens.Count("mock", "echo this back, please")) {
		t.Fatalf("usage = %+v, want prompt %d", resp.Usage, wantIn)
	}
	// Anthropic SDK against the same mock, streaming.
	ac := e.anthropic(e.key)
	stream := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "mock-claude", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream me"))}})
	acc := anthropic.Message{}
	for stream.Next() {
		acc.Accumulate(stream.Current())
	}
	if stream.Err() != nil || acc.Content[0].Text != "stream me" || acc.Usage.OutputTokens != int64(tokens.Count("mock", "stream me")) {
		t.Fatalf("anthropic mock stream: %v %+v", stream.Err(), acc)
	}
}

func TestFallbackToNextTarget(t *testing.T) {
	e := startGateway(t, `
routes:
  - model: resilient
    targets: [down, up/backup-model]
providers:
  down:
    type: mock
    mock: {fail_status: 503}
  up:
    type: mock
    mock: {reply: "from the backup"}
`, nil, nil)
	c := e.openai(e.key)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "resilient", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	if err != nil || resp.Choices[0].Message.Content != "from the backup" || resp.Model != "backup-model" {
		t.Fatalf("fallback: %v %+v", err, resp)
	}
	if ev := e.lastEvent(); ev.Provider != "up" {
		t.Fatalf("event provider = %s", ev.Provider)
	}
}

// A client that goes away cancels the upstream call, on both HTTP
// servers (server.http_server), whether it was waiting for a whole
// response or reading a stream.
// A client that goes away mid-call cancels the upstream call and is
// recorded as 499 (client closed request), not as a provider failure:
// while the gateway waits for the upstream's head, for its body (the
// upstream sent its head and stalls), and mid-stream.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, hs := range []string{"lean", "net/http"} {
		for _, mode := range []string{"stream", "head", "body"} {
			t.Run(hs+"/"+mode, func(t *testing.T) {
				testClientDisconnect(t, hs, mode)
			})
		}
	}
}

func testClientDisconnect(t *testing.T, httpServer, mode string) {
	streamed := mode == "stream"
	started := make(chan struct{})
	cancelled := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a client going away only once the body is read.
		io.ReadAll(r.Body)
		switch mode {
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		case "body":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			io.WriteString(w, `{"id":"x",`)
			w.(http.Flusher).Flush()
		}
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second): // a failing test still ends
		}
	}))
	t.Cleanup(slow.Close)
	e := startGateway(t, `
server:
  http_server: `+httpServer+`
providers:
  slow:
    type: openai-compatible
    base_url: `+slow.URL+`
routes:
  - model: slow
    targets: [slow]
`, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c := e.openai(e.key)
	params := openai.ChatCompletionNewParams{Model: "slow", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}
	if streamed {
		stream := c.Chat.Completions.NewStreaming(ctx, params)
		go func() { stream.Next() }()
	} else {
		go c.Chat.Completions.New(ctx, params, option.WithMaxRetries(0))
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never called")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("client disconnect did not cancel the upstream call")
	}
	if ev := e.lastEvent(); ev.Status != 499 {
		t.Fatalf("a client that went away is recorded as %d (%s), want 499", ev.Status, ev.Error)
	}
}

func TestShutdownDrainsStream(t *testing.T) {
	for _, hs := range []string{"lean", "net/http"} {
		t.Run(hs, func(t *testing.T) { testShutdownDrainsStream(t, hs) })
	}
}

func testShutdownDrainsStream(t *testing.T, httpServer string) {
	e := startGateway(t, `
server:
  http_server: `+httpServer+`
providers:
  mock:
    type: mock
    mock: {chunk_delay: 30ms}
routes:
  - model: mock
    targets: [mock]
`, nil, nil)
	c := e.openai(e.key)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "mock",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five six seven eight nine ten eleven twelve")}})
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	e.cancel() // SIGTERM: stop accepting, drain
	var text strings.Builder
	for stream.Next() {
		if len(stream.Current().Choices) > 0 {
			text.WriteString(stream.Current().Choices[0].Delta.Content)
		}
	}
	if stream.Err() != nil || text.String() != "one two three four five six seven eight nine ten eleven twelve" {
		t.Fatalf("stream not drained: %v %q", stream.Err(), text.String())
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatal(err)
		}
		e.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop after draining")
	}
	if _, err := net.DialTimeout("tcp", e.srv.Addr(), time.Second); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}
