package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/credflow/credflow/pkg/llmapi"
)

const (
	oaModel = "gpt-4o"
	anModel = "claude-sonnet-4-5"
	// longReply is many tokens long, so chunking, cutting and delays have
	// something to work on.
	longReply = "The quick brown fox jumps over the lazy dog while credflow counts every single token."
)

func mockSend(t *testing.T, m *provider.Mock, ctx context.Context, e provider.Endpoint, stream bool, body string) *http.Response {
	t.Helper()
	resp, err := m.Send(ctx, &provider.Request{Endpoint: e, Body: []byte(body), Stream: stream})
	if err != nil {
		t.Fatalf("Send(%s): %v", e, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decode reads a whole JSON response, checking status and content type.
func decode(t *testing.T, resp *http.Response, status int, v any) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength = %d, body is %d bytes", resp.ContentLength, len(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return body
}

// events reads a stream to its end, returning the events and the error
// that ended it (io.EOF for a clean end).
func events(t *testing.T, resp *http.Response) ([]llmapi.Event, error) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	r := llmapi.NewReader(resp.Body)
	var evs []llmapi.Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func unmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}

// chunked groups the reply's tokens the way the mock documents.
func chunked(model, reply string, size int) []string {
	pieces := tokens.Split(model, reply)
	var out []string
	for i := 0; i < len(pieces); i += size {
		out = append(out, strings.Join(pieces[i:min(i+size, len(pieces))], ""))
	}
	return out
}

func TestMockEchoOpenAI(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	for _, c := range []struct {
		name, body, reply string
		msgs              []tokens.Message
	}{
		{
			name: "string content",
			body: `{"model":"gpt-4o","messages":[
				{"role":"system","content":"Be brief."},
				{"role":"user","content":"first question"},
				{"role":"assistant","content":"first answer"},
				{"role":"user","name":"alice","content":"What is 2+2?"}]}`,
			reply: "What is 2+2?",
			msgs: []tokens.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "first question"},
				{Role: "assistant", Content: "first answer"}, {Role: "user", Name: "alice", Content: "What is 2+2?"}},
		},
		{
			name: "content parts, last message not the user's",
			body: `{"model":"gpt-4o","messages":[
				{"role":"user","content":[{"type":"text","text":"Describe "},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"this image."}]},
				{"role":"assistant","content":"Sure:"}]}`,
			reply: "Describe this image.",
			msgs:  []tokens.Message{{Role: "user", Content: "Describe this image."}, {Role: "assistant", Content: "Sure:"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got llmapi.ChatResponse
			decode(t, mockSend(t, m, context.Background(), provider.ChatCompletions, false, c.body), 200, &got)
			if got.Object != "chat.completion" || got.Model != oaModel || got.ID == "" {
				t.Errorf("object/model/id = %q/%q/%q", got.Object, got.Model, got.ID)
			}
			if len(got.Choices) != 1 || got.Choices[0].Message.Content == nil {
				t.Fatalf("choices = %+v", got.Choices)
			}
			ch := got.Choices[0]
			if *ch.Message.Content != c.reply || ch.Message.Role != "assistant" || ch.FinishReason != "stop" {
				t.Errorf("message = %q (%s, %s), want %q", *ch.Message.Content, ch.Message.Role, ch.FinishReason, c.reply)
			}
			wantIn, wantOut := tokens.CountChat(oaModel, c.msgs), tokens.Count(oaModel, c.reply)
			if u := got.Usage; u == nil || u.PromptTokens != wantIn || u.CompletionTokens != wantOut || u.TotalTokens != wantIn+wantOut {
				t.Errorf("usage = %+v, want prompt %d completion %d", u, wantIn, wantOut)
			}
		})
	}
}

