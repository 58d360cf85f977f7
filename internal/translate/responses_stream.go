package translate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// NewChatToResponsesStream translates a Chat Completions stream (asked
// with stream_options.include_usage) into a Responses API stream for the
// response meta describes.
func NewChatToResponsesStream(meta *ResponseMeta) *ResponsesStream {
	s := &ResponsesStream{w: newResponsesWriter(meta)}
	s.chat = &chatSource{tools: map[int]int{}}
	return s
}

// NewMessagesToResponsesStream translates an Anthropic Messages stream
// into a Responses API stream.
func NewMessagesToResponsesStream(meta *ResponseMeta) *ResponsesStream {
	return &ResponsesStream{w: newResponsesWriter(meta), messages: &messagesSource{}}
}

// NewChatAccumulator reads a Chat Completions stream into a Result
// without writing anything: the context engine keeps what a streamed
// reply said. Feed it with Translate (emit may be nil) and Finish.
func NewChatAccumulator() *ResponsesStream {
	s := NewChatToResponsesStream(&ResponseMeta{})
	s.w.quiet = true
	return s
}

// NewMessagesAccumulator reads an Anthropic Messages stream into a Result
// without writing anything.
func NewMessagesAccumulator() *ResponsesStream {
	s := NewMessagesToResponsesStream(&ResponseMeta{})
	s.w.quiet = true
	return s
}

// ResponsesStream is a StreamTranslator whose client speaks the Responses
// API. Events come out in OpenAI's order, each with its sequence_number:
// response.created and response.in_progress; per output item
// output_item.added, its content or summary part, the deltas, their
// .done events and output_item.done; then response.completed,
// response.incomplete (a length or content-filter stop) or response.failed
// (an upstream error or a stream cut short).
type ResponsesStream struct {
	w        *responsesWriter
	chat     *chatSource
	messages *messagesSource
}

// Translate implements StreamTranslator.
func (s *ResponsesStream) Translate(ev llmapi.Event, emit func(llmapi.Event) error) error {
	if s.w.ended {
		return nil
	}
	s.w.emit = emit
	if s.chat != nil {
		return s.chat.event(s.w, ev)
	}
	return s.messages.event(s.w, ev)
}

// Finish implements StreamTranslator.
func (s *ResponsesStream) Finish(emit func(llmapi.Event) error) error {
	if s.w.ended {
		return nil
	}
	s.w.emit = emit
	if s.w.stop != "" {
		return s.w.finish()
	}
	return s.w.fail("server_error", "the upstream stream ended before the response was complete")
}

// Fail ends the stream with response.failed, for an upstream stream that
// broke off.
func (s *ResponsesStream) Fail(emit func(llmapi.Event) error, code, msg string) error {
	if s.w.ended {
		return nil
	}
	s.w.emit = emit
	return s.w.fail(code, msg)
}

// Result is the response as streamed so far: its output items and usage.
func (s *ResponsesStream) Result() *Result {
	return &Result{Items: s.w.items, Stop: s.w.stop, Usage: s.w.usage}
}

// Failed reports whether the stream ended in response.failed.
func (s *ResponsesStream) Failed() bool { return s.w.failed }

type openKind uint8

const (
	openNone openKind = iota
	openMessage
	openTool
	openReasoning
)

// responsesWriter writes the Responses events of a response built one
// piece at a time, and keeps its items for the final response object.
type responsesWriter struct {
	meta    *ResponseMeta
	emit    func(llmapi.Event) error
	seq     int
	started bool
	ended   bool
	failed  bool

	items []contextdoc.Item
	open  openKind
	// buf collects the open item's text (message text, arguments or
	// reasoning summary) for its .done events.
	buf     strings.Builder
	summary bool // the open reasoning item has a summary part
	stop    string
	usage   Usage
	// quiet: accumulate only, emit nothing.
	quiet bool
}

func newResponsesWriter(meta *ResponseMeta) *responsesWriter {
	return &responsesWriter{meta: meta}
}

