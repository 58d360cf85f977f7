package llmapi

import (
	"bytes"
	"encoding/json"
	"errors"
)

// OpenAI Chat Completions API: POST /v1/chat/completions.

// ChatRequest is a chat completion request. Fields credflow cannot honour
// on other providers are still here so that a translator can see them and
// refuse them, rather than lose them unseen.
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`

	// MaxCompletionTokens replaces the deprecated MaxTokens; reasoning
	// models accept only MaxCompletionTokens.
	MaxCompletionTokens *int       `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int       `json:"max_tokens,omitempty"`
	Temperature         *float64   `json:"temperature,omitempty"`
	TopP                *float64   `json:"top_p,omitempty"`
	Stop                StringList `json:"stop,omitempty"`
	N                   *int       `json:"n,omitempty"`

	Stream        bool               `json:"stream,omitempty"`
	StreamOptions *ChatStreamOptions `json:"stream_options,omitempty"`

	Tools             []ChatTool      `json:"tools,omitempty"`
	ToolChoice        *ChatToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`

	ResponseFormat  *ChatResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort string              `json:"reasoning_effort,omitempty"`
	Verbosity       string              `json:"verbosity,omitempty"`

	// User is deprecated in favour of SafetyIdentifier and PromptCacheKey.
	User                 string            `json:"user,omitempty"`
	SafetyIdentifier     string            `json:"safety_identifier,omitempty"`
	PromptCacheKey       string            `json:"prompt_cache_key,omitempty"`
	PromptCacheRetention string            `json:"prompt_cache_retention,omitempty"`
	Metadata             map[string]string `json:"metadata,omitempty"`
	Store                *bool             `json:"store,omitempty"`
	ServiceTier          string            `json:"service_tier,omitempty"`

	Seed             *int64          `json:"seed,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	LogitBias        json.RawMessage `json:"logit_bias,omitempty"`
	Logprobs         *bool           `json:"logprobs,omitempty"`
	TopLogprobs      *int            `json:"top_logprobs,omitempty"`
	Modalities       []string        `json:"modalities,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	Prediction       json.RawMessage `json:"prediction,omitempty"`
	WebSearchOptions json.RawMessage `json:"web_search_options,omitempty"`

	// Functions and FunctionCall are the deprecated forms of Tools and
	// ToolChoice.
	Functions    json.RawMessage `json:"functions,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// ChatMessage is one message of a request. Role is "system", "developer",
// "user", "assistant" or "tool" ("function" is deprecated).
type ChatMessage struct {
	Role string `json:"role"`
	// Content is nil for an assistant message that only calls tools.
	Content *ChatContent `json:"content,omitempty"`
	// Name tells participants of the same role apart.
	Name string `json:"name,omitempty"`

	// Assistant messages.
	ToolCalls []ChatToolCall `json:"tool_calls,omitempty"`
	Refusal   *string        `json:"refusal,omitempty"`
	// Audio, FunctionCall and Annotations appear when a client sends a
	// response message back as history.
	Audio        json.RawMessage `json:"audio,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`

	// Tool messages.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// ChatContent is message content: a plain string, or an array of parts.
// It encodes as an array when Parts is non-nil, else as a string.
type ChatContent struct {
	Text  string
	Parts []ChatContentPart
}

// TextContent returns string content.
func TextContent(s string) *ChatContent { return &ChatContent{Text: s} }

// IsParts reports whether the content is an array of parts.
func (c ChatContent) IsParts() bool { return c.Parts != nil }

// MarshalJSON implements json.Marshaler.
func (c ChatContent) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return marshalJSON(c.Parts)
	}
	return marshalJSON(c.Text)
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ChatContent) UnmarshalJSON(b []byte) error {
	*c = ChatContent{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &c.Text)
	case '[':
		c.Parts = []ChatContentPart{}
		return json.Unmarshal(b, &c.Parts)
	}
	return errors.New("content must be a string or an array of content parts")
}

