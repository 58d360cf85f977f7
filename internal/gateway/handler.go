package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/credflow/credflow/internal/guard"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/limits"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/tokens"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/adminapi"
)

func (s *Server) clientMux() http.Handler {
	mux := http.NewServeMux()
	for path, ep := range map[string]provider.Endpoint{
		"/v1/chat/completions":      provider.ChatCompletions,
		"/v1/completions":           provider.Completions,
		"/v1/embeddings":            provider.Embeddings,
		"/v1/responses":             provider.Responses,
		"/v1/messages":              provider.Messages,
		"/v1/messages/count_tokens": provider.CountTokens,
	} {
		mux.Handle("POST "+path, s.endpoint(ep))
	}
	mux.HandleFunc("GET /v1/models", s.models)
	s.stateRoutes(mux)
	mux.HandleFunc("POST /v1/templates/{name}", s.serveTemplate)
	// Prometheus metrics: names and counts only, on the loopback listener.
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f := provider.FormatOpenAI
		if r.Header.Get("Anthropic-Version") != "" || strings.HasPrefix(r.URL.Path, "/v1/messages") {
			f = provider.FormatAnthropic
		}
		writeAPIError(w, f, &apiError{Status: http.StatusNotFound, Code: "unknown_url",
			Message: fmt.Sprintf("credflow does not serve %s %s; OpenAI clients use base URL http://%s/v1 and Anthropic clients http://%s", r.Method, r.URL.Path, r.Host, r.Host)})
	})
	return s.withBodyDeadline(mux)
}

// withBodyDeadline gives every request's body server.body_timeout to
// arrive, also one refused before it is read: the server drains an unread
// body after the handler, and a client that never sends it would hold the
// connection. Handlers that read the body lift the deadline after.
func (s *Server) withBodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setBodyDeadline(w, r, s.state.Load().cfg.Server.BodyTimeout.Std())
		next.ServeHTTP(w, r)
	})
}

// presentedKey reads the client's key from Authorization: Bearer or
// x-api-key, the two places the official SDKs put it.
func presentedKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return strings.TrimSpace(a)
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// call carries one request through the path, and becomes its event.
type call struct {
	// ctx is the client request's: done when the client went away.
	ctx      context.Context
	ev       adminapi.Event
	start    time.Time
	firstAt  time.Time
	client   provider.Format
	endpoint provider.Endpoint
	usage    eventUsage
	// st is the state the request was served with (for prices).
	st *state
	// res holds the key's budget and rate limits while the request runs.
	res *limits.Reservation
	// body is the client's request, kept for a token estimate.
	body []byte
	// settled: the cost is in ev and the reservation settled (settle).
	settled bool
	// dropped lists the request paths of hint fields a translation left
	// out (x-credflow-dropped, and the request log).
	dropped []string
	// turn is the context engine's part in the request (stateful.go), nil
	// for a stateless one.
	turn *turn
	// guard is the request's guardrail pass, nil when no rule applies.
	guard *guard.Pass
}

func (s *Server) endpoint(ep provider.Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		c := &call{start: s.opt.Now(), client: ep.Format(), endpoint: ep}
		c.ev.ID = strconv.FormatUint(s.seq.Add(1), 10)
		c.ev.Endpoint = string(ep)
		status, err := s.serve(w, r, c)
		// Accounting runs before the handler returns, so a response ends
		// only once its request is settled and published: a sequential
		// client never finds its previous request still holding a slot
		// of its key's concurrency limit.
		s.finish(c, status, err)
	})
}

