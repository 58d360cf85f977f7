package tui

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/muesli/termenv"
)

func init() {
	// Deterministic goldens: no colors or styles.
	lipgloss.SetColorProfile(termenv.Ascii)
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is the fixed "now" of every test: one minute after the first event.
func clock() time.Time { return t0.Add(60 * time.Second) }

// fakeFeed stands in for the daemon. Events queued with queue are
// delivered to the next subscriber; down makes Status and Events fail.
type fakeFeed struct {
	mu       sync.Mutex
	down     bool
	pending  []adminapi.Event
	ch       chan adminapi.Event
	statuses int
	subs     chan struct{}
	status   adminapi.Status
}

func newFakeFeed(evs ...adminapi.Event) *fakeFeed {
	return &fakeFeed{pending: evs, subs: make(chan struct{}, 16), status: fakeStatus()}
}

// fakeStatus is the daemon's answer: it was taken at clock(), after every
// sample event, so its spend of the day is what the header shows.
func fakeStatus() adminapi.Status {
	day := t0.Truncate(24 * time.Hour)
	return adminapi.Status{
		Version: "test", Listen: "127.0.0.1:7777", StartedAt: t0.Add(-time.Hour - 2*time.Minute), Now: clock(),
		Today: &adminapi.DaySpend{Day: day, Since: day, Requests: 140, InputTokens: 50_000, OutputTokens: 9_000,
			CostMicros: 1_234_567, CostUnknown: 12},
		Budgets: []adminapi.KeyBudgets{
			{Key: "agent", Budgets: []adminapi.BudgetStatus{
				{Budget: adminapi.Budget{Limit: 5_000_000, Unit: adminapi.UnitUSD, Period: adminapi.PeriodDay}, Used: 4_600_000, ResetsAt: day.AddDate(0, 0, 1)},
				{Budget: adminapi.Budget{Limit: 20_000_000, Unit: adminapi.UnitUSD, Period: adminapi.PeriodMonth, Soft: true}, Used: 9_000_000, ResetsAt: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)},
			}},
			{Key: "ci-bot", Budgets: []adminapi.BudgetStatus{
				{Budget: adminapi.Budget{Limit: 100_000, Unit: adminapi.UnitTokens, Period: adminapi.PeriodTotal}, Used: 75_500},
			}},
		},
	}
}

// setStatus changes what Status answers.
func (f *fakeFeed) setStatus(fn func(*adminapi.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.status)
}

func (f *fakeFeed) Status(ctx context.Context) (*adminapi.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	if f.down {
		return nil, adminapi.ErrNoDaemon
	}
	st := f.status
	return &st, nil
}

func (f *fakeFeed) Events(ctx context.Context) (<-chan adminapi.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, adminapi.ErrNoDaemon
	}
	ch := make(chan adminapi.Event, 4096)
	for _, e := range f.pending {
		ch <- e
	}
	f.pending = nil
	f.ch = ch
	f.subs <- struct{}{}
	return ch, nil
}

// send delivers events to the current subscriber.
func (f *fakeFeed) send(evs ...adminapi.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range evs {
		f.ch <- e
	}
}

// stop closes the stream and makes the daemon unreachable.
func (f *fakeFeed) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	close(f.ch)
}

func (f *fakeFeed) setDown(d bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = d
}

func (f *fakeFeed) waitSub(t *testing.T) {
	t.Helper()
	select {
	case <-f.subs:
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription to the events")
	}
}

// sample returns 40 deterministic events over the minute before clock().
func sample() []adminapi.Event {
	keys := []string{"agent", "ci-bot", "alice"}
	models := []struct{ model, provider string }{
		{"gpt-4o-mini", "openai"}, {"claude-sonnet-4", "anthropic"}, {"gpt-4o-mini", "openai"}, {"llama3-local", "ollama"},
	}
	var out []adminapi.Event
	for i := range 40 {
		mp := models[i%len(models)]
		e := adminapi.Event{
			Time:         t0.Add(time.Duration(i) * 1500 * time.Millisecond),
			ID:           fmt.Sprintf("req-%02d", i),
			Key:          keys[i%len(keys)],
			Endpoint:     "/v1/chat/completions",
			Model:        mp.model,
			Provider:     mp.provider,
			Status:       200,
			InputTokens:  int64(100 + i*13),
			OutputTokens: int64(20 + i*7),
			LatencyMS:    float64(100 + (i*37)%900),
			TTFBMS:       float64(40 + i),
		}
		if mp.provider != "ollama" {
			e.CostKnown = true
			e.CostMicros = e.InputTokens*2 + e.OutputTokens*8
		}
		if i%7 == 6 {
			e.Status = 429
			e.Error = "rate limited upstream"
			e.OutputTokens = 0
		}
		// Some requests continue stored conversations, their history
		// growing towards the model's window.
		switch i % 5 {
		case 0:
			e.Session, e.ContextTokens = "refactor parser", 4000+i*2500
		case 1:
			e.Session, e.ContextTokens = "conv_68a1f0c2", 900+i*40
		case 2:
			e.Session, e.ContextTokens = "support-bot", 20_000+i*300
		}
		if e.Session != "" {
			e.ContextWindow = map[string]int{"gpt-4o-mini": 128_000, "claude-sonnet-4": 200_000}[e.Model]
			e.Summarized = i == 35
		}
		out = append(out, e)
	}
	return out
}

