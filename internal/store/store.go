// Package store owns credflow's one bbolt file: where it lives, how it is
// opened and locked, its bucket tree, its schema version and the ordered
// migrations that bring an older file up to date.
//
// The file holds non-secret data only. Secret values live in the vault
// backends; here are their names, versions, states and dates.
//
// Bucket tree (schema version 4):
//
//	meta/
//	    schema_version  -> uint64, big endian
//	    created         -> RFC 3339 time the file was first initialised
//	secrets/
//	    <name>          -> JSON vault.Secret (metadata and version list, never values)
//	audit/
//	    <seq>           -> JSON audit.Entry; seq is a big-endian uint64 from
//	                       NextSequence, so keys sort in append order
//	keys/                  (schema 2)
//	    <name>          -> JSON keys.Key: a virtual key's SHA-256 hash(es), display
//	                       prefix, dates, model patterns and policy; never the key
//	usage/                 (schema 3; internal/ledger) one record per gateway request
//	    <nanos><seq>    -> JSON ledger.Record: 8-byte big-endian UTC unix nanoseconds
//	                       + 8-byte big-endian NextSequence, so keys sort by time;
//	                       tokens, cost, status, latency; never prompt or reply text
//	rollups_hour/          (schema 3) per-hour sums of usage/, kept past retention
//	    <start><dim><name> -> 11 big-endian uint64 counters (ledger.Counters);
//	                       start is the period's 8-byte big-endian unix seconds,
//	                       dim one byte: k key, m model, p provider, t total (empty
//	                       name), c key+provider+model (uvarint-length-prefixed)
//	rollups_day/           (schema 3) the same per UTC day
//	meta/usage_pruned_before (written by internal/ledger once retention deletes raw
//	                       records) -> 8-byte big-endian unix nanoseconds: usage/
//	                       holds no record older than this any more
//	templates/             (schema 4; internal/templates)
//	    <name>          -> JSON templates.Record: every version of a prompt
//	                       template (prompts, model, params, variables, schema)
//
// Update this drawing with every migration.
//
// bbolt admits one writer process at a time (an flock on the file). A process
// that cannot get the lock within Options.Timeout gets ErrBusy with a sentence
// naming the process that holds it, read from the owner file written beside
// the database.
//
// # Damage
//
// bbolt trusts its file: cut short, it dies of SIGBUS or SIGSEGV; emptied,
// it starts a new one; with a bad page, it panics. So Open checks the file
// first (damage.go: its size against the header bbolt would read, parsed
// here), then has bbolt open it and reads a bounded part of it, and every
// View and Update runs with memory faults turned into panics and bbolt's
// panics recovered. Any of these is a *DamagedError (ErrDamaged): the file
// is not written, a copy is made beside it, and a note records the damage
// so that later opens fail at once, until Repair (credflow data repair)
// puts a new file in its place. Beside the data file:
//
//	credflow.db.owner                   the process holding the file (see above)
//	credflow.db.damaged                 the note: what is wrong, where the copy is
//	credflow.db.damaged-YYYYMMDDTHHMMSS copies of damaged files (UTC), one per file
//
// A new file is initialised under a temporary name and linked into place,
// so an empty credflow.db is always damage, never a file being created.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Domain packages address their bucket through these.
var (
	BucketMeta    = []byte("meta")
	BucketSecrets = []byte("secrets")
	BucketAudit   = []byte("audit")
	BucketKeys    = []byte("keys")

	BucketUsage       = []byte("usage")        // schema 3
	BucketRollupsHour = []byte("rollups_hour") // schema 3
	BucketRollupsDay  = []byte("rollups_day")  // schema 3
	BucketTemplates   = []byte("templates")    // schema 4
)

var (
	keySchemaVersion = []byte("schema_version")
	keyCreated       = []byte("created")
)

// FileName is the database's name inside the data directory.
const FileName = "credflow.db"

// DefaultTimeout is how long Open waits for another process to release the file.
const DefaultTimeout = 5 * time.Second

// ErrBusy reports that another process holds the file longer than the timeout.
var ErrBusy = errors.New("data file is in use")

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
	// Process describes the opener ("credflow secrets set") for the owner
	// file, so a blocked process can say who holds the lock.
	Process string
	// Migrations replaces the built-in list; tests use it.
	Migrations []Migration
}

// DB is an open credflow data file.
type DB struct {
	bolt      *bolt.DB
	path      string
	ownerPath string
	// file is bbolt's handle on the file. After bbolt panicked (damage),
	// its locks may be held for good and Close would hang, so the file is
	// closed directly (releasing the file lock) and broken set.
	file   *os.File
	broken bool
}

// Owner describes the process that holds the data file.
type Owner struct {
	PID     int       `json:"pid"`
	Process string    `json:"process"`
	Since   time.Time `json:"since"`
}

