package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"
)

// The Responses API as a first-class client format: the official
// openai-go client's Responses service against an OpenAI-compatible
// server that only speaks Chat Completions, an Anthropic server, and the
// mock. Each fake records the body it received, so the tests assert on
// what the translation sent as much as on what the client got back.

// scripted is an upstream whose answers the test sets per call.
type scripted struct {
	mu      sync.Mutex
	bodies  [][]byte
	paths   []string
	answers []func(w http.ResponseWriter)
}

func (s *scripted) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.paths = append(s.paths, r.URL.Path)
		var answer func(http.ResponseWriter)
		if len(s.answers) > 0 {
			answer, s.answers = s.answers[0], s.answers[1:]
		}
		s.mu.Unlock()
		if answer == nil {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"no scripted answer","type":"server_error"}}`)
			return
		}
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (s *scripted) then(a ...func(w http.ResponseWriter)) *scripted {
	s.mu.Lock()
	s.answers = append(s.answers, a...)
	s.mu.Unlock()
	return s
}

func (s *scripted) last(t *testing.T) map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		t.Fatal("the upstream received nothing")
	}
	var m map[string]any
	if err := json.Unmarshal(s.bodies[len(s.bodies)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonAnswer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func sseAnswer(events string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { writeSSE(w, []byte(events)) }
}

func fileAnswer(t *testing.T, name string) func(http.ResponseWriter) {
	data := fixture(t, name)
	if strings.HasSuffix(name, ".sse") {
		return sseAnswer(string(data))
	}
	return jsonAnswer(200, string(data))
}

const responsesConfig = `
providers:
  chat:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
    secret: openai
  anthropic:
    type: anthropic
    base_url: {{ANTHROPIC}}
    secret: anthropic
  mock:
    type: mock
routes:
  - model: "local-*"
    targets: [chat]
  - model: "claude-*"
    targets: [anthropic]
  - model: "mock*"
    targets: [mock]
