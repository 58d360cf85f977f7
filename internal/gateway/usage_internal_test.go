package gateway

import (
	"testing"

	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/pkg/llmapi"
)

func TestUsageTaps(t *testing.T) {
	var u eventUsage
	tapBody(provider.FormatOpenAI, []byte(`{"usage":{"prompt_tokens":120,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":30}}}`), &u)
	if !u.final || u.InputTokens != 120 || u.OutputTokens != 50 || u.CachedTokens != 100 || u.ReasoningTokens != 30 {
		t.Fatalf("openai body: %+v", u)
	}
	// Anthropic: message_start then cumulative message_deltas; the latest wins.
	var a eventUsage
	tapEvent(provider.FormatAnthropic, llmapi.Event{Name: "message_start", Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":200,"cache_creation_input_tokens":5,"output_tokens":1}}}`)}, &a)
	tapEvent(provider.FormatAnthropic, llmapi.Event{Name: "message_delta", Data: []byte(`{"type":"message_delta","usage":{"output_tokens":7}}`)}, &a)
	tapEvent(provider.FormatAnthropic, llmapi.Event{Name: "message_delta", Data: []byte(`{"type":"message_delta","usage":{"output_tokens":9}}`)}, &a)
	if !a.final || a.InputTokens != 215 || a.CachedTokens != 200 || a.CacheWriteTokens != 5 || a.OutputTokens != 9 {
		t.Fatalf("anthropic stream: %+v", a)
	}
	// An OpenAI stream without a usage chunk keeps its text for an estimate.
	var o eventUsage
	tapEvent(provider.FormatOpenAI, llmapi.Event{Data: []byte(`{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`)}, &o)
	tapEvent(provider.FormatOpenAI, llmapi.Event{Data: []byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}`)}, &o)
	if o.final || o.text.String() != `Hel{"a":1}` {
		t.Fatalf("openai stream text: %q final=%v", o.text.String(), o.final)
	}
}
