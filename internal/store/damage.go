package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged reports a data file that cannot be read safely. The error is a
// *DamagedError.
var ErrDamaged = errors.New("data file is damaged")

// DamagedError reports a damaged data file: what is wrong, and the copy of
// the file made before anything else could touch it.
type DamagedError struct {
	// Path is the data file.
	Path string
	// Problem says what is wrong, for people ("it is empty (0 bytes)").
	Problem string
	// Backup is the copy of the damaged file; empty when none could be
	// made, and then BackupErr says why.
	Backup    string
	BackupErr error
	// Empty is set for a file of 0 bytes: nothing to copy or save.
	Empty bool
}

func (e *DamagedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data file %s is damaged: %s. Nothing in it was changed; ", e.Path, e.Problem)
	switch {
	case e.Empty:
		b.WriteString("there is nothing in it to save, so run 'credflow data repair --discard' to start over with a new, empty data file")
		return b.String()
	case e.Backup != "":
		fmt.Fprintf(&b, "a copy of it is at %s; ", e.Backup)
	default:
		fmt.Fprintf(&b, "no copy of it could be made (%v), so copy it somewhere safe first; ", e.BackupErr)
	}
	b.WriteString("run 'credflow data repair' to save what can still be read into a new file")
	return b.String()
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// The on-disk layout of bbolt v1.5.0 (internal/common/page.go, meta.go),
// read here without bbolt so that a damaged header is reported instead of
// crashing bbolt. bbolt writes its structs in the machine's byte order.
const (
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	// The meta follows the page header: magic u32, version u32, pageSize
	// u32, flags u32, root bucket {root u64, sequence u64}, freelist u64,
	// pgid u64 (high-water mark), txid u64, checksum u64 (FNV-64a of the
	// meta bytes before it).
	metaChecksumAt = pageHeaderSize + 56
	metaEnd        = metaChecksumAt + 8

	boltMagic   uint32 = 0xED0CDAED
	boltVersion uint32 = 2
)

var nativeEndian = binary.NativeEndian

type metaPage struct {
	magic, version, pageSize uint32
	root, freelist, pgid     uint64
	txid                     uint64
}

var (
	errNotBolt  = errors.New("no bbolt magic number")
	errVersion  = errors.New("unknown format version")
	errChecksum = errors.New("checksum mismatch")
)

// parseMeta decodes the meta page at the start of b (at least metaEnd bytes).
func parseMeta(b []byte) (metaPage, error) {
	m := metaPage{
		magic:    nativeEndian.Uint32(b[16:]),
		version:  nativeEndian.Uint32(b[20:]),
		pageSize: nativeEndian.Uint32(b[24:]),
		root:     nativeEndian.Uint64(b[32:]),
		freelist: nativeEndian.Uint64(b[48:]),
		pgid:     nativeEndian.Uint64(b[56:]),
		txid:     nativeEndian.Uint64(b[64:]),
	}
	switch {
	case m.magic != boltMagic:
		return m, errNotBolt
	case m.version != boltVersion:
		return m, errVersion
	}
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:metaChecksumAt])
	if h.Sum64() != nativeEndian.Uint64(b[metaChecksumAt:]) {
		return m, errChecksum
	}
	return m, nil
}

// checkHeader compares the file with its header without opening it in
// bbolt, and returns what is wrong ("" when nothing is). It runs without
// the file lock: a writer may commit meanwhile, so the meta pages are read
// before the size (a file never shrinks, and bbolt grows it before it
// writes a meta that needs the room) and a torn meta falls back to the
// other one, as bbolt itself does.
func checkHeader(path string) (string, error) {
	for attempt := 1; ; attempt++ {
		problem, torn, err := checkHeaderOnce(path)
		if !torn || attempt == 3 {
			return problem, err
		}
		// Two torn meta pages need two commits during two reads; look again
		// before calling it damage.
		time.Sleep(20 * time.Millisecond)
	}
}

