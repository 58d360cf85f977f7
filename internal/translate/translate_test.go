package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/credflow/credflow/pkg/llmapi"
)

func TestOpenAIRequestUntranslatable(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		body, param string
	}{
		{`{"model":"m",` + msgs + `,"n":2}`, "n"},
		{`{"model":"m",` + msgs + `,"logprobs":true}`, "logprobs"},
		{`{"model":"m",` + msgs + `,"top_logprobs":3}`, "top_logprobs"},
		{`{"model":"m",` + msgs + `,"logit_bias":{"50256":-100}}`, "logit_bias"},
		{`{"model":"m",` + msgs + `,"presence_penalty":0.5}`, "presence_penalty"},
		{`{"model":"m",` + msgs + `,"frequency_penalty":-1}`, "frequency_penalty"},
		{`{"model":"m",` + msgs + `,"seed":42}`, "seed"},
		{`{"model":"m",` + msgs + `,"audio":{"voice":"alloy","format":"wav"}}`, "audio"},
		{`{"model":"m",` + msgs + `,"modalities":["text","audio"]}`, "modalities"},
		{`{"model":"m",` + msgs + `,"prediction":{"type":"content","content":"x"}}`, "prediction"},
		{`{"model":"m",` + msgs + `,"web_search_options":{}}`, "web_search_options"},
		{`{"model":"m",` + msgs + `,"store":true}`, "store"},
		{`{"model":"m",` + msgs + `,"service_tier":"flex"}`, "service_tier"},
		{`{"model":"m",` + msgs + `,"verbosity":"low"}`, "verbosity"},
		{`{"model":"m",` + msgs + `,"functions":[{"name":"f"}]}`, "functions"},
		{`{"model":"m",` + msgs + `,"function_call":"auto"}`, "function_call"},
		{`{"model":"m",` + msgs + `,"temperature":1.5}`, "temperature"},
		{`{"model":"m",` + msgs + `,"response_format":{"type":"json_object"}}`, "response_format"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"custom","custom":{"name":"c"}}]}`, "tools[0].type"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice"},
		{`{"model":"m",` + msgs + `,"brand_new_knob":3}`, "brand_new_knob"},
		{`{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, "messages[0].content[0]"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:text/csv;base64,YSxi"}}]}]}`, "messages[0].content[0].file.file_data"},
		{`{"model":"m","messages":[{"role":"assistant","audio":{"id":"audio_1"}}]}`, "messages[0].audio"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"x","input":"y"},"function":{"name":"x","arguments":""}}]}]}`, "messages[0].tool_calls[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			_, err := OpenAIRequestToAnthropic([]byte(tt.body), Options{})
			check400(t, err, tt.param)
		})
	}
}

func TestAnthropicRequestUntranslatable(t *testing.T) {
	base := `"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		body, param string
	}{
		{`{` + base + `,"top_k":40}`, "top_k"},
		{`{` + base + `,"container":"cont_1"}`, "container"},
		{`{` + base + `,"mcp_servers":[{"type":"url","url":"https://x","name":"x"}]}`, "mcp_servers"},
		{`{` + base + `,"inference_geo":"us"}`, "inference_geo"},
		{`{` + base + `,"brand_new_knob":{}}`, "brand_new_knob"},
		{`{` + base + `,"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "tools[0].type"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}]}`, "messages[0].content[0].content[0].type"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`, "messages[0].content[0].source"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]}`, "messages[0].content[0].source"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"},"citations":{"enabled":true}}]}]}`, "messages[0].content[0].citations"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[]}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","max_tokens":10,"system":[{"type":"image","source":{"type":"url","url":"https://x"}}],"messages":[]}`, "system[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			_, err := AnthropicRequestToOpenAI([]byte(tt.body), Options{})
			check400(t, err, tt.param)
		})
	}
}

func check400(t *testing.T, err error, param string) {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if te.Status != http.StatusBadRequest || te.Param != param || !strings.Contains(te.Message, param) {
		t.Fatalf("got %+v, want status 400 naming %q", te, param)
	}
}

// Malformed input is a 400 too, naming the field where it can.
func TestRequestInvalid(t *testing.T) {
	tests := []struct {
		body, param string
		a2o         bool
	}{
		{`[1]`, "", false},
		{`{"model":"m","messages":"hi"}`, "messages", false},
		{`{"model":"m","messages":[],"max_tokens":"ten"}`, "max_tokens", false},
		{`{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", false},
		{`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", false},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments", false},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{`{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "messages[0].content[0].type", false},
		{`{"model":"m","messages":[],"reasoning_effort":"extreme"}`, "reasoning_effort", false},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", true},
		{`{"model":"m","max_tokens":1,"messages":[],"thinking":{"type":"sometimes"}}`, "thinking.type", true},
		{`{"model":"m","max_tokens":1,"messages":[],"tool_choice":{"type":"maybe"}}`, "tool_choice.type", true},
	}
	for _, tt := range tests {
		var err error
		if tt.a2o {
			_, err = AnthropicRequestToOpenAI([]byte(tt.body), Options{})
		} else {
			_, err = OpenAIRequestToAnthropic([]byte(tt.body), Options{})
		}
		var te *Error
		if !errors.As(err, &te) || te.Status != 400 || te.Param != tt.param {
			t.Errorf("%s: got %#v, want a 400 naming %q", tt.body, err, tt.param)
		}
	}
}

func TestNeutralValuesAccepted(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"logprobs":false,"top_logprobs":0,
		"logit_bias":null,"presence_penalty":0,"frequency_penalty":0,"seed":null,"audio":null,"modalities":["text"],
		"prediction":null,"web_search_options":null,"store":false,"service_tier":"default","verbosity":"medium",
		"functions":null,"function_call":null,"reasoning_effort":"none","response_format":{"type":"text"},
		"tool_choice":"none","stream_options":null,"unknown_but_null":null}`
	out, err := OpenAIRequestToAnthropic([]byte(body), Options{DefaultMaxTokens: 777})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","max_tokens":777,"messages":[{"role":"user","content":"hi"}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	out, err = AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"top_k":null,"thinking":{"type":"disabled"},"container":null}`), Options{Model: "up"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"up","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5}`; string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestDefaultMaxTokens(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	for _, tt := range []struct {
		opt  Options
		want int
	}{{Options{}, 4096}, {Options{DefaultMaxTokens: 1000}, 1000}} {
		out, err := OpenAIRequestToAnthropic(body, tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		var r llmapi.MessagesRequest
		json.Unmarshal(out, &r)
		if r.MaxTokens != tt.want {
			t.Errorf("%+v: max_tokens %d, want %d", tt.opt, r.MaxTokens, tt.want)
		}
	}
	out, _ := OpenAIRequestToAnthropic([]byte(`{"model":"m","messages":[],"max_tokens":9}`), Options{DefaultMaxTokens: 1000})
	if !bytes.Contains(out, []byte(`"max_tokens":9`)) {
		t.Errorf("client max_tokens not kept: %s", out)
	}
}