func TestMockEchoAnthropic(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	for _, c := range []struct {
		name, body, reply string
		texts             []string // what input tokens are counted over
	}{
		{
			name: "string content",
			body: `{"model":"claude-sonnet-4-5","max_tokens":100,"system":"You are terse.","messages":[
				{"role":"user","content":"Hi there"},
				{"role":"assistant","content":"Hello"},
				{"role":"user","content":"Tell me a joke"}]}`,
			reply: "Tell me a joke",
			texts: []string{"You are terse.", "Hi there", "Hello", "Tell me a joke"},
		},
		{
			name: "content blocks",
			body: `{"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"Sys one. "},{"type":"text","text":"Sys two."}],"messages":[
				{"role":"user","content":[{"type":"text","text":"Look: "},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"a cat."}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"sunny"}]},{"type":"text","text":" and warm"}]}]}`,
			reply: "sunny and warm",
			texts: []string{"Sys one. Sys two.", "Look: a cat.", "", "sunny and warm"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got llmapi.MessagesResponse
			decode(t, mockSend(t, m, context.Background(), provider.Messages, false, c.body), 200, &got)
			if got.Type != "message" || got.Role != "assistant" || got.Model != anModel || got.ID == "" {
				t.Errorf("type/role/model/id = %q/%q/%q/%q", got.Type, got.Role, got.Model, got.ID)
			}
			if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != c.reply {
				t.Errorf("content = %+v, want one text block %q", got.Content, c.reply)
			}
			if got.StopReason == nil || *got.StopReason != "end_turn" {
				t.Errorf("stop_reason = %v", got.StopReason)
			}
			wantIn := 0
			for _, s := range c.texts {
				wantIn += tokens.Count(anModel, s)
			}
			if got.Usage.InputTokens != wantIn || got.Usage.OutputTokens != tokens.Count(anModel, c.reply) {
				t.Errorf("usage = %+v, want input %d output %d", got.Usage, wantIn, tokens.Count(anModel, c.reply))
			}
		})
	}
}

func TestMockReplyOverrides(t *testing.T) {
	const reply = "A fixed answer, whatever you ask."
	m := provider.NewMock("mock", config.MockOptions{Reply: reply})
	var oa llmapi.ChatResponse
	decode(t, mockSend(t, m, context.Background(), provider.ChatCompletions, false,
		`{"model":"gpt-4o","messages":[{"role":"user","content":"echo me"}]}`), 200, &oa)
	if len(oa.Choices) != 1 || oa.Choices[0].Message.Content == nil || *oa.Choices[0].Message.Content != reply {
		t.Errorf("openai reply = %+v", oa.Choices)
	}
	if oa.Usage == nil || oa.Usage.CompletionTokens != tokens.Count(oaModel, reply) {
		t.Errorf("openai usage = %+v", oa.Usage)
	}
	var an llmapi.MessagesResponse
	decode(t, mockSend(t, m, context.Background(), provider.Messages, false,
		`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"echo me"}]}`), 200, &an)
	if len(an.Content) != 1 || an.Content[0].Text != reply || an.Usage.OutputTokens != tokens.Count(anModel, reply) {
		t.Errorf("anthropic reply = %+v usage %+v", an.Content, an.Usage)
	}
}