func start(t *testing.T, feed Feed, w, h int) *teatest.TestModel {
	t.Helper()
	m := New(context.Background(), feed, Options{
		Refresh: 20 * time.Millisecond, Now: clock, Location: time.UTC,
		Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, StatusEvery: 30 * time.Millisecond,
	})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { tm.Quit() })
	return tm
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func press(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		switch k {
		case "enter":
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "esc":
			tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
		case "tab":
			tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		case "down":
			tm.Send(tea.KeyMsg{Type: tea.KeyDown})
		case "up":
			tm.Send(tea.KeyMsg{Type: tea.KeyUp})
		case "ctrl+c":
			tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
		default:
			tm.Type(k)
		}
	}
}

// finish quits and returns the final model.
func finish(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	press(tm, "q")
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
}

func TestGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"keys", nil},
		{"models", []string{"2"}},
		{"providers", []string{"3"}},
		{"feed", []string{"4"}},
		{"detail", []string{"down", "enter"}},
		{"key_budgets", []string{"enter"}},
		{"help_scrolled", append([]string{"?"}, slices.Repeat([]string{"down"}, 30)...)}, // to the end, no further
		{"feed_detail", []string{"4", "down", "enter"}},
		{"help", []string{"?"}},
		{"sessions", []string{"5"}},
		{"sessions_by_context", []string{"5", "s", "s"}},
		{"session_detail", []string{"5", "enter"}},
	}
	for _, size := range [][2]int{{100, 30}, {60, 20}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				tm := start(t, newFakeFeed(sample()...), size[0], size[1])
				waitFor(t, tm, "40 reqs")
				press(tm, v.keys...)
				m := finish(t, tm)
				out := m.View()
				for i, l := range strings.Split(out, "\n") {
					if w := lipgloss.Width(l); w > size[0] {
						t.Errorf("line %d is %d cells wide, more than %d: %q", i, w, size[0], l)
					}
				}
				if n := strings.Count(out, "\n") + 1; n != size[1] {
					t.Errorf("%d lines, want %d", n, size[1])
				}
				golden.RequireEqual(t, []byte(out))
			})
		}
	}
}

func TestSwitchViews(t *testing.T) {
	tm := start(t, newFakeFeed(sample()...), 100, 30)
	waitFor(t, tm, "40 reqs")
	press(tm, "tab")
	waitFor(t, tm, "claude-sonnet-4")
	press(tm, "tab")
	waitFor(t, tm, "anthropic")
	press(tm, "4")
	waitFor(t, tm, "LATENCY")
	press(tm, "5")
	waitFor(t, tm, "refactor parser")
	press(tm, "tab") // round to the first
	waitFor(t, tm, "sort reqs")
	press(tm, "5", "1")
	m := finish(t, tm)
	if m.view != ViewKeys {
		t.Errorf("view %d, want keys", m.view)
	}
}

func TestSortCycles(t *testing.T) {
	evs := []adminapi.Event{
		{Time: t0, Key: "many", Status: 200, InputTokens: 1, LatencyMS: 10},
		{Time: t0, Key: "many", Status: 200, InputTokens: 1, LatencyMS: 10},
		{Time: t0, Key: "many", Status: 200, InputTokens: 1, LatencyMS: 10},
		{Time: t0, Key: "big", Status: 200, InputTokens: 5000, LatencyMS: 10},
	}
	tm := start(t, newFakeFeed(evs...), 100, 30)
	waitFor(t, tm, "4 reqs")
	m := finish(t, tm)
	if got := m.tables[DimKey].rows(m.stats, "")[0].Name; got != "many" {
		t.Fatalf("by requests, first is %q", got)
	}

	tm = start(t, newFakeFeed(evs...), 100, 30)
	waitFor(t, tm, "4 reqs")
	press(tm, "s")
	waitFor(t, tm, "sort in")
	m = finish(t, tm)
	if got := m.tables[DimKey].rows(m.stats, "")[0].Name; got != "big" {
		t.Fatalf("by tokens in, first is %q", got)
	}
	if v := m.View(); strings.Index(v, "big") > strings.Index(v, "many") {
		t.Errorf("big is not drawn first:\n%s", v)
	}
	// s cycles through every column back to requests.
	tm = start(t, newFakeFeed(evs...), 100, 30)
	waitFor(t, tm, "4 reqs")
	press(tm, strings.Repeat("s", numSorts))
	m = finish(t, tm)
	if m.tables[DimKey].sort != SortReqs {
		t.Errorf("sort %d after a full cycle", m.tables[DimKey].sort)
	}
}

