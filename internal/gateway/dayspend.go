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
	// by breaks cur down per key, model and provider (byKey, byModel,
	// byProvider), so top's tables start from the day's figures too.
	by [numBy]map[string]*adminapi.NamedSpend
}

// The breakdowns of daySpend.by.
const (
	byKey = iota
	byModel
	byProvider
	numBy
)

// byNames returns the names a request is counted under in each breakdown.
func byNames(e *adminapi.Event) [numBy]string { return [numBy]string{e.Key, e.Model, e.Provider} }

// newDaySpend seeds the day's spend from the ledger. It runs in New,
// before any request is served, after loadKeys flushed the ledger, so the
// ledger's sum and the requests added later never overlap.
func (s *Server) newDaySpend() *daySpend {
	d := &daySpend{now: s.opt.Now}
	day := dayStart(s.opt.Now())
	d.cur = adminapi.DaySpend{Day: day, Since: s.started}
	if s.ledger != nil {
		if c, by, err := s.ledgerDay(day); err != nil {
			s.log.Warn("could not read today's spend from the usage ledger; the admin status counts it from now on", "err", err)
		} else {
			d.cur.Since = day
			d.cur.Requests, d.cur.InputTokens, d.cur.OutputTokens = c.Requests, c.Input, c.Output
			d.cur.CostMicros, d.cur.CostUnknown = int64(c.Cost), c.CostUnknown
			d.by = by
		}
	}
	return d
}

// ledgerDay sums what the ledger holds from day on, in all and per key,
// model and provider (hourly rollups: a few reads).
func (s *Server) ledgerDay(day time.Time) (ledger.Counters, [numBy]map[string]*adminapi.NamedSpend, error) {
	var total ledger.Counters
	var by [numBy]map[string]*adminapi.NamedSpend
	db, err := s.opt.OpenStore()
	if err != nil {
		return total, by, err
	}
	defer db.Close()
	rows, err := ledger.Usage(db, ledger.Query{Since: day})
	if err != nil {
		return total, by, err
	}
	for _, r := range rows {
		total.Add(r.Counters)
	}
	for i, dim := range [numBy]ledger.Dim{byKey: ledger.DimKey, byModel: ledger.DimModel, byProvider: ledger.DimProvider} {
		rows, err := ledger.Usage(db, ledger.Query{Since: day, By: []ledger.Dim{dim}})
		if err != nil {
			return total, by, err
		}
		by[i] = make(map[string]*adminapi.NamedSpend, len(rows))
		for _, r := range rows {
			name := [numBy]string{r.Key, r.Model, r.Provider}[i]
			c := r.Counters
			by[i][name] = &adminapi.NamedSpend{Name: name, Requests: c.Requests, Errors: c.Errors,
				InputTokens: c.Input, OutputTokens: c.Output, CostMicros: int64(c.Cost), CostUnknown: c.CostUnknown}
		}
	}
	return total, by, nil
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
		d.by = [numBy]map[string]*adminapi.NamedSpend{}
	}
	d.cur.Add(e)
	for i, name := range byNames(e) {
		if d.by[i] == nil {
			d.by[i] = map[string]*adminapi.NamedSpend{}
		}
		n := d.by[i][name]
		if n == nil {
			n = &adminapi.NamedSpend{Name: name}
			d.by[i][name] = n
		}
		n.Add(e)
	}
}

// keySpend is what key has spent today (micro-USD), for policies.
func (d *daySpend) keySpend(key string, now time.Time) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !dayStart(now).Equal(d.cur.Day) {
		return 0
	}
	if n := d.by[0][key]; n != nil {
		return n.CostMicros
	}
	return 0
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
	day, _, now := d.snapshotBy()
	return day, now
}

// snapshotBy is snapshot with the day's breakdown per key, model and
// provider, as of the same moment.
func (d *daySpend) snapshotBy() (adminapi.DaySpend, adminapi.DayBreakdown, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if day := dayStart(now); day.After(d.cur.Day) {
		d.cur = newDay(d.cur, day)
		d.by = [numBy]map[string]*adminapi.NamedSpend{}
	}
	var lists [numBy][]adminapi.NamedSpend
	for i, m := range d.by {
		lists[i] = make([]adminapi.NamedSpend, 0, len(m))
		for _, n := range m {
			lists[i] = append(lists[i], *n)
		}
		sort.Slice(lists[i], func(a, b int) bool { return lists[i][a].Name < lists[i][b].Name })
	}
	return d.cur, adminapi.DayBreakdown{Keys: lists[byKey], Models: lists[byModel], Providers: lists[byProvider]}, now
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

// monthSpend caches each key's spend this month (micro-USD) from the
// ledger's rollups for policies that read spend_month; it is refreshed
// at most once a minute, so a rule sees the ledger as of then.
type monthSpend struct {
	mu    sync.Mutex
	at    time.Time
	month time.Time
	byKey map[string]int64
}

func (s *Server) keyMonthSpend(key string, now time.Time) int64 {
	m := &s.month
	m.mu.Lock()
	defer m.mu.Unlock()
	start := limits.PeriodStart(adminapi.PeriodMonth, now)
	if m.byKey == nil || now.Sub(m.at) > time.Minute || !m.month.Equal(start) {
		m.at, m.month, m.byKey = now, start, map[string]int64{}
		if s.ledger != nil {
			s.ledger.Flush()
		}
		if db, err := s.opt.OpenStore(); err == nil {
			rows, err := ledger.Usage(db, ledger.Query{Since: start, By: []ledger.Dim{ledger.DimKey}})
			db.Close()
			if err != nil {
				s.log.Warn("policies: cannot read this month's spend from the ledger; spend_month reads 0", "err", err)
			}
			for _, r := range rows {
				m.byKey[r.Key] = int64(r.Counters.Cost)
			}
		}
	}
	return m.byKey[key]
}
