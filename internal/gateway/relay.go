package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/credflow/credflow/internal/guard"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/llmapi"
)

// maxResponse bounds a non-streaming upstream body held in memory.
const maxResponse = 64 << 20

// passHeaders are upstream response headers a same-format client may use.
var passHeaders = []string{"X-Request-Id", "Request-Id", "Openai-Processing-Ms", "Retry-After",
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Requests",
	"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// relay sends the upstream response to the client: errors and bodies
// translated when formats differ, streams forwarded event by event with a
// flush per event while usage is read off them.
func (s *Server) relay(w http.ResponseWriter, resp *http.Response, up *upstream, c *call) (int, error) {
	if !up.translated {
		// Indexed, not Get: both headers' keys are canonical already, and
		// Get canonicalises its argument on each of these calls.
		wh := w.Header()
		for _, h := range passHeaders {
			// A key with credflow rate limits keeps credflow's headers.
			if v := resp.Header[h]; len(v) > 0 && v[0] != "" {
				if cur := wh[h]; len(cur) == 0 || cur[0] == "" {
					wh[h] = []string{v[0]}
				}
			}
		}
	}
	isStream := resp.StatusCode < 300 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if !isStream {
		return s.relayBody(w, resp, up, c)
	}
	return s.relayStream(w, resp, up, c)
}

func (s *Server) relayBody(w http.ResponseWriter, resp *http.Response, up *upstream, c *call) (int, error) {
	body, err := readBody(resp.Body, resp.ContentLength, maxResponse)
	c.firstAt = s.opt.Now()
	if err != nil && c.ctx.Err() != nil {
		// The client went away, which cancelled the upstream read: not
		// the provider's failure.
		return 499, errors.New("client closed the request")
	}
	if err != nil {
		writeAPIError(w, c.client, &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("provider %q response was cut: %v", c.ev.Provider, err)})
		return http.StatusBadGateway, err
	}
	status := resp.StatusCode
	var callErr error
	var res *translate.Result // the answer, for the context engine
	if status >= 300 {
		callErr = fmt.Errorf("provider %q answered %d", c.ev.Provider, status)
		switch {
		case up.format == provider.FormatAnthropic && c.client == provider.FormatOpenAI:
			body = translate.AnthropicErrorToOpenAI(status, body)
		case up.format == provider.FormatOpenAI && c.client == provider.FormatAnthropic:
			body = translate.OpenAIErrorToAnthropic(status, body)
		}
		// Providers echo what they were sent ("Incorrect API key
		// provided: sk-…"): the real key must not reach the client.
		body = c.st.redact.Bytes(body)
	} else {
		tapBody(up.format, body, &c.usage)
		if tn := c.turn; tn != nil {
			res, _ = resultOf(up, c.endpoint, body)
		}
		if up.translated {
			var terr error
			switch {
			case up.responses != nil:
				body, terr = responsesBody(up, body)
			case up.format == provider.FormatAnthropic:
				body, terr = translate.AnthropicResponseToOpenAI(body, up.clientModel)
			default:
				body, terr = translate.OpenAIResponseToAnthropic(body, up.clientModel)
			}
			if terr != nil {
				writeAPIError(w, c.client, &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("provider %q sent a response credflow could not translate: %v", c.ev.Provider, terr)})
				return http.StatusBadGateway, terr
			}
		}
	}
	if c.guard != nil && status < 300 {
		var blk *guard.Block
		if body, blk = c.guard.ReplyBody(body); blk != nil {
			writeAPIError(w, c.client, guardBlocked(blk))
			return http.StatusBadRequest, blk
		}
	}
	if tn := c.turn; tn != nil && status < 300 {
		var obj json.RawMessage
		if c.endpoint == provider.Responses {
			obj = body
		}
		// On disk before the client has it.
		s.finishTurn(c, tn, res, obj)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" || up.translated {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	return status, callErr
}

