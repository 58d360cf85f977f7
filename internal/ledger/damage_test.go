package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// damageFixture writes records over two days: day 1 (2026-05-01) for key
// a, day 2 for keys a and b. It returns the file and the records.
func damageFixture(t *testing.T) (string, []Record) {
	t.Helper()
	path := tempPath(t)
	d1 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	recs := []Record{
		{Time: d1, ID: "1", Key: "a", Model: "m", Provider: "p", Status: 200, Input: 1, Cost: 1, CostKnown: true},
		{Time: d1.Add(time.Minute), ID: "2", Key: "a", Model: "m", Provider: "p", Status: 200, Input: 2, Cost: 2, CostKnown: true},
		{Time: d2, ID: "3", Key: "a", Model: "m", Provider: "p", Status: 200, Input: 4, Cost: 4, CostKnown: true},
		{Time: d2.Add(time.Minute), ID: "4", Key: "b", Model: "m", Provider: "p", Status: 500, Input: 8, Cost: 8, CostKnown: true},
	}
	w := NewWriter(opener(path), Options{FlushInterval: time.Hour})
	for _, r := range recs {
		w.Add(r)
	}
	closeWriter(t, w)
	return path, recs
}

// breakRecord replaces the JSON of the usage record with id by half of it.
func breakRecord(t *testing.T, db *store.DB, id string) (key []byte) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketUsage)
		return b.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte(`"id":"`+id+`"`)) {
				key = bytes.Clone(k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if key == nil {
		t.Fatalf("no record %s", id)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketUsage)
		v := b.Get(key)
		return b.Put(key, bytes.Clone(v[:len(v)/2]))
	}); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestDamagedRecord: a usage record whose JSON does not decode is skipped
// and reported by every reader; the check does not fail (so the daemon
// starts), and the rollups of its hour and day, which still count it, are
// kept as they are.
func TestDamagedRecord(t *testing.T) {
	path, recs := damageFixture(t)
	db := mustOpen(t, path)
	defer db.Close()
	before := usage(t, db, Query{By: []Dim{DimHour, DimKey}})
	key := breakRecord(t, db, "2")

	if err := Check(db); err != nil {
		t.Fatalf("Check with a damaged record = %v; want nil (the rest agrees)", err)
	}
	rebuilt, damage, err := EnsureConsistent(db)
	if err != nil || rebuilt {
		t.Fatalf("EnsureConsistent = %v, %v; want no error and no rebuild", rebuilt, err)
	}
	if damage.Records != 1 || damage.Rollups != 0 || len(damage.Entries) != 1 {
		t.Fatalf("damage %+v; want one record", damage)
	}
	e := damage.Entries[0]
	if !e.Time.Equal(recs[1].Time) || e.Bucket != "usage" || e.Key != hex.EncodeToString(key) {
		t.Errorf("entry %+v; want the record of %s", e, recs[1].Time)
	}
	if s := damage.String(); s != "1 damaged usage record ("+recs[1].Time.Format(time.RFC3339Nano)+")" {
		t.Errorf("String() = %q", s)
	}
	if ks := damage.Keys(); len(ks) != 1 || ks[0] != "usage/"+e.Key {
		t.Errorf("Keys() = %v", ks)
	}
	// The rollups still count it: it was whole when they were written.
	if got := usage(t, db, Query{By: []Dim{DimHour, DimKey}}); !slices.Equal(got, before) {
		t.Errorf("rollups changed after the damage:\n%v\nwant\n%v", got, before)
	}

	got, damage, err := RecentWithDamage(db, Filter{})
	if err != nil {
		t.Fatalf("Recent: %v", err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"4", "3", "1"}) || damage.Records != 1 {
		t.Errorf("Recent = %v, %+v; want the three others and one damaged", ids, damage)
	}
	if got, err := Recent(db, Filter{Key: "b"}); err != nil || len(got) != 1 {
		t.Errorf("Recent(key b) = %v, %v", got, err)
	}

	// Another period's rollup gone wrong is still rebuilt; the damaged
	// record's day is left alone.
	corruptRollup(t, db, store.BucketRollupsDay, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), dimKey, "b")
	rebuilt, damage, err = EnsureConsistent(db)
	if err != nil || !rebuilt || damage.Records != 1 {
		t.Fatalf("EnsureConsistent = %v, %+v, %v; want a rebuild and the damaged record reported", rebuilt, damage, err)
	}
	if got := usage(t, db, Query{By: []Dim{DimHour, DimKey}}); !slices.Equal(got, before) {
		t.Errorf("after the rebuild:\n%v\nwant\n%v", got, before)
	}
	if err := Check(db); err != nil {
		t.Errorf("Check after the rebuild: %v", err)
	}
}

