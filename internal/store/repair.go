package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RepairOptions tune Repair.
type RepairOptions struct {
	// Discard starts over with a new, empty data file instead of saving
	// what can be read. The old file is kept all the same.
	Discard bool
}

// RepairReport says what Repair did.
type RepairReport struct {
	// Path is the data file, now a new one.
	Path string
	// Backup is where the old file is kept; empty when it was empty.
	Backup string
	// Problem is the damage the checks of Open found ("" for none; the
	// buckets may still have lost keys).
	Problem string
	// Buckets lists what was saved of each bucket, in the file's order.
	Buckets []BucketReport
	// Discarded is set when the old contents were left behind on purpose.
	Discarded bool
}

// Complete reports whether every bucket was saved whole.
func (r *RepairReport) Complete() bool {
	for _, b := range r.Buckets {
		if b.Lost != "" || b.Missing {
			return false
		}
	}
	return true
}

// BucketReport is what Repair saved of one bucket.
type BucketReport struct {
	Name string
	// Saved counts the keys copied into the new file.
	Saved int
	// Lost says why part or all of the bucket could not be read; empty
	// when it was read whole.
	Lost string
	// Missing is set for a bucket credflow needs that the damaged file did
	// not have (or whose entry could not be read); it is created empty.
	Missing bool
}

// knownBuckets are the buckets each schema version has (see the package
// doc), so a repaired file that lost one gets it back empty.
var knownBuckets = []struct {
	name    []byte
	version uint64
}{
	{BucketMeta, 1}, {BucketSecrets, 1}, {BucketAudit, 1}, {BucketKeys, 2},
	{BucketUsage, 3}, {BucketRollupsHour, 3}, {BucketRollupsDay, 3}, {BucketTemplates, 4},
}

// Repair replaces the data file at path with a new one that holds every
// bucket and key that can still be read from it, and keeps the old file
// beside it as FILE.damaged-YYYYMMDDTHHMMSS (the copy Open made when it
// found the damage, when there is one). Nothing is ever deleted: the old
// file's bytes stay in that copy. With opts.Discard the new file is empty.
//
// Reading goes bucket by bucket, forward from the first key until a
// damaged page stops it, then backward from the last key, so a damaged
// page loses only the keys it (or the branch above it) held. Bucket
// sequences are carried over, so new audit entries and usage records
// never reuse a key.
//
// No credflow process may use the file meanwhile (the CLI refuses to run
// while a daemon does); if the file changes during the repair, Repair
// stops and changes nothing.
func Repair(path string, opts RepairOptions) (*RepairReport, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no data file at %s, so there is nothing to repair (credflow makes a new one when it needs it): %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	rep := &RepairReport{Path: path, Discarded: opts.Discard}
	if e := readNote(path); e != nil {
		rep.Problem = e.Problem
	} else if p, err := checkHeader(path); err == nil {
		rep.Problem = p
	}
	// Keep the old file: an existing copy only if it matches byte for byte.
	if fi.Size() > 0 {
		if rep.Backup, err = backup(path, true); err != nil {
			return nil, fmt.Errorf("copy %s aside before repairing it: %w; nothing was changed", path, err)
		}
	}

	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".repair*")
	if err != nil {
		return nil, fmt.Errorf("create the new data file: %w; nothing was changed", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := build(tmp, rep, opts); err != nil {
		return nil, err
	}

	// Replace the file only if nobody wrote to it meanwhile.
	now, err := os.Stat(path)
	if err != nil || now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		return nil, fmt.Errorf("%s changed while it was being repaired: is credflow running? Stop it and run the repair again; nothing was changed", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("put the repaired file in place: %w; nothing was changed", err)
	}
	syncDir(filepath.Dir(path))
	os.Remove(notePath(path))
	return rep, nil
}

// build writes the new file at tmp: what can be read from rep.Backup, or
// nothing with opts.Discard, then the buckets credflow needs.
func build(tmp string, rep *RepairReport, opts RepairOptions) error {
	out, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("create the new data file: %w", err)
	}
	defer out.Close()
	if !opts.Discard {
		if rep.Backup == "" {
			return fmt.Errorf("%w: %s is empty, so there is nothing to save; run 'credflow data repair --discard' to start over with a new, empty data file", ErrDamaged, rep.Path)
		}
		if err := salvage(rep, out); err != nil {
			return err
		}
	}
	return out.Update(func(tx *bolt.Tx) error {
		version := schemaVersion(tx)
		for _, kb := range knownBuckets {
			if tx.Bucket(kb.name) != nil || (version > 0 && kb.version > version) {
				continue
			}
			if _, err := tx.CreateBucket(kb.name); err != nil {
				return err
			}
			// A file whose version was lost (0) gets its buckets from the
			// migrations when it is next opened; name them missing only
			// when the version says they were there.
			if !opts.Discard && version > 0 {
				rep.Buckets = append(rep.Buckets, BucketReport{Name: string(kb.name), Missing: true})
			}
		}
		return nil
	})
}

