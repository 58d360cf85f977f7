package translate

import (
	"encoding/json"
	"fmt"

	"github.com/credflow/credflow/pkg/llmapi"
)

// StreamTranslator turns an upstream event stream into the client's
// format, one event at a time: each upstream event is translated as soon
// as it arrives, and only the little state needed to do so (block kinds,
// tool indexes, usage, the stop reason) is kept.
//
// Translate and Finish return only emit's errors (the client went away).
// Upstream data that cannot be translated is reported to the client as an
// in-stream error event in its format, after which the rest of the
// upstream stream is ignored.
type StreamTranslator interface {
	// Translate handles one upstream event, emitting zero or more events.
	Translate(ev llmapi.Event, emit func(llmapi.Event) error) error
	// Finish is called once when the upstream stream has ended (io.EOF)
	// and emits what closes the client's stream; an upstream stream that
	// ended too early gets an error event.
	Finish(emit func(llmapi.Event) error) error
}

// NewAnthropicToOpenAIStream translates an Anthropic Messages stream into
// OpenAI chat completion chunks: a first chunk with the assistant role,
// content deltas, tool call deltas (index, id, type and name first, then
// argument fragments), a chunk with the finish_reason, a usage chunk with
// empty choices when includeUsage is set, and data: [DONE] from Finish.
// An Anthropic error event becomes an OpenAI error object. model is the
// name to report; empty reports the upstream's.
func NewAnthropicToOpenAIStream(model string, includeUsage bool) StreamTranslator {
	return &anthropicToOpenAI{model: model, includeUsage: includeUsage, created: now().Unix()}
}

type anthropicToOpenAI struct {
	model        string
	includeUsage bool
	id           string
	created      int64
	started      bool
	blocks       []a2oBlock // by Anthropic block index
	nextTool     int
	usage        llmapi.MessagesUsage
	finish       string
	stopped      bool // message_stop came
	failed       bool // an error went to the client
}

type blockKind uint8

const (
	otherBlock blockKind = iota
	textBlock
	toolBlock
	thinkingBlock
)

type a2oBlock struct {
	kind  blockKind
	tool  int             // OpenAI tool call index
	args  bool            // argument fragments were sent
	input json.RawMessage // input given whole in content_block_start
}

// a2oEvent is an Anthropic stream event; message_delta's usage fields are
// pointers because the ones present replace earlier counts and the ones
// absent do not.
type a2oEvent struct {
	Type         string                   `json:"type"`
	Message      *llmapi.MessagesResponse `json:"message"`
	Index        int                      `json:"index"`
	ContentBlock *llmapi.ContentBlock     `json:"content_block"`
	Delta        *llmapi.StreamDelta      `json:"delta"`
	Usage        *struct {
		InputTokens              *int `json:"input_tokens"`
		CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
		OutputTokens             *int `json:"output_tokens"`
	} `json:"usage"`
}

