package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/credflow/credflow/internal/cli"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/tui"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/muesli/termenv"
)

// topConfig routes a priced model and a free one to the mock provider, and
// one model to an OpenAI-compatible local server with no known price.
const topConfig = `
providers:
  mock: {type: mock}
  priced: {type: mock}
  local:
    type: openai-compatible
    base_url: %s/v1
routes:
  - model: gpt-4o
    targets: [priced]
  - model: "mock*"
    targets: [mock]
  - model: local-llm
    targets: [local]
prices:
  priced/gpt-4o: {input: "2.50", output: "10.00"}
`

// fakeLocalLLM answers chat completions with a usage that grows with the
// prompt, as a local server would.
func fakeLocalLLM(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in := 5 + len(body)/20
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-local","object":"chat.completion","created":1,"model":"local-llm",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":3,"total_tokens":%d}}`, in, in+3)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startServe runs 'credflow serve' in-process on a free port with config
// cfg and returns its data directory once the admin API answers.
func startServe(t *testing.T, cfg string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cftop") // short: Unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, "CREDFLOW_CONFIG": cfgPath, "CREDFLOW_DATA_DIR": filepath.Join(dir, "data")}
	var out, errOut bytes.Buffer
	f := &cli.Factory{
		IO:      iostreams.Test(nil, &out, &errOut),
		Getenv:  func(k string) string { return env[k] },
		Environ: func() []string { return nil },
		Now:     time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-level", "error"}, f) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	client := adminapi.NewClient(adminapi.SocketPath(env["CREDFLOW_DATA_DIR"]))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := client.Status(ctx); err == nil {
			return env["CREDFLOW_DATA_DIR"]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not come up: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTopMatchesLedger runs credflow top's model against a real daemon
// under load from several keys and models, then checks the numbers on its
// screen against the ledger's after a flush: requests, tokens in and out
// and cost per key and per model, today's spend (a lower bound, as one
// model has no price), and a key's token budget used.
func TestTopMatchesLedger(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	upstream := fakeLocalLLM(t)
	dataDir := startServe(t, fmt.Sprintf(topConfig, upstream.URL))
	ctx := context.Background()
	admin := adminapi.NewClient(adminapi.SocketPath(dataDir))
	st, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 50_000 // tokens a day for "agent"
	keys := map[string]string{}
	for _, name := range []string{"agent", "ci-bot", "alice"} {
		req := adminapi.CreateKeyRequest{Name: name}
		if name == "agent" {
			req.Policy.Budgets = []adminapi.Budget{{Limit: budget, Unit: adminapi.UnitTokens, Period: adminapi.PeriodDay}}
		}
		ik, err := admin.CreateKey(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = ik.Value
	}

	m := tui.New(ctx, admin, tui.Options{Refresh: 50 * time.Millisecond, StatusEvery: 100 * time.Millisecond, Location: time.UTC})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(130, 30))
	t.Cleanup(func() { tm.Quit() })
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(st.Listen)) },
		teatest.WithDuration(10*time.Second))

	// The load: every key asks every model (one of them unrouted: a 404)
	// a few times, from four clients at once.
	type job struct{ key, model, prompt string }
	var jobs []job
	for name, key := range keys {
		for _, model := range []string{"gpt-4o", "mock", "local-llm", "no-such-model"} {
			for i := range 6 {
				jobs = append(jobs, job{key, model, fmt.Sprintf("%s asks %s question %d: %s", name, model, i, strings.Repeat("why ", i*3))})
			}
		}
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	work := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				body, _ := json.Marshal(map[string]any{"model": j.model, "messages": []any{map[string]string{"role": "user", "content": j.prompt}}})
				req, _ := http.NewRequest("POST", "http://"+st.Listen+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+j.key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if want := j.model != "no-such-model"; (resp.StatusCode == 200) != want {
					t.Errorf("%s: status %d", j.model, resp.StatusCode)
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	if !time.Now().UTC().Truncate(24 * time.Hour).Equal(day) {
		t.Skip("the UTC day changed during the test")
	}

	// The ledger, once the daemon has written everything.
	if err := admin.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dataDir, store.FileName), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	byKey := ledgerRows(t, db, day, ledger.DimKey)
	byModel := ledgerRows(t, db, day, ledger.DimModel)
	total := ledgerRows(t, db, day)[""]
	db.Close()
	if total.Requests != int64(len(jobs)) || total.CostUnknown == 0 || total.Cost == 0 {
		t.Fatalf("ledger total %+v for %d requests: the load did not go as planned", total, len(jobs))
	}
	agent := byKey["agent"]
	used := agent.Input + agent.Output

	// Wait until top shows everything: all requests seen, and a status
	// taken after them (today's spend and the budget used are the
	// daemon's).
	wantTotal := fmt.Sprintf("%d reqs", total.Requests)
	wantToday := "today ≥" + total.Cost.String()
	wantBudget := fmt.Sprintf("%d%% %d/50k", used*100/budget, used)
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(wantTotal)) && bytes.Contains(b, []byte(wantToday)) && bytes.Contains(b, []byte(wantBudget))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))

	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*tui.Model)
	keysScreen := final.View()
	final.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("2")})
	modelsScreen := final.View()
	t.Logf("keys view:\n%s\nmodels view:\n%s", keysScreen, modelsScreen)

	header := strings.SplitN(keysScreen, "\n", 3)
	if !strings.Contains(header[0], wantToday) || !strings.HasPrefix(header[1], wantTotal+" ") {
		t.Errorf("header %q, want %q and %q", header[:2], wantToday, wantTotal)
	}
	checkScreenRows(t, "key", keysScreen, byKey)
	checkScreenRows(t, "model", modelsScreen, byModel)
	if m := regexp.MustCompile(`agent .* (\d+)% (\d+)/50k `).FindStringSubmatch(keysScreen); m == nil || m[2] != strconv.FormatInt(used, 10) || m[1] != strconv.FormatInt(used*100/budget, 10) {
		t.Errorf("agent's budget bar %q; the ledger has %d of %d tokens used", m, used, budget)
	}
}

// ledgerRows sums the ledger from day on, by dim (or in total, under "").
func ledgerRows(t *testing.T, db *store.DB, day time.Time, by ...ledger.Dim) map[string]ledger.Counters {
	t.Helper()
	rows, err := ledger.Usage(db, ledger.Query{Since: day, By: by})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ledger.Counters{}
	for _, r := range rows {
		out[r.Key+r.Model] = r.Counters
	}
	return out
}

// checkScreenRows reads the table on screen (NAME REQS IN OUT COST ...)
// and compares each row with the ledger's.
func checkScreenRows(t *testing.T, what, screen string, want map[string]ledger.Counters) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	start := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "  NAME") {
			start = i + 1
		}
	}
	seen := map[string]bool{}
	for _, l := range lines[start:] {
		f := strings.Fields(strings.TrimPrefix(l, "›"))
		if len(f) < 5 {
			break
		}
		name := f[0]
		w, ok := want[name]
		if !ok {
			t.Errorf("%s %q on screen is not in the ledger", what, name)
			continue
		}
		seen[name] = true
		nums := make([]int64, 3)
		for i := range nums {
			if nums[i], _ = strconv.ParseInt(f[1+i], 10, 64); f[1+i] != strconv.FormatInt(nums[i], 10) {
				t.Errorf("%s %s: %q is not a whole number", what, name, f[1+i])
			}
		}
		cost, unknown := f[4], false
		if strings.HasSuffix(cost, "+?") || cost == "?" {
			cost, unknown = strings.TrimSuffix(cost, "+?"), true
		}
		var micros pricing.Micros
		if cost != "?" {
			var err error
			if micros, err = pricing.ParseUSD(cost); err != nil {
				t.Errorf("%s %s: cost %q: %v", what, name, f[4], err)
			}
		}
		if nums[0] != w.Requests || nums[1] != w.Input || nums[2] != w.Output || micros != w.Cost || unknown != (w.CostUnknown > 0) {
			t.Errorf("%s %s on screen: %d requests, %d in, %d out, cost %s; ledger: %d, %d, %d, %s (%d of unknown cost)",
				what, name, nums[0], nums[1], nums[2], f[4], w.Requests, w.Input, w.Output, w.Cost, w.CostUnknown)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s %q of the ledger is not on screen", what, name)
		}
	}
}
