package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), store.FileName)
}

func opener(path string) func() (*store.DB, error) {
	return func() (*store.DB, error) {
		return store.Open(path, store.Options{Timeout: 2 * time.Second, Process: "ledger test"})
	}
}

func mustOpen(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func closeWriter(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

var (
	testKeys      = []string{"alice", "bob", "carol", ""}
	testModels    = []string{"gpt-4o", "claude-sonnet-4-5", "mock", "llama-3.1-8b-instant"}
	testProviders = []string{"openai", "anthropic", "mock", "groq"}
)

// randomRecord draws a record within span after base.
func randomRecord(rng *rand.Rand, base time.Time, span time.Duration, id int) Record {
	r := Record{
		Time:      base.Add(time.Duration(rng.Int64N(int64(span)))).UTC(),
		ID:        strconv.Itoa(id),
		Key:       testKeys[rng.IntN(len(testKeys))],
		Model:     testModels[rng.IntN(len(testModels))],
		Provider:  testProviders[rng.IntN(len(testProviders))],
		Endpoint:  "chat/completions",
		Status:    []int{200, 200, 200, 200, 429, 500, 401}[rng.IntN(7)],
		Stream:    rng.IntN(2) == 0,
		Input:     rng.Int64N(5000),
		Output:    rng.Int64N(2000),
		LatencyUS: rng.Int64N(3_000_000),
		Estimated: rng.IntN(10) == 0,
	}
	r.CacheRead = rng.Int64N(r.Input + 1)
	r.CacheWrite = rng.Int64N(r.Input - r.CacheRead + 1)
	r.Reasoning = rng.Int64N(r.Output + 1)
	if rng.IntN(5) > 0 {
		r.Cost, r.CostKnown = pricing.Micros(rng.Int64N(50_000)), true
	}
	if r.Status >= 400 {
		r.ErrorClass = ClassifyError(r.Status, "")
	} else if rng.IntN(20) == 0 {
		r.ErrorClass = ErrCut
	}
	return r
}

// sum adds up records the plain way, independently of the rollup code.
func sum(recs []Record) Counters {
	var c Counters
	for _, r := range recs {
		c.Requests++
		if r.Status >= 400 || r.ErrorClass != "" {
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
	return c
}

func countRecords(t testing.TB, db *store.DB) int {
	t.Helper()
	n, err := Count(db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func usage(t testing.TB, db *store.DB, q Query) []Row {
	t.Helper()
	rows, err := Usage(db, q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestConcurrentAdds has 100 goroutines add records while the writer
// flushes every few milliseconds; after Close the file holds every record
// exactly once and every rollup total equals the sums of what was added.
func TestConcurrentAdds(t *testing.T) {
	const goroutines, perG = 100, 200
	path := tempPath(t)
	var flushes int
	var fmu sync.Mutex
	w := NewWriter(opener(path), Options{FlushInterval: 3 * time.Millisecond, AfterFlush: func(int) {
		fmu.Lock()
		flushes++
		fmu.Unlock()
	}})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	added := make([][]Record, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range perG {
				r := randomRecord(rng, base, 3*24*time.Hour, g*perG+i)
				added[g] = append(added[g], r)
				w.Add(r)
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let flushes interleave with adds
				}
			}
		}()
	}
	wg.Wait()
	closeWriter(t, w)
	if st := w.Stats(); st.Added != goroutines*perG || st.Written != goroutines*perG || st.Pending != 0 {
		t.Errorf("stats %+v; want %d added and written, none pending", st, goroutines*perG)
	}
	if flushes < 2 {
		t.Errorf("only %d flush(es) during the load; the test wants adds and flushes to interleave", flushes)
	}
	w.Add(Record{ID: "late"})
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("Add after Close: dropped = %d; want 1", st.Dropped)
	}

	db := mustOpen(t, path)
	defer db.Close()
	all := slices.Concat(added...)
	if n := countRecords(t, db); n != len(all) {
		t.Fatalf("%d records in the file; want %d", n, len(all))
	}
	recs, err := Recent(db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for i, r := range recs {
		ids[r.ID]++
		if i > 0 && r.Time.After(recs[i-1].Time) {
			t.Fatalf("Recent is not newest first at %d: %s after %s", i, r.Time, recs[i-1].Time)
		}
	}
	for _, r := range all {
		if ids[r.ID] != 1 {
			t.Fatalf("record %s stored %d times", r.ID, ids[r.ID])
		}
	}
	if err := Check(db); err != nil {
		t.Fatal(err)
	}
	want := sum(all)
	for _, gran := range []Dim{DimDay, DimHour} {
		q := Query{}
		if gran == DimHour {
			q.By = []Dim{DimHour}
		}
		var got Counters
		for _, row := range usage(t, db, q) {
			got.Add(row.Counters)
		}
		if got != want {
			t.Errorf("%s rollups total %+v; records added sum to %+v", gran, got, want)
		}
	}
	byKey := map[string][]Record{}
	for _, r := range all {
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	rows := usage(t, db, Query{By: []Dim{DimKey}})
	if len(rows) != len(byKey) {
		t.Errorf("%d key rows; want %d", len(rows), len(byKey))
	}
	for _, row := range rows {
		if want := sum(byKey[row.Key]); row.Counters != want {
			t.Errorf("key %q: %+v; want %+v", row.Key, row.Counters, want)
		}
	}
}

// bruteUsage answers q from the records the slow way. Periods are UTC.
func bruteUsage(recs []Record, q Query) map[string]Counters {
	_, from, to := q.Plan()
	out := map[string][]Record{}
	for _, r := range recs {
		if !from.IsZero() && r.Time.Before(from) || !to.IsZero() && !r.Time.Before(to) {
			continue
		}
		if q.Key != "" && r.Key != q.Key {
			continue
		}
		g := groupOf(r.Time, r.Key, r.Model, r.Provider, q.By)
		out[g] = append(out[g], r)
	}
	sums := map[string]Counters{}
	for k, rs := range out {
		sums[k] = sum(rs)
	}
	return sums
}

func groupOf(t time.Time, key, model, prov string, by []Dim) string {
	s := ""
	for _, d := range []Dim{DimHour, DimDay, DimKey, DimModel, DimProvider} {
		if !slices.Contains(by, d) {
			continue
		}
		switch d {
		case DimHour:
			s += "h=" + t.UTC().Format("2006-01-02T15") + ";"
		case DimDay:
			if !slices.Contains(by, DimHour) {
				s += "d=" + t.UTC().Format("2006-01-02") + ";"
			}
		case DimKey:
			s += "k=" + key + ";"
		case DimModel:
			s += "m=" + model + ";"
		case DimProvider:
			s += "p=" + prov + ";"
		}
	}
	return s
}

func rowsByGroup(rows []Row, by []Dim) map[string]Counters {
	m := map[string]Counters{}
	for _, r := range rows {
		m[groupOf(r.Period, r.Key, r.Model, r.Provider, by)] = r.Counters
	}
	return m
}

// TestRollupsEqualRecordsRandom writes random records in random batches
// and compares every kind of Usage answer with sums computed from the
// records directly.
func TestRollupsEqualRecordsRandom(t *testing.T) {
	base := time.Date(2026, 5, 10, 7, 30, 0, 0, time.UTC)
	queries := []Query{
		{},
		{By: []Dim{DimKey}},
		{By: []Dim{DimModel}},
		{By: []Dim{DimProvider}},
		{By: []Dim{DimDay}},
		{By: []Dim{DimHour}},
		{By: []Dim{DimKey, DimModel}},
		{By: []Dim{DimModel, DimProvider, DimDay}},
		{By: []Dim{DimKey, DimModel, DimProvider, DimHour}},
		{Key: "alice"},
		{Key: "alice", By: []Dim{DimModel}},
		{Key: "bob", By: []Dim{DimKey, DimDay}},
		{Key: "", By: []Dim{DimKey}},
		{Since: base.Add(26 * time.Hour), Until: base.Add(40 * time.Hour), By: []Dim{DimModel}}, // < 2 days: hourly
		{Since: base.Add(24 * time.Hour), Until: base.Add(100 * time.Hour), By: []Dim{DimKey}},  // daily
		{Since: base.Add(5 * time.Hour), By: []Dim{DimProvider, DimHour}, Until: base.Add(9 * 24 * time.Hour)},
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			path := tempPath(t)
			w := NewWriter(opener(path), Options{FlushInterval: time.Hour})
			var all []Record
			for i := range 1500 + rng.IntN(1500) {
				r := randomRecord(rng, base, 6*24*time.Hour, i)
				all = append(all, r)
				w.Add(r)
				if rng.IntN(100) == 0 {
					if err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			closeWriter(t, w)
			db := mustOpen(t, path)
			defer db.Close()
			if err := Check(db); err != nil {
				t.Fatal(err)
			}
			for _, q := range queries {
				want := bruteUsage(all, q)
				got := rowsByGroup(usage(t, db, q), q.By)
				if len(got) != len(want) {
					t.Errorf("%+v: %d groups; want %d", q, len(got), len(want))
				}
				for k, c := range want {
					if got[k] != c {
						t.Errorf("%+v group %q: %+v; want %+v", q, k, got[k], c)
					}
				}
			}
		})
	}
}

func TestUsageGrouping(t *testing.T) {
	path := tempPath(t)
	day := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: day.Add(1 * time.Hour), Key: "alice", Model: "gpt-4o", Provider: "openai", Status: 200, Input: 100, Output: 10, CacheRead: 40, Cost: 1000, CostKnown: true, LatencyUS: 500},
		{Time: day.Add(1*time.Hour + time.Minute), Key: "alice", Model: "claude", Provider: "anthropic", Status: 200, Input: 50, Output: 5, Cost: 300, CostKnown: true},
		{Time: day.Add(2 * time.Hour), Key: "bob", Model: "gpt-4o", Provider: "openai", Status: 500, ErrorClass: ErrUpstream},
		{Time: day.Add(26 * time.Hour), Key: "bob", Model: "mystery", Provider: "groq", Status: 200, Input: 7, Output: 3},
	}
	w := NewWriter(opener(path), Options{})
	for _, r := range recs {
		w.Add(r)
	}
	closeWriter(t, w)
	db := mustOpen(t, path)
	defer db.Close()

	type row struct {
		period                string
		key, model, provider  string
		requests, errors, inp int64
		cost                  pricing.Micros
		unknown               int64
	}
	flat := func(rows []Row) []row {
		var out []row
		for _, r := range rows {
			p := ""
			if !r.Period.IsZero() {
				p = r.Period.Format(time.RFC3339)
			}
			out = append(out, row{p, r.Key, r.Model, r.Provider, r.Requests, r.Errors, r.Input, r.Cost, r.CostUnknown})
		}
		return out
	}
	for _, tc := range []struct {
		q    Query
		want []row
	}{
		{Query{}, []row{{"", "", "", "", 4, 1, 157, 1300, 2}}},
		{Query{By: []Dim{DimKey}}, []row{
			{"", "alice", "", "", 2, 0, 150, 1300, 0},
			{"", "bob", "", "", 2, 1, 7, 0, 2},
		}},
		{Query{By: []Dim{DimProvider}}, []row{
			{"", "", "", "openai", 2, 1, 100, 1000, 1},
			{"", "", "", "anthropic", 1, 0, 50, 300, 0},
			{"", "", "", "groq", 1, 0, 7, 0, 1},
		}},
		{Query{By: []Dim{DimModel}, Key: "bob"}, []row{
			{"", "", "gpt-4o", "", 1, 1, 0, 0, 1},
			{"", "", "mystery", "", 1, 0, 7, 0, 1},
		}},
		{Query{By: []Dim{DimDay}}, []row{
			{"2026-02-03T00:00:00Z", "", "", "", 3, 1, 150, 1300, 1},
			{"2026-02-04T00:00:00Z", "", "", "", 1, 0, 7, 0, 1},
		}},
		{Query{By: []Dim{DimHour, DimKey}, Since: day, Until: day.Add(3 * time.Hour)}, []row{
			{"2026-02-03T01:00:00Z", "alice", "", "", 2, 0, 150, 1300, 0},
			{"2026-02-03T02:00:00Z", "bob", "", "", 1, 1, 0, 0, 1},
		}},
		// Since/Until inside an hour widen to the whole hour.
		{Query{Since: day.Add(time.Hour + 30*time.Second), Until: day.Add(time.Hour + 50*time.Second)}, []row{
			{"", "", "", "", 2, 0, 150, 1300, 0},
		}},
		{Query{Key: "nobody"}, nil},
	} {
		if got := flat(usage(t, db, tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("Usage(%+v) =\n%v\nwant\n%v", tc.q, got, tc.want)
		}
	}
	if g, from, to := (Query{Since: day, Until: day.Add(47 * time.Hour)}).Plan(); g != DimHour || !from.Equal(day) || !to.Equal(day.Add(47*time.Hour)) {
		t.Errorf("Plan for 47h = %s %s %s; want hourly", g, from, to)
	}
	if g, from, to := (Query{Since: day.Add(5 * time.Hour), Until: day.Add(72 * time.Hour)}).Plan(); g != DimDay || !from.Equal(day) || !to.Equal(day.Add(72*time.Hour)) {
		t.Errorf("Plan for 3d = %s %s %s; want daily from %s", g, from, to, day)
	}
	if _, err := Usage(db, Query{By: []Dim{"week"}}); err == nil {
		t.Error("Usage accepted an unknown dimension")
	}
}

func TestRecentFilters(t *testing.T) {
	path := tempPath(t)
	base := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	w := NewWriter(opener(path), Options{})
	for i := range 30 {
		r := Record{Time: base.Add(time.Duration(i) * time.Second), ID: strconv.Itoa(i), Key: []string{"a", "b", "c"}[i%3], Model: "m" + strconv.Itoa(i%2), UpstreamModel: "up" + strconv.Itoa(i%2), Status: 200}
		if i%5 == 0 {
			r.Status = 502
		}
		if i == 7 {
			r.ErrorClass = ErrCut
		}
		w.Add(r)
	}
	closeWriter(t, w)
	db := mustOpen(t, path)
	defer db.Close()
	ids := func(f Filter) []string {
		recs, err := Recent(db, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Limit: 3}, []string{"29", "28", "27"}},
		{Filter{Key: "b", Limit: 4}, []string{"28", "25", "22", "19"}},
		{Filter{Model: "m1", Limit: 3}, []string{"29", "27", "25"}},
		{Filter{Model: "up0", Limit: 2}, []string{"28", "26"}},
		{Filter{ErrorsOnly: true}, []string{"25", "20", "15", "10", "7", "5", "0"}},
		{Filter{ErrorsOnly: true, Key: "a", Model: "m1"}, []string{"15"}},
		{Filter{Key: "zzz"}, nil},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("Recent(%+v) = %v; want %v", tc.f, got, tc.want)
		}
	}
	if n := len(ids(Filter{})); n != 30 {
		t.Errorf("Recent without a limit returned %d; want 30", n)
	}
}

// TestRetention deletes raw records older than the retention on flush and
// keeps their rollups, which Check and Rebuild then leave alone.
func TestRetention(t *testing.T) {
	path := tempPath(t)
	now := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-72 * time.Hour) // 2026-06-17 12:00
	recs := []Record{
		{Time: now.Add(-10 * 24 * time.Hour), ID: "old1", Key: "a", Model: "m", Status: 200, Input: 1, Cost: 10, CostKnown: true},
		{Time: now.Add(-5 * 24 * time.Hour), ID: "old2", Key: "a", Model: "m", Status: 200, Input: 2, Cost: 20, CostKnown: true},
		{Time: cutoff.Add(-time.Hour), ID: "cutday-old", Key: "a", Model: "m", Status: 200, Input: 4, Cost: 40, CostKnown: true},
		{Time: cutoff.Add(time.Hour), ID: "cutday-new", Key: "a", Model: "m", Status: 200, Input: 8, Cost: 80, CostKnown: true},
		{Time: now.Add(-time.Hour), ID: "new", Key: "b", Model: "m", Status: 200, Input: 16, Cost: 160, CostKnown: true},
	}
	w := NewWriter(opener(path), Options{Retention: 72 * time.Hour, Now: func() time.Time { return now }})
	for _, r := range recs {
		w.Add(r)
	}
	closeWriter(t, w)

	db := mustOpen(t, path)
	defer db.Close()
	left, err := Recent(db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range left {
		ids = append(ids, r.ID)
	}
	if want := []string{"new", "cutday-new"}; !slices.Equal(ids, want) {
		t.Fatalf("raw records after retention: %v; want %v", ids, want)
	}
	total := func() Counters {
		rows := usage(t, db, Query{})
		if len(rows) != 1 {
			t.Fatalf("%d total rows; want 1", len(rows))
		}
		return rows[0].Counters
	}
	if c := total(); c.Requests != 5 || c.Input != 31 || c.Cost != 310 {
		t.Errorf("rollup total after retention = %+v; want all 5 requests, 31 input, 310 cost", c)
	}
	hours := usage(t, db, Query{By: []Dim{DimHour}})
	if len(hours) != 5 {
		t.Errorf("%d hourly rows after retention; want 5 (rollups outlive records)", len(hours))
	}
	// The cut falls inside 2026-06-17: that day's rollup (2 requests) no
	// longer matches its records (1) and must not be reported or rebuilt.
	if err := Check(db); err != nil {
		t.Fatalf("Check after retention: %v", err)
	}
	if rebuilt, _, err := EnsureConsistent(db); err != nil || rebuilt {
		t.Fatalf("EnsureConsistent after retention = %v, %v; want no rebuild", rebuilt, err)
	}
	if err := Rebuild(db); err != nil {
		t.Fatal(err)
	}
	if c := total(); c.Requests != 5 || c.Cost != 310 {
		t.Errorf("Rebuild dropped rollups older than the retention cut: total %+v", c)
	}
	// Periods after the cut are still verified.
	corruptRollup(t, db, store.BucketRollupsHour, cutoff.Add(time.Hour).Truncate(time.Hour), dimTotal, "")
	if err := Check(db); !errors.Is(err, ErrInconsistent) {
		t.Errorf("Check after corrupting a rollup past the cut = %v; want ErrInconsistent", err)
	}
}

func corruptRollup(t *testing.T, db *store.DB, bucket []byte, start time.Time, dim byte, name string) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		k := rollupKey(start, dim, name)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("no rollup %x", k)
		}
		c := decodeCounters(v)
		c.Requests += 5
		c.Cost += 12345
		return b.Put(k, c.encode())
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRebuildFixesCorruptRollups damages rollups three ways and checks
// that EnsureConsistent notices and restores the exact original values.
func TestRebuildFixesCorruptRollups(t *testing.T) {
	path := tempPath(t)
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	w := NewWriter(opener(path), Options{})
	for i := range 500 {
		w.Add(randomRecord(rng, base, 4*24*time.Hour, i))
	}
	closeWriter(t, w)
	db := mustOpen(t, path)
	defer db.Close()
	if rebuilt, _, err := EnsureConsistent(db); err != nil || rebuilt {
		t.Fatalf("fresh file: EnsureConsistent = %v, %v; want consistent", rebuilt, err)
	}
	queries := []Query{{By: []Dim{DimHour, DimKey, DimModel, DimProvider}}, {By: []Dim{DimDay, DimModel}}, {By: []Dim{DimKey}}, {}}
	var before [][]Row
	for _, q := range queries {
		before = append(before, usage(t, db, q))
	}

	corruptRollup(t, db, store.BucketRollupsDay, base.AddDate(0, 0, 1), dimModel, "gpt-4o")
	if err := Check(db); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Check after corrupting a day rollup = %v; want ErrInconsistent", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		// A rollup where no record is, and a rollup gone missing.
		if err := tx.Bucket(store.BucketRollupsHour).Put(rollupKey(base.AddDate(0, 1, 0), dimTotal, ""), Counters{Requests: 3}.encode()); err != nil {
			return err
		}
		return tx.Bucket(store.BucketRollupsHour).Delete(rollupKey(base.Add(5*time.Hour), dimTotal, ""))
	}); err != nil {
		t.Fatal(err)
	}
	err := Check(db)
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Check = %v; want ErrInconsistent", err)
	}
	t.Logf("Check reported: %v", err)
	rebuilt, _, err := EnsureConsistent(db)
	if err != nil || !rebuilt {
		t.Fatalf("EnsureConsistent = %v, %v; want a rebuild", rebuilt, err)
	}
	if err := Check(db); err != nil {
		t.Fatalf("Check after rebuild: %v", err)
	}
	for i, q := range queries {
		if got := usage(t, db, q); !slices.Equal(got, before[i]) {
			t.Errorf("Usage(%+v) after rebuild differs from before the damage", q)
		}
	}
}

