package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/contextdoc"
	bolt "go.etcd.io/bbolt"
)

// FileName is the context file's name in the data directory.
const FileName = "context.db"

// Kind is what a thread is.
type Kind string

// Thread kinds.
const (
	KindSession      Kind = contextdoc.KindSession
	KindConversation Kind = contextdoc.KindConversation
	KindResponse     Kind = contextdoc.KindResponse
)

// Errors; they are wrapped in sentences for people.
var (
	// ErrNotFound: no such thread for this owner (also when it is
	// another owner's: the two are indistinguishable on purpose).
	ErrNotFound = errors.New("not found")
	// ErrExists: a thread that must be new exists.
	ErrExists = errors.New("already exists")
	// ErrDamaged: a record does not decrypt or decode.
	ErrDamaged = errors.New("damaged")
)

// Thread is a stored conversation's record: everything about it but its
// items.
type Thread struct {
	Kind    Kind      `json:"kind"`
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// NextSeq numbers the next item appended; Count is how many it holds.
	NextSeq uint64 `json:"next_seq"`
	Count   int    `json:"count"`
	// Model and Provider answered last.
	Model    string `json:"model,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Turns counts the exchanges; Input, Output and Cost sum their usage
	// (Cost over the turns whose price is known).
	Turns  int   `json:"turns,omitempty"`
	Input  int64 `json:"input,omitempty"`
	Output int64 `json:"output,omitempty"`
	Cost   int64 `json:"cost,omitempty"`

	// Sessions.
	Policy      string                      `json:"policy,omitempty"`
	Profile     map[string]string           `json:"profile,omitempty"`
	Data        map[string]json.RawMessage  `json:"data,omitempty"`
	Documents   []contextdoc.PinnedDocument `json:"documents,omitempty"`
	Environment *contextdoc.Environment     `json:"environment,omitempty"`
	Summary     *contextdoc.Summary         `json:"summary,omitempty"`
	// System fingerprints the system prompt of the session's last turn
	// (sealed with the record): a new turn under another one is another
	// conversation's.
	System string `json:"system,omitempty"`

	// Conversations.
	Metadata map[string]string `json:"metadata,omitempty"`

	// Responses: the previous response, the conversation it was added to,
	// how many of its items are its input (the rest are its output), the
	// response object as it was answered, and whether Provider holds it
	// too (it passed through to an OpenAI-type upstream).
	Previous     string          `json:"previous,omitempty"`
	Conversation string          `json:"conversation,omitempty"`
	InputCount   int             `json:"input_count,omitempty"`
	Response     json.RawMessage `json:"response,omitempty"`
	Upstream     bool            `json:"upstream,omitempty"`
}

// Buckets of the context file.
var (
	bucketThreads = []byte("threads")
	bucketItems   = []byte("items")
)

// migrations build the context file (it has its own schema, apart from
// the main data file's).
//
//	meta/      schema_version, created (as internal/store)
//	threads/   <tid>              -> sealed Thread JSON
//	items/     <tid> "/" <seq BE8> -> sealed contextdoc.Item JSON
//
// tid is the kind's letter and the id: r<resp_…>, c<conv_…>, and for a
// session s<hex of an HMAC of owner and name>, so session names are not
// in the file in the clear. Every value is sealed with the data key and
// its own bucket key as additional data.
var migrations = []store.Migration{
	{Version: 1, Name: "create meta, threads and items buckets", Up: func(tx *bolt.Tx) error {
		for _, b := range [][]byte{store.BucketMeta, bucketThreads, bucketItems} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
}

// Options tune Open.
type Options struct {
	// Now is the clock (tests pin it).
	Now func() time.Time
	// Process names the opener for the file's owner note.
	Process string
	// Timeout bounds the wait for the file lock.
	Timeout time.Duration
	// CacheBytes bounds the decrypted items kept in memory (default 64 MiB).
	CacheBytes int
	// FlushInterval is how often the journal is applied to the file
	// (default 100ms): what a power loss can lose at most.
	FlushInterval time.Duration
}

// Store is the open context file. It is safe for concurrent use: reads
// come from a cache of decrypted threads or the file; writes go through
// one writer that journals whatever is queued as one record (see
// journal.go) and acknowledges it, and every FlushInterval the journaled
// batches are applied to the file in one synced transaction. A thread
// with journaled changes the file does not hold yet stays in the cache
// (pinned) until they are applied, so reads always see every
// acknowledged change.
type Store struct {
	db   *store.DB
	seal *sealer
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*entry
	order []string // tids, least recently used first
	bytes int
	limit int
	// wseq counts the writer's cache updates: a read from the file that
	// raced one is not cached.
	wseq uint64

	// writeMu is held by the writer for a batch and by whatever changes
	// the file directly (Delete, Prune), which applies the journal first.
	// applyMu serialises applying the journal; it is taken before writeMu.
	writeMu sync.Mutex
	applyMu sync.Mutex
	jnl     *journal
	pend    []pendBatch
	every   time.Duration
	// failed, once applying the journal to the file failed, refuses
	// further writes (reads go on); the journal keeps what was accepted.
	failMu sync.Mutex
	failed error

	queue     chan *commit
	flushNow  chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// journalLimit applies the journal early once it grows past this.
const journalLimit = 16 << 20

// pendBatch is a journaled batch the file does not hold yet.
type pendBatch struct {
	ops  ops
	tids []string
}

type entry struct {
	th    *Thread
	items []contextdoc.Item
	size  int
	// pinned counts journaled batches of this thread not yet in the
	// file: the entry is then the only complete copy and is not evicted.
	pinned int
}

type commit struct {
	changes []Change
	done    chan error
}

// Open opens (creating) the context file at path, held until Close: the
// daemon owns it while it runs, and other commands come through its admin
// API. key is the data key (KeySize bytes) from the vault. What a crash
// left in the journal is applied first.
func Open(path string, key []byte, opt Options) (*Store, error) {
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(path, store.Options{Migrations: migrations, Process: opt.Process, Timeout: opt.Timeout})
	if err != nil {
		return nil, err
	}
	if _, err := replayJournals(db.Update, path); err != nil {
		db.Close()
		return nil, err
	}
	jnl, err := openJournal(path)
	if err != nil {
		db.Close()
		return nil, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = 64 << 20
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 100 * time.Millisecond
	}
	s := &Store{db: db, seal: seal, now: opt.Now, cache: map[string]*entry{}, limit: opt.CacheBytes, jnl: jnl, every: opt.FlushInterval,
		queue: make(chan *commit, 256), flushNow: make(chan struct{}, 1), closed: make(chan struct{})}
	s.wg.Add(2)
	go s.writer()
	go s.flusher()
	return s, nil
}

// Path is the file's location.
func (s *Store) Path() string { return s.db.Path() }

// Close writes what is queued, applies the journal to the file and
// releases it. Later calls do nothing.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.wg.Wait()
		err = s.flush()
		if cerr := s.jnl.close(err == nil); err == nil {
			err = cerr
		}
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// tid is a thread's key in the file.
func (s *Store) tid(kind Kind, owner, id string) []byte {
	switch kind {
	case KindSession:
		return []byte("s" + s.seal.sessionKey(owner, id))
	case KindConversation:
		return []byte("c" + id)
	}
	return []byte("r" + id)
}

func itemKey(tid []byte, seq uint64) []byte {
	k := make([]byte, len(tid)+9)
	copy(k, tid)
	k[len(tid)] = '/'
	binary.BigEndian.PutUint64(k[len(tid)+1:], seq)
	return k
}

// Get returns a thread and its items, oldest first. ErrNotFound when
// there is none, or it is another owner's. The items are shared with the
// cache: callers must not modify them.
func (s *Store) Get(kind Kind, owner, id string) (*Thread, []contextdoc.Item, error) {
	tid := s.tid(kind, owner, id)
	key := string(tid)
	s.mu.Lock()
	if e, ok := s.cache[key]; ok {
		s.touch(key)
		s.mu.Unlock()
		if e.th.Owner != owner {
			return nil, nil, ErrNotFound
		}
		// Clipped: a caller's append never writes where the writer
		// appends.
		return e.th, e.items[:len(e.items):len(e.items)], nil
	}
	seq := s.wseq
	s.mu.Unlock()
	var th *Thread
	var items []contextdoc.Item
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		th, err = s.readThread(tx, tid)
		if err != nil || th == nil || th.Owner != owner {
			return err
		}
		items, err = s.readItems(tx, tid, th)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if th == nil || th.Owner != owner {
		return nil, nil, ErrNotFound
	}
	s.mu.Lock()
	if s.wseq == seq {
		s.replace(key, th, items, 0)
	}
	s.mu.Unlock()
	return th, items[:len(items):len(items)], nil
}

// readThread reads a thread record; nil without error when there is none.
func (s *Store) readThread(tx *bolt.Tx, tid []byte) (*Thread, error) {
	sealed := tx.Bucket(bucketThreads).Get(tid)
	if sealed == nil {
		return nil, nil
	}
	plain, err := s.seal.open(tid, sealed)
	if err != nil {
		return nil, fmt.Errorf("the record of %s is %w: it %w", describe(tid), ErrDamaged, err)
	}
	var th Thread
	if err := json.Unmarshal(plain, &th); err != nil {
		return nil, fmt.Errorf("the record of %s is %w: it does not decode: %v", describe(tid), ErrDamaged, err)
	}
	return &th, nil
}

func (s *Store) readItems(tx *bolt.Tx, tid []byte, th *Thread) ([]contextdoc.Item, error) {
	items := make([]contextdoc.Item, 0, th.Count)
	prefix := append(append([]byte{}, tid...), '/')
	c := tx.Bucket(bucketItems).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		plain, err := s.seal.open(k, v)
		if err != nil {
			return nil, fmt.Errorf("%s is %w: item %d %w", s.name(th), ErrDamaged, binary.BigEndian.Uint64(k[len(prefix):]), err)
		}
		var it contextdoc.Item
		if err := json.Unmarshal(plain, &it); err != nil {
			return nil, fmt.Errorf("%s is %w: item %d does not decode: %v", s.name(th), ErrDamaged, binary.BigEndian.Uint64(k[len(prefix):]), err)
		}
		items = append(items, it)
	}
	return items, nil
}

// describe names a thread by its file key, for an error about a record
// that cannot be read (so its name may be unknown).
func describe(tid []byte) string {
	switch tid[0] {
	case 's':
		return "a session"
	case 'c':
		return "conversation " + string(tid[1:])
	}
	return "response " + string(tid[1:])
}

func (s *Store) name(th *Thread) string {
	if th.Kind == KindSession {
		return fmt.Sprintf("session %q of key %q", th.ID, th.Owner)
	}
	return fmt.Sprintf("%s %s", th.Kind, th.ID)
}

// Change is one write to a thread.
type Change struct {
	Kind  Kind
	Owner string
	ID    string
	// Create: the thread must be new (ErrExists otherwise); MustExist:
	// it must be stored already (ErrNotFound otherwise).
	Create    bool
	MustExist bool
	// Update edits the thread's record inside the transaction: the
	// current one, or a new one (Kind, Owner, ID and Created set).
	Update func(*Thread)
	// Append adds items after the thread's last; items without an ID get
	// one. Replace drops the thread's items first.
	Append  []contextdoc.Item
	Replace bool
}

// Commit writes changes as one batch of the writer, and returns once
// they are journaled (they survive the process from then on) or failed:
// then none of them is.
func (s *Store) Commit(ctx context.Context, changes ...Change) error {
	c := &commit{changes: changes, done: make(chan error, 1)}
	select {
	case s.queue <- c:
	case <-s.closed:
		return errors.New("the context file is closed")
	}
	// The write goes ahead even if ctx ends: a turn the client was
	// answered must not be lost because it went away.
	return <-c.done
}

// writer journals queued changes: all that are waiting, as one record.
func (s *Store) writer() {
	defer s.wg.Done()
	for {
		var batch []*commit
		select {
		case c := <-s.queue:
			batch = append(batch, c)
		case <-s.closed:
			// Drain what was queued before Close.
			for {
				select {
				case c := <-s.queue:
					s.write([]*commit{c})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < 64 {
			select {
			case c := <-s.queue:
				batch = append(batch, c)
			default:
				break more
			}
		}
		s.write(batch)
	}
}

// flusher applies the journal to the file every FlushInterval, or sooner
// when it grows large.
func (s *Store) flusher() {
	defer s.wg.Done()
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.flushNow:
		}
		s.flush() // a failure is kept in s.failed and refuses later writes
	}
}

// wstate is a thread as the batch being written leaves it.
type wstate struct {
	tid   []byte
	th    *Thread
	items []contextdoc.Item
	// exists: the thread is stored (before this batch or earlier in it).
	exists bool
	// damaged: its stored record or items cannot be read.
	damaged error
}

// write journals a batch. A commit whose own changes fail (a thread that
// must be new exists) is left out and told why; the rest go ahead.
func (s *Store) write(batch []*commit) {
	s.writeMu.Lock()
	if err := s.failure(); err != nil {
		s.writeMu.Unlock()
		for _, c := range batch {
			c.done <- fmt.Errorf("the context file cannot be written: %w", err)
		}
		return
	}
	local := map[string]*wstate{}
	var order []string
	var o ops
	errs := make([]error, len(batch))
	for i, c := range batch {
		// A commit is planned on copies, so one refused leaves no trace.
		trial := map[string]*wstate{}
		mark := len(o.buf)
		n := o.n
		if err := s.plan(c.changes, local, trial, &o); err != nil {
			errs[i] = err
			o.buf, o.n = o.buf[:mark], n
			continue
		}
		for k, st := range trial {
			if _, ok := local[k]; !ok {
				order = append(order, k)
			}
			local[k] = st
		}
	}
	var err error
	if o.n > 0 {
		err = s.jnl.append(o.record())
	}
	if err == nil && o.n > 0 {
		s.mu.Lock()
		s.wseq++
		for _, k := range order {
			s.replace(k, local[k].th, local[k].items, 1)
		}
		s.mu.Unlock()
		s.pend = append(s.pend, pendBatch{ops: o, tids: order})
		if s.jnl.size > journalLimit {
			select {
			case s.flushNow <- struct{}{}:
			default:
			}
		}
	}
	s.writeMu.Unlock()
	for i, c := range batch {
		if err != nil {
			c.done <- fmt.Errorf("write the context file: %w", err)
			continue
		}
		c.done <- errs[i]
	}
}

// state returns a thread as the batch sees it: as planned earlier in the
// batch, cached, or read from the file (which holds everything of a
// thread that is not cached). The copy's Thread may be changed freely.
func (s *Store) state(tid []byte, local, trial map[string]*wstate) (*wstate, error) {
	key := string(tid)
	if st, ok := trial[key]; ok {
		return st, nil
	}
	if st, ok := local[key]; ok {
		cp := *st
		cp.th = cloneThread(st.th)
		trial[key] = &cp
		return &cp, nil
	}
	s.mu.Lock()
	e, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		st := &wstate{tid: tid, th: cloneThread(e.th), items: e.items, exists: true}
		trial[key] = st
		return st, nil
	}
	st := &wstate{tid: tid}
	err := s.db.View(func(tx *bolt.Tx) error {
		th, err := s.readThread(tx, tid)
		if err != nil {
			st.damaged = err
			return nil
		}
		if th == nil {
			return nil
		}
		st.th, st.exists = th, true
		if st.items, err = s.readItems(tx, tid, th); err != nil {
			st.damaged = err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	trial[key] = st
	return st, nil
}

// cloneThread copies a thread deeply enough for an Update func to change
// its maps and slices without touching a cached copy readers hold.
func cloneThread(th *Thread) *Thread {
	if th == nil {
		return nil
	}
	b, err := json.Marshal(th)
	if err != nil {
		panic("session: a thread does not encode: " + err.Error())
	}
	var cp Thread
	if err := json.Unmarshal(b, &cp); err != nil {
		panic("session: a thread does not decode: " + err.Error())
	}
	return &cp
}

// plan checks one commit's changes and records their operations. Every
// change is checked before anything is recorded.
func (s *Store) plan(changes []Change, local, trial map[string]*wstate, o *ops) error {
	sts := make([]*wstate, len(changes))
	for i := range changes {
		ch := &changes[i]
		st, err := s.state(s.tid(ch.Kind, ch.Owner, ch.ID), local, trial)
		if err != nil {
			return err
		}
		switch {
		case st.damaged != nil && !ch.Replace:
			return st.damaged
		case st.exists && st.damaged == nil && ch.Create:
			return fmt.Errorf("%s %s: %w", ch.Kind, ch.ID, ErrExists)
		case !st.exists && st.damaged == nil && ch.MustExist:
			return fmt.Errorf("%s %s: %w", ch.Kind, ch.ID, ErrNotFound)
		case st.exists && st.damaged == nil && st.th.Owner != ch.Owner:
			return fmt.Errorf("%s %s: %w", ch.Kind, ch.ID, ErrNotFound)
		}
		sts[i] = st
	}
	for i := range changes {
		ch, st := &changes[i], sts[i]
		fresh := !st.exists || st.damaged != nil
		if fresh {
			now := s.now().UTC()
			st.th = &Thread{Kind: ch.Kind, ID: ch.ID, Owner: ch.Owner, Created: now, Updated: now}
		}
		if ch.Replace || fresh {
			// Also when nothing is stored: a damaged thread's items, or
			// none at all.
			o.clear(st.tid)
			st.items, st.th.Count = nil, 0
		}
		st.exists, st.damaged = true, nil
		th := st.th
		if ch.Update != nil {
			ch.Update(th)
		}
		th.Kind, th.ID, th.Owner = ch.Kind, ch.ID, ch.Owner
		th.Updated = s.now().UTC()
		for _, it := range ch.Append {
			if it.ID == "" {
				it.ID = NewItemID(it.Type)
			}
			if it.Time == nil {
				t := s.now().UTC()
				it.Time = &t
			}
			plain, err := json.Marshal(it)
			if err != nil {
				return err
			}
			k := itemKey(st.tid, th.NextSeq)
			o.put('i', k, s.seal.seal(k, plain))
			th.NextSeq++
			th.Count++
			// Appending may write past the end readers of the cached
			// slice see, never into it.
			st.items = append(st.items, it)
		}
		plain, err := json.Marshal(th)
		if err != nil {
			return err
		}
		o.put('t', st.tid, s.seal.seal(st.tid, plain))
	}
	return nil
}

// flush applies the journaled batches to the file in one synced
// transaction, then unpins their threads. The writer goes on meanwhile:
// threads of the batches being applied stay pinned in the cache until
// the file holds them, so nothing reads them from the file before.
func (s *Store) flush() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.writeMu.Lock()
	batches, err := s.take()
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	return s.applyBatches(batches)
}

// take moves the journal aside and returns its batches; writeMu is held.
func (s *Store) take() ([]pendBatch, error) {
	if err := s.failure(); err != nil {
		return nil, err
	}
	if len(s.pend) == 0 {
		return nil, nil
	}
	if err := s.jnl.rotate(); err != nil {
		return nil, s.fail(err)
	}
	batches := s.pend
	s.pend = nil
	return batches, nil
}

// applyBatches writes taken batches to the file; applyMu is held.
func (s *Store) applyBatches(batches []pendBatch) error {
	if len(batches) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range batches {
			if err := applyOps(tx, b.ops.buf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The journal moved aside still holds the batches, and the cache
		// their threads; the next open replays it. Until then nothing
		// more is accepted.
		return s.fail(fmt.Errorf("apply the journal to the context file: %w", err))
	}
	s.mu.Lock()
	for _, b := range batches {
		for _, k := range b.tids {
			if e, ok := s.cache[k]; ok && e.pinned > 0 {
				e.pinned--
				if e.pinned == 0 && e.size > s.limit/4 {
					s.drop(k) // too big to keep: kept only while the file lacked it
				}
			}
		}
	}
	s.evict()
	s.mu.Unlock()
	if err := os.Remove(s.Path() + applyingSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s.fail(err)
	}
	return nil
}

func (s *Store) failure() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failed
}

func (s *Store) fail(err error) error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
	return s.failed
}

// Sync applies everything journaled to the file now.
func (s *Store) Sync() error { return s.flush() }

// direct runs fn, which changes the file itself, after the journal is
// applied and with the writer held off, then drops tid from the cache.
func (s *Store) direct(fn func() error, tids ...[]byte) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	batches, err := s.take()
	if err == nil {
		err = s.applyBatches(batches)
	}
	if err != nil {
		return err
	}
	err = fn()
	s.mu.Lock()
	s.wseq++
	for _, tid := range tids {
		s.drop(string(tid))
	}
	s.mu.Unlock()
	return err
}

func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a thread and every item of it. ErrNotFound when there
// is none for this owner.
func (s *Store) Delete(kind Kind, owner, id string) error {
	tid := s.tid(kind, owner, id)
	return s.direct(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			th, err := s.readThread(tx, tid)
			if err != nil && !errors.Is(err, ErrDamaged) {
				return err
			}
			if th == nil && err == nil || th != nil && th.Owner != owner {
				return ErrNotFound
			}
			if err := deletePrefix(tx.Bucket(bucketItems), append(append([]byte{}, tid...), '/')); err != nil {
				return err
			}
			return tx.Bucket(bucketThreads).Delete(tid)
		})
	}, tid)
}

// DeleteItem removes one item of a thread by its id.
func (s *Store) DeleteItem(kind Kind, owner, id, itemID string) error {
	tid := s.tid(kind, owner, id)
	return s.direct(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			th, err := s.readThread(tx, tid)
			if err != nil {
				return err
			}
			if th == nil || th.Owner != owner {
				return ErrNotFound
			}
			prefix := append(append([]byte{}, tid...), '/')
			b := tx.Bucket(bucketItems)
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				plain, err := s.seal.open(k, v)
				if err != nil {
					continue
				}
				var it contextdoc.Item
				if json.Unmarshal(plain, &it) == nil && it.ID == itemID {
					if err := b.Delete(append([]byte{}, k...)); err != nil {
						return err
					}
					th.Count--
					th.Updated = s.now().UTC()
					plain, _ := json.Marshal(th)
					return tx.Bucket(bucketThreads).Put(tid, s.seal.seal(tid, plain))
				}
			}
			return fmt.Errorf("item %s: %w", itemID, ErrNotFound)
		})
	}, tid)
}

// List returns the threads of a kind, of one owner ("" for all owners),
// most recently updated first. Records that cannot be read are skipped
// and counted in damaged.
func (s *Store) List(kind Kind, owner string) (threads []*Thread, damaged int, err error) {
	prefix := s.tid(kind, "", "")[:1]
	if err := s.flush(); err != nil {
		return nil, 0, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketThreads).Cursor()
		for k, v := c.Seek(prefix); k != nil && k[0] == prefix[0]; k, v = c.Next() {
			plain, err := s.seal.open(k, v)
			var th Thread
			if err != nil || json.Unmarshal(plain, &th) != nil {
				damaged++
				continue
			}
			if owner == "" || th.Owner == owner {
				threads = append(threads, &th)
			}
		}
		return nil
	})
	sort.Slice(threads, func(i, j int) bool { return threads[i].Updated.After(threads[j].Updated) })
	return threads, damaged, err
}

// Prune deletes every thread last updated before cutoff(owner) (a zero
// time keeps the owner's threads), and reports how many it deleted.
func (s *Store) Prune(cutoff func(owner string) time.Time) (int, error) {
	var doomed [][]byte
	err := s.direct(func() error { return s.prune(cutoff, &doomed) })
	s.mu.Lock()
	for _, tid := range doomed {
		s.drop(string(tid))
	}
	s.mu.Unlock()
	return len(doomed), err
}

func (s *Store) prune(cutoff func(owner string) time.Time, doomed *[][]byte) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEach(func(k, v []byte) error {
			plain, err := s.seal.open(k, v)
			var th Thread
			if err != nil || json.Unmarshal(plain, &th) != nil {
				return nil
			}
			if t := cutoff(th.Owner); !t.IsZero() && th.Updated.Before(t) {
				*doomed = append(*doomed, append([]byte{}, k...))
			}
			return nil
		})
	})
	if err != nil || len(*doomed) == 0 {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, tid := range *doomed {
			if err := deletePrefix(tx.Bucket(bucketItems), append(append([]byte{}, tid...), '/')); err != nil {
				return err
			}
			if err := tx.Bucket(bucketThreads).Delete(tid); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cache upkeep; s.mu is held.

// replace caches a thread, pinned by pin more journaled batches; false
// when it is too big to keep (it is then read from the file each time),
// unless pinned: the cache is then the only complete copy until the
// journal is applied. Pinned entries are never evicted.
func (s *Store) replace(key string, th *Thread, items []contextdoc.Item, pin int) bool {
	size := 256
	for i := range items {
		size += itemSize(&items[i])
	}
	if size > s.limit/4 && pin == 0 {
		if e, ok := s.cache[key]; !ok || e.pinned == 0 {
			s.drop(key)
		}
		return false
	}
	if e, ok := s.cache[key]; ok {
		// A new entry: readers use the one they got without the lock.
		s.bytes += size - e.size
		s.cache[key] = &entry{th: th, items: items, size: size, pinned: e.pinned + pin}
		s.touch(key)
	} else {
		s.cache[key] = &entry{th: th, items: items, size: size, pinned: pin}
		s.order = append(s.order, key)
		s.bytes += size
	}
	s.evict()
	return true
}

// evict drops the least recently used unpinned entries while the cache
// is over its limit.
func (s *Store) evict() {
	for i := 0; s.bytes > s.limit && i < len(s.order); {
		if k := s.order[i]; s.cache[k].pinned == 0 {
			s.drop(k)
			continue
		}
		i++
	}
}

func (s *Store) drop(key string) {
	e, ok := s.cache[key]
	if !ok {
		return
	}
	delete(s.cache, key)
	s.bytes -= e.size
	for i, k := range s.order {
		if k == key {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

func (s *Store) touch(key string) {
	for i, k := range s.order {
		if k == key {
			copy(s.order[i:], s.order[i+1:])
			s.order[len(s.order)-1] = key
			return
		}
	}
}

func itemSize(it *contextdoc.Item) int {
	n := 128 + len(it.Arguments) + len(it.Signature)
	for _, p := range it.Content {
		n += len(p.Text) + len(p.Data) + len(p.URL)
	}
	return n
}

// OwnerOf says whose a response or conversation is ("" when none has that
// id), so the gateway can tell an id it never issued (which an OpenAI
// upstream may hold) from another key's (which must never be passed on).
func (s *Store) OwnerOf(kind Kind, id string) (string, error) {
	tid := s.tid(kind, "", id)
	s.mu.Lock()
	if e, ok := s.cache[string(tid)]; ok {
		s.mu.Unlock()
		return e.th.Owner, nil
	}
	s.mu.Unlock()
	var owner string
	err := s.db.View(func(tx *bolt.Tx) error {
		th, err := s.readThread(tx, tid)
		if th != nil {
			owner = th.Owner
		}
		return err
	})
	return owner, err
}