// event marshals one event: "type" and "sequence_number" first, as OpenAI
// writes them.
func (w *responsesWriter) event(typ string, fields ...any) error {
	if w.quiet {
		return nil
	}
	var b []byte
	b = append(b, `{"type":`...)
	b = appendJSON(b, typ)
	b = append(b, `,"sequence_number":`...)
	b = appendJSON(b, w.seq)
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, ',')
		b = appendJSON(b, fields[i].(string))
		b = append(b, ':')
		b = appendJSON(b, fields[i+1])
	}
	b = append(b, '}')
	w.seq++
	return w.emit(llmapi.Event{Name: typ, Data: b})
}

func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case json.RawMessage:
		return append(b, t...)
	case string:
		return appendJSONString(b, t)
	case int:
		return strconv.AppendInt(b, int64(t), 10)
	}
	return append(b, marshal(v)...)
}

// appendJSONString appends s as encoding/json writes it without HTML
// escaping (deltas are most of a stream: no encoder per string).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain ASCII bytes at a time: most text needs no escape.
		for i+8 <= len(s) && plainWord(le64(s[i:i+8])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// le64 reads eight bytes of a string as a little-endian word (the
// compiler makes it one load).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainWord reports whether eight bytes are all ASCII that JSON copies as
// they are: none below 0x20, none of '"' and '\\', none of 0x80 and up.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) bool { return (v-ones)&^v&highs != 0 }
	below := (x - ones*0x20) &^ x & highs // a byte below 0x20 (x has no high bits here)
	return x&highs == 0 && below == 0 && !hasZero(x^(ones*'"')) && !hasZero(x^(ones*'\\'))
}

// response is the response object as it stands.
func (w *responsesWriter) response(status string) llmapi.ResponsesResponse {
	r := responseObject(w.meta, status)
	for i := range w.items {
		st := "completed"
		if status == "in_progress" || (status == "failed" && i == len(w.items)-1 && w.open != openNone) {
			st = "incomplete"
		}
		r.Output = append(r.Output, outputItem(&w.items[i], st, w.meta))
	}
	return r
}

func (w *responsesWriter) start() error {
	if w.started {
		return nil
	}
	w.started = true
	if w.quiet {
		return nil
	}
	r := w.response("in_progress")
	if err := w.event("response.created", "response", r); err != nil {
		return err
	}
	return w.event("response.in_progress", "response", r)
}

func (w *responsesWriter) index() int { return len(w.items) - 1 }

func (w *responsesWriter) cur() *contextdoc.Item { return &w.items[len(w.items)-1] }

// add opens a new output item.
func (w *responsesWriter) add(it contextdoc.Item, kind openKind) error {
	if err := w.closeOpen(); err != nil {
		return err
	}
	w.items = append(w.items, it)
	w.open = kind
	w.buf.Reset()
	w.summary = false
	if w.quiet {
		return nil
	}
	return w.event("response.output_item.added", "output_index", w.index(), "item", outputItem(w.cur(), "in_progress", w.meta))
}

func (w *responsesWriter) text(s string) error {
	if err := w.start(); err != nil {
		return err
	}
	if w.open != openMessage {
		if err := w.add(contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleAssistant}, openMessage); err != nil {
			return err
		}
		if err := w.event("response.content_part.added", "item_id", w.cur().ID, "output_index", w.index(), "content_index", 0,
			"part", llmapi.ResponsesOutputText{Type: "output_text"}); err != nil {
			return err
		}
	}
	if s == "" {
		return nil
	}
	w.buf.WriteString(s)
	return w.event("response.output_text.delta", "item_id", w.cur().ID, "output_index", w.index(), "content_index", 0,
		"delta", s, "logprobs", json.RawMessage("[]"))
}

func (w *responsesWriter) toolStart(callID, name string) error {
	if err := w.start(); err != nil {
		return err
	}
	return w.add(contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: callID, Name: name}, openTool)
}

func (w *responsesWriter) toolArgs(s string) error {
	if s == "" {
		return nil
	}
	w.buf.WriteString(s)
	return w.event("response.function_call_arguments.delta", "item_id", w.cur().ID, "output_index", w.index(), "delta", s)
}

// reasoningOpen opens a reasoning item; its summary part opens with the
// first text.
func (w *responsesWriter) reasoningOpen() error {
	if err := w.start(); err != nil {
		return err
	}
	return w.add(contextdoc.Item{Type: contextdoc.TypeReasoning}, openReasoning)
}