// checkHeaderOnce is checkHeader's one look; torn reports that both meta
// pages failed their checksum, which a writer could cause for a moment.
func checkHeaderOnce(path string) (problem string, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	buf := make([]byte, metaEnd)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", false, err
	}
	var metas []metaPage
	m0, err0 := metaPage{}, error(errNotBolt)
	if n == metaEnd {
		m0, err0 = parseMeta(buf)
		if err0 == nil {
			metas = append(metas, m0)
		}
	}
	// The second meta page starts one page in. Its offset is the page size,
	// which the first one gives when it is valid; else try the sizes bbolt
	// itself tries (1 KiB to 16 MiB).
	offsets := []int64{int64(m0.pageSize)}
	if err0 != nil {
		offsets = []int64{int64(os.Getpagesize())}
		for i := range 15 {
			offsets = append(offsets, 1024<<i)
		}
	}
	err1 := error(errNotBolt)
	for _, off := range offsets {
		if n, err := f.ReadAt(buf, off); n < metaEnd || (err != nil && err != io.EOF) {
			continue
		}
		m, err := parseMeta(buf)
		if err == nil && int64(m.pageSize) == off {
			metas, err1 = append(metas, m), nil
			break
		}
		if err1 == errNotBolt || err == errVersion {
			err1 = err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	size := fi.Size()
	switch {
	case size == 0:
		return "it is empty (0 bytes)", false, nil
	case n < metaEnd:
		return fmt.Sprintf("it is only %d bytes, too short to hold its header: the file was cut short", size), false, nil
	case len(metas) == 0 && err0 == errNotBolt && err1 == errNotBolt:
		return "it does not start with a bbolt header: it is not a credflow data file, or its beginning was overwritten", false, nil
	case len(metas) == 0 && (err0 == errVersion || err1 == errVersion):
		return "its header gives a format version this credflow does not know", false, nil
	case len(metas) == 0:
		return "both copies of its header are damaged", true, nil
	}
	// bbolt uses the valid meta with the highest transaction id.
	m := slices.MaxFunc(metas, func(a, b metaPage) int { return cmp.Compare(a.txid, b.txid) })
	ps := uint64(m.pageSize)
	if ps < 1024 || ps&(ps-1) != 0 {
		return fmt.Sprintf("its header gives an impossible page size (%d)", ps), false, nil
	}
	if m.root >= m.pgid || (m.freelist != ^uint64(0) && m.freelist >= m.pgid) {
		return "its header points past the end of its own data", false, nil
	}
	if m.pgid > uint64(size)/ps {
		if m.pgid > (1<<63)/ps {
			return fmt.Sprintf("it is %d bytes but its header says far more: the file was cut short or its header is damaged", size), false, nil
		}
		return fmt.Sprintf("it is %d bytes but its header says %d: the file was cut short", size, m.pgid*ps), false, nil
	}
	return "", false, nil
}

// pageFault is a panic raised by bbolt, or a memory fault on the mapped
// file, turned into an error by guard.
type pageFault struct{ problem string }

func (p *pageFault) Error() string { return p.problem }

// guard runs fn with memory faults turned into panics (a page beyond the
// end of a cut file is a SIGBUS, a wild page number a SIGSEGV; both would
// otherwise kill the process with a Go stack) and recovers the panics that
// come from bbolt or from such a fault, returning them as a *pageFault. A
// panic of credflow's own code is a bug and goes on.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, isFault := r.(interface{ Addr() uintptr }); !isFault && !panicFromBolt() {
			panic(r)
		}
		err = &pageFault{problem: describePanic(r)}
	}()
	return fn()
}

// panicFromBolt reports whether the panic being recovered was raised in
// bbolt: the first frame below runtime.gopanic that is not the runtime's.
func panicFromBolt() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	seenPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			seenPanic = true
		case seenPanic && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

var (
	rePageType = regexp.MustCompile(`page (\d+): has unexpected type|invalid page type: (\d+)`)
	rePageID   = regexp.MustCompile(`Page expected to be: (\d+), but self identifies as (\d+)`)
)

