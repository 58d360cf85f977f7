package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/pkg/adminapi"
)

// detailView shows every number of one aggregate row (live) or of one
// request from the feed.
type detailView struct {
	dim     Dim
	name    string
	event   *adminapi.Event // set for a request from the feed
	session *sessionID      // set for a session
}

// View draws the detail, width cells wide; budgets are the keys' budgets
// by key name.
func (d *detailView) View(s *Stats, budgets map[string][]adminapi.BudgetStatus, width int, loc *time.Location) string {
	var title string
	var kv [][2]string
	switch {
	case d.event != nil:
		title, kv = eventDetail(d.event, loc)
	case d.session != nil:
		title = "session " + d.session.session
		kv = [][2]string{{"forgotten", fmt.Sprintf("top keeps the %d sessions seen most recently", MaxSessions)}}
		if r := s.Session(d.session.key, d.session.session); r != nil {
			title, kv = sessionTitle(r), sessionDetail(r, loc)
		}
	default:
		title = d.dim.String() + " " + d.name
		kv = rowDetail(s.Row(d.dim, d.name), loc)
		if d.dim == DimKey {
			// After the cost: they matter more than the latency lines,
			// which a short terminal cuts first.
			kv = slices.Insert(kv, min(len(kv), 8), budgetDetail(budgets[d.name], loc)...)
		}
	}
	var b strings.Builder
	b.WriteString(styles.title.Render(title))
	for _, p := range kv {
		b.WriteString("\n" + labelled(p[0], 18, p[1], width))
	}
	return clip(b.String(), width)
}

func rowDetail(r *Row, loc *time.Location) [][2]string {
	if r == nil {
		return [][2]string{{"requests", "0"}}
	}
	var avg string
	if priced := r.Requests - r.Unpriced; priced > 0 {
		avg = pricing.Micros(r.Cost / priced).String()
	} else {
		avg = "?"
	}
	lat := r.Latencies()
	var sum, peak float64
	for _, v := range lat {
		sum += v
		peak = max(peak, v)
	}
	mean := 0.0
	if len(lat) > 0 {
		mean = sum / float64(len(lat))
	}
	last := "-"
	if !r.LastSeen.IsZero() {
		last = r.LastSeen.In(loc).Format(time.DateTime)
	}
	return [][2]string{
		{"requests", fmt.Sprint(r.Requests)},
		{"errors", fmt.Sprintf("%d (%s)", r.Errors, percent(r.Errors, r.Requests))},
		{"tokens in", fmt.Sprint(r.In)},
		{"tokens out", fmt.Sprint(r.Out)},
		{"tokens total", fmt.Sprint(r.In + r.Out)},
		{"cost", money(r.Cost, r.Unpriced, r.Requests)},
		{"unpriced requests", fmt.Sprint(r.Unpriced)},
		{"avg cost/request", avg},
		{"latency p50", latency(r.Percentile(50))},
		{"latency p90", latency(r.Percentile(90))},
		{"latency p99", latency(r.Percentile(99))},
		{"latency mean", latency(mean)},
		{"latency max", latency(peak)},
		{"latency samples", fmt.Sprintf("%d (last %d kept)", len(lat), LatencySamples)},
		{"last request", last},
		{"last error", dash(r.LastError)},
	}
}

func eventDetail(e *adminapi.Event, loc *time.Location) (string, [][2]string) {
	cost := "? (unknown price)"
	if e.CostKnown {
		cost = pricing.Micros(e.CostMicros).String()
	}
	if e.Estimated {
		cost += " (estimated tokens)"
	}
	kv := [][2]string{
		{"time", e.Time.In(loc).Format("2006-01-02 15:04:05.000")},
		{"key", dash(e.Key)},
		{"endpoint", dash(e.Endpoint)},
		{"model", dash(e.Model)},
		{"upstream model", dash(e.UpstreamModel)},
		{"provider", dash(e.Provider)},
		{"stream", fmt.Sprint(e.Stream)},
		{"status", fmt.Sprint(e.Status)},
		{"tokens in", fmt.Sprint(e.InputTokens)},
		{"tokens out", fmt.Sprint(e.OutputTokens)},
		{"cached tokens", fmt.Sprint(e.CachedTokens)},
		{"cache write tokens", fmt.Sprint(e.CacheWriteTokens)},
		{"reasoning tokens", fmt.Sprint(e.ReasoningTokens)},
		{"cost", cost},
		{"latency", latency(e.LatencyMS)},
		{"time to first byte", latency(e.TTFBMS)},
		{"warning", dash(e.Warning)},
		{"error", dash(e.Error)},
	}
	if len(e.Guard) > 0 {
		kv = append(kv, [2]string{"guardrails", adminapi.GuardSummary(e.Guard)})
	}
	if e.Policy != "" {
		kv = append(kv, [2]string{"policy", e.Policy})
	}
	if e.Session != "" {
		// After the key: a stateful request's history is what it is about.
		window := "unknown window"
		if e.ContextWindow > 0 {
			window = fmt.Sprintf("of a %d-token window", e.ContextWindow)
		}
		hist := fmt.Sprintf("%d tokens %s", e.ContextTokens, window)
		if e.Summarized {
			hist += ", older turns summarized"
		}
		kv = slices.Insert(kv, 2, [2]string{"session", e.Session}, [2]string{"history sent", hist})
	}
	return "request " + dash(e.ID), kv
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
