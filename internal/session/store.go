package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Store is the open context file. It is safe for concurrent use: reads
// come from a cache of decrypted threads or the file; writes go through
// one writer that commits whatever is queued in one transaction, so a
// lone turn costs one commit and a burst shares one.
type Store struct {
	db   *store.DB
	seal *sealer
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*entry
	order []string // tids, least recently used first
	bytes int
	limit int

	queue     chan *commit
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type entry struct {
	th    *Thread
	items []contextdoc.Item
	size  int
}

type commit struct {
	changes []Change
	done    chan error
}

// Open opens (creating) the context file at path, held until Close: the
// daemon owns it while it runs, and other commands come through its admin
// API. key is the data key (KeySize bytes) from the vault.
func Open(path string, key []byte, opt Options) (*Store, error) {
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(path, store.Options{Migrations: migrations, Process: opt.Process, Timeout: opt.Timeout})
	if err != nil {
		return nil, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = 64 << 20
	}
	s := &Store{db: db, seal: seal, now: opt.Now, cache: map[string]*entry{}, limit: opt.CacheBytes,
		queue: make(chan *commit, 256), closed: make(chan struct{})}
	s.wg.Add(1)
	go s.writer()
	return s, nil
}

// Path is the file's location.
func (s *Store) Path() string { return s.db.Path() }

// Close writes what is queued and releases the file. Later calls do
// nothing.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.wg.Wait()
		err = s.db.Close()
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
		return e.th, e.items, nil
	}
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
	s.put(key, th, items)
	return th, items, nil
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
	// Create: the thread must be new (ErrExists otherwise).
	Create bool
	// Update edits the thread's record inside the transaction: the
	// current one, or a new one (Kind, Owner, ID and Created set).
	Update func(*Thread)
	// Append adds items after the thread's last; items without an ID get
	// one. Replace drops the thread's items first.
	Append  []contextdoc.Item
	Replace bool
}

// Commit writes changes in one transaction of the writer, and returns
// once it is on disk (or failed: then none of them is).
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

// writer commits queued changes: all that are waiting, in one
// transaction.
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
					s.apply([]*commit{c})
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
		s.apply(batch)
	}
}

// apply commits a batch. A commit whose own changes fail (a thread that
// must be new exists) is left out and told why; the rest go ahead.
func (s *Store) apply(batch []*commit) {
	results := make([][]applied, len(batch))
	errs := make([]error, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, c := range batch {
			var werr error
			results[i], errs[i], werr = s.applyOne(tx, c.changes)
			if werr != nil {
				return werr // a failed write: nothing of the batch stays
			}
		}
		return nil
	})
	for i, c := range batch {
		if err != nil {
			c.done <- fmt.Errorf("write the context file: %w", err)
			continue
		}
		for _, r := range results[i] {
			s.applied(r.tid, r.th, r.added, r.fresh)
		}
		c.done <- errs[i]
	}
}

type applied struct {
	tid   []byte
	th    *Thread
	added []contextdoc.Item
	fresh bool
}