func (s *Server) relayStream(w http.ResponseWriter, resp *http.Response, up *upstream, c *call) (int, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Headers go out now: a client waits for them before its first event.
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	wr := llmapi.NewWriter(w)
	rd := llmapi.NewReader(resp.Body)
	var tr translate.StreamTranslator
	var rs *translate.ResponsesStream
	if c.turn != nil {
		c.turn.watch(up, c.endpoint)
	}
	emit := func(ev llmapi.Event) error {
		if c.firstAt.IsZero() {
			c.firstAt = s.opt.Now()
		}
		if isLastEvent(c.client, ev) {
			// A client may start its next request as soon as it reads
			// this: the key's concurrency slot must be free by then, and
			// its budget settled when the usage is known.
			if c.usage.final {
				s.settle(c)
			} else {
				c.res.Release()
			}
			// And the turn is on disk before the client has its end.
			if tn := c.turn; tn != nil && ev.Name != "response.failed" && (rs == nil || !rs.Failed()) {
				res, obj := tn.streamResult(rs, ev)
				s.finishTurn(c, tn, res, obj)
			}
		}
		if bytes.Contains(ev.Data, errorMember) {
			// An error event, passed through or translated, may echo a
			// provider key like an error body.
			ev.Data = c.st.redact.Bytes(ev.Data)
		}
		return wr.WriteEvent(ev)
	}
	// Guardrails restore placeholders and scan the reply as the client
	// gets it: after translation.
	out := emit
	gs := c.guard.Stream(streamFormat(c.endpoint))
	if gs != nil {
		out = func(ev llmapi.Event) error {
			err := gs.Event(ev, emit)
			if err == nil && c.guard.Blocked() != nil {
				return errGuardStop
			}
			return err
		}
	}
	switch {
	case up.responses != nil && up.format == provider.FormatAnthropic:
		rs = translate.NewMessagesToResponsesStream(up.responses)
		tr = rs
	case up.responses != nil:
		rs = translate.NewChatToResponsesStream(up.responses)
		tr = rs
	case up.translated && up.format == provider.FormatAnthropic:
		tr = translate.NewAnthropicToOpenAIStream(up.clientModel, up.includeUsage)
	case up.translated:
		tr = translate.NewOpenAIToAnthropicStream(up.clientModel)
	}
	forwarded := 0 // events passed through, for a Responses error event's sequence_number
	dropUsage := !up.translated && up.format == provider.FormatOpenAI && !up.includeUsage
	var werr error
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil && c.ctx.Err() != nil {
			return 499, errors.New("client went away mid-stream")
		}
		if err != nil {
			// The upstream cut the stream: tell the client in its format
			// rather than leave it waiting for an end that never comes.
			s.log.Warn("upstream stream ended abruptly", "id", c.ev.ID, "provider", c.ev.Provider, "err", c.st.scrub(err))
			cut := &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("provider %q stream was cut: %v", c.ev.Provider, c.st.scrub(err))}
			emitStreamError(emit, c, rs, forwarded, "server_error", cut)
			return http.StatusOK, fmt.Errorf("stream cut: %v", c.st.scrub(err))
		}
		tapEvent(up.format, ev, &c.usage)
		if c.turn != nil {
			c.turn.observe(ev)
		}
		if tr != nil {
			werr = tr.Translate(ev, out)
		} else if dropUsage && isUsageOnlyChunk(ev.Data) {
			continue
		} else {
			forwarded++
			werr = out(ev)
		}
		if werr == errGuardStop {
			return s.guardStop(emit, c, rs, forwarded)
		}
		if werr != nil {
			// The client went away; returning cancels the upstream call.
			return 499, errors.New("client went away mid-stream")
		}
	}
	if tr != nil {
		if err := tr.Finish(out); err == errGuardStop {
			return s.guardStop(emit, c, rs, forwarded)
		} else if err != nil {
			return 499, errors.New("client went away mid-stream")
		}
	}
	if gs != nil {
		if err := gs.Finish(emit); err != nil {
			return 499, errors.New("client went away mid-stream")
		}
		if c.guard.Blocked() != nil {
			return s.guardStop(emit, c, rs, forwarded)
		}
	}
	return http.StatusOK, nil
}

// responsesBody translates a non-streaming upstream answer to a Responses
// API response object.
func responsesBody(up *upstream, body []byte) ([]byte, error) {
	var res *translate.Result
	var err error
	if up.format == provider.FormatAnthropic {
		res, err = translate.MessagesResponseToResult(body)
	} else {
		res, err = translate.ChatResponseToResult(body)
	}
	if err != nil {
		return nil, err
	}
	return translate.ResultToResponses(res, up.responses), nil
}

// responsesErrorEvent is a Responses stream's "error" event.
func responsesErrorEvent(code, msg string, seq int) []byte {
	b, _ := json.Marshal(llmapi.ResponsesErrorEvent{Type: "error", SequenceNumber: seq,
		Error: llmapi.ResponsesErrorDetail{Type: "server_error", Code: code, Message: msg}})
	return b
}

// errorMember marks events that may carry an error: OpenAI's {"error":…},
// Anthropic's and the Responses API's error events, a failed response.
var errorMember = []byte(`"error"`)

// isLastEvent spots the event that ends a stream for a client: OpenAI's
// [DONE], Anthropic's message_stop, the Responses API's final response
// event (its streams have no [DONE]).
func isLastEvent(client provider.Format, ev llmapi.Event) bool {
	if client == provider.FormatAnthropic {
		return ev.Name == "message_stop"
	}
	switch ev.Name {
	case "":
		return len(ev.Data) == 6 && string(ev.Data) == "[DONE]"
	case "response.completed", "response.incomplete", "response.failed":
		return true
	}
	return false
}

