package translate

import (
	"encoding/json"
	"strings"

	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// chatReasoning is the reasoning text OpenAI-compatible servers add to a
// chat message or delta (DeepSeek's reasoning_content, vLLM's and
// Ollama's reasoning).
type chatReasoning struct {
	ReasoningContent string `json:"reasoning_content"`
	Reasoning        string `json:"reasoning"`
}

func (r chatReasoning) text() string { return firstNonEmpty(r.ReasoningContent, r.Reasoning) }

// ChatResponseToResult reads a chat completion (its first choice) into
// the neutral form. Errors are *Error with status 502.
func ChatResponseToResult(body []byte) (*Result, error) {
	var r struct {
		llmapi.ChatResponse
		Choices []struct {
			Message struct {
				llmapi.ChatResponseMessage
				chatReasoning
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badUpstream("the OpenAI response is not a chat completion: %v", err)
	}
	if len(r.Choices) == 0 {
		return nil, badUpstream("the OpenAI response has no choices")
	}
	m := &r.Choices[0].Message
	res := &Result{ID: r.ID, Model: r.Model, Stop: r.Choices[0].FinishReason, Usage: usageFromChat(r.Usage)}
	if s := m.text(); s != "" {
		res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeReasoning, Content: []contextdoc.Part{contextdoc.TextPart(s)}})
	}
	var parts []contextdoc.Part
	if m.Content != nil && *m.Content != "" {
		parts = append(parts, contextdoc.TextPart(*m.Content))
	}
	if m.Refusal != nil && *m.Refusal != "" {
		parts = append(parts, contextdoc.Part{Type: contextdoc.PartRefusal, Text: *m.Refusal})
		res.Stop = "refusal"
	}
	if parts != nil {
		res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleAssistant, Content: parts})
	}
	for _, tc := range m.ToolCalls {
		args := tc.Function.Arguments
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
	return res, nil
}

func usageFromChat(u *llmapi.ChatUsage) Usage {
	if u == nil {
		return Usage{}
	}
	out := Usage{Input: u.PromptTokens, Output: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.Cached, out.CacheWrite = d.CachedTokens, d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.Reasoning = d.ReasoningTokens
	}
	return out
}

func usageFromMessages(u llmapi.MessagesUsage) Usage {
	return Usage{
		Input:      u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		Output:     u.OutputTokens,
		Cached:     u.CacheReadInputTokens,
		CacheWrite: u.CacheCreationInputTokens,
	}
}

// stopFromAnthropic maps a stop_reason to the neutral stop.
func stopFromAnthropic(s string) string {
	if s == "refusal" {
		return "refusal"
	}
	return StopReasonToFinishReason(s)
}

// MessagesResponseToResult reads a Messages API response into the neutral
// form: consecutive text blocks make one assistant message, thinking
// blocks reasoning items that keep their signature. Errors are *Error with
// status 502.
func MessagesResponseToResult(body []byte) (*Result, error) {
	var r llmapi.MessagesResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badUpstream("the Anthropic response is not a message: %v", err)
	}
	if r.Type != "message" {
		return nil, badUpstream("the Anthropic response has type %q, not message", r.Type)
	}
	res := &Result{ID: r.ID, Model: r.Model, Usage: usageFromMessages(r.Usage)}
	if r.StopReason != nil {
		res.Stop = stopFromAnthropic(*r.StopReason)
	}
	for _, bl := range r.Content {
		switch bl.Type {
		case "text":
			if n := len(res.Items); n > 0 && res.Items[n-1].Type == contextdoc.TypeMessage {
				res.Items[n-1].Content = append(res.Items[n-1].Content, contextdoc.TextPart(bl.Text))
				continue
			}
			res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleAssistant, Content: []contextdoc.Part{contextdoc.TextPart(bl.Text)}})
		case "tool_use":
			args := "{}"
			if !isNull(bl.Input) {
				args = string(compactJSON(bl.Input))
			}
			res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: bl.ID, Name: bl.Name, Arguments: args})
		case "thinking":
			it := contextdoc.Item{Type: contextdoc.TypeReasoning, Origin: contextdoc.OriginAnthropic, Signature: bl.Signature}
			if bl.Thinking != "" {
				it.Content = []contextdoc.Part{contextdoc.TextPart(bl.Thinking)}
			}
			res.Items = append(res.Items, it)
		case "redacted_thinking":
			res.Items = append(res.Items, contextdoc.Item{Type: contextdoc.TypeReasoning, Origin: contextdoc.OriginAnthropic, Redacted: true, Signature: bl.Data})
		}
	}
	return res, nil
}

