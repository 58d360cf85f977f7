package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/tokens"
)

// Mock is the built-in provider: deterministic replies in whichever format
// the client speaks, token counts from the same tokenizer the ledger uses,
// streaming in token-sized chunks, and configurable faults. It runs in
// process, needs no key, and backs the quick start, the tests and demos.
type Mock struct {
	name string
	opt  config.MockOptions
	seq  atomic.Uint64
}

// NewMock returns a mock provider.
func NewMock(name string, opt config.MockOptions) *Mock {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 1
	}
	// The mock counts every request; build the tokenizer now, off the
	// request path.
	tokens.Warm(tokens.O200K)
	return &Mock{name: name, opt: opt}
}

func (m *Mock) Name() string           { return m.name }
func (m *Mock) Type() string           { return "mock" }
func (m *Mock) Format() Format         { return FormatAny }
func (m *Mock) HasCredential() bool    { return true }
func (m *Mock) Supports(Endpoint) bool { return true }

// mockPrompt is what the mock reads of a request in either format.
type mockPrompt struct {
	Model    string          `json:"model"`
	System   json.RawMessage `json:"system"`
	Messages []struct {
		Role    string          `json:"role"`
		Name    string          `json:"name"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Input         json.RawMessage `json:"input"`
	Instructions  json.RawMessage `json:"instructions"`
	Prompt        json.RawMessage `json:"prompt"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// text flattens a string or an array of content blocks/parts to text.
func text(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		switch {
		case p.Text != "":
			b.WriteString(p.Text)
		case len(p.Content) > 0:
			b.WriteString(text(p.Content))
		}
	}
	return b.String()
}

// Send implements Provider by building the upstream response in memory.
func (m *Mock) Send(ctx context.Context, r *Request) (*http.Response, error) {
	if r.Method != "" && r.Method != http.MethodPost {
		// The mock keeps nothing, so there is nothing to delete.
		return m.errorResponse(r.Endpoint, http.StatusNotFound, "invalid_request_error", "mock: nothing is stored here"), nil
	}
	var p mockPrompt
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return m.errorResponse(r.Endpoint, http.StatusBadRequest, "invalid_request_error", "mock: request body is not valid JSON: "+err.Error()), nil
	}
	if d := m.opt.Latency.Std(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if s := m.opt.FailStatus; s != 0 {
		return m.errorResponse(r.Endpoint, s, errType(s), fmt.Sprintf("mock: configured to fail with status %d", s)), nil
	}
	model := p.Model
	if model == "" {
		model = r.Model
	}
	switch r.Endpoint {
	case CountTokens:
		return jsonResponse(http.StatusOK, map[string]int{"input_tokens": m.promptTokens(&p, model, true)}), nil
	case Embeddings:
		return m.embeddings(&p, model), nil
	case Moderations:
		return m.moderations(&p, model), nil
	}
	reply := m.opt.Reply
	if reply == "" {
		reply = lastUser(&p)
		if reply == "" {
			reply = "Hello from the credflow mock provider."
		}
	}
	in := m.promptTokens(&p, model, r.Endpoint == Messages)
	pieces := tokens.Split(model, reply)
	id := m.seq.Add(1)
	if r.Endpoint == Responses {
		resp := newMockResponse(id, model, &p, r.Body)
		if r.Stream {
			return m.stream(ctx, func(w *sse) { m.responsesStream(w, resp, in, pieces) }), nil
		}
		return jsonResponse(http.StatusOK, resp.object("completed", []any{resp.message(reply, "completed")}, responsesUsage(in, len(pieces)))), nil
	}
	if r.Endpoint == Messages {
		if r.Stream {
			return m.stream(ctx, func(w *sse) { m.anthropicStream(w, id, model, in, pieces) }), nil
		}
		return jsonResponse(http.StatusOK, anthropicMessage(id, model, reply, in, len(pieces))), nil
	}
	if r.Stream {
		return m.stream(ctx, func(w *sse) { m.openaiStream(w, id, model, in, pieces, p.StreamOptions.IncludeUsage) }), nil
	}
	return jsonResponse(http.StatusOK, openaiCompletion(id, model, reply, in, len(pieces))), nil
}

// PromptText flattens the text of a chat request in either format (system,
// messages, prompt, input): what a tokenizer should count when a provider
// does not report usage.
func PromptText(body []byte) string {
	var p mockPrompt
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(text(p.System))
	for _, m := range p.Messages {
		b.WriteString(text(m.Content))
	}
	b.WriteString(text(p.Instructions))
	b.WriteString(text(p.Prompt))
	b.WriteString(responsesInputText(p.Input))
	return b.String()
}

// responsesInputText flattens a Responses API input (or an embeddings
// input): a string, or items whose content and output count.
func responsesInputText(raw json.RawMessage) string {
	var items []struct {
		Content   json.RawMessage `json:"content"`
		Output    json.RawMessage `json:"output"`
		Arguments string          `json:"arguments"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return text(raw)
	}
	var b strings.Builder
	for _, it := range items {
		b.WriteString(text(it.Content))
		b.WriteString(text(it.Output))
		b.WriteString(it.Arguments)
	}
	if b.Len() == 0 {
		return text(raw)
	}
	return b.String()
}

func lastUser(p *mockPrompt) string {
	for i := len(p.Messages) - 1; i >= 0; i-- {
		if p.Messages[i].Role == "user" {
			return text(p.Messages[i].Content)
		}
	}
	if s := text(p.Prompt); s != "" {
		return s
	}
	// A Responses API input: a string, or items of which the last user
	// message counts.
	var items []struct {
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
		Output  json.RawMessage `json:"output"`
	}
	if json.Unmarshal(p.Input, &items) == nil {
		for i := len(items) - 1; i >= 0; i-- {
			if items[i].Role == "user" && (items[i].Type == "" || items[i].Type == "message") {
				return text(items[i].Content)
			}
		}
		return ""
	}
	return text(p.Input)
}

// promptTokens counts the prompt: OpenAI's documented chat framing for
// OpenAI-format requests; plain text for Anthropic ones (Claude's own
// tokenizer is not public, so o200k_base is the estimate).
func (m *Mock) promptTokens(p *mockPrompt, model string, anthropic bool) int {
	if anthropic {
		n := tokens.Count(model, text(p.System))
		for _, msg := range p.Messages {
			n += tokens.Count(model, text(msg.Content))
		}
		return n
	}
	msgs := make([]tokens.Message, len(p.Messages))
	for i, msg := range p.Messages {
		msgs[i] = tokens.Message{Role: msg.Role, Name: msg.Name, Content: text(msg.Content)}
	}
	if len(msgs) == 0 {
		return tokens.Count(model, text(p.Instructions)+text(p.Prompt)+responsesInputText(p.Input))
	}
	return tokens.CountChat(model, msgs)
}

func openaiUsage(in, out int) map[string]any {
	return map[string]any{
		"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
		"prompt_tokens_details":     map[string]int{"cached_tokens": 0},
		"completion_tokens_details": map[string]int{"reasoning_tokens": 0},
	}
}

func openaiCompletion(id uint64, model, reply string, in, out int) map[string]any {
	return map[string]any{
		"id": fmt.Sprintf("chatcmpl-mock%06d", id), "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": reply, "refusal": nil},
			"logprobs": nil, "finish_reason": "stop",
		}},
		"usage": openaiUsage(in, out), "system_fingerprint": "credflow-mock",
	}
}

func anthropicUsage(in, out int) map[string]int {
	return map[string]int{"input_tokens": in, "output_tokens": out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
}

func anthropicMessage(id uint64, model, reply string, in, out int) map[string]any {
	return map[string]any{
		"id": fmt.Sprintf("msg_mock%06d", id), "type": "message", "role": "assistant", "model": model,
		"content":     []any{map[string]string{"type": "text", "text": reply}},
		"stop_reason": "end_turn", "stop_sequence": nil, "usage": anthropicUsage(in, out),
	}
}

func (m *Mock) embeddings(p *mockPrompt, model string) *http.Response {
	var inputs []string
	var one string
	if json.Unmarshal(p.Input, &one) == nil {
		inputs = []string{one}
	} else {
		json.Unmarshal(p.Input, &inputs)
	}
	data := make([]any, len(inputs))
	n := 0
	for i, s := range inputs {
		sum := sha256.Sum256([]byte(s))
		vec := make([]float64, 8)
		for j := range vec {
			vec[j] = float64(int16(binary.BigEndian.Uint16(sum[2*j:]))) / 32768
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vec}
		n += tokens.Count(model, s)
	}
	return jsonResponse(http.StatusOK, map[string]any{"object": "list", "data": data, "model": model,
		"usage": map[string]int{"prompt_tokens": n, "total_tokens": n}})
}

// mockCategories are the moderation categories the mock scores.
var mockCategories = []string{"harassment", "hate", "self-harm", "sexual", "violence"}

// moderations answers in OpenAI's /v1/moderations shape: every category
// scores 0.01 unless the text holds "[mock:CATEGORY]", which scores 0.99
// and flags it (a deterministic trigger for tests and demos).
func (m *Mock) moderations(p *mockPrompt, model string) *http.Response {
	var inputs []string
	var one string
	if json.Unmarshal(p.Input, &one) == nil {
		inputs = []string{one}
	} else {
		json.Unmarshal(p.Input, &inputs)
	}
	results := make([]any, len(inputs))
	for i, s := range inputs {
		cats, scores := map[string]bool{}, map[string]float64{}
		flagged := false
		for _, c := range mockCategories {
			hit := strings.Contains(s, "[mock:"+c+"]")
			cats[c], scores[c] = hit, 0.01
			if hit {
				scores[c], flagged = 0.99, true
			}
		}
		results[i] = map[string]any{"flagged": flagged, "categories": cats, "category_scores": scores}
	}
	return jsonResponse(http.StatusOK, map[string]any{"id": fmt.Sprintf("modr-%d", m.seq.Add(1)), "model": model, "results": results})
}

// sse writes events into a pipe, stopping when the reader goes away.
type sse struct {
	w      *io.PipeWriter
	ctx    context.Context
	delay  time.Duration
	failed bool
}

func (s *sse) event(name string, v any) {
	if s.failed {
		return
	}
	data, _ := json.Marshal(v)
	var b bytes.Buffer
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := s.w.Write(b.Bytes()); err != nil {
		s.failed = true
	}
}

func (s *sse) raw(line string) {
	if !s.failed {
		if _, err := io.WriteString(s.w, line); err != nil {
			s.failed = true
		}
	}
}

func (s *sse) pause() {
	if s.delay <= 0 || s.failed {
		return
	}
	t := time.NewTimer(s.delay)
	select {
	case <-s.ctx.Done():
		t.Stop()
		// An abandoned stream must not end in a clean EOF.
		s.w.CloseWithError(s.ctx.Err())
		s.failed = true
	case <-t.C:
	}
}

func (m *Mock) stream(ctx context.Context, body func(*sse)) *http.Response {
	pr, pw := io.Pipe()
	s := &sse{w: pw, ctx: ctx, delay: m.opt.ChunkDelay.Std()}
	// A client that goes away closes the reader; unblock the writer.
	// Stopped once the stream is written, so that no goroutine waits on a
	// context that never ends.
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	go func() {
		body(s)
		stop()
		pw.Close()
	}()
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
		Body:   pr, ContentLength: -1,
	}
}

// chunks groups token pieces by ChunkSize.
func (m *Mock) chunks(pieces []string) []string {
	var out []string
	for i := 0; i < len(pieces); i += m.opt.ChunkSize {
		out = append(out, strings.Join(pieces[i:min(i+m.opt.ChunkSize, len(pieces))], ""))
	}
	return out
}

// cut reports whether the stream must be cut before chunk i.
func (m *Mock) cut(s *sse, i int) bool {
	if m.opt.CutAfter > 0 && i >= m.opt.CutAfter {
		s.w.CloseWithError(io.ErrUnexpectedEOF)
		s.failed = true
		return true
	}
	return false
}

func (m *Mock) openaiStream(s *sse, id uint64, model string, in int, pieces []string, usage bool) {
	cid := fmt.Sprintf("chatcmpl-mock%06d", id)
	created := time.Now().Unix()
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "credflow-mock",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
	}
	s.event("", chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
	for i, c := range m.chunks(pieces) {
		if m.cut(s, i) {
			return
		}
		s.pause()
		s.event("", chunk(map[string]any{"content": c}, nil))
	}
	s.event("", chunk(map[string]any{}, "stop"))
	if usage {
		s.event("", map[string]any{"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "credflow-mock", "choices": []any{}, "usage": openaiUsage(in, len(pieces))})
	}
	s.raw("data: [DONE]\n\n")
}

func (m *Mock) anthropicStream(s *sse, id uint64, model string, in int, pieces []string) {
	s.event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": fmt.Sprintf("msg_mock%06d", id), "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": anthropicUsage(in, 1)}})
	s.event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
	s.event("ping", map[string]string{"type": "ping"})
	for i, c := range m.chunks(pieces) {
		if m.cut(s, i) {
			return
		}
		s.pause()
		s.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": c}})
	}
	s.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	s.event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": len(pieces)}})
	s.event("message_stop", map[string]string{"type": "message_stop"})
}

func errType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 429:
		return "rate_limit_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

func (m *Mock) errorResponse(e Endpoint, status int, typ, msg string) *http.Response {
	if e.Format() == FormatAnthropic {
		return jsonResponse(status, map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
	}
	return jsonResponse(status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": strconv.Itoa(status)}})
}

func jsonResponse(status int, v any) *http.Response {
	data, _ := json.Marshal(v)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(data)),
		ContentLength: int64(len(data)),
	}
}

// mockResponse builds the mock's Responses API objects, echoing the
// request's settings the way OpenAI does.
type mockResponse struct {
	id, msgID, model string
	created          int64
	echo             map[string]json.RawMessage
}

func newMockResponse(seq uint64, model string, p *mockPrompt, body []byte) *mockResponse {
	r := &mockResponse{id: fmt.Sprintf("resp_mock%06d", seq), msgID: fmt.Sprintf("msg_mock%06d", seq), model: model,
		created: time.Now().Unix(), echo: map[string]json.RawMessage{}}
	var req map[string]json.RawMessage
	json.Unmarshal(body, &req)
	for _, k := range []string{"instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "previous_response_id",
		"reasoning", "store", "temperature", "text", "tool_choice", "tools", "top_p", "truncation", "user"} {
		if v, ok := req[k]; ok && string(v) != "null" {
			r.echo[k] = v
		}
	}
	return r
}

func (r *mockResponse) object(status string, output []any, usage any) map[string]any {
	o := map[string]any{
		"id": r.id, "object": "response", "created_at": r.created, "status": status, "background": false,
		"error": nil, "incomplete_details": nil, "instructions": nil, "max_output_tokens": nil, "model": r.model,
		"output": output, "parallel_tool_calls": true, "previous_response_id": nil,
		"reasoning": map[string]any{"effort": nil, "summary": nil}, "store": true, "temperature": 1.0,
		"text": map[string]any{"format": map[string]string{"type": "text"}}, "tool_choice": "auto", "tools": []any{},
		"top_p": 1.0, "truncation": "disabled", "usage": usage, "user": nil, "metadata": map[string]string{},
	}
	for k, v := range r.echo {
		o[k] = v
	}
	return o
}

func (r *mockResponse) message(text, status string) map[string]any {
	content := []any{}
	if status == "completed" {
		content = append(content, outputText(text))
	}
	return map[string]any{"id": r.msgID, "type": "message", "status": status, "content": content, "role": "assistant"}
}

func outputText(text string) map[string]any {
	return map[string]any{"type": "output_text", "annotations": []any{}, "logprobs": []any{}, "text": text}
}

func responsesUsage(in, out int) map[string]any {
	return map[string]any{"input_tokens": in, "input_tokens_details": map[string]int{"cached_tokens": 0},
		"output_tokens": out, "output_tokens_details": map[string]int{"reasoning_tokens": 0}, "total_tokens": in + out}
}

// responsesStream writes a Responses API stream: the events OpenAI sends
// for a one-message answer, each with its sequence_number, one delta per
// chunk.
func (m *Mock) responsesStream(s *sse, r *mockResponse, in int, pieces []string) {
	seq := 0
	event := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		s.event(typ, fields)
	}
	event("response.created", map[string]any{"response": r.object("in_progress", []any{}, nil)})
	event("response.in_progress", map[string]any{"response": r.object("in_progress", []any{}, nil)})
	event("response.output_item.added", map[string]any{"output_index": 0, "item": r.message("", "in_progress")})
	event("response.content_part.added", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "part": outputText("")})
	var text strings.Builder
	for i, c := range m.chunks(pieces) {
		if m.cut(s, i) {
			return
		}
		s.pause()
		text.WriteString(c)
		event("response.output_text.delta", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "delta": c, "logprobs": []any{}})
	}
	full := text.String()
	event("response.output_text.done", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "text": full, "logprobs": []any{}})
	event("response.content_part.done", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "part": outputText(full)})
	event("response.output_item.done", map[string]any{"output_index": 0, "item": r.message(full, "completed")})
	event("response.completed", map[string]any{"response": r.object("completed", []any{r.message(full, "completed")}, responsesUsage(in, len(pieces)))})
}
