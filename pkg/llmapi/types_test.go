package llmapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func decodeFile(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(wireDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenAIFixtures(t *testing.T) {
	var req ChatRequest
	decodeFile(t, "openai-request-tools.json", &req)
	if len(req.Messages) != 4 {
		t.Fatalf("messages: %d", len(req.Messages))
	}
	m := req.Messages
	if !m[0].Content.IsParts() || m[0].Content.Parts[1].ImageURL == nil || m[0].Content.Parts[0].Text != "What is in this image?" {
		t.Errorf("parts content: %+v", m[0].Content)
	}
	if m[1].Content.IsParts() || m[1].Content.Text != "What is the weather like in Boston today?" {
		t.Errorf("string content: %+v", m[1].Content)
	}
	if m[2].Content != nil || len(m[2].ToolCalls) != 1 || m[2].ToolCalls[0].Function.Name != "get_current_weather" {
		t.Errorf("tool call message: %+v", m[2])
	}
	if m[3].Role != "tool" || m[3].ToolCallID != "call_abc123" {
		t.Errorf("tool message: %+v", m[3])
	}
	if req.ToolChoice == nil || req.ToolChoice.Mode != "auto" {
		t.Errorf("tool_choice: %+v", req.ToolChoice)
	}
	if req.ResponseFormat == nil || req.ResponseFormat.Type != "json_schema" || req.ResponseFormat.JSONSchema.Name != "Location" {
		t.Errorf("response_format: %+v", req.ResponseFormat)
	}

	var resp ChatResponse
	decodeFile(t, "openai-chat.json", &resp)
	u := resp.Usage
	if u.PromptTokens != 1117 || u.PromptTokensDetails == nil || u.CompletionTokensDetails == nil || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("openai-chat.json: %+v", resp)
	}
	decodeFile(t, "openai-chat-tools.json", &resp)
	if c := resp.Choices[0].Message; c.Content != nil || len(c.ToolCalls) != 2 || c.ToolCalls[1].Function.Arguments != `{"ticker": "AAPL", "exchange": "NASDAQ"}` {
		t.Errorf("openai-chat-tools.json: %+v", c)
	}
}

func TestAnthropicFixtures(t *testing.T) {
	var req MessagesRequest
	decodeFile(t, "anthropic-request-claude-code.json", &req)
	if req.System == nil || len(req.System.Blocks) != 2 || req.MaxTokens != 20000 || !req.Stream || req.Metadata.UserID == "" {
		t.Errorf("claude code request: system %+v", req.System)
	}
	if len(req.Tools) != 4 || len(req.Tools[0].InputSchema) == 0 {
		t.Errorf("tools: %+v", req.Tools)
	}
	tr := req.Messages[2].Content.Blocks[0]
	if tr.Type != "tool_result" || tr.ToolUseID != "toolu_01PLACEHOLDER0001XXXXXXX" || tr.Content == nil || tr.Content.IsBlocks() {
		t.Errorf("tool_result: %+v", tr)
	}

	var resp MessagesResponse
	decodeFile(t, "anthropic-messages-tools.json", &resp)
	if *resp.StopReason != "tool_use" || resp.Content[0].Type != "tool_use" || resp.Usage.InputTokens != 597 || len(resp.Content[0].Caller) == 0 {
		t.Errorf("anthropic-messages-tools.json: %+v", resp)
	}
}

func TestStreamEventsDecode(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(wireDir, "anthropic-stream*.sse"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, ev := range readAll(t, bytes.NewReader(raw)) {
			var se MessagesStreamEvent
			if err := json.Unmarshal(ev.Data, &se); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if se.Type != ev.Name {
				t.Errorf("%s: type %q under event %q", f, se.Type, ev.Name)
			}
		}
	}
	files, _ = filepath.Glob(filepath.Join(wireDir, "openai-chat-stream*.sse"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, ev := range readAll(t, bytes.NewReader(raw)) {
			if ev.IsDone() {
				continue
			}
			var c ChatChunk
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if c.Object != "chat.completion.chunk" || (len(c.Choices) == 0) != (c.Usage != nil) {
				t.Errorf("%s: %s", f, ev.Data)
			}
		}
	}
}

func TestPolymorphic(t *testing.T) {
	var m struct {
		A, B, C StringList
		D       *ChatContent
		E       ChatContent
		F, G    *ChatToolChoice
		H       MessageContent
	}
	in := `{"A":"x","B":["x","y"],"C":null,"D":null,"E":[{"type":"text","text":""}],
		"F":"required","G":{"type":"function","function":{"name":"f"}},"H":[{"type":"text","text":"t"}]}`
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.A, StringList{"x"}) || !reflect.DeepEqual(m.B, StringList{"x", "y"}) || m.C != nil {
		t.Errorf("StringList: %v %v %v", m.A, m.B, m.C)
	}
	if m.D != nil || !m.E.IsParts() {
		t.Errorf("ChatContent: %v %+v", m.D, m.E)
	}
	if m.F.Mode != "required" || m.G.Type != "function" || m.G.Function.Name != "f" {
		t.Errorf("ChatToolChoice: %+v %+v", m.F, m.G)
	}
	if !m.H.IsBlocks() || m.H.Blocks[0].Text != "t" {
		t.Errorf("MessageContent: %+v", m.H)
	}
	if got := mustJSON(t, m.E); got != `[{"type":"text","text":""}]` {
		t.Errorf("ChatContent parts: %s", got)
	}
	if got := mustJSON(t, *TextContent("hi")); got != `"hi"` {
		t.Errorf("ChatContent text: %s", got)
	}
	if got := mustJSON(t, m.F) + mustJSON(t, m.G); got != `"required"{"type":"function","function":{"name":"f"}}` {
		t.Errorf("ChatToolChoice: %s", got)
	}
	var src ContentBlock
	if err := json.Unmarshal([]byte(`{"type":"search_result","source":"https://x"}`), &src); err != nil || src.Source.URL != "https://x" {
		t.Errorf("string source: %+v %v", src.Source, err)
	}
	var bad ChatContent
	if err := json.Unmarshal([]byte(`42`), &bad); err == nil {
		t.Error("number content accepted")
	}
	var badStop StringList
	if err := json.Unmarshal([]byte(`{}`), &badStop); err == nil {
		t.Error("object stop accepted")
	}
}

func TestBlockEncoding(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{ContentBlock{Type: "text"}, `{"type":"text","text":""}`},
		{ContentBlock{Type: "tool_use", ID: "t1", Name: "f"}, `{"type":"tool_use","id":"t1","name":"f","input":{}}`},
		{ContentBlock{Type: "thinking"}, `{"type":"thinking","thinking":"","signature":""}`},
		{ContentBlock{Type: "tool_result", ToolUseID: "t1", Content: &MessageContent{Text: "ok"}, IsError: true},
			`{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true}`},
		{ContentBlock{Type: "image", Source: &ContentSource{Type: "url", URL: "https://x/y.png"}},
			`{"type":"image","source":{"type":"url","url":"https://x/y.png"}}`},
		{ContentBlock{Type: "search_result", Source: &ContentSource{URL: "https://x"}, Title: "t"}, `{"type":"search_result","source":"https://x","title":"t"}`},
		{StreamDelta{Type: "text_delta"}, `{"type":"text_delta","text":""}`},
		{StreamDelta{Type: "input_json_delta", PartialJSON: `{"a"`}, `{"type":"input_json_delta","partial_json":"{\"a\""}`},
		{StreamDelta{StopReason: ptr("end_turn")}, `{"stop_reason":"end_turn","stop_sequence":null}`},
		{MessagesStreamEvent{Type: "content_block_stop", Index: ptr(0)}, `{"type":"content_block_stop","index":0}`},
		{MessagesStreamEvent{Type: "message_stop"}, `{"type":"message_stop"}`},
		{ChatContentPart{Type: "text"}, `{"type":"text","text":""}`},
		{ChatError{Message: "m", Type: "t"}, `{"message":"m","type":"t","param":null,"code":null}`},
		{ChatChunkChoice{Delta: ChatDelta{Content: ptr("")}}, `{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}`},
		{ChatToolCall{Index: ptr(0), Function: ChatFunctionCall{Arguments: "{"}}, `{"index":0,"function":{"arguments":"{"}}`},
	}
	for _, tt := range tests {
		if got := mustJSON(t, tt.v); got != tt.want {
			t.Errorf("%T:\n got %s\nwant %s", tt.v, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
