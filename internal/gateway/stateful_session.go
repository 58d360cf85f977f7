package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// sessionBody writes a session's request for a target in the client's own
// format: the context block added to the system prompt, the stored
// history (fitted into the target's window, by the session's policy) put
// before the client's messages. The client's own messages go as it sent
// them unless they alone do not fit, when their older turns are fitted
// away too.
func (s *Server) sessionBody(r *http.Request, st *state, t route.Target, c *call, tn *turn, body []byte, outCap int64) ([]byte, *apiError) {
	if tn.aside {
		return body, nil
	}
	rawMsgs, _, err := jsonx.Get(body, "messages")
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "request body: " + err.Error()}
	}
	var history []contextdoc.Item
	if tn.prepend {
		history = tn.stored
	}
	block := contextBlock(tn.thread, tn.summary, s.opt.Now())
	fixed := estimate(len(body)-len(rawMsgs)+len(block)) + 8
	fit := s.fitHistory(st, t, history, tn.client, fixed, outCap, tn.policy, tn)
	if tn.policy == session.PolicySummarize && tn.prepend && len(fit.items) < len(history)+len(tn.client) {
		if sum := s.summarizeSession(r, st, c, tn, history, fixed, outCap, t); sum != nil {
			tn.summary, tn.summarized = sum, true
			block = contextBlock(tn.thread, tn.summary, s.opt.Now())
			// The summary now stands for what it covers: fit what follows.
			fixed = estimate(len(body)-len(rawMsgs)+len(block)) + 8
			fit = s.fitHistory(st, t, history[sum.Through:], tn.client, fixed, outCap, session.PolicyWindow, tn)
		}
	}
	clientKept := len(fit.items) >= len(tn.client) && sameTail(fit.items, tn.client)
	var sent []contextdoc.Item
	if clientKept {
		sent = fit.items[:len(fit.items)-len(tn.client)]
	} else {
		sent = fit.items // the client's own older turns were fitted away too
	}
	if c.client == provider.FormatAnthropic {
		return anthropicSessionBody(body, rawMsgs, sent, clientKept, block)
	}
	return chatSessionBody(body, rawMsgs, sent, clientKept, block)
}

// sameTail reports whether kept ends with all of client (nothing of the
// client's own messages was fitted away).
func sameTail(kept, client []contextdoc.Item) bool {
	off := len(kept) - len(client)
	for i := range client {
		if !sameItem(&kept[off+i], &client[i]) {
			return false
		}
	}
	return true
}

// chatSessionBody splices history into a chat request: after the
// client's leading system messages, a system message with the context
// block, then the history, then the client's messages.
func chatSessionBody(body, rawMsgs []byte, history []contextdoc.Item, clientKept bool, block string) ([]byte, *apiError) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(rawMsgs, &msgs); err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Param: "messages", Message: "messages must be an array"}
	}
	lead := 0
	for lead < len(msgs) {
		role, _ := jsonx.GetString(msgs[lead], "role")
		if role != "system" && role != "developer" {
			break
		}
		lead++
	}
	// The array is written by hand: a history is often hundreds of
	// messages, and they are spliced into every request.
	out := make([]byte, 0, len(rawMsgs)+len(block)+64*len(history)+estimate(len(history))*64)
	out = append(out, '[')
	add := func(raw []byte) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, raw...)
	}
	for _, m := range msgs[:lead] {
		add(m)
	}
	if block != "" {
		add(marshalRaw(llmapi.ChatMessage{Role: "system", Content: llmapi.TextContent(block)}))
	}
	if len(out) > 1 && len(history) > 0 {
		out = append(out, ',')
	}
	n := len(out)
	out, err := translate.AppendChatHistory(out, history)
	if err != nil {
		return nil, translateError(err)
	}
	if len(out) == n && n > 1 && out[n-1] == ',' {
		out = out[:n-1] // the history wrote nothing (only reasoning)
	}
	if clientKept {
		for _, m := range msgs[lead:] {
			add(m)
		}
	}
	out = append(out, ']')
	b, err := jsonx.Set(body, "messages", out)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()}
	}
	return b, nil
}