func TestMockNoUserMessage(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	var oa llmapi.ChatResponse
	decode(t, mockSend(t, m, context.Background(), provider.ChatCompletions, false, `{"model":"gpt-4o","messages":[]}`), 200, &oa)
	if len(oa.Choices) != 1 || oa.Choices[0].Message.Content == nil || *oa.Choices[0].Message.Content == "" {
		t.Errorf("no user message: choices = %+v, want a non-empty default reply", oa.Choices)
	}
	// The model comes from Request.Model when the body names none.
	resp, err := m.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Model: "gpt-4o-mini",
		Body: []byte(`{"messages":[{"role":"user","content":"x"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	decode(t, resp, 200, &oa)
	if oa.Model != "gpt-4o-mini" {
		t.Errorf("model = %q, want the request's", oa.Model)
	}
}

func TestMockOpenAIStream(t *testing.T) {
	const size = 2
	m := provider.NewMock("mock", config.MockOptions{Reply: longReply, ChunkSize: size})
	msgs := []tokens.Message{{Role: "user", Content: "go"}}
	wantChunks := chunked(oaModel, longReply, size)
	if len(wantChunks) < 4 {
		t.Fatalf("reply too short for the test: %d chunks", len(wantChunks))
	}
	for _, includeUsage := range []bool{false, true} {
		name := "without usage"
		body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"go"}]}`
		if includeUsage {
			name = "with usage"
			body = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"go"}]}`
		}
		t.Run(name, func(t *testing.T) {
			evs, err := events(t, mockSend(t, m, context.Background(), provider.ChatCompletions, true, body))
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want a clean end", err)
			}
			want := 1 + len(wantChunks) + 1 + 1 // role, content, finish, [DONE]
			if includeUsage {
				want++
			}
			if len(evs) != want {
				t.Fatalf("%d events, want %d", len(evs), want)
			}
			if !evs[len(evs)-1].IsDone() {
				t.Fatalf("last event = %q, want [DONE]", evs[len(evs)-1].Data)
			}
			var chunks []llmapi.ChatChunk
			for _, ev := range evs[:len(evs)-1] {
				if ev.Name != "" {
					t.Errorf("OpenAI event with a name: %q", ev.Name)
				}
				var c llmapi.ChatChunk
				unmarshal(t, ev.Data, &c)
				if c.Object != "chat.completion.chunk" || c.Model != oaModel {
					t.Errorf("chunk object/model = %q/%q", c.Object, c.Model)
				}
				if len(chunks) > 0 && c.ID != chunks[0].ID {
					t.Errorf("chunk id %q differs from %q", c.ID, chunks[0].ID)
				}
				chunks = append(chunks, c)
			}
			choice := func(i int) llmapi.ChatChunkChoice {
				t.Helper()
				if len(chunks[i].Choices) != 1 {
					t.Fatalf("chunk %d: %d choices", i, len(chunks[i].Choices))
				}
				return chunks[i].Choices[0]
			}
			if c := choice(0); c.Delta.Role != "assistant" || c.Delta.Content == nil || *c.Delta.Content != "" || c.FinishReason != nil {
				t.Errorf("first chunk = %+v, want the role", c)
			}
			var all strings.Builder
			for i, w := range wantChunks {
				c := choice(1 + i)
				if c.Delta.Content == nil || *c.Delta.Content != w || c.FinishReason != nil || c.Delta.Role != "" {
					t.Errorf("content chunk %d = %+v, want %q", i, c, w)
				}
				if c.Delta.Content != nil {
					all.WriteString(*c.Delta.Content)
				}
			}
			if all.String() != longReply {
				t.Errorf("streamed content = %q, want %q", all.String(), longReply)
			}
			fin := choice(1 + len(wantChunks))
			if fin.FinishReason == nil || *fin.FinishReason != "stop" || fin.Delta.Content != nil {
				t.Errorf("finish chunk = %+v", fin)
			}
			for i, c := range chunks {
				if c.Usage != nil && !(includeUsage && i == len(chunks)-1) {
					t.Errorf("chunk %d carries usage", i)
				}
			}
			if includeUsage {
				last := evs[len(evs)-2]
				var raw map[string]json.RawMessage
				unmarshal(t, last.Data, &raw)
				if string(raw["choices"]) != "[]" {
					t.Errorf("usage chunk choices = %s, want []", raw["choices"])
				}
				u := chunks[len(chunks)-1].Usage
				wantIn, wantOut := tokens.CountChat(oaModel, msgs), tokens.Count(oaModel, longReply)
				if u == nil || u.PromptTokens != wantIn || u.CompletionTokens != wantOut || u.TotalTokens != wantIn+wantOut {
					t.Errorf("usage = %+v, want %d/%d", u, wantIn, wantOut)
				}
			}
		})
	}
}

func TestMockAnthropicStream(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	const prompt = "Stream this reply back to me please"
	body := `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"system":"Sys.","messages":[{"role":"user","content":"` + prompt + `"}]}`
	evs, err := events(t, mockSend(t, m, context.Background(), provider.Messages, true, body))
	if err != io.EOF {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	pieces := tokens.Split(anModel, prompt)
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	want := []string{"message_start", "content_block_start", "ping"}
	for range pieces {
		want = append(want, "content_block_delta")
	}
	want = append(want, "content_block_stop", "message_delta", "message_stop")
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("events:\n got %v\nwant %v", names, want)
	}
	parsed := make([]llmapi.MessagesStreamEvent, len(evs))
	for i, ev := range evs {
		unmarshal(t, ev.Data, &parsed[i])
		if parsed[i].Type != ev.Name {
			t.Errorf("event %q has data type %q", ev.Name, parsed[i].Type)
		}
	}
	start := parsed[0].Message
	wantIn := tokens.Count(anModel, "Sys.") + tokens.Count(anModel, prompt)
	if start == nil || start.Role != "assistant" || start.Model != anModel || start.Usage.InputTokens != wantIn || len(start.Content) != 0 || start.StopReason != nil {
		t.Errorf("message_start = %+v, want input_tokens %d", start, wantIn)
	}
	if cb := parsed[1].ContentBlock; cb == nil || cb.Type != "text" || cb.Text != "" || parsed[1].Index == nil || *parsed[1].Index != 0 {
		t.Errorf("content_block_start = %+v", parsed[1])
	}
	var all strings.Builder
	for i := range pieces {
		d := parsed[3+i]
		if d.Delta == nil || d.Delta.Type != "text_delta" || d.Delta.Text != pieces[i] || d.Index == nil || *d.Index != 0 {
			t.Errorf("delta %d = %+v, want %q", i, d.Delta, pieces[i])
			continue
		}
		all.WriteString(d.Delta.Text)
	}
	if all.String() != prompt {
		t.Errorf("streamed text = %q, want %q", all.String(), prompt)
	}
	md := parsed[len(parsed)-2]
	if md.Delta == nil || md.Delta.StopReason == nil || *md.Delta.StopReason != "end_turn" {
		t.Errorf("message_delta = %+v", md.Delta)
	}
	if md.Usage == nil || md.Usage.OutputTokens != len(pieces) {
		t.Errorf("message_delta usage = %+v, want output_tokens %d", md.Usage, len(pieces))
	}
}

func TestMockFailStatus(t *testing.T) {
	for _, c := range []struct {
		status int
		typ    string
	}{
		{503, "api_error"},
		{429, "rate_limit_error"},
		{401, "authentication_error"},
		{400, "invalid_request_error"},
	} {
		m := provider.NewMock("mock", config.MockOptions{FailStatus: c.status})
		for _, stream := range []bool{false, true} {
			var oa struct {
				Error *struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			decode(t, mockSend(t, m, context.Background(), provider.ChatCompletions, stream,
				`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`), c.status, &oa)
			if oa.Error == nil || oa.Error.Type != c.typ || oa.Error.Message == "" {
				t.Errorf("%d openai (stream %v): error = %+v, want type %s", c.status, stream, oa.Error, c.typ)
			}

			var an llmapi.MessagesErrorResponse
			decode(t, mockSend(t, m, context.Background(), provider.Messages, stream,
				`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`), c.status, &an)
			if an.Type != "error" || an.Error.Type != c.typ || an.Error.Message == "" {
				t.Errorf("%d anthropic (stream %v): %+v, want type %s", c.status, stream, an, c.typ)
			}
		}
		// Every endpoint fails, in its API's error shape.
		var ct llmapi.MessagesErrorResponse
		decode(t, mockSend(t, m, context.Background(), provider.CountTokens, false, `{"messages":[]}`), c.status, &ct)
		if ct.Type != "error" || ct.Error.Type != c.typ {
			t.Errorf("%d count_tokens: %+v", c.status, ct)
		}
		var emb llmapi.ChatErrorResponse
		decode(t, mockSend(t, m, context.Background(), provider.Embeddings, false, `{"input":"x"}`), c.status, &emb)
		if emb.Error.Type != c.typ {
			t.Errorf("%d embeddings: %+v", c.status, emb)
		}
	}
}

func TestMockInvalidJSON(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	for _, e := range []provider.Endpoint{provider.ChatCompletions, provider.Embeddings, provider.Completions} {
		var oa llmapi.ChatErrorResponse
		body := decode(t, mockSend(t, m, context.Background(), e, false, `{"model":`), 400, &oa)
		if oa.Error.Type != "invalid_request_error" || oa.Error.Message == "" {
			t.Errorf("%s: %s", e, body)
		}
		var raw map[string]json.RawMessage
		unmarshal(t, body, &raw)
		if _, ok := raw["type"]; ok {
			t.Errorf("%s: OpenAI error with Anthropic's top-level type: %s", e, body)
		}
	}
	for _, e := range []provider.Endpoint{provider.Messages, provider.CountTokens} {
		var an llmapi.MessagesErrorResponse
		body := decode(t, mockSend(t, m, context.Background(), e, true, `not json`), 400, &an)
		if an.Type != "error" || an.Error.Type != "invalid_request_error" || an.Error.Message == "" {
			t.Errorf("%s: %s", e, body)
		}
	}
}

func TestMockLatency(t *testing.T) {
	const latency = 80 * time.Millisecond
	m := provider.NewMock("mock", config.MockOptions{Latency: config.Duration(latency)})
	for _, stream := range []bool{false, true} {
		start := time.Now()
		resp := mockSend(t, m, context.Background(), provider.ChatCompletions, stream, `{"messages":[{"role":"user","content":"hi"}]}`)
		if d := time.Since(start); d < latency {
			t.Errorf("stream %v: answered after %v, want >= %v", stream, d, latency)
		} else if d > latency+2*time.Second {
			t.Errorf("stream %v: answered after %v", stream, d)
		}
		io.Copy(io.Discard, resp.Body)
	}

	t.Run("cancel during latency", func(t *testing.T) {
		m := provider.NewMock("mock", config.MockOptions{Latency: config.Duration(10 * time.Second)})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		resp, err := m.Send(ctx, &provider.Request{Endpoint: provider.Messages, Body: []byte(`{}`)})
		if err == nil {
			resp.Body.Close()
			t.Fatal("Send succeeded after cancel")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Send returned %v after start, want promptly after the 20ms cancel", d)
		}
	})

	t.Run("deadline during latency", func(t *testing.T) {
		m := provider.NewMock("mock", config.MockOptions{Latency: config.Duration(10 * time.Second)})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := m.Send(ctx, &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestMockCutAfter(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{Reply: longReply, CutAfter: 2})
	if n := len(tokens.Split(oaModel, longReply)); n <= 2 {
		t.Fatalf("reply too short: %d tokens", n)
	}
	pieces := tokens.Split(oaModel, longReply)

	t.Run("openai", func(t *testing.T) {
		evs, err := events(t, mockSend(t, m, context.Background(), provider.ChatCompletions, true,
			`{"model":"gpt-4o","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("stream ended with %v, want io.ErrUnexpectedEOF", err)
		}
		if len(evs) != 3 { // role + 2 content chunks
			t.Fatalf("%d events before the cut, want 3", len(evs))
		}
		for i, ev := range evs {
			if ev.IsDone() {
				t.Fatal("[DONE] in a cut stream")
			}
			var c llmapi.ChatChunk
			unmarshal(t, ev.Data, &c)
			if len(c.Choices) != 1 || c.Choices[0].FinishReason != nil || c.Usage != nil {
				t.Errorf("event %d looks final: %s", i, ev.Data)
			}
			if i > 0 && (c.Choices[0].Delta.Content == nil || *c.Choices[0].Delta.Content != pieces[i-1]) {
				t.Errorf("content chunk %d = %s, want %q", i-1, ev.Data, pieces[i-1])
			}
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		evs, err := events(t, mockSend(t, m, context.Background(), provider.Messages, true,
			`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("stream ended with %v, want io.ErrUnexpectedEOF", err)
		}
		var names []string
		for _, ev := range evs {
			names = append(names, ev.Name)
		}
		if got, want := strings.Join(names, ","), "message_start,content_block_start,ping,content_block_delta,content_block_delta"; got != want {
			t.Errorf("events = %s, want %s", got, want)
		}
	})
}

func TestMockChunkDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	const reply = "one two three four five"
	const attempts = 3
	m := provider.NewMock("mock", config.MockOptions{Reply: reply, ChunkDelay: config.Duration(delay)})
	n := len(tokens.Split(oaModel, reply))
	slowest := time.Duration(n)*delay + 2*time.Second
	// The pauses are checked exactly on every stream. That the stream is
	// not far slower than its pauses can only be timed, and a loaded
	// machine may stall this process for a second or more: a stream over
	// the bound is timed again, and a mock that is really that slow fails
	// every attempt.
	for attempt := 1; ; attempt++ {
		total := mockChunkStream(t, m, n, delay)
		if total <= slowest {
			return
		}
		if attempt == attempts {
			t.Fatalf("content chunks over %v in each of %d streams, far slower than %d x %v", total, attempts, n, delay)
		}
		t.Logf("content chunks over %v, far slower than %d x %v (a loaded machine?); again", total, n, delay)
	}
}

// mockChunkStream reads a stream of m's with n content chunks, checks that
// a pause of at least delay came before each, and returns the time from
// before the first pause to the last chunk.
func mockChunkStream(t *testing.T, m *provider.Mock, n int, delay time.Duration) time.Duration {
	t.Helper()
	resp := mockSend(t, m, context.Background(), provider.ChatCompletions, true, `{"model":"gpt-4o","messages":[]}`)
	// Reads of a few bytes split every event (each is one write to a
	// pipe, a couple of hundred bytes).
	tr := &timedReader{r: resp.Body, max: 32}
	r := llmapi.NewReader(tr)
	chunks := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var c llmapi.ChatChunk
		if ev.IsDone() {
			continue
		}
		unmarshal(t, ev.Data, &c)
		if len(c.Choices) == 1 && c.Choices[0].Delta.Content != nil && *c.Choices[0].Delta.Content != "" {
			chunks++
		}
	}
	if chunks != n {
		t.Fatalf("%d content chunks, want %d", chunks, n)
	}
	// A write to a pipe returns once the reader took its last byte, and
	// the mock pauses after that, before writing a content chunk. The
	// read that took the previous event's last bytes began after that
	// event was written (its first bytes came in an earlier read) and
	// before the pause; the read that brought the chunk's first bytes
	// ended after the pause. From the one to the other is the pause at
	// least, however late this goroutine ran.
	var first, last time.Time
	contents := 0
	for off, ev := range tr.events() {
		var c llmapi.ChatChunk
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		unmarshal(t, []byte(data), &c)
		if len(c.Choices) != 1 || c.Choices[0].Delta.Content == nil || *c.Choices[0].Delta.Content == "" {
			continue
		}
		contents++
		k := tr.readAt(off)
		if k == 0 {
			t.Fatalf("content chunk %d in the stream's first read", contents)
		}
		before, after := tr.reads[k-1].start, tr.reads[k].end
		if gap := after.Sub(before); gap < delay {
			t.Errorf("content chunk %d: %v from the end of the previous event to it, want a pause of at least %v", contents, gap, delay)
		}
		if contents == 1 {
			first = before
		}
		last = after
	}
	if contents != n {
		t.Fatalf("%d content chunks in the raw stream, want %d", contents, n)
	}
	// One pause after another: the chunks cannot come sooner.
	total := last.Sub(first)
	if total < time.Duration(n)*delay {
		t.Errorf("content chunks over %v, want >= %d x %v", total, n, delay)
	}
	return total
}

// timedReader notes when each read of a stream began and returned, and
// which of its bytes it brought; max bounds a read.
type timedReader struct {
	r     io.Reader
	max   int
	raw   []byte
	reads []timedRead
}

type timedRead struct {
	start, end time.Time
	from, to   int // the stream's bytes [from, to)
}

func (r *timedReader) Read(p []byte) (int, error) {
	if len(p) > r.max {
		p = p[:r.max]
	}
	start := time.Now()
	n, err := r.r.Read(p)
	if n > 0 {
		r.reads = append(r.reads, timedRead{start: start, end: time.Now(), from: len(r.raw), to: len(r.raw) + n})
		r.raw = append(r.raw, p[:n]...)
	}
	return n, err
}

// readAt returns the index of the read that brought the byte at off.
func (r *timedReader) readAt(off int) int {
	for i, rd := range r.reads {
		if off < rd.to {
			return i
		}
	}
	panic("offset past the stream")
}

// events yields the offset and the text of each event read so far (the
// streams here have one field per event and LF line ends).
func (r *timedReader) events() func(yield func(int, string) bool) {
	return func(yield func(int, string) bool) {
		off := 0
		for off < len(r.raw) {
			ev, _, _ := strings.Cut(string(r.raw[off:]), "\n\n")
			if !yield(off, ev) {
				return
			}
			off += len(ev) + 2
		}
	}
}

// mockStreamGoroutines returns the stacks of goroutines started by the
// mock's streams.
func mockStreamGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "provider.(*Mock).stream") {
			out = append(out, g)
		}
	}
	return out
}

// waitGoroutines waits up to a second for the mock's stream goroutines to
// fall back to base, and the process's goroutines to total.
func waitGoroutines(t *testing.T, base, total int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		ms, all := mockStreamGoroutines(), runtime.NumGoroutine()
		if len(ms) <= base && all <= total {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left behind: %d of the mock's stream (baseline %d), %d in all (baseline %d)\n%s",
				len(ms), base, all, total, strings.Join(ms, "\n\n"))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMockClientGoesAway(t *testing.T) {
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{
		{"writer blocked on the client", 0},
		{"writer pausing between chunks", 20 * time.Millisecond},
	} {
		for _, e := range []provider.Endpoint{provider.ChatCompletions, provider.Messages} {
			t.Run(c.name+"/"+string(e), func(t *testing.T) {
				m := provider.NewMock("mock", config.MockOptions{Reply: strings.Repeat(longReply+" ", 10), ChunkDelay: config.Duration(c.delay)})
				tokens.Count(oaModel, "warm") // the tokenizer's builder is not ours to count
				base, total := len(mockStreamGoroutines()), runtime.NumGoroutine()

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				resp, err := m.Send(ctx, &provider.Request{Endpoint: e, Stream: true,
					Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`)})
				if err != nil {
					t.Fatal(err)
				}
				r := llmapi.NewReader(resp.Body)
				for range 4 {
					if _, err := r.Next(); err != nil {
						t.Fatalf("before cancel: %v", err)
					}
				}
				cancel()
				if c.delay == 0 {
					// Give the watcher a moment, or the reader may
					// legitimately drain the whole stream first.
					time.Sleep(10 * time.Millisecond)
				}
				done := make(chan error, 1)
				var last llmapi.Event
				go func() {
					for {
						ev, err := r.Next()
						if err != nil {
							done <- err
							return
						}
						last = ev
					}
				}()
				select {
				case err := <-done:
					complete := last.IsDone() || last.Name == "message_stop"
					if err == io.EOF && (!complete || c.delay > 0) {
						t.Errorf("stream cut by the cancel ended in a clean EOF (last event %q %s)", last.Name, last.Data)
					}
				case <-time.After(time.Second):
					t.Fatal("reading still blocked 1s after cancel")
				}
				resp.Body.Close()
				waitGoroutines(t, base, total)
			})
		}
	}
}