func TestFilter(t *testing.T) {
	tm := start(t, newFakeFeed(sample()...), 100, 30)
	waitFor(t, tm, "40 reqs")
	press(tm, "/", "ci", "enter")
	waitFor(t, tm, `filter "ci"`)
	m := finish(t, tm)
	v := m.View()
	if !strings.Contains(v, "ci-bot") || strings.Contains(v, "alice") || strings.Contains(v, "agent") {
		t.Errorf("filter ci shows:\n%s", v)
	}

	tm = start(t, newFakeFeed(sample()...), 100, 30)
	waitFor(t, tm, "40 reqs")
	press(tm, "/", "ci", "enter", "esc")
	m = finish(t, tm)
	if m.filter != "" || !strings.Contains(m.View(), "alice") {
		t.Errorf("esc did not clear the filter:\n%s", m.View())
	}
}

func TestPauseFreezesFeed(t *testing.T) {
	feed := newFakeFeed(sample()...)
	tm := start(t, feed, 100, 30)
	feed.waitSub(t)
	waitFor(t, tm, "40 reqs")
	press(tm, "4", "p")
	waitFor(t, tm, "PAUSED")
	late := adminapi.Event{Time: t0.Add(59 * time.Second), Key: "latecomer", Model: "gpt-4o-mini", Status: 200, LatencyMS: 5}
	feed.send(late, late)
	waitFor(t, tm, "42 reqs") // the totals still count
	press(tm, "j")            // a redraw with the feed still paused
	m := finish(t, tm)
	if strings.Contains(m.View(), "latecomer") {
		t.Errorf("the paused feed shows a new event:\n%s", m.View())
	}
	if m.stats.Row(DimKey, "latecomer").Requests != 2 {
		t.Errorf("paused aggregates did not count the new events")
	}

	// Unpausing shows them.
	feed = newFakeFeed(sample()...)
	tm = start(t, feed, 100, 30)
	feed.waitSub(t)
	waitFor(t, tm, "40 reqs")
	press(tm, "4", "p")
	waitFor(t, tm, "PAUSED")
	feed.send(late)
	waitFor(t, tm, "41 reqs")
	press(tm, "p")
	waitFor(t, tm, "latecomer")
	finish(t, tm)
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		tm := start(t, newFakeFeed(), 80, 24)
		waitFor(t, tm, "credflow top")
		press(tm, k)
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	}
}

func TestReconnect(t *testing.T) {
	feed := newFakeFeed(sample()...)
	tm := start(t, feed, 100, 30)
	feed.waitSub(t)
	waitFor(t, tm, "40 reqs")
	feed.stop() // the daemon goes away
	waitFor(t, tm, "reconnecting…")
	feed.setDown(false) // and comes back
	feed.waitSub(t)
	waitFor(t, tm, "127.0.0.1:7777")
	feed.send(sample()[0])
	waitFor(t, tm, "41 reqs") // aggregates carry on
	m := finish(t, tm)
	if !m.online || strings.Contains(m.View(), "reconnecting") {
		t.Errorf("not back online:\n%s", m.View())
	}
	feed.mu.Lock()
	defer feed.mu.Unlock()
	if feed.statuses < 3 {
		t.Errorf("Status asked %d times; want retries", feed.statuses)
	}
}

func TestNoDaemonAtStart(t *testing.T) {
	feed := newFakeFeed()
	feed.setDown(true)
	tm := start(t, feed, 100, 30)
	waitFor(t, tm, "reconnecting… (no credflow daemon is running)")
	feed.setDown(false)
	feed.waitSub(t)
	waitFor(t, tm, "127.0.0.1:7777")
	finish(t, tm)
}

