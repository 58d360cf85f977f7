package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/credflow/credflow/internal/jsonx"
)

// maxOutputCap is the largest output cap a request may state. Providers'
// schemas take 32-bit integers, and a reservation made from it cannot
// overflow (see reserve).
const maxOutputCap = 1<<31 - 1

// reqFields is what the request path reads of a request body before it
// routes and limits it.
type reqFields struct {
	model  string
	stream bool
	// outCap is the largest output cap the body states (max_tokens,
	// max_completion_tokens or max_output_tokens), 0 when it states none.
	outCap int64
}

// checkedFields are the top-level fields the request path decides on. A
// body that spells one of them in another case is refused: Go decoders
// (and OpenAI-compatible servers written in Go) match field names without
// regard to case, so "MAX_TOKENS" could set a cap credflow never saw.
var checkedFields = [...]string{"model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens"}

// requestFields reads what the request path needs of a request in one pass
// over its top-level members, and refuses a body the gateway could read
// differently from the upstream: a repeated field (parsers disagree on
// which copy wins, so a key could be checked against one model and run
// another), a checked field spelt in another case, an output cap that is
// not a whole number from 1 to maxOutputCap. f.model is set when the error
// is not about the model.
func requestFields(body []byte) (f reqFields, aerr *apiError) {
	var rawModel, rawStream []byte
	var caps [3][]byte
	// Top-level names seen so far, for the duplicate check: requests have
	// a handful, so a linear scan beats a map.
	var seenBuf [24][]byte
	seen := seenBuf[:0]
	err := jsonx.Members(body, func(key, v []byte) bool {
		for _, k := range seen {
			if bytes.EqualFold(k, key) {
				aerr = duplicateField(k, key)
				return false
			}
		}
		seen = append(seen, key)
		switch string(key) {
		case "model":
			rawModel = v
			return true
		case "stream":
			rawStream = v
			return true
		case "max_tokens":
			caps[0] = v
			return true
		case "max_completion_tokens":
			caps[1] = v
			return true
		case "max_output_tokens":
			caps[2] = v
			return true
		}
		if len(key) > 0 && foldStart[key[0]] {
			for _, name := range checkedFields {
				if bytes.EqualFold(key, []byte(name)) {
					aerr = &apiError{Status: http.StatusBadRequest, Code: "invalid_field", Param: string(key),
						Message: fmt.Sprintf("request body: field %q is not %q: field names are case-sensitive; send %q", key, name, name)}
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return reqFields{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "request body: " + err.Error()}
	}
	if aerr != nil {
		return reqFields{}, aerr
	}
	f.model, err = jsonString(rawModel, "model")
	if err == nil && !utf8.ValidString(f.model) {
		err = fmt.Errorf("%q is not valid UTF-8", "model")
	}
	if err != nil {
		return reqFields{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Param: "model", Message: "request body: " + err.Error()}
	}
	if f.model == "" {
		return reqFields{}, &apiError{Status: http.StatusBadRequest, Param: "model", Code: "missing_model", Message: "request body has no \"model\"; name the model to call"}
	}
	switch string(rawStream) {
	case "true":
		f.stream = true
	case "", "false", "null":
	default:
		return reqFields{model: f.model}, &apiError{Status: http.StatusBadRequest, Param: "stream", Message: "request body: \"stream\" must be true or false"}
	}
	for i, raw := range caps {
		if raw == nil || string(raw) == "null" {
			continue
		}
		n, ok := outputCap(raw)
		if !ok {
			name := checkedFields[2+i]
			shown := string(raw)
			if len(shown) > 40 {
				shown = shown[:40] + "…"
			}
			return reqFields{model: f.model}, &apiError{Status: http.StatusBadRequest, Code: "invalid_value", Param: name,
				Message: fmt.Sprintf("request body: %q must be a whole number from 1 to %d (got %s)", name, maxOutputCap, shown)}
		}
		f.outCap = max(f.outCap, n)
	}
	return f, nil
}

// foldStart marks the first bytes a name folding to a checked field can
// start with: m, s, either case, and the first byte of 'ſ' (U+017F), which
// Unicode folds to 's'.
var foldStart = [256]bool{'m': true, 'M': true, 's': true, 'S': true, 0xC5: true}

// outputCap reads a cap written as a plain JSON integer from 1 to
// maxOutputCap: no sign, fraction or exponent.
func outputCap(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > 10 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 1 || n > maxOutputCap || (raw[0] == '0') {
		return 0, false
	}
	return n, true
}

func duplicateField(first, again []byte) *apiError {
	msg := fmt.Sprintf("request body: field %q appears more than once; send each field once", first)
	if !bytes.Equal(first, again) {
		msg = fmt.Sprintf("request body: fields %q and %q differ only in case, and providers disagree on which one counts; send one of them", first, again)
	}
	return &apiError{Status: http.StatusBadRequest, Code: "duplicate_field", Param: string(first), Message: msg}
}
