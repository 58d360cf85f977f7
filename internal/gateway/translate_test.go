package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Get the weather"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

// An OpenAI client asking for a Claude model: the request is translated to
// the Messages API, the answer back to a chat completion.
func TestOpenAIClientToAnthropicProvider(t *testing.T) {
	an, seen := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	c := e.openai(e.key)
	ctx := context.Background()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "claude-haiku-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."), openai.UserMessage("hello"),
		},
		Stop: openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, hdr, path := seen.last(t)
	if path != "/v1/messages" || hdr.Get("X-Api-Key") != upstreamAnthropicKey {
		t.Fatalf("upstream path %s", path)
	}
	if body["system"] == nil || body["max_tokens"] != float64(4096) || body["stop_sequences"].([]any)[0] != "END" {
		t.Fatalf("translated request: %v", body)
	}
	var want struct {
		Content []struct{ Text string } `json:"content"`
		Usage   struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal(fixture(t, "anthropic-messages.json"), &want)
	if resp.Object != "chat.completion" || resp.Choices[0].Message.Content != want.Content[0].Text || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("translated response: %+v", resp)
	}
	if resp.Usage.CompletionTokens != want.Usage.OutputTokens || resp.Usage.PromptTokens < want.Usage.InputTokens {
		t.Fatalf("usage %+v vs %+v", resp.Usage, want.Usage)
	}

	// Streaming with tool calls: tool_use blocks arrive as tool-call deltas.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "claude-haiku-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in SF?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) == 0 || len(acc.Choices[0].Message.ToolCalls) == 0 {
		t.Fatalf("no tool call in translated stream: %+v", acc.ChatCompletion)
	}
	tc := acc.Choices[0].Message.ToolCalls[0]
	var args map[string]any
	if tc.Function.Name == "" || json.Unmarshal([]byte(tc.Function.Arguments), &args) != nil {
		t.Fatalf("tool call %+v", tc)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("finish reason %q", acc.Choices[0].FinishReason)
	}
	if ev := e.lastEvent(); ev.OutputTokens == 0 || ev.Provider != "anthropic" {
		t.Fatalf("stream usage not accounted: %+v", ev)
	}
	// Tool definitions were translated to Anthropic's shape.
	if body, _, _ := seen.last(t); body["tools"].([]any)[0].(map[string]any)["input_schema"] == nil {
		t.Fatalf("tools not translated: %v", body["tools"])
	}
}

// An Anthropic client asking for a GPT model: Messages → chat completions.
func TestAnthropicClientToOpenAIProvider(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.anthropic(e.key)
	ctx := context.Background()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "gpt-4o", MaxTokens: 300,
		System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, hdr, path := seen.last(t)
	if path != "/v1/chat/completions" || hdr.Get("Authorization") != "Bearer "+upstreamOpenAIKey {
		t.Fatalf("upstream path %s", path)
	}
	msgs := body["messages"].([]any)
	if msgs[0].(map[string]any)["role"] != "system" {
		t.Fatalf("system not translated: %v", msgs)
	}
	if body["max_completion_tokens"] != float64(300) || body["max_tokens"] != nil {
		t.Errorf("openai upstream got max_completion_tokens %v, max_tokens %v; want 300 and none", body["max_completion_tokens"], body["max_tokens"])
	}
	if msg.Type != "message" || msg.Role != "assistant" || len(msg.Content) == 0 || msg.Content[0].Text == "" || msg.StopReason != "end_turn" {
		t.Fatalf("translated message: %+v", msg)
	}

	stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model: "gpt-4o", MaxTokens: 300,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}},
	})
	acc := anthropic.Message{}
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	tools := 0
	for _, b := range acc.Content {
		if b.Type == "tool_use" {
			tools++
			if b.Name == "" || len(b.Input) == 0 {
				t.Fatalf("tool_use block %+v", b)
			}
		}
	}
	if tools == 0 || acc.StopReason != "tool_use" {
		t.Fatalf("translated tool stream: %+v", acc)
	}
	// The gateway asked the OpenAI upstream for usage, and accounted it.
	if body, _, _ := seen.last(t); body["stream_options"].(map[string]any)["include_usage"] != true {
		t.Fatal("include_usage not requested upstream")
	}
	if ev := e.lastEvent(); ev.InputTokens == 0 || ev.OutputTokens == 0 {
		t.Fatalf("usage not accounted: %+v", ev)
	}
}

