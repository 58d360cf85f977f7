package templates

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Message is one chat message of a rendered template.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Messages are the chat messages the template sends: the system prompt
// (when it renders to something) and the user prompt.
func (r *Rendered) Messages() []Message {
	var ms []Message
	if strings.TrimSpace(r.System) != "" {
		ms = append(ms, Message{Role: "system", Content: r.System})
	}
	return append(ms, Message{Role: "user", Content: r.Prompt})
}

// ChatRequest is the OpenAI chat completions body the rendered template
// becomes: model (model overrides the template's when not empty),
// messages, the template's params, response_format from its schema, and
// stream. Keys come in that order and params sorted, so the same render
// is the same bytes.
func (r *Rendered) ChatRequest(model string, stream bool) []byte {
	if model == "" {
		model = r.Model
	}
	var b bytes.Buffer
	b.WriteString(`{"model":`)
	writeJSON(&b, model)
	b.WriteString(`,"messages":`)
	writeJSON(&b, r.Messages())
	for _, k := range sortedKeys(r.Params) {
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		writeJSON(&b, r.Params[k])
	}
	if len(r.Schema) > 0 {
		b.WriteString(`,"response_format":{"type":"json_schema","json_schema":{"name":`)
		writeJSON(&b, schemaName(r.Template))
		b.WriteString(`,"schema":`)
		var compact bytes.Buffer
		if json.Compact(&compact, r.Schema) == nil {
			b.Write(compact.Bytes())
		} else {
			b.Write(r.Schema)
		}
		b.WriteString(`}}`)
	}
	if stream {
		b.WriteString(`,"stream":true`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// Values come from YAML or JSON already decoded, so they encode.
	_ = enc.Encode(v)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// schemaName is the template name as OpenAI's json_schema.name allows it:
// letters, digits, '_' and '-', at most 64.
func schemaName(name string) string {
	out := []byte(name)
	for i, c := range out {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			out[i] = '_'
		}
	}
	if len(out) == 0 {
		return "output"
	}
	return string(out)
}
