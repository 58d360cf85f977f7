// Package limits owns enforcement of virtual keys' budgets and rate limits
// in the gateway: a reservation is taken before a request goes upstream and
// settled with the real usage after, so concurrent requests cannot jointly
// overspend a hard budget by more than their reservations underestimate.
//
// Overspend bound: a hard budget admits a request only while settled spend
// plus all in-flight reservations plus its own reservation stays within the
// limit. A reservation is an upper bound of the request's cost when the
// request states its output cap (max_tokens / max_completion_tokens /
// max_output_tokens), holds text only and the upstream honours the cap: the
// prompt is reserved at one token per byte of body (a token is never
// shorter than a byte) and the output at its cap. So for such requests the
// budget is never exceeded. In general, if no request costs more than k
// times its reservation (an upstream that ignores the cap, a request
// without one), spend stays within k times the limit: when the last
// request was admitted, settled spend S and the reservations in flight R
// fitted in the limit L, and those requests then cost at most kR, so the
// total is at most S + kR <= k(S + R) <= kL for k >= 1.
//
// A tokens-per-minute limit counts the reservations of requests in flight
// as well as the tokens settled in the last minute, so it obeys the same
// bound: at most k times the limit starts in any minute (a single request
// larger than the whole limit may still run alone).
//
// Reservations are clamped: never negative, and sums saturate instead of
// wrapping.
// State is in memory; spend already recorded in the ledger is loaded at
// start (Seed). Periods are calendar periods in UTC.
package limits

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/pkg/adminapi"
)

// ParseBudget reads "5usd/day", "$5/day", "0.50usd/week", "100000tokens/month",
// "20usd" (total).
func ParseBudget(s string) (adminapi.Budget, error) {
	var b adminapi.Budget
	amount, period, hasPeriod := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	b.Period = adminapi.PeriodTotal
	if hasPeriod {
		switch strings.TrimSpace(period) {
		case "day", "d", "daily":
			b.Period = adminapi.PeriodDay
		case "week", "w", "weekly":
			b.Period = adminapi.PeriodWeek
		case "month", "mo", "monthly":
			b.Period = adminapi.PeriodMonth
		case "total":
		default:
			return b, fmt.Errorf("budget %q: unknown period %q; use day, week, month or total", s, period)
		}
	}
	amount = strings.TrimSpace(amount)
	switch {
	case strings.HasSuffix(amount, "tokens") || strings.HasSuffix(amount, "tok"):
		n := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(amount, "tokens"), "tok"))
		n = strings.ReplaceAll(n, "_", "")
		mult := int64(1)
		switch {
		case strings.HasSuffix(n, "k"):
			mult, n = 1000, strings.TrimSuffix(n, "k")
		case strings.HasSuffix(n, "m"):
			mult, n = 1_000_000, strings.TrimSuffix(n, "m")
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v <= 0 {
			return b, fmt.Errorf("budget %q: %q is not a positive whole number of tokens", s, n)
		}
		b.Limit, b.Unit = v*mult, adminapi.UnitTokens
	case strings.HasSuffix(amount, "usd") || strings.HasPrefix(amount, "$"):
		m, err := pricing.ParseUSD(amount)
		if err != nil || m <= 0 {
			return b, fmt.Errorf("budget %q: %q is not a positive dollar amount (e.g. 5usd, $0.50)", s, amount)
		}
		b.Limit, b.Unit = int64(m), adminapi.UnitUSD
	default:
		return b, fmt.Errorf("budget %q: give a unit, e.g. 5usd/day or 100000tokens/month", s)
	}
	return b, nil
}

// FormatBudget renders a budget the way ParseBudget reads it.
func FormatBudget(b adminapi.Budget) string {
	amount := pricing.Micros(b.Limit).String()
	if b.Unit == adminapi.UnitTokens {
		amount = strconv.FormatInt(b.Limit, 10) + " tokens"
	}
	s := amount + "/" + b.Period
	if b.Period == adminapi.PeriodTotal {
		s = amount + " total"
	}
	if b.Soft {
		s += " (soft)"
	}
	return s
}

