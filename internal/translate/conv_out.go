package translate

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// ConvToChat writes a neutral request as a Chat Completions request:
// instructions and system or developer items become system messages,
// function calls the assistant's tool_calls, their outputs tool messages.
// Reasoning items are left out: Chat Completions cannot take earlier
// reasoning back.
func ConvToChat(c *Conv, opt Options) ([]byte, error) {
	out := llmapi.ChatRequest{Model: c.Model, Temperature: c.Temperature, TopP: c.TopP, User: c.User,
		ParallelToolCalls: c.ParallelToolCalls, Verbosity: c.Verbosity}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	if c.MaxOutputTokens > 0 {
		n := c.MaxOutputTokens
		if opt.MaxTokensField == "max_tokens" {
			out.MaxTokens = &n
		} else {
			out.MaxCompletionTokens = &n
		}
	}
	if c.Stream {
		out.Stream = true
		out.StreamOptions = &llmapi.ChatStreamOptions{IncludeUsage: true}
	}
	if c.Instructions != "" {
		out.Messages = append(out.Messages, llmapi.ChatMessage{Role: "system", Content: llmapi.TextContent(c.Instructions)})
	}
	for i := range c.Items {
		var err error
		if out.Messages, err = appendChatItem(out.Messages, &c.Items[i], fmt.Sprintf("input[%d]", i)); err != nil {
			return nil, err
		}
	}
	if out.Messages == nil {
		out.Messages = []llmapi.ChatMessage{}
	}
	for _, t := range c.Tools {
		params := t.Parameters
		if isNull(params) {
			params = emptyObjectSchema
		}
		out.Tools = append(out.Tools, llmapi.ChatTool{Type: "function", Function: &llmapi.ChatFunction{
			Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict}})
	}
	switch c.ToolChoice.Mode {
	case "auto", "none", "required":
		out.ToolChoice = &llmapi.ChatToolChoice{Mode: c.ToolChoice.Mode}
	case "tool":
		out.ToolChoice = &llmapi.ChatToolChoice{Type: "function", Function: &llmapi.ChatNamedFunction{Name: c.ToolChoice.Name}}
	}
	if len(out.Tools) == 0 {
		// OpenAI refuses these without tools.
		out.ParallelToolCalls = nil
		if out.ToolChoice != nil && out.ToolChoice.Mode != "" {
			out.ToolChoice = nil
		}
	}
	if f := c.Format; f != nil {
		if f.Type == "json_object" {
			out.ResponseFormat = &llmapi.ChatResponseFormat{Type: "json_object"}
		} else {
			name := f.Name
			if name == "" {
				name = "response"
			}
			out.ResponseFormat = &llmapi.ChatResponseFormat{Type: "json_schema", JSONSchema: &llmapi.ChatJSONSchema{
				Name: name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}}
		}
	}
	switch e := c.Effort; {
	case e == "":
	case !opt.Reasoning:
		if err := opt.drop("reasoning.effort", toTarget, "the model does not reason, and refuses a reasoning effort"); err != nil {
			return nil, err
		}
	default:
		out.ReasoningEffort = e
	}
	return marshal(out), nil
}

// appendChatItem appends the chat message an item becomes, merging a
// function call into the assistant message before it.
func appendChatItem(msgs []llmapi.ChatMessage, it *contextdoc.Item, p string) ([]llmapi.ChatMessage, error) {
	switch it.Type {
	case contextdoc.TypeMessage:
		m := llmapi.ChatMessage{Role: it.Role}
		switch it.Role {
		case contextdoc.RoleAssistant:
			var text, refusal strings.Builder
			for _, part := range it.Content {
				if part.Type == contextdoc.PartRefusal {
					refusal.WriteString(part.Text)
				} else {
					text.WriteString(part.Text)
				}
			}
			if text.Len() > 0 || refusal.Len() == 0 {
				m.Content = llmapi.TextContent(text.String())
			}
			if refusal.Len() > 0 {
				r := refusal.String()
				m.Refusal = &r
			}
		default:
			content, err := chatContent(it.Content, p+".content")
			if err != nil {
				return nil, err
			}
			m.Content = content
		}
		return append(msgs, m), nil
	case contextdoc.TypeFunctionCall:
		tc := llmapi.ChatToolCall{ID: it.CallID, Type: "function", Function: llmapi.ChatFunctionCall{Name: it.Name, Arguments: it.Arguments}}
		if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" {
			msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, tc)
			return msgs, nil
		}
		return append(msgs, llmapi.ChatMessage{Role: "assistant", ToolCalls: []llmapi.ChatToolCall{tc}}), nil
	case contextdoc.TypeFunctionCallOutput:
		var text strings.Builder
		for j, part := range it.Content {
			if part.Type != contextdoc.PartText {
				return nil, untranslatable(fmt.Sprintf("%s.output[%d]", p, j), toOpenAI, "a Chat Completions tool result holds text only")
			}
			text.WriteString(part.Text)
		}
		s := text.String()
		if it.IsError {
			s = strings.TrimSpace("Error: " + s)
		}
		return append(msgs, llmapi.ChatMessage{Role: "tool", ToolCallID: it.CallID, Content: llmapi.TextContent(s)}), nil
	}
	// Reasoning: Chat Completions has no way to take it back.
	return msgs, nil
}

