package gateway_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
)

// The admin status reports today's spend (what the ledger held at start
// plus what was accounted since, a lower bound when some cost is unknown)
// and every budgeted key's budgets; both survive a restart and agree with
// the ledger.
func TestStatusTodayAndBudgets(t *testing.T) {
	oa, _ := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	capped := e.keyWith("capped", adminapi.Policy{Budgets: []adminapi.Budget{
		{Limit: 5_000_000, Unit: adminapi.UnitUSD, Period: adminapi.PeriodDay},
		{Limit: 100_000, Unit: adminapi.UnitTokens, Period: adminapi.PeriodMonth, Soft: true},
	}})
	ctx := context.Background()
	chat := func(key, model string) adminapi.Event {
		t.Helper()
		c := e.openai(key)
		if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, MaxTokens: openai.Int(50),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("how much today?")}}); err != nil {
			t.Fatal(err)
		}
		return e.lastEvent()
	}
	priced := chat(capped, "gpt-4o")
	chat(e.key, "gpt-mystery-9") // no known price
	chat(e.key, "mock")          // a known zero
	if !priced.CostKnown || priced.CostMicros == 0 {
		t.Fatalf("gpt-4o is not priced: %+v", priced)
	}

	admin := adminapi.NewClient(e.srv.AdminSocket())
	status := func(wantRequests int64) *adminapi.Status {
		t.Helper()
		// The day's sum follows the event bus: give it a moment.
		var st *adminapi.Status
		for range 200 {
			var err error
			if st, err = admin.Status(ctx); err != nil {
				t.Fatal(err)
			}
			if st.Today != nil && st.Today.Requests >= wantRequests {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return st
	}
	st := status(3)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	want := adminapi.DaySpend{Day: day, Since: day, Requests: 3, CostMicros: priced.CostMicros, CostUnknown: 1}
	checkToday(t, st, want)
	if st.Now.IsZero() || st.Now.Before(st.Today.Day) {
		t.Errorf("status time %v", st.Now)
	}

	if len(st.Budgets) != 1 || st.Budgets[0].Key != "capped" || len(st.Budgets[0].Budgets) != 2 {
		t.Fatalf("budgets: %+v", st.Budgets)
	}
	usd, tok := st.Budgets[0].Budgets[0], st.Budgets[0].Budgets[1]
	if usd.Limit != 5_000_000 || usd.Unit != adminapi.UnitUSD || usd.Used != priced.CostMicros || !usd.ResetsAt.Equal(day.AddDate(0, 0, 1)) {
		t.Errorf("dollar budget: %+v", usd)
	}
	if !tok.Soft || tok.Used != priced.InputTokens+priced.OutputTokens || tok.ResetsAt.Day() != 1 {
		t.Errorf("token budget: %+v", tok)
	}

	// A restarted daemon reads the day back from the ledger.
	e.restart()
	admin = adminapi.NewClient(e.srv.AdminSocket())
	checkToday(t, status(3), want)
	chat(capped, "gpt-4o")
	want.Requests++
	want.CostMicros += priced.CostMicros
	st = status(4)
	checkToday(t, st, want)
	if used := st.Budgets[0].Budgets[0].Used; used != 2*priced.CostMicros {
		t.Errorf("budget used %d after a restart, want %d", used, 2*priced.CostMicros)
	}
	// The breakdown per key, model and provider also starts from the
	// ledger (credflow top seeds its tables with it), and adds up to the day.
	by := st.TodayBy
	if by == nil {
		t.Fatal("status has no breakdown of today")
	}
	named := func(list []adminapi.NamedSpend, name string) adminapi.NamedSpend {
		for _, n := range list {
			if n.Name == name {
				return n
			}
		}
		t.Errorf("no %q in %+v", name, list)
		return adminapi.NamedSpend{}
	}
	if c := named(by.Keys, "capped"); c.Requests != 2 || c.CostMicros != 2*priced.CostMicros || c.CostUnknown != 0 || c.InputTokens == 0 {
		t.Errorf("key capped today: %+v", c)
	}
	if c := named(by.Keys, "test"); c.Requests != 2 || c.CostUnknown != 1 {
		t.Errorf("key test today: %+v", c)
	}
	if c := named(by.Models, "gpt-4o"); c.Requests != 2 {
		t.Errorf("model gpt-4o today: %+v", c)
	}
	for what, list := range map[string][]adminapi.NamedSpend{"keys": by.Keys, "models": by.Models, "providers": by.Providers} {
		var sum adminapi.NamedSpend
		for _, n := range list {
			sum.Requests += n.Requests
			sum.CostMicros += n.CostMicros
		}
		if sum.Requests != st.Today.Requests || sum.CostMicros != st.Today.CostMicros {
			t.Errorf("%s add up to %d requests, $%d; the day has %d, $%d", what, sum.Requests, sum.CostMicros, st.Today.Requests, st.Today.CostMicros)
		}
	}

	// And the ledger agrees, once flushed.
	if err := admin.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(e.dataDir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := ledger.Usage(db, ledger.Query{Since: day})
	if err != nil || len(rows) != 1 {
		t.Fatalf("ledger: %v %v", rows, err)
	}
	if r := rows[0]; r.Requests != st.Today.Requests || int64(r.Cost) != st.Today.CostMicros || r.CostUnknown != st.Today.CostUnknown ||
		r.Input != st.Today.InputTokens || r.Output != st.Today.OutputTokens {
		t.Errorf("ledger %+v, status %+v", r.Counters, *st.Today)
	}
}

// checkToday compares the status's day with want; tokens are only checked
// to be counted.
func checkToday(t *testing.T, st *adminapi.Status, want adminapi.DaySpend) {
	t.Helper()
	got := st.Today
	if got == nil {
		t.Fatal("status has no spend for today")
	}
	if !got.Day.Equal(want.Day) || !got.Since.Equal(want.Since) || got.Requests != want.Requests ||
		got.CostMicros != want.CostMicros || got.CostUnknown != want.CostUnknown || got.InputTokens == 0 || got.OutputTokens == 0 {
		t.Errorf("today %+v, want %+v", *got, want)
	}
}
