package tui

import (
	"bytes"
	"context"
	"fmt"
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
}

func newFakeFeed(evs ...adminapi.Event) *fakeFeed {
	return &fakeFeed{pending: evs, subs: make(chan struct{}, 16)}
}

func (f *fakeFeed) Status(ctx context.Context) (*adminapi.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	if f.down {
		return nil, adminapi.ErrNoDaemon
	}
	return &adminapi.Status{Version: "test", Listen: "127.0.0.1:7777", StartedAt: t0.Add(-time.Hour - 2*time.Minute)}, nil
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
		out = append(out, e)
	}
	return out
}

func start(t *testing.T, feed Feed, w, h int) *teatest.TestModel {
	t.Helper()
	m := New(context.Background(), feed, Options{
		Refresh: 20 * time.Millisecond, Now: clock, Location: time.UTC,
		Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
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
		{"feed_detail", []string{"4", "down", "enter"}},
		{"help", []string{"?"}},
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
	press(tm, "1")
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
	if reqs, toks := s.Rates(t0.Add(10 * time.Second)); reqs != 9.1 || toks != 91*15/10.0 {
		t.Errorf("rates %v req/s %v tok/s", reqs, toks)
	}
	ps := s.PerSecond(t0.Add(10*time.Second), 12)
	if len(ps) != 12 || ps[11] != 1 || ps[10] != 10 || ps[0] != 0 {
		t.Errorf("per second %v", ps)
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
	if got := sparkline([]int64{0, 1, 4, 8}); got != " ▁▄█" {
		t.Errorf("sparkline %q", got)
	}
	cols := fitColumns(aggCols, 40, 0, 40)
	if len(cols) >= len(aggCols) || totalWidth(cols) > 40 || cols[len(cols)-1].title == "ERR" {
		t.Errorf("fit 40: %+v", cols)
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