// finish publishes the request's event and logs it (never bodies or keys).
func (s *Server) finish(c *call, status int, err error) {
	s.requests.Add(1)
	now := s.opt.Now()
	c.ev.Time = now.UTC()
	c.ev.Status = status
	c.ev.LatencyMS = float64(now.Sub(c.start).Microseconds()) / 1000
	if !c.firstAt.IsZero() {
		c.ev.TTFBMS = float64(c.firstAt.Sub(c.start).Microseconds()) / 1000
	}
	if err != nil {
		c.ev.Error = err.Error()
	}
	if c.guard != nil {
		c.ev.Guard = guardHits(c.guard)
	}
	if tn := c.turn; tn != nil {
		c.ev.Session = tn.label()
		c.ev.ContextTokens, c.ev.ContextWindow, c.ev.Summarized = tn.sent, tn.window, tn.summarized
	}
	// A response that went out without final usage (a cut stream, a
	// provider that omits it) is counted with the tokenizer, off the
	// request path (an encoder takes up to a second to build the first
	// time), and marked estimated.
	if !c.usage.final && c.ev.Provider != "" && (status == http.StatusOK || status == 499) {
		s.pending.Add(1)
		go func() {
			defer s.pending.Done()
			c.ev.Estimated = true
			if c.usage.InputTokens == 0 {
				c.usage.InputTokens = int64(tokens.Count(c.ev.UpstreamModel, provider.PromptText(c.body)))
			}
			if n := int64(tokens.Count(c.ev.UpstreamModel, c.usage.text.String())); n > c.usage.OutputTokens {
				c.usage.OutputTokens = n
			}
			s.account(c)
		}()
		return
	}
	s.account(c)
}

// account prices the request, settles its limits, and reports it to
// metrics, the event bus and the log (never bodies or keys).
func (s *Server) account(c *call) {
	s.settle(c)
	s.metrics.observe(&c.ev)
	s.today.add(&c.ev)
	if s.ledger != nil {
		s.ledger.Add(ledger.FromEvent(c.ev))
	}
	s.bus.Publish(c.ev)
	if s.log.Enabled(context.Background(), levelFor(c.ev.Status)) {
		args := []any{"id", c.ev.ID, "endpoint", c.ev.Endpoint, "key", c.ev.Key, "model", c.ev.Model,
			"provider", c.ev.Provider, "status", c.ev.Status, "stream", c.ev.Stream,
			"in", c.ev.InputTokens, "out", c.ev.OutputTokens, "estimated", c.ev.Estimated, "ms", c.ev.LatencyMS, "err", c.ev.Error}
		if len(c.dropped) > 0 {
			args = append(args, "dropped", translate.SummarizeDropped(c.dropped))
		}
		if len(c.ev.Guard) > 0 {
			args = append(args, "guard", adminapi.GuardSummary(c.ev.Guard))
		}
		if c.ev.Policy != "" {
			args = append(args, "policy", c.ev.Policy)
		}
		s.log.Log(context.Background(), levelFor(c.ev.Status), "request", args...)
	}
}

// settle prices the request from its usage and settles the key's
// reservation with it. It runs in account, and earlier for a stream whose
// usage is final when its last event is about to go out, so a client that
// starts its next request on reading that event finds the budget settled;
// the second call does nothing.
func (s *Server) settle(c *call) {
	if c.settled {
		return
	}
	c.settled = true
	c.ev.InputTokens, c.ev.OutputTokens, c.ev.CachedTokens = c.usage.InputTokens, c.usage.OutputTokens, c.usage.CachedTokens
	c.ev.CacheWriteTokens, c.ev.ReasoningTokens = c.usage.CacheWriteTokens, c.usage.ReasoningTokens
	if c.ev.InputTokens == 0 && c.ev.OutputTokens == 0 {
		// Nothing used (a refused request, an upstream error): nothing billed.
		c.ev.CostKnown = true
	} else if c.st != nil && c.ev.Provider != "" {
		if p, ok := c.st.price(c.ev.Provider, c.ev.UpstreamModel); ok {
			u := pricing.Usage{
				// An upstream that reports more cached than input tokens
				// still pays for the output: never a negative part.
				Input:      max(c.ev.InputTokens-c.ev.CachedTokens-c.ev.CacheWriteTokens, 0),
				Output:     c.ev.OutputTokens,
				CacheRead:  c.ev.CachedTokens,
				CacheWrite: c.ev.CacheWriteTokens,
			}
			if cost, ok := p.Cost(u); ok {
				c.ev.CostMicros, c.ev.CostKnown = int64(cost), true
			}
		}
	}
	if c.res != nil {
		for _, w := range c.res.Settle(limits.Cost{Micros: c.ev.CostMicros, Tokens: c.ev.InputTokens + c.ev.OutputTokens}) {
			c.ev.Warning = w
			s.log.Warn("soft budget passed", "key", c.ev.Key, "warning", w)
		}
	}
}