func (w *responsesWriter) reasoning(s string) error {
	if w.open != openReasoning {
		if err := w.reasoningOpen(); err != nil {
			return err
		}
	}
	if s == "" {
		return nil
	}
	if !w.summary {
		w.summary = true
		if err := w.event("response.reasoning_summary_part.added", "item_id", w.cur().ID, "output_index", w.index(), "summary_index", 0,
			"part", json.RawMessage(`{"type":"summary_text","text":""}`)); err != nil {
			return err
		}
	}
	w.buf.WriteString(s)
	return w.event("response.reasoning_summary_text.delta", "item_id", w.cur().ID, "output_index", w.index(), "summary_index", 0, "delta", s)
}

func (w *responsesWriter) signature(sig string) error {
	if w.open != openReasoning {
		if err := w.reasoningOpen(); err != nil {
			return err
		}
	}
	it := w.cur()
	it.Origin = contextdoc.OriginAnthropic
	it.Signature += sig
	return nil
}

func (w *responsesWriter) redacted(data string) error {
	if err := w.reasoningOpen(); err != nil {
		return err
	}
	it := w.cur()
	it.Origin, it.Redacted, it.Signature = contextdoc.OriginAnthropic, true, data
	return w.closeOpen()
}

// closeOpen ends the open item with its .done events.
func (w *responsesWriter) closeOpen() error {
	kind := w.open
	if kind == openNone {
		return nil
	}
	w.open = openNone
	it, i := w.cur(), w.index()
	text := w.buf.String()
	switch kind {
	case openMessage:
		it.Content = []contextdoc.Part{contextdoc.TextPart(text)}
		if err := w.event("response.output_text.done", "item_id", it.ID, "output_index", i, "content_index", 0,
			"text", text, "logprobs", json.RawMessage("[]")); err != nil {
			return err
		}
		if err := w.event("response.content_part.done", "item_id", it.ID, "output_index", i, "content_index", 0,
			"part", llmapi.ResponsesOutputText{Type: "output_text", Text: text}); err != nil {
			return err
		}
	case openTool:
		if text == "" {
			text = "{}"
		}
		it.Arguments = text
		if err := w.event("response.function_call_arguments.done", "item_id", it.ID, "output_index", i, "arguments", text); err != nil {
			return err
		}
	case openReasoning:
		if w.summary {
			it.Content = []contextdoc.Part{contextdoc.TextPart(text)}
			if err := w.event("response.reasoning_summary_text.done", "item_id", it.ID, "output_index", i, "summary_index", 0, "text", text); err != nil {
				return err
			}
			if err := w.event("response.reasoning_summary_part.done", "item_id", it.ID, "output_index", i, "summary_index", 0,
				"part", llmapi.ResponsesPart{Type: "summary_text", Text: text}); err != nil {
				return err
			}
		}
	}
	if w.quiet {
		return nil
	}
	return w.event("response.output_item.done", "output_index", i, "item", outputItem(it, "completed", w.meta))
}

// finish ends the response: response.completed, or response.incomplete
// after a length or content-filter stop.
func (w *responsesWriter) finish() error {
	if err := w.start(); err != nil {
		return err
	}
	if err := w.closeOpen(); err != nil {
		return err
	}
	w.ended = true
	if w.quiet {
		return nil
	}
	r := w.response("completed")
	setOutcome(&r, w.stop)
	u := responsesUsage(w.usage)
	r.Usage = &u
	typ := "response.completed"
	if r.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return w.event(typ, "response", r)
}

// fail ends the response as OpenAI does: an error event, then
// response.failed with the output so far and the error.
func (w *responsesWriter) fail(code, msg string) error {
	if err := w.start(); err != nil {
		return err
	}
	w.ended, w.failed = true, true
	if w.quiet {
		return nil
	}
	typ := "server_error"
	if code == "invalid_request_error" || code == "rate_limit_exceeded" || code == "insufficient_quota" {
		typ = code
	}
	if err := w.event("error", "error", llmapi.ResponsesErrorDetail{Type: typ, Code: code, Message: msg}); err != nil {
		return err
	}
	r := w.response("failed")
	w.open = openNone
	r.Error = &llmapi.ResponsesError{Code: code, Message: msg}
	u := responsesUsage(w.usage)
	r.Usage = &u
	return w.event("response.failed", "response", r)
}