// describePanic turns what bbolt panicked with into words for people; the
// panic text itself is never shown.
func describePanic(r any) string {
	if _, ok := r.(interface{ Addr() uintptr }); ok {
		return "part of it lies beyond the end of the file or cannot be read"
	}
	s := fmt.Sprint(r)
	if m := rePageType.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("page %s of it is not a valid page", m[1]+m[2])
	}
	if m := rePageID.FindStringSubmatch(s); m != nil {
		if m[2] == "0" {
			return fmt.Sprintf("page %s of it is blank (cut off or overwritten)", m[1])
		}
		return fmt.Sprintf("page %s of it holds page %s instead", m[1], m[2])
	}
	switch {
	case strings.Contains(s, "high water mark"):
		return "it refers to pages past the end of its own data"
	case strings.Contains(s, "free"):
		return "its list of free pages is inconsistent"
	}
	return "its internal structure is inconsistent"
}

// Bounds of the check run on every open. The buckets credflow needs for
// almost every command are read up to smallBucketKeys keys; any other
// bucket (the usage ledger and the audit log grow without bound) only has
// its first and last keys visited, which reads one path from its root to
// each end. On a 238 MB file with 10,000 secrets and 10,000 keys the walk
// takes about 0.1 ms warm and Open 0.3-0.6 ms in all (the first touch of
// each page of a fresh mapping is most of it).
const (
	smallBucketKeys = 1_000
	maxRootBuckets  = 64
)

var smallBuckets = [][]byte{BucketMeta, BucketSecrets, BucketKeys, BucketTemplates}

// touched keeps the compiler from dropping quickCheck's reads of values.
var touched atomic.Uint32

// quickCheck reads what credflow needs most and the ends of every other
// bucket, so a damaged page there is found now and not halfway through a
// command. Call it under guard: damage shows as a bbolt panic or a fault.
func quickCheck(tx *bolt.Tx) error {
	c := tx.Cursor()
	n := 0
	for name, v := c.First(); name != nil && n < maxRootBuckets; name, v = c.Next() {
		n++
		if v != nil {
			continue
		}
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		limit := 1
		if slices.ContainsFunc(smallBuckets, func(s []byte) bool { return bytes.Equal(s, name) }) {
			limit = smallBucketKeys
		}
		x, err := walkKeys(b.Cursor(), limit)
		if err != nil {
			return &pageFault{problem: fmt.Sprintf("bucket %q: %v", name, err)}
		}
		if k, v := b.Cursor().Last(); len(v) > 0 {
			x ^= k[0] ^ v[len(v)-1]
		}
		touched.Add(uint32(x))
	}
	return nil
}

// walkKeys reads up to limit keys and values in order and checks that the
// keys ascend, as bbolt keeps them.
func walkKeys(c *bolt.Cursor, limit int) (x byte, err error) {
	var prev []byte
	i := 0
	for k, v := c.First(); k != nil && i < limit; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return x, errors.New("its keys are out of order")
		}
		if len(v) > 0 {
			x ^= v[0] ^ v[len(v)-1]
		}
		prev = k
		i++
	}
	return x, nil
}

