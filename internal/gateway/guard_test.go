package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// echoUpstream answers in both formats with the last user text, streamed
// three bytes a chunk (so a placeholder in it arrives split), and keeps
// the bytes it got.
func echoUpstream(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.add(r, body)
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		json.Unmarshal(body, &req)
		last := ""
		for _, m := range req.Messages {
			if m.Role != "user" {
				continue
			}
			var str string
			if json.Unmarshal(m.Content, &str) == nil {
				last = str
				continue
			}
			var parts []struct{ Text string }
			json.Unmarshal(m.Content, &parts)
			for _, p := range parts {
				last = p.Text
			}
		}
		reply := "You said: " + last
		anth := strings.HasSuffix(r.URL.Path, "/messages")
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			if anth {
				fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%s,"content":[{"type":"text","text":%s}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}`, q(req.Model), q(reply))
				return
			}
			fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%s,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, q(req.Model), q(reply))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		send := func(name, data string) {
			if name != "" {
				fmt.Fprintf(w, "event: %s\n", name)
			}
			fmt.Fprintf(w, "data: %s\n\n", data)
			fl.Flush()
		}
		var pieces []string
		for i := 0; i < len(reply); i += 3 {
			pieces = append(pieces, reply[i:min(i+3, len(reply))])
		}
		if anth {
			send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":%s,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}`, q(req.Model)))
			send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
			for _, p := range pieces {
				send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%s}}`, q(p)))
			}
			send("content_block_stop", `{"type":"content_block_stop","index":0}`)
			send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`)
			send("message_stop", `{"type":"message_stop"}`)
			return
		}
		send("", fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":%s,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`, q(req.Model)))
		for _, p := range pieces {
			send("", fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":%s,"choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}`, q(req.Model), q(p)))
		}
		send("", fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":%s,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, q(req.Model)))
		send("", fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":%s,"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, q(req.Model)))
		send("", "[DONE]")
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

const echoConfig = `
providers:
  openai:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
  anthropic:
    type: anthropic
    base_url: {{ANTHROPIC}}
    secret: anthropic
routes:
  - model: "claude-*"
    targets: [anthropic]
  - model: "*"
    targets: [openai]
`

// A vault secret or a virtual key pasted into a prompt is refused with no
// guardrails configured, in each client's own error format, and nothing
// reaches the upstream.
func TestGuardBlocksPastedCredentialsByDefault(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, echoConfig, up, up)
	ctx := context.Background()
	oc, ac := e.openai(e.key), e.anthropic(e.key)
	for _, leak := range []string{upstreamAnthropicKey, e.key} {
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("please debug with my key " + leak + " thanks")}})
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Code != "guardrail_blocked" || !strings.Contains(oe.Message, `guardrail "credentials"`) {
			t.Fatalf("openai client: %v", err)
		}
		if strings.Contains(oe.RawJSON(), leak) {
			t.Fatal("the error repeats the secret")
		}
		_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 10,
			System:   []anthropic.TextBlockParam{{Text: "key: " + leak}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.RawJSON(), `"invalid_request_error"`) || !strings.Contains(ae.RawJSON(), `guardrail \"credentials\"`) {
			t.Fatalf("anthropic client: %v", err)
		}
	}
	if seen.count() != 0 {
		t.Fatalf("the upstream got %d requests carrying a credential", seen.count())
	}
	ev := e.lastEvent()
	if ev.Status != 400 || len(ev.Guard) != 1 || ev.Guard[0].Rule != "credentials" || ev.Guard[0].Action != "block" || ev.Guard[0].Count != 1 || ev.Guard[0].Detector != "virtual_key" {
		t.Fatalf("event %+v", ev)
	}
	// A JSON escape does not hide one; an ordinary request passes.
	status, _, body := e.raw("/v1/chat/completions", `{"model":"gpt-x","messages":[{"role":"user","content":"`+strings.Replace(upstreamAnthropicKey, "-", `\u002d`, 1)+`"}]}`)
	if status != 400 {
		t.Fatalf("escaped secret: %d %s", status, body)
	}
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("an sk-ant- prefix alone is fine")}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), upstreamAnthropicKey) || strings.Contains(e.logs.String(), e.key) {
		t.Fatal("the log holds a credential")
	}
	// guardrails: [] turns scanning off.
	e.setConfig(e.cfgText + "guardrails: []\n")
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(upstreamAnthropicKey)}}); err != nil {
		t.Fatalf("with guardrails off: %v", err)
	}
}

