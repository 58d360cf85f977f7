package llmapi

import (
	"encoding/json"
	"errors"
)

// OpenAI Responses API: POST /v1/responses.

// ResponsesRequest is a Responses API request. As with ChatRequest, fields
// credflow cannot honour on other providers are here so that a translator
// can see them and refuse them, rather than lose them unseen.
type ResponsesRequest struct {
	Model        string          `json:"model"`
	Input        ResponsesInput  `json:"input"`
	Instructions json.RawMessage `json:"instructions,omitempty"`

	Tools             []ResponsesTool      `json:"tools,omitempty"`
	ToolChoice        *ResponsesToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool                `json:"parallel_tool_calls,omitempty"`
	MaxToolCalls      *int                 `json:"max_tool_calls,omitempty"`

	MaxOutputTokens *int                      `json:"max_output_tokens,omitempty"`
	Temperature     *float64                  `json:"temperature,omitempty"`
	TopP            *float64                  `json:"top_p,omitempty"`
	TopLogprobs     *int                      `json:"top_logprobs,omitempty"`
	Text            *ResponsesTextConfig      `json:"text,omitempty"`
	Reasoning       *ResponsesReasoningConfig `json:"reasoning,omitempty"`

	Stream        bool            `json:"stream,omitempty"`
	StreamOptions json.RawMessage `json:"stream_options,omitempty"`

	Store                *bool             `json:"store,omitempty"`
	PreviousResponseID   string            `json:"previous_response_id,omitempty"`
	Conversation         json.RawMessage   `json:"conversation,omitempty"`
	Include              []string          `json:"include,omitempty"`
	Truncation           string            `json:"truncation,omitempty"`
	Metadata             map[string]string `json:"metadata,omitempty"`
	User                 string            `json:"user,omitempty"`
	SafetyIdentifier     string            `json:"safety_identifier,omitempty"`
	PromptCacheKey       string            `json:"prompt_cache_key,omitempty"`
	PromptCacheRetention string            `json:"prompt_cache_retention,omitempty"`
	ServiceTier          string            `json:"service_tier,omitempty"`
	Background           *bool             `json:"background,omitempty"`
	Prompt               json.RawMessage   `json:"prompt,omitempty"`
	ContextManagement    json.RawMessage   `json:"context_management,omitempty"`
	// ClientMetadata is Codex CLI's per-request metadata (ids of its
	// session, turn and installation).
	ClientMetadata json.RawMessage `json:"client_metadata,omitempty"`
}

// ResponsesInput is a request's input: a string (one user message) or a
// list of items.
type ResponsesInput struct {
	Text  string
	Items []ResponsesItem
	// IsItems reports that input was a list.
	IsItems bool
}

// MarshalJSON implements json.Marshaler.
func (in ResponsesInput) MarshalJSON() ([]byte, error) {
	if in.IsItems {
		if in.Items == nil {
			return []byte("[]"), nil
		}
		return marshalJSON(in.Items)
	}
	return marshalJSON(in.Text)
}

// UnmarshalJSON implements json.Unmarshaler.
func (in *ResponsesInput) UnmarshalJSON(b []byte) error {
	*in = ResponsesInput{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &in.Text)
	case '[':
		in.IsItems = true
		return json.Unmarshal(b, &in.Items)
	}
	return errors.New("input must be a string or an array of items")
}

// ResponsesItem is an input item or, in a response, an output item. Type
// is "message" (or empty, for the short form {role, content}),
// "function_call", "function_call_output", "reasoning", "item_reference",
// or one of the built-in tools' items.
type ResponsesItem struct {
	Type   string `json:"type,omitempty"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status,omitempty"`

	// Messages. Content is also a reasoning item's reasoning_text parts.
	Role    string            `json:"role,omitempty"`
	Content *ResponsesContent `json:"content,omitempty"`
	Phase   string            `json:"phase,omitempty"`

	// Function calls and their outputs.
	CallID    string            `json:"call_id,omitempty"`
	Name      string            `json:"name,omitempty"`
	Arguments string            `json:"arguments,omitempty"`
	Output    *ResponsesContent `json:"output,omitempty"`

	// Reasoning.
	Summary          []ResponsesPart `json:"summary,omitempty"`
	EncryptedContent *string         `json:"encrypted_content,omitempty"`
}

