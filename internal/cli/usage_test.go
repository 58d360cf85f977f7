package cli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/cli"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/store"
)

// usageNow is the fixed clock of these tests: 2026-03-10 12:30 UTC.
var usageNow = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

// seedLedger writes records into a fresh data directory through a real
// ledger.Writer and returns the directory.
func seedLedger(t *testing.T, recs []ledger.Record) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	w := ledger.NewWriter(func() (*store.DB, error) { return store.Open(path, store.Options{}) }, ledger.Options{})
	for _, r := range recs {
		w.Add(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runIn(t *testing.T, dataDir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	home := t.TempDir()
	env := map[string]string{
		"CREDFLOW_DATA_DIR": dataDir,
		"HOME":              home,
		"XDG_CONFIG_HOME":   filepath.Join(home, ".config"),
		"XDG_DATA_HOME":     filepath.Join(home, ".local", "share"),
	}
	f := &cli.Factory{
		IO:      iostreams.Test(nil, &out, &errOut),
		Getenv:  func(k string) string { return env[k] },
		Environ: func() []string { return nil },
		Now:     func() time.Time { return usageNow },
	}
	code = cli.Run(context.Background(), args, f)
	return code, out.String(), errOut.String()
}

func usageRecords() []ledger.Record {
	day := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	return []ledger.Record{
		{Time: day.Add(9 * time.Hour), ID: "1", Key: "agent", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 1000, Output: 200, CacheRead: 600, Cost: 2500, CostKnown: true, LatencyUS: 800_000},
		{Time: day.Add(10 * time.Hour), ID: "2", Key: "agent", Model: "claude-sonnet-4-5", Provider: "anthropic", Status: 200, Input: 500, Output: 100, Cost: 3000, CostKnown: true, LatencyUS: 1_200_000},
		{Time: day.Add(11 * time.Hour), ID: "3", Key: "ci", Model: "gpt-4o", Provider: "openai", Status: 429, ErrorClass: ledger.ErrRateLimited, CostKnown: true},
		{Time: day.Add(35 * time.Hour), ID: "4", Key: "ci", Model: "mystery-model", Provider: "groq", Status: 200, Input: 40, Output: 2, LatencyUS: 50_000},
		// Older than the default --since 7d.
		{Time: day.AddDate(0, 0, -20), ID: "0", Key: "old", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 1, Output: 1, Cost: 1_000_000, CostKnown: true},
	}
}

var spaces = regexp.MustCompile(`\s+`)

// fields splits table output into lines of single-space-separated cells.
func tableLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.TrimSpace(spaces.ReplaceAllString(l, " ")))
	}
	return out
}

