package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
)

// The tests here attack the request path as a hostile key holder would,
// with raw bodies: output caps that would make a reservation negative or
// wrap, repeated fields, upstreams that echo the provider key, slow bodies.

// longReply makes the mock answer far more than any cap in these tests:
// an upstream that ignores the output cap.
var longReply = strings.Repeat("lorem ipsum dolor sit amet ", 60)

const capConfig = `
providers:
  mock:
    type: mock
    mock: {reply: "` + "REPLY" + `", latency: LATENCY}
  priced:
    type: mock
    mock: {reply: "` + "REPLY" + `", latency: LATENCY}
routes:
  - model: mock
    targets: [mock]
  - model: gpt-4o
    targets: [priced]
prices:
  priced/gpt-4o: {input: "2.50", output: "10.00"}
`

func capGateway(t *testing.T, reply string, latency time.Duration) *env {
	cfg := strings.ReplaceAll(strings.ReplaceAll(capConfig, "REPLY", reply), "LATENCY", latency.String())
	return startGateway(t, cfg, nil, nil)
}

// post sends a raw body with a key and returns the status and body.
func (e *env) post(key, path, body string) (int, []byte) {
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func budgetUsed(t *testing.T, e *env, key string) adminapi.BudgetStatus {
	t.Helper()
	st, err := adminapi.NewClient(e.srv.AdminSocket()).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, kb := range st.Budgets {
		if kb.Key == key && len(kb.Budgets) > 0 {
			return kb.Budgets[0]
		}
	}
	t.Fatalf("no budget for key %s in %+v", key, st.Budgets)
	return adminapi.BudgetStatus{}
}

// Output caps that are negative, zero, fractional, written as text or past
// 2^31-1 are a 400 naming the field on every endpoint, before anything is
// reserved or sent upstream.
func TestOutputCapsValidated(t *testing.T) {
	e := capGateway(t, "ok", 0)
	for _, c := range []struct{ path, field, value string }{
		{"/v1/chat/completions", "max_completion_tokens", "-1000000000"},
		{"/v1/chat/completions", "max_tokens", "0"},
		{"/v1/chat/completions", "max_tokens", "12.5"},
		{"/v1/chat/completions", "max_completion_tokens", "9223372036854775808"},
		{"/v1/chat/completions", "max_tokens", `"100"`},
		{"/v1/messages", "max_tokens", "-5"},
		{"/v1/messages", "max_tokens", "4294967296"},
		{"/v1/responses", "max_output_tokens", "-1"},
		{"/v1/responses", "max_output_tokens", "1e9"},
		{"/v1/completions", "max_tokens", "-1"},
	} {
		body := `{"model":"mock","messages":[{"role":"user","content":"hi"}],"input":"hi","prompt":"hi","` + c.field + `":` + c.value + `}`
		status, resp := e.post(e.key, c.path, body)
		if status != 400 || !strings.Contains(string(resp), c.field) || !strings.Contains(string(resp), "whole number from 1 to 2147483647") {
			t.Errorf("%s %s=%s: %d %s", c.path, c.field, c.value, status, resp)
		}
	}
	// A valid cap passes.
	if status, resp := e.post(e.key, "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"hi"}],"max_tokens":2147483647}`); status != 200 {
		t.Errorf("max_tokens 2^31-1: %d %s", status, resp)
	}
}

// Many clients at once against tiny token and dollar budgets and a
// tokens-per-minute limit, with an upstream that ignores the output cap:
// spend stays within the bound package limits states (k times the limit,
// k the largest ratio of a request's real cost to its reservation), and
// within the limit itself when every request costs less than it reserved.
// Before the fix, a negative cap made every reservation negative and all
// 100 requests ran.
func TestConcurrentBudgetsHoldAgainstHostileCaps(t *testing.T) {
	const clients = 100
	body := func(model, capField string, cap int) string {
		return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello there"}],%q:%d}`, model, capField, cap)
	}
	type result struct {
		ok, refused, other int
		usage              []int64 // real tokens of each admitted request
	}
	run := func(e *env, key, path, b string) result {
		var mu sync.Mutex
		var r result
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, resp := e.post(key, path, b)
				mu.Lock()
				defer mu.Unlock()
				switch status {
				case 200:
					r.ok++
					var u struct {
						Usage struct {
							TotalTokens int64 `json:"total_tokens"`
						} `json:"usage"`
					}
					json.Unmarshal(resp, &u)
					r.usage = append(r.usage, u.Usage.TotalTokens)
				case 429:
					r.refused++
				default:
					r.other++
					t.Errorf("unexpected %d %s", status, resp)
				}
			}()
		}
		close(start)
		wg.Wait()
		return r
	}
	// The hostile request of the report: a negative cap is now a 400, so
	// not one of them runs.
	t.Run("negative cap", func(t *testing.T) {
		e := capGateway(t, longReply, 0)
		key := e.keyWith("tight", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 100, Unit: "tokens", Period: "day"}}})
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, resp := e.post(key, "/v1/chat/completions", body("mock", "max_completion_tokens", -1000000000)); status != 400 {
					t.Errorf("negative cap: %d %s", status, resp)
				}
			}()
		}
		wg.Wait()
		if used := budgetUsed(t, e, "tight").Used; used != 0 {
			t.Fatalf("spent %d tokens of a 100-token budget with refused requests", used)
		}
	})
	t.Run("tokens", func(t *testing.T) {
		e := capGateway(t, longReply, 20*time.Millisecond)
		const limit = 3000
		key := e.keyWith("tokens", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: limit, Unit: "tokens", Period: "day"}}})
		b := body("mock", "max_tokens", 1)
		r := run(e, key, "/v1/chat/completions", b)
		reserved := int64(len(b) + 1)
		k := 1.0
		var sum int64
		for _, u := range r.usage {
			k = max(k, float64(u)/float64(reserved))
			sum += u
		}
		used := budgetUsed(t, e, "tokens").Used
		if used != sum {
			t.Errorf("budget counts %d tokens, the responses report %d", used, sum)
		}
		if r.ok == 0 || r.refused == 0 || float64(used) > k*limit {
			t.Fatalf("ok %d refused %d: spent %d tokens, bound k*limit = %.1f*%d", r.ok, r.refused, used, k, limit)
		}
		if k <= 1 {
			t.Fatalf("the upstream did not ignore the cap (k=%.2f): this test proves nothing", k)
		}
		t.Logf("ok %d refused %d spent %d bound %.0f (k %.2f)", r.ok, r.refused, used, k*limit, k)
	})
	t.Run("dollars", func(t *testing.T) {
		e := capGateway(t, longReply, 20*time.Millisecond)
		const limit = 1000 // $0.001
		key := e.keyWith("dollars", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: limit, Unit: "usd", Period: "day"}}})
		b := body("gpt-4o", "max_completion_tokens", 1)
		r := run(e, key, "/v1/chat/completions", b)
		// Reservation: the body's bytes at $2.50/M and one output token
		// at $10/M, plus a micro-dollar; a real request costs its input
		// at $2.50/M and its (long) output at $10/M.
		reserved := (float64(len(b))*2.5+10)/1e6*1e6 + 1
		used := budgetUsed(t, e, "dollars").Used
		if r.ok == 0 || r.refused == 0 {
			t.Fatalf("ok %d refused %d", r.ok, r.refused)
		}
		perRequest := float64(used) / float64(r.ok)
		k := max(1, perRequest/reserved)
		if float64(used) > k*limit*1.01 {
			t.Fatalf("spent %d micro-dollars of a %d budget; bound %.0f (k %.2f)", used, limit, k*limit, k)
		}
		// Without the fix all 100 ran; with it only what fits in flight.
		if r.ok > int(limit/reserved)+1 {
			t.Fatalf("%d requests admitted at once on a budget that holds %d reservations", r.ok, int(limit/reserved))
		}
	})
	t.Run("tpm", func(t *testing.T) {
		// Slow requests that each reserve 1/6 of the minute's tokens:
		// in-flight reservations count, so no more than 6 run at once.
		e := capGateway(t, "four words of reply", 300*time.Millisecond)
		b := body("mock", "max_tokens", 50)
		reservation := len(b) + 50
		tpm := 6*reservation + reservation/2
		key := e.keyWith("tpm", adminapi.Policy{TPM: tpm})
		r := run(e, key, "/v1/chat/completions", b)
		var sum int64
		for _, u := range r.usage {
			sum += u
		}
		if r.ok == 0 || r.refused == 0 || r.ok > 6 || sum > int64(tpm) {
			t.Fatalf("tpm %d: ok %d refused %d, %d tokens in the minute (before the fix all %d ran)", tpm, r.ok, r.refused, sum, clients)
		}
	})
}