const piiRules = `
guardrails:
  - name: pii
    detect: [email, card]
    action: %s
  - name: tickets
    detect: [{regex: 'TICKET-[0-9]{4}', label: ticket}]
    action: mask
    keys: ["test"]
`

// Masked values never reach the upstream, wherever the text is: system
// prompt, messages, tool-call arguments and tool results.
func TestGuardMaskUpstreamBytes(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, echoConfig+fmt.Sprintf(piiRules, "mask"), up, up)
	ctx := context.Background()
	oc, ac := e.openai(e.key), e.anthropic(e.key)
	const email, card = "alice@example.com", "4111 1111 1111 1111"
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("The user is " + email),
			openai.UserMessage("Charge card " + card + " for TICKET-1234"),
			{OfAssistant: &openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: "call_1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "lookup", Arguments: `{"email":"` + email + `"}`}}}}}},
			openai.ToolMessage("found "+email, "call_1"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(seen.bodies[len(seen.bodies)-1])
	if strings.Contains(got, email) || strings.Contains(got, card) || strings.Contains(got, "TICKET-1234") {
		t.Fatalf("upstream got an original value: %s", got)
	}
	if strings.Count(got, "[EMAIL]") != 3 || !strings.Contains(got, "[CARD]") || !strings.Contains(got, "[TICKET]") || !strings.Contains(got, `{\"email\":\"[EMAIL]\"}`) {
		t.Fatalf("upstream body: %s", got)
	}
	ev := e.lastEvent()
	counts := map[string]int{}
	for _, h := range ev.Guard {
		counts[h.Rule+"/"+h.Detector+"/"+h.Side] += h.Count
	}
	if counts["pii/email/request"] != 3 || counts["pii/card/request"] != 1 || counts["tickets/ticket/request"] != 1 {
		t.Fatalf("hits %+v", ev.Guard)
	}
	// Messages through the Anthropic format, translated to Chat: same.
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-x", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("mail " + email))}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(seen.bodies[len(seen.bodies)-1]); strings.Contains(got, email) || !strings.Contains(got, "mail [EMAIL]") {
		t.Fatalf("translated upstream body: %s", got)
	}
	// Responses translated to Messages.
	_, err = oc.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-x", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("mail " + email)}, Store: openai.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(seen.bodies[len(seen.bodies)-1]); strings.Contains(got, email) || !strings.Contains(got, "mail [EMAIL]") {
		t.Fatalf("responses upstream body: %s", got)
	}
}

// A tokenized value goes upstream as a placeholder and comes back as the
// original, also when the stream splits the placeholder across chunks.
func TestGuardTokenizeRoundTrip(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, echoConfig+fmt.Sprintf(piiRules, "tokenize"), up, up)
	ctx := context.Background()
	oc, ac := e.openai(e.key), e.anthropic(e.key)
	const email = "alice@example.com"
	const prompt = "write to " + email + " and " + email + " now"
	// Chat, streamed.
	st := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}})
	var text strings.Builder
	chunks := 0
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
			chunks++
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "You said: "+prompt {
		t.Fatalf("client got %q", text.String())
	}
	got := string(seen.bodies[len(seen.bodies)-1])
	if strings.Contains(got, email) || !strings.Contains(got, "write to [EMAIL_1] and [EMAIL_1] now") {
		t.Fatalf("upstream got %s", got)
	}
	if chunks < 10 {
		t.Fatalf("only %d chunks: the test no longer splits placeholders", chunks)
	}
	// Messages, streamed, on an Anthropic upstream.
	as := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 50,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}})
	text.Reset()
	for as.Next() {
		if ev := as.Current(); ev.Type == "content_block_delta" {
			text.WriteString(ev.Delta.Text)
		}
	}
	if err := as.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "You said: "+prompt {
		t.Fatalf("anthropic client got %q", text.String())
	}
	// Responses, streamed and translated to Chat; and not streamed.
	rs := oc.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-x", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}, Store: openai.Bool(false)})
	text.Reset()
	done := ""
	for rs.Next() {
		switch ev := rs.Current(); ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.output_text.done":
			done = ev.Text
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "You said: "+prompt || done != text.String() {
		t.Fatalf("responses client got %q (done %q)", text.String(), done)
	}
	resp, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}})
	if err != nil || resp.Choices[0].Message.Content != "You said: "+prompt {
		t.Fatalf("non-streamed: %v %+v", err, resp)
	}
}