// serve runs the request path and returns the status sent.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, c *call) (int, error) {
	st := s.state.Load()
	c.st = st
	c.ctx = r.Context()
	fail := func(e *apiError) (int, error) {
		writeAPIError(w, c.client, e)
		return e.Status, e
	}

	// Auth first: an unauthenticated client learns nothing else.
	key, err := s.auth.Authenticate(presentedKey(r))
	if err != nil {
		code := "invalid_api_key"
		var ae *keys.AuthError
		if errors.As(err, &ae) && ae.Name != "" {
			c.ev.Key = ae.Name
		}
		return fail(&apiError{Status: http.StatusUnauthorized, Code: code, Message: err.Error()})
	}
	c.ev.Key = key.Name
	if aerr := templateScope(r, key, c); aerr != nil {
		return fail(aerr)
	}

	body, err := readRequestBody(w, r, st.cfg.Server.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return fail(&apiError{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large",
				Message: fmt.Sprintf("request body is over the gateway's limit of %d bytes (server.max_body_bytes)", mbe.Limit)})
		case isTimeout(err) || errors.Is(err, net.ErrClosed):
			// The deadline passed (net/http) or the lean server closed the
			// connection for it; the answer goes out if the client still
			// reads.
			return fail(&apiError{Status: http.StatusRequestTimeout, Code: "request_timeout",
				Message: fmt.Sprintf("the request body did not arrive within %s (server.body_timeout)", st.cfg.Server.BodyTimeout)})
		}
		// The client hung up while sending its body.
		return 499, fmt.Errorf("client closed the connection while sending its request body: %v", err)
	}
	// Only now: after a failed read the deadline must still bound the
	// server's drain of the rest.
	clearBodyDeadline(w, r)
	f, aerr := requestFields(body)
	if aerr != nil {
		if f.model != "" {
			c.ev.Model = f.model
			c.body = body
		}
		return fail(aerr)
	}
	model, stream := f.model, f.stream
	c.ev.Model = model
	c.body = body
	c.ev.Stream = stream
	if !key.Allows(model) {
		return fail(&apiError{Status: http.StatusForbidden, Code: "model_not_allowed", Param: "model",
			Message: fmt.Sprintf("virtual key %q may not call model %q (allowed: %s); change it with 'credflow keys update %s --models ...'", key.Name, model, strings.Join(key.Models, ", "), key.Name)})
	}
	targets, err := st.routes.Resolve(model)
	if err != nil {
		var ue *route.ErrUnknownModel
		if errors.As(err, &ue) {
			return fail(&apiError{Status: http.StatusNotFound, Code: "model_not_found", Param: "model", Message: err.Error()})
		}
		return fail(&apiError{Status: http.StatusInternalServerError, Message: err.Error()})
	}
	var require []string
	if st.cfg.PolicySet.Len() > 0 {
		routed, req, aerr := s.evalPolicy(st, c, key, r, model, targets[0].Provider, body)
		if aerr != nil {
			return fail(aerr)
		}
		require = req
		if routed != model {
			if !key.Allows(routed) {
				return fail(&apiError{Status: http.StatusForbidden, Code: "model_not_allowed", Param: "model",
					Message: fmt.Sprintf("policy %q routes this request to model %q, which virtual key %q may not call; allow it with 'credflow keys update %s --models ...' or change the policy", strings.TrimSuffix(c.ev.Policy, ": route "+routed), routed, key.Name, key.Name)})
			}
			if targets, err = st.routes.Resolve(routed); err != nil {
				return fail(&apiError{Status: http.StatusInternalServerError, Code: "policy_error",
					Message: fmt.Sprintf("policy %q routes to model %q, which no route serves: %v", c.ev.Policy, routed, err)})
			}
		}
	}

	tn, aerr := s.beginTurn(c, key, r, body)
	if aerr != nil {
		return fail(aerr)
	}
	c.turn = tn
	if !key.Policy.IsZero() {
		// A stored history goes with the request: reserve for it too.
		if aerr := s.reserve(w, c, st, key, targets[0], int64(len(body))+tn.historyBytes(), f.outCap); aerr != nil {
			return fail(aerr)
		}
	}

	// The first healthy target wins: one that fails before sending
	// anything to the client (no key, unreachable, 5xx, 429) passes the
	// request on to the next.
	var lastErr *apiError
	for i, t := range targets {
		p := st.providers[t.Provider]
		c.ev.Provider, c.ev.UpstreamModel = t.Provider, t.Model
		if c.endpoint == provider.CountTokens && p.Format() == provider.FormatOpenAI {
			return s.countTokens(w, c, t, body) // OpenAI has no counting endpoint
		}
		if !p.HasCredential() {
			sec := st.cfg.Providers[t.Provider].Secret
			lastErr = &apiError{Status: http.StatusServiceUnavailable, Code: "provider_key_missing",
				Message: fmt.Sprintf("provider %q has no key: vault secret %q is missing; run 'credflow secrets set %s' (a running gateway reloads it)", t.Provider, sec, sec)}
			continue
		}
		c.dropped = c.dropped[:0]
		tbody := body
		if tn != nil {
			if tbody, aerr = s.turnBody(r, st, p, t, c, tn, body, f.outCap); aerr != nil {
				return fail(aerr)
			}
		}
		up, ureq, aerr := s.prepare(st, p, c, t, tbody, stream, r.Header)
		if aerr != nil {
			// A request that cannot be expressed for this provider is the
			// client's problem, not the provider's health: no fallback.
			return fail(aerr)
		}
		// Guardrails see what the upstream would get: the translated
		// body with any stored history in it.
		if c.guard = st.guard.Begin(r.Context(), key.Name, model, require); c.guard != nil {
			gb, blk, gerr := c.guard.Request(ureq.Body)
			if gerr != nil {
				return fail(&apiError{Status: http.StatusBadRequest, Message: gerr.Error()})
			}
			if blk != nil {
				return fail(guardBlocked(blk))
			}
			ureq.Body = gb
		}
		if len(c.dropped) > 0 {
			w.Header().Set("X-Credflow-Dropped", translate.SummarizeDropped(c.dropped))
		} else {
			delete(w.Header(), "X-Credflow-Dropped")
		}
		resp, err := p.Send(r.Context(), ureq)
		if err != nil {
			if r.Context().Err() != nil {
				return 499, errors.New("client closed the request")
			}
			var te *provider.TimeoutError
			status := http.StatusBadGateway
			if errors.As(err, &te) {
				status = http.StatusGatewayTimeout
			}
			lastErr = &apiError{Status: status, Code: "upstream_unreachable",
				Message: fmt.Sprintf("provider %q could not be reached: %v", t.Provider, st.scrub(err))}
			s.log.Warn("upstream call failed", "id", c.ev.ID, "provider", t.Provider, "err", st.scrub(err), "next_target", i+1 < len(targets))
			continue
		}
		if (resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests) && i+1 < len(targets) {
			s.log.Warn("upstream answered with an error; trying the next target", "id", c.ev.ID, "provider", t.Provider, "status", resp.StatusCode)
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		return s.relay(w, resp, up, c)
	}
	if lastErr == nil {
		lastErr = &apiError{Status: http.StatusBadGateway, Message: "no provider could serve the request"}
	}
	return fail(lastErr)
}