// salvage copies every readable bucket and key of rep.Backup into out.
func salvage(rep *RepairReport, out *bolt.DB) error {
	in := &DB{path: rep.Backup}
	err := guard(func() error {
		var err error
		in.bolt, err = bolt.Open(rep.Backup, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second, OpenFile: in.openFile})
		return err
	})
	if err != nil {
		// bbolt cannot even open it (both headers gone, or shorter than
		// two pages): there is no way in to the buckets.
		in.abandon()
		return fmt.Errorf("%w: nothing in %s can be read, so there is nothing to save; run 'credflow data repair --discard' to start over with a new, empty data file (the damaged one stays at %s)",
			ErrDamaged, rep.Path, rep.Backup)
	}
	defer func() {
		if in.broken {
			in.file.Close()
		} else {
			in.bolt.Close()
		}
	}()

	var names [][]byte
	_, rootLost, _, _ := readAll(in, nil, func(k, v []byte) error {
		if v == nil {
			names = append(names, k)
		}
		return nil
	})
	if len(names) == 0 && rootLost != "" {
		return fmt.Errorf("%w: the list of buckets in %s cannot be read (%s), so there is nothing to save; run 'credflow data repair --discard' to start over with a new, empty data file (the damaged one stays at %s)",
			ErrDamaged, rep.Path, rootLost, rep.Backup)
	}
	if rootLost != "" {
		rep.Buckets = append(rep.Buckets, BucketReport{Name: "(list of buckets)", Lost: rootLost})
	}
	slices.SortFunc(names, bytes.Compare)
	var usageGap []byte
	usageLost := false
	for _, name := range names {
		br := BucketReport{Name: string(name)}
		w := &bucketWriter{out: out, name: name}
		seq, lost, gapEnd, err := readAll(in, name, w.add)
		if err == nil {
			err = w.flush(seq)
		}
		if lost != "" && bytes.Equal(name, BucketUsage) {
			usageGap, usageLost = gapEnd, true
		}
		if err != nil {
			return fmt.Errorf("write the new data file: %w", err)
		}
		br.Saved, br.Lost = w.n, lost
		if w.nested > 0 && br.Lost == "" {
			br.Lost = fmt.Sprintf("%d nested bucket(s) not copied", w.nested)
		}
		rep.Buckets = append(rep.Buckets, br)
	}
	if usageLost {
		return markUsageGap(out, usageGap)
	}
	return nil
}

