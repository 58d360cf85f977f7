package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// sessionHeader names the session a Chat Completions or Messages request
// continues.
const sessionHeader = "X-Credflow-Session"

// turn is the context engine's part in one request: the history it sends
// with it, and what it stores once the answer is in. Requests without one
// (no session header; a Responses request that neither stores nor
// continues) take the stateless path untouched.
type turn struct {
	store *session.Store
	kind  session.Kind
	owner string

	// Sessions: the stored thread (nil for a new one) and items, the
	// request's own items, which of them are new, and whether the stored
	// history is sent before them (a client that sends only its new
	// turn) or the client's own history replaces it (one that keeps its
	// own, which diverged from the stored one).
	name    string
	thread  *session.Thread
	stored  []contextdoc.Item
	client  []contextdoc.Item
	fresh   []contextdoc.Item
	prepend bool
	replace bool
	// system fingerprints the request's system prompt; aside marks a
	// request of another conversation (see beginSession), forwarded as
	// it is and not stored.
	system  string
	aside   bool
	policy  session.Policy
	summary *contextdoc.Summary

	// Responses: the request's store, previous_response_id, conversation
	// and truncation; the history they name; the request's own input.
	record       bool
	previous     string
	conversation string
	truncate     bool
	history      []contextdoc.Item
	prevThread   *session.Thread
	// upstreamID: previous_response_id or conversation is not credflow's
	// (nor another key's): an OpenAI-type upstream may hold it.
	upstreamID bool
	input      []contextdoc.Item
	respID     string

	// Per target: what was sent, and whether the upstream keeps the
	// state itself (the request passed through as it was).
	window, sent int
	passthrough  bool
	provider     string
	summarized   bool

	// The answer.
	acc       *translate.ResponsesStream
	committed bool
}

// beginTurn reads what the context engine needs of a request: a session
// header, or a Responses request's state fields. It returns nil for a
// stateless request.
func (s *Server) beginTurn(c *call, key *keys.Key, r *http.Request, body []byte) (*turn, *apiError) {
	name, hasSession := r.Header[sessionHeader]
	switch {
	case hasSession && c.endpoint != provider.ChatCompletions && c.endpoint != provider.Messages:
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_header", Param: sessionHeader,
			Message: fmt.Sprintf("the %s header works with /v1/chat/completions and /v1/messages; %s keeps state with previous_response_id or conversation instead", sessionHeader, "/v1/"+string(c.endpoint))}
	case hasSession:
		return s.beginSession(c, key, strings.TrimSpace(name[0]), body)
	case c.endpoint == provider.Responses:
		return s.beginResponse(c, key, body)
	}
	return nil, nil
}

