package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/pkg/contextdoc"
)

// BenchmarkSessionContinuation measures, side by side in one run, one
// client's requests through the gateway: stateless, and continuing
// sessions of 200 stored turns (each request sends only its new turn; the
// gateway loads the history, fits it into the window, splices it in,
// forwards, and stores the new turn durably before answering). It reports
// p50 and p99 latency; the target is the session's p50 at most
// 1 ms above the stateless one.
func BenchmarkSessionContinuation(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchCompletion)
	}))
	defer up.Close()
	e := startGatewayB(b, nil, `
server:
  log_level: warn
providers:
  up:
    type: openai-compatible
    base_url: `+up.URL+`/v1
routes:
  - model: bench
    targets: [up]
prices:
  up/bench: {input: "0", output: "0", context: 1000000}
`)
	st, err := e.srv.ContextStore(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	// 20 sessions of 200 turns each, written straight to the file.
	const sessions, turns = 20, 200
	question := "Can you tell me more about the second point, with an example from the standard library?"
	answer := strings.Repeat("Here is a longer answer that explains the point in some detail. ", 6)
	for i := 0; i < sessions; i++ {
		items := make([]contextdoc.Item, 0, 2*turns)
		for j := 0; j < turns; j++ {
			items = append(items,
				contextdoc.Item{Type: contextdoc.TypeMessage, Role: "user", Content: []contextdoc.Part{contextdoc.TextPart(fmt.Sprintf("%d: %s", j, question))}},
				contextdoc.Item{Type: contextdoc.TypeMessage, Role: "assistant", Content: []contextdoc.Part{contextdoc.TextPart(answer)}})
		}
		if err := st.Commit(context.Background(), session.Change{Kind: session.KindSession, Owner: "test", ID: fmt.Sprintf("s%d", i), Append: items}); err != nil {
			b.Fatal(err)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	run := func(b *testing.B, session bool) {
		lat := make([]time.Duration, 0, b.N)
		i := 0
		for b.Loop() {
			req, _ := http.NewRequest("POST", e.base+"/v1/chat/completions", strings.NewReader(benchRequest))
			req.Header.Set("Authorization", "Bearer "+e.key)
			if session {
				req.Header.Set("X-Credflow-Session", fmt.Sprintf("s%d", i%sessions))
			}
			i++
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		}
	}
	b.Run("stateless", func(b *testing.B) { run(b, false) })
	b.Run("session-200-turns", func(b *testing.B) { run(b, true) })
}