// TestOpenAICompatibleGetsMaxTokens: most OpenAI-compatible servers read
// max_tokens, not max_completion_tokens, so a translated request names
// the cap the way the provider's max_tokens_field says (their default).
func TestOpenAICompatibleGetsMaxTokens(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	cfg := strings.Replace(baseConfig, "  mock:\n    type: mock\n", "  mock:\n    type: mock\n  local:\n    type: openai-compatible\n    base_url: {{OPENAI}}/v1\n    secret: openai\n", 1)
	cfg = strings.Replace(cfg, "routes:\n", "routes:\n  - model: llama3\n    targets: [local]\n", 1)
	e := startGateway(t, cfg, oa, nil)
	c := e.anthropic(e.key)
	if _, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "llama3", MaxTokens: 123,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}); err != nil {
		t.Fatal(err)
	}
	body, _, _ := seen.last(t)
	if body["max_tokens"] != float64(123) || body["max_completion_tokens"] != nil {
		t.Errorf("openai-compatible upstream got max_tokens %v, max_completion_tokens %v; want 123 and none", body["max_tokens"], body["max_completion_tokens"])
	}
}

func TestUntranslatableFieldIs400(t *testing.T) {
	an, seen := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	c := e.openai(e.key)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-haiku-4-5", N: openai.Int(3),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "n") || apiErr.Param != "n" {
		t.Fatalf("n=3 to Anthropic: %v", err)
	}
	if seen.count() != 0 {
		t.Fatal("an untranslatable request reached the upstream")
	}
}

func TestUpstreamErrorTranslated(t *testing.T) {
	an, _ := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	c := e.openai(e.key)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-overloaded", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || !strings.Contains(apiErr.Message, "Overloaded") {
		t.Fatalf("529 from Anthropic to an OpenAI client: %v", err)
	}
	var shape map[string]any
	if json.Unmarshal([]byte(apiErr.RawJSON()), &shape); shape["message"] == nil {
		t.Fatalf("not an OpenAI error object: %s", apiErr.RawJSON())
	}
}

func TestMockCutStream(t *testing.T) {
	e := startGateway(t, `
providers:
  mock:
    type: mock
    mock: {cut_after: 2}
routes:
  - model: mock
    targets: [mock]
`, nil, nil)
	c := e.openai(e.key)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "mock",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five")}})
	for stream.Next() {
	}
	if stream.Err() == nil || !strings.Contains(stream.Err().Error(), "stream was cut") {
		t.Fatalf("a cut stream must end in an error the client sees: %v", stream.Err())
	}
	ev := e.lastEvent()
	if !strings.Contains(ev.Error, "stream cut") {
		t.Fatalf("event error = %q", ev.Error)
	}
	// No usage arrived: the gateway counted what it forwarded, and says so.
	if !ev.Estimated || ev.OutputTokens != int64(tokens.Count("mock", "one two")) || ev.InputTokens != int64(tokens.Count("mock", "one two three four five")) {
		t.Fatalf("estimate: %+v", ev)
	}
}

// The admin event stream reports each finished request.
func TestAdminEvents(t *testing.T) {
	e := startGateway(t, baseConfig, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := adminapi.NewClient(e.srv.AdminSocket())
	events, err := cl.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Status(ctx)
	if err != nil || st.Listen != e.srv.Addr() || len(st.Providers) != 3 {
		t.Fatalf("status %+v %v", st, err)
	}
	time.Sleep(50 * time.Millisecond) // the subscription is registered
	c := e.openai(e.key)
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Model != "mock" || ev.Key != "test" || ev.Status != 200 || ev.OutputTokens == 0 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on the admin stream")
	}
}