func TestStats(t *testing.T) {
	s := NewStats()
	for i := 1; i <= 100; i++ {
		e := adminapi.Event{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Key: "k", Model: "m", Provider: "p",
			Status: 200, InputTokens: 10, OutputTokens: 5, CostMicros: 3, CostKnown: true, LatencyMS: float64(i)}
		if i%10 == 0 {
			e.Status = 500
		}
		if i%25 == 0 {
			e.CostKnown, e.CostMicros = false, 0
		}
		s.Add(e)
	}
	r := s.Row(DimKey, "k")
	if r.Requests != 100 || r.Errors != 10 || r.In != 1000 || r.Out != 500 || r.Cost != 96*3 || r.Unpriced != 4 {
		t.Errorf("row %+v", *r)
	}
	if p := r.Percentile(50); p != 50 {
		t.Errorf("p50 %v, want 50", p)
	}
	if p := r.Percentile(99); p != 99 {
		t.Errorf("p99 %v, want 99", p)
	}
	if p := r.Percentile(100); p != 100 {
		t.Errorf("p100 %v", p)
	}
	if s.Total.Requests != 100 || s.Row(DimProvider, "p").Requests != 100 {
		t.Errorf("total %d", s.Total.Requests)
	}
	if got := money(r.Cost, r.Unpriced, r.Requests); got != "$0.000288+?" {
		t.Errorf("money %q", got)
	}
	// Events at 0.1s..10s; the window is the seconds 1..10, which hold 91.
	if r := s.Rates(t0.Add(10 * time.Second)); r.Reqs != 9.1 || r.In != 91*10/10.0 || r.Out != 91*5/10.0 {
		t.Errorf("rates %+v", r)
	}
	// Per second: second 0 holds 9 events (0.1..0.9s), seconds 1..9 ten
	// each, second 10 one; latency i ms for the event at i/10 s.
	reqs, lat := s.Series(t0.Add(10*time.Second), 12, 1)
	if len(reqs) != 12 || reqs[11] != 1 || reqs[10] != 10 || reqs[1] != 9 || reqs[0] != 0 || lat[11] != 100 || lat[10] != 94.5 || lat[0] != 0 {
		t.Errorf("per second %v, latency %v", reqs, lat)
	}
	// Columns of 4 seconds start at multiples of 4 (t0 is one): 0-3, 4-7,
	// and 8-10 so far, which is averaged over its 3 seconds.
	reqs, lat = s.Series(t0.Add(10*time.Second), 3, 4)
	if want := []float64{39.0 / 4, 40.0 / 4, 21.0 / 3}; !slices.Equal(reqs, want) {
		t.Errorf("4s columns %v, want %v", reqs, want)
	}
	if lat[1] != 59.5 {
		t.Errorf("4s column latency %v", lat)
	}
	// No more columns than the seconds kept.
	if reqs, _ := s.Series(t0, 1000, 1); len(reqs) != SparkSeconds {
		t.Errorf("%d columns", len(reqs))
	}

	// Latency samples and the feed are bounded.
	for i := range 2000 {
		s.Add(adminapi.Event{Time: t0, Key: "k", LatencyMS: float64(1000 + i)})
	}
	if n := len(r.Latencies()); n != LatencySamples {
		t.Errorf("%d latency samples kept", n)
	}
	if p := r.Percentile(50); p != 1000+1500+249 {
		t.Errorf("p50 of the last %d samples: %v", LatencySamples, p)
	}
	rec := s.Recent()
	if len(rec) != RecentEvents || rec[0].LatencyMS != 2999 {
		t.Errorf("recent: %d, newest %v", len(rec), rec[0].LatencyMS)
	}
}

func TestFormat(t *testing.T) {
	if got := sparkline([]float64{0, 1, 4, 8, 0.5}); got != " ▁▄█▁" {
		t.Errorf("sparkline %q", got)
	}
	cols := fitColumns(aggCols, 40)
	if len(cols) >= len(aggCols) || totalWidth(cols) > 40 || cols[len(cols)-1].title == "ERR" {
		t.Errorf("fit 40: %+v", cols)
	}
	// Spare room goes to the growing columns, the rightmost first.
	cols = fitColumns(keyCols, 200)
	if len(cols) != len(keyCols) || cols[5].width != 9+13 || cols[0].width != 10+22 {
		t.Errorf("fit 200: %+v", cols)
	}
	cols = fitColumns(keyCols, totalWidth(keyCols)+15)
	if cols[5].width != 9+13 || cols[0].width != 10+2 {
		t.Errorf("fit +15: %+v", cols)
	}
	for n, want := range map[int64]string{999: "999", 12345: "12.3k", 4_560_000: "4.56M"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) %q", n, got)
		}
	}
	if got := uptime(time.Hour + 2*time.Minute); got != "1h02m" {
		t.Errorf("uptime %q", got)
	}
}