// TestMaxTokensField: Anthropic's max_tokens goes to OpenAI-format
// upstreams as max_completion_tokens, or max_tokens when the provider
// asks for it.
func TestMaxTokensField(t *testing.T) {
	body := []byte(`{"model":"m","max_tokens":321,"messages":[{"role":"user","content":"hi"}]}`)
	for field, want := range map[string]string{"": `"max_completion_tokens":321`, "max_completion_tokens": `"max_completion_tokens":321`, "max_tokens": `"max_tokens":321`} {
		out, err := AnthropicRequestToOpenAI(body, Options{MaxTokensField: field})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(want)) || bytes.Count(out, []byte("max_")) != 1 {
			t.Errorf("field %q: %s; want only %s", field, out, want)
		}
	}
}

func TestReasoningMapping(t *testing.T) {
	for effort, want := range map[string]string{"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"} {
		out, err := OpenAIRequestToAnthropic([]byte(`{"model":"m","messages":[],"reasoning_effort":"`+effort+`"}`), Options{})
		if err != nil || !bytes.Contains(out, []byte(`"output_config":{"effort":"`+want+`"}`)) {
			t.Errorf("%s: %s %v", effort, out, err)
		}
	}
	for thinking, want := range map[string]string{
		`{"type":"enabled","budget_tokens":1024}`:  `"reasoning_effort":"low"`,
		`{"type":"enabled","budget_tokens":4096}`:  `"reasoning_effort":"medium"`,
		`{"type":"enabled","budget_tokens":31999}`: `"reasoning_effort":"high"`,
		`{"type":"adaptive"}`:                      `"model":"m","messages":[]}`,
	} {
		out, err := AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":0,"messages":[],"thinking":`+thinking+`}`), Options{Reasoning: true})
		if err != nil || !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s: %s %v", thinking, out, err)
		}
	}
	out, _ := AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":9,"messages":[],"thinking":{"type":"adaptive"},"output_config":{"effort":"max"}}`), Options{Reasoning: true})
	if !bytes.Contains(out, []byte(`"reasoning_effort":"xhigh"`)) {
		t.Errorf("effort max: %s", out)
	}
	// A model that does not reason gets no reasoning_effort: the setting
	// is dropped and named.
	for _, c := range []struct{ body, dropped string }{
		{`"thinking":{"type":"enabled","budget_tokens":31999,"display":"omitted"}`, "thinking"},
		{`"thinking":{"type":"adaptive"}`, "thinking"},
		{`"output_config":{"effort":"high"}`, "output_config.effort"},
		{`"thinking":{"type":"disabled"}`, ""},
	} {
		var dropped []string
		out, err := AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":9,"messages":[],`+c.body+`}`), Options{Dropped: &dropped})
		if err != nil || bytes.Contains(out, []byte("reasoning_effort")) || SummarizeDropped(dropped) != c.dropped {
			t.Errorf("non-reasoning model, %s: %s %v; dropped %q, want %q", c.body, out, err, dropped, c.dropped)
		}
	}
}