// chatContent writes user, system or developer content: a plain string
// for one text part, else parts.
func chatContent(parts []contextdoc.Part, p string) (*llmapi.ChatContent, error) {
	if len(parts) == 1 && parts[0].Type == contextdoc.PartText {
		return llmapi.TextContent(parts[0].Text), nil
	}
	out := make([]llmapi.ChatContentPart, 0, len(parts))
	for j, part := range parts {
		switch part.Type {
		case contextdoc.PartText, contextdoc.PartRefusal:
			out = append(out, llmapi.ChatContentPart{Type: "text", Text: part.Text})
		case contextdoc.PartImage:
			u := part.URL
			if u == "" {
				u = "data:" + part.MediaType + ";base64," + part.Data
			}
			out = append(out, llmapi.ChatContentPart{Type: "image_url", ImageURL: &llmapi.ChatImageURL{URL: u, Detail: part.Detail}})
		case contextdoc.PartFile:
			if part.Data == "" {
				return nil, untranslatable(fmt.Sprintf("%s[%d]", p, j), toOpenAI, "Chat Completions takes files inline only; send file_data")
			}
			out = append(out, llmapi.ChatContentPart{Type: "file", File: &llmapi.ChatFile{
				Filename: part.Filename, FileData: "data:" + part.MediaType + ";base64," + part.Data}})
		}
	}
	return &llmapi.ChatContent{Parts: out}, nil
}