// While connected, top asks for the status again and again, so the day's
// spend, the budgets and the uptime stay true for requests it missed.
func TestStatusRefresh(t *testing.T) {
	feed := newFakeFeed(sample()...)
	tm := start(t, feed, 100, 30)
	feed.waitSub(t)
	// (The renderer redraws only lines that change: wait for one.)
	waitFor(t, tm, "92% $4.60/$5.00")
	feed.setStatus(func(st *adminapi.Status) {
		day := *st.Today
		day.CostMicros, day.CostUnknown = 2_500_000, 0
		st.Today = &day
		st.Budgets = []adminapi.KeyBudgets{{Key: "alice", Budgets: []adminapi.BudgetStatus{
			{Budget: adminapi.Budget{Limit: 1_000_000, Unit: adminapi.UnitUSD, Period: adminapi.PeriodWeek}, Used: 100_000},
		}}}
	})
	waitFor(t, tm, "today $2.50")
	m := finish(t, tm)
	v := m.View()
	if !strings.Contains(v, "10% $0.10/$1.00") || strings.Contains(v, "$4.60") {
		t.Errorf("budgets not refreshed:\n%s", v)
	}
}

// The day's spend is the daemon's figure plus the requests top saw finish
// after it, in their UTC day; never a request twice.
func TestTodaySpend(t *testing.T) {
	asOf := t0.Add(30 * time.Second)
	day := t0.Truncate(24 * time.Hour)
	st := &adminapi.Status{Now: asOf, Today: &adminapi.DaySpend{Day: day, Since: day, Requests: 10, CostMicros: 1000}}
	ev := func(at time.Duration, cost int64, known bool) adminapi.Event {
		return adminapi.Event{Time: t0.Add(at), InputTokens: 3, OutputTokens: 2, CostMicros: cost, CostKnown: known}
	}
	var td todaySpend
	if td.add(&adminapi.Event{Time: clock(), CostKnown: true, CostMicros: 5}); td.known {
		t.Fatal("counted before any status")
	}
	// Held events: one before the status (in its figure), one after.
	td.set(st, []adminapi.Event{ev(29*time.Second, 50, true), ev(31*time.Second, 7, true)})
	e := ev(40*time.Second, 0, false) // no known price
	td.add(&e)
	got := td.total(clock())
	if got.Requests != 12 || got.CostMicros != 1007 || got.CostUnknown != 1 || got.InputTokens != 6 {
		t.Fatalf("total %+v", got)
	}
	if s := daySpend(got.CostMicros, got.CostUnknown); s != "≥$0.001007" {
		t.Errorf("lower bound shown as %q", s)
	}
	// A new status replaces the figure and what was added to it.
	st2 := &adminapi.Status{Now: t0.Add(50 * time.Second), Today: &adminapi.DaySpend{Day: day, Since: day, Requests: 13, CostMicros: 1007, CostUnknown: 1}}
	td.set(st2, []adminapi.Event{ev(31*time.Second, 7, true), e})
	if got := td.total(clock()); got.Requests != 13 || got.CostMicros != 1007 {
		t.Errorf("after a new status %+v", got)
	}
	// Past midnight: a new day, from zero.
	next := day.AddDate(0, 0, 1)
	if got := td.total(next.Add(time.Minute)); got.Requests != 0 || !got.Day.Equal(next) {
		t.Errorf("next day before any request %+v", got)
	}
	late := adminapi.Event{Time: next.Add(time.Second), CostMicros: 9, CostKnown: true}
	td.add(&late)
	if got := td.total(next.Add(time.Minute)); got.Requests != 1 || got.CostMicros != 9 || got.CostUnknown != 0 {
		t.Errorf("next day %+v", got)
	}
}