func TestUsageCommand(t *testing.T) {
	dir := seedLedger(t, usageRecords())

	code, out, errOut := runIn(t, dir, "usage")
	if code != 0 {
		t.Fatalf("usage exited %d: %s", code, errOut)
	}
	// 4 requests in the last 7 days; the groq one has no price.
	want := []string{
		"REQUESTS ERRORS INPUT OUTPUT CACHED COST",
		"TOTAL 4 1 1540 302 600 ≥$0.0055 (+1 unpriced)",
	}
	if got := tableLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	code, out, errOut = runIn(t, dir, "usage", "--by", "key,model")
	if code != 0 {
		t.Fatalf("usage --by key,model exited %d: %s", code, errOut)
	}
	want = []string{
		"KEY MODEL REQUESTS ERRORS INPUT OUTPUT CACHED COST",
		"agent claude-sonnet-4-5 1 0 500 100 0 $0.003",
		"agent gpt-4o 1 0 1000 200 600 $0.0025",
		"ci gpt-4o 1 1 0 0 0 $0.00",
		"ci mystery-model 1 0 40 2 0 ≥$0.00 (+1 unpriced)",
		"TOTAL 4 1 1540 302 600 ≥$0.0055 (+1 unpriced)",
	}
	if got := tableLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage --by key,model =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	code, out, _ = runIn(t, dir, "usage", "--by", "day", "--by", "provider", "--since", "30d")
	want = []string{
		"DAY PROVIDER REQUESTS ERRORS INPUT OUTPUT CACHED COST",
		"2026-02-17 openai 1 0 1 1 0 $1.00",
		"2026-03-09 anthropic 1 0 500 100 0 $0.003",
		"2026-03-09 openai 2 1 1000 200 600 $0.0025",
		"2026-03-10 groq 1 0 40 2 0 ≥$0.00 (+1 unpriced)",
		"TOTAL 5 1 1541 303 600 ≥$1.0055 (+1 unpriced)",
	}
	if got := tableLines(out); code != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage --by day,provider --since 30d (exit %d) =\n%s\nwant\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A short range reads hourly rollups; --key filters while grouping by model.
	code, out, _ = runIn(t, dir, "usage", "--by", "hour,model", "--key", "agent", "--since", "2026-03-09T09:30:00Z", "--until", "2026-03-09T10:10:00Z")
	want = []string{
		"HOUR MODEL REQUESTS ERRORS INPUT OUTPUT CACHED COST",
		"2026-03-09 09:00 gpt-4o 1 0 1000 200 600 $0.0025",
		"2026-03-09 10:00 claude-sonnet-4-5 1 0 500 100 0 $0.003",
		"TOTAL 2 0 1500 300 600 $0.0055",
	}
	if got := tableLines(out); code != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage --by hour,model --key agent (exit %d) =\n%s\nwant\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	code, out, _ = runIn(t, dir, "usage", "--by", "provider", "--json")
	var js struct {
		Granularity string `json:"granularity"`
		Rows        []struct {
			Provider    *string `json:"provider"`
			Requests    int64   `json:"requests"`
			CostMicros  int64   `json:"cost_micros"`
			CostUnknown int64   `json:"cost_unknown_requests"`
			Cost        string  `json:"cost"`
		} `json:"rows"`
		Total struct {
			Requests   int64 `json:"requests"`
			CostMicros int64 `json:"cost_micros"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil {
		t.Fatalf("usage --json exited %d, %v: %s", code, err, out)
	}
	if js.Granularity != "day" || len(js.Rows) != 3 || js.Total.Requests != 4 || js.Total.CostMicros != 5500 {
		t.Errorf("usage --json = %+v", js)
	}
	if r := js.Rows[0]; r.Provider == nil || *r.Provider != "anthropic" || r.CostMicros != 3000 || r.Cost != "$0.003" {
		t.Errorf("first JSON row %+v; want anthropic, 3000 micros", r)
	}

	code, out, _ = runIn(t, dir, "usage", "--by", "model", "--csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 4 {
		t.Fatalf("usage --csv exited %d, %v, %d lines: %s", code, err, len(recs), out)
	}
	if got := strings.Join(recs[0][:3], ","); got != "model,requests,errors" {
		t.Errorf("CSV header starts %q", got)
	}
	// Highest cost first.
	if got := strings.Join(recs[1], ","); got != "claude-sonnet-4-5,1,0,500,100,0,0,0,0.003,0,1200000,0" {
		t.Errorf("CSV first row %q", got)
	}
	if got := strings.Join(recs[2], ","); got != "gpt-4o,2,1,1000,200,600,0,0,0.0025,0,800000,0" {
		t.Errorf("CSV second row %q", got)
	}

	code, _, errOut = runIn(t, dir, "usage", "--key", "nobody")
	if code != 0 || !strings.Contains(errOut, "no usage recorded") {
		t.Errorf("usage --key nobody exited %d: %s", code, errOut)
	}
}

func TestLogsCommand(t *testing.T) {
	dir := seedLedger(t, usageRecords())
	code, out, errOut := runIn(t, dir, "logs")
	if code != 0 {
		t.Fatalf("logs exited %d: %s", code, errOut)
	}
	lines := tableLines(out)
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "TIME KEY MODEL PROVIDER STATUS IN OUT COST LATENCY ERROR") {
		t.Fatalf("logs =\n%s", out)
	}
	// Newest last.
	if !strings.Contains(lines[1], " old gpt-4o openai 200 1 1 $1.00 ") || !strings.Contains(lines[5], " ci mystery-model groq 200 40 2 ? 50ms") {
		t.Errorf("logs order or cells wrong:\n%s", out)
	}
	if !strings.Contains(lines[3], " agent claude-sonnet-4-5 anthropic 200 500 100 $0.003 1.2s") {
		t.Errorf("logs line %q", lines[3])
	}

	code, out, _ = runIn(t, dir, "logs", "--errors")
	if lines := tableLines(out); code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[1], "429 0 0 $0.00 0s rate_limited") {
		t.Errorf("logs --errors =\n%s", out)
	}
	code, out, _ = runIn(t, dir, "logs", "--model", "gpt-4o", "--key", "agent", "--json")
	var r ledger.Record
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.ID != "1" || r.CacheRead != 600 {
		t.Errorf("logs --model gpt-4o --key agent --json = %s (%v)", out, err)
	}
	code, out, _ = runIn(t, dir, "logs", "-n", "2", "--json")
	if got := strings.Count(out, "\n"); code != 0 || got != 2 || !strings.Contains(out, `"id":"4"`) || !strings.Contains(out, `"id":"3"`) {
		t.Errorf("logs -n 2 --json =\n%s", out)
	}
}

// --by session groups the raw records by stored conversation: with the
// key filter and other dimensions, "-" for requests without one, and a
// note when the range reaches past the records kept.
func TestUsageBySession(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	recs := []ledger.Record{
		{Time: day.Add(9 * time.Hour), ID: "1", Key: "agent", Session: "refactor", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 1000, Output: 100, Cost: 2000, CostKnown: true},
		{Time: day.Add(10 * time.Hour), ID: "2", Key: "agent", Session: "refactor", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 3000, Output: 100, Cost: 4000, CostKnown: true},
		{Time: day.Add(11 * time.Hour), ID: "3", Key: "agent", Session: "conv_abc", Model: "mock", Provider: "mock", Status: 200, Input: 5, Output: 5, CostKnown: true},
		{Time: day.Add(11 * time.Hour), ID: "4", Key: "agent", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 10, Output: 10, Cost: 100, CostKnown: true},
		{Time: day.Add(12 * time.Hour), ID: "5", Key: "ci", Session: "refactor", Model: "mystery", Provider: "groq", Status: 200, Input: 7, Output: 1},
	}
	dir := seedLedger(t, recs)

	code, out, errOut := runIn(t, dir, "usage", "--by", "key,session", "--since", "24h")
	if code != 0 {
		t.Fatalf("usage --by key,session exited %d: %s", code, errOut)
	}
	want := []string{
		"KEY SESSION REQUESTS ERRORS INPUT OUTPUT CACHED COST",
		"agent refactor 2 0 4000 200 0 $0.006",
		"agent - 1 0 10 10 0 $0.0001",
		"agent conv_abc 1 0 5 5 0 $0.00",
		"ci refactor 1 0 7 1 0 ≥$0.00 (+1 unpriced)",
		"TOTAL 5 0 4022 216 0 ≥$0.0061 (+1 unpriced)",
	}
	if got := tableLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage --by key,session =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	code, out, _ = runIn(t, dir, "usage", "--by", "session", "--key", "agent", "--json")
	var js struct {
		Source string `json:"source"`
		Rows   []struct {
			Session  *string `json:"session"`
			Requests int64   `json:"requests"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil {
		t.Fatalf("usage --by session --json exited %d, %v: %s", code, err, out)
	}
	if js.Source != "records" || len(js.Rows) != 3 || js.Rows[0].Session == nil || *js.Rows[0].Session != "refactor" || js.Rows[0].Requests != 2 {
		t.Errorf("usage --by session --json = %s", out)
	}
	if code, out, _ := runIn(t, dir, "usage", "--by", "key", "--json"); code != 0 || !strings.Contains(out, `"source": "rollups"`) {
		t.Errorf("usage --by key --json does not say it read rollups: %s", out)
	}
}

// A range that starts before the records kept says so.
func TestUsageBySessionPastRetention(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	w := ledger.NewWriter(func() (*store.DB, error) { return store.Open(path, store.Options{}) },
		ledger.Options{Retention: 72 * time.Hour, Now: func() time.Time { return usageNow }})
	w.Add(ledger.Record{Time: usageNow.AddDate(0, 0, -10), ID: "old", Key: "agent", Session: "gone", Status: 200, Input: 1, CostKnown: true})
	w.Add(ledger.Record{Time: usageNow.Add(-time.Hour), ID: "new", Key: "agent", Session: "kept", Status: 200, Input: 2, CostKnown: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runIn(t, dir, "usage", "--by", "session", "--since", "30d")
	if code != 0 || strings.Contains(out, "gone") || !strings.Contains(out, "kept") {
		t.Fatalf("usage --by session --since 30d exited %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "--by session reads the request records, kept from ") {
		t.Errorf("no note on the retention: %q", errOut)
	}
	if _, _, errOut := runIn(t, dir, "usage", "--by", "session", "--since", "24h"); errOut != "" {
		t.Errorf("a range within the records kept has a note: %q", errOut)
	}
}