func (t *anthropicToOpenAI) Translate(ev llmapi.Event, emit func(llmapi.Event) error) error {
	if t.failed || t.stopped {
		return nil
	}
	var e a2oEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return t.fail(emit, fmt.Sprintf("credflow could not read an event of the Anthropic stream: %v", err))
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	switch e.Type {
	case "message_start":
		if m := e.Message; m != nil {
			t.id = m.ID
			if t.model == "" {
				t.model = m.Model
			}
			t.usage = m.Usage
		}
		return t.start(emit)
	case "content_block_start":
		if err := t.start(emit); err != nil || e.ContentBlock == nil || e.Index < 0 {
			return err
		}
		for len(t.blocks) <= e.Index {
			t.blocks = append(t.blocks, a2oBlock{})
		}
		cb := e.ContentBlock
		switch cb.Type {
		case "text":
			t.blocks[e.Index] = a2oBlock{kind: textBlock}
			if cb.Text != "" {
				return emit(t.chunk(llmapi.ChatDelta{Content: &cb.Text}, nil))
			}
		case "tool_use":
			b := a2oBlock{kind: toolBlock, tool: t.nextTool, input: cb.Input}
			t.blocks[e.Index] = b
			t.nextTool++
			return emit(t.chunk(llmapi.ChatDelta{ToolCalls: []llmapi.ChatToolCall{{
				Index: &b.tool, ID: cb.ID, Type: "function", Function: llmapi.ChatFunctionCall{Name: cb.Name},
			}}}, nil))
		default:
			// thinking, redacted_thinking: no place for them in OpenAI chat.
			t.blocks[e.Index] = a2oBlock{}
		}
	case "content_block_delta":
		b := t.block(e.Index)
		if b == nil || e.Delta == nil {
			return nil
		}
		switch {
		case b.kind == textBlock && e.Delta.Type == "text_delta" && e.Delta.Text != "":
			return emit(t.chunk(llmapi.ChatDelta{Content: &e.Delta.Text}, nil))
		case b.kind == toolBlock && e.Delta.Type == "input_json_delta" && e.Delta.PartialJSON != "":
			b.args = true
			return emit(t.toolArgs(b.tool, e.Delta.PartialJSON))
		}
	case "content_block_stop":
		if b := t.block(e.Index); b != nil && b.kind == toolBlock && !b.args {
			// A call without input fragments still needs valid arguments.
			args := "{}"
			if !isNull(b.input) {
				args = string(compactJSON(b.input))
			}
			b.args = true
			return emit(t.toolArgs(b.tool, args))
		}
	case "message_delta":
		if u := e.Usage; u != nil {
			set := func(dst *int, src *int) {
				if src != nil {
					*dst = *src
				}
			}
			set(&t.usage.InputTokens, u.InputTokens)
			set(&t.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
			set(&t.usage.CacheReadInputTokens, u.CacheReadInputTokens)
			set(&t.usage.OutputTokens, u.OutputTokens)
		}
		if e.Delta != nil && e.Delta.StopReason != nil {
			if err := t.start(emit); err != nil {
				return err
			}
			t.finish = StopReasonToFinishReason(*e.Delta.StopReason)
			return emit(t.chunk(llmapi.ChatDelta{}, &t.finish))
		}
	case "message_stop":
		t.stopped = true
		return t.end(emit)
	case "error":
		t.failed = true
		return emit(llmapi.Event{Data: AnthropicErrorToOpenAI(0, ev.Data)})
	}
	// ping and event types added after this was written: nothing to say.
	return nil
}

func (t *anthropicToOpenAI) Finish(emit func(llmapi.Event) error) error {
	if !t.failed && !t.stopped {
		if t.finish == "" {
			if err := t.fail(emit, "the Anthropic stream ended before the message was complete"); err != nil {
				return err
			}
		} else if err := t.end(emit); err != nil {
			// Only message_stop was missing: the message itself is whole.
			return err
		}
	}
	return emit(llmapi.Event{Data: llmapi.Done})
}

// start sends the first chunk, with the role, once.
func (t *anthropicToOpenAI) start(emit func(llmapi.Event) error) error {
	if t.started {
		return nil
	}
	t.started = true
	empty := ""
	return emit(t.chunk(llmapi.ChatDelta{Role: "assistant", Content: &empty}, nil))
}

// end closes the message: a finish_reason if message_delta had none, and
// the usage chunk when the client asked for it.
func (t *anthropicToOpenAI) end(emit func(llmapi.Event) error) error {
	if t.finish == "" {
		if err := t.start(emit); err != nil {
			return err
		}
		t.finish = "stop"
		if err := emit(t.chunk(llmapi.ChatDelta{}, &t.finish)); err != nil {
			return err
		}
	}
	if !t.includeUsage {
		return nil
	}
	c := t.newChunk()
	c.Choices = []llmapi.ChatChunkChoice{}
	c.Usage = UsageToOpenAI(t.usage)
	return emit(llmapi.Event{Data: marshal(c)})
}

func (t *anthropicToOpenAI) fail(emit func(llmapi.Event) error, msg string) error {
	t.failed = true
	return emit(llmapi.Event{Data: openAIErrorBody(0, "api_error", "", msg)})
}

func (t *anthropicToOpenAI) block(i int) *a2oBlock {
	if i < 0 || i >= len(t.blocks) {
		return nil
	}
	return &t.blocks[i]
}

func (t *anthropicToOpenAI) newChunk() llmapi.ChatChunk {
	return llmapi.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model}
}

