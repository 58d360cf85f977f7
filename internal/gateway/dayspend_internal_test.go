package gateway

import (
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
)

// The day's sum rolls over at 00:00 UTC: a late request of the day before
// is left to that day, and a status after midnight starts from zero.
func TestDaySpendRollsOver(t *testing.T) {
	d0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	now := d0.Add(23*time.Hour + 59*time.Minute)
	d := &daySpend{now: func() time.Time { return now }, cur: adminapi.DaySpend{Day: d0, Since: d0.Add(time.Hour)}}
	d.add(&adminapi.Event{Time: d0.Add(2 * time.Hour), InputTokens: 10, OutputTokens: 5, CostMicros: 7, CostKnown: true})
	d.add(&adminapi.Event{Time: d0.Add(3 * time.Hour), InputTokens: 1})
	d.add(&adminapi.Event{Time: d0.Add(-time.Minute), CostMicros: 1000, CostKnown: true})
	got, at := d.snapshot()
	if want := (adminapi.DaySpend{Day: d0, Since: d0.Add(time.Hour), Requests: 2, InputTokens: 11, OutputTokens: 5, CostMicros: 7, CostUnknown: 1}); got != want || !at.Equal(now) {
		t.Fatalf("day 0: %+v at %v", got, at)
	}

	now = d0.Add(24*time.Hour + time.Second)
	if got, _ := d.snapshot(); got != (adminapi.DaySpend{Day: d0.AddDate(0, 0, 1), Since: d0.AddDate(0, 0, 1)}) {
		t.Fatalf("after midnight: %+v", got)
	}
	d.add(&adminapi.Event{Time: d0.Add(23 * time.Hour), CostMicros: 5, CostKnown: true}) // estimated late
	d.add(&adminapi.Event{Time: now, CostMicros: 3, CostKnown: true})
	if got, _ := d.snapshot(); got.Requests != 1 || got.CostMicros != 3 {
		t.Fatalf("day 1: %+v", got)
	}
}