func TestBudgetCell(t *testing.T) {
	usd := func(used int64) []adminapi.BudgetStatus {
		return []adminapi.BudgetStatus{{Budget: adminapi.Budget{Limit: 10_000_000, Unit: adminapi.UnitUSD, Period: adminapi.PeriodDay}, Used: used}}
	}
	for _, c := range []struct {
		bs   []adminapi.BudgetStatus
		w    int
		want string
	}{
		{nil, 20, "—"},
		{usd(0), 9, "░░░░░░ 0%"},
		{usd(6_900_000), 23, "████░░ 69% $6.90/$10.00"},
		{usd(6_900_000), 22, "████████████░░░░░░ 69%"}, // no room for the amounts
		{usd(12_000_000), 9, "████ 120%"},              // overspent: a full bar
		{usd(1), 9, "█░░░░░ 0%"},                       // something spent shows
		{[]adminapi.BudgetStatus{
			{Budget: adminapi.Budget{Limit: 100, Unit: adminapi.UnitTokens, Period: adminapi.PeriodTotal}, Used: 10},
			{Budget: adminapi.Budget{Limit: 200_000, Unit: adminapi.UnitTokens, Period: adminapi.PeriodMonth}, Used: 150_000},
		}, 24, "████████░░ 75% 150k/200k"},
	} {
		if got := budgetCell(c.bs, c.w, true); got != c.want {
			t.Errorf("budgetCell(%v, %d) = %q, want %q", c.bs, c.w, got, c.want)
		}
	}
	// The colour follows the share used.
	for share, want := range map[float64]lipgloss.Style{0.1: styles.good, 0.69: styles.good, 0.7: styles.warn, 0.89: styles.warn, 0.9: styles.bad, 1.5: styles.bad} {
		if got := budgetStyle(share); got.GetForeground() != want.GetForeground() {
			t.Errorf("share %v: colour %v, want %v", share, got.GetForeground(), want.GetForeground())
		}
	}
}

func TestSortByBudget(t *testing.T) {
	tm := start(t, newFakeFeed(sample()...), 100, 30)
	waitFor(t, tm, "92% $4.60/$5.00")
	press(tm, "s", "s", "s", "s")
	waitFor(t, tm, "sort budget")
	press(tm, "j")
	m := finish(t, tm)
	var names []string
	for _, r := range m.tables[DimKey].rows(m.stats, "") {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"agent", "ci-bot", "alice"}) {
		t.Errorf("by budget used: %v", names)
	}
	// The models table has no budget column to sort by.
	if slices.Contains(sortCycle(DimModel), SortBudget) {
		t.Error("models sort by budget")
	}
}

// Small terminals: nothing wraps or overflows in any view.
func TestNarrow(t *testing.T) {
	for _, size := range [][2]int{{20, 6}, {34, 10}, {45, 14}} {
		for _, keys := range [][]string{nil, {"2"}, {"4"}, {"enter"}, {"?"}, {"4", "enter"}, {"5"}, {"5", "enter"}} {
			tm := start(t, newFakeFeed(sample()...), size[0], size[1])
			waitFor(t, tm, "credflow top")
			press(tm, keys...)
			m := finish(t, tm)
			lines := strings.Split(m.View(), "\n")
			if len(lines) != size[1] {
				t.Errorf("%v %v: %d lines", size, keys, len(lines))
			}
			for _, l := range lines {
				if w := lipgloss.Width(l); w > size[0] {
					t.Errorf("%v %v: %d cells: %q", size, keys, w, l)
				}
			}
		}
	}
}

// A daemon that could not read its ledger counts the day from its start,
// and says so; one that does not report the day leaves top with the spend
// it saw itself.
func TestSpendLabels(t *testing.T) {
	feed := newFakeFeed(sample()...)
	feed.setStatus(func(st *adminapi.Status) {
		day := *st.Today
		day.Since = day.Day.Add(11*time.Hour + 5*time.Minute)
		st.Today = &day
	})
	tm := start(t, feed, 100, 30)
	waitFor(t, tm, "since 11:05 ≥$1.234567")
	finish(t, tm)

	feed = newFakeFeed(sample()...)
	feed.setStatus(func(st *adminapi.Status) { st.Today = nil })
	tm = start(t, feed, 100, 30)
	waitFor(t, tm, "spent $0.05754+?")
	finish(t, tm)
}

// TestFeedScrolls: with more requests than rows, moving the selection
// down scrolls the feed to older requests and keeps the selection on
// screen.
func TestFeedScrolls(t *testing.T) {
	var evs []adminapi.Event
	for i := 0; i < 60; i++ {
		evs = append(evs, adminapi.Event{Time: t0.Add(time.Duration(i) * 500 * time.Millisecond), Key: fmt.Sprintf("key%02d", i), Model: "m", Status: 200, LatencyMS: 5})
	}
	feed := newFakeFeed(evs...)
	tm := start(t, feed, 100, 20)
	feed.waitSub(t)
	waitFor(t, tm, "60 reqs")
	press(tm, "4")
	waitFor(t, tm, "key59")
	for i := 0; i < 55; i++ {
		press(tm, "j")
	}
	waitFor(t, tm, "key04")
	m := finish(t, tm)
	view := m.View()
	if strings.Contains(view, "key59") {
		t.Errorf("after scrolling down 55 rows the newest request is still on screen:\n%s", view)
	}
	sel := ""
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, "›") {
			sel = l
		}
	}
	if !strings.Contains(sel, "key04") {
		t.Errorf("selected row %q; want key04 (55 below the newest):\n%s", sel, view)
	}
}

