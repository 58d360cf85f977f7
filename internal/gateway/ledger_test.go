package gateway_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
)

// Under 100 concurrent clients through the real gateway, the ledger's
// totals equal exactly the sum of what the upstream reported, once the
// gateway has stopped (a graceful stop flushes everything).
func TestLedgerTotalsUnderConcurrency(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	c := e.openai(e.key)
	var mu sync.Mutex
	var in, out, n int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				model := "mock"
				if (i+j)%2 == 0 {
					model = "gpt-4o"
				}
				resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("request number " + itoa(int64(i*10+j)))}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				in += resp.Usage.PromptTokens
				out += resp.Usage.CompletionTokens
				n++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	e.cancel()
	select {
	case <-e.done:
		e.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not stop")
	}
	db, err := store.Open(filepath.Join(e.dataDir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := ledger.Check(db); err != nil {
		t.Fatalf("rollups disagree with records: %v", err)
	}
	rows, err := ledger.Usage(db, ledger.Query{Since: time.Now().Add(-time.Hour), By: []ledger.Dim{ledger.DimModel}})
	if err != nil {
		t.Fatal(err)
	}
	var got ledger.Counters
	for _, r := range rows {
		got.Requests += r.Requests
		got.Input += r.Input
		got.Output += r.Output
		got.Cost += r.Cost
	}
	if got.Requests != n || got.Input != in || got.Output != out {
		t.Fatalf("ledger: %d requests, %d in, %d out; upstream reported %d, %d, %d", got.Requests, got.Input, got.Output, n, in, out)
	}
	if got.Cost == 0 {
		t.Fatal("priced requests (gpt-4o) cost nothing in the ledger")
	}
	recent, err := ledger.Recent(db, ledger.Filter{Limit: 1000})
	if err != nil || int64(len(recent)) != n {
		t.Fatalf("%d raw records, want %d (%v)", len(recent), n, err)
	}
}

// A restarted gateway remembers what a budgeted key already spent.
func TestBudgetSurvivesRestart(t *testing.T) {
	e := startGateway(t, mockOnly, nil, nil)
	key := e.keyWith("daily", adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 300, Unit: "tokens", Period: "day"}}})
	params := openai.ChatCompletionNewParams{Model: "mock", MaxTokens: openai.Int(5),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	c := e.openai(key)
	spent := int64(0)
	for {
		resp, err := c.Chat.Completions.New(context.Background(), params)
		if err != nil {
			break
		}
		spent += resp.Usage.TotalTokens
	}
	if spent == 0 {
		t.Fatal("nothing was admitted")
	}
	e.restart()
	c = e.openai(key)
	_, err := c.Chat.Completions.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.Code != "budget_exceeded" {
		t.Fatalf("after a restart the spent budget (%d tokens) was forgotten: %v", spent, err)
	}
}
