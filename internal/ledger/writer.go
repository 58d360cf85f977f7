package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// DefaultFlushInterval is how often a Writer writes its batch.
const DefaultFlushInterval = 250 * time.Millisecond

// Options tune a Writer.
type Options struct {
	// FlushInterval is the time between flushes; zero means
	// DefaultFlushInterval. It is also the bound on what a crash loses.
	FlushInterval time.Duration
	// Now is the clock for records without a time and for retention;
	// nil means time.Now.
	Now func() time.Time
	// Retention is how long raw records are kept; zero keeps them forever.
	// Rollups are always kept.
	Retention time.Duration
	// Logger receives a warning for each failed flush; nil means
	// slog.Default().
	Logger *slog.Logger
	// AfterFlush, when set, is called from the flushing goroutine after
	// each flush that committed records, with their number.
	AfterFlush func(n int)
}

// Writer appends Records to the ledger in batches, off the request path.
//
// Add only appends to an in-memory batch under a mutex; it never touches
// the disk. Every FlushInterval a goroutine opens the data file, stores the
// batch and updates the rollups in ONE bbolt transaction, and closes the
// file again, so other credflow processes can use the file between flushes
// (the daemon does not hold it open; see the README's design notes). When
// the file cannot be opened (another process holds it longer than the
// open function's timeout) or the transaction fails, the batch is kept, a
// warning logged, and the flush retried at the next tick. Nothing is ever
// written twice: a failed transaction is rolled back entirely.
//
// Loss bound: a process killed with SIGKILL (or a machine that loses
// power) loses at most the records added since the last committed flush
// began, that is the records of the last FlushInterval plus those of a
// flush in progress (its transaction is all or nothing). While the file
// stays busy, the unwritten records accumulate in memory and are all lost
// on a crash. Close writes everything.
type Writer struct {
	open func() (*store.DB, error)
	opt  Options

	mu      sync.Mutex
	pending []Record
	spare   []Record // the last written batch, reused as the next one
	retry   []Record // a batch whose flush failed; written by the next one
	writeFn func([]Record) error
	closed  bool
	stats   Stats

	flushMu   sync.Mutex // one flush at a time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Stats count a Writer's records.
type Stats struct {
	Added   uint64 // accepted by Add
	Written uint64 // committed to the data file
	Dropped uint64 // passed to Add after Close
	Pending int    // accepted, not yet written
	// FailedFlushes counts flushes that could not open the file or commit.
	FailedFlushes uint64
}

// maxSpare bounds the batch capacity a Writer keeps between flushes.
const maxSpare = 1 << 16

// NewWriter starts a Writer that opens the data file with open for each
// flush and closes it after. Stop it with Close.
func NewWriter(open func() (*store.DB, error), opt Options) *Writer {
	return newWriter(open, opt, nil)
}

// newWriter lets tests replace the disk write.
func newWriter(open func() (*store.DB, error), opt Options, writeFn func([]Record) error) *Writer {
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = DefaultFlushInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	w := &Writer{open: open, opt: opt, stop: make(chan struct{}), done: make(chan struct{})}
	w.writeFn = writeFn
	if w.writeFn == nil {
		w.writeFn = w.write
	}
	go w.loop()
	return w
}

// Add queues r for the next flush. It never blocks on the disk. A zero
// Time is set to now; the time is stored in UTC. After Close, records are
// dropped (and counted in Stats.Dropped).
func (w *Writer) Add(r Record) {
	if r.Time.IsZero() {
		r.Time = w.opt.Now()
	}
	r.Time = r.Time.UTC()
	w.mu.Lock()
	if w.closed {
		w.stats.Dropped++
		w.mu.Unlock()
		return
	}
	w.pending = append(w.pending, r)
	w.stats.Added++
	w.mu.Unlock()
}

// Stats reports the Writer's counts.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Pending = len(w.pending) + len(w.retry)
	return s
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.opt.FlushInterval)
	defer t.Stop()
	var lastDamaged time.Time
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			err := w.Flush()
			if err == nil {
				lastDamaged = time.Time{}
				continue
			}
			// A damaged file stays damaged until someone repairs it: say so
			// once a minute, not at every flush.
			if errors.Is(err, store.ErrDamaged) {
				if time.Since(lastDamaged) < damagedLogEvery {
					continue
				}
				lastDamaged = time.Now()
			}
			w.opt.Logger.Warn("usage ledger: flush failed; the records are kept and retried at the next flush",
				"err", err, "pending", w.Stats().Pending)
		}
	}
}

// damagedLogEvery spaces the warnings about a damaged data file.
const damagedLogEvery = time.Minute

// Flush writes the current batch now, in one transaction. On failure the
// records are kept, ahead of records added since, for the next flush, and
// the error returned. With nothing to write it does not open the file.
func (w *Writer) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()

	w.mu.Lock()
	fresh := w.pending
	if len(fresh) == 0 && len(w.retry) == 0 {
		w.mu.Unlock()
		return nil
	}
	w.pending, w.spare = w.spare[:0], nil
	w.mu.Unlock()

	// A batch that failed before goes first. It is joined here, outside
	// the mutex, so that a long-busy file never makes Add wait on a copy.
	batch := fresh
	if len(w.retry) > 0 {
		batch = append(w.retry, fresh...)
	}
	if err := w.writeFn(batch); err != nil {
		w.mu.Lock()
		w.retry = batch
		w.stats.FailedFlushes++
		w.mu.Unlock()
		return err
	}
	n := len(batch)
	clear(batch) // drop the strings the batch references
	w.mu.Lock()
	w.retry = nil
	w.stats.Written += uint64(n)
	if cap(batch) <= maxSpare {
		w.spare = batch[:0]
	}
	w.mu.Unlock()
	if w.opt.AfterFlush != nil {
		w.opt.AfterFlush(n)
	}
	return nil
}

func (w *Writer) write(batch []Record) error {
	db, err := w.open()
	if err != nil {
		return fmt.Errorf("open data file: %w", err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		if err := writeRecords(tx, batch); err != nil {
			return err
		}
		if w.opt.Retention > 0 {
			if _, err := prune(tx, w.opt.Now().Add(-w.opt.Retention)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close stops the flushing goroutine and writes every pending record,
// retrying each FlushInterval while the file is busy, until ctx ends. It
// returns an error naming the records left unwritten if ctx ends first, or
// at once if the data file is damaged (store.ErrDamaged).
// Records added after Close starts are dropped.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.closeOnce.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("usage ledger: %d record(s) not written: %w", w.Stats().Pending, ctx.Err())
	}
	for {
		err := w.Flush()
		if err == nil {
			return nil // closed: nothing can have been added since
		}
		if errors.Is(err, store.ErrDamaged) {
			// It stays damaged until repaired, which needs this process
			// gone: waiting would only delay the stop.
			return fmt.Errorf("usage ledger: %d record(s) not written: %w", w.Stats().Pending, err)
		}
		t := time.NewTimer(w.opt.FlushInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("usage ledger: %d record(s) not written: %w", w.Stats().Pending, err)
		case <-t.C:
		}
	}
}