// todayBreakdown is a daemon's figures of the day per key, model and
// provider: they add up to fakeStatus's Today.
func todayBreakdown() *adminapi.DayBreakdown {
	return &adminapi.DayBreakdown{
		Keys: []adminapi.NamedSpend{
			{Name: "agent", Requests: 120, Errors: 3, InputTokens: 42_000, OutputTokens: 7_500, CostMicros: 1_000_000},
			{Name: "ci-bot", Requests: 20, InputTokens: 8_000, OutputTokens: 1_500, CostMicros: 234_567, CostUnknown: 12},
		},
		Models: []adminapi.NamedSpend{
			{Name: "gpt-4o-mini", Requests: 128, Errors: 3, InputTokens: 45_000, OutputTokens: 8_000, CostMicros: 1_234_567},
			{Name: "llama3-local", Requests: 12, InputTokens: 5_000, OutputTokens: 1_000, CostUnknown: 12},
		},
		Providers: []adminapi.NamedSpend{
			{Name: "openai", Requests: 128, Errors: 3, InputTokens: 45_000, OutputTokens: 8_000, CostMicros: 1_234_567},
			{Name: "ollama", Requests: 12, InputTokens: 5_000, OutputTokens: 1_000, CostUnknown: 12},
		},
	}
}

// top started after some traffic shows the day in its tables at once,
// from the daemon's figures, and adds the requests that finish after them
// (never one twice).
func TestTablesStartWithToday(t *testing.T) {
	feed := newFakeFeed() // no request since top started
	feed.setStatus(func(st *adminapi.Status) { st.TodayBy = todayBreakdown() })
	tm := start(t, feed, 100, 30)
	feed.waitSub(t)
	waitFor(t, tm, "ci-bot")
	after := adminapi.Event{Time: clock().Add(time.Second), Key: "agent", Model: "gpt-4o-mini", Provider: "openai",
		Status: 200, InputTokens: 1000, OutputTokens: 500, CostMicros: 100_000, CostKnown: true, LatencyMS: 250}
	before := after // finished before the status: in the daemon's figure already
	before.Time = clock().Add(-time.Second)
	newcomer := after
	newcomer.Key = "alice"
	feed.send(before, after, newcomer)
	waitFor(t, tm, "3 reqs")
	press(tm, "j") // a redraw with all three in
	m := finish(t, tm)
	if r := m.stats.Row(DimKey, "agent"); r == nil || r.Requests != 121 || r.Cost != 1_100_000 || r.In != 43_000 || r.Errors != 3 {
		t.Errorf("agent today: %+v", r)
	}
	if r := m.stats.Row(DimKey, "alice"); r == nil || r.Requests != 1 {
		t.Errorf("a key first seen after the status: %+v", r)
	}
	if r := m.stats.Row(DimProvider, "ollama"); r == nil || r.Requests != 12 || r.Unpriced != 12 {
		t.Errorf("ollama today: %+v", r)
	}
	golden.RequireEqual(t, []byte(m.View()))
}

func TestTodayRows(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	st := &adminapi.Status{Now: clock(), Today: &adminapi.DaySpend{Day: day, Since: day}, TodayBy: todayBreakdown()}
	s := NewStats()
	s.Add(adminapi.Event{Time: t0, Key: "agent", Status: 200, LatencyMS: 42}) // before the status
	if r := s.Row(DimKey, "agent"); r.Requests != 1 {
		t.Fatalf("before any status: %+v", r)
	}
	s.SetToday(st)
	if r := s.Row(DimKey, "agent"); r.Requests != 120 || r.Percentile(50) != 42 {
		t.Fatalf("after the status (latency from what top saw): %+v", r)
	}
	s.Add(adminapi.Event{Time: clock().Add(time.Second), Model: "gpt-4o-mini", Status: 500})
	if r := s.Row(DimKey, "-"); r == nil || r.Requests != 1 || r.Errors != 1 {
		t.Errorf("a request without a key: %+v", r)
	}
	if r := s.Row(DimModel, "gpt-4o-mini"); r.Requests != 129 || r.Errors != 4 {
		t.Errorf("model: %+v", r)
	}
	// A new status counts again what finished after it, from top's events.
	s.SetToday(st)
	if r := s.Row(DimModel, "gpt-4o-mini"); r.Requests != 129 {
		t.Errorf("after a second status: %+v", r)
	}
	// Past midnight the day starts from zero.
	s.Add(adminapi.Event{Time: day.AddDate(0, 0, 1).Add(time.Minute), Key: "agent", Status: 200})
	if rows := s.Rows(DimKey, ""); len(rows) != 1 || rows[0].Name != "agent" || rows[0].Requests != 1 {
		t.Errorf("next day: %+v", rows)
	}
	// A status without the breakdown (an older daemon) changes nothing.
	s2 := NewStats()
	s2.Add(adminapi.Event{Time: t0, Key: "agent", Status: 200})
	s2.SetToday(&adminapi.Status{Now: clock(), Today: st.Today})
	if r := s2.Row(DimKey, "agent"); r.Requests != 1 {
		t.Errorf("without a breakdown: %+v", r)
	}
}

