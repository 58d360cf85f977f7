package translate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// The context engine keeps conversations as neutral items. These convert
// a client's own messages (Chat Completions or Messages) to items, and
// stored items back to a client's or provider's messages, so a history
// can be spliced into a request in any format.

// ChatMessagesToItems reads a chat request's messages as items: system and
// developer messages' text goes to system (in order), the rest become
// messages, function calls and their outputs.
func ChatMessagesToItems(msgs []llmapi.ChatMessage) (system []string, items []contextdoc.Item, err error) {
	for i := range msgs {
		m := &msgs[i]
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			system = append(system, chatText(m.Content))
		case "user":
			parts, err := chatParts(m.Content, p+".content")
			if err != nil {
				return nil, nil, err
			}
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleUser, Content: parts})
		case "assistant":
			var parts []contextdoc.Part
			if s := chatText(m.Content); s != "" {
				parts = append(parts, contextdoc.TextPart(s))
			}
			if m.Refusal != nil && *m.Refusal != "" {
				parts = append(parts, contextdoc.Part{Type: contextdoc.PartRefusal, Text: *m.Refusal})
			}
			if parts != nil {
				items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleAssistant, Content: parts})
			}
			for _, tc := range m.ToolCalls {
				args := tc.Function.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				items = append(items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: tc.ID, Name: tc.Function.Name, Arguments: args})
			}
		case "tool":
			items = append(items, contextdoc.Item{Type: contextdoc.TypeFunctionCallOutput, CallID: m.ToolCallID,
				Content: []contextdoc.Part{contextdoc.TextPart(chatText(m.Content))}})
		default:
			return nil, nil, invalid(p+".role", fmt.Sprintf("%s.role: unknown role %q", p, m.Role))
		}
	}
	return system, items, nil
}

