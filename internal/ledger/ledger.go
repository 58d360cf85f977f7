// Package ledger owns credflow's request ledger: one Record per request the
// gateway finished (who, which model and stored conversation, tokens, cost,
// status, latency; never prompt or reply text), and hourly and daily
// rollups of those records that answer "what did we spend" without
// scanning the records (per session, Usage reads the records: see
// DimSession).
//
// # Storage
//
// Three buckets of the data file (schema 3, see internal/store):
//
//   - usage: one record per request, keyed by 8-byte big-endian UTC unix
//     nanoseconds + an 8-byte big-endian sequence (NextSequence), so keys
//     sort by time and two records of the same nanosecond never collide.
//     The value is the Record as JSON. JSON rather than a binary encoding
//     because records are written in batches off the request path (their
//     encoding cost is not on the hot path), are read a few hundred at a
//     time by `credflow logs`, and JSON lets fields be added without a
//     migration and lets a person read the file with any bbolt tool. With
//     short field names and omitted zero values a record is ~250 bytes.
//   - rollups_hour and rollups_day: keyed by the period's start (8-byte
//     big-endian unix seconds, UTC hours and UTC days) + a dimension byte
//     (k key, m model, p provider, t total, c the key+provider+model
//     combination) + the name (empty for t; for c three uvarint-length-
//     prefixed strings). The value is Counters as 11 big-endian uint64s
//     (88 bytes): rollups are read, added to and rewritten on every flush,
//     and a fixed binary layout keeps that cheap and exact. A reader of an
//     older, shorter value treats the missing counters as zero.
//
// The c dimension lets a query filter by key and group by model (or group
// by two of key, model and provider) from rollups alone; k, m, p and t are
// what the common one-dimension queries read.
//
// # Consistency
//
// A Writer stores a batch of records and adds them to the rollups in one
// bbolt transaction, so after any crash the rollups equal the sums of the
// records (bbolt commits a transaction entirely or not at all). Check
// verifies this, Rebuild recomputes the rollups from the records, and
// EnsureConsistent (run when the daemon starts) does the first and, when it
// fails, the second.
//
// # Damage
//
// A usage record that does not decode (its JSON is broken) or a rollup of
// the wrong length is skipped and counted in a Damage, never a reason to
// fail a report or the daemon's start: UsageWithDamage, RecentWithDamage,
// CheckDamage and EnsureConsistent return what they skipped, for the
// caller to report. Check and Rebuild leave the rollups of the hour and
// the day of an undecodable record as they are: they were written with the
// record while it was whole, and are all that is left of it. A damaged
// rollup in a period whose records are all readable is rebuilt from them.
//
// # Retention
//
// With Options.Retention set, raw records older than that are deleted
// during flushes; their rollups stay, so `credflow usage` still reports the
// old periods. The time before which records were deleted is kept in
// meta/usage_pruned_before. Rollups of periods that start before it (the
// period the cut falls in included) cannot be re-verified or rebuilt any
// more: Check and Rebuild leave them alone.
package ledger