// TestFlushKeepsBatchWhileBusy holds the data file as another process
// would: the flush fails, nothing is lost, and the next flush writes all.
func TestFlushKeepsBatchWhileBusy(t *testing.T) {
	path := tempPath(t)
	mustOpen(t, path).Close()
	w := NewWriter(func() (*store.DB, error) {
		return store.Open(path, store.Options{Timeout: 50 * time.Millisecond})
	}, Options{FlushInterval: time.Hour})
	for i := range 10 {
		w.Add(Record{ID: strconv.Itoa(i), Status: 200})
	}
	holder := mustOpen(t, path)
	err := w.Flush()
	if !errors.Is(err, store.ErrBusy) {
		t.Fatalf("Flush while the file is held = %v; want ErrBusy", err)
	}
	for i := 10; i < 15; i++ {
		w.Add(Record{ID: strconv.Itoa(i), Status: 200})
	}
	if st := w.Stats(); st.Pending != 15 || st.Written != 0 || st.FailedFlushes != 1 {
		t.Errorf("stats while busy %+v; want 15 pending, 0 written, 1 failed flush", st)
	}
	holder.Close()
	closeWriter(t, w)
	db := mustOpen(t, path)
	defer db.Close()
	recs, err := Recent(db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 15 {
		t.Fatalf("%d records; want 15", len(recs))
	}
	// Oldest first in add order: the kept batch went ahead of later adds.
	slices.Reverse(recs)
	for i, r := range recs {
		if r.ID != strconv.Itoa(i) {
			t.Fatalf("record %d is %s; want %d (order kept)", i, r.ID, i)
		}
	}
}

func TestCloseGivesUpWithContext(t *testing.T) {
	path := tempPath(t)
	mustOpen(t, path).Close()
	holder := mustOpen(t, path)
	defer holder.Close()
	w := NewWriter(func() (*store.DB, error) {
		return store.Open(path, store.Options{Timeout: 20 * time.Millisecond})
	}, Options{FlushInterval: 10 * time.Millisecond, Logger: discardLogger()})
	w.Add(Record{ID: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	if err == nil || !errors.Is(err, store.ErrBusy) {
		t.Fatalf("Close with the file held = %v; want an error wrapping ErrBusy", err)
	}
	if want := "1 record(s) not written"; !contains(err.Error(), want) {
		t.Errorf("Close error %q does not say %q", err, want)
	}
}

func TestFromEventAndPrice(t *testing.T) {
	ev := adminapi.Event{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), ID: "42", Key: "agent",
		Endpoint: "chat/completions", Model: "fast", Provider: "openai", UpstreamModel: "gpt-4o",
		Stream: true, Status: 200, InputTokens: 1000, OutputTokens: 200, CachedTokens: 600,
		LatencyMS: 1234.5678, TTFBMS: 12.3456, Session: "refactor", ContextTokens: 900, ContextWindow: 128000, Summarized: true,
	}
	r := FromEvent(ev)
	want := Record{
		Time: ev.Time.UTC(), ID: "42", Key: "agent", Session: "refactor", Provider: "openai", Model: "fast", UpstreamModel: "gpt-4o",
		Endpoint: "chat/completions", Status: 200, Stream: true, Input: 1000, Output: 200, CacheRead: 600,
		LatencyUS: 1234568, TTFBUS: 12346,
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("FromEvent =\n%+v\nwant\n%+v", r, want)
	}
	if r.Time.Location() != time.UTC {
		t.Error("record time not UTC")
	}

	tab := pricing.Default()
	p, ok := tab.Lookup("openai", "gpt-4o")
	if !ok {
		t.Fatal("price table has no gpt-4o")
	}
	wantCost, _ := p.Cost(pricing.Usage{Input: 400, Output: 200, CacheRead: 600})
	Price(&r, tab, "openai", "")
	if !r.CostKnown || r.Cost != wantCost || wantCost == 0 {
		t.Errorf("Price = %v known %v; want %v (input 400 uncached + 600 cache reads)", r.Cost, r.CostKnown, wantCost)
	}
	full, _ := p.Cost(pricing.Usage{Input: 1000, Output: 200})
	if r.Cost == full {
		t.Error("cached tokens were priced as ordinary input")
	}

	unknown := r
	unknown.UpstreamModel = "no-such-model-xyz"
	Price(&unknown, tab, "openai", "")
	if unknown.CostKnown || unknown.Cost != 0 {
		t.Errorf("unknown model priced %v known %v; want unknown", unknown.Cost, unknown.CostKnown)
	}
	refused := Record{Status: 401, Model: "no-such-model-xyz"}
	Price(&refused, tab, "openai", "")
	if !refused.CostKnown || refused.Cost != 0 {
		t.Errorf("refused request without tokens: %v known %v; want a known zero", refused.Cost, refused.CostKnown)
	}
	mock := Record{Status: 200, Model: "mock", Input: 10, Output: 5}
	Price(&mock, tab, "mock", "")
	if !mock.CostKnown || mock.Cost != 0 {
		t.Errorf("mock request: %v known %v; want a known zero", mock.Cost, mock.CostKnown)
	}

	for _, tc := range []struct {
		status int
		msg    string
		want   string
	}{
		{200, "", ""},
		{401, "invalid key", ErrAuth},
		{404, "no route", ErrNotFound},
		{429, "slow down", ErrRateLimited},
		{400, "bad field", ErrBadRequest},
		{502, `provider "x" stream was cut: EOF`, ErrCut},
		{503, "unreachable", ErrUpstream},
		{200, "client went away", ErrOther},
	} {
		if got := ClassifyError(tc.status, tc.msg); got != tc.want {
			t.Errorf("ClassifyError(%d, %q) = %q; want %q", tc.status, tc.msg, got, tc.want)
		}
	}
}

func TestCountersEncoding(t *testing.T) {
	c := Counters{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if got := decodeCounters(c.encode()); got != c {
		t.Errorf("round trip %+v; want %+v", got, c)
	}
	if got := decodeCounters(c.encode()[:16]); got != (Counters{Requests: 1, Errors: 2}) {
		t.Errorf("short value decoded as %+v", got)
	}
	for _, s := range [][3]string{{"", "", ""}, {"a", "b", "c"}, {"k\x00x", "", "m/with/slashes"}, {"", "p", ""}} {
		k, p, m, ok := parseCombo([]byte(comboName(s[0], s[1], s[2])))
		if !ok || k != s[0] || p != s[1] || m != s[2] {
			t.Errorf("combo %q round trip = %q %q %q %v", s, k, p, m, ok)
		}
	}
}

// Grouping by session reads the raw records of the range: within the
// retention, with the other dimensions and the key filter, and says from
// when records are left.
func TestUsageBySession(t *testing.T) {
	path := tempPath(t)
	now := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: now.Add(-10 * 24 * time.Hour), ID: "pruned", Key: "a", Session: "old", Model: "m", Status: 200, Input: 1, CostKnown: true},
		{Time: now.Add(-2 * time.Hour), ID: "1", Key: "a", Session: "work", Model: "m", Status: 200, Input: 10, Output: 1, Cost: 100, CostKnown: true},
		{Time: now.Add(-90 * time.Minute), ID: "2", Key: "a", Session: "work", Model: "n", Status: 200, Input: 20, Output: 2, Cost: 200, CostKnown: true},
		{Time: now.Add(-time.Hour), ID: "3", Key: "b", Session: "work", Model: "m", Status: 500, ErrorClass: ErrUpstream, CostKnown: true},
		{Time: now.Add(-30 * time.Minute), ID: "4", Key: "a", Model: "m", Status: 200, Input: 5, Cost: 50, CostKnown: true},
		{Time: now.Add(-10 * time.Minute), ID: "5", Key: "a", Session: "conv_1", Model: "m", Status: 200, Input: 7}, // unpriced
		{Time: now.Add(time.Hour), ID: "later", Key: "a", Session: "work", Model: "m", Status: 200, Input: 1000, CostKnown: true},
	}
	w := NewWriter(opener(path), Options{Retention: 72 * time.Hour, Now: func() time.Time { return now }})
	for _, r := range recs {
		w.Add(r)
	}
	closeWriter(t, w)
	db := mustOpen(t, path)
	defer db.Close()

	q := Query{Since: now.Add(-24 * time.Hour), Until: now, By: []Dim{DimSession}}
	if !q.FromRecords() || (Query{By: []Dim{DimKey}}).FromRecords() {
		t.Fatal("FromRecords: only grouping by session reads records")
	}
	type row struct {
		key, session string
		reqs, errs   int64
		in           int64
		cost         pricing.Micros
		unknown      int64
	}
	got := func(rows []Row) []row {
		var out []row
		for _, r := range rows {
			out = append(out, row{r.Key, r.Session, r.Requests, r.Errors, r.Input, r.Cost, r.CostUnknown})
		}
		return out
	}
	// Highest cost first; the request without a session is its own row.
	want := []row{
		{"", "work", 3, 1, 30, 300, 0},
		{"", "", 1, 0, 5, 50, 0},
		{"", "conv_1", 1, 0, 7, 0, 1},
	}
	if g := got(usage(t, db, q)); !slices.Equal(g, want) {
		t.Errorf("by session:\n%v\nwant\n%v", g, want)
	}
	q.By, q.Key = []Dim{DimKey, DimSession}, "a"
	want = []row{{"a", "work", 2, 0, 30, 300, 0}, {"a", "", 1, 0, 5, 50, 0}, {"a", "conv_1", 1, 0, 7, 0, 1}}
	if g := got(usage(t, db, q)); !slices.Equal(g, want) {
		t.Errorf("by key and session of key a:\n%v\nwant\n%v", g, want)
	}
	q = Query{Since: now.Add(-24 * time.Hour), Until: now, By: []Dim{DimSession, DimHour}}
	rows := usage(t, db, q)
	if len(rows) != 4 || !rows[0].Period.Equal(now.Add(-2*time.Hour)) || rows[0].Session != "work" || rows[0].Requests != 2 ||
		rows[3].Session != "work" || rows[3].Errors != 1 {
		t.Errorf("by session and hour: %+v", rows)
	}
	// The pruned record is gone: its session is in no answer, and
	// PrunedBefore says from when records are left.
	q = Query{By: []Dim{DimSession}}
	for _, r := range usage(t, db, q) {
		if r.Session == "old" {
			t.Errorf("a record past the retention is counted: %+v", r)
		}
	}
	if pb, err := PrunedBefore(db); err != nil || pb.IsZero() || pb.After(now.Add(-72*time.Hour)) {
		t.Errorf("PrunedBefore = %v, %v", pb, err)
	}
}