// setBodyDeadline bounds the time the client has to send its request
// body. Only a request with a body to come gets one: once a body is read
// (or when there is none) net/http watches the connection for a hang-up,
// and a read deadline firing then would cancel a long stream.
func setBodyDeadline(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.ContentLength != 0 && d > 0 {
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	}
}

// clearBodyDeadline lifts the deadline once the whole body is read.
func clearBodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readRequestBody reads the client's body, of at most max bytes: in one
// allocation when the client sent its length.
func readRequestBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= max {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}

// jsonString decodes a JSON string value ("" for none or null), without
// encoding/json when it holds no escapes.
func jsonString(raw []byte, key string) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		plain := true
		for _, c := range raw[1 : n-1] {
			if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
				plain = false
				break
			}
		}
		if plain {
			return string(raw[1 : n-1]), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q must be a string", key)
	}
	return s, nil
}

// upstream describes how the response must be handled.
type upstream struct {
	format       provider.Format
	translated   bool
	includeUsage bool // the client asked for OpenAI's usage chunk
	clientModel  string
	// responses is set when a Responses API request was translated: the
	// response is built from the upstream's in the Responses shape.
	responses *translate.ResponseMeta
}

// prepare builds the upstream request: a pass-through with only the model
// (and OpenAI's include_usage) rewritten when formats match, a translation
// when they differ.
func (s *Server) prepare(st *state, p provider.Provider, c *call, t route.Target, body []byte, stream bool, h http.Header) (*upstream, *provider.Request, *apiError) {
	up := &upstream{format: p.Format(), clientModel: c.ev.Model}
	if up.format == provider.FormatAny {
		up.format = c.client
	}
	req := &provider.Request{Endpoint: c.endpoint, Model: t.Model, Stream: stream, Header: h}
	bad := func(err error) *apiError {
		var te *translate.Error
		if errors.As(err, &te) {
			return te
		}
		return &apiError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	var err error
	if c.endpoint == provider.Responses && !speaksResponses(p, up.format) {
		return s.prepareResponses(st, p, c, t, body, up, req)
	}
	if up.format == c.client {
		if !p.Supports(c.endpoint) {
			return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "unsupported_endpoint",
				Message: fmt.Sprintf("model %q routes to provider %q (%s), which does not offer /v1/%s", c.ev.Model, p.Name(), p.Type(), c.endpoint)}
		}
		req.Body = body
		if t.Model != c.ev.Model {
			if req.Body, err = jsonx.SetString(body, "model", t.Model); err != nil {
				return nil, nil, bad(err)
			}
		}
		if stream && c.client == provider.FormatOpenAI && c.endpoint == provider.ChatCompletions {
			if req.Body, up.includeUsage, err = withUsage(req.Body); err != nil {
				return nil, nil, bad(err)
			}
		}
		return up, req, nil
	}
	up.translated = true
	switch {
	case c.endpoint == provider.ChatCompletions && up.format == provider.FormatAnthropic:
		req.Endpoint = provider.Messages
		req.Body, err = translate.OpenAIRequestToAnthropic(body, st.translateOptions(c, t))
		if err == nil && stream {
			raw, _, _ := jsonx.Get(body, "stream_options")
			up.includeUsage = bytes.Contains(raw, []byte(`"include_usage":true`)) || bytes.Contains(raw, []byte(`"include_usage": true`))
		}
	case c.endpoint == provider.Messages && up.format == provider.FormatOpenAI:
		req.Endpoint = provider.ChatCompletions
		req.Body, err = translate.AnthropicRequestToOpenAI(body, st.translateOptions(c, t))
		if err == nil && stream {
			req.Body, _, err = withUsage(req.Body)
		}
	default:
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "unsupported_endpoint",
			Message: fmt.Sprintf("model %q routes to provider %q, which speaks the %s API and has no equivalent of /v1/%s", c.ev.Model, p.Name(), up.format, c.endpoint)}
	}
	if err != nil {
		return nil, nil, bad(err)
	}
	return up, req, nil
}