func (t *anthropicToOpenAI) chunk(d llmapi.ChatDelta, finish *string) llmapi.Event {
	c := t.newChunk()
	c.Choices = []llmapi.ChatChunkChoice{{Delta: d, FinishReason: finish}}
	return llmapi.Event{Data: marshal(c)}
}

func (t *anthropicToOpenAI) toolArgs(index int, args string) llmapi.Event {
	return t.chunk(llmapi.ChatDelta{ToolCalls: []llmapi.ChatToolCall{{
		Index: &index, Function: llmapi.ChatFunctionCall{Arguments: args},
	}}}, nil)
}

// NewOpenAIToAnthropicStream translates OpenAI chat completion chunks into
// an Anthropic Messages stream: message_start, then for the text and for
// each tool call a content_block_start, deltas (text_delta,
// input_json_delta) and content_block_stop, then message_delta with the
// stop_reason and usage, and message_stop. OpenAI reports usage only at
// the end (with stream_options.include_usage), so message_start carries
// zero counts and message_delta the real ones, which Anthropic clients
// take as replacing them. model is the name to report; empty reports the
// upstream's. Only choice 0 is translated.
func NewOpenAIToAnthropicStream(model string) StreamTranslator {
	return &openAIToAnthropic{model: model, open: -1, tools: map[int]string{}}
}

type openAIToAnthropic struct {
	model     string
	started   bool
	next      int // index of the next Anthropic block
	open      int // index of the open block, -1 when none
	openKind  blockKind
	openTool  int            // OpenAI index of the open tool call
	tools     map[int]string // OpenAI tool call index → id, once its block opened
	synthetic int            // keys for calls sent without an index
	stop      string
	refused   bool
	finished  bool // a finish_reason came
	usage     *llmapi.ChatUsage
	done      bool // message_stop went out
	failed    bool
}

// o2aChunk is the part of an OpenAI chunk the translation reads (or an
// in-stream error object).
type o2aChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string               `json:"content"`
			Refusal   *string               `json:"refusal"`
			ToolCalls []llmapi.ChatToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llmapi.ChatUsage `json:"usage"`
	Error json.RawMessage   `json:"error"`
}

func (t *openAIToAnthropic) Translate(ev llmapi.Event, emit func(llmapi.Event) error) error {
	if t.done || t.failed {
		return nil
	}
	if ev.IsDone() {
		if !t.started {
			return t.fail(emit, "the OpenAI stream ended without a response")
		}
		return t.complete(emit)
	}
	var c o2aChunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return t.fail(emit, fmt.Sprintf("credflow could not read a chunk of the OpenAI stream: %v", err))
	}
	if !isNull(c.Error) {
		t.failed = true
		return emit(llmapi.Event{Name: "error", Data: OpenAIErrorToAnthropic(0, ev.Data)})
	}
	if len(c.Choices) == 0 && c.Usage == nil {
		// Azure opens with such a chunk (prompt_filter_results, empty id).
		return nil
	}
	if err := t.start(emit, c.ID, c.Model); err != nil {
		return err
	}
	if c.Usage != nil {
		t.usage = c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		if d := ch.Delta.Content; d != nil && *d != "" {
			if err := t.text(emit, *d); err != nil {
				return err
			}
		}
		if d := ch.Delta.Refusal; d != nil && *d != "" {
			t.refused = true
			if err := t.text(emit, *d); err != nil {
				return err
			}
		}
		for k := range ch.Delta.ToolCalls {
			if err := t.tool(emit, &ch.Delta.ToolCalls[k]); err != nil || t.failed {
				return err
			}
		}
		if f := ch.FinishReason; f != nil && *f != "" {
			t.finished = true
			t.stop = FinishReasonToStopReason(*f)
			if t.refused {
				t.stop = "refusal"
			}
			if err := t.closeBlock(emit); err != nil {
				return err
			}
		}
	}
	if t.finished && c.Usage != nil {
		// The usage chunk is the last one before [DONE]: no need to wait.
		return t.complete(emit)
	}
	return nil
}

func (t *openAIToAnthropic) Finish(emit func(llmapi.Event) error) error {
	switch {
	case t.done || t.failed:
		return nil
	case !t.started:
		return t.fail(emit, "the OpenAI stream ended without a response")
	case !t.finished:
		return t.fail(emit, "the OpenAI stream ended before the response was complete")
	}
	// No [DONE] after the finish_reason: some compatible servers end so.
	return t.complete(emit)
}

