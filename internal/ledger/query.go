package ledger

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// Dim is what Usage groups by.
type Dim string

// Dimensions.
const (
	DimKey      Dim = "key"
	DimModel    Dim = "model"
	DimProvider Dim = "provider"
	// DimSession is the stored conversation (Record.Session). It has no
	// rollups: session names are many and short-lived, and rollups are
	// kept for good, so grouping by it reads the raw records (see
	// Query.FromRecords).
	DimSession Dim = "session"
	DimDay     Dim = "day"  // UTC day
	DimHour    Dim = "hour" // UTC hour
)

// Dims lists every dimension in display order.
var Dims = []Dim{DimKey, DimModel, DimProvider, DimSession, DimDay, DimHour}

// ParseDim accepts a dimension's name.
func ParseDim(s string) (Dim, error) {
	for _, d := range Dims {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("unknown dimension %q: use key, model, provider, session, day or hour", s)
}

// Query selects and groups usage.
type Query struct {
	// Since and Until bound the time range; zero is unbounded. The range
	// is widened to whole periods of the rollups read (see Plan).
	Since, Until time.Time
	// By lists the dimensions to group by; none gives one total row.
	By []Dim
	// Key keeps only one virtual key's usage.
	Key string
}

// hourlyBelow is the range under which Usage reads hourly rollups.
const hourlyBelow = 48 * time.Hour

func (q Query) has(d Dim) bool { return slices.Contains(q.By, d) }

// FromRecords reports whether Usage answers q from the raw records rather
// than the rollups: when it groups by session. Raw records are kept for
// Options.Retention only, so such an answer covers that much at most
// (PrunedBefore says from when).
func (q Query) FromRecords() bool { return q.has(DimSession) }

// Plan says how Usage answers q: from hourly rollups (DimHour) when q
// groups by hour or spans less than two days, else from daily ones
// (DimDay); and the range actually covered, Since rounded down and Until
// up to whole UTC periods (Until exclusive; zero when unbounded). An
// unbounded Until counts as now for choosing the granularity.
func (q Query) Plan() (gran Dim, from, to time.Time) {
	g := q.granularity()
	if !q.Since.IsZero() {
		from = g.start(q.Since)
	}
	if !q.Until.IsZero() {
		to = g.ceil(q.Until)
	}
	return g.dim, from, to
}

func (q Query) granularity() granularity {
	if q.has(DimHour) {
		return hourly
	}
	if !q.Since.IsZero() {
		until := q.Until
		if until.IsZero() {
			until = time.Now()
		}
		if until.Sub(q.Since) < hourlyBelow {
			return hourly
		}
	}
	return daily
}

// Row is one group of a Usage answer. Only the fields of the grouped
// dimensions are set; Period is the start of the UTC hour or day when
// grouping by hour or day.
type Row struct {
	Period   time.Time `json:"period,omitzero"`
	Key      string    `json:"key,omitempty"`
	Model    string    `json:"model,omitempty"`
	Provider string    `json:"provider,omitempty"`
	Session  string    `json:"session,omitempty"`
	Counters
}

type groupKey struct {
	period                    int64
	key, model, prov, session string
	hasPeriod                 bool
}

// Usage sums usage from the rollups (never the raw records, unless q
// groups by session: see Query.FromRecords): hourly rollups when q groups
// by hour or spans less than two days, daily ones otherwise (see
// Query.Plan). Rows are ordered by period, then by cost (highest first),
// then by name. A rollup or record that cannot be decoded is skipped;
// UsageWithDamage also says which.
func Usage(db *store.DB, q Query) ([]Row, error) {
	rows, _, err := UsageWithDamage(db, q)
	return rows, err
}

// UsageWithDamage is Usage that also returns the rollups it skipped
// because they cannot be decoded.
func UsageWithDamage(db *store.DB, q Query) ([]Row, Damage, error) {
	var damage Damage
	for _, d := range q.By {
		if _, err := ParseDim(string(d)); err != nil {
			return nil, damage, err
		}
	}
	if q.FromRecords() {
		return usageFromRecords(db, q)
	}
	g := q.granularity()
	_, from, to := q.Plan()

	// The dimension to read: one of k, m, p, t when that answers the
	// query, else the key/provider/model combination.
	var entity []Dim
	for _, d := range []Dim{DimKey, DimModel, DimProvider} {
		if q.has(d) {
			entity = append(entity, d)
		}
	}
	dim := dimCombo
	switch {
	case len(entity) == 0 && q.Key == "":
		dim = dimTotal
	case len(entity) == 0 && q.Key != "", len(entity) == 1 && entity[0] == DimKey:
		dim = dimKey
	case len(entity) == 1 && q.Key == "":
		dim = map[Dim]byte{DimModel: dimModel, DimProvider: dimProvider}[entity[0]]
	}

	groups := map[groupKey]*Row{}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(g.bucket)
		if b == nil {
			return errNoBuckets
		}
		c := b.Cursor()
		for k, v := seekPeriod(c, from); k != nil; k, v = c.Next() {
			start, kd, name, ok := parseRollupKey(k)
			if !ok {
				damage.rollup(g, k, "its key is too short")
				continue
			}
			if !to.IsZero() && !start.Before(to) {
				break
			}
			if kd != dim {
				continue
			}
			var key, model, prov string
			switch dim {
			case dimKey:
				key = string(name)
			case dimModel:
				model = string(name)
			case dimProvider:
				prov = string(name)
			case dimCombo:
				if key, prov, model, ok = parseCombo(name); !ok {
					damage.rollup(g, k, "its key's names cannot be read")
					continue
				}
			}
			if q.Key != "" && key != q.Key {
				continue
			}
			if bad := countersDamaged(v); bad != "" {
				damage.rollup(g, k, bad)
				continue
			}
			var gk groupKey
			if q.has(DimHour) {
				gk.period, gk.hasPeriod = start.Unix(), true
			} else if q.has(DimDay) {
				gk.period, gk.hasPeriod = daily.start(start).Unix(), true
			}
			if q.has(DimKey) {
				gk.key = key
			}
			if q.has(DimModel) {
				gk.model = model
			}
			if q.has(DimProvider) {
				gk.prov = prov
			}
			groupRow(groups, gk).Add(decodeCounters(v))
		}
		return nil
	})
	if err != nil {
		return nil, damage, err
	}
	return sortedRows(groups), damage, nil
}