// ChatContentPart is one part of array content. Type is "text",
// "image_url", "input_audio", "file" or, in assistant messages, "refusal".
type ChatContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ChatImageURL   `json:"image_url,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       *ChatFile       `json:"file,omitempty"`
	Refusal    string          `json:"refusal,omitempty"`
	// CacheControl is not OpenAI's: it is the extension some clients
	// (LiteLLM, OpenRouter) send to have an Anthropic upstream cache the
	// prompt up to this part, in Anthropic's shape ({"type":"ephemeral"}).
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// MarshalJSON implements json.Marshaler: a text part keeps its "text"
// even when empty.
func (p ChatContentPart) MarshalJSON() ([]byte, error) {
	if p.Type == "text" {
		return marshalJSON(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{p.Type, p.Text, p.CacheControl})
	}
	type plain ChatContentPart
	return marshalJSON(plain(p))
}

// ChatImageURL is an image_url part: an http(s) URL or a base64 data: URL.
type ChatImageURL struct {
	URL string `json:"url"`
	// Detail is "auto", "low" or "high".
	Detail string `json:"detail,omitempty"`
}

// ChatFile is a file part: inline base64 data (a data: URL) or an id from
// OpenAI's Files API.
type ChatFile struct {
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
}

// ChatToolCall is a call an assistant message makes. In stream deltas
// Index says which call a fragment belongs to, and only the first fragment
// of a call carries ID, Type and Function.Name.
type ChatToolCall struct {
	Index    *int             `json:"index,omitempty"`
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ChatFunctionCall `json:"function"`
}

// ChatFunctionCall is the function a tool call invokes. Arguments is a
// JSON object serialized as a string (or, in a delta, a piece of one).
type ChatFunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChatTool is a tool the model may call. Type is "function" or "custom".
type ChatTool struct {
	Type     string          `json:"type"`
	Function *ChatFunction   `json:"function,omitempty"`
	Custom   json.RawMessage `json:"custom,omitempty"`
}

// ChatFunction defines a function tool; Parameters is a JSON Schema.
type ChatFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatToolChoice is tool_choice: a mode string ("none", "auto",
// "required") or an object naming a tool ({"type":"function",...}) or
// restricting the tools ({"type":"allowed_tools",...}).
type ChatToolChoice struct {
	// Mode is set when tool_choice is a string.
	Mode string
	// Type and the field it names are set when tool_choice is an object.
	Type         string
	Function     *ChatNamedFunction
	Custom       *ChatNamedFunction
	AllowedTools json.RawMessage
}

// ChatNamedFunction names a tool in tool_choice.
type ChatNamedFunction struct {
	Name string `json:"name"`
}

type chatToolChoiceObject struct {
	Type         string             `json:"type"`
	Function     *ChatNamedFunction `json:"function,omitempty"`
	Custom       *ChatNamedFunction `json:"custom,omitempty"`
	AllowedTools json.RawMessage    `json:"allowed_tools,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (c ChatToolChoice) MarshalJSON() ([]byte, error) {
	if c.Mode != "" {
		return marshalJSON(c.Mode)
	}
	return marshalJSON(chatToolChoiceObject{c.Type, c.Function, c.Custom, c.AllowedTools})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ChatToolChoice) UnmarshalJSON(b []byte) error {
	*c = ChatToolChoice{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &c.Mode)
	case '{':
		var o chatToolChoiceObject
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		c.Type, c.Function, c.Custom, c.AllowedTools = o.Type, o.Function, o.Custom, o.AllowedTools
		return nil
	}
	return errors.New("tool_choice must be a string or an object")
}

// ChatStreamOptions are the stream_options of a streaming request.
type ChatStreamOptions struct {
	// IncludeUsage asks for a last chunk with usage and empty choices.
	IncludeUsage       bool  `json:"include_usage,omitempty"`
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// ChatResponseFormat is response_format: Type "text", "json_object" or
// "json_schema".
type ChatResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema *ChatJSONSchema `json:"json_schema,omitempty"`
}

// ChatJSONSchema is the schema of a json_schema response format.
type ChatJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatResponse is a non-streaming chat completion ("object":
// "chat.completion").
type ChatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *ChatUsage   `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a response.
type ChatChoice struct {
	Index   int                 `json:"index"`
	Message ChatResponseMessage `json:"message"`
	// Logprobs is written as null when nil.
	Logprobs json.RawMessage `json:"logprobs"`
	// FinishReason is "stop", "length", "tool_calls", "content_filter" or
	// the deprecated "function_call".
	FinishReason string `json:"finish_reason"`
}

// ChatResponseMessage is the assistant message of a choice. Content is
// null (nil) when the model only called tools.
type ChatResponseMessage struct {
	Role        string          `json:"role"`
	Content     *string         `json:"content"`
	Refusal     *string         `json:"refusal"`
	ToolCalls   []ChatToolCall  `json:"tool_calls,omitempty"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Audio       json.RawMessage `json:"audio,omitempty"`
}

// ChatChunk is one streaming chunk ("object": "chat.completion.chunk").
// With stream_options.include_usage the stream ends with a chunk whose
// Choices is empty and whose Usage is set.
type ChatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint,omitempty"`
	Choices           []ChatChunkChoice `json:"choices"`
	Usage             *ChatUsage        `json:"usage,omitempty"`
}

// ChatChunkChoice is one choice of a chunk. FinishReason is null (nil)
// until the choice's last chunk.
type ChatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        ChatDelta       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// ChatDelta is the increment a chunk adds to its choice's message.
type ChatDelta struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	Refusal   *string        `json:"refusal,omitempty"`
	ToolCalls []ChatToolCall `json:"tool_calls,omitempty"`
}

// ChatUsage counts tokens. PromptTokens includes cached tokens, which
// PromptTokensDetails.CachedTokens breaks out; CompletionTokens includes
// reasoning tokens.
type ChatUsage struct {
	PromptTokens            int                          `json:"prompt_tokens"`
	CompletionTokens        int                          `json:"completion_tokens"`
	TotalTokens             int                          `json:"total_tokens"`
	PromptTokensDetails     *ChatPromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *ChatCompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// ChatPromptTokensDetails breaks down prompt tokens.
type ChatPromptTokensDetails struct {
	// CachedTokens were read from the prompt cache.
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens were written to the prompt cache.
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	AudioTokens      int `json:"audio_tokens,omitempty"`
}

// ChatCompletionTokensDetails breaks down completion tokens.
type ChatCompletionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens,omitempty"`
}

// ChatErrorResponse is OpenAI's error body, {"error": {...}}. Streams
// carry the same object as the data of an event.
type ChatErrorResponse struct {
	Error ChatError `json:"error"`
}

// ChatError describes an error. Param and Code are written as null when
// nil. Some OpenAI-compatible servers send a number as code: decode such
// bodies into a type of your own.
type ChatError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// StringList is a value that may be a string or an array of strings, like
// OpenAI's stop. It decodes either form and encodes as an array.
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case 'n':
		*l = nil
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	*l = a
	return nil
}

// marshalJSON is json.Marshal without HTML escaping, for the MarshalJSON
// methods: escaping is the outer encoder's choice, and it applies it to
// their output anyway, while escaping here could never be undone.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// firstByte returns the first non-space byte of a JSON value.
func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
