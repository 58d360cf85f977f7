package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/pkg/adminapi"
)

// A request a guardrail or policy acted on says so after its error class,
// with counts and never the text.
func TestLogsShowGuardAndPolicy(t *testing.T) {
	var b bytes.Buffer
	w := &logWriter{w: &b}
	recs := []ledger.Record{
		{Time: time.Now(), Key: "intern", Model: "gpt-5", Provider: "openai", Status: 400, ErrorClass: ledger.ErrBadRequest,
			Guard: []adminapi.GuardHit{{Rule: "credentials", Action: "block", Side: "request", Detector: "vault_secret", Count: 1}}},
		{Time: time.Now(), Key: "intern", Model: "gpt-5", Provider: "openai", Status: 200, Policy: "evening: route gpt-5-mini",
			Guard: []adminapi.GuardHit{{Rule: "pii", Action: "tokenize", Side: "request", Detector: "email", Count: 2}}},
		{Time: time.Now(), Key: "intern", Model: "gpt-5", Provider: "openai", Status: 200},
	}
	for i := range recs {
		if err := w.print(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 ||
		!strings.HasSuffix(lines[1], "bad_request guard=credentials:block:request:vault_secret=1") ||
		!strings.HasSuffix(lines[2], `guard=pii:tokenize:request:email=2 policy="evening: route gpt-5-mini"`) ||
		strings.Contains(lines[3], "guard") {
		t.Fatalf("logs:\n%s", b.String())
	}
}
