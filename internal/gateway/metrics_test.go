package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Cost is computed from the embedded price table, exposed per request and
// in /metrics; a model without a price is counted as unpriced, not free.
func TestCostAndMetrics(t *testing.T) {
	oa, _ := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.openai(e.key)
	ctx := context.Background()
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal(fixture(t, "openai-chat.json"), &fx)
	// gpt-4o: $2.50 in, $10.00 out per 1M tokens = 2.5 and 10 micro-dollars
	// per token; half-up rounding of the exact sum.
	wantMicros := (fx.Usage.PromptTokens*25 + fx.Usage.CompletionTokens*100 + 5) / 10
	ev := e.lastEvent()
	if !ev.CostKnown || ev.CostMicros != wantMicros {
		t.Fatalf("cost = %d known=%v, want %d", ev.CostMicros, ev.CostKnown, wantMicros)
	}
	// A model the price table does not know: its cost is unknown, not zero.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-mystery-9", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); ev.CostKnown || ev.CostMicros != 0 || ev.OutputTokens == 0 {
		t.Fatalf("an unknown model must be unpriced: %+v", ev)
	}
	// The built-in mock bills nothing: a known zero.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); !ev.CostKnown || ev.CostMicros != 0 {
		t.Fatalf("mock cost: %+v", ev)
	}
	// A second call goes through the series handles the first one made.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	// A refused request is counted under its own status.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "no-such-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, option.WithMaxRetries(0)); err == nil {
		t.Fatal("an unroutable model was served")
	}
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, absent := range []string{
		// Series exist only for what happened: no cost for an unpriced
		// model, no cached tokens where none were reported.
		`credflow_cost_usd_total{key="test",model="gpt-mystery-9"`,
		`credflow_tokens_total{key="test",kind="cached",model="gpt-4o"`,
	} {
		if strings.Contains(string(body), absent) {
			t.Errorf("/metrics has %s", absent)
		}
	}
	for _, want := range []string{
		`credflow_requests_total{key="test",model="gpt-4o",provider="openai",status="200"} 2`,
		`credflow_requests_total{key="test",model="no-such-model",provider="",status="404"} 1`,
		`credflow_tokens_total{key="test",kind="output",model="gpt-4o",provider="openai"} ` + itoa(2*fx.Usage.CompletionTokens),
		`credflow_unpriced_requests_total{key="test",model="gpt-mystery-9",provider="openai"} 1`,
		`credflow_cost_usd_total{key="test",model="gpt-4o",provider="openai"}`,
		`credflow_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), e.key) || strings.Contains(string(body), upstreamOpenAIKey) {
		t.Fatal("/metrics contains a key value")
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