// ResultToResponses writes a result as a Responses API response object.
// Items without ids get fresh ones (the result's items are updated).
func ResultToResponses(res *Result, meta *ResponseMeta) []byte {
	out := responseObject(meta, "completed")
	for i := range res.Items {
		out.Output = append(out.Output, outputItem(&res.Items[i], "completed", meta))
	}
	setOutcome(&out, res.Stop)
	u := responsesUsage(res.Usage)
	out.Usage = &u
	return marshal(out)
}

// responseObject is a response's envelope: the request settings it
// echoes, OpenAI's defaults where the request set none.
func responseObject(meta *ResponseMeta, status string) llmapi.ResponsesResponse {
	r := llmapi.ResponsesResponse{
		ID: meta.ID, Object: "response", CreatedAt: meta.CreatedAt, Status: status,
		Instructions: orJSON(meta.Instructions, "null"), MaxOutputTokens: meta.MaxOutputTokens,
		MaxToolCalls: meta.MaxToolCalls, Model: meta.Model, Output: []json.RawMessage{},
		ParallelToolCalls: meta.ParallelToolCalls, Reasoning: orJSON(meta.Reasoning, `{"effort":null,"summary":null}`),
		Store: meta.Store, Temperature: meta.Temperature, Text: orJSON(meta.Text, `{"format":{"type":"text"}}`),
		ToolChoice: orJSON(meta.ToolChoice, `"auto"`), Tools: orJSON(meta.Tools, "[]"), TopP: meta.TopP,
		Truncation: meta.Truncation, Metadata: meta.Metadata, ServiceTier: "default",
	}
	if r.Temperature == nil {
		one := 1.0
		r.Temperature = &one
	}
	if r.TopP == nil {
		one := 1.0
		r.TopP = &one
	}
	if meta.PreviousResponseID != "" {
		r.PreviousResponseID = &meta.PreviousResponseID
	}
	if meta.Conversation != "" {
		r.Conversation = &llmapi.ResponsesConversationRef{ID: meta.Conversation}
	}
	if meta.User != "" {
		r.User = &meta.User
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	return r
}

// setOutcome sets status and incomplete_details from the stop reason.
func setOutcome(r *llmapi.ResponsesResponse, stop string) {
	switch stop {
	case "length":
		r.Status = "incomplete"
		r.IncompleteDetails = &llmapi.ResponsesIncomplete{Reason: "max_output_tokens"}
	case "content_filter":
		r.Status = "incomplete"
		r.IncompleteDetails = &llmapi.ResponsesIncomplete{Reason: "content_filter"}
	}
}

func responsesUsage(u Usage) llmapi.ResponsesUsage {
	return llmapi.ResponsesUsage{
		InputTokens:         u.Input,
		InputTokensDetails:  llmapi.ResponsesInputDetails{CachedTokens: u.Cached},
		OutputTokens:        u.Output,
		OutputTokensDetails: llmapi.ResponsesOutputDetails{ReasoningTokens: u.Reasoning},
		TotalTokens:         u.Input + u.Output,
	}
}

// outputItem writes an item as a Responses output item, giving it an id
// if it has none.
func outputItem(it *contextdoc.Item, status string, meta *ResponseMeta) json.RawMessage {
	switch it.Type {
	case contextdoc.TypeFunctionCall:
		if it.ID == "" {
			it.ID = newID("fc_")
		}
		return marshal(llmapi.ResponsesOutputFunctionCall{ID: it.ID, Type: "function_call", Status: status,
			Arguments: it.Arguments, CallID: it.CallID, Name: it.Name, Namespace: meta.Namespaces[it.Name]})
	case contextdoc.TypeReasoning:
		if it.ID == "" {
			it.ID = newID("rs_")
		}
		r := llmapi.ResponsesOutputReasoning{ID: it.ID, Type: "reasoning", Summary: []llmapi.ResponsesPart{}}
		for _, p := range it.Content {
			r.Summary = append(r.Summary, llmapi.ResponsesPart{Type: "summary_text", Text: p.Text})
		}
		if meta.IncludeEncrypted && it.Signature != "" {
			enc := encryptedContent(it)
			r.EncryptedContent = &enc
		}
		return marshal(r)
	}
	if it.ID == "" {
		it.ID = newID("msg_")
	}
	m := llmapi.ResponsesOutputMessage{ID: it.ID, Type: "message", Status: status, Role: "assistant", Content: []llmapi.ResponsesOutputText{}}
	for _, p := range it.Content {
		typ := "output_text"
		if p.Type == contextdoc.PartRefusal {
			typ = "refusal"
		}
		m.Content = append(m.Content, llmapi.ResponsesOutputText{Type: typ, Text: p.Text})
	}
	return marshal(m)
}

func orJSON(raw json.RawMessage, def string) json.RawMessage {
	if isNull(raw) {
		return json.RawMessage(def)
	}
	return raw
}