// groupRow returns the row of a group, adding it when new.
func groupRow(groups map[groupKey]*Row, gk groupKey) *Row {
	row := groups[gk]
	if row == nil {
		row = &Row{Key: gk.key, Model: gk.model, Provider: gk.prov, Session: gk.session}
		if gk.hasPeriod {
			row.Period = time.Unix(gk.period, 0).UTC()
		}
		groups[gk] = row
	}
	return row
}

func sortedRows(groups map[groupKey]*Row) []Row {
	rows := make([]Row, 0, len(groups))
	for _, r := range groups {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(
			a.Period.Compare(b.Period),
			cmp.Compare(b.Cost, a.Cost),
			cmp.Compare(b.Requests, a.Requests),
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.Session, b.Session),
			cmp.Compare(a.Model, b.Model),
			cmp.Compare(a.Provider, b.Provider),
		)
	})
	return rows
}

// usageFromRecords answers q by reading the raw records of its range
// (widened as Plan says, so the periods match a rollup answer's). It is
// slower than the rollups, in proportion to the requests in the range.
func usageFromRecords(db *store.DB, q Query) ([]Row, Damage, error) {
	var damage Damage
	_, from, to := q.Plan()
	groups := map[groupKey]*Row{}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketUsage)
		if b == nil {
			return errNoBuckets
		}
		c := b.Cursor()
		k, v := c.First()
		if !from.IsZero() {
			k, v = c.Seek(recordKey(from, 0))
		}
		for ; k != nil; k, v = c.Next() {
			if len(k) != 16 {
				damage.record(k, "its key is not 16 bytes")
				continue
			}
			if !to.IsZero() && binary.BigEndian.Uint64(k) >= nanos(to) {
				break // keys are the records' times
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				damage.record(k, "it is not valid JSON: "+err.Error())
				continue
			}
			if q.Key != "" && r.Key != q.Key {
				continue
			}
			var gk groupKey
			if q.has(DimHour) {
				gk.period, gk.hasPeriod = hourly.start(r.Time).Unix(), true
			} else if q.has(DimDay) {
				gk.period, gk.hasPeriod = daily.start(r.Time).Unix(), true
			}
			if q.has(DimKey) {
				gk.key = r.Key
			}
			if q.has(DimModel) {
				gk.model = r.Model
			}
			if q.has(DimProvider) {
				gk.prov = r.Provider
			}
			gk.session = r.Session
			groupRow(groups, gk).AddRecord(&r)
		}
		return nil
	})
	if err != nil {
		return nil, damage, err
	}
	return sortedRows(groups), damage, nil
}

// PrunedBefore returns the time before which raw records were deleted by
// the retention (zero when none was): an answer from records (grouped by
// session) covers nothing earlier.
func PrunedBefore(db *store.DB) (time.Time, error) {
	var t time.Time
	err := db.View(func(tx *bolt.Tx) error {
		t = prunedBefore(tx)
		return nil
	})
	return t, err
}

// Filter selects records for Recent. Zero fields match everything.
type Filter struct {
	Key string
	// Model matches the requested or the upstream model.
	Model      string
	ErrorsOnly bool
	// Limit caps the number of records; zero means no cap.
	Limit int
}

// Recent returns the newest records that match f, newest first, scanning
// the usage bucket backwards from its end. A record that cannot be decoded
// is skipped; RecentWithDamage also says which.
func Recent(db *store.DB, f Filter) ([]Record, error) {
	out, _, err := RecentWithDamage(db, f)
	return out, err
}

// RecentWithDamage is Recent that also returns the records it skipped
// because they cannot be decoded.
func RecentWithDamage(db *store.DB, f Filter) ([]Record, Damage, error) {
	var out []Record
	var damage Damage
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketUsage)
		if b == nil {
			return errNoBuckets
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			if len(k) != 16 {
				damage.record(k, "its key is not 16 bytes")
				continue
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				damage.record(k, "it is not valid JSON: "+err.Error())
				continue
			}
			if f.Match(&r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, damage, err
}

// Match reports whether r passes f (Limit aside).
func (f Filter) Match(r *Record) bool {
	if f.Key != "" && r.Key != f.Key {
		return false
	}
	if f.Model != "" && r.Model != f.Model && r.UpstreamModel != f.Model {
		return false
	}
	return !f.ErrorsOnly || r.Failed()
}

// Count returns the number of raw records in the usage bucket.
func Count(db *store.DB) (int, error) {
	var n int
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketUsage)
		if b == nil {
			return errNoBuckets
		}
		n = b.Stats().KeyN
		return nil
	})
	return n, err
}