// readBody reads a body of at most limit bytes, in one allocation when its
// length is known (a zero length may be a Response that did not say).
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	b := make([]byte, length)
	n, err := io.ReadFull(r, b)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		// Cut short: what arrived, and the error io.ReadAll would give.
		return b[:n], io.ErrUnexpectedEOF
	}
	return b, err
}

// isUsageOnlyChunk spots OpenAI's final usage chunk (choices: []).
func isUsageOnlyChunk(data []byte) bool {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return false
	}
	raw, ok, err := jsonx.Get(data, "choices")
	return err == nil && ok && string(bytes.TrimSpace(raw)) == "[]"
}

// applyOpenAI reads OpenAI's usage object: Chat Completions' and
// embeddings' (prompt_tokens, completion_tokens) or the Responses API's
// (input_tokens, output_tokens); both count cached input in the input. It
// runs for every request, so it picks the counts out in one pass with jsonx
// rather than decoding.
func applyOpenAI(raw []byte, ev *eventUsage) {
	ev.final = true
	ev.InputTokens, ev.OutputTokens, ev.CachedTokens, ev.ReasoningTokens = 0, 0, 0, 0
	jsonx.Members(raw, func(key, v []byte) bool {
		switch string(key) {
		case "prompt_tokens", "input_tokens":
			ev.InputTokens = parseCount(v)
		case "completion_tokens", "output_tokens":
			ev.OutputTokens = parseCount(v)
		case "prompt_tokens_details", "input_tokens_details":
			ev.CachedTokens = intField(v, "cached_tokens")
		case "completion_tokens_details", "output_tokens_details":
			ev.ReasoningTokens = intField(v, "reasoning_tokens")
		}
		return true
	})
}