// A caller that closes the body (the Provider contract) releases the
// stream even when its context never ends.
func TestMockStreamReleasedWithoutCancel(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{Reply: longReply})
	tokens.Count(oaModel, "warm")

	t.Run("read to the end", func(t *testing.T) {
		base, total := len(mockStreamGoroutines()), runtime.NumGoroutine()
		resp, err := m.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Stream: true,
			Body: []byte(`{"model":"gpt-4o","messages":[]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitGoroutines(t, base, total)
	})
	t.Run("closed early", func(t *testing.T) {
		base, total := len(mockStreamGoroutines()), runtime.NumGoroutine()
		resp, err := m.Send(context.Background(), &provider.Request{Endpoint: provider.Messages, Stream: true,
			Body: []byte(`{"model":"claude-sonnet-4-5","messages":[]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := llmapi.NewReader(resp.Body).Next(); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitGoroutines(t, base, total)
	})
}

func TestMockEmbeddings(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	type embResp struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	const model = "text-embedding-3-small"
	inputs := []string{"alpha", "a longer second input", "alpha"}
	body, _ := json.Marshal(map[string]any{"model": model, "input": inputs})
	var got embResp
	decode(t, mockSend(t, m, context.Background(), provider.Embeddings, false, string(body)), 200, &got)
	if got.Object != "list" || got.Model != model || len(got.Data) != len(inputs) {
		t.Fatalf("response = %+v", got)
	}
	want := 0
	for i, s := range inputs {
		want += tokens.Count(model, s)
		d := got.Data[i]
		if d.Object != "embedding" || d.Index != i || len(d.Embedding) == 0 {
			t.Errorf("data[%d] = %+v", i, d)
		}
		nonzero := false
		for _, v := range d.Embedding {
			nonzero = nonzero || v != 0
			if v < -1 || v > 1 {
				t.Errorf("data[%d] component %v out of [-1, 1]", i, v)
			}
		}
		if !nonzero {
			t.Errorf("data[%d] is all zeros", i)
		}
	}
	if got.Usage.PromptTokens != want || got.Usage.TotalTokens != want {
		t.Errorf("usage = %+v, want %d", got.Usage, want)
	}
	vec := func(i int) string { b, _ := json.Marshal(got.Data[i].Embedding); return string(b) }
	if vec(0) != vec(2) {
		t.Error("the same input gave different vectors")
	}
	if vec(0) == vec(1) {
		t.Error("different inputs gave the same vector")
	}

	// A single string input, in another request, gives the same vector.
	var one embResp
	decode(t, mockSend(t, m, context.Background(), provider.Embeddings, false, `{"model":"text-embedding-3-small","input":"alpha"}`), 200, &one)
	if len(one.Data) != 1 {
		t.Fatalf("single input: %d vectors", len(one.Data))
	}
	if b, _ := json.Marshal(one.Data[0].Embedding); string(b) != vec(0) {
		t.Errorf("vector not deterministic across requests: %s vs %s", b, vec(0))
	}
	if one.Usage.PromptTokens != tokens.Count(model, "alpha") {
		t.Errorf("single input usage = %+v", one.Usage)
	}
	// And from a fresh mock: nothing per-instance feeds the vectors.
	var fresh embResp
	decode(t, mockSend(t, provider.NewMock("other", config.MockOptions{}), context.Background(), provider.Embeddings, false,
		`{"model":"text-embedding-3-small","input":["alpha"]}`), 200, &fresh)
	if b, _ := json.Marshal(fresh.Data[0].Embedding); len(fresh.Data) != 1 || string(b) != vec(0) {
		t.Errorf("fresh mock vector %s, want %s", b, vec(0))
	}
}

func TestMockCountTokens(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	body := `{"model":"claude-sonnet-4-5","system":"You are a counter.","messages":[
		{"role":"user","content":"How many tokens is this?"},
		{"role":"assistant","content":[{"type":"text","text":"Let me count."}]}]}`
	var raw map[string]json.RawMessage
	got := decode(t, mockSend(t, m, context.Background(), provider.CountTokens, false, body), 200, &raw)
	want := tokens.Count(anModel, "You are a counter.") + tokens.Count(anModel, "How many tokens is this?") + tokens.Count(anModel, "Let me count.")
	var n int
	if len(raw) != 1 || json.Unmarshal(raw["input_tokens"], &n) != nil || n != want {
		t.Errorf("count_tokens = %s, want {\"input_tokens\":%d}", got, want)
	}
}