// chatSource reads Chat Completions chunks for a responsesWriter.
type chatSource struct {
	tools     map[int]int // upstream tool call index → output item
	synthetic int
	lastKey   int
	haveUsage bool
}

// chatChunk is the part of a chunk the translation reads.
type chatChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string               `json:"content"`
			Refusal   *string               `json:"refusal"`
			ToolCalls []llmapi.ChatToolCall `json:"tool_calls"`
			chatReasoning
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llmapi.ChatUsage `json:"usage"`
	Error json.RawMessage   `json:"error"`
}

func (s *chatSource) event(w *responsesWriter, ev llmapi.Event) error {
	if ev.IsDone() {
		if w.stop == "" {
			return w.fail("server_error", "the upstream stream ended before the response was complete")
		}
		return w.finish()
	}
	var c chatChunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return w.fail("server_error", fmt.Sprintf("credflow could not read a chunk of the upstream stream: %v", err))
	}
	if !isNull(c.Error) {
		code, msg := openAIErrorCode(ev.Data)
		return w.fail(code, msg)
	}
	if len(c.Choices) == 0 && c.Usage == nil {
		return nil // Azure's prompt_filter_results chunk
	}
	if err := w.start(); err != nil {
		return err
	}
	if c.Usage != nil {
		w.usage = usageFromChat(c.Usage)
		s.haveUsage = true
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		d := &ch.Delta
		if r := d.text(); r != "" {
			if err := w.reasoning(r); err != nil {
				return err
			}
		}
		if d.Content != nil && *d.Content != "" {
			if err := w.text(*d.Content); err != nil {
				return err
			}
		}
		if d.Refusal != nil && *d.Refusal != "" {
			if err := w.text(*d.Refusal); err != nil {
				return err
			}
		}
		for k := range d.ToolCalls {
			if err := s.tool(w, &d.ToolCalls[k]); err != nil || w.ended {
				return err
			}
		}
		if f := ch.FinishReason; f != nil && *f != "" {
			w.stop = *f
			if d.Refusal != nil && *d.Refusal != "" {
				w.stop = "refusal"
			}
			if err := w.closeOpen(); err != nil {
				return err
			}
		}
	}
	if w.stop != "" && s.haveUsage {
		// The usage chunk is the last before [DONE].
		return w.finish()
	}
	return nil
}

func (s *chatSource) tool(w *responsesWriter, tc *llmapi.ChatToolCall) error {
	key := s.lastKey
	switch {
	case tc.Index != nil:
		key = *tc.Index
	case tc.ID != "":
		// Servers that leave out the index send each call whole.
		s.synthetic--
		key = s.synthetic
	}
	item, seen := s.tools[key]
	if !seen {
		if tc.ID == "" || tc.Function.Name == "" {
			return w.fail("server_error", fmt.Sprintf("the upstream stream sent tool call %d without its id and name", key))
		}
		if err := w.toolStart(tc.ID, tc.Function.Name); err != nil {
			return err
		}
		s.tools[key] = w.index()
		s.lastKey = key
	} else if w.open != openTool || item != w.index() {
		if tc.Function.Arguments == "" {
			return nil
		}
		return w.fail("server_error", fmt.Sprintf("the upstream stream went back to tool call %d after starting another; credflow cannot translate interleaved tool calls", key))
	}
	return w.toolArgs(tc.Function.Arguments)
}

// messagesSource reads Anthropic Messages events for a responsesWriter.
type messagesSource struct {
	blocks []a2oBlock
	usage  llmapi.MessagesUsage
}

