package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/llmapi"
)

// countTokens answers /v1/messages/count_tokens for a model whose provider
// speaks the OpenAI format, which has no counting endpoint: credflow
// counts the request as it would send it (translated to Chat Completions,
// hints dropped) with its own tokenizer, the way OpenAI bills a chat
// prompt (tokens.CountChat), plus the tool definitions. It is an
// estimate: images and files are not counted. Nothing reaches the
// provider and nothing is billed.
func (s *Server) countTokens(w http.ResponseWriter, c *call, t route.Target, body []byte) (int, error) {
	c.usage.final = true // counting uses no model: no estimate, no cost
	chat, err := translate.AnthropicRequestToOpenAI(body, translate.Options{Model: t.Model})
	if err != nil {
		e := translateError(err)
		writeAPIError(w, c.client, e)
		return e.Status, e
	}
	var r llmapi.ChatRequest
	if err := json.Unmarshal(chat, &r); err != nil {
		e := &apiError{Status: http.StatusInternalServerError, Message: "credflow could not read back its own translation: " + err.Error()}
		writeAPIError(w, c.client, e)
		return e.Status, errors.New(e.Message)
	}
	n := countChatTokens(t.Model, &r)
	c.firstAt = s.opt.Now()
	out := []byte(`{"input_tokens":` + strconv.Itoa(n) + `}`)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return http.StatusOK, nil
}

// countChatTokens counts a chat completion request's prompt: each
// message's text and tool calls with OpenAI's per-message framing, and
// each tool definition as its JSON.
func countChatTokens(model string, r *llmapi.ChatRequest) int {
	msgs := make([]tokens.Message, 0, len(r.Messages))
	for i := range r.Messages {
		m := &r.Messages[i]
		var b strings.Builder
		if c := m.Content; c != nil {
			b.WriteString(c.Text)
			for _, p := range c.Parts {
				b.WriteString(p.Text)
			}
		}
		for _, tc := range m.ToolCalls {
			b.WriteString(tc.Function.Name)
			b.WriteString(tc.Function.Arguments)
		}
		msgs = append(msgs, tokens.Message{Role: m.Role, Content: b.String()})
	}
	n := tokens.CountChat(model, msgs)
	for _, t := range r.Tools {
		if def, err := json.Marshal(t.Function); err == nil {
			n += tokens.Count(model, string(def))
		}
	}
	return n
}
