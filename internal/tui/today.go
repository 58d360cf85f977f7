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