// Responses API traffic is accounted from its own usage shape, streams
// included, so its budget holds like any other.
func TestResponsesUsageAccounted(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if strings.Contains(r.Header.Get("Accept"), "event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n")
			io.WriteString(w, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi\"}\n\n")
			io.WriteString(w, "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":120,\"input_tokens_details\":{\"cached_tokens\":20},\"output_tokens\":30,\"output_tokens_details\":{\"reasoning_tokens\":10},\"total_tokens\":150}}}\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"resp_2","object":"response","status":"completed","output":[],"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":0},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":140}}`)
	}))
	t.Cleanup(up.Close)
	e := startGateway(t, `
providers:
  up:
    type: openai-compatible
    base_url: `+up.URL+`
    responses: true
routes:
  - model: gpt-x
    targets: [up]
`, nil, nil)
	key := e.keyWith("resp", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 1000, Unit: "tokens", Period: "day"}}})
	if status, resp := e.post(key, "/v1/responses", `{"model":"gpt-x","input":"hi","max_output_tokens":50}`); status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	if ev := e.lastEvent(); ev.InputTokens != 100 || ev.OutputTokens != 40 || ev.Estimated {
		t.Fatalf("non-streaming responses usage: %+v", ev)
	}
	if status, resp := e.post(key, "/v1/responses", `{"model":"gpt-x","input":"hi","stream":true,"max_output_tokens":50}`); status != 200 || !strings.Contains(string(resp), "response.completed") {
		t.Fatalf("%d %s", status, resp)
	}
	if ev := e.lastEvent(); ev.InputTokens != 120 || ev.OutputTokens != 30 || ev.CachedTokens != 20 || ev.ReasoningTokens != 10 || ev.Estimated {
		t.Fatalf("streamed responses usage: %+v", ev)
	}
	if used := budgetUsed(t, e, "resp").Used; used != 290 {
		t.Fatalf("budget used %d, want 290", used)
	}
}

// A body with two "model" fields (or one in another case) is refused: the
// gateway would check, route and price the first while an upstream that
// keeps the last ran a model the key may not use.
func TestDuplicateFieldsRefused(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	key := e.keyWith("scoped", adminapi.Policy{})
	e.setModels(t, "scoped", "gpt-4o-mini")
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"model":"gpt-5-pro"}`,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"Model":"gpt-5-pro"}`,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mod\u0065l":"gpt-5-pro"}`,
		`{"model":"gpt-4o-mini","messages":[],"stream":false,"stream":true}`,
		`{"model":"gpt-4o-mini","messages":[],"max_tokens":5,"max_tokens":500000}`,
		`{"model":"gpt-4o-mini","messages":[],"MAX_TOKENS":500000}`,
	} {
		status, resp := e.post(key, "/v1/chat/completions", body)
		if status != 400 {
			t.Errorf("%s: %d %s", body, status, resp)
		}
	}
	if n := seen.count(); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}
	if status, resp := e.post(key, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("a clean request: %d %s", status, resp)
	}
}