// Thinking budgets for a reasoning effort, when the target is Anthropic
// (budget_tokens must be at least 1024 and below max_tokens).
var thinkingBudget = map[string]int{"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768}

// ConvToMessages writes a neutral request as an Anthropic Messages
// request: instructions and system or developer items become the system
// prompt, function calls tool_use blocks, their outputs tool_result
// blocks, reasoning that came from Anthropic thinking blocks again.
// Reasoning from other providers is left out (Anthropic could not verify
// it). A reasoning effort turns thinking on, with a budget by effort,
// where the model reasons and the request allows it.
func ConvToMessages(c *Conv, opt Options) ([]byte, error) {
	out := llmapi.MessagesRequest{Model: c.Model, Stream: c.Stream, TopP: c.TopP}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	switch {
	case c.MaxOutputTokens > 0:
		out.MaxTokens = c.MaxOutputTokens
	case opt.DefaultMaxTokens > 0:
		out.MaxTokens = opt.DefaultMaxTokens
	default:
		out.MaxTokens = DefaultMaxTokens
	}
	if t := c.Temperature; t != nil {
		if *t > 1 {
			return nil, untranslatable("temperature", toAnthropic, fmt.Sprintf("%g is above Anthropic's maximum of 1 (OpenAI's range is 0 to 2, and there is no exact conversion)", *t))
		}
		out.Temperature = t
	}
	if c.User != "" {
		out.Metadata = &llmapi.MessagesMetadata{UserID: c.User}
	}
	if c.Verbosity != "" && c.Verbosity != "medium" {
		return nil, untranslatable("text.verbosity", toAnthropic, "Anthropic has no verbosity setting")
	}

	var b anthropicBuilder
	if c.Instructions != "" {
		b.system = append(b.system, llmapi.ContentBlock{Type: "text", Text: c.Instructions})
	}
	thinking, err := b.items(c.Items, "input")
	if err != nil {
		return nil, err
	}
	switch {
	case len(b.system) == 1:
		out.System = &llmapi.MessageContent{Text: b.system[0].Text}
	case len(b.system) > 1:
		out.System = &llmapi.MessageContent{Blocks: b.system}
	}
	out.Messages = b.finish()

	for _, t := range c.Tools {
		schema := t.Parameters
		if isNull(schema) {
			schema = emptyObjectSchema
		}
		tool := llmapi.MessagesTool{Name: t.Name, Description: t.Description, InputSchema: schema}
		if s := t.Strict; s != nil && *s {
			tool.Strict = s
		}
		out.Tools = append(out.Tools, tool)
	}
	var tc *llmapi.MessagesToolChoice
	switch c.ToolChoice.Mode {
	case "auto":
		tc = &llmapi.MessagesToolChoice{Type: "auto"}
	case "none":
		tc = &llmapi.MessagesToolChoice{Type: "none"}
	case "required":
		tc = &llmapi.MessagesToolChoice{Type: "any"}
	case "tool":
		tc = &llmapi.MessagesToolChoice{Type: "tool", Name: c.ToolChoice.Name}
	}
	if len(out.Tools) == 0 {
		if tc != nil && (tc.Type == "auto" || tc.Type == "none") {
			tc = nil
		}
	} else if p := c.ParallelToolCalls; p != nil && !*p {
		if tc == nil {
			tc = &llmapi.MessagesToolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	out.ToolChoice = tc
	if f := c.Format; f != nil {
		if f.Type == "json_object" {
			return nil, untranslatable("text.format", toAnthropic, "Anthropic has no schemaless JSON mode; send a json_schema format")
		}
		out.OutputConfig = &llmapi.OutputConfig{Format: &llmapi.OutputFormat{Type: "json_schema", Schema: f.Schema}}
	}
	if err := messagesThinking(c, &out, thinking, &opt); err != nil {
		return nil, err
	}
	return marshal(out), nil
}

// messagesThinking turns Anthropic thinking on for a reasoning effort,
// where it can be: the model reasons, the output cap leaves room for the
// smallest budget, sampling is left at its defaults and no tool is
// forced (Anthropic refuses thinking with either), and a tool loop in
// progress carries its earlier thinking back (Anthropic refuses a
// thinking request whose last assistant turn called a tool without it).
// Otherwise the effort is dropped, and named.
func messagesThinking(c *Conv, out *llmapi.MessagesRequest, carried bool, opt *Options) error {
	if c.Effort == "" || c.Effort == "none" {
		return nil
	}
	budget := thinkingBudget[c.Effort]
	why := ""
	switch {
	case !opt.Reasoning:
		why = "the model does not reason"
	case out.MaxTokens <= 1024:
		why = "the output cap leaves no room for Anthropic's smallest thinking budget (1024 tokens)"
	case out.Temperature != nil && *out.Temperature != 1, out.TopP != nil && *out.TopP < 0.95:
		why = "Anthropic does not allow thinking with a changed temperature or top_p"
	case out.ToolChoice != nil && (out.ToolChoice.Type == "any" || out.ToolChoice.Type == "tool"):
		why = "Anthropic does not allow thinking with a forced tool"
	case !carried && lastAssistantCallsTool(out.Messages):
		why = "the history's last tool call came without the thinking that preceded it (send reasoning items back with their encrypted_content: include reasoning.encrypted_content)"
	}
	if why != "" {
		return opt.drop("reasoning.effort", toAnthropic, why)
	}
	out.Thinking = &llmapi.ThinkingConfig{Type: "enabled", BudgetTokens: min(budget, out.MaxTokens-1)}
	return nil
}

func lastAssistantCallsTool(msgs []llmapi.MessageParam) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "assistant" {
			continue
		}
		for _, bl := range msgs[i].Content.Blocks {
			if bl.Type == "tool_use" {
				return true
			}
		}
		return false
	}
	return false
}

// messagesBlocks writes user or tool output content as Anthropic blocks.
func messagesBlocks(parts []contextdoc.Part, p string) ([]llmapi.ContentBlock, error) {
	blocks := make([]llmapi.ContentBlock, 0, len(parts))
	for j, part := range parts {
		pp := fmt.Sprintf("%s[%d]", p, j)
		switch part.Type {
		case contextdoc.PartText, contextdoc.PartRefusal:
			if part.Text != "" {
				blocks = append(blocks, llmapi.ContentBlock{Type: "text", Text: part.Text})
			}
		case contextdoc.PartImage:
			src := &llmapi.ContentSource{Type: "url", URL: part.URL}
			if part.URL == "" {
				src = &llmapi.ContentSource{Type: "base64", MediaType: part.MediaType, Data: part.Data}
			}
			blocks = append(blocks, llmapi.ContentBlock{Type: "image", Source: src})
		case contextdoc.PartFile:
			bl := llmapi.ContentBlock{Type: "document", Title: part.Filename}
			switch {
			case part.URL != "":
				bl.Source = &llmapi.ContentSource{Type: "url", URL: part.URL}
			case part.MediaType == "application/pdf":
				bl.Source = &llmapi.ContentSource{Type: "base64", MediaType: part.MediaType, Data: part.Data}
			case part.MediaType == "text/plain":
				text, err := base64.StdEncoding.DecodeString(part.Data)
				if err != nil {
					return nil, invalid(pp+".file_data", pp+".file_data is not valid base64")
				}
				bl.Source = &llmapi.ContentSource{Type: "text", MediaType: part.MediaType, Data: string(text)}
			default:
				return nil, untranslatable(pp+".file_data", toAnthropic, fmt.Sprintf("Anthropic documents are PDF or plain text, not %q", part.MediaType))
			}
			blocks = append(blocks, bl)
		}
	}
	return blocks, nil
}

// items adds neutral items to the builder: system and developer text to
// the system prompt, the rest as blocks of alternating messages. It
// reports whether Anthropic thinking was carried back.
func (b *anthropicBuilder) items(items []contextdoc.Item, prefix string) (thinking bool, err error) {
	for i := range items {
		it := &items[i]
		p := fmt.Sprintf("%s[%d]", prefix, i)
		switch it.Type {
		case contextdoc.TypeMessage:
			switch it.Role {
			case contextdoc.RoleSystem, contextdoc.RoleDeveloper:
				for j, part := range it.Content {
					if part.Type != contextdoc.PartText {
						return false, invalid(fmt.Sprintf("%s.content[%d]", p, j), "a system or developer message holds text only")
					}
					if part.Text != "" {
						b.system = append(b.system, llmapi.ContentBlock{Type: "text", Text: part.Text})
					}
				}
			case contextdoc.RoleAssistant:
				for _, part := range it.Content {
					if part.Text != "" {
						b.add("assistant", llmapi.ContentBlock{Type: "text", Text: part.Text})
					}
				}
			default:
				blocks, err := messagesBlocks(it.Content, p+".content")
				if err != nil {
					return false, err
				}
				b.add("user", blocks...)
			}
		case contextdoc.TypeFunctionCall:
			input, ok := argumentsObject(it.Arguments)
			if !ok {
				return false, invalid(p+".arguments", p+".arguments must be a JSON object")
			}
			b.add("assistant", llmapi.ContentBlock{Type: "tool_use", ID: it.CallID, Name: it.Name, Input: input})
		case contextdoc.TypeFunctionCallOutput:
			res := llmapi.ContentBlock{Type: "tool_result", ToolUseID: it.CallID, IsError: it.IsError}
			if len(it.Content) == 1 && it.Content[0].Type == contextdoc.PartText {
				res.Content = &llmapi.MessageContent{Text: it.Content[0].Text}
			} else if len(it.Content) > 0 {
				blocks, err := messagesBlocks(it.Content, p+".output")
				if err != nil {
					return false, err
				}
				for j, bl := range blocks {
					if bl.Type == "document" {
						return false, untranslatable(fmt.Sprintf("%s.output[%d]", p, j), toAnthropic, "an Anthropic tool result holds text and images only")
					}
				}
				res.Content = &llmapi.MessageContent{Blocks: blocks}
			}
			b.add("user", res)
		case contextdoc.TypeReasoning:
			if it.Origin != contextdoc.OriginAnthropic {
				continue
			}
			thinking = true
			if it.Redacted {
				b.add("assistant", llmapi.ContentBlock{Type: "redacted_thinking", Data: it.Signature})
			} else {
				b.add("assistant", llmapi.ContentBlock{Type: "thinking", Thinking: it.Text(), Signature: it.Signature})
			}
		}
	}
	return thinking, nil
}