// TestDamagedRollup: a rollup value of the wrong length is skipped and
// reported by Usage, which returns the rest; Check calls it a difference
// and the rebuild restores it from the records.
func TestDamagedRollup(t *testing.T) {
	path, _ := damageFixture(t)
	db := mustOpen(t, path)
	defer db.Close()
	want := usage(t, db, Query{By: []Dim{DimDay, DimKey}})
	d2 := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketRollupsDay)
		if err := b.Put(rollupKey(d2, dimKey, "b"), []byte{1, 2, 3, 4, 5}); err != nil {
			return err
		}
		// A combination key whose names cannot be parsed.
		return b.Put(rollupKey(d2, dimCombo, "\xff"), Counters{Requests: 1}.encode())
	}); err != nil {
		t.Fatal(err)
	}

	rows, damage, err := UsageWithDamage(db, Query{By: []Dim{DimDay, DimKey}})
	if err != nil {
		t.Fatal(err)
	}
	if damage.Rollups != 1 || damage.Records != 0 {
		t.Errorf("damage %+v; want one rollup", damage)
	}
	if s := damage.String(); s != `1 damaged usage rollup (day rollup 2026-05-02T00:00:00Z key "b")` {
		t.Errorf("String() = %q", s)
	}
	if !slices.Equal(rows, slices.DeleteFunc(slices.Clone(want), func(r Row) bool { return r.Key == "b" })) {
		t.Errorf("rows %v; want all but key b's", rows)
	}
	// Grouping by key and model reads the combination rollups.
	if _, damage, err := UsageWithDamage(db, Query{By: []Dim{DimKey, DimModel}, Since: d2.AddDate(0, 0, -3)}); err != nil || damage.Rollups != 1 {
		t.Errorf("by key and model: %+v, %v; want the bad combination skipped", damage, err)
	}
	// The old entry point skips it too.
	if _, err := Usage(db, Query{By: []Dim{DimKey, DimModel}, Since: d2.AddDate(0, 0, -3)}); err != nil {
		t.Errorf("Usage: %v", err)
	}

	err = Check(db)
	if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "is damaged: its value is 5 bytes") {
		t.Fatalf("Check = %v; want the damaged rollup named", err)
	}
	if rebuilt, _, err := EnsureConsistent(db); err != nil || !rebuilt {
		t.Fatalf("EnsureConsistent = %v, %v; want a rebuild", rebuilt, err)
	}
	rows, damage, err = UsageWithDamage(db, Query{By: []Dim{DimDay, DimKey}})
	if err != nil || !damage.Empty() || !slices.Equal(rows, want) {
		t.Errorf("after the rebuild: %v, %+v, %v; want %v", rows, damage, err, want)
	}
}

// TestWriterCloseOnDamagedFile: a damaged data file stays damaged until it
// is repaired, which needs the daemon stopped, so Close does not wait out
// its deadline retrying; it reports the records it could not write.
func TestWriterCloseOnDamagedFile(t *testing.T) {
	damaged := &store.DamagedError{Path: "credflow.db", Problem: "it is empty (0 bytes)", Empty: true}
	w := NewWriter(func() (*store.DB, error) { return nil, damaged }, Options{FlushInterval: time.Hour, Logger: discardLogger()})
	w.Add(Record{ID: "1", Status: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := w.Close(ctx)
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "1 record(s) not written") {
		t.Errorf("Close = %v; want the damage and the record count", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s; want it at once", d)
	}
}