// Each stream translation, accumulated the way an SDK would, gives the
// same message as translating the non-streaming twin of the fixture.
func TestOpenAIStreamMatchesResponse(t *testing.T) {
	evs := readEvents(t, input(t, "wire/openai-chat-stream-tools.sse"))
	var got []llmapi.Event
	tr := NewOpenAIToAnthropicStream("")
	collect := func(ev llmapi.Event) error { got = append(got, ev); return nil }
	for _, ev := range evs {
		tr.Translate(ev, collect)
	}
	tr.Finish(collect)
	streamed := accumulateAnthropic(t, got)

	body, err := OpenAIResponseToAnthropic(input(t, "wire/openai-chat-tools.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	var whole llmapi.MessagesResponse
	json.Unmarshal(body, &whole)
	// The recordings differ in ids only.
	for i := range whole.Content {
		whole.Content[i].ID = streamed.Content[i].ID
	}
	whole.ID = streamed.ID
	if !reflect.DeepEqual(normalize(t, streamed), normalize(t, whole)) {
		t.Errorf("streamed:\n%s\nwhole:\n%s", normalize(t, streamed), normalize(t, whole))
	}
}

func normalize(t *testing.T, m llmapi.MessagesResponse) string {
	for i := range m.Content {
		if m.Content[i].Input != nil {
			var v any
			json.Unmarshal(m.Content[i].Input, &v)
			m.Content[i].Input, _ = json.Marshal(v)
		}
	}
	return string(marshal(m))
}

// accumulateAnthropic builds the message an Anthropic SDK would from the
// events, checking their order on the way.
func accumulateAnthropic(t *testing.T, evs []llmapi.Event) llmapi.MessagesResponse {
	t.Helper()
	var msg llmapi.MessagesResponse
	var partial []string
	open := -1
	for i, ev := range evs {
		var e llmapi.MessagesStreamEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil || e.Type != ev.Name {
			t.Fatalf("event %d: %s (%v)", i, ev.Data, err)
		}
		switch e.Type {
		case "message_start":
			if i != 0 {
				t.Fatalf("message_start at %d", i)
			}
			msg = *e.Message
		case "content_block_start":
			if open != -1 || *e.Index != len(msg.Content) {
				t.Fatalf("block %d starts while %d is open", *e.Index, open)
			}
			open = *e.Index
			msg.Content = append(msg.Content, *e.ContentBlock)
			partial = append(partial, "")
		case "content_block_delta":
			if *e.Index != open {
				t.Fatalf("delta for block %d while %d is open", *e.Index, open)
			}
			switch e.Delta.Type {
			case "text_delta":
				msg.Content[open].Text += e.Delta.Text
			case "input_json_delta":
				partial[open] += e.Delta.PartialJSON
			}
		case "content_block_stop":
			if *e.Index != open {
				t.Fatalf("stop for block %d while %d is open", *e.Index, open)
			}
			if msg.Content[open].Type == "tool_use" {
				if partial[open] == "" {
					partial[open] = "{}"
				}
				msg.Content[open].Input = json.RawMessage(partial[open])
			}
			open = -1
		case "message_delta":
			msg.StopReason, msg.StopSequence = e.Delta.StopReason, e.Delta.StopSequence
			msg.Usage = *e.Usage
		case "message_stop":
			if i != len(evs)-1 || open != -1 {
				t.Fatalf("message_stop at %d of %d, block %d open", i, len(evs), open)
			}
		default:
			t.Fatalf("unexpected event %s", ev.Name)
		}
	}
	return msg
}

// accumulateOpenAI builds the message an OpenAI SDK would from chunks.
func accumulateOpenAI(t *testing.T, evs []llmapi.Event) (llmapi.ChatResponseMessage, string, *llmapi.ChatUsage) {
	t.Helper()
	var msg llmapi.ChatResponseMessage
	var finish string
	var usage *llmapi.ChatUsage
	content := ""
	for i, ev := range evs {
		if ev.IsDone() {
			if i != len(evs)-1 {
				t.Fatalf("[DONE] at %d of %d", i, len(evs))
			}
			continue
		}
		var c llmapi.ChatChunk
		if err := json.Unmarshal(ev.Data, &c); err != nil || ev.Name != "" {
			t.Fatalf("chunk %d: %s", i, ev.Data)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				msg.Role = ch.Delta.Role
			}
			if ch.Delta.Content != nil {
				content += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if *tc.Index == len(msg.ToolCalls) {
					msg.ToolCalls = append(msg.ToolCalls, tc)
					continue
				}
				msg.ToolCalls[*tc.Index].Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if content != "" || msg.ToolCalls == nil {
		msg.Content = &content
	}
	for i := range msg.ToolCalls {
		msg.ToolCalls[i].Index = nil
	}
	return msg, finish, usage
}

func TestAnthropicStreamAccumulates(t *testing.T) {
	run := func(file string) (llmapi.ChatResponseMessage, string, *llmapi.ChatUsage) {
		var got []llmapi.Event
		tr := NewAnthropicToOpenAIStream("", true)
		collect := func(ev llmapi.Event) error { got = append(got, ev); return nil }
		for _, ev := range readEvents(t, input(t, file)) {
			tr.Translate(ev, collect)
		}
		tr.Finish(collect)
		return accumulateOpenAI(t, got)
	}
	msg, finish, usage := run("wire/anthropic-stream-tools.sse")
	if finish != "tool_calls" || len(msg.ToolCalls) != 1 || msg.Content != nil {
		t.Fatalf("tools: %+v %s", msg, finish)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args["location"] != "San Francisco, CA" || args["units"] != "f" {
		t.Errorf("arguments %q: %v", msg.ToolCalls[0].Function.Arguments, err)
	}
	if usage.PromptTokens != 656 || usage.CompletionTokens != 74 || usage.TotalTokens != 730 {
		t.Errorf("usage %+v", usage)
	}

	msg, finish, _ = run("wire/anthropic-stream.sse")
	if finish != "stop" || *msg.Content != "The weather in San Francisco, CA is currently **68°F and Sunny**. It's a nice day!" {
		t.Errorf("text: %q %s", *msg.Content, finish)
	}
	msg, _, _ = run("wire/anthropic-stream-text-tools.sse")
	if *msg.Content != "I'll check the current weather in Paris for you." || msg.ToolCalls[0].Function.Arguments != `{"location": "Paris"}` {
		t.Errorf("text+tools: %+v", msg)
	}
}

// Thinking dropped, text and tools kept: stream and non-stream agree.
func TestAnthropicThinkingDropped(t *testing.T) {
	out, err := AnthropicResponseToOpenAI(input(t, "translate/anthropic-response-thinking.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("thinking")) || bytes.Contains(out, []byte("EqQB")) {
		t.Errorf("thinking leaked: %s", out)
	}
}

func TestOpenAIStreamEdgeCases(t *testing.T) {
	chunk := func(delta string) llmapi.Event {
		return llmapi.Event{Data: []byte(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}`)}
	}
	finish := llmapi.Event{Data: []byte(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)}
	names := func(evs []llmapi.Event) string {
		var s []string
		for _, ev := range evs {
			s = append(s, ev.Name)
		}
		return strings.Join(s, " ")
	}
	run := func(evs ...llmapi.Event) []llmapi.Event {
		var got []llmapi.Event
		tr := NewOpenAIToAnthropicStream("")
		collect := func(ev llmapi.Event) error { got = append(got, ev); return nil }
		for _, ev := range evs {
			tr.Translate(ev, collect)
		}
		tr.Finish(collect)
		return got
	}

	// Calls sent whole without an index (some compatible servers).
	got := run(
		chunk(`{"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]}`),
		chunk(`{"tool_calls":[{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]}`),
		finish, llmapi.Event{Data: llmapi.Done})
	msg := accumulateAnthropic(t, got)
	if len(msg.Content) != 2 || msg.Content[1].Name != "g" || string(msg.Content[0].Input) != `{"x":1}` {
		t.Errorf("index-less calls: %s", marshal(msg))
	}

	// Going back to a closed call cannot be expressed: error event.
	got = run(
		chunk(`{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{"}}]}`),
		chunk(`{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]}`),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}`), finish)
	if n := names(got); n != "message_start content_block_start content_block_delta content_block_stop content_block_start content_block_delta error" {
		t.Errorf("interleaved: %s", n)
	}

	// Arguments before id and name.
	got = run(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`))
	if n := names(got); n != "message_start error" {
		t.Errorf("nameless call: %s", n)
	}

	// No [DONE] after the finish_reason: still a complete message. An
	// Azure-style opening chunk without choices does not start it.
	got = run(llmapi.Event{Data: []byte(`{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[]}`)},
		chunk(`{"content":"hi"}`), finish)
	if msg := accumulateAnthropic(t, got); msg.ID != "c1" || msg.Model != "m" {
		t.Errorf("azure first chunk: %s", marshal(msg))
	}
	if n := names(got); n != "message_start content_block_start content_block_delta content_block_stop message_delta message_stop" {
		t.Errorf("no [DONE]: %s", n)
	}

	// Nothing at all.
	if n := names(run()); n != "error" {
		t.Errorf("empty: %s", n)
	}
	if n := names(run(llmapi.Event{Data: llmapi.Done})); n != "error" {
		t.Errorf("only [DONE]: %s", n)
	}

	// Garbage from upstream.
	if n := names(run(chunk(`{"content":"a"}`), llmapi.Event{Data: []byte("{nope")}, finish)); !strings.HasSuffix(n, "error") {
		t.Errorf("garbage: %s", n)
	}

	// Other choices are ignored; a refusal is text with stop_reason refusal.
	got = run(
		llmapi.Event{Data: []byte(`{"id":"c","choices":[{"index":1,"delta":{"content":"other"}}]}`)},
		chunk(`{"refusal":"no"}`),
		finish, llmapi.Event{Data: llmapi.Done})
	msg = accumulateAnthropic(t, got)
	if len(msg.Content) != 1 || msg.Content[0].Text != "no" || *msg.StopReason != "refusal" {
		t.Errorf("refusal: %s", marshal(msg))
	}
}

func TestAnthropicStreamEdgeCases(t *testing.T) {
	run := func(includeUsage bool, evs ...string) string {
		var got []string
		tr := NewAnthropicToOpenAIStream("m", includeUsage)
		collect := func(ev llmapi.Event) error { got = append(got, string(ev.Data)); return nil }
		for _, ev := range evs {
			name, data, _ := strings.Cut(ev, " ")
			tr.Translate(llmapi.Event{Name: name, Data: []byte(data)}, collect)
		}
		tr.Finish(collect)
		return strings.Join(got, "\n")
	}
	// Garbage: an OpenAI error object, then [DONE], then nothing more.
	out := run(true, `message_start {"type":"message_start","message":{"id":"x"}}`, `content_block_delta {nope`, `message_stop {"type":"message_stop"}`)
	if !strings.Contains(out, `"error":{"message":"credflow could not read`) || !strings.HasSuffix(out, "\n[DONE]") || strings.Contains(out, `"choices":[]`) {
		t.Errorf("garbage:\n%s", out)
	}
	// message_stop lost after message_delta: the message is complete.
	out = run(true, `message_start {"type":"message_start","message":{"id":"x","usage":{"input_tokens":3}}}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`)
	if strings.Contains(out, "error") || !strings.Contains(out, `"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5`) {
		t.Errorf("lost message_stop:\n%s", out)
	}
	// Unknown events and ping are ignored.
	out = run(false, `ping {"type":"ping"}`, `future_event {"type":"future_event","x":1}`,
		`message_start {"type":"message_start","message":{"id":"x"}}`, `message_stop {"type":"message_stop"}`)
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, `"finish_reason":"stop"`) {
		t.Errorf("ping/unknown:\n%s", out)
	}
}

// emit's error (the client went away) is returned as is.
func TestStreamEmitError(t *testing.T) {
	gone := errors.New("gone")
	fail := func(llmapi.Event) error { return gone }
	a := NewAnthropicToOpenAIStream("", true)
	if err := a.Translate(llmapi.Event{Name: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"x"}}`)}, fail); err != gone {
		t.Errorf("a2o Translate: %v", err)
	}
	if err := a.Finish(fail); err != gone {
		t.Errorf("a2o Finish: %v", err)
	}
	o := NewOpenAIToAnthropicStream("")
	if err := o.Translate(llmapi.Event{Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}]}`)}, fail); err != gone {
		t.Errorf("o2a Translate: %v", err)
	}
}

func TestResponseErrors(t *testing.T) {
	for _, body := range []string{`nope`, `{"type":"error","error":{"type":"api_error","message":"x"}}`} {
		_, err := AnthropicResponseToOpenAI([]byte(body), "")
		var te *Error
		if !errors.As(err, &te) || te.Status != 502 {
			t.Errorf("%s: %v", body, err)
		}
	}
	for _, body := range []string{`nope`, `{"choices":[]}`,
		`{"choices":[{"message":{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}}]}`} {
		_, err := OpenAIResponseToAnthropic([]byte(body), "")
		var te *Error
		if !errors.As(err, &te) || te.Status != 502 {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestReasonMaps(t *testing.T) {
	for stop, finish := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
		"max_tokens": "length", "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "": "stop"} {
		if got := StopReasonToFinishReason(stop); got != finish {
			t.Errorf("StopReasonToFinishReason(%q) = %q, want %q", stop, got, finish)
		}
	}
	for finish, stop := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
		"function_call": "tool_use", "content_filter": "refusal", "": "end_turn"} {
		if got := FinishReasonToStopReason(finish); got != stop {
			t.Errorf("FinishReasonToStopReason(%q) = %q, want %q", finish, got, stop)
		}
	}
}

func TestUsageRoundTrip(t *testing.T) {
	a := llmapi.MessagesUsage{InputTokens: 12, CacheCreationInputTokens: 300, CacheReadInputTokens: 2048, OutputTokens: 95}
	o := UsageToOpenAI(a)
	if o.PromptTokens != 2360 || o.PromptTokensDetails.CachedTokens != 2048 || o.TotalTokens != 2455 {
		t.Errorf("to OpenAI: %+v", o)
	}
	if back := UsageToAnthropic(o); back != a {
		t.Errorf("round trip: %+v", back)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		e          *Error
		openai     string
		anthropic  string
		wantStatus int
	}{
		{&Error{Status: 400, Type: "invalid_request_error", Param: "n", Message: "bad n"},
			`{"error":{"message":"bad n","type":"invalid_request_error","param":"n","code":null}}`,
			`{"type":"error","error":{"type":"invalid_request_error","message":"bad n"}}`, 400},
		{&Error{Status: 529, Message: "busy"},
			`{"error":{"message":"busy","type":"server_error","param":null,"code":null}}`,
			`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`, 529},
		{&Error{Status: 401, Message: "who?"},
			`{"error":{"message":"who?","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			`{"type":"error","error":{"type":"authentication_error","message":"who?"}}`, 401},
		{&Error{Status: 429, Type: "rate_limit_error", Message: "slow <down>"},
			`{"error":{"message":"slow <down>","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow <down>"}}`, 429},
		{&Error{Message: "oops"},
			`{"error":{"message":"oops","type":"server_error","param":null,"code":null}}`,
			`{"type":"error","error":{"type":"api_error","message":"oops"}}`, 500},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteOpenAIError(rec, tt.e)
		if rec.Code != tt.wantStatus || rec.Body.String() != tt.openai || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("OpenAI %+v: %d %s %s", tt.e, rec.Code, rec.Header(), rec.Body)
		}
		rec = httptest.NewRecorder()
		WriteAnthropicError(rec, tt.e)
		if rec.Code != tt.wantStatus || rec.Body.String() != tt.anthropic || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("Anthropic %+v: %d %s", tt.e, rec.Code, rec.Body)
		}
	}
}

func TestErrorTypesBothWays(t *testing.T) {
	tests := []struct {
		status           int
		anthropic        string
		openAI, code     string
		backToAnthropic  string
		openAIStreamType string
	}{
		{400, "invalid_request_error", "invalid_request_error", "", "invalid_request_error", ""},
		{401, "authentication_error", "invalid_request_error", "invalid_api_key", "authentication_error", ""},
		{402, "billing_error", "insufficient_quota", "insufficient_quota", "billing_error", ""},
		{403, "permission_error", "permission_error", "", "permission_error", ""},
		{404, "not_found_error", "invalid_request_error", "", "not_found_error", ""},
		{413, "request_too_large", "invalid_request_error", "", "request_too_large", ""},
		{429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded", "rate_limit_error", ""},
		{500, "api_error", "server_error", "", "api_error", ""},
		{504, "timeout_error", "server_error", "", "timeout_error", ""},
		{529, "overloaded_error", "server_error", "", "overloaded_error", ""},
	}
	for _, tt := range tests {
		body := AnthropicErrorToOpenAI(tt.status, []byte(`{"type":"error","error":{"type":"`+tt.anthropic+`","message":"m"}}`))
		var o struct {
			Error struct {
				Type string  `json:"type"`
				Code *string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(body, &o)
		code := ""
		if o.Error.Code != nil {
			code = *o.Error.Code
		}
		if o.Error.Type != tt.openAI || code != tt.code {
			t.Errorf("%s → %s", tt.anthropic, body)
		}
		back := OpenAIErrorToAnthropic(tt.status, body)
		if want := `{"type":"error","error":{"type":"` + tt.backToAnthropic + `","message":"m"}}`; string(back) != want {
			t.Errorf("%d back: %s, want %s", tt.status, back, want)
		}
		// In streams there is no status: the type alone decides.
		inStream := AnthropicErrorToOpenAI(0, []byte(`{"type":"error","error":{"type":"`+tt.anthropic+`","message":"m"}}`))
		if !bytes.Equal(inStream, body) {
			t.Errorf("%s in stream: %s", tt.anthropic, inStream)
		}
	}
	// OpenAI-compatible oddities: a string error, a numeric code, a
	// top-level message.
	for body, want := range map[string]string{
		`{"error":"model not loaded"}`:                                                          `{"type":"error","error":{"type":"not_found_error","message":"model not loaded"}}`,
		`{"error":{"message":"bad","code":404,"type":null}}`:                                    `{"type":"error","error":{"type":"not_found_error","message":"bad"}}`,
		`{"message":"no such model","detail":"x"}`:                                              `{"type":"error","error":{"type":"not_found_error","message":"no such model"}}`,
		`{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}`: `{"type":"error","error":{"type":"billing_error","message":"quota"}}`,
	} {
		status := 404
		if strings.Contains(body, "quota") {
			status = 429
		}
		if got := OpenAIErrorToAnthropic(status, []byte(body)); string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", body, got, want)
		}
	}
	// In-stream OpenAI errors (no status) go by type.
	for typ, want := range map[string]string{"server_error": "api_error", "invalid_request_error": "invalid_request_error", "tokens": "rate_limit_error", "": "api_error"} {
		got := OpenAIErrorToAnthropic(0, []byte(`{"error":{"message":"m","type":"`+typ+`"}}`))
		if !bytes.Contains(got, []byte(`"type":"`+want+`"`)) {
			t.Errorf("stream %q: %s", typ, got)
		}
	}
}

func BenchmarkOpenAIRequestToAnthropic(b *testing.B) {
	body := input(b, "wire/openai-request-tools.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenAIRequestToAnthropic(body, Options{Model: "claude-sonnet-4-5"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnthropicRequestToOpenAI(b *testing.B) {
	body := input(b, "wire/anthropic-request-claude-code.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AnthropicRequestToOpenAI(body, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnthropicToOpenAIStream(b *testing.B) {
	evs := readEvents(b, input(b, "wire/anthropic-stream-text-tools.sse"))
	discard := func(llmapi.Event) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		tr := NewAnthropicToOpenAIStream("m", true)
		for _, ev := range evs {
			tr.Translate(ev, discard)
		}
		tr.Finish(discard)
	}
}

func BenchmarkOpenAIToAnthropicStream(b *testing.B) {
	evs := readEvents(b, input(b, "wire/openai-chat-stream-tools.sse"))
	discard := func(llmapi.Event) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		tr := NewOpenAIToAnthropicStream("m")
		for _, ev := range evs {
			tr.Translate(ev, discard)
		}
		tr.Finish(discard)
	}
}