// Sessions are aggregated per key and name from the events that carry one.
func TestSessionRows(t *testing.T) {
	s := NewStats()
	ev := func(sec int, key, sess string, ctx, window int, summarized bool) adminapi.Event {
		return adminapi.Event{Time: t0.Add(time.Duration(sec) * time.Second), Key: key, Model: "m", Status: 200, Session: sess,
			InputTokens: 10, OutputTokens: 2, CostKnown: true, CostMicros: 5, ContextTokens: ctx, ContextWindow: window, Summarized: summarized}
	}
	s.Add(ev(1, "a", "work", 1000, 8000, false))
	s.Add(ev(2, "b", "work", 100, 8000, false)) // another key's "work"
	s.Add(ev(3, "a", "work", 7000, 8000, true))
	s.Add(ev(4, "a", "", 0, 0, false)) // stateless
	late := ev(2, "a", "work", 500, 8000, false)
	s.Add(late) // arrives late: counted, but not the "last" context
	r := s.Session("a", "work")
	if r == nil || r.Turns != 3 || r.Context != 7000 || r.PeakContext != 7000 || r.Summaries != 1 || r.Cost != 15 || !r.LastSeen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("session a/work: %+v", r)
	}
	if rows := s.Sessions(""); len(rows) != 2 || rows[0].Key != "a" {
		t.Errorf("sessions, newest first: %+v", rows)
	}
	if rows := s.Sessions("B"); len(rows) != 1 || rows[0].Key != "b" {
		t.Errorf("filtered: %+v", rows)
	}
	if got := contextCell(r, 20, true); got != "████████░  7000/8000" {
		t.Errorf("context cell %q", got)
	}
	if got := contextCell(&SessionRow{Context: 12_345}, 20, true); got != strings.Repeat(" ", 13)+"12.3k/?" {
		t.Errorf("unknown window %q", got)
	}
	if got := contextCell(&SessionRow{Context: 150_000, Window: 200_000}, 10, true); got != "150k/200k" {
		t.Errorf("narrow %q", got)
	}
	// The number kept is bounded: the least recently seen go first.
	for i := range MaxSessions + 10 {
		s.Add(ev(10+i, "bulk", fmt.Sprint(i), 1, 0, false))
	}
	if n := len(s.Sessions("")); n != MaxSessions || s.Session("b", "work") != nil || s.Session("bulk", fmt.Sprint(MaxSessions+9)) == nil {
		t.Errorf("%d sessions kept", n)
	}
}

// TestGuardShown: once a guardrail fires, the header counts what it saw
// and refused, and a request's detail lists its hits and policy.
func TestGuardShown(t *testing.T) {
	feed := newFakeFeed(sample()...)
	tm := start(t, feed, 120, 40)
	feed.waitSub(t)
	waitFor(t, tm, "40 reqs")
	blocked := adminapi.Event{Time: t0.Add(59 * time.Second), Key: "intern", Model: "gpt-5", Status: 400, LatencyMS: 1,
		Guard: []adminapi.GuardHit{{Rule: "credentials", Action: "block", Side: "request", Detector: "vault_secret", Count: 1}}}
	masked := adminapi.Event{Time: t0.Add(59 * time.Second), Key: "intern", Model: "gpt-5", Status: 200, LatencyMS: 3,
		Guard: []adminapi.GuardHit{{Rule: "pii", Action: "mask", Side: "request", Detector: "email", Count: 2}}, Policy: "evening: route gpt-5-mini"}
	feed.send(blocked, masked)
	waitFor(t, tm, "guard 2 hit, 1 blocked")
	press(tm, "4", "enter")
	waitFor(t, tm, "guardrails")
	v := finish(t, tm).View()
	if !strings.Contains(v, "pii:mask:request:email=2") || !strings.Contains(v, "evening: route gpt-5-mini") {
		t.Errorf("the detail of a guarded request:\n%s", v)
	}
}
