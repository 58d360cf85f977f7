package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/pkg/llmapi"
)

var anthropicRequestFields = map[string]bool{
	"model": true, "max_tokens": true, "system": true, "messages": true, "metadata": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "output_config": true,
	"output_format": true, "service_tier": true, "context_management": true,
}

// anthropicOnlyFields are Messages API features OpenAI chat lacks.
var anthropicOnlyFields = map[string]string{
	"container":     "OpenAI chat has no code execution containers",
	"mcp_servers":   "OpenAI chat cannot call MCP servers",
	"inference_geo": "OpenAI chat cannot pin where inference runs per request",
}

// Why the Anthropic hints are dropped, for Options.Dropped and the
// refusals of a strict route.
const (
	whyCacheControl = "OpenAI caches prompt prefixes by itself and has no cache breakpoints"
	whyDeferLoading = "OpenAI chat has no tool search: the definition is sent up front, where deferred loading would have put it once found"
)

// AnthropicRequestToOpenAI translates a Messages API request body into a
// chat completion request body. A field OpenAI chat cannot express
// returns an *Error with status 400 that names it; see the package
// documentation for every mapping.
func AnthropicRequestToOpenAI(body []byte, opt Options) ([]byte, error) {
	if err := checkFields(body, anthropicRequestFields, anthropicOnlyFields, toOpenAI); err != nil {
		return nil, err
	}
	var req llmapi.MessagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, decodeError(err)
	}
	if req.TopK != nil {
		return nil, untranslatable("top_k", toOpenAI, "OpenAI has no top-k sampling")
	}
	if raw, ok, _ := jsonx.Get(body, "context_management"); ok && !isNull(raw) {
		// Its edits trim the history on Anthropic's side past a threshold;
		// Claude Code's clear_thinking would find nothing to clear, as
		// thinking never reaches OpenAI.
		if err := opt.drop("context_management", toOpenAI, "OpenAI chat has no server-side context management: the history goes as sent"); err != nil {
			return nil, err
		}
	}
	if req.ServiceTier != "" {
		if err := opt.drop("service_tier", toOpenAI, "Anthropic's service tiers (auto, standard_only) are not OpenAI's"); err != nil {
			return nil, err
		}
	}
	out := llmapi.ChatRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if opt.MaxTokensField == "max_tokens" {
			out.MaxTokens = &n
		} else {
			out.MaxCompletionTokens = &n
		}
	}
	if len(req.StopSequences) > 0 {
		out.Stop = req.StopSequences
	}
	if req.Stream {
		// message_delta needs usage, which OpenAI only sends when asked.
		out.Stream = true
		out.StreamOptions = &llmapi.ChatStreamOptions{IncludeUsage: true}
	}
	if req.Metadata != nil {
		out.User = req.Metadata.UserID
		if err := otherMetadata(body, &opt); err != nil {
			return nil, err
		}
	}

	if req.System != nil {
		texts, err := textBlocks(req.System, "system", "system", &opt)
		if err != nil {
			return nil, err
		}
		if s := strings.Join(texts, "\n\n"); s != "" {
			out.Messages = append(out.Messages, llmapi.ChatMessage{Role: "system", Content: llmapi.TextContent(s)})
		}
	}
	for i := range req.Messages {
		var err error
		out.Messages, err = appendOpenAIMessages(out.Messages, &req.Messages[i], fmt.Sprintf("messages[%d]", i), &opt)
		if err != nil {
			return nil, err
		}
	}
	if out.Messages == nil {
		out.Messages = []llmapi.ChatMessage{}
	}

	if err := anthropicToolsToOpenAI(&req, &out, &opt); err != nil {
		return nil, err
	}
	if err := anthropicOutputToOpenAI(&req, &out, &opt); err != nil {
		return nil, err
	}
	return marshal(out), nil
}

// otherMetadata drops the metadata members other than user_id (which
// becomes user): Anthropic documents no others, and OpenAI's metadata
// is only kept with stored completions.
func otherMetadata(body []byte, opt *Options) error {
	raw, _, _ := jsonx.Get(body, "metadata")
	var bad error
	jsonx.Fields(raw, func(key string, v []byte) bool {
		if key != "user_id" && !isNull(v) {
			bad = opt.drop("metadata."+key, toOpenAI, "OpenAI chat has no equivalent")
		}
		return bad == nil
	})
	return bad
}