// PeriodStart is the start of the period containing t (UTC); the zero time
// for "total".
func PeriodStart(period string, t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case adminapi.PeriodDay:
		return day
	case adminapi.PeriodWeek:
		wd := (int(day.Weekday()) + 6) % 7 // Monday = 0
		return day.AddDate(0, 0, -wd)
	case adminapi.PeriodMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// PeriodEnd is when the period containing t ends (zero for "total").
func PeriodEnd(period string, t time.Time) time.Time {
	s := PeriodStart(period, t)
	switch period {
	case adminapi.PeriodDay:
		return s.AddDate(0, 0, 1)
	case adminapi.PeriodWeek:
		return s.AddDate(0, 0, 7)
	case adminapi.PeriodMonth:
		return s.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// Cost is a request's spend in both units.
type Cost struct {
	Micros int64
	Tokens int64
}

func (c Cost) in(unit string) int64 {
	if unit == adminapi.UnitTokens {
		return c.Tokens
	}
	return c.Micros
}

// Denied explains a refusal: which limit, and when to retry.
type Denied struct {
	// Budget is set for a budget refusal; otherwise a rate limit refused.
	Budget     *adminapi.Budget
	Message    string
	RetryAfter time.Duration
}

func (d *Denied) Error() string { return d.Message }

// ErrDenied is what every Denied wraps for errors.Is.
var ErrDenied = errors.New("limit reached")

func (d *Denied) Unwrap() error { return ErrDenied }

// Limiter tracks every key's spend, reservations and rates.
type Limiter struct {
	mu   sync.Mutex
	now  func() time.Time
	keys map[string]*keyState
}

type keyState struct {
	// spent[p] is settled spend in period p's current instance, which
	// started at start[p].
	spent    map[string]Cost
	start    map[string]time.Time
	reserved Cost
	inflight int
	// A sliding one-minute window (a ring of seconds) of requests and
	// tokens.
	reqs   [60]int64
	toks   [60]int64
	winSec int64
	warned map[string]time.Time
}

// New returns an empty limiter.
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, keys: map[string]*keyState{}}
}

func (l *Limiter) state(key string) *keyState {
	ks := l.keys[key]
	if ks == nil {
		ks = &keyState{spent: map[string]Cost{}, start: map[string]time.Time{}, warned: map[string]time.Time{}}
		l.keys[key] = ks
	}
	return ks
}

// Seed raises a key's settled spend in the current period to what the
// ledger recorded (at start, or when budgets change). Spend the limiter
// settled that the ledger has not written yet is kept: the larger wins.
func (l *Limiter) Seed(key, period string, spent Cost) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.state(key)
	cur := ks.spentIn(period, l.now())
	ks.spent[period] = Cost{Micros: max(cur.Micros, spent.Micros), Tokens: max(cur.Tokens, spent.Tokens)}
}

// spentIn returns settled spend in the current period, rolling it over when
// the period has changed.
func (ks *keyState) spentIn(period string, now time.Time) Cost {
	st := PeriodStart(period, now)
	if !ks.start[period].Equal(st) {
		ks.start[period] = st
		ks.spent[period] = Cost{}
	}
	return ks.spent[period]
}

// advance moves the rate window to now, clearing seconds that passed.
func (ks *keyState) advance(now time.Time) {
	sec := now.Unix()
	if ks.winSec == 0 || sec-ks.winSec >= 60 {
		ks.reqs, ks.toks = [60]int64{}, [60]int64{}
		ks.winSec = sec
		return
	}
	for s := ks.winSec + 1; s <= sec; s++ {
		ks.reqs[s%60], ks.toks[s%60] = 0, 0
	}
	if sec > ks.winSec {
		ks.winSec = sec
	}
}

