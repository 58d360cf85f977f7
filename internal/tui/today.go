package tui

import (
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
)

// todaySpend is the header's spend of the day: the daemon's figure from its
// last status (which includes what the ledger held before top started)
// plus the requests top has seen finish after that status was taken. A
// request that finished before it but reached top after is not in either
// until the next status: the figure can lag by a status interval, never
// count a request twice.
type todaySpend struct {
	known bool
	day   adminapi.DaySpend // the daemon's figure
	asOf  time.Time         // when the daemon took it
	extra adminapi.DaySpend // requests seen that finished after asOf
}

// set takes a status's figure; recent are the events top holds, to count
// those that finished after it.
func (t *todaySpend) set(st *adminapi.Status, recent []adminapi.Event) {
	if st == nil || st.Today == nil {
		return
	}
	t.known, t.day, t.asOf, t.extra = true, *st.Today, st.Now, adminapi.DaySpend{}
	for i := range recent {
		t.add(&recent[i])
	}
}

// add counts a request that finished after the figure was taken, in its
// UTC day: one of a later day starts that day from zero.
func (t *todaySpend) add(e *adminapi.Event) {
	if !t.known || !e.Time.After(t.asOf) {
		return
	}
	day := utcDay(e.Time)
	if day.Before(t.day.Day) {
		return
	}
	if day.After(t.day.Day) {
		// The daemon ran through midnight: it counts all of the new day.
		t.day = adminapi.DaySpend{Day: day, Since: day}
		t.extra = adminapi.DaySpend{}
	}
	t.extra.Add(e)
}

// total returns the day's spend as of now: zero once now is in a later
// day than the figure's.
func (t *todaySpend) total(now time.Time) adminapi.DaySpend {
	if day := utcDay(now); day.After(t.day.Day) {
		return adminapi.DaySpend{Day: day, Since: day}
	}
	d := t.day
	d.Requests += t.extra.Requests
	d.InputTokens += t.extra.InputTokens
	d.OutputTokens += t.extra.OutputTokens
	d.CostMicros += t.extra.CostMicros
	d.CostUnknown += t.extra.CostUnknown
	return d
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// todayRows are the tables' figures of the day per key, model and
// provider: the daemon's breakdown from its last status (Status.TodayBy,
// which includes what the ledger held before top started) plus the
// requests seen finish after that status was taken, on the same terms as
// todaySpend (lagging a status interval at worst, never counting a request
// twice).
type todayRows struct {
	known bool
	day   time.Time
	asOf  time.Time
	base  [numDims]map[string]adminapi.NamedSpend
	extra [numDims]map[string]*adminapi.NamedSpend
}

// set takes a status's breakdown; recent are the events top holds.
func (t *todayRows) set(st *adminapi.Status, recent []adminapi.Event) {
	if st == nil || st.Today == nil || st.TodayBy == nil {
		return
	}
	t.known, t.day, t.asOf = true, st.Today.Day, st.Now
	lists := [numDims][]adminapi.NamedSpend{DimKey: st.TodayBy.Keys, DimModel: st.TodayBy.Models, DimProvider: st.TodayBy.Providers}
	for d, list := range lists {
		t.base[d] = make(map[string]adminapi.NamedSpend, len(list))
		for _, n := range list {
			n.Name = dash(n.Name)
			t.base[d][n.Name] = n
		}
		t.extra[d] = map[string]*adminapi.NamedSpend{}
	}
	// Newest first: add the oldest first, so a later day is started once.
	for i := len(recent) - 1; i >= 0; i-- {
		t.add(&recent[i])
	}
}

// add counts a request that finished after the figure was taken, in its
// UTC day: one of a later day starts the tables of that day from zero.
func (t *todayRows) add(e *adminapi.Event) {
	if !t.known || !e.Time.After(t.asOf) {
		return
	}
	day := utcDay(e.Time)
	if day.Before(t.day) {
		return
	}
	if day.After(t.day) {
		t.day = day
		for d := range t.base {
			t.base[d] = map[string]adminapi.NamedSpend{}
			t.extra[d] = map[string]*adminapi.NamedSpend{}
		}
	}
	for d := range numDims {
		name := nameOf(e, d)
		n := t.extra[d][name]
		if n == nil {
			n = &adminapi.NamedSpend{Name: name}
			t.extra[d][name] = n
		}
		n.Add(e)
	}
}

// names are the rows of d: the daemon's and those seen since.
func (t *todayRows) names(d Dim) map[string]struct{} {
	out := make(map[string]struct{}, len(t.base[d])+len(t.extra[d]))
	for n := range t.base[d] {
		out[n] = struct{}{}
	}
	for n := range t.extra[d] {
		out[n] = struct{}{}
	}
	return out
}

// total is name's figure of the day in d.
func (t *todayRows) total(d Dim, name string) adminapi.NamedSpend {
	n := t.base[d][name]
	if x := t.extra[d][name]; x != nil {
		n.Requests += x.Requests
		n.Errors += x.Errors
		n.InputTokens += x.InputTokens
		n.OutputTokens += x.OutputTokens
		n.CostMicros += x.CostMicros
		n.CostUnknown += x.CostUnknown
	}
	n.Name = name
	return n
}