// anthropicSessionBody splices history into a Messages request: the
// context block appended to system, the history before the client's
// messages (Anthropic merges consecutive turns of one role).
func anthropicSessionBody(body, rawMsgs []byte, history []contextdoc.Item, clientKept bool, block string) ([]byte, *apiError) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(rawMsgs, &msgs); err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Param: "messages", Message: "messages must be an array"}
	}
	out := make([]byte, 0, len(rawMsgs)+estimate(len(history))*64)
	out = append(out, '[')
	out, sys, err := translate.AppendMessagesHistory(out, history)
	if err != nil {
		return nil, translateError(err)
	}
	if clientKept {
		for _, m := range msgs {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, m...)
		}
	}
	out = append(out, ']')
	b, err := jsonx.Set(body, "messages", out)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()}
	}
	if block != "" || len(sys) > 0 {
		extra := strings.Join(append(sys, block), "\n\n")
		raw, _, _ := jsonx.Get(b, "system")
		var system json.RawMessage
		switch {
		case len(raw) == 0 || string(raw) == "null":
			system = marshalRaw(strings.TrimSpace(extra))
		case raw[0] == '"':
			var str string
			json.Unmarshal(raw, &str)
			system = marshalRaw(str + "\n\n" + strings.TrimSpace(extra))
		default:
			var blocks []json.RawMessage
			json.Unmarshal(raw, &blocks)
			blocks = append(blocks, marshalRaw(llmapi.ContentBlock{Type: "text", Text: strings.TrimSpace(extra)}))
			system = marshalRaw(blocks)
		}
		if b, err = jsonx.Set(b, "system", system); err != nil {
			return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()}
		}
	}
	return b, nil
}

func marshalRaw(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// summarizeCall marks the summarizer's own request, made through the
// chat path so it is routed, limited and accounted to the key like any.
type summarizeCall struct{}

// summarizeSession folds the history's turns that no longer fit (and are
// not yet in the stored summary) into a new summary with the configured
// summarizer model. On failure it logs and returns nil: the request is
// fitted by window instead, and nothing stored is lost.
func (s *Server) summarizeSession(r *http.Request, st *state, c *call, tn *turn, history []contextdoc.Item, fixed int, outCap int64, t route.Target) *contextdoc.Summary {
	model := st.cfg.Context.Summarizer
	if model == "" {
		s.log.Warn("session policy is summarize but context.summarizer names no model; fitting by window", "session", tn.name, "key", tn.owner)
		return nil
	}
	through := 0
	prev := ""
	if tn.summary != nil {
		through, prev = tn.summary.Through, tn.summary.Text
	}
	window := 0
	if p, ok := st.price(t.Provider, t.Model); ok {
		window = p.Context
	}
	out := int(outCap)
	if out <= 0 {
		out = st.cfg.Server.DefaultMaxTokens
	}
	all := append(append([]contextdoc.Item{}, history...), tn.client...)
	plan := session.SummaryPlan(session.FitInput{Items: all, Fixed: fixed, Current: len(tn.client), Window: window, Output: out,
		Policy: session.PolicySummarize, Query: lastUserText(tn.client)}, through)
	if len(plan) == 0 {
		return tn.summary
	}
	end := plan[len(plan)-1] + 1
	if end > len(history) {
		return tn.summary // only the client's own turns would go: nothing stored to summarize
	}
	items := make([]contextdoc.Item, 0, len(plan))
	for _, i := range plan {
		items = append(items, all[i])
	}
	text, err := s.runSummarizer(r, model, session.SummaryPrompt(prev, items))
	if err != nil {
		s.log.Warn("the summarizer failed; fitting by window, no stored turn is lost", "session", tn.name, "key", tn.owner, "model", model, "err", err)
		return nil
	}
	return &contextdoc.Summary{Text: text, Through: end, Model: model, Tokens: estimate(len(text)), Updated: s.opt.Now().UTC()}
}

// runSummarizer sends a summarizer request through the gateway's own chat
// path, with the client's key: routing, budgets and accounting apply,
// and its cost is the key's (the event's endpoint is context/summarize).
func (s *Server) runSummarizer(r *http.Request, model, prompt string) (string, error) {
	req := llmapi.ChatRequest{Model: model, Messages: []llmapi.ChatMessage{{Role: "user", Content: llmapi.TextContent(prompt)}}}
	n := 1024
	req.MaxTokens = &n
	body := marshalRaw(req)
	r2 := r.Clone(context.WithValue(r.Context(), summarizeCall{}, true))
	r2.Header = r.Header.Clone()
	r2.Header.Del(sessionHeader)
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.URL.Path = "/v1/chat/completions"
	rec := &recorder{header: http.Header{}}
	s.endpoint(provider.ChatCompletions).ServeHTTP(rec, r2)
	if rec.status != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", rec.status, bytes.TrimSpace(rec.body.Bytes()))
	}
	res, err := translate.ChatResponseToResult(rec.body.Bytes())
	if err != nil {
		return "", err
	}
	var text strings.Builder
	for _, it := range res.Items {
		if it.Type == contextdoc.TypeMessage {
			text.WriteString(it.Text())
		}
	}
	if strings.TrimSpace(text.String()) == "" {
		return "", fmt.Errorf("the summarizer answered nothing")
	}
	return strings.TrimSpace(text.String()), nil
}

// recorder is an in-memory ResponseWriter for the gateway's own calls.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