func chatText(c *llmapi.ChatContent) string {
	if c == nil {
		return ""
	}
	if !c.IsParts() {
		return c.Text
	}
	var b strings.Builder
	for _, p := range c.Parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func chatParts(c *llmapi.ChatContent, p string) ([]contextdoc.Part, error) {
	if c == nil {
		return nil, nil
	}
	if !c.IsParts() {
		return []contextdoc.Part{contextdoc.TextPart(c.Text)}, nil
	}
	var parts []contextdoc.Part
	for j, part := range c.Parts {
		pp := fmt.Sprintf("%s[%d]", p, j)
		switch part.Type {
		case "text":
			parts = append(parts, contextdoc.TextPart(part.Text))
		case "image_url":
			if part.ImageURL == nil {
				return nil, invalid(pp+".image_url", pp+".image_url is required")
			}
			img, err := imagePartFromURL(part.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			img.Detail = part.ImageURL.Detail
			parts = append(parts, img)
		case "file":
			if part.File == nil || part.File.FileData == "" {
				return nil, untranslatable(pp, "stored conversation", "only inline files (file_data) can be kept")
			}
			mediaType, data, ok := "application/pdf", part.File.FileData, true
			if strings.HasPrefix(data, "data:") {
				mediaType, data, ok = parseDataURL(data)
			}
			if !ok {
				return nil, invalid(pp+".file.file_data", pp+".file.file_data must be base64 data or a base64 data: URL")
			}
			parts = append(parts, contextdoc.Part{Type: contextdoc.PartFile, MediaType: mediaType, Data: data, Filename: part.File.Filename})
		default:
			return nil, untranslatable(pp+".type", "stored conversation", fmt.Sprintf("a %q part cannot be kept", part.Type))
		}
	}
	return parts, nil
}

// MessagesToItems reads a Messages request's system and messages as
// items: text, images and documents become message parts, tool_use and
// tool_result blocks function calls and outputs, thinking blocks
// reasoning with their signature.
func MessagesToItems(system *llmapi.MessageContent, msgs []llmapi.MessageParam) (sys []string, items []contextdoc.Item, err error) {
	if system != nil {
		if system.IsBlocks() {
			for _, bl := range system.Blocks {
				if bl.Type == "text" {
					sys = append(sys, bl.Text)
				}
			}
		} else if system.Text != "" {
			sys = append(sys, system.Text)
		}
	}
	for i := range msgs {
		m := &msgs[i]
		p := fmt.Sprintf("messages[%d]", i)
		role := m.Role
		if role == "system" {
			// Claude Code sends one for non-Claude models.
			sys = append(sys, anthropicText(&m.Content))
			continue
		}
		if role != "user" && role != "assistant" {
			return nil, nil, invalid(p+".role", fmt.Sprintf("%s.role: unknown role %q", p, role))
		}
		if !m.Content.IsBlocks() {
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: role, Content: []contextdoc.Part{contextdoc.TextPart(m.Content.Text)}})
			continue
		}
		var parts []contextdoc.Part
		flush := func() {
			if parts != nil {
				items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: role, Content: parts})
				parts = nil
			}
		}
		for j := range m.Content.Blocks {
			bl := &m.Content.Blocks[j]
			pp := fmt.Sprintf("%s.content[%d]", p, j)
			switch bl.Type {
			case "text":
				parts = append(parts, contextdoc.TextPart(bl.Text))
			case "image":
				part, err := partFromSource(bl.Source, contextdoc.PartImage, pp+".source")
				if err != nil {
					return nil, nil, err
				}
				parts = append(parts, part)
			case "document":
				part, err := partFromSource(bl.Source, contextdoc.PartFile, pp+".source")
				if err != nil {
					return nil, nil, err
				}
				part.Filename = bl.Title
				parts = append(parts, part)
			case "tool_use":
				flush()
				args := "{}"
				if !isNull(bl.Input) {
					args = string(compactJSON(bl.Input))
				}
				items = append(items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: bl.ID, Name: bl.Name, Arguments: args})
			case "tool_result":
				flush()
				out := contextdoc.Item{Type: contextdoc.TypeFunctionCallOutput, CallID: bl.ToolUseID, IsError: bl.IsError}
				if bl.Content != nil {
					if !bl.Content.IsBlocks() {
						out.Content = []contextdoc.Part{contextdoc.TextPart(bl.Content.Text)}
					}
					for k := range bl.Content.Blocks {
						sub := &bl.Content.Blocks[k]
						switch sub.Type {
						case "text":
							out.Content = append(out.Content, contextdoc.TextPart(sub.Text))
						case "image":
							part, err := partFromSource(sub.Source, contextdoc.PartImage, fmt.Sprintf("%s.content[%d].source", pp, k))
							if err != nil {
								return nil, nil, err
							}
							out.Content = append(out.Content, part)
						}
					}
				}
				items = append(items, out)
			case "thinking":
				flush()
				r := contextdoc.Item{Type: contextdoc.TypeReasoning, Origin: contextdoc.OriginAnthropic, Signature: bl.Signature}
				if bl.Thinking != "" {
					r.Content = []contextdoc.Part{contextdoc.TextPart(bl.Thinking)}
				}
				items = append(items, r)
			case "redacted_thinking":
				flush()
				items = append(items, contextdoc.Item{Type: contextdoc.TypeReasoning, Origin: contextdoc.OriginAnthropic, Redacted: true, Signature: bl.Data})
			default:
				return nil, nil, untranslatable(pp+".type", "stored conversation", fmt.Sprintf("a %q block cannot be kept", bl.Type))
			}
		}
		flush()
	}
	return sys, items, nil
}