`

func responsesEnv(t *testing.T) (*env, *scripted, *scripted) {
	oa, an := &scripted{}, &scripted{}
	e := startGateway(t, responsesConfig, oa.serve(t), an.serve(t))
	return e, oa, an
}

func (e *env) responses() *responses.ResponseService {
	c := openai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
	return &c.Responses
}

// functionOutput is a function_call_output input item.
func functionOutput(callID, output string) responses.ResponseInputItemUnionParam {
	it := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	it.OfFunctionCallOutput.CallID = openai.String(callID)
	return it
}

var weatherFn = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name: "get_weather", Description: openai.String("Weather in a city"), Strict: openai.Bool(false),
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []string{"location"}},
}}

func TestResponsesTextToEveryFormat(t *testing.T) {
	e, oa, an := responsesEnv(t)
	oa.then(fileAnswer(t, "openai-chat.json"))
	an.then(fileAnswer(t, "anthropic-messages.json"))
	ctx := context.Background()
	for _, c := range []struct{ model, want string }{
		{"local-llama", ""},
		{"claude-sonnet-4-5", ""},
		{"mock", "hello credflow"},
	} {
		resp, err := e.responses().New(ctx, responses.ResponseNewParams{
			Model: c.model, Instructions: openai.String("Be brief."), MaxOutputTokens: openai.Int(300),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello credflow")},
		})
		if err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		if resp.Object != "response" || resp.Status != "completed" || resp.Model != c.model || !strings.HasPrefix(resp.ID, "resp_") ||
			resp.OutputText() == "" || resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 || resp.Instructions.OfString != "Be brief." {
			t.Errorf("%s: %s", c.model, resp.RawJSON())
		}
		if c.want != "" && resp.OutputText() != c.want {
			t.Errorf("%s: output %q, want %q", c.model, resp.OutputText(), c.want)
		}
		if ev := e.lastEvent(); ev.Endpoint != "responses" || ev.InputTokens != resp.Usage.InputTokens || ev.OutputTokens != resp.Usage.OutputTokens || ev.Estimated {
			t.Errorf("%s: accounted %+v, response usage %+v", c.model, ev, resp.Usage)
		}
	}
	// What the upstreams got: instructions as the system prompt, the cap.
	chat := oa.last(t)
	msgs := chat["messages"].([]any)
	if chat["model"] != "local-llama" || chat["max_tokens"] != 300.0 || msgs[0].(map[string]any)["role"] != "system" ||
		msgs[1].(map[string]any)["content"] != "hello credflow" || oa.paths[0] != "/v1/chat/completions" {
		t.Errorf("chat upstream got %v at %v", chat, oa.paths)
	}
	msg := an.last(t)
	if msg["system"] != "Be brief." || msg["max_tokens"] != 300.0 || an.paths[0] != "/v1/messages" {
		t.Errorf("anthropic upstream got %v", msg)
	}
}

// A function call comes back as a function_call item; the client runs it
// and sends the call and its output back, which the upstream receives as
// its own tool call and tool result.
func TestResponsesFunctionCallRoundTrip(t *testing.T) {
	e, oa, an := responsesEnv(t)
	an.then(fileAnswer(t, "anthropic-messages-tools.json"), fileAnswer(t, "anthropic-messages.json"))
	oa.then(fileAnswer(t, "openai-chat-tools.json"), fileAnswer(t, "openai-chat.json"))
	ctx := context.Background()
	for _, model := range []string{"claude-haiku-4-5", "local-llama"} {
		first, err := e.responses().New(ctx, responses.ResponseNewParams{
			Model: model, Tools: []responses.ToolUnionParam{weatherFn},
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in SF?")},
		})
		if err != nil {
			t.Fatal(err)
		}
		var call responses.ResponseFunctionToolCall
		for _, it := range first.Output {
			if it.Type == "function_call" {
				call = it.AsFunctionCall()
				break
			}
		}
		if call.CallID == "" || call.Name == "" || !json.Valid([]byte(call.Arguments)) || !strings.HasPrefix(call.ID, "fc_") {
			t.Fatalf("%s: no function call in %s", model, first.RawJSON())
		}
		input := responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Weather in SF?", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
			functionOutput(call.CallID, `{"temp_c": 18}`),
		}
		second, err := e.responses().New(ctx, responses.ResponseNewParams{
			Model: model, Tools: []responses.ToolUnionParam{weatherFn},
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		})
		if err != nil || second.OutputText() == "" {
			t.Fatalf("%s: second turn: %v %s", model, err, second.RawJSON())
		}
		if strings.HasPrefix(model, "claude") {
			body := an.last(t)
			msgs := body["messages"].([]any)
			use := msgs[1].(map[string]any)["content"].([]any)[0].(map[string]any)
			res := msgs[2].(map[string]any)["content"].([]any)[0].(map[string]any)
			if len(msgs) != 3 || use["type"] != "tool_use" || use["id"] != call.CallID || res["type"] != "tool_result" ||
				res["tool_use_id"] != call.CallID || res["content"] != `{"temp_c": 18}` || body["tools"].([]any)[0].(map[string]any)["input_schema"] == nil {
				t.Errorf("Messages body: %v", body)
			}
		} else {
			body := oa.last(t)
			msgs := body["messages"].([]any)
			asst := msgs[1].(map[string]any)
			tool := msgs[2].(map[string]any)
			if asst["tool_calls"].([]any)[0].(map[string]any)["id"] != call.CallID || tool["role"] != "tool" || tool["tool_call_id"] != call.CallID {
				t.Errorf("chat body: %v", body)
			}
		}
	}
}

// Streams come out as Responses events, in order, each with its
// sequence number, and the SDK's accumulator rebuilds the response.
func TestResponsesStreaming(t *testing.T) {
	e, oa, an := responsesEnv(t)
	an.then(fileAnswer(t, "anthropic-stream.sse"), fileAnswer(t, "anthropic-stream-tools.sse"))
	oa.then(fileAnswer(t, "openai-chat-stream.sse"), fileAnswer(t, "openai-chat-stream-tools.sse"))
	ctx := context.Background()
	for _, c := range []struct {
		model string
		tools bool
	}{{"claude-haiku-4-5", false}, {"claude-haiku-4-5", true}, {"local-llama", false}, {"local-llama", true}, {"mock", false}} {
		params := responses.ResponseNewParams{Model: c.model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("stream to me")}}
		if c.tools {
			params.Tools = []responses.ToolUnionParam{weatherFn}
		}
		stream := e.responses().NewStreaming(ctx, params)
		var types []string
		seq := int64(-1)
		var final responses.Response
		var text strings.Builder
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			if ev.SequenceNumber != seq+1 {
				t.Errorf("%s: sequence %d after %d", c.model, ev.SequenceNumber, seq)
			}
			seq = ev.SequenceNumber
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		got := strings.Join(types, " ")
		if !strings.HasPrefix(got, "response.created response.in_progress response.output_item.added") || types[len(types)-1] != "response.completed" {
			t.Errorf("%s: events %s", c.model, got)
		}
		if final.Status != "completed" || final.Usage.OutputTokens == 0 || len(final.Output) == 0 {
			t.Errorf("%s: final response %s", c.model, final.RawJSON())
		}
		if c.tools {
			if !strings.Contains(got, "response.function_call_arguments.delta") || !strings.Contains(got, "response.function_call_arguments.done") {
				t.Errorf("%s: tool stream %s", c.model, got)
			}
			fc := final.Output[len(final.Output)-1].AsFunctionCall()
			if fc.Type != "function_call" || !json.Valid([]byte(fc.Arguments)) || fc.CallID == "" {
				t.Errorf("%s: function call %s", c.model, fc.RawJSON())
			}
		} else if text.String() == "" || final.OutputText() != text.String() {
			t.Errorf("%s: deltas %q, final %q", c.model, text.String(), final.OutputText())
		}
		if ev := e.lastEvent(); ev.OutputTokens != final.Usage.OutputTokens || ev.Estimated || !ev.Stream {
			t.Errorf("%s: accounted %+v, streamed usage %+v", c.model, ev, final.Usage)
		}
	}
	if m := an.last(t); m["stream"] != true {
		t.Errorf("anthropic upstream not asked to stream: %v", m)
	}
	if m := oa.last(t); m["stream_options"].(map[string]any)["include_usage"] != true {
		t.Errorf("chat upstream not asked for usage: %v", m)
	}
}

// Structured output, a length stop, and upstream errors before and after
// the first byte.
func TestResponsesFormatsStopsAndErrors(t *testing.T) {
	e, oa, an := responsesEnv(t)
	ctx := context.Background()
	schema := responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
		Name: "city", Schema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}, Strict: openai.Bool(true)}}}

	t.Run("json_schema", func(t *testing.T) {
		an.then(jsonAnswer(200, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"{\"name\":\"Paris\"}"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":4}}`))
		oa.then(jsonAnswer(200, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\":\"Paris\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`))
		for _, model := range []string{"claude-x", "local-x"} {
			resp, err := e.responses().New(ctx, responses.ResponseNewParams{Model: model, Text: schema,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("capital of France")}})
			if err != nil || resp.OutputText() != `{"name":"Paris"}` {
				t.Fatalf("%s: %v %s", model, err, resp.RawJSON())
			}
		}
		if f := an.last(t)["output_config"].(map[string]any)["format"].(map[string]any); f["type"] != "json_schema" || f["schema"] == nil {
			t.Errorf("anthropic format: %v", f)
		}
		if f := oa.last(t)["response_format"].(map[string]any); f["type"] != "json_schema" || f["json_schema"].(map[string]any)["name"] != "city" {
			t.Errorf("chat format: %v", f)
		}
	})
	t.Run("length stop", func(t *testing.T) {
		an.then(jsonAnswer(200, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Once upon"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":2}}`))
		oa.then(sseAnswer("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Once\"},\"finish_reason\":null}]}\n\n" +
			"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n" +
			"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n"))
		resp, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", MaxOutputTokens: openai.Int(2),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("tell a story")}})
		if err != nil || resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "max_output_tokens" {
			t.Fatalf("%v %s", err, resp.RawJSON())
		}
		stream := e.responses().NewStreaming(ctx, responses.ResponseNewParams{Model: "local-x", MaxOutputTokens: openai.Int(2),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("tell a story")}})
		var last responses.ResponseStreamEventUnion
		for stream.Next() {
			last = stream.Current()
		}
		if stream.Err() != nil || last.Type != "response.incomplete" || last.Response.IncompleteDetails.Reason != "max_output_tokens" {
			t.Fatalf("%v %s", stream.Err(), last.RawJSON())
		}
	})
	t.Run("error before the first byte", func(t *testing.T) {
		an.then(jsonAnswer(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
		oa.then(jsonAnswer(400, `{"error":{"message":"bad things","type":"invalid_request_error","param":null,"code":null}}`))
		for _, c := range []struct {
			model  string
			status int
			msg    string
		}{{"claude-x", 529, "Overloaded"}, {"local-x", 400, "bad things"}} {
			_, err := e.responses().New(ctx, responses.ResponseNewParams{Model: c.model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != c.status || !strings.Contains(apiErr.Message, c.msg) {
				t.Errorf("%s: %v", c.model, err)
			}
		}
	})
	t.Run("error after the first byte", func(t *testing.T) {
		an.then(sseAnswer(string(fixture(t, "anthropic-stream.sse")[:600]) + "\n\n" + string(fixture(t, "anthropic-stream-error.sse"))))
		oa.then(sseAnswer("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n" +
			"data: {\"error\":{\"message\":\"The server had an error while processing your request\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"))
		for _, model := range []string{"claude-x", "local-x"} {
			stream := e.responses().NewStreaming(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			var last responses.ResponseStreamEventUnion
			n := 0
			for stream.Next() {
				last = stream.Current()
				n++
			}
			// As OpenAI: an error event, which the SDK reports as the
			// stream's error, then response.failed.
			var se *ssestream.StreamError
			if !errors.As(stream.Err(), &se) || !strings.Contains(se.Message, "error") || n < 3 {
				t.Errorf("%s: %v after %d events, last %s", model, stream.Err(), n, last.RawJSON())
			}
		}
	})
}

// What cannot be served is a 400 in OpenAI's format naming the field.
func TestResponsesBadInput(t *testing.T) {
	e, _, _ := responsesEnv(t)
	for _, c := range []struct{ body, param string }{
		{`{"model":"claude-x","input":"hi","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"model":"local-x","input":"hi","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}`, "tools[0].type"},
		{`{"model":"claude-x","input":"hi","tools":[{"type":"computer_use_preview"}]}`, "tools[0].type"},
		{`{"model":"claude-x","input":[{"type":"web_search_call","id":"ws_1"}]}`, "input[0].type"},
		{`{"model":"claude-x","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input[0].content[0].file_id"},
		{`{"model":"claude-x","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0]"},
		{`{"model":"claude-x","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}`, "input[0].arguments"},
		{`{"model":"claude-x","input":[{"role":"wizard","content":"hi"}]}`, "input[0].role"},
		{`{"model":"claude-x","input":"hi","background":true}`, "background"},
		{`{"model":"claude-x","input":"hi","text":{"format":{"type":"json_object"}}}`, "text.format"},
		{`{"model":"claude-x","input":"hi","surprise":1}`, "surprise"},
	} {
		status, _, body := e.raw("/v1/responses", c.body)
		var r struct {
			Error struct {
				Param, Message string
			}
		}
		json.Unmarshal(body, &r)
		if status != 400 || r.Error.Param != c.param || r.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 naming %s", c.body, status, body, c.param)
		}
	}
}