// A reply-side rule masks what the model says, streamed or not.
func TestGuardReplySide(t *testing.T) {
	up, _ := echoUpstream(t)
	e := startGateway(t, echoConfig+`
guardrails:
  - name: out
    detect: [phone]
    action: mask
    on: [reply]
  - name: no-secrets-out
    detect: [words: [classified]]
    action: block
    on: [reply]
`, up, up)
	ctx := context.Background()
	oc := e.openai(e.key)
	const phone = "+1 415 555 0132"
	st := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("call " + phone + " " + strings.Repeat("la ", 200))}})
	var text strings.Builder
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), phone) || !strings.HasPrefix(text.String(), "You said: call [PHONE] la la") || !strings.HasSuffix(text.String(), "la ") {
		t.Fatalf("client got %q", text.String())
	}
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("this is classified")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.Code != "guardrail_blocked" || !strings.Contains(oe.Message, `reply was blocked by guardrail "no-secrets-out"`) {
		t.Fatalf("reply block: %v", err)
	}
}

// Policies route, deny and require guardrails per request; a reload with
// a broken rule is refused and the running rules stay.
func TestPolicies(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, echoConfig+`
guardrails:
  - name: strict-pii
    detect: [email]
    action: mask
    optional: true
policies:
  - name: downgrade
    when: 'key == "test" && model.startsWith("gpt-5") && !("x-urgent" in headers)'
    route: gpt-5-mini
  - name: no-embeddings-on-weekend
    when: 'endpoint == "embeddings" && weekday >= 6 && false'
    deny: "no embeddings at weekends"
  - name: audited
    when: 'model == "gpt-audit"'
    require: [strict-pii]
  - name: blocked-model
    when: 'model == "gpt-banned"'
    deny: "this model is off limits for the team"
`, up, up)
	ctx := context.Background()
	oc := e.openai(e.key)
	ask := func(model string, opts ...option.RequestOption) error {
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("mail bob@example.org")}}, opts...)
		return err
	}
	if err := ask("gpt-5"); err != nil {
		t.Fatal(err)
	}
	if body, _, _ := seen.last(t); body["model"] != "gpt-5-mini" {
		t.Fatalf("routed request went to %v", body["model"])
	}
	if ev := e.lastEvent(); ev.Model != "gpt-5" || ev.UpstreamModel != "gpt-5-mini" || ev.Policy != "downgrade: route gpt-5-mini" {
		t.Fatalf("event %+v", ev)
	}
	if err := ask("gpt-5", option.WithHeader("X-Urgent", "1")); err != nil {
		t.Fatal(err)
	}
	if body, _, _ := seen.last(t); body["model"] != "gpt-5" {
		t.Fatalf("a request the rule does not match went to %v", body["model"])
	}
	err := ask("gpt-banned")
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 403 || oe.Code != "policy_denied" || !strings.Contains(oe.Message, `policy "blocked-model": this model is off limits`) {
		t.Fatalf("deny: %v", err)
	}
	// An optional guardrail runs only where a policy requires it.
	if body, _, _ := seen.last(t); !strings.Contains(fmt.Sprint(body["messages"]), "bob@example.org") {
		t.Fatal("an optional guardrail ran without a policy asking")
	}
	if err := ask("gpt-audit"); err != nil {
		t.Fatal(err)
	}
	if raw := string(seen.bodies[len(seen.bodies)-1]); strings.Contains(raw, "bob@example.org") || !strings.Contains(raw, "[EMAIL]") {
		t.Fatalf("required guardrail did not run: %s", raw)
	}
	// A broken rule: the reload fails with file:line:column, the old rules stay.
	e.mu.Lock()
	old := e.cfgText
	e.cfgText = strings.Replace(old, `model == "gpt-banned"`, `model == `, 1)
	e.mu.Unlock()
	rerr := e.srv.Reload(ctx)
	if rerr == nil || !strings.Contains(rerr.Error(), "test.yaml:") || !strings.Contains(rerr.Error(), "column") || !strings.Contains(rerr.Error(), "blocked-model") {
		t.Fatalf("reload of a broken policy: %v", rerr)
	}
	if err := ask("gpt-banned"); !errors.As(err, &oe) || oe.Code != "policy_denied" {
		t.Fatalf("after a refused reload: %v", err)
	}
}

