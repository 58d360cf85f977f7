package limits

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
)

func TestParseBudget(t *testing.T) {
	for in, want := range map[string]adminapi.Budget{
		"5usd/day":           {Limit: 5_000_000, Unit: "usd", Period: "day"},
		"$0.50/week":         {Limit: 500_000, Unit: "usd", Period: "week"},
		"20usd":              {Limit: 20_000_000, Unit: "usd", Period: "total"},
		"100000tokens/month": {Limit: 100000, Unit: "tokens", Period: "month"},
		"250k tokens/day":    {Limit: 250000, Unit: "tokens", Period: "day"},
		"1.25 USD / monthly": {Limit: 1_250_000, Unit: "usd", Period: "month"},
	} {
		got, err := ParseBudget(in)
		if err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"5", "5eur/day", "-1usd/day", "0usd", "5usd/fortnight", "tokens/day", "1.5tokens"} {
		if _, err := ParseBudget(bad); err == nil {
			t.Errorf("ParseBudget(%q) accepted", bad)
		}
	}
	if s := FormatBudget(adminapi.Budget{Limit: 5_000_000, Unit: "usd", Period: "day", Soft: true}); s != "$5.00/day (soft)" {
		t.Errorf("FormatBudget = %q", s)
	}
}

func TestPeriods(t *testing.T) {
	at := time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC) // a Friday
	for period, want := range map[string]time.Time{
		"day":   time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"week":  time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		"month": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"total": {},
	} {
		if got := PeriodStart(period, at); !got.Equal(want) {
			t.Errorf("PeriodStart(%s) = %v", period, got)
		}
	}
	if got := PeriodEnd("month", at); !got.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("PeriodEnd(month) = %v", got)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestHardBudgetReserveSettleAndReset(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)}
	l := New(c.now)
	p := adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 1000, Unit: "usd", Period: "day"}}}
	r1, d := l.Reserve("k", p, Cost{Micros: 600})
	if d != nil {
		t.Fatal(d)
	}
	// 600 reserved: another 600 would overrun even before anything settles.
	if _, d := l.Reserve("k", p, Cost{Micros: 600}); d == nil || d.Budget == nil {
		t.Fatal("second reservation admitted past the budget")
	}
	r1.Settle(Cost{Micros: 300}) // cheaper than reserved: room frees up
	r2, d := l.Reserve("k", p, Cost{Micros: 600})
	if d != nil {
		t.Fatalf("after settling at 300, 600 more fits: %v", d)
	}
	r2.Settle(Cost{Micros: 600})
	_, d = l.Reserve("k", p, Cost{Micros: 200})
	if d == nil || !errors.Is(d, ErrDenied) || d.RetryAfter != time.Hour {
		t.Fatalf("spent 900 of 1000, 200 more must be refused until midnight: %+v", d)
	}
	if want := `virtual key "k" reached its hard budget of $0.001/day (spent $0.0009); it resets at 2026-11-28 00:00 UTC`; len(d.Message) < len(want) || d.Message[:len(want)] != want {
		t.Fatalf("message = %q", d.Message)
	}
	c.add(time.Hour) // a new day
	if _, d := l.Reserve("k", p, Cost{Micros: 900}); d != nil {
		t.Fatalf("budget did not reset at the period's end: %v", d)
	}
}

// Many concurrent requests against one small budget: with reservations that
// bound each request's cost, the total spent never exceeds the limit.
func TestBudgetRace(t *testing.T) {
	l := New(nil)
	const limit = 10_000
	p := adminapi.Policy{Budgets: []adminapi.Budget{{Limit: limit, Unit: "usd", Period: "total"}}}
	var mu sync.Mutex
	spent, admitted := int64(0), 0
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				r, d := l.Reserve("k", p, Cost{Micros: 300})
				if d != nil {
					continue
				}
				actual := int64(100 + (i*7+j)%200) // ≤ the reservation
				r.Settle(Cost{Micros: actual})
				mu.Lock()
				spent += actual
				admitted++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if spent > limit {
		t.Fatalf("overspent: %d > %d", spent, limit)
	}
	if spent < limit-300 {
		t.Fatalf("budget underused: spent %d of %d with %d admitted", spent, limit, admitted)
	}
}

func TestSoftBudgetWarnsOnce(t *testing.T) {
	l := New(nil)
	var warnings []string
	p := adminapi.Policy{Budgets: []adminapi.Budget{{Limit: 100, Unit: "tokens", Period: "day", Soft: true}}}
	for i := 0; i < 5; i++ {
		r, d := l.Reserve("k", p, Cost{Tokens: 60})
		if d != nil {
			t.Fatal("a soft budget refused a request")
		}
		warnings = append(warnings, r.Settle(Cost{Tokens: 60})...)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestRateLimits(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	l := New(c.now)
	p := adminapi.Policy{RPM: 3, TPM: 1000, MaxConcurrent: 2}
	r1, _ := l.Reserve("k", p, Cost{Tokens: 10})
	r2, _ := l.Reserve("k", p, Cost{Tokens: 10})
	if _, d := l.Reserve("k", p, Cost{Tokens: 10}); d == nil {
		t.Fatal("third concurrent request admitted with max_concurrent 2")
	}
	r1.Settle(Cost{Tokens: 500})
	r2.Settle(Cost{Tokens: 400})
	r3, d := l.Reserve("k", p, Cost{Tokens: 50})
	if d != nil {
		t.Fatal(d)
	}
	r3.Settle(Cost{Tokens: 50})
	c.add(10 * time.Second)
	_, d = l.Reserve("k", p, Cost{Tokens: 10})
	if d == nil || d.RetryAfter != 50*time.Second {
		t.Fatalf("4th request in a minute with rpm 3: %+v", d)
	}
	h, ok := l.Headers("k", p)
	if !ok || h.RemainingRequests != 0 || h.RemainingTokens != 50 || h.LimitTokens != 1000 {
		t.Fatalf("headers %+v", h)
	}
	c.add(51 * time.Second) // the window has moved past the burst
	if _, d := l.Reserve("k", p, Cost{Tokens: 10}); d != nil {
		t.Fatalf("window did not slide: %v", d)
	}
}

// TestReleaseFreesConcurrencyOnce: Release gives the slot back before
// Settle, and Settle then does not give it back twice.
func TestReleaseFreesConcurrencyOnce(t *testing.T) {
	l := New(nil)
	p := adminapi.Policy{MaxConcurrent: 1}
	r1, d := l.Reserve("k", p, Cost{})
	if d != nil {
		t.Fatal(d.Message)
	}
	if _, d := l.Reserve("k", p, Cost{}); d == nil {
		t.Fatal("a second request was admitted past max_concurrent 1")
	}
	r1.Release()
	r1.Release()
	r2, d := l.Reserve("k", p, Cost{})
	if d != nil {
		t.Fatalf("after Release: %s", d.Message)
	}
	r1.Settle(Cost{})
	if _, d := l.Reserve("k", p, Cost{}); d == nil {
		t.Fatal("Settle after Release freed the slot a second time: r2 is still in flight")
	}
	r2.Settle(Cost{})
	if _, d := l.Reserve("k", p, Cost{}); d != nil {
		t.Fatalf("after both settled: %s", d.Message)
	}
}