// damageNote is kept beside the data file (FILE.damaged) once damage is
// found, so that every later open fails at once with the same message and
// nothing more is written into a file known to be damaged, until it is
// repaired or replaced. Size and ModTime tie the note to that file: a file
// put in its place by hand makes the note stale.
type damageNote struct {
	Problem string    `json:"problem"`
	Backup  string    `json:"backup"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	Found   time.Time `json:"found"`
}

func notePath(path string) string { return path + ".damaged" }

// readNote returns the damage recorded for the file at path, or nil. A
// note that no longer matches the file is removed.
func readNote(path string) *DamagedError {
	data, err := os.ReadFile(notePath(path))
	if err != nil {
		return nil
	}
	var n damageNote
	fi, err := os.Stat(path)
	if json.Unmarshal(data, &n) != nil || err != nil || fi.Size() != n.Size || !fi.ModTime().Equal(n.ModTime) {
		os.Remove(notePath(path))
		return nil
	}
	e := &DamagedError{Path: path, Problem: n.Problem, Backup: n.Backup}
	if _, err := os.Stat(n.Backup); err != nil {
		// The copy was moved away: make another.
		e.Backup, e.BackupErr = backup(path, false)
		if e.Backup != "" {
			writeNote(path, e)
		}
	}
	return e
}

func writeNote(path string, e *DamagedError) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	data, _ := json.Marshal(damageNote{Problem: e.Problem, Backup: e.Backup, Size: fi.Size(), ModTime: fi.ModTime(), Found: time.Now().UTC()})
	// Best effort: without the note the damage is found again.
	_ = os.WriteFile(notePath(path), data, 0o600)
}

// damaged records damage found in the file at path: a copy of the file
// (unless one of this very file exists), the note, and the error.
func damaged(path, problem string) *DamagedError {
	e := &DamagedError{Path: path, Problem: problem}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		e.Empty = true
		return e
	}
	e.Backup, e.BackupErr = backup(path, false)
	writeNote(path, e)
	return e
}

// backupTimeFormat names copies by the UTC time they were made.
const backupTimeFormat = "20060102T150405"

func backupGlob(path string) string { return path + ".damaged-*" }

// backup copies the file at path to FILE.damaged-YYYYMMDDTHHMMSS beside it
// (mode 0600), unless a copy of the same file already exists, which it
// returns. The copy keeps the file's modification time; same size, time
// and first and last bytes (every byte when full is set) make a copy "of
// the same file".
func backup(path string, full bool) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		if prev := findBackup(path, fi, full); prev != "" {
			return prev, nil
		}
		base := path + ".damaged-" + time.Now().UTC().Format(backupTimeFormat)
		name := base
		for i := 2; fileExists(name); i++ {
			name = base + "-" + strconv.Itoa(i)
		}
		err := copyFile(path, name, fi)
		if errors.Is(err, fs.ErrExist) && attempt < 3 {
			continue // another process copied it just now: use that copy
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
}

// findBackup returns an existing copy of the file at path (described by
// fi): the same size and modification time, and the same first and last
// 64 KiB, or every byte when full is set.
func findBackup(path string, fi fs.FileInfo, full bool) string {
	matches, _ := filepath.Glob(backupGlob(path))
	slices.Reverse(matches) // newest first
	for _, m := range matches {
		if strings.Contains(filepath.Base(m), ".tmp") {
			continue
		}
		bi, err := os.Stat(m)
		if err != nil || bi.Size() != fi.Size() || !bi.ModTime().Equal(fi.ModTime()) {
			continue
		}
		if sameContent(path, m, fi.Size(), full) {
			return m
		}
	}
	return ""
}

func sameContent(a, b string, size int64, full bool) bool {
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	const chunk = 64 << 10
	ranges := [][2]int64{{0, min(size, chunk)}, {max(0, size-chunk), size}}
	if full {
		ranges = [][2]int64{{0, size}}
	}
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for _, r := range ranges {
		for off := r[0]; off < r[1]; off += chunk {
			n := int(min(chunk, r[1]-off))
			if _, err := fa.ReadAt(ba[:n], off); err != nil {
				return false
			}
			if _, err := fb.ReadAt(bb[:n], off); err != nil {
				return false
			}
			if !bytes.Equal(ba[:n], bb[:n]) {
				return false
			}
		}
	}
	return true
}

// copyFile copies src to dst (which must not exist) through a temporary
// file, so dst never exists half written.
func copyFile(src, dst string, fi fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	tmp := out.Name()
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	}
	if err == nil {
		err = linkNew(tmp, dst)
	}
	os.Remove(tmp)
	return err
}

// linkNew gives the file at tmp the name dst, failing if dst exists.
// Where hard links are not supported it falls back to a rename, which
// checks only before.
func linkNew(tmp, dst string) error {
	err := os.Link(tmp, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if fileExists(dst) {
		return fs.ErrExist
	}
	return os.Rename(tmp, dst)
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