// dropCacheControl reports a block's cache_control, which OpenAI has no
// place for.
func dropCacheControl(cc json.RawMessage, p string, opt *Options) error {
	if isNull(cc) {
		return nil
	}
	return opt.drop(p+".cache_control", toOpenAI, whyCacheControl)
}

// appendOpenAIMessages appends the OpenAI messages one Anthropic message
// becomes: a user message's tool_result blocks turn into tool messages,
// which must directly follow the assistant's tool calls. A system message
// (which the Messages API does not define, but Claude Code sends for
// models it does not know) becomes an OpenAI system message in place.
func appendOpenAIMessages(out []llmapi.ChatMessage, m *llmapi.MessageParam, p string, opt *Options) ([]llmapi.ChatMessage, error) {
	switch m.Role {
	case "user", "assistant":
	case "system":
		texts, err := textBlocks(&m.Content, p+".content", "a system message", opt)
		if err != nil {
			return nil, err
		}
		if s := strings.Join(texts, "\n\n"); s != "" {
			out = append(out, llmapi.ChatMessage{Role: "system", Content: llmapi.TextContent(s)})
		}
		return out, nil
	default:
		return nil, invalid(p+".role", fmt.Sprintf("%s.role: unknown role %q; use user or assistant", p, m.Role))
	}
	if !m.Content.IsBlocks() {
		return append(out, llmapi.ChatMessage{Role: m.Role, Content: llmapi.TextContent(m.Content.Text)}), nil
	}
	if m.Role == "assistant" {
		msg, ok, err := assistantMessage(m.Content.Blocks, p+".content", opt)
		if err != nil || !ok {
			return out, err
		}
		return append(out, msg), nil
	}

	var parts []llmapi.ChatContentPart
	for j := range m.Content.Blocks {
		bl := &m.Content.Blocks[j]
		pp := fmt.Sprintf("%s.content[%d]", p, j)
		if err := dropCacheControl(bl.CacheControl, pp, opt); err != nil {
			return nil, err
		}
		switch bl.Type {
		case "text":
			parts = append(parts, llmapi.ChatContentPart{Type: "text", Text: bl.Text})
		case "image":
			part, err := imagePart(bl.Source, pp+".source")
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case "document":
			part, err := documentPart(bl, pp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case "tool_result":
			msg, err := toolMessage(bl, pp, opt)
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
		default:
			return nil, untranslatable(pp+".type", toOpenAI, fmt.Sprintf("a user message's %q block has no OpenAI equivalent", bl.Type))
		}
	}
	switch {
	case len(parts) == 1 && parts[0].Type == "text":
		out = append(out, llmapi.ChatMessage{Role: "user", Content: llmapi.TextContent(parts[0].Text)})
	case len(parts) > 0:
		out = append(out, llmapi.ChatMessage{Role: "user", Content: &llmapi.ChatContent{Parts: parts}})
	}
	return out, nil
}

// assistantMessage joins text blocks into content and turns tool_use
// blocks into tool calls; thinking blocks are dropped, as OpenAI chat
// cannot take reasoning back. ok is false when nothing is left.
func assistantMessage(blocks []llmapi.ContentBlock, p string, opt *Options) (llmapi.ChatMessage, bool, error) {
	msg := llmapi.ChatMessage{Role: "assistant"}
	var text strings.Builder
	for j := range blocks {
		bl := &blocks[j]
		pp := fmt.Sprintf("%s[%d]", p, j)
		if err := dropCacheControl(bl.CacheControl, pp, opt); err != nil {
			return msg, false, err
		}
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
		case "thinking", "redacted_thinking":
		default:
			return msg, false, untranslatable(pp+".type", toOpenAI, fmt.Sprintf("an assistant message's %q block has no OpenAI equivalent", bl.Type))
		}
	}
	if text.Len() > 0 {
		msg.Content = llmapi.TextContent(text.String())
	}
	return msg, msg.Content != nil || msg.ToolCalls != nil, nil
}

