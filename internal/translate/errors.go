package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/credflow/credflow/pkg/llmapi"
)

// Error is a translation failure or an error to send to a client.
type Error struct {
	// Status is the HTTP status to answer with.
	Status int
	// Type is the error type, in either API's vocabulary; empty means
	// derived from Status. The writers map it to their API's names.
	Type string
	// Param names the offending request field, if any.
	Param string
	// Message says what went wrong, for the client.
	Message string
	// Code is OpenAI's machine-readable code (invalid_api_key,
	// model_not_found, budget_exceeded...); empty derives it from Type and
	// Status. Anthropic's shape has none.
	Code string
}

func (e *Error) Error() string { return e.Message }

// untranslatable is the 400 for a request field the other API cannot
// express.
func untranslatable(param, to, why string) *Error {
	return &Error{
		Status:  http.StatusBadRequest,
		Type:    "invalid_request_error",
		Param:   param,
		Message: fmt.Sprintf("%q cannot be translated to the %s API: %s", param, to, why),
	}
}

func invalid(param, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: msg}
}

// badUpstream is the 502 for an upstream response that cannot be
// translated.
func badUpstream(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadGateway, Type: "api_error", Message: fmt.Sprintf(format, a...)}
}

// OpenAIBody renders e as an OpenAI error body,
// {"error":{"message","type","param","code"}}.
func (e *Error) OpenAIBody() []byte {
	t, code := openAIType(e.Type, e.Status)
	oe := llmapi.ChatError{Message: e.Message, Type: t, Code: code}
	if e.Code != "" {
		c := e.Code
		oe.Code = &c
	}
	if e.Param != "" {
		p := e.Param
		oe.Param = &p
	}
	return marshal(llmapi.ChatErrorResponse{Error: oe})
}

// AnthropicBody renders e as an Anthropic error body,
// {"type":"error","error":{"type","message"}}.
func (e *Error) AnthropicBody() []byte {
	typ := e.Type
	if !anthropicTypes[typ] {
		typ = anthropicType(typ, e.Code, e.Status)
	}
	return anthropicErrorBody(typ, e.Message)
}

// WriteOpenAIError writes e as an OpenAI error with e.Status (500 when 0).
func WriteOpenAIError(w http.ResponseWriter, e *Error) {
	writeJSON(w, statusOr500(e.Status), e.OpenAIBody())
}

// WriteAnthropicError writes e as an Anthropic error with e.Status (500
// when 0).
func WriteAnthropicError(w http.ResponseWriter, e *Error) {
	writeJSON(w, statusOr500(e.Status), e.AnthropicBody())
}