func (s *Server) beginSession(c *call, key *keys.Key, name string, body []byte) (*turn, *apiError) {
	if session.CheckName(name) != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_header", Param: sessionHeader,
			Message: fmt.Sprintf("the %s header names a session: 1 to 200 printable characters", sessionHeader)}
	}
	st, err := s.contextStore(c.ctx)
	if err != nil {
		return nil, contextError(err)
	}
	tn := &turn{store: st, kind: session.KindSession, owner: key.Name, name: name, record: true}
	th, items, err := st.Get(session.KindSession, key.Name, name)
	switch {
	case errors.Is(err, session.ErrNotFound):
	case err != nil:
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "session_damaged", Param: sessionHeader,
			Message: fmt.Sprintf("session %q cannot be read: %v; export what is readable with 'credflow sessions export' or remove it with 'credflow sessions rm'", name, err)}
	default:
		tn.thread, tn.stored = th, items
	}
	// The client's own messages, as items.
	var sys []string
	if c.client == provider.FormatAnthropic {
		var req struct {
			System   *llmapi.MessageContent `json:"system"`
			Messages []llmapi.MessageParam  `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "request body: " + err.Error()}
		}
		sys, tn.client, err = translate.MessagesToItems(req.System, req.Messages)
	} else {
		var req struct {
			Messages []llmapi.ChatMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "request body: " + err.Error()}
		}
		sys, tn.client, err = translate.ChatMessagesToItems(req.Messages)
	}
	if err != nil {
		return nil, translateError(err)
	}
	// The request's system prompt is sent as it is, never stored; its
	// fingerprint tells the session's own turns from a side call.
	tn.system = systemPrint(sys)
	tn.policy = session.Policy(s.state.Load().cfg.Context.Policy)
	if th := tn.thread; th != nil {
		if th.Policy != "" {
			tn.policy = session.Policy(th.Policy)
		}
		tn.summary = th.Summary
	}
	// A client that sends only its new turn gets the stored history put
	// before it; one that sends a whole conversation of its own (Claude
	// Code, most chat apps) is taken at its word.
	lcp := 0
	for lcp < len(tn.stored) && lcp < len(tn.client) && sameItem(&tn.stored[lcp], &tn.client[lcp]) {
		lcp++
	}
	switch {
	case len(tn.stored) == 0:
		tn.fresh = tn.client
	case lcp == len(tn.stored):
		tn.fresh = tn.client[lcp:]
	case !hasHistory(tn.client) && tn.thread.System != "" && tn.system != tn.thread.System:
		// A new turn under another system prompt belongs to another
		// conversation: a side call of a client that keeps its own
		// history (Claude Code's title and summary requests share its
		// headers). It goes as it is. It replaces a session of one turn
		// (such a side call may come first) and is not stored otherwise.
		if tn.thread.Turns <= 1 {
			tn.replace, tn.fresh, tn.summary = true, tn.client, nil
		} else {
			tn.aside, tn.record = true, false
		}
	case hasHistory(tn.client):
		tn.replace, tn.fresh, tn.summary = true, tn.client, nil
	default:
		// Only new turns, even one that repeats the session's first.
		tn.prepend, tn.fresh = true, tn.client
	}
	return tn, nil
}

// systemPrint fingerprints a request's system prompt ("" for none).
func systemPrint(sys []string) string {
	if len(sys) == 0 {
		return ""
	}
	h := sha256.New()
	for _, s := range sys {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// hasHistory reports whether a client's messages are a conversation of
// their own (they hold an answer), not just a new turn.
func hasHistory(items []contextdoc.Item) bool {
	for i := range items {
		if it := &items[i]; it.Type == contextdoc.TypeFunctionCall || it.Type == contextdoc.TypeMessage && it.Role == contextdoc.RoleAssistant {
			return true
		}
	}
	return false
}

// sameItem compares what a client would send back of a stored item.
func sameItem(a, b *contextdoc.Item) bool {
	if a.Type != b.Type || a.Role != b.Role || a.CallID != b.CallID || a.Name != b.Name {
		return false
	}
	if a.Type == contextdoc.TypeFunctionCall && !bytes.Equal(compact(a.Arguments), compact(b.Arguments)) {
		return false
	}
	if a.Type == contextdoc.TypeReasoning {
		return a.Signature == b.Signature
	}
	return strings.TrimSpace(a.Text()) == strings.TrimSpace(b.Text())
}

func compact(s string) []byte {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return []byte(s)
	}
	return b.Bytes()
}

// beginResponse reads a Responses request's state: what it continues
// (previous_response_id or conversation, resolved here), whether it is
// stored, and its own input.
func (s *Server) beginResponse(c *call, key *keys.Key, body []byte) (*turn, *apiError) {
	tn := &turn{kind: session.KindResponse, owner: key.Name, record: true}
	var bad *apiError
	jsonx.Members(body, func(k, v []byte) bool {
		switch string(k) {
		case "previous_response_id":
			if str, err := jsonString(v, "previous_response_id"); err == nil {
				tn.previous = str
			} else {
				bad = &apiError{Status: http.StatusBadRequest, Param: "previous_response_id", Message: "previous_response_id must be a string"}
			}
		case "conversation":
			if len(v) > 0 && v[0] == '{' {
				v, _, _ = jsonx.Get(v, "id")
			}
			if str, err := jsonString(v, "conversation"); err == nil {
				tn.conversation = str
			} else {
				bad = &apiError{Status: http.StatusBadRequest, Param: "conversation", Message: "conversation must be a conversation id or {\"id\": …}"}
			}
		case "store":
			tn.record = string(v) != "false"
		case "truncation":
			tn.truncate = string(v) == `"auto"`
		}
		return true
	})
	if bad != nil {
		return nil, bad
	}
	if tn.previous != "" && tn.conversation != "" {
		return nil, &apiError{Status: http.StatusBadRequest, Param: "conversation",
			Message: "previous_response_id and conversation cannot both be set: a response continues one or the other"}
	}
	stateful := tn.previous != "" || tn.conversation != ""
	if !stateful && !tn.record {
		return nil, nil
	}
	st, err := s.contextStore(c.ctx)
	if err != nil {
		if stateful {
			return nil, contextError(err)
		}
		// Storing is the Responses API's default, not something this
		// client asked for: it is answered, unstored.
		s.log.Warn("a Responses request is answered without being stored", "id", c.ev.ID, "err", err)
		return nil, nil
	}
	tn.store = st
	tn.input, _, err = translate.ResponsesInputItems(body)
	if err != nil {
		return nil, translateError(err)
	}
	if tn.previous != "" {
		if aerr := s.resolvePrevious(tn); aerr != nil {
			return nil, aerr
		}
	}
	if tn.conversation != "" {
		_, items, err := st.Get(session.KindConversation, key.Name, tn.conversation)
		switch {
		case errors.Is(err, session.ErrNotFound):
			owner, _ := st.OwnerOf(session.KindConversation, tn.conversation)
			if owner != "" {
				return nil, notFound("conversation", tn.conversation)
			}
			tn.upstreamID = true
		case err != nil:
			return nil, &apiError{Status: http.StatusInternalServerError, Param: "conversation", Message: fmt.Sprintf("conversation %s cannot be read: %v", tn.conversation, err)}
		default:
			tn.history = items
		}
	}
	return tn, nil
}

// resolvePrevious gathers the history a previous_response_id names: the
// chain of stored responses, oldest first, each one's input and output.
// instructions are not carried over (OpenAI's rule).
func (s *Server) resolvePrevious(tn *turn) *apiError {
	var chain [][]contextdoc.Item
	id := tn.previous
	for n := 0; id != ""; n++ {
		th, items, err := tn.store.Get(session.KindResponse, tn.owner, id)
		if errors.Is(err, session.ErrNotFound) {
			if n > 0 {
				break // an earlier response was deleted: the history starts after it
			}
			owner, _ := tn.store.OwnerOf(session.KindResponse, id)
			if owner != "" {
				return notFound("previous response", id)
			}
			// Not credflow's: an OpenAI-type upstream may hold it.
			tn.upstreamID = true
			return nil
		}
		if err != nil {
			return &apiError{Status: http.StatusInternalServerError, Param: "previous_response_id", Message: fmt.Sprintf("response %s cannot be read: %v", id, err)}
		}
		if n == 0 {
			tn.prevThread = th
			if th.Conversation != "" {
				// A response added to a conversation continues it.
				if _, citems, err := tn.store.Get(session.KindConversation, tn.owner, th.Conversation); err == nil {
					tn.history = citems
					return nil
				}
			}
		}
		chain = append(chain, items)
		id = th.Previous
		if n > 100000 {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		tn.history = append(tn.history, chain[i]...)
	}
	return nil
}

// notFound is OpenAI's 404 for an id this key cannot see (never saying
// whether another key holds it).
func notFound(what, id string) *apiError {
	code := "not_found"
	param := ""
	switch what {
	case "previous response":
		code, param = "previous_response_not_found", "previous_response_id"
	case "conversation":
		param = "conversation"
	}
	return &apiError{Status: http.StatusNotFound, Code: code, Param: param, Type: "invalid_request_error",
		Message: fmt.Sprintf("%s with id '%s' not found.", capitalize(what), id)}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// upstreamHolds reports whether the target keeps this conversation
// itself, so the request passes through as it is: an id credflow never
// issued, or a response that passed through to this same provider and
// was stored there.
func (tn *turn) upstreamHolds(t route.Target) bool {
	if tn.upstreamID {
		return true
	}
	th := tn.prevThread
	return tn.conversation == "" && th != nil && th.Upstream && th.Provider == t.Provider
}

// fitting holds what fitting a history for a target decided.
type fitting struct {
	items []contextdoc.Item
	fits  bool
}

// cut reports whether anything of n items was left out, or even the
// current turn does not fit: what truncation "disabled" refuses.
func (f fitting) cut(n int) bool { return !f.fits || len(f.items) < n }

// fitHistory fits history+current into the target's context window
// (from the model catalogue or a prices: override; unknown: no limit),
// with the output cap reserved and fixed tokens (system prompt, tools,
// the context block) counted. It returns the items to send.
func (s *Server) fitHistory(st *state, t route.Target, history, current []contextdoc.Item, fixed int, outCap int64, policy session.Policy, tn *turn) fitting {
	window := 0
	if p, ok := st.price(t.Provider, t.Model); ok {
		window = p.Context
	}
	out := int(outCap)
	if out <= 0 {
		out = st.cfg.Server.DefaultMaxTokens
	}
	all := make([]contextdoc.Item, 0, len(history)+len(current))
	all = append(append(all, history...), current...)
	in := session.FitInput{Items: all, Fixed: fixed, Current: len(current), Window: window, Output: out, Policy: policy, Query: lastUserText(current)}
	res := session.Fit(in)
	tn.window, tn.sent = window, res.Tokens
	if len(res.Keep) == len(all) {
		return fitting{items: all, fits: res.Fits} // all of it, in order
	}
	kept := make([]contextdoc.Item, 0, len(res.Keep))
	for _, i := range res.Keep {
		kept = append(kept, all[i])
	}
	return fitting{items: kept, fits: res.Fits}
}

func lastUserText(items []contextdoc.Item) string {
	for i := len(items) - 1; i >= 0; i-- {
		if it := &items[i]; it.Type == contextdoc.TypeMessage && it.Role == contextdoc.RoleUser {
			return it.Text()
		}
	}
	return ""
}

// contextBlock is the system text that gives a session's profile, data,
// pinned documents, environment and summary to the model.
func contextBlock(th *session.Thread, summary *contextdoc.Summary, now time.Time) string {
	if th == nil && summary == nil {
		return ""
	}
	var b strings.Builder
	if th != nil {
		if len(th.Profile) > 0 {
			b.WriteString("About the user:\n")
			for _, k := range sortedKeys(th.Profile) {
				fmt.Fprintf(&b, "- %s: %s\n", k, th.Profile[k])
			}
		}
		if len(th.Data) > 0 {
			b.WriteString("Session data (JSON):\n")
			keys := make([]string, 0, len(th.Data))
			for k := range th.Data {
				keys = append(keys, k)
			}
			sortStrings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "- %s: %s\n", k, th.Data[k])
			}
		}
		for _, d := range th.Documents {
			fmt.Fprintf(&b, "Document %q:\n%s\n", d.Name, d.Text)
		}
		if env := th.Environment; env != nil {
			loc, err := time.LoadLocation(env.TimeZone)
			if err != nil || env.TimeZone == "" {
				loc = time.UTC
			}
			t := now.In(loc)
			fmt.Fprintf(&b, "Now: %s, %s (%s)\n", t.Weekday(), t.Format("2006-01-02 15:04"), loc)
		}
	}
	if summary != nil && summary.Text != "" {
		fmt.Fprintf(&b, "Summary of the earlier conversation:\n%s\n", summary.Text)
	}
	if b.Len() == 0 {
		return ""
	}
	return "<credflow-context>\n" + b.String() + "</credflow-context>"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// estimate is the token estimate of raw bytes (4 bytes a token).
func estimate(n int) int { return (n + 3) / 4 }

// historyBytes estimates the bytes of stored history a request will carry
// (nil turn: none), so its reservation covers them.
func (tn *turn) historyBytes() int64 {
	if tn == nil {
		return 0
	}
	items := tn.history
	if tn.kind == session.KindSession && tn.prepend {
		items = tn.stored
	}
	var n int64
	for i := range items {
		n += int64(4 * session.EstimateTokens(&items[i]))
	}
	return n
}

// turnBody is the request body for one target: a session's history
// spliced in, or a Responses request's history written into its input
// for a provider that speaks the Responses API but does not hold it.
// Translated Responses requests get their history in prepareResponses.
func (s *Server) turnBody(r *http.Request, st *state, p provider.Provider, t route.Target, c *call, tn *turn, body []byte, outCap int64) ([]byte, *apiError) {
	tn.provider = t.Provider
	if tn.kind == session.KindSession {
		return s.sessionBody(r, st, t, c, tn, body, outCap)
	}
	format := p.Format()
	if format == provider.FormatAny {
		format = c.client
	}
	// The mock speaks the Responses API but keeps nothing.
	keeps := p.Type() != "mock"
	if !speaksResponses(p, format) || !keeps && tn.upstreamID {
		if tn.upstreamID {
			return nil, s.unknownID(tn)
		}
		if !speaksResponses(p, format) {
			return body, nil // prepareResponses adds the history
		}
	}
	if keeps && (tn.upstreamHolds(t) || tn.history == nil) {
		// The upstream keeps the state (or there is none yet): as it is.
		tn.passthrough = true
		return body, nil
	}
	// credflow holds the history: it goes into input, and the ids the
	// upstream does not know come out.
	fit := s.fitHistory(st, t, tn.history, tn.input, estimate(len(body)), outCap, session.PolicyWindow, tn)
	if !tn.truncate && fit.cut(len(tn.history)+len(tn.input)) {
		return nil, contextTooLong()
	}
	hist := translate.ItemsToResponsesInput(fit.items[:len(fit.items)-len(tn.input)])
	own, _, _ := jsonx.Get(body, "input")
	input := make([]json.RawMessage, 0, len(hist)+len(tn.input))
	input = append(input, hist...)
	switch {
	case len(own) > 0 && own[0] == '[':
		var items []json.RawMessage
		json.Unmarshal(own, &items)
		input = append(input, items...)
	case len(own) > 0 && own[0] == '"':
		input = append(input, marshalRaw(map[string]any{"role": "user", "content": json.RawMessage(own)}))
	}
	b, err := jsonx.Set(body, "input", marshalRaw(input))
	if err == nil {
		b, err = jsonx.Delete(b, "previous_response_id")
	}
	if err == nil {
		b, err = jsonx.Delete(b, "conversation")
	}
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()}
	}
	return b, nil
}

// unknownID is the 404 for a previous_response_id or conversation
// credflow never issued, sent to a model whose provider cannot hold one.
func (s *Server) unknownID(tn *turn) *apiError {
	if tn.previous != "" {
		return notFound("previous response", tn.previous)
	}
	return notFound("conversation", tn.conversation)
}

// contextTooLong is OpenAI's error for an input over the model's window
// (truncation "disabled", the default).
func contextTooLong() *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "context_length_exceeded", Param: "input", Type: "invalid_request_error",
		Message: "Your input exceeds the context window of this model. Please adjust your input and try again, or send truncation: \"auto\" to drop the oldest turns."}
}

// inputBytes is the raw input of a Responses request body (for counting
// what else the body holds).
func (tn *turn) inputBytes(body []byte) []byte {
	raw, _, _ := jsonx.Get(body, "input")
	return raw
}

// label names the stored conversation in events and the ledger: the
// session's name, the conversation's id, or for a bare
// previous_response_id chain the response it continues.
func (tn *turn) label() string {
	switch {
	case tn.name != "":
		return tn.name
	case tn.conversation != "":
		return tn.conversation
	default:
		return tn.previous
	}
}