// toolMessage turns a tool_result into a tool message. OpenAI tool
// messages hold text only and have no error flag, so an error result is
// marked in its text.
func toolMessage(bl *llmapi.ContentBlock, p string, opt *Options) (llmapi.ChatMessage, error) {
	var text string
	if bl.Content != nil {
		texts, err := textBlocks(bl.Content, p+".content", "an OpenAI tool message (tool_result)", opt)
		if err != nil {
			return llmapi.ChatMessage{}, err
		}
		text = strings.Join(texts, "\n\n")
	}
	if bl.IsError {
		text = strings.TrimSpace("Error: " + text)
	}
	return llmapi.ChatMessage{Role: "tool", ToolCallID: bl.ToolUseID, Content: llmapi.TextContent(text)}, nil
}

// textBlocks returns the texts of content that may only hold text blocks.
func textBlocks(c *llmapi.MessageContent, p, what string, opt *Options) ([]string, error) {
	if !c.IsBlocks() {
		return []string{c.Text}, nil
	}
	texts := make([]string, 0, len(c.Blocks))
	for j := range c.Blocks {
		bl := &c.Blocks[j]
		if bl.Type != "text" {
			return nil, untranslatable(fmt.Sprintf("%s[%d].type", p, j), toOpenAI, fmt.Sprintf("%s can only hold text, not a %q block", what, bl.Type))
		}
		if err := dropCacheControl(bl.CacheControl, fmt.Sprintf("%s[%d]", p, j), opt); err != nil {
			return nil, err
		}
		texts = append(texts, bl.Text)
	}
	return texts, nil
}

func imagePart(src *llmapi.ContentSource, p string) (llmapi.ChatContentPart, error) {
	if src == nil {
		return llmapi.ChatContentPart{}, invalid(p, p+" is required")
	}
	var url string
	switch src.Type {
	case "base64":
		url = "data:" + src.MediaType + ";base64," + src.Data
	case "url":
		url = src.URL
	case "file":
		return llmapi.ChatContentPart{}, untranslatable(p, toOpenAI, "Anthropic file ids mean nothing to OpenAI; send the image inline")
	default:
		return llmapi.ChatContentPart{}, invalid(p+".type", fmt.Sprintf("%s.type: unknown image source %q", p, src.Type))
	}
	return llmapi.ChatContentPart{Type: "image_url", ImageURL: &llmapi.ChatImageURL{URL: url}}, nil
}

// documentPart maps a PDF to a file part and a plain-text document to
// text.
func documentPart(bl *llmapi.ContentBlock, p string) (llmapi.ChatContentPart, error) {
	var cit struct {
		Enabled bool `json:"enabled"`
	}
	if !isNull(bl.Citations) && json.Unmarshal(bl.Citations, &cit) == nil && cit.Enabled {
		return llmapi.ChatContentPart{}, untranslatable(p+".citations", toOpenAI, "OpenAI chat cannot cite documents")
	}
	src := bl.Source
	if src == nil {
		return llmapi.ChatContentPart{}, invalid(p+".source", p+".source is required")
	}
	switch {
	case src.Type == "base64" && src.MediaType == "application/pdf":
		name := bl.Title
		if name == "" {
			name = "document.pdf"
		}
		return llmapi.ChatContentPart{Type: "file", File: &llmapi.ChatFile{
			Filename: name, FileData: "data:application/pdf;base64," + src.Data,
		}}, nil
	case src.Type == "text":
		return llmapi.ChatContentPart{Type: "text", Text: src.Data}, nil
	}
	return llmapi.ChatContentPart{}, untranslatable(p+".source", toOpenAI, fmt.Sprintf("OpenAI chat takes inline PDF or text documents, not a %q %s source", src.Type, src.MediaType))
}