func anthropicText(c *llmapi.MessageContent) string {
	if !c.IsBlocks() {
		return c.Text
	}
	var b strings.Builder
	for _, bl := range c.Blocks {
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

func partFromSource(src *llmapi.ContentSource, typ, p string) (contextdoc.Part, error) {
	if src == nil {
		return contextdoc.Part{}, invalid(p, p+" is required")
	}
	switch src.Type {
	case "base64":
		return contextdoc.Part{Type: typ, MediaType: src.MediaType, Data: src.Data}, nil
	case "url":
		return contextdoc.Part{Type: typ, URL: src.URL}, nil
	case "text":
		return contextdoc.Part{Type: typ, MediaType: "text/plain", Data: b64(src.Data)}, nil
	}
	return contextdoc.Part{}, untranslatable(p, "stored conversation", fmt.Sprintf("a %q source cannot be kept; send it inline", src.Type))
}

// ItemsToChatMessages writes items as chat messages (reasoning left out).
func ItemsToChatMessages(items []contextdoc.Item) ([]llmapi.ChatMessage, error) {
	var msgs []llmapi.ChatMessage
	for i := range items {
		var err error
		if msgs, err = appendChatItem(msgs, &items[i], fmt.Sprintf("history[%d]", i)); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// ItemsToMessages writes items as Anthropic messages. System and
// developer messages among them are returned as system text; reasoning
// from Anthropic goes back as its thinking blocks, other reasoning is
// left out.
func ItemsToMessages(items []contextdoc.Item) (system []string, msgs []llmapi.MessageParam, err error) {
	var b anthropicBuilder
	if _, err := b.items(items, "history"); err != nil {
		return nil, nil, err
	}
	for _, bl := range b.system {
		system = append(system, bl.Text)
	}
	return system, b.finish(), nil
}

// ItemsToResponsesInput writes items as Responses API input items, for a
// provider that speaks the Responses API.
func ItemsToResponsesInput(items []contextdoc.Item) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(items))
	for i := range items {
		if raw := responsesInputItem(&items[i], false); raw != nil {
			out = append(out, raw)
		}
	}
	return out
}

// ItemsToResponsesList writes stored items as the Responses and
// Conversations APIs list them (input_items, conversation items): with
// their ids and a completed status.
func ItemsToResponsesList(items []contextdoc.Item) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(items))
	for i := range items {
		if raw := responsesInputItem(&items[i], true); raw != nil {
			out = append(out, raw)
		}
	}
	return out
}

