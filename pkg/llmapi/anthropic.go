package llmapi

import (
	"encoding/json"
	"errors"
)

// Anthropic Messages API: POST /v1/messages.

// MessagesRequest is a Messages API request.
type MessagesRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	// System is a string or an array of text blocks; nil when absent.
	System        *MessageContent   `json:"system,omitempty"`
	Messages      []MessageParam    `json:"messages"`
	Metadata      *MessagesMetadata `json:"metadata,omitempty"`
	StopSequences []string          `json:"stop_sequences,omitempty"`
	Stream        bool              `json:"stream,omitempty"`
	Temperature   *float64          `json:"temperature,omitempty"`
	TopP          *float64          `json:"top_p,omitempty"`
	TopK          *int              `json:"top_k,omitempty"`

	Tools      []MessagesTool      `json:"tools,omitempty"`
	ToolChoice *MessagesToolChoice `json:"tool_choice,omitempty"`

	Thinking     *ThinkingConfig `json:"thinking,omitempty"`
	OutputConfig *OutputConfig   `json:"output_config,omitempty"`
	// OutputFormat is the beta spelling of OutputConfig.Format.
	OutputFormat *OutputFormat `json:"output_format,omitempty"`
	// ServiceTier is "auto" or "standard_only".
	ServiceTier string `json:"service_tier,omitempty"`
}

// MessagesMetadata is the request's metadata.
type MessagesMetadata struct {
	// UserID is an opaque id of the end user, for abuse detection.
	UserID string `json:"user_id,omitempty"`
}

// MessageParam is one input message. Role is "user" or "assistant"; the
// API wants them to alternate.
type MessageParam struct {
	Role    string         `json:"role"`
	Content MessageContent `json:"content"`
}

// MessageContent is a string or an array of content blocks (message
// content, system, tool_result content). It encodes as an array when
// Blocks is non-nil, else as a string.
type MessageContent struct {
	Text   string
	Blocks []ContentBlock
}

// IsBlocks reports whether the content is an array of blocks.
func (c MessageContent) IsBlocks() bool { return c.Blocks != nil }

// IsZero reports whether c is an empty string with no blocks.
func (c MessageContent) IsZero() bool { return c.Blocks == nil && c.Text == "" }

// MarshalJSON implements json.Marshaler.
func (c MessageContent) MarshalJSON() ([]byte, error) {
	if c.Blocks != nil {
		return marshalJSON(c.Blocks)
	}
	return marshalJSON(c.Text)
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *MessageContent) UnmarshalJSON(b []byte) error {
	*c = MessageContent{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &c.Text)
	case '[':
		c.Blocks = []ContentBlock{}
		return json.Unmarshal(b, &c.Blocks)
	}
	return errors.New("content must be a string or an array of content blocks")
}

// ContentBlock is one content block; Type says which fields apply:
//
//	text               Text, Citations
//	image, document    Source (document also Title, Context, Citations)
//	tool_use           ID, Name, Input
//	tool_result        ToolUseID, Content, IsError
//	thinking           Thinking, Signature
//	redacted_thinking  Data
//
// CacheControl may be set on most of them in requests.
type ContentBlock struct {
	Type string `json:"type"`

	Text      string          `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`

	Source  *ContentSource `json:"source,omitempty"`
	Title   string         `json:"title,omitempty"`
	Context string         `json:"context,omitempty"`

	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// Caller says who made a tool call ({"type":"direct"}, or code
	// execution for programmatic tool calling).
	Caller json.RawMessage `json:"caller,omitempty"`

	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   *MessageContent `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`

	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`

	Data string `json:"data,omitempty"`

	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// MarshalJSON implements json.Marshaler. It keeps the fields each block
// type requires even when empty: a text block's "text", a tool_use
// block's "input" ({} when nil), a thinking block's "thinking" and
// "signature", as content_block_start events carry them.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case "text":
		return marshalJSON(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			Citations    json.RawMessage `json:"citations,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.Citations, b.CacheControl})
	case "tool_use":
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		return marshalJSON(struct {
			Type         string          `json:"type"`
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			Input        json.RawMessage `json:"input"`
			Caller       json.RawMessage `json:"caller,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.ID, b.Name, input, b.Caller, b.CacheControl})
	case "thinking":
		return marshalJSON(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	}
	type plain ContentBlock
	return marshalJSON(plain(b))
}

// ContentSource is the source of an image or document block. Type is
// "base64" (MediaType and Data), "url" (URL), "text" (MediaType and
// Data, documents only) or "file" (FileID, Files API). A search_result
// block's source is a plain string instead: it decodes into URL with an
// empty Type, and encodes back as a string.
type ContentSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

type plainSource ContentSource

// MarshalJSON implements json.Marshaler.
func (s ContentSource) MarshalJSON() ([]byte, error) {
	if s.Type == "" && s.URL != "" {
		return marshalJSON(s.URL)
	}
	return marshalJSON(plainSource(s))
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *ContentSource) UnmarshalJSON(b []byte) error {
	*s = ContentSource{}
	if firstByte(b) == '"' {
		return json.Unmarshal(b, &s.URL)
	}
	return json.Unmarshal(b, (*plainSource)(s))
}

// MessagesTool is a tool definition. Client tools have no Type (or
// "custom") and an InputSchema; server tools (web search, code execution,
// ...) have a versioned Type and fields of their own.
type MessagesTool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	Strict       *bool           `json:"strict,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	// DeferLoading keeps the definition out of the model's context until
	// a tool search finds it (the advanced-tool-use beta).
	DeferLoading bool `json:"defer_loading,omitempty"`
}

// MessagesToolChoice is tool_choice. Type is "auto", "any", "tool" (with
// Name) or "none".
type MessagesToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// ThinkingConfig turns extended thinking on. Type is "enabled" (with
// BudgetTokens), "adaptive" or "disabled".
type ThinkingConfig struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	// Display is "summarized" or "omitted".
	Display string `json:"display,omitempty"`
}

// OutputConfig shapes the output.
type OutputConfig struct {
	// Format constrains the text output to a JSON schema.
	Format *OutputFormat `json:"format,omitempty"`
	// Effort is "low", "medium", "high", "xhigh" or "max".
	Effort string `json:"effort,omitempty"`
}

// OutputFormat is a structured output format: Type "json_schema".
type OutputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// MessagesResponse is a Messages API response ("type": "message"), and
// the message of a message_start event (then with empty Content and null
// StopReason).
type MessagesResponse struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Role    string         `json:"role"`
	Model   string         `json:"model"`
	Content []ContentBlock `json:"content"`
	// StopReason is "end_turn", "max_tokens", "stop_sequence", "tool_use",
	// "pause_turn", "refusal" or "model_context_window_exceeded"; null in
	// message_start.
	StopReason   *string       `json:"stop_reason"`
	StopSequence *string       `json:"stop_sequence"`
	Usage        MessagesUsage `json:"usage"`
}

