package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Status is the answer to GET /v1/status.
type Status struct {
	Version    string           `json:"version"`
	PID        int              `json:"pid"`
	Listen     string           `json:"listen"`
	StartedAt  time.Time        `json:"started_at"`
	ReloadedAt time.Time        `json:"reloaded_at"`
	ConfigPath string           `json:"config_path"`
	DataDir    string           `json:"data_dir"`
	Providers  []ProviderStatus `json:"providers"`
	Models     []string         `json:"models"`
	Keys       int              `json:"keys"`
	Requests   uint64           `json:"requests"`
	InFlight   int64            `json:"in_flight"`
	// Now is the daemon's clock when it answered: the spend in Today
	// covers the requests that finished up to about then.
	Now time.Time `json:"now,omitzero"`
	// Today is the spend of the current UTC day, all keys; nil from a
	// daemon that does not report it.
	Today *DaySpend `json:"today,omitempty"`
	// TodayBy breaks Today down per virtual key, model and provider, as
	// of the same moment; nil from a daemon that does not report it.
	TodayBy *DayBreakdown `json:"today_by,omitempty"`
	// Budgets lists the budgets of every loaded virtual key that has some,
	// by key name.
	Budgets []KeyBudgets `json:"budgets,omitempty"`
}

// DayBreakdown is the spend of the current UTC day (Status.Today) per
// virtual key, model and provider, each ordered by name. A request
// without a key (refused before it authenticated) or a model is under
// the name "".
type DayBreakdown struct {
	Keys      []NamedSpend `json:"keys"`
	Models    []NamedSpend `json:"models"`
	Providers []NamedSpend `json:"providers"`
}

// NamedSpend sums the day's requests of one key, model or provider.
type NamedSpend struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	// Errors counts the requests that failed (status 400 or more, or a
	// stream cut short), as the usage ledger does.
	Errors       int64 `json:"errors"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// CostMicros sums the requests whose cost is known; CostUnknown
	// counts the others.
	CostMicros  int64 `json:"cost_micros"`
	CostUnknown int64 `json:"cost_unknown_requests"`
}

// Add counts one finished request.
func (n *NamedSpend) Add(e *Event) {
	n.Requests++
	if e.Status >= 400 || e.Error != "" {
		n.Errors++
	}
	n.InputTokens += e.InputTokens
	n.OutputTokens += e.OutputTokens
	if e.CostKnown {
		n.CostMicros += e.CostMicros
	} else {
		n.CostUnknown++
	}
}

// DaySpend sums the requests of one UTC day.
type DaySpend struct {
	// Day is the start of the UTC day (00:00).
	Day time.Time `json:"day"`
	// Since is when counting started: Day when the daemon read what the
	// usage ledger already held for the day, else the daemon's start
	// (accounting off, or the ledger could not be read).
	Since        time.Time `json:"since"`
	Requests     int64     `json:"requests"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	// CostMicros sums the requests whose cost is known, in micro-dollars.
	// With CostUnknown > 0 requests without a known price are left out
	// and CostMicros is a lower bound.
	CostMicros  int64 `json:"cost_micros"`
	CostUnknown int64 `json:"cost_unknown_requests"`
}

// Add counts one finished request into the sums.
func (d *DaySpend) Add(e *Event) {
	d.Requests++
	d.InputTokens += e.InputTokens
	d.OutputTokens += e.OutputTokens
	if e.CostKnown {
		d.CostMicros += e.CostMicros
	} else {
		d.CostUnknown++
	}
}

// KeyBudgets are one virtual key's budgets and where they stand.
type KeyBudgets struct {
	Key     string         `json:"key"`
	Budgets []BudgetStatus `json:"budgets"`
}

// BudgetStatus is a budget and what was spent of it in its current period.
type BudgetStatus struct {
	Budget
	// Used is the settled spend in the current period, in the budget's
	// unit (micro-dollars or tokens); it can pass Limit (soft budgets, and
	// the overspend bound of hard ones).
	Used int64 `json:"used"`
	// ResetsAt is when the current period ends; zero for a total budget.
	ResetsAt time.Time `json:"resets_at,omitzero"`
}

// ProviderStatus describes one configured provider.
type ProviderStatus struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Format string `json:"format"`
	// Secret is the vault secret the provider uses; empty if none.
	Secret string `json:"secret,omitempty"`
	// SecretPresent is false when the secret could not be read.
	SecretPresent bool   `json:"secret_present"`
	Problem       string `json:"problem,omitempty"`
}

// Event is one finished request, as streamed by GET /v1/events.
type Event struct {
	Time          time.Time `json:"time"`
	ID            string    `json:"id"`
	Key           string    `json:"key,omitempty"`
	Endpoint      string    `json:"endpoint"`
	Model         string    `json:"model,omitempty"`
	Provider      string    `json:"provider,omitempty"`
	UpstreamModel string    `json:"upstream_model,omitempty"`
	Stream        bool      `json:"stream"`
	Status        int       `json:"status"`
	InputTokens   int64     `json:"input_tokens"`
	OutputTokens  int64     `json:"output_tokens"`
	CachedTokens  int64     `json:"cached_tokens,omitempty"`
	// CacheWriteTokens are prompt tokens written to the provider's cache.
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	// ReasoningTokens are output tokens spent on reasoning (part of OutputTokens).
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
	// CostMicros is the cost in micro-dollars when CostKnown; a model
	// without a known price has CostKnown false, never a zero cost.
	CostMicros int64   `json:"cost_micros"`
	CostKnown  bool    `json:"cost_known"`
	LatencyMS  float64 `json:"latency_ms"`
	TTFBMS     float64 `json:"ttfb_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
	// Estimated is set when the provider reported no usage and credflow
	// counted the tokens itself (tiktoken).
	Estimated bool `json:"estimated,omitempty"`
	// Warning is set when the request passed a soft budget.
	Warning string `json:"warning,omitempty"`

	// Session names the stored conversation the request continued: a
	// session's name (X-Credflow-Session) or a conversation's id; empty
	// for a stateless request.
	Session string `json:"session,omitempty"`
	// ContextTokens estimates the stored history sent with the request
	// (after fitting), ContextWindow is the model's context window (0 when
	// unknown), and Summarized is set when older turns were replaced by a
	// summary for this request.
	ContextTokens int  `json:"context_tokens,omitempty"`
	ContextWindow int  `json:"context_window,omitempty"`
	Summarized    bool `json:"summarized,omitempty"`

	// Guard lists the guardrail hits of the request: rule, action, side,
	// detector and count, never the matched text.
	Guard []GuardHit `json:"guard,omitempty"`
	// Policy names the CEL policy that decided the request and how
	// ("evening-downgrade: route gpt-5-mini"); empty when none did.
	Policy string `json:"policy,omitempty"`
}

// GuardSummary renders hits for logs and reports:
// "pii:tokenize:request:email=2,…".
func GuardSummary(hits []GuardHit) string {
	var b strings.Builder
	for i, h := range hits {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(h.Rule + ":" + h.Action + ":" + h.Side)
		if h.Detector != "" {
			b.WriteString(":" + h.Detector)
		}
		b.WriteString("=" + strconv.Itoa(h.Count))
	}
	return b.String()
}

// GuardHit counts one guardrail rule's findings in a request.
type GuardHit struct {
	Rule     string `json:"rule"`
	Action   string `json:"action"`
	Side     string `json:"side"`
	Detector string `json:"detector,omitempty"`
	Count    int    `json:"count"`
}

// Status asks the daemon how it is.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}