// withUsage asks an OpenAI upstream for the final usage chunk and reports
// whether the client had asked for it itself (if not, the gateway removes
// it again on the way back).
func withUsage(body []byte) ([]byte, bool, error) {
	raw, ok, err := jsonx.Get(body, "stream_options")
	if err != nil {
		return nil, false, err
	}
	if !ok || string(raw) == "null" {
		// The common case, without decoding anything.
		out, err := jsonx.Set(body, "stream_options", []byte(`{"include_usage":true}`))
		return out, false, err
	}
	opts := map[string]json.RawMessage{}
	if ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &opts); err != nil {
			return nil, false, errors.New("\"stream_options\" must be an object")
		}
	}
	asked := string(opts["include_usage"]) == "true"
	if asked {
		return body, true, nil
	}
	opts["include_usage"] = json.RawMessage("true")
	enc, _ := json.Marshal(opts)
	out, err := jsonx.Set(body, "stream_options", enc)
	return out, false, err
}

// scrub keeps provider keys, virtual keys and URLs' query strings (where
// some APIs put keys) out of errors that reach clients and logs.
func (st *state) scrub(err error) string {
	return st.redact.String(scrubQuery(err))
}

// scrubQuery removes a URL's query string from an error.
func scrubQuery(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "?"); i >= 0 {
		if j := strings.IndexAny(msg[i:], "\": "); j > 0 {
			msg = msg[:i] + msg[i+j:]
		}
	}
	return msg
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if _, err := s.auth.Authenticate(presentedKey(r)); err != nil {
		f := provider.FormatOpenAI
		if r.Header.Get("Anthropic-Version") != "" {
			f = provider.FormatAnthropic
		}
		writeAPIError(w, f, &apiError{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: err.Error()})
		return
	}
	st := s.state.Load()
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	created := s.started.Unix()
	for _, m := range st.routes.Models() {
		owner := "credflow"
		if ts, err := st.routes.Resolve(m); err == nil && len(ts) > 0 {
			owner = ts[0].Provider
		}
		out.Data = append(out.Data, model{ID: m, Object: "model", Created: created, OwnedBy: owner})
	}
	writeJSON(w, http.StatusOK, out)
}