func statusOr500(s int) int {
	if s == 0 {
		return http.StatusInternalServerError
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func openAIErrorBody(status int, typ, param, msg string) []byte {
	return (&Error{Status: status, Type: typ, Param: param, Message: msg}).OpenAIBody()
}

func anthropicErrorBody(typ, msg string) []byte {
	return marshal(llmapi.MessagesErrorResponse{
		Type:  "error",
		Error: llmapi.MessagesError{Type: typ, Message: msg},
	})
}

// AnthropicErrorToOpenAI turns an Anthropic error body (or the data of an
// "error" stream event, status 0) into an OpenAI error body. The status
// itself is left to the caller: OpenAI clients retry 429 and any 5xx,
// Anthropic's 529 included.
func AnthropicErrorToOpenAI(status int, body []byte) []byte {
	var r llmapi.MessagesErrorResponse
	msg, typ := "", ""
	if json.Unmarshal(body, &r) == nil && (r.Error.Type != "" || r.Error.Message != "") {
		msg, typ = r.Error.Message, r.Error.Type
	} else {
		msg = rawMessage(status, body)
	}
	return openAIErrorBody(status, typ, "", msg)
}

// openAIError is an OpenAI error body as OpenAI-compatible servers send
// it: error may be a string, code a number.
type openAIError struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
}

type openAIErrorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// OpenAIErrorToAnthropic turns an OpenAI error body (or the data of an
// in-stream error, status 0) into an Anthropic error body. The Anthropic
// type follows the status when there is one, since OpenAI's types are
// few and loosely used ("tokens" for a rate limit); else OpenAI's type
// and code.
func OpenAIErrorToAnthropic(status int, body []byte) []byte {
	var r openAIError
	var o openAIErrorObject
	msg := ""
	if json.Unmarshal(body, &r) == nil {
		switch firstByte(r.Error) {
		case '{':
			json.Unmarshal(r.Error, &o)
			msg = o.Message
		case '"':
			json.Unmarshal(r.Error, &msg)
		}
		if msg == "" {
			msg = r.Message
		}
	}
	if msg == "" {
		msg = rawMessage(status, body)
	}
	code := ""
	if firstByte(o.Code) == '"' {
		json.Unmarshal(o.Code, &code)
	}
	return anthropicErrorBody(anthropicType(o.Type, code, status), msg)
}

// rawMessage is the message for an error body that is not the expected
// JSON (an HTML page from a proxy, plain text): the text itself, bounded.
func rawMessage(status int, body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	if s == "" {
		s = http.StatusText(status)
	}
	if s == "" {
		s = "upstream error"
	}
	return s
}

// openAIType names an error the OpenAI way: the type, and the code
// OpenAI itself uses for that case (nil when it has none). Anthropic
// types are mapped; OpenAI types pass as they are; no type goes by
// status, as internal/gateway does for its own errors.
func openAIType(typ string, status int) (string, *string) {
	code := func(s string) *string { return &s }
	switch typ {
	case "invalid_request_error", "not_found_error", "request_too_large":
		return "invalid_request_error", nil
	case "authentication_error":
		// OpenAI answers a bad key with this type and code.
		return "invalid_request_error", code("invalid_api_key")
	case "permission_error":
		return "permission_error", nil
	case "rate_limit_error":
		return "rate_limit_error", code("rate_limit_exceeded")
	case "billing_error":
		return "insufficient_quota", code("insufficient_quota")
	case "api_error", "overloaded_error", "timeout_error":
		return "server_error", nil
	case "":
	default:
		return typ, nil
	}
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", code("invalid_api_key")
	case status == http.StatusForbidden:
		return "permission_error", nil
	case status == http.StatusTooManyRequests:
		return "rate_limit_error", code("rate_limit_exceeded")
	case status >= 500 || status == 0:
		return "server_error", nil
	}
	return "invalid_request_error", nil
}

// anthropicTypes are the error types Anthropic documents.
var anthropicTypes = map[string]bool{
	"invalid_request_error": true, "authentication_error": true, "billing_error": true,
	"permission_error": true, "not_found_error": true, "request_too_large": true,
	"rate_limit_error": true, "api_error": true, "timeout_error": true, "overloaded_error": true,
}

// anthropicType names an OpenAI error the Anthropic way: from the status
// first (Anthropic's types follow it one to one), then from the type and
// code.
func anthropicType(typ, code string, status int) string {
	if typ == "insufficient_quota" || code == "insufficient_quota" {
		return "billing_error"
	}
	if code == "invalid_api_key" {
		return "authentication_error"
	}
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	if anthropicTypes[typ] {
		return typ
	}
	switch typ {
	case "rate_limit_error", "tokens", "requests", "rate_limit_exceeded":
		return "rate_limit_error"
	case "server_error":
		return "api_error"
	}
	switch {
	case status >= 500:
		return "api_error"
	case status >= 400:
		return "invalid_request_error"
	}
	return "api_error"
}

// marshal encodes v without HTML escaping: prompts are full of <tags>,
// and \u003c would only bloat them.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unsupported Go values fail, which the types here never hold.
		panic("translate: " + err.Error())
	}
	b := buf.Bytes()
	return b[:len(b)-1]
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func isNull(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}
