package gateway_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"fmt"
	"io"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// keyWith creates a virtual key with a policy in the gateway's data file and
// reloads the gateway so it knows the key.
func (e *env) keyWith(name string, p adminapi.Policy) string {
	e.t.Helper()
	db, err := store.Open(filepath.Join(e.dataDir, store.FileName), store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	plain, _, err := keys.New(db, keys.Options{}).Create(name, keys.CreateOptions{Policy: p})
	db.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.srv.Reload(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return plain
}

const mockOnly = `
providers:
  mock:
    type: mock
    mock: {reply: "four words of reply"}
  priced:
    type: mock
    mock: {reply: "four words of reply"}
  local:
    type: openai-compatible
    base_url: http://127.0.0.1:9/v1
routes:
  - model: local-model
    targets: [local]
  - model: mock
    targets: [mock]
  - model: gpt-4o
    targets: [priced]
prices:
  priced/gpt-4o: {input: "2.50", output: "10.00"}
`

// Many concurrent clients against one small hard token budget: requests
// that state max_tokens are reserved at an upper bound of their cost, so
// the budget is never exceeded, and refusals are 429s that say which budget.
func TestHardBudgetUnderConcurrency(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	const limit = 1000
	key := e.keyWith("tight", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: limit, Unit: "tokens", Period: "day"}}})
	c := e.openai(key)
	var mu sync.Mutex
	var used int64
	ok, refused := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model: "mock", MaxTokens: openai.Int(20),
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
				})
				mu.Lock()
				if err == nil {
					ok++
					used += resp.Usage.TotalTokens
				} else {
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "budget_exceeded" ||
						!strings.Contains(apiErr.Message, `reached its hard budget of 1000 tokens/day`) || apiErr.Response.Header.Get("Retry-After") == "" {
						t.Errorf("refusal: %v", err)
					}
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if used > limit {
		t.Fatalf("overspent: %d tokens of a %d budget", used, limit)
	}
	if ok == 0 || refused == 0 {
		t.Fatalf("ok %d, refused %d: the budget was never reached or never admitted", ok, refused)
	}
	// /metrics reports what is left.
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`credflow_budget_remaining{budget="1000 tokens/day",key="tight",period="day",soft="false",unit="tokens"} %d`, limit-used)
	if !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

func TestDollarBudgetAndUnpricedModel(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	key := e.keyWith("dollars", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 1_000_000, Unit: "usd", Period: "month"}}})
	c := e.openai(key)
	ctx := context.Background()
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", MaxTokens: openai.Int(10),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); !ev.CostKnown || ev.CostMicros == 0 {
		t.Fatalf("priced override not applied: %+v", ev)
	}
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "local-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "unpriced_model" {
		t.Fatalf("a dollar-budget key on an unpriced model: %v", err)
	}
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	key := e.keyWith("rl", adminapi.Policy{RPM: 2, TPM: 100000})
	c := e.openai(key)
	params := openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	var httpResp *http.Response
	if _, err := c.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&httpResp)); err != nil {
		t.Fatal(err)
	}
	if httpResp.Header.Get("X-Ratelimit-Limit-Requests") != "2" || httpResp.Header.Get("X-Ratelimit-Remaining-Requests") != "1" {
		t.Fatalf("headers: %v", httpResp.Header)
	}
	c.Chat.Completions.New(context.Background(), params)
	_, err := c.Chat.Completions.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("3rd request with rpm 2: %v", err)
	}
}

// TestSequentialStreamsUnderMaxConcurrentOne: a client that streams one
// request after another, starting each as soon as it has read the last
// one's end, is never refused by max_concurrent 1 (the slot is freed
// before the final event goes out, not when accounting runs after it).
func TestSequentialStreamsUnderMaxConcurrentOne(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	key := e.keyWith("one-at-a-time", adminapi.Policy{MaxConcurrent: 1})
	oc := e.openai(key)
	ac := e.anthropic(key)
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		s := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		for s.Next() {
		}
		if err := s.Err(); err != nil {
			t.Fatalf("openai stream %d: %v", i, err)
		}
		as := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "mock", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		for as.Next() {
		}
		if err := as.Err(); err != nil {
			t.Fatalf("anthropic stream %d: %v", i, err)
		}
	}
}

// TestSequentialStreamsAtBudgetEdge: a stream's usage is settled before its
// last event goes out, so a client that streams one request after another
// is refused only when the budget itself is spent, never because the
// previous request's reservation is still held. The budget leaves room for
// exactly n requests when each is settled in time, and half a reservation
// less than two requests' reservations at the end.
func TestSequentialStreamsAtBudgetEdge(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	var bodyLen atomic.Int64
	measure := option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		bodyLen.Store(r.ContentLength)
		return next(r)
	})
	params := openai.ChatCompletionNewParams{Model: "mock", MaxTokens: openai.Int(10),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	stream := func(c openai.Client) error {
		s := c.Chat.Completions.NewStreaming(context.Background(), params, measure)
		for s.Next() {
		}
		return s.Err()
	}
	// What one request really uses, measured with an unlimited key.
	if err := stream(e.openai(e.key)); err != nil {
		t.Fatal(err)
	}
	ev := e.lastEvent()
	used := ev.InputTokens + ev.OutputTokens
	est := bodyLen.Load() + 10 // the limiter's estimate: body bytes + max_tokens
	if used == 0 || est <= 10 || est/2 <= used {
		t.Fatalf("used %d, estimate %d: the test needs a request that uses less than half its estimate", used, est)
	}
	const n = 20
	budget := (n-1)*used + est + est/2
	key := e.keyWith("edge", adminapi.Policy{Budgets: []adminapi.Budget{{Unit: adminapi.UnitTokens, Period: adminapi.PeriodDay, Limit: budget}}})
	c := e.openai(key)
	// Admitted exactly while the settled spend plus one estimate fits.
	want := int64(0)
	for want*used+est <= budget {
		want++
	}
	for i := int64(0); i <= want; i++ {
		err := stream(c)
		if i < want && err != nil {
			t.Fatalf("request %d refused with %d of %d tokens settled (the previous stream's reservation still held?): %v", i+1, i*used, budget, err)
		}
		if i == want && err == nil {
			t.Errorf("request %d admitted with %d of %d tokens used and an estimate of %d", i+1, i*used, budget, est)
		}
	}
}
