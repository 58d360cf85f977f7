package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/credflow/credflow/internal/provider"
)

// apiError is an error credflow itself returns to a client, rendered in
// the client's own API error shape.
type apiError struct {
	Status int
	// Code is OpenAI's machine-readable code (invalid_api_key,
	// model_not_found, ...); Anthropic's shape has none.
	Code    string
	Param   string
	Message string
}

func (e *apiError) Error() string { return e.Message }

// openAIType and anthropicType name an HTTP status the way each API does.
func openAIType(status int) string {
	switch {
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

func anthropicType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// errorBody renders e for a client format.
func errorBody(f provider.Format, e *apiError) []byte {
	var v any
	if f == provider.FormatAnthropic {
		v = map[string]any{"type": "error", "error": map[string]string{"type": anthropicType(e.Status), "message": e.Message}}
	} else {
		var param, code any
		if e.Param != "" {
			param = e.Param
		}
		if e.Code != "" {
			code = e.Code
		}
		v = map[string]any{"error": map[string]any{"message": e.Message, "type": openAIType(e.Status), "param": param, "code": code}}
	}
	data, _ := json.Marshal(v)
	return data
}

func writeAPIError(w http.ResponseWriter, f provider.Format, e *apiError) {
	body := errorBody(f, e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