func (s *messagesSource) event(w *responsesWriter, ev llmapi.Event) error {
	var e a2oEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return w.fail("server_error", fmt.Sprintf("credflow could not read an event of the Anthropic stream: %v", err))
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	switch e.Type {
	case "message_start":
		if m := e.Message; m != nil {
			s.usage = m.Usage
			w.usage = usageFromMessages(s.usage)
		}
		return w.start()
	case "content_block_start":
		if e.ContentBlock == nil || e.Index < 0 {
			return nil
		}
		for len(s.blocks) <= e.Index {
			s.blocks = append(s.blocks, a2oBlock{})
		}
		cb := e.ContentBlock
		switch cb.Type {
		case "text":
			s.blocks[e.Index] = a2oBlock{kind: textBlock}
			return w.text(cb.Text)
		case "tool_use":
			s.blocks[e.Index] = a2oBlock{kind: toolBlock, input: cb.Input}
			return w.toolStart(cb.ID, cb.Name)
		case "thinking":
			s.blocks[e.Index] = a2oBlock{kind: thinkingBlock}
			if err := w.reasoningOpen(); err != nil {
				return err
			}
			if cb.Signature != "" {
				w.signature(cb.Signature)
			}
			return w.reasoning(cb.Thinking)
		case "redacted_thinking":
			s.blocks[e.Index] = a2oBlock{}
			return w.redacted(cb.Data)
		}
		s.blocks[e.Index] = a2oBlock{}
	case "content_block_delta":
		if e.Index < 0 || e.Index >= len(s.blocks) || e.Delta == nil {
			return nil
		}
		b := &s.blocks[e.Index]
		switch {
		case b.kind == textBlock && e.Delta.Type == "text_delta":
			return w.text(e.Delta.Text)
		case b.kind == toolBlock && e.Delta.Type == "input_json_delta" && e.Delta.PartialJSON != "":
			b.args = true
			return w.toolArgs(e.Delta.PartialJSON)
		case b.kind == thinkingBlock && e.Delta.Type == "thinking_delta":
			return w.reasoning(e.Delta.Thinking)
		case b.kind == thinkingBlock && e.Delta.Type == "signature_delta":
			return w.signature(e.Delta.Signature)
		}
	case "content_block_stop":
		if e.Index < 0 || e.Index >= len(s.blocks) {
			return nil
		}
		b := &s.blocks[e.Index]
		if b.kind == toolBlock && !b.args && !isNull(b.input) {
			if err := w.toolArgs(string(compactJSON(b.input))); err != nil {
				return err
			}
		}
		if b.kind != otherBlock {
			return w.closeOpen()
		}
	case "message_delta":
		if u := e.Usage; u != nil {
			set := func(dst *int, src *int) {
				if src != nil {
					*dst = *src
				}
			}
			set(&s.usage.InputTokens, u.InputTokens)
			set(&s.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
			set(&s.usage.CacheReadInputTokens, u.CacheReadInputTokens)
			set(&s.usage.OutputTokens, u.OutputTokens)
			w.usage = usageFromMessages(s.usage)
		}
		if e.Delta != nil && e.Delta.StopReason != nil {
			w.stop = stopFromAnthropic(*e.Delta.StopReason)
		}
	case "message_stop":
		if w.stop == "" {
			w.stop = "stop"
		}
		return w.finish()
	case "error":
		code, msg := anthropicErrorCode(ev.Data)
		return w.fail(code, msg)
	}
	return nil
}

// openAIErrorCode reads the code and message of an OpenAI error body.
func openAIErrorCode(body []byte) (code, msg string) {
	var r openAIError
	var o openAIErrorObject
	if json.Unmarshal(body, &r) == nil && firstByte(r.Error) == '{' {
		json.Unmarshal(r.Error, &o)
	}
	msg = firstNonEmpty(o.Message, rawMessage(0, body))
	if firstByte(o.Code) == '"' {
		json.Unmarshal(o.Code, &code)
	}
	return firstNonEmpty(code, o.Type, "server_error"), msg
}

// anthropicErrorCode maps an Anthropic error event to a Responses error
// code.
func anthropicErrorCode(body []byte) (code, msg string) {
	var r llmapi.MessagesErrorResponse
	json.Unmarshal(body, &r)
	msg = firstNonEmpty(r.Error.Message, rawMessage(0, body))
	switch r.Error.Type {
	case "rate_limit_error":
		return "rate_limit_exceeded", msg
	case "invalid_request_error":
		return "invalid_request_error", msg
	}
	return "server_error", msg
}
