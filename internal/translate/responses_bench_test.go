package translate

import (
	"testing"

	"github.com/credflow/credflow/pkg/llmapi"
)

// One conversation, written as a Chat Completions request and as a
// Responses API request: instructions, a user turn, an assistant tool
// call, its result, a follow-up, two tools and a JSON schema. The
// benchmarks below translate each to Anthropic Messages side by side.
const (
	benchChat = `{"model":"gpt-4o","max_completion_tokens":1024,"temperature":0.2,
"messages":[{"role":"system","content":"You are a weather assistant. Answer in one sentence."},
{"role":"user","content":"What is the weather in Paris and in Berlin today? Use the tools."},
{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\",\"units\":\"c\"}"}}]},
{"role":"tool","tool_call_id":"call_abc123","content":"{\"temp_c\":18,\"sky\":\"clear\"}"},
{"role":"user","content":"And Berlin?"}],
"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather in a city","parameters":{"type":"object","properties":{"location":{"type":"string"},"units":{"type":"string","enum":["c","f"]}},"required":["location"]}}},
{"type":"function","function":{"name":"get_time","description":"Local time in a city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],
"tool_choice":"auto",
"response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}}}}`

	benchResponses = `{"model":"gpt-4o","max_output_tokens":1024,"temperature":0.2,
"instructions":"You are a weather assistant. Answer in one sentence.",
"input":[{"role":"user","content":"What is the weather in Paris and in Berlin today? Use the tools."},
{"type":"function_call","call_id":"call_abc123","name":"get_weather","arguments":"{\"location\":\"Paris\",\"units\":\"c\"}"},
{"type":"function_call_output","call_id":"call_abc123","output":"{\"temp_c\":18,\"sky\":\"clear\"}"},
{"role":"user","content":"And Berlin?"}],
"tools":[{"type":"function","name":"get_weather","description":"Current weather in a city","parameters":{"type":"object","properties":{"location":{"type":"string"},"units":{"type":"string","enum":["c","f"]}},"required":["location"]}},
{"type":"function","name":"get_time","description":"Local time in a city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}],
"tool_choice":"auto",
"text":{"format":{"type":"json_schema","name":"answer","strict":true,"schema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}}}}`
)

// BenchmarkToMessages compares translating the same conversation to
// Anthropic Messages from Chat Completions (directly) and from the
// Responses API (through the neutral form): the Responses path must cost
// at most 1.5 times the Chat path.
func BenchmarkToMessages(b *testing.B) {
	opt := Options{Model: "claude-sonnet-4-5"}
	b.Run("chat", func(b *testing.B) {
		body := []byte(benchChat)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := OpenAIRequestToAnthropic(body, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("responses", func(b *testing.B) {
		body := []byte(benchResponses)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			c, _, err := ResponsesRequestToConv(body, opt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ConvToMessages(c, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMessagesStreamTo compares translating one Anthropic stream
// (text and a tool call) for a Chat Completions client and for a
// Responses API client.
func BenchmarkMessagesStreamTo(b *testing.B) {
	evs := readEvents(b, input(b, "wire/anthropic-stream-text-tools.sse"))
	discard := func(llmapi.Event) error { return nil }
	b.Run("chat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := NewAnthropicToOpenAIStream("m", true)
			for _, ev := range evs {
				tr.Translate(ev, discard)
			}
			tr.Finish(discard)
		}
	})
	b.Run("responses", func(b *testing.B) {
		b.ReportAllocs()
		meta := &ResponseMeta{ID: "resp_1", Model: "m", ParallelToolCalls: true, Store: true, Truncation: "disabled"}
		for b.Loop() {
			tr := NewMessagesToResponsesStream(meta)
			for _, ev := range evs {
				tr.Translate(ev, discard)
			}
			tr.Finish(discard)
		}
	})
}

// The two bodies above are the same conversation: both translate to the
// same Messages request.
func TestBenchBodiesAgree(t *testing.T) {
	opt := Options{Model: "claude-sonnet-4-5"}
	fromChat, err := OpenAIRequestToAnthropic([]byte(benchChat), opt)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := ResponsesRequestToConv([]byte(benchResponses), opt)
	if err != nil {
		t.Fatal(err)
	}
	fromResponses, err := ConvToMessages(c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if string(fromChat) != string(fromResponses) {
		t.Errorf("the benchmark's bodies translate differently:\nchat:      %s\nresponses: %s", fromChat, fromResponses)
	}
}