func (t *openAIToAnthropic) start(emit func(llmapi.Event) error, id, model string) error {
	if t.started {
		return nil
	}
	t.started = true
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{Type: "message_start", Message: &llmapi.MessagesResponse{
		ID: id, Type: "message", Role: "assistant", Model: firstNonEmpty(t.model, model), Content: []llmapi.ContentBlock{},
	}}))
}

func (t *openAIToAnthropic) text(emit func(llmapi.Event) error, s string) error {
	if t.openKind != textBlock {
		if err := t.openBlock(emit, textBlock, llmapi.ContentBlock{Type: "text"}); err != nil {
			return err
		}
	}
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{
		Type: "content_block_delta", Index: &t.open, Delta: &llmapi.StreamDelta{Type: "text_delta", Text: s},
	}))
}

func (t *openAIToAnthropic) tool(emit func(llmapi.Event) error, tc *llmapi.ChatToolCall) error {
	key := 0
	switch {
	case tc.Index != nil:
		key = *tc.Index
	case tc.ID == "":
		if t.openKind == toolBlock {
			key = t.openTool
		}
	default:
		// Servers that leave out the index send each call whole: a new
		// id is a new call.
		if id, seen := t.tools[0]; seen && id != tc.ID {
			if t.openKind == toolBlock && t.tools[t.openTool] == tc.ID {
				key = t.openTool
			} else {
				t.synthetic--
				key = t.synthetic
			}
		}
	}
	if _, seen := t.tools[key]; !seen {
		if tc.ID == "" || tc.Function.Name == "" {
			return t.fail(emit, fmt.Sprintf("the OpenAI stream sent tool call %d without its id and name", key))
		}
		t.tools[key] = tc.ID
		if err := t.openBlock(emit, toolBlock, llmapi.ContentBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name}); err != nil {
			return err
		}
		t.openTool = key
	} else if t.openKind != toolBlock || t.openTool != key {
		if tc.Function.Arguments == "" {
			return nil
		}
		// Anthropic blocks cannot interleave and a closed one cannot take
		// more input.
		return t.fail(emit, fmt.Sprintf("the OpenAI stream went back to tool call %d after starting another; credflow cannot translate interleaved tool calls", key))
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{
		Type: "content_block_delta", Index: &t.open, Delta: &llmapi.StreamDelta{Type: "input_json_delta", PartialJSON: tc.Function.Arguments},
	}))
}

func (t *openAIToAnthropic) openBlock(emit func(llmapi.Event) error, kind blockKind, cb llmapi.ContentBlock) error {
	if err := t.closeBlock(emit); err != nil {
		return err
	}
	t.open, t.openKind = t.next, kind
	t.next++
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{Type: "content_block_start", Index: &t.open, ContentBlock: &cb}))
}

func (t *openAIToAnthropic) closeBlock(emit func(llmapi.Event) error) error {
	if t.open < 0 {
		return nil
	}
	i := t.open
	t.open, t.openKind = -1, otherBlock
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{Type: "content_block_stop", Index: &i}))
}

// complete sends message_delta and message_stop.
func (t *openAIToAnthropic) complete(emit func(llmapi.Event) error) error {
	t.done = true
	if err := t.closeBlock(emit); err != nil {
		return err
	}
	stop := t.stop
	if stop == "" {
		stop = "end_turn"
	}
	usage := UsageToAnthropic(t.usage)
	if err := emit(anthropicEvent(llmapi.MessagesStreamEvent{
		Type: "message_delta", Delta: &llmapi.StreamDelta{StopReason: &stop}, Usage: &usage,
	})); err != nil {
		return err
	}
	return emit(anthropicEvent(llmapi.MessagesStreamEvent{Type: "message_stop"}))
}

func (t *openAIToAnthropic) fail(emit func(llmapi.Event) error, msg string) error {
	t.failed = true
	return emit(llmapi.Event{Name: "error", Data: anthropicErrorBody("api_error", msg)})
}

func anthropicEvent(e llmapi.MessagesStreamEvent) llmapi.Event {
	return llmapi.Event{Name: e.Type, Data: marshal(e)}
}