// A moderation rule calls the moderation model (the mock here) and blocks
// on its verdict; a moderation model that fails follows on_error.
func TestModeration(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, strings.Replace(echoConfig, "routes:\n", `  mock:
    type: mock
routes:
  - model: mock-moderation
    targets: [mock]
  - model: broken-moderation
    targets: [anthropic]
`, 1)+`
guardrails:
  - name: moderated
    moderation:
      model: mock-moderation
      thresholds: {violence: 0.5}
    action: block
    models: ["gpt-*"]
  - name: moderated-lenient
    moderation: {model: broken-moderation}
    action: block
    on_error: allow
    models: ["lenient-*"]
`, up, up)
	ctx := context.Background()
	oc := e.openai(e.key)
	ask := func(model, text string) error {
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}})
		return err
	}
	if err := ask("gpt-x", "a calm question"); err != nil {
		t.Fatal(err)
	}
	n := seen.count()
	err := ask("gpt-x", "a violent one [mock:violence]")
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.Code != "guardrail_blocked" || !strings.Contains(oe.Message, `guardrail "moderated"`) || !strings.Contains(oe.Message, "violence") {
		t.Fatalf("moderation block: %v", err)
	}
	if seen.count() != n {
		t.Fatal("a moderated request reached the upstream")
	}
	// The broken moderation model (an Anthropic provider has none): allowed, logged.
	if err := ask("lenient-x", "anything"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "moderation call failed; request allowed (on_error: allow)") {
		t.Fatalf("log: %s", e.logs.String())
	}
}

// A policy sees what the key has spent today.
func TestPolicySpend(t *testing.T) {
	up, _ := echoUpstream(t)
	e := startGateway(t, echoConfig+`
prices:
  gpt-dear: {input: "1000", output: "1000"}
policies:
  - name: cap
    when: 'spend >= 0.01 && model == "gpt-dear"'
    deny: "today's cap for gpt-dear is spent"
`, up, up)
	ctx := context.Background()
	oc := e.openai(e.key)
	ask := func() error {
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-dear",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); !ev.CostKnown || ev.CostMicros < 10_000 {
		t.Fatalf("the first request cost %+v", ev)
	}
	err := ask()
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.Code != "policy_denied" || !strings.Contains(oe.Message, "cap for gpt-dear") {
		t.Fatalf("after spending: %v", err)
	}
}

// A reply-side rule on a Responses stream masks the deltas and the final
// texts alike, and counts each value once.
func TestGuardReplySideResponses(t *testing.T) {
	up, _ := echoUpstream(t)
	e := startGateway(t, echoConfig+`
guardrails:
  - name: out
    detect: [phone]
    action: mask
    on: [reply]
`, up, up)
	const phone = "+1 415 555 0132"
	oc := e.openai(e.key)
	rs := oc.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "gpt-x",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("call " + phone + " please")}, Store: openai.Bool(false)})
	var text strings.Builder
	done, final := "", ""
	for rs.Next() {
		switch ev := rs.Current(); ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.output_text.done":
			done = ev.Text
		case "response.completed":
			final = ev.Response.OutputText()
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	want := "You said: call [PHONE] please"
	if text.String() != want || done != want || final != want {
		t.Fatalf("deltas %q, done %q, completed %q", text.String(), done, final)
	}
	ev := e.lastEvent()
	if len(ev.Guard) != 1 || ev.Guard[0].Count != 1 || ev.Guard[0].Side != "reply" {
		t.Fatalf("hits %+v", ev.Guard)
	}
}

// Embeddings inputs are scanned like any text, and a moderation rule on
// the reply side blocks a reply the moderation model flags.
func TestGuardEmbeddingsAndReplyModeration(t *testing.T) {
	up, seen := echoUpstream(t)
	e := startGateway(t, strings.Replace(echoConfig, "routes:\n", `  mock:
    type: mock
routes:
  - model: mock-moderation
    targets: [mock]
`, 1)+`
guardrails:
  - name: pii
    detect: [email]
    action: mask
  - name: out
    moderation: {model: mock-moderation}
    action: block
    on: [reply]
`, up, up)
	status, _, _ := e.raw("/v1/embeddings", `{"model":"text-embed","input":["mail carol@example.net","plain"]}`)
	if got := string(seen.bodies[len(seen.bodies)-1]); strings.Contains(got, "carol@example.net") || !strings.Contains(got, "mail [EMAIL]") {
		t.Fatalf("embeddings upstream body (status %d): %s", status, got)
	}
	oc := e.openai(e.key)
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a calm reply please")}}); err != nil {
		t.Fatal(err)
	}
	// The echo puts the trigger in the reply, where the rule looks.
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("repeat [mock:violence]")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.Code != "guardrail_blocked" || !strings.Contains(oe.Message, `reply was blocked by guardrail "out"`) {
		t.Fatalf("reply moderation: %v", err)
	}
	if ev := e.lastEvent(); len(ev.Guard) != 1 || ev.Guard[0].Side != "reply" || ev.Guard[0].Detector != "moderation:flagged" {
		t.Fatalf("hits %+v", ev.Guard)
	}
}