// readAll passes a copy of every key and value of bucket name (the root
// when nil) that can be read to emit: forward from the first key until
// damage stops it, then backward from the last key down to the keys
// already read. It returns the bucket's sequence and what stopped a pass
// ("" when the bucket was read whole), and the first key read backward
// (nil when none was): the end of the gap. err is emit's.
func readAll(db *DB, name []byte, emit func(k, v []byte) error) (seq uint64, lost string, gapEnd []byte, err error) {
	var last []byte // the last key read forward
	done := false
	pass := func(forward bool) string {
		perr := guard(func() error {
			return db.bolt.View(func(tx *bolt.Tx) error {
				var c *bolt.Cursor
				if name == nil {
					c = tx.Cursor()
				} else {
					b := tx.Bucket(name)
					if b == nil {
						return &pageFault{problem: "its entry cannot be read"}
					}
					seq = b.Sequence()
					c = b.Cursor()
				}
				var prev []byte
				k, v := c.First()
				if !forward {
					k, v = c.Last()
				}
				for ; k != nil; k, v = step(c, forward) {
					if !forward && last != nil && bytes.Compare(k, last) <= 0 {
						return nil
					}
					if prev != nil {
						if cmp := bytes.Compare(prev, k); forward && cmp >= 0 || !forward && cmp <= 0 {
							return &pageFault{problem: "its keys are out of order"}
						}
					}
					if err = emit(bytes.Clone(k), clone(v)); err != nil {
						return err
					}
					prev = k
					if forward {
						last = bytes.Clone(k)
					} else {
						gapEnd = bytes.Clone(k)
					}
				}
				done = forward
				return nil
			})
		})
		if perr != nil && err == nil {
			return perr.Error()
		}
		return ""
	}
	if lost = pass(true); done || err != nil {
		return seq, "", nil, err
	}
	pass(false)
	return seq, lost, gapEnd, err
}

func step(c *bolt.Cursor, forward bool) ([]byte, []byte) {
	if forward {
		return c.Next()
	}
	return c.Prev()
}

// clone copies v, keeping nil (a nested bucket) nil.
func clone(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append(make([]byte, 0, len(v)), v...)
}

// bucketWriter puts salvaged keys into the new file in transactions of
// bounded size (a usage bucket can hold millions of records).
type bucketWriter struct {
	out    *bolt.DB
	name   []byte
	batch  [][2][]byte
	n      int
	nested int
}

const salvageBatch = 10_000

func (w *bucketWriter) add(k, v []byte) error {
	if v == nil {
		w.nested++
		return nil
	}
	w.batch = append(w.batch, [2][]byte{k, v})
	if len(w.batch) >= salvageBatch {
		return w.flush(0)
	}
	return nil
}

// flush writes the batch; a non-zero seq also sets the bucket's sequence
// (never lowering it).
func (w *bucketWriter) flush(seq uint64) error {
	err := w.out.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(w.name)
		if err != nil {
			return err
		}
		for _, kv := range w.batch {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if seq > b.Sequence() {
			return b.SetSequence(seq)
		}
		return nil
	})
	if err == nil {
		w.n += len(w.batch)
	}
	w.batch = w.batch[:0]
	return err
}

// keyUsagePrunedBefore is internal/ledger's meta/usage_pruned_before (see
// the package doc): usage/ holds no record older than it any more.
var keyUsagePrunedBefore = []byte("usage_pruned_before")

// markUsageGap moves meta/usage_pruned_before past the usage records lost
// (up to gapEnd, the first record read after them; nil: up to now). The
// ledger then leaves the rollups of those periods as they are, instead of
// "correcting" them to the records that survived: rollups are kept in
// other pages, and are all that is left of the lost records.
func markUsageGap(out *bolt.DB, gapEnd []byte) error {
	wm := uint64(time.Now().UnixNano())
	if len(gapEnd) == 16 {
		wm = Btoi(gapEnd[:8])
	}
	return out.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(BucketMeta)
		if err != nil {
			return err
		}
		if old := meta.Get(keyUsagePrunedBefore); len(old) == 8 && Btoi(old) >= wm {
			return nil
		}
		return meta.Put(keyUsagePrunedBefore, Itob(wm))
	})
}

// syncDir makes a rename in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
