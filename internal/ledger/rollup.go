package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// Dimension bytes of rollup keys.
const (
	dimKey      byte = 'k'
	dimModel    byte = 'm'
	dimProvider byte = 'p'
	dimTotal    byte = 't'
	dimCombo    byte = 'c'
)

// keyPrunedBefore is meta/usage_pruned_before: 8-byte big-endian unix
// nanoseconds; every raw record older than it has been deleted.
var keyPrunedBefore = []byte("usage_pruned_before")

// ErrInconsistent reports rollups that differ from the sums of the records.
var ErrInconsistent = errors.New("usage rollups disagree with the usage records")

var errNoBuckets = errors.New("usage buckets missing: the data file predates schema 3")

// granularity is one rollup bucket and its period arithmetic (UTC).
type granularity struct {
	dim    Dim
	bucket []byte
	start  func(time.Time) time.Time // start of the period holding t
	next   func(time.Time) time.Time // start of the period after the one starting at t
}

var (
	hourly = granularity{
		dim:    DimHour,
		bucket: store.BucketRollupsHour,
		start:  func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) },
		next:   func(t time.Time) time.Time { return t.Add(time.Hour) },
	}
	daily = granularity{
		dim:    DimDay,
		bucket: store.BucketRollupsDay,
		start: func(t time.Time) time.Time {
			u := t.UTC()
			return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
	}
	granularities = [...]granularity{hourly, daily}
)

// ceil is the start of the first period that starts at or after t.
func (g granularity) ceil(t time.Time) time.Time {
	s := g.start(t)
	if s.Before(t) {
		s = g.next(s)
	}
	return s
}

func nanos(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func recordKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, nanos(t))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func periodPrefix(start time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(start.Unix()))
	return k
}

func rollupKey(start time.Time, dim byte, name string) []byte {
	k := make([]byte, 9+len(name))
	binary.BigEndian.PutUint64(k, uint64(start.Unix()))
	k[8] = dim
	copy(k[9:], name)
	return k
}

func parseRollupKey(k []byte) (start time.Time, dim byte, name []byte, ok bool) {
	if len(k) < 9 {
		return time.Time{}, 0, nil, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(k)), 0).UTC(), k[8], k[9:], true
}

// comboName encodes key, provider and model for the c dimension.
func comboName(key, provider, model string) string {
	return string(appendCombo(make([]byte, 0, len(key)+len(provider)+len(model)+2), key, provider, model))
}

func appendCombo(b []byte, key, provider, model string) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(provider)))
	b = append(b, provider...)
	return append(b, model...)
}

func parseCombo(b []byte) (key, provider, model string, ok bool) {
	next := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	if key, ok = next(); !ok {
		return
	}
	if provider, ok = next(); !ok {
		return
	}
	return key, provider, string(b), true
}

// deltas are counters keyed by rollup key, for one granularity.
type deltas map[string]*Counters

// add counts r under each of its rollup keys. The keys are built in buf
// (returned for reuse): a map lookup with string(buf) does not allocate,
// so a flush allocates once per distinct key, not per record.
func (d deltas) add(g granularity, r *Record, buf []byte) []byte {
	start := g.start(r.Time)
	for dim := range 5 {
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(start.Unix()))
		switch dim {
		case 0:
			buf = append(buf, dimTotal)
		case 1:
			buf = append(append(buf, dimKey), r.Key...)
		case 2:
			buf = append(append(buf, dimModel), r.Model...)
		case 3:
			buf = append(append(buf, dimProvider), r.Provider...)
		case 4:
			buf = appendCombo(append(buf, dimCombo), r.Key, r.Provider, r.Model)
		}
		c := d[string(buf)]
		if c == nil {
			c = new(Counters)
			d[string(buf)] = c
		}
		c.AddRecord(r)
	}
	return buf
}

// apply adds d to the rollups in b.
func (d deltas) apply(b *bolt.Bucket) error {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys) // in key order: bbolt's cheapest write pattern
	for _, k := range keys {
		cur := decodeCounters(b.Get([]byte(k)))
		cur.Add(*d[k])
		if err := b.Put([]byte(k), cur.encode()); err != nil {
			return err
		}
	}
	return nil
}

// writeRecords stores recs and adds them to both rollups, in tx.
func writeRecords(tx *bolt.Tx, recs []Record) error {
	ub := tx.Bucket(store.BucketUsage)
	if ub == nil {
		return errNoBuckets
	}
	ub.FillPercent = 0.9 // keys arrive nearly in order
	// Keys and values are carved out of one growing arena: bbolt needs
	// them unchanged until the transaction ends, and appending never
	// changes bytes already handed out (a grown arena is a new array).
	arena := make([]byte, 0, 320*len(recs))
	for i := range recs {
		seq, err := ub.NextSequence()
		if err != nil {
			return err
		}
		at := len(arena)
		arena = binary.BigEndian.AppendUint64(arena, nanos(recs[i].Time))
		arena = binary.BigEndian.AppendUint64(arena, seq)
		arena = recs[i].appendJSON(arena)
		k, v := arena[at:at+16:at+16], arena[at+16:len(arena):len(arena)]
		if err := ub.Put(k, v); err != nil {
			return err
		}
		if err := auditGuard(tx, &recs[i]); err != nil {
			return err
		}
	}
	for _, g := range granularities {
		b := tx.Bucket(g.bucket)
		if b == nil {
			return errNoBuckets
		}
		d := deltas{}
		var buf []byte
		for i := range recs {
			buf = d.add(g, &recs[i], buf)
		}
		if err := d.apply(b); err != nil {
			return err
		}
	}
	return nil
}

