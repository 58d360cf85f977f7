// Package contextdoc is the public form of a conversation as credflow keeps
// it: the credflow.context/v1 document. Its items are provider-neutral, so
// one conversation can be continued on any model: the gateway converts them
// to and from the OpenAI Chat Completions, OpenAI Responses and Anthropic
// Messages wire formats.
//
// The item vocabulary follows the OpenAI Responses API's (message,
// function_call, function_call_output, reasoning), the most general of the
// three; what only one provider can read back (a thinking signature, an
// encrypted reasoning blob) is kept opaque and marked with its origin.
//
// The format is versioned by Version; fields are only ever added.
package contextdoc

import "time"

// Item types.
const (
	TypeMessage            = "message"
	TypeFunctionCall       = "function_call"
	TypeFunctionCallOutput = "function_call_output"
	TypeReasoning          = "reasoning"
)

// Roles of a message item.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Part types.
const (
	PartText  = "text"
	PartImage = "image"
	PartFile  = "file"
	// PartRefusal is an assistant's refusal to answer, as text.
	PartRefusal = "refusal"
)

// Origins of opaque reasoning data.
const (
	OriginAnthropic = "anthropic"
	OriginOpenAI    = "openai"
)

// Item is one entry of a conversation.
type Item struct {
	// ID is the item's id where it has one (msg_…, fc_…, rs_…).
	ID   string `json:"id,omitempty"`
	Type string `json:"type"`

	// Role is set on messages: system, developer, user or assistant.
	Role string `json:"role,omitempty"`
	// Content holds a message's parts, a function call output's parts,
	// or the visible text of reasoning (a summary or the thinking).
	Content []Part `json:"content,omitempty"`

	// CallID pairs a function_call with its function_call_output.
	CallID string `json:"call_id,omitempty"`
	// Name and Arguments (a JSON object as text) describe a function call.
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	// IsError marks a function call output that reports a failure.
	IsError bool `json:"is_error,omitempty"`

	// Signature is reasoning data only its Origin can read back: an
	// Anthropic thinking signature (or, with Redacted, the redacted
	// thinking's data), an OpenAI encrypted_content.
	Signature string `json:"signature,omitempty"`
	Origin    string `json:"origin,omitempty"`
	Redacted  bool   `json:"redacted,omitempty"`

	// What credflow records of a stored item: when it was added, the
	// model that wrote it (assistant items), an estimate of its size in
	// tokens (for fitting a context window), and, on the first item of a
	// reply, the turn's usage and cost.
	Time   *time.Time `json:"time,omitempty"`
	Model  string     `json:"model,omitempty"`
	Tokens int        `json:"tokens,omitempty"`
	Usage  *Usage     `json:"usage,omitempty"`
}

// Usage is what one turn cost: the whole request's input and output
// tokens, and its price in micro-dollars (absent when unknown).
type Usage struct {
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostMicros   *int64 `json:"cost_micros,omitempty"`
}

// Part is one piece of content.
type Part struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	// URL is an image or file the provider fetches (http or https).
	URL string `json:"url,omitempty"`
	// MediaType and Data (base64) are inline image or file content.
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	Filename  string `json:"filename,omitempty"`
	// Detail is an image's detail level hint (low, high, auto).
	Detail string `json:"detail,omitempty"`
}

// Text returns the concatenated text of the item's text and refusal parts.
func (it *Item) Text() string {
	if len(it.Content) == 1 {
		return it.Content[0].Text
	}
	n := 0
	for _, p := range it.Content {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range it.Content {
		if p.Type == PartText || p.Type == PartRefusal {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// TextPart returns a text part.
func TextPart(s string) Part { return Part{Type: PartText, Text: s} }