// setModels restricts a key to model patterns and reloads the gateway.
func (e *env) setModels(t *testing.T, name string, models ...string) {
	t.Helper()
	c := adminapi.NewClient(e.srv.AdminSocket())
	if _, err := c.UpdateKey(context.Background(), name, adminapi.UpdateKeyRequest{Models: &models}); err != nil {
		t.Fatal(err)
	}
}

// echoUpstreams answer every call with an error that repeats the key they
// were sent, as OpenAI's "Incorrect API key provided: sk-…" does: in the
// body of a 401, and as an error event in a 200 stream.
func echoUpstreams(t *testing.T) (oa, an *httptest.Server) {
	stream := func(r *http.Request) bool {
		var req struct {
			Stream bool `json:"stream"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		return req.Stream
	}
	oa = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		msg, _ := json.Marshal("Incorrect API key provided: " + key + ". You can find your API key at https://platform.openai.com/account/api-keys.")
		if stream(r) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"error\":{\"message\":%s,\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}\n\n", msg)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"error":{"message":%s,"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, msg)
	}))
	an = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Escaped, to check the masking sees through JSON escapes.
		key := strings.ReplaceAll(r.Header.Get("X-Api-Key"), "-", `\u002d`)
		if stream(r) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key %s\"}}\n\n", key)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key %s"}}`, key)
	}))
	t.Cleanup(oa.Close)
	t.Cleanup(an.Close)
	return oa, an
}