func (ks *keyState) minute() (reqs, tokens int64) {
	for i := range ks.reqs {
		reqs += ks.reqs[i]
		tokens += ks.toks[i]
	}
	return
}

// Reservation is an admitted request's hold on its key's limits.
type Reservation struct {
	l       *Limiter
	key     string
	policy  adminapi.Policy
	est     Cost
	settled bool
	// released: the concurrency slot went back early (Release).
	released bool
}

// Headers describes the key's rate-limit state for x-ratelimit-* headers.
type Headers struct {
	LimitRequests, RemainingRequests int64
	LimitTokens, RemainingTokens     int64
	Reset                            time.Duration
}

// Reserve admits a request estimated at est, or says which limit refuses it.
func (l *Limiter) Reserve(key string, p adminapi.Policy, est Cost) (*Reservation, *Denied) {
	// A reservation is never negative: a negative estimate would make room
	// for other requests instead of taking it.
	est.Micros, est.Tokens = max(est.Micros, 0), max(est.Tokens, 0)
	if p.IsZero() {
		return &Reservation{l: l, key: key, policy: p, est: est}, nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.state(key)
	ks.advance(now)
	reqs, toks := ks.minute()
	if p.MaxConcurrent > 0 && ks.inflight >= p.MaxConcurrent {
		return nil, &Denied{Message: fmt.Sprintf("virtual key %q has %d requests in flight, its limit (max_concurrent %d); retry when one finishes", key, ks.inflight, p.MaxConcurrent), RetryAfter: time.Second}
	}
	if p.RPM > 0 && reqs >= int64(p.RPM) {
		return nil, &Denied{Message: fmt.Sprintf("virtual key %q reached its limit of %d requests per minute; retry shortly", key, p.RPM), RetryAfter: l.retryAfter(ks, now)}
	}
	// Requests in flight count at their reservation: tokens they have not
	// reported yet still belong to this minute. A request larger than the
	// whole limit may run alone, or it could never run.
	if held := satAdd(toks, ks.reserved.Tokens); p.TPM > 0 && satAdd(held, est.Tokens) > int64(p.TPM) && held > 0 {
		return nil, &Denied{Message: fmt.Sprintf("virtual key %q reached its limit of %d tokens per minute (used %d, in flight up to %d, this request may use up to %d); retry shortly", key, p.TPM, toks, ks.reserved.Tokens, est.Tokens), RetryAfter: l.retryAfter(ks, now)}
	}
	for i := range p.Budgets {
		b := p.Budgets[i]
		if b.Soft {
			continue
		}
		spent := ks.spentIn(b.Period, now).in(b.Unit)
		if satAdd(satAdd(spent, ks.reserved.in(b.Unit)), est.in(b.Unit)) > b.Limit {
			return nil, l.budgetDenied(key, b, spent, now)
		}
	}
	ks.reserved.Micros = satAdd(ks.reserved.Micros, est.Micros)
	ks.reserved.Tokens = satAdd(ks.reserved.Tokens, est.Tokens)
	ks.inflight++
	ks.reqs[now.Unix()%60]++
	return &Reservation{l: l, key: key, policy: p, est: est}, nil
}

func (l *Limiter) retryAfter(ks *keyState, now time.Time) time.Duration {
	// The oldest second with traffic leaves the window first.
	for back := int64(59); back >= 0; back-- {
		s := now.Unix() - back
		if ks.reqs[s%60] > 0 || ks.toks[s%60] > 0 {
			return time.Duration(60-back) * time.Second
		}
	}
	return time.Second
}

func (l *Limiter) budgetDenied(key string, b adminapi.Budget, spent int64, now time.Time) *Denied {
	used := pricing.Micros(spent).String()
	if b.Unit == adminapi.UnitTokens {
		used = strconv.FormatInt(spent, 10) + " tokens"
	}
	d := &Denied{Budget: &b}
	if end := PeriodEnd(b.Period, now); !end.IsZero() {
		d.RetryAfter = end.Sub(now)
		d.Message = fmt.Sprintf("virtual key %q reached its hard budget of %s (spent %s); it resets at %s. Raise it with 'credflow keys update %s --budget ...'",
			key, FormatBudget(b), used, end.Format("2006-01-02 15:04 UTC"), key)
	} else {
		d.Message = fmt.Sprintf("virtual key %q reached its total budget of %s (spent %s); it does not reset. Raise it with 'credflow keys update %s --budget ...'",
			key, FormatBudget(b), used, key)
	}
	return d
}

// Release gives the request's concurrency slot back ahead of Settle. The
// gateway calls it just before a stream's last event goes out: a client
// that reads that event may send its next request before this one is
// settled, and must not find its own finished request in flight.
func (r *Reservation) Release() {
	if r == nil || r.settled || r.released || r.policy.IsZero() {
		return
	}
	r.released = true
	r.l.mu.Lock()
	r.l.state(r.key).inflight--
	r.l.mu.Unlock()
}

// Settle replaces the reservation with the request's real cost. Call it
// exactly once per admitted request, also when it failed (with what it
// used, often nothing). It returns a warning for each soft budget this
// request took past its limit (once per period).
func (r *Reservation) Settle(actual Cost) (warnings []string) {
	if r == nil || r.settled || r.policy.IsZero() {
		return nil
	}
	r.settled = true
	l := r.l
	now := l.now()
	l.mu.Lock()
	ks := l.state(r.key)
	ks.reserved.Micros = max(ks.reserved.Micros-r.est.Micros, 0)
	ks.reserved.Tokens = max(ks.reserved.Tokens-r.est.Tokens, 0)
	actual.Micros, actual.Tokens = max(actual.Micros, 0), max(actual.Tokens, 0)
	if !r.released {
		ks.inflight--
	}
	ks.advance(now)
	ks.toks[now.Unix()%60] += actual.Tokens
	for _, b := range r.policy.Budgets {
		cur := ks.spentIn(b.Period, now)
		cur.Micros += actual.Micros
		cur.Tokens += actual.Tokens
		ks.spent[b.Period] = cur
		if b.Soft && cur.in(b.Unit) > b.Limit {
			start := PeriodStart(b.Period, now)
			if !ks.warned[FormatBudget(b)].Equal(start) {
				ks.warned[FormatBudget(b)] = start
				warnings = append(warnings, fmt.Sprintf("virtual key %q passed its soft budget of %s", r.key, FormatBudget(b)))
			}
		}
	}
	l.mu.Unlock()
	return warnings
}

// Headers reports the key's rate-limit state for response headers.
func (l *Limiter) Headers(key string, p adminapi.Policy) (Headers, bool) {
	if p.RPM == 0 && p.TPM == 0 {
		return Headers{}, false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.state(key)
	ks.advance(now)
	reqs, toks := ks.minute()
	h := Headers{LimitRequests: int64(p.RPM), LimitTokens: int64(p.TPM), Reset: l.retryAfter(ks, now)}
	h.RemainingRequests = max(int64(p.RPM)-reqs, 0)
	h.RemainingTokens = max(int64(p.TPM)-satAdd(toks, ks.reserved.Tokens), 0)
	return h, true
}

// satAdd adds non-negative counts, stopping at the largest int64 instead
// of wrapping to a negative sum that any limit would admit.
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// Remaining reports, per budget of the policy, what is left in the current
// period (for metrics and status).
func (l *Limiter) Remaining(key string, p adminapi.Policy) []int64 {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.state(key)
	out := make([]int64, len(p.Budgets))
	for i, b := range p.Budgets {
		out[i] = b.Limit - ks.spentIn(b.Period, now).in(b.Unit)
	}
	return out
}
