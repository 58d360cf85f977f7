package gateway

import (
	"net/http"
	"strconv"

	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/translate"
)

// apiError is an error credflow itself returns to a client, rendered in
// the client's own API error shape (one renderer for the gateway and the
// translator: translate.Error).
type apiError = translate.Error

// errorBody renders e for a client format.
func errorBody(f provider.Format, e *apiError) []byte {
	if f == provider.FormatAnthropic {
		return e.AnthropicBody()
	}
	return e.OpenAIBody()
}

func writeAPIError(w http.ResponseWriter, f provider.Format, e *apiError) {
	body := errorBody(f, e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
