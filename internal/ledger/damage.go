package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/store"
)

// Damage lists the ledger entries a read skipped because they cannot be
// decoded: a usage record that is not a JSON Record, a rollup value of the
// wrong length, a key of the wrong shape. Such an entry is skipped and
// counted, never a reason to fail the whole read: the rest of a report is
// still right, and the daemon still starts.
type Damage struct {
	// Records and Rollups count the entries skipped.
	Records int
	Rollups int
	// Entries are the first maxDamageEntries of them, in the order met.
	Entries []DamagedEntry
}

// DamagedEntry is one entry a read skipped.
type DamagedEntry struct {
	// Bucket is "usage", "rollups_hour" or "rollups_day".
	Bucket string
	// Key is the entry's key, in hex.
	Key string
	// Time is the record's time, or the start of the rollup's period, as
	// its key says; zero when the key is damaged too.
	Time time.Time
	// What describes the entry ("hour rollup … key \"agent\"") and Problem
	// what is wrong with it.
	What    string
	Problem string
}

const maxDamageEntries = 10

// Empty reports whether nothing was skipped.
func (d Damage) Empty() bool { return d.Records == 0 && d.Rollups == 0 }

func (d *Damage) add(e DamagedEntry, rollup bool) {
	if rollup {
		d.Rollups++
	} else {
		d.Records++
	}
	if len(d.Entries) < maxDamageEntries {
		d.Entries = append(d.Entries, e)
	}
}

// record counts a usage record with key k that cannot be decoded.
func (d *Damage) record(k []byte, problem string) {
	e := DamagedEntry{Bucket: string(store.BucketUsage), Key: hex.EncodeToString(k), Problem: problem}
	if len(k) == 16 {
		e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
		e.What = "usage record " + e.Time.Format(time.RFC3339Nano)
	} else {
		e.What = "usage record with key " + e.Key
	}
	d.add(e, false)
}

// rollup counts a rollup of g with key k that cannot be decoded.
func (d *Damage) rollup(g granularity, k []byte, problem string) {
	e := DamagedEntry{Bucket: string(g.bucket), Key: hex.EncodeToString(k), What: describeKey(g, k), Problem: problem}
	if start, _, _, ok := parseRollupKey(k); ok {
		e.Time = start
	}
	d.add(e, true)
}

// String names what was skipped for people, in one line: "2 damaged usage
// records (2026-12-04T10:00:01Z, 2026-12-04T10:00:02Z)".
func (d Damage) String() string {
	var parts []string
	list := func(rollups bool) string {
		var names []string
		for _, e := range d.Entries {
			if (e.Bucket != string(store.BucketUsage)) != rollups {
				continue
			}
			switch {
			case rollups:
				names = append(names, strings.TrimSuffix(e.What, ` ""`))
			case e.Time.IsZero():
				names = append(names, "key "+e.Key)
			default:
				names = append(names, e.Time.Format(time.RFC3339Nano))
			}
		}
		n := d.Records
		if rollups {
			n = d.Rollups
		}
		if n > len(names) {
			names = append(names, "…")
		}
		return strings.Join(names, ", ")
	}
	if d.Records > 0 {
		parts = append(parts, fmt.Sprintf("%d damaged usage %s (%s)", d.Records, plural(d.Records, "record"), list(false)))
	}
	if d.Rollups > 0 {
		parts = append(parts, fmt.Sprintf("%d damaged usage %s (%s)", d.Rollups, plural(d.Rollups, "rollup"), list(true)))
	}
	return strings.Join(parts, " and ")
}

// Keys lists the hex keys of the entries kept, for logs.
func (d Damage) Keys() []string {
	keys := make([]string, len(d.Entries))
	for i, e := range d.Entries {
		keys[i] = e.Bucket + "/" + e.Key
	}
	return keys
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// firstCountersLen is the length of the first rollup format (11 counters).
// Every format since is longer by whole counters (a newer credflow may add
// some; see decodeCounters), so a value shorter than this, or not a whole
// number of counters, is damaged.
const firstCountersLen = 8 * 11

func countersDamaged(v []byte) string {
	if len(v) < firstCountersLen || len(v)%8 != 0 {
		return fmt.Sprintf("its value is %d bytes, not %d", len(v), 8*numCounters)
	}
	return ""
}