// ResponsesContent is content that may be a string or a list of parts.
type ResponsesContent struct {
	Text  string
	Parts []ResponsesPart
}

// IsParts reports whether the content is a list of parts.
func (c ResponsesContent) IsParts() bool { return c.Parts != nil }

// MarshalJSON implements json.Marshaler.
func (c ResponsesContent) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return marshalJSON(c.Parts)
	}
	return marshalJSON(c.Text)
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ResponsesContent) UnmarshalJSON(b []byte) error {
	*c = ResponsesContent{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &c.Text)
	case '[':
		c.Parts = []ResponsesPart{}
		return json.Unmarshal(b, &c.Parts)
	}
	return errors.New("content must be a string or an array of content parts")
}

// ResponsesPart is a content part: input_text, output_text, refusal,
// input_image, input_file, summary_text or reasoning_text.
type ResponsesPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileURL  string `json:"file_url,omitempty"`
	Filename string `json:"filename,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// ResponsesTool is a tool the model may use. Only function tools are
// described here; built-in tools (web_search, file_search, …) keep only
// their type.
type ResponsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
	// Tools are a namespace tool's function tools (Codex CLI groups its
	// sub-agent tools so); their calls name the namespace.
	Tools []ResponsesTool `json:"tools,omitempty"`
}

// ResponsesToolChoice is tool_choice: a mode ("none", "auto", "required")
// or an object naming a tool ({"type":"function","name":…}).
type ResponsesToolChoice struct {
	Mode string
	Type string
	Name string
}

// MarshalJSON implements json.Marshaler.
func (c ResponsesToolChoice) MarshalJSON() ([]byte, error) {
	if c.Mode != "" {
		return marshalJSON(c.Mode)
	}
	return marshalJSON(struct {
		Type string `json:"type"`
		Name string `json:"name,omitempty"`
	}{c.Type, c.Name})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ResponsesToolChoice) UnmarshalJSON(b []byte) error {
	*c = ResponsesToolChoice{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &c.Mode)
	case '{':
		var o struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		c.Type, c.Name = o.Type, o.Name
		return nil
	}
	return errors.New("tool_choice must be a string or an object")
}

// ResponsesTextConfig is the request's text options.
type ResponsesTextConfig struct {
	Format    *ResponsesFormat `json:"format,omitempty"`
	Verbosity string           `json:"verbosity,omitempty"`
}

// ResponsesFormat is text.format: "text", "json_object" or "json_schema"
// (with the schema's name, schema and strict flag inline).
type ResponsesFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponsesReasoningConfig is the request's reasoning options.
type ResponsesReasoningConfig struct {
	// Effort is "none", "minimal", "low", "medium", "high" or "xhigh".
	Effort string `json:"effort,omitempty"`
	// Summary is "auto", "concise" or "detailed" ("generate_summary" is
	// its deprecated name).
	Summary         string `json:"summary,omitempty"`
	GenerateSummary string `json:"generate_summary,omitempty"`
}

// ResponsesConversationRef names the conversation a response belongs to.
type ResponsesConversationRef struct {
	ID string `json:"id"`
}

// ResponsesUsage counts tokens. InputTokens includes cached tokens and
// OutputTokens reasoning tokens, as in Chat Completions.
type ResponsesUsage struct {
	InputTokens         int                    `json:"input_tokens"`
	InputTokensDetails  ResponsesInputDetails  `json:"input_tokens_details"`
	OutputTokens        int                    `json:"output_tokens"`
	OutputTokensDetails ResponsesOutputDetails `json:"output_tokens_details"`
	TotalTokens         int                    `json:"total_tokens"`
}

// ResponsesInputDetails breaks down input tokens.
type ResponsesInputDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// ResponsesOutputDetails breaks down output tokens.
type ResponsesOutputDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// ResponsesError is a failed response's error.
type ResponsesError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ResponsesIncomplete says why a response is incomplete:
// "max_output_tokens" or "content_filter".
type ResponsesIncomplete struct {
	Reason string `json:"reason"`
}

// ResponsesResponse is a response object ("object": "response"). Output
// holds the output items already encoded, each in its own shape (see
// ResponsesOutputMessage, ResponsesOutputFunctionCall,
// ResponsesOutputReasoning). The request settings it echoes are raw JSON
// so that they go back as the client sent them.
type ResponsesResponse struct {
	ID                 string                    `json:"id"`
	Object             string                    `json:"object"`
	CreatedAt          int64                     `json:"created_at"`
	Status             string                    `json:"status"`
	Background         bool                      `json:"background"`
	Conversation       *ResponsesConversationRef `json:"conversation,omitempty"`
	Error              *ResponsesError           `json:"error"`
	IncompleteDetails  *ResponsesIncomplete      `json:"incomplete_details"`
	Instructions       json.RawMessage           `json:"instructions"`
	MaxOutputTokens    *int                      `json:"max_output_tokens"`
	MaxToolCalls       *int                      `json:"max_tool_calls"`
	Model              string                    `json:"model"`
	Output             []json.RawMessage         `json:"output"`
	ParallelToolCalls  bool                      `json:"parallel_tool_calls"`
	PreviousResponseID *string                   `json:"previous_response_id"`
	PromptCacheKey     *string                   `json:"prompt_cache_key"`
	Reasoning          json.RawMessage           `json:"reasoning"`
	SafetyIdentifier   *string                   `json:"safety_identifier"`
	ServiceTier        string                    `json:"service_tier"`
	Store              bool                      `json:"store"`
	Temperature        *float64                  `json:"temperature"`
	Text               json.RawMessage           `json:"text"`
	ToolChoice         json.RawMessage           `json:"tool_choice"`
	Tools              json.RawMessage           `json:"tools"`
	TopLogprobs        int                       `json:"top_logprobs"`
	TopP               *float64                  `json:"top_p"`
	Truncation         string                    `json:"truncation"`
	Usage              *ResponsesUsage           `json:"usage"`
	User               *string                   `json:"user"`
	Metadata           map[string]string         `json:"metadata"`
}

// ResponsesOutputMessage is an assistant message output item.
type ResponsesOutputMessage struct {
	ID      string                `json:"id"`
	Type    string                `json:"type"`
	Status  string                `json:"status"`
	Content []ResponsesOutputText `json:"content"`
	Role    string                `json:"role"`
}

// ResponsesOutputText is an output_text (or refusal) content part.
type ResponsesOutputText struct {
	Type string
	Text string
}

// MarshalJSON writes output_text with its empty annotations and logprobs,
// as OpenAI does, and a refusal as {"type":"refusal","refusal":…}.
func (p ResponsesOutputText) MarshalJSON() ([]byte, error) {
	if p.Type == "refusal" {
		return marshalJSON(struct {
			Type    string `json:"type"`
			Refusal string `json:"refusal"`
		}{p.Type, p.Text})
	}
	return marshalJSON(struct {
		Type        string            `json:"type"`
		Annotations []json.RawMessage `json:"annotations"`
		Logprobs    []json.RawMessage `json:"logprobs"`
		Text        string            `json:"text"`
	}{p.Type, []json.RawMessage{}, []json.RawMessage{}, p.Text})
}

// ResponsesOutputFunctionCall is a function_call output item.
type ResponsesOutputFunctionCall struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// ResponsesOutputReasoning is a reasoning output item.
type ResponsesOutputReasoning struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Summary          []ResponsesPart `json:"summary"`
	EncryptedContent *string         `json:"encrypted_content,omitempty"`
}

// ResponsesErrorEvent is the data of a stream's "error" event, which
// OpenAI sends before response.failed. (The API reference shows code and
// message at the top level; recorded streams nest them in "error".)
type ResponsesErrorEvent struct {
	Type           string               `json:"type"`
	SequenceNumber int                  `json:"sequence_number"`
	Error          ResponsesErrorDetail `json:"error"`
}

// ResponsesErrorDetail describes a stream error.
type ResponsesErrorDetail struct {
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}