// MessagesUsage counts tokens. Unlike OpenAI's prompt_tokens,
// InputTokens excludes the prompt tokens read from or written to the
// cache, which the two cache fields count.
type MessagesUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

// MessagesStreamEvent is the data of a stream event; Type repeats the
// SSE event name:
//
//	message_start        Message
//	content_block_start  Index, ContentBlock
//	content_block_delta  Index, Delta (text_delta, input_json_delta,
//	                     thinking_delta, signature_delta, citations_delta)
//	content_block_stop   Index
//	message_delta        Delta (StopReason, StopSequence), Usage
//	message_stop, ping   nothing else
//	error                Error
//
// message_delta's Usage is cumulative: its counts replace earlier ones.
type MessagesStreamEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        *StreamDelta      `json:"delta,omitempty"`
	Usage        *MessagesUsage    `json:"usage,omitempty"`
	Error        *MessagesError    `json:"error,omitempty"`
}

// StreamDelta is the delta of a content_block_delta event (Type set) or
// of a message_delta event (Type empty).
type StreamDelta struct {
	Type        string          `json:"type,omitempty"`
	Text        string          `json:"text,omitempty"`
	PartialJSON string          `json:"partial_json,omitempty"`
	Thinking    string          `json:"thinking,omitempty"`
	Signature   string          `json:"signature,omitempty"`
	Citation    json.RawMessage `json:"citation,omitempty"`

	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// MarshalJSON implements json.Marshaler, writing exactly the fields of the
// delta's type (a message_delta's stop_sequence as null when nil).
func (d StreamDelta) MarshalJSON() ([]byte, error) {
	type field struct {
		Type string `json:"type"`
	}
	switch d.Type {
	case "":
		return marshalJSON(struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		}{d.StopReason, d.StopSequence})
	case "text_delta":
		return marshalJSON(struct {
			field
			Text string `json:"text"`
		}{field{d.Type}, d.Text})
	case "input_json_delta":
		return marshalJSON(struct {
			field
			PartialJSON string `json:"partial_json"`
		}{field{d.Type}, d.PartialJSON})
	case "thinking_delta":
		return marshalJSON(struct {
			field
			Thinking string `json:"thinking"`
		}{field{d.Type}, d.Thinking})
	case "signature_delta":
		return marshalJSON(struct {
			field
			Signature string `json:"signature"`
		}{field{d.Type}, d.Signature})
	}
	type plain StreamDelta
	return marshalJSON(plain(d))
}

// MessagesErrorResponse is Anthropic's error body, also the data of an
// "error" stream event.
type MessagesErrorResponse struct {
	Type      string        `json:"type"`
	Error     MessagesError `json:"error"`
	RequestID string        `json:"request_id,omitempty"`
}

// MessagesError describes an error. Type is "invalid_request_error" (400),
// "authentication_error" (401), "billing_error" (402), "permission_error"
// (403), "not_found_error" (404), "request_too_large" (413),
// "rate_limit_error" (429), "api_error" (500), "timeout_error" (504) or
// "overloaded_error" (529).
type MessagesError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
