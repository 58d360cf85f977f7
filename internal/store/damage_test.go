package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// seedRecords is how many records seed writes into the usage bucket: with
// 200-byte values, some 70 leaf pages.
const seedRecords = 1000

// seed makes a data file with what a user has: secrets, a virtual key, an
// audit log and many usage records. The secrets bucket gets its own page
// (too big to be inlined in the root), and is written last, as a user's
// latest change would be.
func seed(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(BucketKeys).Put([]byte("agent"), []byte(`{"name":"agent"}`)); err != nil {
			return err
		}
		ub := tx.Bucket(BucketUsage)
		for i := range seedRecords {
			seq, _ := ub.NextSequence()
			if err := ub.Put(usageKey(i, seq), bytes.Repeat([]byte{'u'}, 200)); err != nil {
				return err
			}
		}
		ab := tx.Bucket(BucketAudit)
		for range 5 {
			seq, _ := ab.NextSequence()
			if err := ab.Put(Itob(seq), []byte(`{"action":"set"}`)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for i := range 8 {
			name := fmt.Sprintf("secret-%d", i)
			if err := tx.Bucket(BucketSecrets).Put([]byte(name), secretValue(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func usageKey(i int, seq uint64) []byte {
	return append(Itob(uint64(1_700_000_000_000_000_000+i)), Itob(seq)...)
}

func secretValue(name string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"versions":[{"v":1,"state":"active"}],"pad":%q}`, name, strings.Repeat("x", 150)))
}

// fileMeta reads the meta bbolt uses (the valid one with the highest txid).
func fileMeta(t *testing.T, path string) metaPage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m0, err0 := parseMeta(data)
	m1, err1 := parseMeta(data[m0.pageSize:])
	switch {
	case err0 != nil && err1 != nil:
		t.Fatalf("no valid meta: %v, %v", err0, err1)
	case err0 != nil || err1 == nil && m1.txid > m0.txid:
		return m1
	}
	return m0
}

// bucketPages lists the pages of bucket name, leaves in key order, by
// reading the file (tests must find pages without trusting the code
// under test): bbolt's root of the bucket, then its branches.
func bucketPages(t *testing.T, path string, name []byte) (root uint64, leaves []uint64) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		return nil
	})
	b.Close()
	if root == 0 {
		t.Fatalf("bucket %s is inline; the test needs it on its own pages", name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := uint64(fileMeta(t, path).pageSize)
	var walk func(id uint64)
	walk = func(id uint64) {
		p := data[id*ps:]
		switch flags := nativeEndian.Uint16(p[8:]); flags {
		case 0x02:
			leaves = append(leaves, id)
		case 0x01:
			for i := range int(nativeEndian.Uint16(p[10:])) {
				walk(nativeEndian.Uint64(p[pageHeaderSize+16*i+8:]))
			}
		default:
			t.Fatalf("page %d has flags %#x", id, flags)
		}
	}
	walk(root)
	return root, leaves
}

// flipFlags changes the type byte of page id, as one bad bit on disk would.
func flipFlags(t *testing.T, path string, id uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := int64(id)*int64(fileMeta(t, path).pageSize) + 8
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func mustDamaged(t *testing.T, err error) *DamagedError {
	t.Helper()
	var de *DamagedError
	if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) {
		t.Fatalf("error %v; want a *DamagedError", err)
	}
	for _, bad := range []string{"goroutine", "panic", "runtime error", "assertion failed", ".go:"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error %q shows %q to the user", err, bad)
		}
	}
	return de
}

func backups(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(backupGlob(path))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(da, db)
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// TestOpenEmptyFile: a 0-byte file is damage, never a fresh start that
// would forget every secret.
func TestOpenEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open initialised an empty file")
	}
	de := mustDamaged(t, err)
	if !de.Empty || de.Path != path || !strings.Contains(de.Problem, "empty (0 bytes)") {
		t.Errorf("error %+v; want an empty-file report for %s", de, path)
	}
	if !strings.Contains(err.Error(), "credflow data repair --discard") {
		t.Errorf("error %q does not say how to start over", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("the empty file became %d bytes", fi.Size())
	}
	if b := backups(t, path); len(b) != 0 {
		t.Errorf("copies %v of an empty file", b)
	}
	// A missing file is still created.
	fresh := filepath.Join(t.TempDir(), FileName)
	db, err = Open(fresh, Options{})
	if err != nil {
		t.Fatalf("Open of a missing file: %v", err)
	}
	db.Close()
}

// TestOpenTruncated cuts a file at several sizes: each is reported (with
// the sizes, when the header is there to say), never a crash; one copy is
// made however often it is opened; Repair then saves only real data.
func TestOpenTruncated(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	seed(t, good)
	m := fileMeta(t, good)
	ps := int64(m.pageSize)
	full := int64(m.pgid) * ps
	for _, size := range []int64{10, 100, ps, 2 * ps, full / 2, full - ps} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			copyTo(t, good, path)
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			de := mustDamaged(t, err)
			want := "too short to hold its header: the file was cut short"
			if size >= metaEnd {
				want = fmt.Sprintf("it is %d bytes but its header says %d: the file was cut short", size, full)
			}
			if !strings.HasSuffix(de.Problem, want) {
				t.Errorf("problem %q; want %q", de.Problem, want)
			}
			if !strings.Contains(err.Error(), "run 'credflow data repair'") || !strings.Contains(err.Error(), de.Backup) {
				t.Errorf("error %q does not name the copy and the command", err)
			}
			if fi, _ := os.Stat(path); fi.Size() != size {
				t.Errorf("the damaged file changed size to %d", fi.Size())
			}
			if fi, err := os.Stat(de.Backup); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("copy %s: %v, mode %v; want a 0600 file", de.Backup, err, fi.Mode())
			}
			if !sameFile(t, path, de.Backup) {
				t.Error("the copy differs from the damaged file")
			}
			// Again: the same answer, no second copy.
			_, err = Open(path, Options{})
			if de2 := mustDamaged(t, err); de2.Backup != de.Backup || de2.Problem != de.Problem {
				t.Errorf("second open: %+v; want the first report %+v", de2, de)
			}
			if b := backups(t, path); len(b) != 1 {
				t.Errorf("copies %v; want one", b)
			}

			rep, err := Repair(path, RepairOptions{})
			if err != nil {
				// Too little left to open at all: it says so, and how to
				// start over.
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "--discard") {
					t.Errorf("Repair error %q does not offer --discard", err)
				}
				return
			}
			if rep.Backup != de.Backup {
				t.Errorf("Repair kept %s; want the copy %s", rep.Backup, de.Backup)
			}
			checkSalvage(t, path, good)
		})
	}
}

// checkSalvage opens a repaired file and checks that everything it holds
// was in the original, value for value: a repair never invents data.
func checkSalvage(t *testing.T, path, original string) (n int) {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("the repaired file does not open: %v", err)
	}
	defer db.Close()
	orig, err := bolt.Open(original, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	orig.View(func(otx *bolt.Tx) error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				ob := otx.Bucket(name)
				return b.ForEach(func(k, v []byte) error {
					n++
					if bytes.Equal(name, BucketMeta) {
						return nil // schema_version and created may be rewritten
					}
					if ob == nil || !bytes.Equal(ob.Get(k), v) {
						t.Errorf("repaired %s/%x is not in the original", name, k)
					}
					return nil
				})
			})
		})
	})
	return n
}

// TestOpenGarbageHeader: a file that does not start with a bbolt header,
// or whose two header copies are both broken, is damage; one broken copy
// is what a crash while writing it leaves, and bbolt uses the other.
func TestOpenGarbageHeader(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	seed(t, good)
	ps := int64(fileMeta(t, good).pageSize)

	path := filepath.Join(t.TempDir(), FileName)
	copyTo(t, good, path)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	junk := make([]byte, 2*ps)
	rand.Read(junk)
	f.WriteAt(junk, 0)
	f.Close()
	_, err := Open(path, Options{})
	if de := mustDamaged(t, err); !strings.Contains(de.Problem, "does not start with a bbolt header") {
		t.Errorf("problem %q", de.Problem)
	}

	// One meta page's checksum broken: still a sound file.
	path = filepath.Join(t.TempDir(), FileName)
	copyTo(t, good, path)
	f, _ = os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xff}, metaChecksumAt)
	f.Close()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("one broken meta page: %v; want bbolt's fallback to the other", err)
	}
	db.Close()

	// Both.
	path = filepath.Join(t.TempDir(), FileName)
	copyTo(t, good, path)
	f, _ = os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xff}, metaChecksumAt)
	f.WriteAt([]byte{0xff, 0xff}, ps+metaChecksumAt)
	f.Close()
	_, err = Open(path, Options{})
	if de := mustDamaged(t, err); de.Problem != "both copies of its header are damaged" {
		t.Errorf("problem %q", de.Problem)
	}
}

// TestOpenFlippedPageByte damages the page that holds the secrets: Open,
// which reads it whole, reports it instead of crashing on bbolt's panic,
// and Repair saves every other bucket.
func TestOpenFlippedPageByte(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	seed(t, path)
	good := filepath.Join(t.TempDir(), "good.db")
	copyTo(t, path, good)
	root, _ := bucketPages(t, path, BucketSecrets)
	flipFlags(t, path, root)

	_, err := Open(path, Options{})
	de := mustDamaged(t, err)
	if want := fmt.Sprintf("page %d of it is not a valid page", root); !strings.Contains(de.Problem, want) {
		t.Errorf("problem %q; want %q", de.Problem, want)
	}
	rep, err := Repair(path, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rep.Buckets {
		switch b.Name {
		case "secrets":
			if b.Saved != 0 || !strings.Contains(b.Lost, "not a valid page") {
				t.Errorf("secrets: %+v; want all lost to the bad page", b)
			}
		case "usage":
			if b.Saved != seedRecords || b.Lost != "" {
				t.Errorf("usage: %+v; want all %d saved", b, seedRecords)
			}
		case "keys", "audit":
			if b.Saved == 0 || b.Lost != "" {
				t.Errorf("%s: %+v; want it whole", b.Name, b)
			}
		}
	}
	if rep.Complete() {
		t.Error("report says complete")
	}
	checkSalvage(t, path, good)
}

// TestDamageBeyondTheOpenCheck damages a page in the middle of the usage
// bucket, which Open's bounded check does not read: Open succeeds, a read
// that reaches the page gets a *DamagedError (not a crash), every later
// Open fails at once with the same report (nothing more is written into
// the file), and Repair saves the keys on both sides of the bad page.
func TestDamageBeyondTheOpenCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	seed(t, path)
	good := filepath.Join(t.TempDir(), "good.db")
	copyTo(t, path, good)
	_, leaves := bucketPages(t, path, BucketUsage)
	if len(leaves) < 5 {
		t.Fatalf("usage bucket has %d leaves; want several", len(leaves))
	}
	bad := leaves[len(leaves)/2]
	data, _ := os.ReadFile(path)
	lostKeys := int(nativeEndian.Uint16(data[int64(bad)*int64(fileMeta(t, path).pageSize)+10:]))
	flipFlags(t, path, bad)

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v; the damage is past what it checks", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(BucketUsage).ForEach(func(k, v []byte) error { return nil })
	})
	de := mustDamaged(t, err)
	if !strings.Contains(de.Problem, fmt.Sprintf("page %d", bad)) {
		t.Errorf("problem %q does not name page %d", de.Problem, bad)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return nil }); !errors.Is(err, ErrDamaged) {
		t.Errorf("Update on the same handle = %v; want ErrDamaged", err)
	}
	db.Close()
	_, err = Open(path, Options{})
	if de2 := mustDamaged(t, err); de2.Problem != de.Problem || de2.Backup != de.Backup {
		t.Errorf("next Open: %+v; want the recorded %+v", de2, de)
	}

	rep, err := Repair(path, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rep.Buckets {
		if b.Name == "usage" && (b.Saved != seedRecords-lostKeys || b.Lost == "") {
			t.Errorf("usage: %+v; want %d saved (all but the %d on page %d) and the loss named", b, seedRecords-lostKeys, lostKeys, bad)
		}
	}
	checkSalvage(t, path, good)
	if _, err := os.Stat(notePath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damage note outlived the repair (%v)", err)
	}
	// Sequences carry over: a new record never reuses a key.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error {
		if seq, _ := tx.Bucket(BucketUsage).NextSequence(); seq != seedRecords+1 {
			t.Errorf("next usage sequence %d; want %d", seq, seedRecords+1)
		}
		return nil
	})
	// The lost records' periods are left to their rollups.
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(BucketMeta).Get(keyUsagePrunedBefore); len(v) != 8 {
			t.Error("usage_pruned_before not set after usage records were lost")
		}
		return nil
	})
}

// TestRepairSoundAndDiscard: on a sound file Repair keeps every key (and
// the old file); --discard starts over, the old file kept all the same.
func TestRepairSoundAndDiscard(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	seed(t, path)
	good := filepath.Join(t.TempDir(), "good.db")
	copyTo(t, path, good)
	rep, err := Repair(path, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete() || rep.Problem != "" {
		t.Errorf("report %+v; want complete, no problem", rep)
	}
	if !sameFile(t, rep.Backup, good) {
		t.Error("the kept file is not the old one")
	}
	if n := checkSalvage(t, path, good); n < seedRecords+8+5+1 {
		t.Errorf("repaired file holds %d keys; want all", n)
	}

	rep, err = Repair(path, RepairOptions{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Discarded || rep.Backup == "" {
		t.Errorf("report %+v", rep)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(BucketSecrets).Cursor().First(); k != nil {
			t.Error("a discarded file still has secrets")
		}
		return nil
	})
	if len(backups(t, path)) != 2 {
		t.Errorf("copies %v; want the two old files", backups(t, path))
	}
}

// TestConcurrentCreate opens a new file from many goroutines at once (the
// file lock works between handles, as between processes): none may find
// the file empty half way through its creation and call it damaged.
func TestConcurrentCreate(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), FileName)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				db, err := Open(path, Options{})
				if err != nil {
					t.Error(err)
					return
				}
				db.Close()
			})
		}
		wg.Wait()
	}
}

// TestGuardKeepsBugs: a panic of credflow's own code in a transaction is a
// bug, not damage; it is not turned into an error.
func TestGuardKeepsBugs(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != "a bug" {
			t.Errorf("recovered %v; want the callback's own panic", r)
		}
	}()
	db.View(func(tx *bolt.Tx) error { panic("a bug") })
	t.Error("View returned")
}
