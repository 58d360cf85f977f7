package translate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// Conv is a model request in provider-neutral form: the hub of the
// Responses API's translations (Responses → Conv → Chat Completions or
// Messages) and of the context engine, which keeps conversations as the
// same items. The older Chat ⇄ Messages pair translates directly, without
// the hub, as before.
type Conv struct {
	// Model is the upstream model to write into the request.
	Model string
	// Instructions is the system text that leads the request (the
	// Responses API's instructions); system and developer messages may
	// also appear among Items.
	Instructions string
	Items        []contextdoc.Item

	Tools             []ConvTool
	ToolChoice        ConvToolChoice
	ParallelToolCalls *bool

	// MaxOutputTokens is the output cap, reasoning included; 0 for none.
	MaxOutputTokens int
	Temperature     *float64
	TopP            *float64
	Format          *ConvFormat
	// Verbosity is OpenAI's text verbosity ("" when not set).
	Verbosity string
	// Effort is the reasoning effort asked for ("" when not set; "none"
	// turns reasoning off where the model allows it).
	Effort string

	Stream bool
	// User identifies the end user to the provider.
	User string
}

// ConvTool is a function tool.
type ConvTool struct {
	Name        string
	Description string
	Parameters  json.RawMessage
	Strict      *bool
}

// ConvToolChoice is the tool choice: Mode "" (not set), "auto", "none",
// "required", or "tool" with Name.
type ConvToolChoice struct {
	Mode string
	Name string
}

// ConvFormat is a structured output format: Type "json_schema" (with a
// Schema) or "json_object".
type ConvFormat struct {
	Type        string
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      *bool
}

// Result is a model's answer in neutral form.
type Result struct {
	// ID and Model are the upstream's.
	ID    string
	Model string
	// Items are the output: assistant messages, function calls and
	// reasoning, in order.
	Items []contextdoc.Item
	// Stop is why the model stopped: "stop", "length", "tool_calls",
	// "content_filter" or "refusal".
	Stop  string
	Usage Usage
}

// Usage counts tokens the OpenAI way: Input includes cache reads and
// writes, Output includes reasoning.
type Usage struct {
	Input, Output, Cached, CacheWrite, Reasoning int
}

// newID returns prefix and 48 random hex digits, the shape of OpenAI's
// response and item ids. Tests replace it.
var newID = func(prefix string) string {
	var b [24]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// NewResponseID returns a fresh Responses API response id ("resp_…").
func NewResponseID() string { return newID("resp_") }

// thinkingPrefix and redactedPrefix mark an Anthropic thinking signature
// (or redacted thinking) carried in a Responses reasoning item's
// encrypted_content, so it goes back to Anthropic as the block it was and
// is recognised as useless to any other provider.
const (
	thinkingPrefix = "credflow.anthropic.thinking:"
	redactedPrefix = "credflow.anthropic.redacted:"
)

// encryptedContent is the encrypted_content a reasoning item is given.
func encryptedContent(it *contextdoc.Item) string {
	switch {
	case it.Origin == contextdoc.OriginAnthropic && it.Redacted:
		return redactedPrefix + it.Signature
	case it.Origin == contextdoc.OriginAnthropic:
		return thinkingPrefix + it.Signature
	}
	return it.Signature
}

// reasoningFromEncrypted fills a reasoning item's signature from an
// encrypted_content value.
func reasoningFromEncrypted(it *contextdoc.Item, enc string) {
	switch {
	case len(enc) > len(thinkingPrefix) && enc[:len(thinkingPrefix)] == thinkingPrefix:
		it.Origin, it.Signature = contextdoc.OriginAnthropic, enc[len(thinkingPrefix):]
	case len(enc) > len(redactedPrefix) && enc[:len(redactedPrefix)] == redactedPrefix:
		it.Origin, it.Signature, it.Redacted = contextdoc.OriginAnthropic, enc[len(redactedPrefix):], true
	case enc != "":
		it.Origin, it.Signature = contextdoc.OriginOpenAI, enc
	}
}
