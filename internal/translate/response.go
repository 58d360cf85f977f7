package translate

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/credflow/credflow/pkg/llmapi"
)

// now stamps OpenAI's "created"; tests pin it.
var now = time.Now

// StopReasonToFinishReason maps an Anthropic stop_reason to an OpenAI
// finish_reason. pause_turn (a server tool loop paused) and unknown
// reasons count as a normal stop.
func StopReasonToFinishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// FinishReasonToStopReason maps an OpenAI finish_reason to an Anthropic
// stop_reason. OpenAI's "stop" covers both a natural end and a matched
// stop sequence without saying which; it maps to end_turn.
func FinishReasonToStopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// UsageToOpenAI converts Anthropic usage: OpenAI's prompt_tokens counts
// cache reads and writes, Anthropic's input_tokens does not.
func UsageToOpenAI(u llmapi.MessagesUsage) *llmapi.ChatUsage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return &llmapi.ChatUsage{
		PromptTokens:     prompt,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      prompt + u.OutputTokens,
		PromptTokensDetails: &llmapi.ChatPromptTokensDetails{
			CachedTokens:     u.CacheReadInputTokens,
			CacheWriteTokens: u.CacheCreationInputTokens,
		},
	}
}

// UsageToAnthropic converts OpenAI usage, the inverse of UsageToOpenAI;
// nil gives zero counts.
func UsageToAnthropic(u *llmapi.ChatUsage) llmapi.MessagesUsage {
	if u == nil {
		return llmapi.MessagesUsage{}
	}
	var read, write int
	if d := u.PromptTokensDetails; d != nil {
		read, write = d.CachedTokens, d.CacheWriteTokens
	}
	return llmapi.MessagesUsage{
		InputTokens:              max(u.PromptTokens-read-write, 0),
		CacheCreationInputTokens: write,
		CacheReadInputTokens:     read,
		OutputTokens:             u.CompletionTokens,
	}
}

// AnthropicResponseToOpenAI translates a Messages API response body into
// a chat completion body. model is the name to report (the one the client
// asked for); empty reports the upstream's. Errors are *Error with status
// 502.
func AnthropicResponseToOpenAI(body []byte, model string) ([]byte, error) {
	var r llmapi.MessagesResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badUpstream("the Anthropic response is not a message: %v", err)
	}
	if r.Type != "message" {
		return nil, badUpstream("the Anthropic response has type %q, not message", r.Type)
	}
	msg := llmapi.ChatResponseMessage{Role: "assistant"}
	var text strings.Builder
	for _, bl := range r.Content {
		switch bl.Type {
		case "text":
			text.WriteString(bl.Text)
		case "tool_use":
			args := "{}"
			if !isNull(bl.Input) {
				args = string(compactJSON(bl.Input))
			}
			msg.ToolCalls = append(msg.ToolCalls, llmapi.ChatToolCall{
				ID: bl.ID, Type: "function", Function: llmapi.ChatFunctionCall{Name: bl.Name, Arguments: args},
			})
		}
		// thinking, redacted_thinking: OpenAI chat has no place for them.
	}
	if text.Len() > 0 || msg.ToolCalls == nil {
		s := text.String()
		msg.Content = &s
	}
	stop := ""
	if r.StopReason != nil {
		stop = *r.StopReason
	}
	out := llmapi.ChatResponse{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   firstNonEmpty(model, r.Model),
		Choices: []llmapi.ChatChoice{{Message: msg, FinishReason: StopReasonToFinishReason(stop)}},
		Usage:   UsageToOpenAI(r.Usage),
	}
	return marshal(out), nil
}

// OpenAIResponseToAnthropic translates a chat completion body into a
// Messages API response body, from its first choice. model is the name
// to report; empty reports the upstream's. Errors are *Error with status
// 502, among them tool call arguments that are not a JSON object, which
// Anthropic's input must be.
func OpenAIResponseToAnthropic(body []byte, model string) ([]byte, error) {
	var r llmapi.ChatResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badUpstream("the OpenAI response is not a chat completion: %v", err)
	}
	if len(r.Choices) == 0 {
		return nil, badUpstream("the OpenAI response has no choices")
	}
	m := r.Choices[0].Message
	content := []llmapi.ContentBlock{}
	if m.Content != nil && *m.Content != "" {
		content = append(content, llmapi.ContentBlock{Type: "text", Text: *m.Content})
	}
	refused := m.Refusal != nil && *m.Refusal != ""
	if refused {
		content = append(content, llmapi.ContentBlock{Type: "text", Text: *m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		input, ok := argumentsObject(tc.Function.Arguments)
		if !ok {
			return nil, badUpstream("the OpenAI model called %q with arguments that are not a JSON object", tc.Function.Name)
		}
		content = append(content, llmapi.ContentBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	stop := FinishReasonToStopReason(r.Choices[0].FinishReason)
	if refused {
		stop = "refusal"
	}
	out := llmapi.MessagesResponse{
		ID:         r.ID,
		Type:       "message",
		Role:       "assistant",
		Model:      firstNonEmpty(model, r.Model),
		Content:    content,
		StopReason: &stop,
		Usage:      UsageToAnthropic(r.Usage),
	}
	return marshal(out), nil
}

// argumentsObject checks that tool call arguments are a JSON object ("" is
// taken as {}).
func argumentsObject(args string) (json.RawMessage, bool) {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 {
		return json.RawMessage("{}"), true
	}
	return b, b[0] == '{' && json.Valid(b)
}

// compactJSON strips insignificant whitespace (OpenAI arguments strings
// are usually compact).
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