func anthropicToolsToOpenAI(req *llmapi.MessagesRequest, out *llmapi.ChatRequest, opt *Options) error {
	for j, t := range req.Tools {
		p := fmt.Sprintf("tools[%d]", j)
		if t.Type != "" && t.Type != "custom" {
			return untranslatable(p+".type", toOpenAI, fmt.Sprintf("%q is an Anthropic server tool; OpenAI chat only has function tools", t.Type))
		}
		if err := dropCacheControl(t.CacheControl, p, opt); err != nil {
			return err
		}
		if t.DeferLoading {
			if err := opt.drop(p+".defer_loading", toOpenAI, whyDeferLoading); err != nil {
				return err
			}
		}
		params := t.InputSchema
		if isNull(params) {
			params = emptyObjectSchema
		}
		fn := &llmapi.ChatFunction{Name: t.Name, Description: t.Description, Parameters: params}
		if s := t.Strict; s != nil && *s {
			fn.Strict = s
		}
		out.Tools = append(out.Tools, llmapi.ChatTool{Type: "function", Function: fn})
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = &llmapi.ChatToolChoice{Mode: "auto"}
	case "any":
		out.ToolChoice = &llmapi.ChatToolChoice{Mode: "required"}
	case "none":
		out.ToolChoice = &llmapi.ChatToolChoice{Mode: "none"}
	case "tool":
		out.ToolChoice = &llmapi.ChatToolChoice{Type: "function", Function: &llmapi.ChatNamedFunction{Name: tc.Name}}
	default:
		return invalid("tool_choice.type", fmt.Sprintf("tool_choice: unknown type %q", tc.Type))
	}
	if tc.DisableParallelToolUse && len(out.Tools) > 0 {
		no := false
		out.ParallelToolCalls = &no
	}
	return nil
}

// whyNoReasoning is why a reasoning setting is dropped for a model that
// does not reason.
const whyNoReasoning = "the model does not reason as far as credflow knows (models that do not reason refuse reasoning_effort); if it does, set reasoning: true for it under prices: in the config"

func anthropicOutputToOpenAI(req *llmapi.MessagesRequest, out *llmapi.ChatRequest, opt *Options) error {
	effort := ""
	if th := req.Thinking; th != nil {
		on := false
		switch th.Type {
		case "enabled":
			on = true
			switch {
			case th.BudgetTokens < 4096:
				effort = "low"
			case th.BudgetTokens < 16384:
				effort = "medium"
			default:
				effort = "high"
			}
		case "adaptive":
			// The model decides how much to think: OpenAI's default effort.
			on = true
		case "disabled":
		default:
			return invalid("thinking.type", fmt.Sprintf("thinking: unknown type %q", th.Type))
		}
		switch {
		case on && !opt.Reasoning:
			if err := opt.drop("thinking", toOpenAI, whyNoReasoning); err != nil {
				return err
			}
			effort = ""
		case th.Display != "" && th.Type != "disabled":
			// OpenAI chat never returns reasoning text, shown or not.
			if err := opt.drop("thinking.display", toOpenAI, "OpenAI chat returns no reasoning text to show or omit"); err != nil {
				return err
			}
		}
	}
	format := req.OutputFormat
	if oc := req.OutputConfig; oc != nil {
		e := ""
		switch oc.Effort {
		case "":
		case "low", "medium", "high", "xhigh":
			e = oc.Effort
		case "max":
			e = "xhigh"
		default:
			return invalid("output_config.effort", fmt.Sprintf("output_config.effort: unknown value %q", oc.Effort))
		}
		if e != "" && !opt.Reasoning {
			if err := opt.drop("output_config.effort", toOpenAI, whyNoReasoning); err != nil {
				return err
			}
		} else if e != "" {
			effort = e
		}
		if oc.Format != nil {
			format = oc.Format
		}
	}
	out.ReasoningEffort = effort
	if format != nil {
		if format.Type != "json_schema" || isNull(format.Schema) {
			return invalid("output_config.format", "output_config.format must be a json_schema format with a schema")
		}
		strict := true
		out.ResponseFormat = &llmapi.ChatResponseFormat{Type: "json_schema", JSONSchema: &llmapi.ChatJSONSchema{
			Name: "response", Schema: format.Schema, Strict: &strict,
		}}
	}
	return nil
}