// applyOne writes one commit's changes. Every change is checked before
// anything is written, so a commit refused (err) leaves nothing behind and
// the others of the batch go ahead; a write that fails (werr) fails the
// whole transaction.
func (s *Store) applyOne(tx *bolt.Tx, changes []Change) (out []applied, err, werr error) {
	type plan struct {
		tid []byte
		th  *Thread
		ch  *Change
		new bool
	}
	plans := make([]plan, len(changes))
	for i := range changes {
		ch := &changes[i]
		tid := s.tid(ch.Kind, ch.Owner, ch.ID)
		th, rerr := s.readThread(tx, tid)
		if rerr != nil && !ch.Replace {
			return nil, rerr, nil
		}
		switch {
		case th != nil && ch.Create:
			return nil, fmt.Errorf("%s %s: %w", ch.Kind, ch.ID, ErrExists), nil
		case th != nil && th.Owner != ch.Owner:
			return nil, fmt.Errorf("%s %s: %w", ch.Kind, ch.ID, ErrNotFound), nil
		}
		isNew := th == nil
		if isNew {
			now := s.now().UTC()
			th = &Thread{Kind: ch.Kind, ID: ch.ID, Owner: ch.Owner, Created: now, Updated: now}
		}
		plans[i] = plan{tid: tid, th: th, ch: ch, new: isNew}
	}
	out = make([]applied, 0, len(plans))
	items := tx.Bucket(bucketItems)
	for _, p := range plans {
		th, ch := p.th, p.ch
		if ch.Replace && !p.new {
			if err := deletePrefix(items, append(append([]byte{}, p.tid...), '/')); err != nil {
				return nil, nil, err
			}
			th.Count = 0
		}
		if ch.Update != nil {
			ch.Update(th)
		}
		th.Kind, th.ID, th.Owner = ch.Kind, ch.ID, ch.Owner
		added := make([]contextdoc.Item, len(ch.Append))
		for j, it := range ch.Append {
			if it.ID == "" {
				it.ID = NewItemID(it.Type)
			}
			if it.Time == nil {
				t := s.now().UTC()
				it.Time = &t
			}
			plain, err := json.Marshal(it)
			if err != nil {
				return nil, nil, err
			}
			k := itemKey(p.tid, th.NextSeq)
			if err := items.Put(k, s.seal.seal(k, plain)); err != nil {
				return nil, nil, err
			}
			th.NextSeq++
			th.Count++
			added[j] = it
		}
		th.Updated = s.now().UTC()
		plain, err := json.Marshal(th)
		if err != nil {
			return nil, nil, err
		}
		if err := tx.Bucket(bucketThreads).Put(p.tid, s.seal.seal(p.tid, plain)); err != nil {
			return nil, nil, err
		}
		out = append(out, applied{tid: p.tid, th: th, added: added, fresh: ch.Replace || p.new})
	}
	return out, nil, nil
}

// applied updates the cache after a commit: a cached thread gets the new
// items; one not cached stays out (the next Get reads it whole).
func (s *Store) applied(tid []byte, th *Thread, added []contextdoc.Item, fresh bool) {
	key := string(tid)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[key]
	switch {
	case ok && !fresh:
		items := make([]contextdoc.Item, len(e.items), len(e.items)+len(added))
		copy(items, e.items)
		s.replace(key, th, append(items, added...))
	case fresh:
		s.replace(key, th, added)
	}
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
	err := s.db.Update(func(tx *bolt.Tx) error {
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
	s.mu.Lock()
	s.drop(string(tid))
	s.mu.Unlock()
	return err
}

// DeleteItem removes one item of a thread by its id.
func (s *Store) DeleteItem(kind Kind, owner, id, itemID string) error {
	tid := s.tid(kind, owner, id)
	err := s.db.Update(func(tx *bolt.Tx) error {
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
	s.mu.Lock()
	s.drop(string(tid))
	s.mu.Unlock()
	return err
}

// List returns the threads of a kind, of one owner ("" for all owners),
// most recently updated first. Records that cannot be read are skipped
// and counted in damaged.
func (s *Store) List(kind Kind, owner string) (threads []*Thread, damaged int, err error) {
	prefix := s.tid(kind, "", "")[:1]
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
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEach(func(k, v []byte) error {
			plain, err := s.seal.open(k, v)
			var th Thread
			if err != nil || json.Unmarshal(plain, &th) != nil {
				return nil
			}
			if t := cutoff(th.Owner); !t.IsZero() && th.Updated.Before(t) {
				doomed = append(doomed, append([]byte{}, k...))
			}
			return nil
		})
	})
	if err != nil || len(doomed) == 0 {
		return 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, tid := range doomed {
			if err := deletePrefix(tx.Bucket(bucketItems), append(append([]byte{}, tid...), '/')); err != nil {
				return err
			}
			if err := tx.Bucket(bucketThreads).Delete(tid); err != nil {
				return err
			}
		}
		return nil
	})
	s.mu.Lock()
	for _, tid := range doomed {
		s.drop(string(tid))
	}
	s.mu.Unlock()
	return len(doomed), err
}

// Cache upkeep; s.mu is held.

func (s *Store) put(key string, th *Thread, items []contextdoc.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replace(key, th, items)
}

func (s *Store) replace(key string, th *Thread, items []contextdoc.Item) {
	s.drop(key)
	size := 256
	for i := range items {
		size += itemSize(&items[i])
	}
	if size > s.limit/4 {
		return // too big to keep: read from the file each time
	}
	s.cache[key] = &entry{th: th, items: items, size: size}
	s.order = append(s.order, key)
	s.bytes += size
	for s.bytes > s.limit && len(s.order) > 0 {
		s.drop(s.order[0])
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