// reserve takes the key's budget and rate-limit reservation for a request,
// estimated so that it bounds the request's cost (see package limits): the
// prompt at one token per body byte, the output at its cap.
func (s *Server) reserve(w http.ResponseWriter, c *call, st *state, key *keys.Key, t route.Target, prompt int64, out int64) *apiError {
	// out is the request's own cap, validated by requestFields (1 to
	// maxOutputCap), so with the body's length, itself bounded by
	// server.max_body_bytes, the estimate can neither wrap nor go negative.
	if out <= 0 {
		out = int64(max(st.cfg.Server.DefaultMaxTokens, 1))
	}
	est := limits.Cost{Tokens: prompt + out}
	usdBudget := false
	for _, b := range key.Policy.Budgets {
		usdBudget = usdBudget || (b.Unit == adminapi.UnitUSD && !b.Soft)
	}
	if p, ok := st.price(t.Provider, t.Model); ok {
		if cost, ok := p.Cost(pricing.Usage{Input: prompt, Output: out}); ok {
			est.Micros = int64(cost) + 1
		} else {
			// Too large to price: more than any budget can hold.
			est.Micros = math.MaxInt64 / 4
		}
	} else if usdBudget {
		return &apiError{Status: http.StatusForbidden, Code: "unpriced_model", Param: "model",
			Message: fmt.Sprintf("model %q has no known price, so virtual key %q, which has a dollar budget, cannot use it; give it a price under \"prices:\" in the config", t.Model, key.Name)}
	}
	res, denied := s.limits.Reserve(key.Name, key.Policy, est)
	if denied != nil {
		secs := int64((denied.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		s.rateHeaders(w, key)
		code := "rate_limit_exceeded"
		if denied.Budget != nil {
			code = "budget_exceeded"
		}
		return &apiError{Status: http.StatusTooManyRequests, Code: code, Message: denied.Message}
	}
	c.res = res
	s.rateHeaders(w, key)
	return nil
}

// rateHeaders sets OpenAI's x-ratelimit-* headers for a key with rate limits.
func (s *Server) rateHeaders(w http.ResponseWriter, key *keys.Key) {
	h, ok := s.limits.Headers(key.Name, key.Policy)
	if !ok {
		return
	}
	reset := h.Reset.String()
	hd := w.Header()
	if h.LimitRequests > 0 {
		hd.Set("X-Ratelimit-Limit-Requests", strconv.FormatInt(h.LimitRequests, 10))
		hd.Set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(h.RemainingRequests, 10))
		hd.Set("X-Ratelimit-Reset-Requests", reset)
	}
	if h.LimitTokens > 0 {
		hd.Set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(h.LimitTokens, 10))
		hd.Set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(h.RemainingTokens, 10))
		hd.Set("X-Ratelimit-Reset-Tokens", reset)
	}
}