// pruneBatch bounds the records one flush deletes, so that turning
// retention on over a large file does not make one huge transaction.
const pruneBatch = 10_000

// prune deletes up to pruneBatch raw records older than cutoff and moves
// meta/usage_pruned_before past the newest one deleted.
func prune(tx *bolt.Tx, cutoff time.Time) (int, error) {
	ub := tx.Bucket(store.BucketUsage)
	if ub == nil {
		return 0, errNoBuckets
	}
	cut := nanos(cutoff)
	var dead [][]byte
	c := ub.Cursor()
	for k, _ := c.First(); k != nil && len(dead) < pruneBatch; k, _ = c.Next() {
		if len(k) != 16 {
			continue
		}
		if binary.BigEndian.Uint64(k) >= cut {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	if len(dead) == 0 {
		return 0, nil
	}
	for _, k := range dead {
		if err := ub.Delete(k); err != nil {
			return 0, err
		}
	}
	wm := binary.BigEndian.Uint64(dead[len(dead)-1]) + 1
	meta := tx.Bucket(store.BucketMeta)
	if meta == nil {
		return 0, errNoBuckets
	}
	if old := meta.Get(keyPrunedBefore); len(old) == 8 && binary.BigEndian.Uint64(old) > wm {
		wm = binary.BigEndian.Uint64(old)
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, wm)
	return len(dead), meta.Put(keyPrunedBefore, v)
}

// prunedBefore reads meta/usage_pruned_before; zero when nothing was pruned.
func prunedBefore(tx *bolt.Tx) time.Time {
	meta := tx.Bucket(store.BucketMeta)
	if meta == nil {
		return time.Time{}
	}
	v := meta.Get(keyPrunedBefore)
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}

// verifiable is, per granularity, the first period whose records are all
// still in the usage bucket (zero: every period).
func verifiable(tx *bolt.Tx) [len(granularities)]time.Time {
	var from [len(granularities)]time.Time
	if wm := prunedBefore(tx); !wm.IsZero() {
		for i, g := range granularities {
			from[i] = g.ceil(wm)
		}
	}
	return from
}

// expected sums the raw records into rollups for every verifiable period.
// A record that cannot be decoded is skipped and counted in damage, and
// the periods it falls in are returned in blind (per granularity, by
// start in unix seconds) and left out of exp: without it their sums would
// be short, and their rollups, written with the record while it was
// whole, are all that is left of it.
func expected(tx *bolt.Tx, from [len(granularities)]time.Time) (exp [len(granularities)]deltas, blind [len(granularities)]map[int64]bool, damage Damage, err error) {
	for i := range exp {
		exp[i] = deltas{}
		blind[i] = map[int64]bool{}
	}
	ub := tx.Bucket(store.BucketUsage)
	if ub == nil {
		return exp, blind, damage, errNoBuckets
	}
	earliest := from[0]
	for _, f := range from {
		if f.Before(earliest) {
			earliest = f
		}
	}
	c := ub.Cursor()
	var buf []byte
	k, v := c.First()
	if !earliest.IsZero() {
		k, v = c.Seek(recordKey(earliest, 0))
	}
	for ; k != nil; k, v = c.Next() {
		if len(k) != 16 {
			damage.record(k, "its key is not 16 bytes")
			continue
		}
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			damage.record(k, "it is not valid JSON: "+err.Error())
			t := time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
			for i, g := range granularities {
				blind[i][g.start(t).Unix()] = true
			}
			continue
		}
		for i, g := range granularities {
			if !r.Time.Before(from[i]) {
				buf = exp[i].add(g, &r, buf)
			}
		}
	}
	for i := range exp {
		for k := range exp[i] {
			if start, _, _, ok := parseRollupKey([]byte(k)); ok && blind[i][start.Unix()] {
				delete(exp[i], k)
			}
		}
	}
	return exp, blind, damage, nil
}

// inBlind reports whether rollup key k is of a period in blind.
func inBlind(blind map[int64]bool, k []byte) bool {
	if len(blind) == 0 {
		return false
	}
	start, _, _, ok := parseRollupKey(k)
	return ok && blind[start.Unix()]
}

// seekPeriod positions c at the first rollup of the period starting at
// from (the first rollup when from is zero).
func seekPeriod(c *bolt.Cursor, from time.Time) (k, v []byte) {
	if from.IsZero() {
		return c.First()
	}
	return c.Seek(periodPrefix(from))
}

// Check verifies that, for every period still wholly covered by raw
// records, each rollup equals the sums of the records and no rollup exists
// without records. The error wraps ErrInconsistent and names up to five
// differences. Rollups of periods that start before the retention cut
// (meta/usage_pruned_before) are not checked, nor those of the periods of
// a record that cannot be decoded (see CheckDamage).
func Check(db *store.DB) error {
	_, err := CheckDamage(db)
	return err
}

// CheckDamage is Check that also returns the records it skipped because
// they cannot be decoded.
func CheckDamage(db *store.DB) (Damage, error) {
	var damage Damage
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		damage, err = checkTx(tx)
		return err
	})
	return damage, err
}