// No error body or error event that reaches a client holds a provider
// key: passed through or translated, both formats, streams included.
func TestProviderKeysScrubbedFromErrors(t *testing.T) {
	oa, an := echoUpstreams(t)
	e := startGateway(t, baseConfig, oa, an)
	chat := `"messages":[{"role":"user","content":"hi"}],"max_tokens":10`
	for _, c := range []struct{ path, model, rest string }{
		{"/v1/chat/completions", "gpt-4o", chat},   // pass-through
		{"/v1/chat/completions", "claude-x", chat}, // translated
		{"/v1/messages", "claude-x", chat},         // pass-through
		{"/v1/messages", "gpt-4o", chat},           // translated
		{"/v1/responses", "gpt-4o", `"input":"hi"`},
		{"/v1/embeddings", "gpt-4o", `"input":"hi"`},
		{"/v1/messages/count_tokens", "claude-x", `"messages":[{"role":"user","content":"hi"}]`},
	} {
		for _, stream := range []bool{false, true} {
			if stream && (c.path == "/v1/embeddings" || c.path == "/v1/messages/count_tokens") {
				continue
			}
			body := fmt.Sprintf(`{"model":%q,%s,"stream":%v}`, c.model, c.rest, stream)
			status, resp := e.post(e.key, c.path, body)
			for _, secret := range []string{upstreamOpenAIKey, upstreamAnthropicKey, `sk\u002dant`} {
				if strings.Contains(string(resp), secret) {
					t.Errorf("%s %s stream=%v: %d leaks a provider key: %s", c.path, c.model, stream, status, resp)
				}
			}
			if !strings.Contains(string(resp), "<concealed by credflow>") {
				t.Errorf("%s %s stream=%v: %d the echoed key was not masked: %s", c.path, c.model, stream, status, resp)
			}
		}
	}
}

// A slow or silent client cannot hold a connection: a body trickling in,
// or an unauthenticated POST that never sends the body it declared, is cut
// after server.body_timeout; an idle keep-alive connection after
// server.idle_timeout. Both HTTP servers.
func TestSlowClientsAreCut(t *testing.T) {
	for _, hs := range []string{"lean", "net/http"} {
		t.Run(hs, func(t *testing.T) {
			e := startGateway(t, `
server:
  http_server: `+hs+`
  body_timeout: 1s
  idle_timeout: 1s
providers:
  mock:
    type: mock
routes:
  - model: mock
    targets: [mock]
`, nil, nil)
			// cut dials, writes head and the first part of a body, then
			// reports how long the server kept the connection open.
			cut := func(t *testing.T, head, trickle string) (time.Duration, string) {
				conn, err := net.Dial("tcp", e.srv.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				start := time.Now()
				io.WriteString(conn, head)
				stop := make(chan struct{})
				defer close(stop)
				if trickle != "" {
					go func() {
						for i := 0; ; i++ {
							select {
							case <-stop:
								return
							case <-time.After(400 * time.Millisecond):
							}
							if _, err := io.WriteString(conn, trickle[i%len(trickle):i%len(trickle)+1]); err != nil {
								return
							}
						}
					}()
				}
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				got, _ := io.ReadAll(bufio.NewReader(conn))
				return time.Since(start), string(got)
			}
			body := `{"model":"mock","messages":[{"role":"user","content":"hi"}]}`
			t.Run("trickling body", func(t *testing.T) {
				head := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", e.key, len(body))
				took, _ := cut(t, head, body)
				if took > 4*time.Second {
					t.Fatalf("a body trickling one byte per 400ms held the connection %v (body_timeout 1s)", took)
				}
				if ev := e.lastEvent(); ev.Status != 408 && ev.Status != 499 {
					t.Fatalf("the cut request is recorded as %d (%s)", ev.Status, ev.Error)
				}
			})
			t.Run("unauthenticated body never sent", func(t *testing.T) {
				head := "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
				took, got := cut(t, head, "")
				if took > 4*time.Second {
					t.Fatalf("an unauthenticated request that never sends its body held the connection %v", took)
				}
				if !strings.HasPrefix(got, "HTTP/1.1 401") {
					t.Fatalf("no 401 before the cut: %q", got)
				}
			})
			t.Run("idle keep-alive", func(t *testing.T) {
				req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", e.key, len(body), body)
				took, got := cut(t, req, "")
				if took > 4*time.Second || !strings.HasPrefix(got, "HTTP/1.1 200") {
					t.Fatalf("an idle keep-alive connection stayed open %v (idle_timeout 1s): %q", took, got)
				}
			})
		})
	}
}
