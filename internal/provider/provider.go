// Package provider owns the upstream side of the gateway: one adapter per
// provider API type (openai, openai-compatible, azure-openai, anthropic,
// and the built-in mock), each turning a request already in its wire
// format into an HTTP call with the real credential injected.
//
// Adapters never parse or re-encode bodies: translation between formats
// happens before (internal/translate), so a same-format request is a
// byte-for-byte pass-through apart from the model name.
package provider

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/credflow/credflow/internal/config"
)

// Format is a wire format.
type Format int

// Wire formats. FormatAny is the mock's: it answers in the client's format.
const (
	FormatOpenAI Format = iota
	FormatAnthropic
	FormatAny
)

func (f Format) String() string {
	switch f {
	case FormatOpenAI:
		return "openai"
	case FormatAnthropic:
		return "anthropic"
	}
	return "any"
}

// Endpoint is an API operation.
type Endpoint string

// Endpoints credflow forwards.
const (
	ChatCompletions Endpoint = "chat/completions"
	Completions     Endpoint = "completions"
	Embeddings      Endpoint = "embeddings"
	Responses       Endpoint = "responses"
	Messages        Endpoint = "messages"
	CountTokens     Endpoint = "messages/count_tokens"
	// Moderations is called by the gateway itself (guardrails), never
	// forwarded for a client.
	Moderations Endpoint = "moderations"
)

// Format is the wire format an endpoint belongs to.
func (e Endpoint) Format() Format {
	if e == Messages || e == CountTokens {
		return FormatAnthropic
	}
	return FormatOpenAI
}

// Request is one upstream call, body already in the provider's format.
type Request struct {
	// Method is POST when empty; DELETE removes a stored object (the
	// Endpoint is then its path, e.g. "responses/resp_…").
	Method   string
	Endpoint Endpoint
	// Model is the upstream model (azure-openai puts it in the URL).
	Model  string
	Body   []byte
	Stream bool
	// Header holds the client's headers; only ForwardedHeaders of the
	// provider's own API are sent on (never the client's credentials).
	Header http.Header
}

// Provider is one configured upstream.
type Provider interface {
	Name() string
	Type() string
	Format() Format
	// Supports reports whether the provider serves an endpoint.
	Supports(Endpoint) bool
	// Send performs the call. The caller closes the response body. ctx
	// cancellation (a client that went away) aborts the upstream call.
	Send(ctx context.Context, r *Request) (*http.Response, error)
	// HasCredential reports whether the provider has the key it needs.
	HasCredential() bool
}

// ForwardedHeaders are the client headers passed upstream, each only to
// an upstream of the API it belongs to (see ForwardsHeader).
var ForwardedHeaders = []string{"Anthropic-Version", "Anthropic-Beta", "Openai-Beta"}

// ForwardsHeader reports whether a client header in ForwardedHeaders goes
// to an upstream of format f: Anthropic's headers only to Anthropic, and
// OpenAI's only to OpenAI-format upstreams. A translated request must not
// carry them: Claude Code's betas mean nothing to an OpenAI-compatible
// server, and some refuse unknown headers.
func ForwardsHeader(h string, f Format) bool {
	switch h {
	case "Anthropic-Version", "Anthropic-Beta":
		return f == FormatAnthropic
	case "Openai-Beta":
		return f == FormatOpenAI
	}
	return false
}

// DefaultTimeout bounds the wait for an upstream's response headers.
const DefaultTimeout = 5 * time.Minute

// New builds a provider from config. key is the credential read from the
// vault ("" when the provider names no secret or the secret is missing).
func New(name string, c config.Provider, key string, tr http.RoundTripper) (Provider, error) {
	timeout := c.Timeout.Std()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	h := &httpProvider{name: name, typ: c.Type, key: key, needsKey: c.Secret != "", headers: c.Headers,
		client: &http.Client{Transport: tr}, timeout: timeout, apiVersion: c.APIVersion, responses: c.Responses}
	switch c.Type {
	case "openai":
		h.format, h.base = FormatOpenAI, orDefault(c.BaseURL, "https://api.openai.com/v1")
	case "openai-compatible":
		h.format, h.base = FormatOpenAI, c.BaseURL
	case "azure-openai":
		h.format, h.base = FormatOpenAI, c.BaseURL
	case "anthropic":
		h.format, h.base = FormatAnthropic, orDefault(c.BaseURL, "https://api.anthropic.com")
		if h.apiVersion == "" {
			h.apiVersion = "2023-06-01"
		}
	case "mock":
		return NewMock(name, c.Mock), nil
	default:
		return nil, fmt.Errorf("provider %q: unknown type %q", name, c.Type)
	}
	if t, ok := tr.(*Transport); ok {
		h.lean = newLeanTarget(h, t)
	}
	return h, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
