package gateway

import (
	"sort"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/limits"
	"github.com/credflow/credflow/pkg/adminapi"
)

// daySpend keeps the current UTC day's spend for the admin status, so that
// a status call (credflow top asks every few seconds) reads memory, never
// the data file. It is seeded once, when the daemon starts, with what the
// ledger holds for the day (the pattern of budgets, see seedLimits), then
// account adds every request as it hands it to the ledger, so the sum
// equals the ledger's once it has flushed. (Not from the event bus: the bus
// drops events for a subscriber that falls behind.)
type daySpend struct {
	now func() time.Time
	mu  sync.Mutex
	cur adminapi.DaySpend
}

// newDaySpend seeds the day's spend from the ledger. It runs in New,
// before any request is served, after loadKeys flushed the ledger, so the
// ledger's sum and the requests added later never overlap.
func (s *Server) newDaySpend() *daySpend {
	d := &daySpend{now: s.opt.Now}
	day := dayStart(s.opt.Now())
	d.cur = adminapi.DaySpend{Day: day, Since: s.started}
	if s.ledger != nil {
		if c, err := s.ledgerDay(day); err != nil {
			s.log.Warn("could not read today's spend from the usage ledger; the admin status counts it from now on", "err", err)
		} else {
			d.cur.Since = day
			d.cur.Requests, d.cur.InputTokens, d.cur.OutputTokens = c.Requests, c.Input, c.Output
			d.cur.CostMicros, d.cur.CostUnknown = int64(c.Cost), c.CostUnknown
		}
	}
	return d
}

// ledgerDay sums what the ledger holds from day on.
func (s *Server) ledgerDay(day time.Time) (ledger.Counters, error) {
	var total ledger.Counters
	db, err := s.opt.OpenStore()
	if err != nil {
		return total, err
	}
	defer db.Close()
	rows, err := ledger.Usage(db, ledger.Query{Since: day})
	if err != nil {
		return total, err
	}
	for _, r := range rows {
		total.Add(r.Counters)
	}
	return total, nil
}

func dayStart(t time.Time) time.Time { return limits.PeriodStart(adminapi.PeriodDay, t) }

// add counts one accounted request in the day it finished (the ledger's
// day for it too). A request of an earlier day (accounted late, after its
// tokens were estimated) belongs to that day's rollup, not today's.
func (d *daySpend) add(e *adminapi.Event) {
	day := dayStart(e.Time)
	d.mu.Lock()
	defer d.mu.Unlock()
	if day.Before(d.cur.Day) {
		return
	}
	if day.After(d.cur.Day) {
		d.cur = newDay(d.cur, day)
	}
	d.cur.Add(e)
}

// newDay starts counting day. The daemon ran through its start, so
// everything of it is counted from there.
func newDay(prev adminapi.DaySpend, day time.Time) adminapi.DaySpend {
	since := day
	if prev.Since.After(day) {
		since = prev.Since
	}
	return adminapi.DaySpend{Day: day, Since: since}
}

// snapshot returns the day's spend and the time it was taken: every request
// it counts finished before that time.
func (d *daySpend) snapshot() (adminapi.DaySpend, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if day := dayStart(now); day.After(d.cur.Day) {
		d.cur = newDay(d.cur, day)
	}
	return d.cur, now
}

// budgets reports where every loaded key's budgets stand, by key name.
func (s *Server) budgets(now time.Time) []adminapi.KeyBudgets {
	var out []adminapi.KeyBudgets
	for _, k := range s.auth.Keys() {
		if len(k.Policy.Budgets) == 0 || !k.RevokedAt.IsZero() {
			continue
		}
		left := s.limits.Remaining(k.Name, k.Policy)
		kb := adminapi.KeyBudgets{Key: k.Name}
		for i, b := range k.Policy.Budgets {
			kb.Budgets = append(kb.Budgets, adminapi.BudgetStatus{
				Budget: b, Used: b.Limit - left[i], ResetsAt: limits.PeriodEnd(b.Period, now),
			})
		}
		out = append(out, kb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