// responsesInputItem writes one item in the Responses API's input shape.
// OpenAI encrypted reasoning goes back as it came; reasoning from other
// providers means nothing to OpenAI and is left out.
func responsesInputItem(it *contextdoc.Item, listed bool) json.RawMessage {
	id, status := "", ""
	if listed {
		id, status = it.ID, "completed"
	}
	switch it.Type {
	case contextdoc.TypeMessage:
		type part struct {
			Type     string `json:"type"`
			Text     string `json:"text,omitempty"`
			Refusal  string `json:"refusal,omitempty"`
			ImageURL string `json:"image_url,omitempty"`
			FileData string `json:"file_data,omitempty"`
			FileURL  string `json:"file_url,omitempty"`
			Filename string `json:"filename,omitempty"`
			Detail   string `json:"detail,omitempty"`
		}
		parts := make([]any, 0, len(it.Content))
		for _, p := range it.Content {
			switch {
			case p.Type == contextdoc.PartRefusal:
				parts = append(parts, part{Type: "refusal", Refusal: p.Text})
			case p.Type == contextdoc.PartText && it.Role == contextdoc.RoleAssistant:
				parts = append(parts, llmapi.ResponsesOutputText{Type: "output_text", Text: p.Text})
			case p.Type == contextdoc.PartText:
				parts = append(parts, part{Type: "input_text", Text: p.Text})
			case p.Type == contextdoc.PartImage:
				u := p.URL
				if u == "" {
					u = "data:" + p.MediaType + ";base64," + p.Data
				}
				detail := p.Detail
				if detail == "" {
					detail = "auto"
				}
				parts = append(parts, part{Type: "input_image", ImageURL: u, Detail: detail})
			case p.Type == contextdoc.PartFile && p.URL != "":
				parts = append(parts, part{Type: "input_file", FileURL: p.URL, Filename: p.Filename})
			case p.Type == contextdoc.PartFile:
				parts = append(parts, part{Type: "input_file", FileData: "data:" + p.MediaType + ";base64," + p.Data, Filename: p.Filename})
			}
		}
		return marshal(struct {
			ID      string `json:"id,omitempty"`
			Type    string `json:"type"`
			Status  string `json:"status,omitempty"`
			Content []any  `json:"content"`
			Role    string `json:"role"`
		}{id, "message", status, parts, it.Role})
	case contextdoc.TypeFunctionCall:
		return marshal(struct {
			ID        string `json:"id,omitempty"`
			Type      string `json:"type"`
			Status    string `json:"status,omitempty"`
			Arguments string `json:"arguments"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
		}{id, "function_call", status, it.Arguments, it.CallID, it.Name})
	case contextdoc.TypeFunctionCallOutput:
		return marshal(struct {
			ID     string `json:"id,omitempty"`
			Type   string `json:"type"`
			Status string `json:"status,omitempty"`
			CallID string `json:"call_id"`
			Output string `json:"output"`
		}{id, "function_call_output", status, it.CallID, it.Text()})
	case contextdoc.TypeReasoning:
		if it.Origin != contextdoc.OriginOpenAI && !listed {
			return nil
		}
		summary := []llmapi.ResponsesPart{}
		for _, p := range it.Content {
			summary = append(summary, llmapi.ResponsesPart{Type: "summary_text", Text: p.Text})
		}
		r := struct {
			ID               string                 `json:"id,omitempty"`
			Type             string                 `json:"type"`
			Summary          []llmapi.ResponsesPart `json:"summary"`
			EncryptedContent string                 `json:"encrypted_content,omitempty"`
		}{ID: id, Type: "reasoning", Summary: summary}
		if it.Origin == contextdoc.OriginOpenAI {
			r.EncryptedContent = it.Signature
		}
		return marshal(r)
	}
	return nil
}

// ResponsesBodyToResult reads a Responses API response object (a
// non-streaming answer, or the response of a stream's final event) into
// the neutral form.
func ResponsesBodyToResult(body []byte) (*Result, error) {
	var r struct {
		ID                string                      `json:"id"`
		Model             string                      `json:"model"`
		Status            string                      `json:"status"`
		Output            []llmapi.ResponsesItem      `json:"output"`
		IncompleteDetails *llmapi.ResponsesIncomplete `json:"incomplete_details"`
		Usage             *llmapi.ResponsesUsage      `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badUpstream("the Responses API answer is not a response: %v", err)
	}
	res := &Result{ID: r.ID, Model: r.Model, Stop: "stop"}
	if r.IncompleteDetails != nil {
		res.Stop = "length"
		if r.IncompleteDetails.Reason == "content_filter" {
			res.Stop = "content_filter"
		}
	}
	if u := r.Usage; u != nil {
		res.Usage = Usage{Input: u.InputTokens, Output: u.OutputTokens, Cached: u.InputTokensDetails.CachedTokens, Reasoning: u.OutputTokensDetails.ReasoningTokens}
	}
	var c Conv
	for i := range r.Output {
		it := &r.Output[i]
		switch it.Type {
		case "message", "function_call", "reasoning":
			if err := responsesItem(it, fmt.Sprintf("output[%d]", i), &c, &Options{}); err != nil {
				continue // an output item credflow cannot keep
			}
			c.Items[len(c.Items)-1].ID = it.ID
		}
	}
	for i := range c.Items {
		if c.Items[i].Type == contextdoc.TypeMessage {
			c.Items[i].Role = contextdoc.RoleAssistant
		}
	}
	res.Items = c.Items
	return res, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ResponsesInputItems reads a Responses API request's own input as items,
// leniently: items and parts credflow cannot keep (built-in tools' calls,
// file ids) are left out rather than refused, since a request passed
// through to OpenAI may carry them. skipped counts what was left out.
func ResponsesInputItems(body []byte) (items []contextdoc.Item, skipped int, err error) {
	raw, ok, err := jsonx.Get(body, "input")
	if err != nil || !ok || isNull(raw) {
		return nil, 0, err
	}
	var in llmapi.ResponsesInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, 0, invalid("input", "input: "+err.Error())
	}
	if !in.IsItems {
		if in.Text == "" {
			return nil, 0, nil
		}
		return []contextdoc.Item{{Type: contextdoc.TypeMessage, Role: contextdoc.RoleUser, Content: []contextdoc.Part{contextdoc.TextPart(in.Text)}}}, 0, nil
	}
	var c Conv
	for i := range in.Items {
		if err := responsesItem(&in.Items[i], fmt.Sprintf("input[%d]", i), &c, &Options{}); err != nil {
			skipped++
		}
	}
	return c.Items, skipped, nil
}