// Open opens (creating if needed) the data file at path with mode 0600 and
// brings its schema up to date. The directory must exist.
//
// A damaged file is never initialised or written: Open checks it first and
// returns a *DamagedError (errors.Is ErrDamaged) after copying it aside.
// The checks are an existing file that is empty, a file shorter than its
// header says or with no valid header (read here, before bbolt, which
// would crash on it), and, once bbolt has it open, a bounded walk of the
// small buckets and of both ends of the others (quickCheck). A bbolt panic
// or a memory fault on the mapped file, during Open or any later View or
// Update, becomes the same error instead of a crash.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	migrations := opts.Migrations
	if migrations == nil {
		migrations = Migrations
	}
	if e := readNote(path); e != nil {
		return nil, e
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, fmt.Errorf("create data file %s: %w", path, err)
		}
	}
	problem, err := checkHeader(path)
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	if problem != "" {
		return nil, damaged(path, problem)
	}
	db := &DB{path: path, ownerPath: path + ".owner"}
	err = guard(func() error {
		var err error
		db.bolt, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, OpenFile: db.openFile})
		return err
	})
	var pf *pageFault
	switch {
	case errors.As(err, &pf):
		db.abandon()
		return nil, damaged(path, pf.problem)
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, busyError(path, opts.Timeout)
	case err != nil:
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	// bbolt creates with the given mode, but an older file may be wider.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("set permissions on %s: %w", path, err)
	}
	if err := db.View(quickCheck); err != nil {
		db.Close()
		return nil, err
	}
	db.writeOwner(opts.Process)
	if err := db.migrate(migrations); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openFile is bbolt's OpenFile hook: it keeps the handle for abandon.
func (db *DB) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	db.file = f
	return f, err
}

// abandon gives up a bbolt handle that panicked: it closes the file (and
// with it the lock) without going through bbolt, and leaves the mapping.
func (db *DB) abandon() {
	db.broken = true
	if db.file != nil {
		db.file.Close()
	}
}

// create makes a new, initialised data file at path. It is built under a
// temporary name and linked into place, so no process ever sees an empty
// credflow.db, which would be damage.
func create(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	// bbolt initialises an empty file.
	b, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = b.Close()
	if err == nil {
		err = linkNew(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			err = nil // another process made it first
		}
	}
	return err
}

// Path is the file's location.
func (db *DB) Path() string { return db.path }

// Bolt exposes the underlying handle for packages that need bbolt's Batch.
// Unlike View and Update, its calls are not guarded against damage.
func (db *DB) Bolt() *bolt.DB { return db.bolt }

// Update runs fn in a read-write transaction. Damage met on the way is
// a *DamagedError, and the transaction is rolled back.
func (db *DB) Update(fn func(*bolt.Tx) error) error {
	return db.guarded(func() error { return db.bolt.Update(fn) })
}

// View runs fn in a read-only transaction. Damage met on the way is a
// *DamagedError.
func (db *DB) View(fn func(*bolt.Tx) error) error {
	return db.guarded(func() error { return db.bolt.View(fn) })
}

func (db *DB) guarded(op func() error) error {
	if db.broken {
		if e := readNote(db.path); e != nil {
			return e
		}
		return damaged(db.path, "it was found damaged by an earlier operation")
	}
	err := guard(op)
	var pf *pageFault
	if errors.As(err, &pf) {
		db.abandon()
		return damaged(db.path, pf.problem)
	}
	return err
}

// Close releases the file and removes the owner note.
func (db *DB) Close() error {
	os.Remove(db.ownerPath)
	if db.broken {
		return nil
	}
	return db.bolt.Close()
}

// SchemaVersion reports the file's schema version.
func (db *DB) SchemaVersion() (uint64, error) {
	var v uint64
	err := db.View(func(tx *bolt.Tx) error {
		v = schemaVersion(tx)
		return nil
	})
	return v, err
}

func (db *DB) writeOwner(process string) {
	if process == "" {
		process = filepath.Base(os.Args[0])
	}
	data, _ := json.Marshal(Owner{PID: os.Getpid(), Process: process, Since: time.Now().UTC()})
	// Best effort: the note only improves an error message.
	_ = os.WriteFile(db.ownerPath, data, 0o600)
}

func busyError(path string, timeout time.Duration) error {
	who := "another process"
	if o, ok := ParseOwner(path); ok && o.PID > 0 {
		who = fmt.Sprintf("'%s' (pid %d)", o.Process, o.PID)
		if !processAlive(o.PID) {
			who += ", which no longer seems to run; another process may hold it now"
		}
	}
	return fmt.Errorf("%w: %s is held by %s; waited %s. Wait for it to finish or stop it, then try again",
		ErrBusy, path, who, timeout)
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

func schemaVersion(tx *bolt.Tx) uint64 {
	b := tx.Bucket(BucketMeta)
	if b == nil {
		return 0
	}
	v := b.Get(keySchemaVersion)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Itob encodes a sequence number as a sortable key.
func Itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// Btoi decodes a key made by Itob.
func Btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// ParseOwner reads the note of the process that holds the file at path.
func ParseOwner(path string) (Owner, bool) {
	data, err := os.ReadFile(path + ".owner")
	if err != nil {
		return Owner{}, false
	}
	var o Owner
	if json.Unmarshal(data, &o) != nil {
		return Owner{}, false
	}
	return o, true
}