func checkTx(tx *bolt.Tx) (Damage, error) {
	from := verifiable(tx)
	exp, blind, damage, err := expected(tx, from)
	if err != nil {
		return damage, err
	}
	var problems []string
	n := 0
	report := func(s string) {
		n++
		if len(problems) < 5 {
			problems = append(problems, s)
		}
	}
	for i, g := range granularities {
		b := tx.Bucket(g.bucket)
		if b == nil {
			return damage, errNoBuckets
		}
		seen := make(map[string]bool, len(exp[i]))
		c := b.Cursor()
		for k, v := seekPeriod(c, from[i]); k != nil; k, v = c.Next() {
			if inBlind(blind[i], k) {
				continue
			}
			got := decodeCounters(v)
			want := exp[i][string(k)]
			seen[string(k)] = true
			switch bad := countersDamaged(v); {
			case bad != "":
				report(fmt.Sprintf("%s is damaged: %s", describeKey(g, k), bad))
			case want == nil && got != (Counters{}):
				report(fmt.Sprintf("%s has %d request(s) but no records", describeKey(g, k), got.Requests))
			case want != nil && *want != got:
				report(fmt.Sprintf("%s has %+v; records sum to %+v", describeKey(g, k), got, *want))
			}
		}
		for k := range exp[i] {
			if !seen[k] {
				report(fmt.Sprintf("%s missing (%d request(s) recorded)", describeKey(g, []byte(k)), exp[i][k].Requests))
			}
		}
	}
	if n > 0 {
		return damage, fmt.Errorf("%w: %d difference(s): %s", ErrInconsistent, n, strings.Join(problems, "; "))
	}
	return damage, nil
}

func describeKey(g granularity, k []byte) string {
	start, dim, name, ok := parseRollupKey(k)
	if !ok {
		return fmt.Sprintf("%s rollup %x", g.dim, k)
	}
	what := map[byte]string{dimKey: "key", dimModel: "model", dimProvider: "provider", dimTotal: "total", dimCombo: "key/provider/model"}[dim]
	if dim == dimCombo {
		key, prov, model, _ := parseCombo(name)
		name = []byte(key + "/" + prov + "/" + model)
	}
	return fmt.Sprintf("%s rollup %s %s %q", g.dim, start.Format(time.RFC3339), what, name)
}

// Rebuild recomputes the rollups of every period still wholly covered by
// raw records from those records, replacing what was there. Older
// rollups (before the retention cut) are kept as they are.
func Rebuild(db *store.DB) error {
	return db.Update(rebuildTx)
}

func rebuildTx(tx *bolt.Tx) error {
	from := verifiable(tx)
	exp, blind, _, err := expected(tx, from)
	if err != nil {
		return err
	}
	for i, g := range granularities {
		b := tx.Bucket(g.bucket)
		if b == nil {
			return errNoBuckets
		}
		var stale [][]byte
		c := b.Cursor()
		for k, _ := seekPeriod(c, from[i]); k != nil; k, _ = c.Next() {
			if !inBlind(blind[i], k) {
				stale = append(stale, bytes.Clone(k))
			}
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if err := exp[i].apply(b); err != nil {
			return err
		}
	}
	return nil
}

// EnsureConsistent checks the rollups against the records and rebuilds
// them when they differ; rebuilt reports that it had to. The daemon calls
// it when it starts. After a crash it should find nothing to do, since
// records and rollups are written in one transaction. Records that cannot
// be decoded are skipped (their periods' rollups kept as they are) and
// returned in damage, for the caller to report.
func EnsureConsistent(db *store.DB) (rebuilt bool, damage Damage, err error) {
	damage, err = CheckDamage(db)
	if err == nil {
		return false, damage, nil
	}
	if !errors.Is(err, ErrInconsistent) {
		return false, damage, err
	}
	if err := Rebuild(db); err != nil {
		return false, damage, err
	}
	return true, damage, nil
}

// auditGuard writes a guardrail hit of r to the audit log in the same
// transaction as its record.
func auditGuard(tx *bolt.Tx, r *Record) error {
	if len(r.Guard) == 0 || tx.Bucket(store.BucketAudit) == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "request %s of key %q to %s:", r.ID, r.Key, r.Model)
	for _, h := range r.Guard {
		fmt.Fprintf(&b, " rule %s %s %s", h.Rule, h.Action, h.Side)
		if h.Detector != "" {
			fmt.Fprintf(&b, " %s", h.Detector)
		}
		fmt.Fprintf(&b, " x%d;", h.Count)
	}
	return audit.Append(tx, audit.Entry{Time: r.Time, Action: audit.ActionGuard, Process: "credflow serve", Detail: strings.TrimSuffix(b.String(), ";")})
}
