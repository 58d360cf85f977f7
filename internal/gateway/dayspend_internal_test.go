package gateway

import (
	"reflect"
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

// The breakdown per key, model and provider follows the day: counted as
// requests are accounted, empty again after midnight.
func TestDaySpendBreakdown(t *testing.T) {
	d0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	now := d0.Add(12 * time.Hour)
	d := &daySpend{now: func() time.Time { return now }, cur: adminapi.DaySpend{Day: d0, Since: d0}}
	d.add(&adminapi.Event{Time: now, Key: "a", Model: "m1", Provider: "p", Status: 200, InputTokens: 3, CostMicros: 5, CostKnown: true})
	d.add(&adminapi.Event{Time: now, Key: "b", Model: "m1", Provider: "p", Status: 429})
	d.add(&adminapi.Event{Time: now, Key: "a", Model: "m2", Provider: "p", Status: 200, Error: "stream cut", CostKnown: true})
	_, by, _ := d.snapshotBy()
	want := adminapi.DayBreakdown{
		Keys: []adminapi.NamedSpend{
			{Name: "a", Requests: 2, Errors: 1, InputTokens: 3, CostMicros: 5},
			{Name: "b", Requests: 1, Errors: 1, CostUnknown: 1},
		},
		Models: []adminapi.NamedSpend{
			{Name: "m1", Requests: 2, Errors: 1, InputTokens: 3, CostMicros: 5, CostUnknown: 1},
			{Name: "m2", Requests: 1, Errors: 1},
		},
		Providers: []adminapi.NamedSpend{{Name: "p", Requests: 3, Errors: 2, InputTokens: 3, CostMicros: 5, CostUnknown: 1}},
	}
	if !reflect.DeepEqual(by, want) {
		t.Fatalf("breakdown\n%+v\nwant\n%+v", by, want)
	}
	now = d0.AddDate(0, 0, 1)
	if _, by, _ := d.snapshotBy(); len(by.Keys)+len(by.Models)+len(by.Providers) != 0 {
		t.Fatalf("after midnight: %+v", by)
	}
}