// parseCount reads a token count; null, malformed or negative is 0 (an
// upstream cannot give a key credit).
func parseCount(raw []byte) int64 {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// intField reads a top-level integer; absent, null or malformed is 0.
func intField(obj []byte, key string) int64 {
	raw, ok, err := jsonx.Get(obj, key)
	if err != nil || !ok {
		return 0
	}
	return parseCount(raw)
}

// applyAnthropic folds a usage object in. message_delta usage is
// cumulative, so fields present replace earlier values, never add to them.
// The event's input counts cache reads and writes too, as OpenAI's does.
// An object with a count that is not an integer is ignored whole.
func applyAnthropic(raw []byte, ev *eventUsage) {
	const (
		in = iota
		out
		cacheWrite
		cacheRead
	)
	var vals [4]int64
	var present [4]bool
	bad := false
	err := jsonx.Members(raw, func(key, v []byte) bool {
		i := -1
		switch string(key) {
		case "input_tokens":
			i = in
		case "output_tokens":
			i = out
		case "cache_creation_input_tokens":
			i = cacheWrite
		case "cache_read_input_tokens":
			i = cacheRead
		}
		if i < 0 {
			return true
		}
		if string(v) == "null" {
			present[i] = false
			return true
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			bad = true
			return false
		}
		vals[i], present[i] = max(n, 0), true
		return true
	})
	if err != nil || bad {
		return
	}
	if present[in] {
		ev.anthInput = vals[in]
	}
	if present[cacheWrite] {
		ev.anthCacheWrite = vals[cacheWrite]
	}
	if present[cacheRead] {
		ev.anthCacheRead = vals[cacheRead]
	}
	if present[out] {
		ev.OutputTokens = vals[out]
	}
	ev.InputTokens = ev.anthInput + ev.anthCacheWrite + ev.anthCacheRead
	ev.CachedTokens = ev.anthCacheRead
	ev.CacheWriteTokens = ev.anthCacheWrite
}

// eventUsage accumulates what the provider reported.
type eventUsage struct {
	ReasoningTokens int64
	// final is set once the provider's final usage arrived; text collects
	// streamed output for an estimate if it never does.
	final                                    bool
	text                                     strings.Builder
	CacheWriteTokens                         int64
	InputTokens, OutputTokens, CachedTokens  int64
	anthInput, anthCacheWrite, anthCacheRead int64
}

// tapBody reads usage from a non-streaming response.
func tapBody(f provider.Format, body []byte, u *eventUsage) {
	raw, ok, err := jsonx.Get(body, "usage")
	if err != nil || !ok {
		return
	}
	if f == provider.FormatAnthropic {
		applyAnthropic(raw, u)
		u.final = true
	} else {
		applyOpenAI(raw, u)
	}
}

// tapEvent reads usage from a stream event without decoding the rest:
// OpenAI's usage chunk, Anthropic's message_start and message_delta.
func tapEvent(f provider.Format, ev llmapi.Event, u *eventUsage) {
	if f == provider.FormatAnthropic {
		switch ev.Name {
		case "message_start":
			if msg, ok, _ := jsonx.Get(ev.Data, "message"); ok {
				if raw, ok, _ := jsonx.Get(msg, "usage"); ok {
					applyAnthropic(raw, u)
				}
			}
		case "message_delta":
			if raw, ok, _ := jsonx.Get(ev.Data, "usage"); ok {
				applyAnthropic(raw, u)
				u.final = true
			}
		case "content_block_delta":
			if d, ok, _ := jsonx.Get(ev.Data, "delta"); ok {
				for _, k := range []string{"text", "partial_json", "thinking"} {
					if s, _ := jsonx.GetString(d, k); s != "" {
						u.text.WriteString(s)
					}
				}
			}
		}
		return
	}
	if len(ev.Name) > 9 && ev.Name[:9] == "response." {
		tapResponsesEvent(ev, u)
		return
	}
	if !u.final {
		collectOpenAIText(ev.Data, &u.text)
	}
	if !bytes.Contains(ev.Data, []byte(`"usage"`)) {
		return
	}
	if raw, ok, _ := jsonx.Get(ev.Data, "usage"); ok && string(raw) != "null" {
		applyOpenAI(raw, u)
	}
}

// tapResponsesEvent reads a Responses API stream: the usage of the final
// response (response.completed, .incomplete or .failed), and the text and
// tool-call arguments on the way in case it never comes.
func tapResponsesEvent(ev llmapi.Event, u *eventUsage) {
	switch ev.Name {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
		if !u.final {
			if s, _ := jsonx.GetString(ev.Data, "delta"); s != "" {
				u.text.WriteString(s)
			}
		}
	case "response.completed", "response.incomplete", "response.failed":
		if r, ok, _ := jsonx.Get(ev.Data, "response"); ok {
			if raw, ok, _ := jsonx.Get(r, "usage"); ok && string(raw) != "null" {
				applyOpenAI(raw, u)
			}
		}
	}
}

// collectOpenAIText keeps a chunk's content and tool-call arguments, in case
// the stream ends without a usage chunk and its tokens must be counted.
func collectOpenAIText(data []byte, b *strings.Builder) {
	choices, ok, _ := jsonx.Get(data, "choices")
	if !ok || len(choices) < 3 {
		return
	}
	// The first choice: choices is an array; jsonx reads objects, so
	// unwrap "[{...}, ...]" to its first element.
	first := firstElement(choices)
	delta, ok, _ := jsonx.Get(first, "delta")
	if !ok {
		return
	}
	if s, _ := jsonx.GetString(delta, "content"); s != "" {
		b.WriteString(s)
	}
	if tc, ok, _ := jsonx.Get(delta, "tool_calls"); ok {
		if fn, ok, _ := jsonx.Get(firstElement(tc), "function"); ok {
			if s, _ := jsonx.GetString(fn, "arguments"); s != "" {
				b.WriteString(s)
			}
		}
	}
}

// firstElement returns the first element of a JSON array of objects.
func firstElement(arr []byte) []byte {
	arr = bytes.TrimSpace(arr)
	if len(arr) < 2 || arr[0] != '[' {
		return nil
	}
	depth, inStr, esc := 0, false, false
	start := -1
	for i := 1; i < len(arr); i++ {
		c := arr[i]
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{':
			if depth == 0 {
				start = i
			}
			depth++
		case c == '}':
			depth--
			if depth == 0 && start >= 0 {
				return arr[start : i+1]
			}
		}
	}
	return nil
}

// errGuardStop ends a stream a reply-side guardrail blocked.
var errGuardStop = errors.New("guardrail stopped the stream")

// guardStop ends a stream whose reply a guardrail blocked with an error
// event in the client's format: the text already sent stays sent, the
// rest never goes out.
func (s *Server) guardStop(emit func(llmapi.Event) error, c *call, rs *translate.ResponsesStream, forwarded int) (int, error) {
	blk := c.guard.Blocked()
	emitStreamError(emit, c, rs, forwarded, "guardrail_blocked", guardBlocked(blk))
	return http.StatusOK, blk
}

// emitStreamError ends a stream that already started with an error event
// in the client's format (a Responses stream's own failure events when
// credflow translates it).
func emitStreamError(emit func(llmapi.Event) error, c *call, rs *translate.ResponsesStream, forwarded int, code string, e *apiError) {
	switch {
	case rs != nil:
		rs.Fail(emit, code, e.Message)
	case c.endpoint == provider.Responses:
		emit(llmapi.Event{Name: "error", Data: responsesErrorEvent(code, e.Message, forwarded)})
	case c.client == provider.FormatAnthropic:
		emit(llmapi.Event{Name: "error", Data: errorBody(provider.FormatAnthropic, e)})
	default:
		emit(llmapi.Event{Data: errorBody(provider.FormatOpenAI, e)})
	}
}