import (
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Record is one finished gateway request. It never holds prompt or reply
// text, nor a key's value (Key is the virtual key's name).
type Record struct {
	// Time is when the request finished, UTC.
	Time time.Time `json:"time"`
	// ID is the gateway's request id (unique within one daemon run).
	ID string `json:"id,omitempty"`
	// Key is the virtual key's name; empty when the request did not
	// authenticate.
	Key string `json:"key,omitempty"`
	// Session is the stored conversation the request continued: a
	// session's name or a conversation's id (see adminapi.Event.Session).
	// Like key names it is kept in the clear; the conversation's content
	// never is.
	Session  string `json:"session,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Model is the model the client asked for, UpstreamModel the one sent
	// to the provider (they differ for aliases and routes).
	Model         string `json:"model,omitempty"`
	UpstreamModel string `json:"upstream_model,omitempty"`
	Endpoint      string `json:"endpoint,omitempty"`
	Status        int    `json:"status"`
	Stream        bool   `json:"stream,omitempty"`

	// Input is the whole prompt, cache reads and writes included (OpenAI's
	// prompt_tokens; Anthropic's input + cache read + cache creation), as
	// the gateway's events report it. CacheRead and CacheWrite are the
	// parts of Input read from and written to a prompt cache. Output counts
	// every generated token, Reasoning the part of Output spent reasoning.
	Input      int64 `json:"input,omitempty"`
	Output     int64 `json:"output,omitempty"`
	CacheRead  int64 `json:"cache_read,omitempty"`
	CacheWrite int64 `json:"cache_write,omitempty"`
	Reasoning  int64 `json:"reasoning,omitempty"`

	// Cost is meaningful only when CostKnown: a model without a known
	// price has an unknown cost, never a zero one.
	Cost      pricing.Micros `json:"cost_micros,omitempty"`
	CostKnown bool           `json:"cost_known,omitempty"`

	// LatencyUS is the time from request to the end of the response,
	// TTFBUS to its first byte (0 when none was sent), in microseconds.
	LatencyUS int64 `json:"latency_us,omitempty"`
	TTFBUS    int64 `json:"ttfb_us,omitempty"`

	// ErrorClass is empty for a request that succeeded, else a short class
	// (see ClassifyError).
	ErrorClass string `json:"error,omitempty"`
	// Estimated is set when the token counts were estimated by credflow
	// rather than reported by the provider.
	Estimated bool `json:"estimated,omitempty"`
	// Guard lists guardrail hits (rule, action, side, detector, count),
	// never the matched text; Policy the CEL policy decision.
	Guard  []adminapi.GuardHit `json:"guard,omitempty"`
	Policy string              `json:"policy,omitempty"`
}

// Failed reports whether the request counts as an error: a status of 400
// or more, or an error class (a stream cut after a 200).
func (r *Record) Failed() bool { return r.Status >= 400 || r.ErrorClass != "" }

// Error classes.
const (
	ErrAuth        = "auth"         // 401, 403: bad, expired or refused virtual key
	ErrNotFound    = "not_found"    // 404: no route for the model, unknown endpoint
	ErrRateLimited = "rate_limited" // 429
	ErrBadRequest  = "bad_request"  // any other 4xx
	ErrUpstream    = "upstream"     // 5xx: provider failed or unreachable
	ErrCut         = "cut"          // the response or stream was cut short
	ErrOther       = "error"        // an error with a success status
)

// ClassifyError turns a status and the gateway's error message into a
// short error class; "" for a success without error.
func ClassifyError(status int, msg string) string {
	if msg != "" && strings.Contains(msg, " cut") {
		return ErrCut
	}
	switch {
	case status == 401 || status == 403:
		return ErrAuth
	case status == 404:
		return ErrNotFound
	case status == 429:
		return ErrRateLimited
	case status >= 400 && status < 500:
		return ErrBadRequest
	case status >= 500:
		return ErrUpstream
	case msg != "":
		return ErrOther
	}
	return ""
}

// FromEvent turns the gateway's event for a finished request into a
// Record, without a cost (see Price). The event's input count includes
// cached tokens, as Record.Input does; the event carries no cache-write,
// reasoning or estimate information, so those stay zero.
// The gateway prices the event itself (with the config's overrides); its
// cost is carried over as it is.
func FromEvent(e adminapi.Event) Record {
	return Record{
		Time:          e.Time.UTC(),
		ID:            e.ID,
		Key:           e.Key,
		Session:       e.Session,
		Provider:      e.Provider,
		Model:         e.Model,
		UpstreamModel: e.UpstreamModel,
		Endpoint:      e.Endpoint,
		Status:        e.Status,
		Stream:        e.Stream,
		Input:         e.InputTokens,
		Output:        e.OutputTokens,
		CacheRead:     e.CachedTokens,
		CacheWrite:    e.CacheWriteTokens,
		Reasoning:     e.ReasoningTokens,
		Cost:          pricing.Micros(e.CostMicros),
		CostKnown:     e.CostKnown,
		Estimated:     e.Estimated,
		LatencyUS:     msToUS(e.LatencyMS),
		TTFBUS:        msToUS(e.TTFBMS),
		ErrorClass:    ClassifyError(e.Status, e.Error),
		Guard:         e.Guard,
		Policy:        e.Policy,
	}
}

func msToUS(ms float64) int64 {
	if ms <= 0 || math.IsNaN(ms) {
		return 0
	}
	if ms > math.MaxInt64/1000 {
		return math.MaxInt64
	}
	return int64(math.Round(ms * 1000))
}

// Price fills r.Cost and r.CostKnown from the price table for a request
// served by a provider of type providerType at baseURL (the config's
// provider type and base_url). The upstream model is priced (the requested
// one when it is empty). Input is priced as Input - CacheRead - CacheWrite,
// cache reads at the cache-read price and writes at the cache-write price
// (pricing.Price.Cost falls back to the input price when the table has no
// cache price).
//
// Known zero costs: a request refused (status ≥ 400) with no tokens
// reported was not billed, a count_tokens call is free, and the built-in
// mock provider is free. Any other request whose model has no known price
// gets CostKnown false.
func Price(r *Record, t *pricing.Table, providerType, baseURL string) {
	r.Cost, r.CostKnown = 0, false
	noTokens := r.Input == 0 && r.Output == 0 && r.CacheRead == 0 && r.CacheWrite == 0
	if noTokens && r.Status >= 400 || strings.HasSuffix(r.Endpoint, "count_tokens") || strings.EqualFold(providerType, "mock") {
		r.CostKnown = true
		return
	}
	if t == nil {
		return
	}
	model := r.UpstreamModel
	if model == "" {
		model = r.Model
	}
	p, ok := t.Lookup(t.ProviderFor(providerType, baseURL), model)
	if !ok {
		return
	}
	in := r.Input - r.CacheRead - r.CacheWrite
	if in < 0 {
		in = 0
	}
	cost, ok := p.Cost(pricing.Usage{Input: in, Output: r.Output, CacheRead: r.CacheRead, CacheWrite: r.CacheWrite})
	if ok {
		r.Cost, r.CostKnown = cost, true
	}
}

// Counters are the sums a rollup keeps for a period and a group.
type Counters struct {
	Requests int64 `json:"requests"`
	// Errors counts requests that Failed.
	Errors int64 `json:"errors"`
	// Input includes Cached and CacheWrite, as Record.Input does.
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	Cached     int64 `json:"cached"`
	CacheWrite int64 `json:"cache_write"`
	Reasoning  int64 `json:"reasoning"`
	// Cost sums the requests whose cost is known; CostUnknown counts the
	// others, so Cost is a lower bound when CostUnknown > 0.
	Cost        pricing.Micros `json:"cost_micros"`
	CostUnknown int64          `json:"cost_unknown_requests"`
	LatencyUS   int64          `json:"latency_us_sum"`
	// Estimated counts requests whose tokens were estimated.
	Estimated int64 `json:"estimated"`
}

// numCounters is the number of fields in the encoded form.
const numCounters = 11

// AddRecord adds one record to c.
func (c *Counters) AddRecord(r *Record) {
	c.Requests++
	if r.Failed() {
		c.Errors++
	}
	c.Input += r.Input
	c.Output += r.Output
	c.Cached += r.CacheRead
	c.CacheWrite += r.CacheWrite
	c.Reasoning += r.Reasoning
	if r.CostKnown {
		c.Cost += r.Cost
	} else {
		c.CostUnknown++
	}
	c.LatencyUS += r.LatencyUS
	if r.Estimated {
		c.Estimated++
	}
}

// Add adds o to c.
func (c *Counters) Add(o Counters) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.Input += o.Input
	c.Output += o.Output
	c.Cached += o.Cached
	c.CacheWrite += o.CacheWrite
	c.Reasoning += o.Reasoning
	c.Cost += o.Cost
	c.CostUnknown += o.CostUnknown
	c.LatencyUS += o.LatencyUS
	c.Estimated += o.Estimated
}

func (c *Counters) fields() [numCounters]*int64 {
	return [numCounters]*int64{&c.Requests, &c.Errors, &c.Input, &c.Output, &c.Cached, &c.CacheWrite,
		&c.Reasoning, (*int64)(&c.Cost), &c.CostUnknown, &c.LatencyUS, &c.Estimated}
}

func (c Counters) encode() []byte {
	b := make([]byte, 8*numCounters)
	for i, p := range c.fields() {
		binary.BigEndian.PutUint64(b[8*i:], uint64(*p))
	}
	return b
}

func decodeCounters(b []byte) Counters {
	var c Counters
	for i, p := range c.fields() {
		if len(b) < 8*(i+1) {
			break
		}
		*p = int64(binary.BigEndian.Uint64(b[8*i:]))
	}
	return c
}
