package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/credflow/credflow/internal/store"
)

func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), store.FileName)
}

func mustOpen(t testing.TB, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenCreatesFileWithMode0600(t *testing.T) {
	path := tempPath(t)
	db := mustOpen(t, path, store.Options{})
	defer db.Close()
	if got := mode(t, path); got != 0o600 {
		t.Errorf("new data file has mode %#o; want 0600", got)
	}
	if db.Path() != path {
		t.Errorf("Path() = %q; want %q", db.Path(), path)
	}
}

func TestOpenTightensWideMode(t *testing.T) {
	path := tempPath(t)
	// Create a valid file first, then widen it as an older credflow (or a
	// careless cp) might have left it.
	mustOpen(t, path, store.Options{}).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, path); got != 0o644 {
		t.Fatalf("setup: mode %#o; want 0644", got)
	}
	db := mustOpen(t, path, store.Options{})
	defer db.Close()
	if got := mode(t, path); got != 0o600 {
		t.Errorf("after Open the data file has mode %#o; want 0600", got)
	}
}

func TestSchemaVersionAfterOpen(t *testing.T) {
	db := mustOpen(t, tempPath(t), store.Options{})
	defer db.Close()
	v, err := db.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if want := store.LatestVersion(store.Migrations); v != want {
		t.Errorf("SchemaVersion() = %d; want %d (the last migration)", v, want)
	}
	if v < 1 {
		t.Errorf("SchemaVersion() = %d; want at least 1", v)
	}
}

func TestSchemaVersion1(t *testing.T) {
	db := mustOpen(t, tempPath(t), store.Options{Migrations: store.Migrations[:1]})
	defer db.Close()
	v, err := db.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != 1 {
		t.Errorf("SchemaVersion() = %d after migration 1 only; want 1", v)
	}
}

func hasBucket(t *testing.T, db *store.DB, name []byte) bool {
	t.Helper()
	var ok bool
	if err := db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(name) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

// migrationChecks has one entry per released migration: before runs on a
// file at schema Version-1, after on the same file at schema Version. A new
// migration without an entry here fails TestEachMigrationHasATest.
var migrationChecks = map[uint64]struct {
	before, after func(t *testing.T, db *store.DB)
}{
	1: {
		before: func(t *testing.T, db *store.DB) {
			for _, b := range [][]byte{store.BucketMeta, store.BucketSecrets, store.BucketAudit} {
				if hasBucket(t, db, b) {
					t.Errorf("bucket %s exists before migration 1", b)
				}
			}
		},
		after: func(t *testing.T, db *store.DB) {
			for _, b := range [][]byte{store.BucketMeta, store.BucketSecrets, store.BucketAudit} {
				if !hasBucket(t, db, b) {
					t.Errorf("bucket %s missing after migration 1", b)
				}
			}
			var created []byte
			db.View(func(tx *bolt.Tx) error {
				if m := tx.Bucket(store.BucketMeta); m != nil {
					created = append([]byte(nil), m.Get([]byte("created"))...)
				}
				return nil
			})
			if created == nil {
				t.Fatal("meta/created not set by migration 1")
			}
			ts, err := time.Parse(time.RFC3339, string(created))
			if err != nil {
				t.Fatalf("meta/created = %q is not RFC 3339: %v", created, err)
			}
			if d := time.Since(ts); d < -time.Minute || d > time.Minute {
				t.Errorf("meta/created = %s; want about now", ts)
			}
		},
	},
	2: {
		before: func(t *testing.T, db *store.DB) {
			if hasBucket(t, db, store.BucketKeys) {
				t.Error("keys bucket exists before migration 2")
			}
		},
		after: func(t *testing.T, db *store.DB) {
			if !hasBucket(t, db, store.BucketKeys) {
				t.Error("keys bucket missing after migration 2")
			}
			for _, b := range [][]byte{store.BucketMeta, store.BucketSecrets, store.BucketAudit} {
				if !hasBucket(t, db, b) {
					t.Errorf("migration 2 lost bucket %s", b)
				}
			}
		},
	},
	3: {
		before: func(t *testing.T, db *store.DB) {
			for _, b := range [][]byte{store.BucketUsage, store.BucketRollupsHour, store.BucketRollupsDay} {
				if hasBucket(t, db, b) {
					t.Errorf("bucket %s exists before migration 3", b)
				}
			}
			// Something schema 2 holds, to check it survives.
			if err := db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(store.BucketKeys).Put([]byte("agent"), []byte(`{"name":"agent"}`))
			}); err != nil {
				t.Fatal(err)
			}
		},
		after: func(t *testing.T, db *store.DB) {
			for _, b := range [][]byte{store.BucketUsage, store.BucketRollupsHour, store.BucketRollupsDay} {
				if !hasBucket(t, db, b) {
					t.Errorf("bucket %s missing after migration 3", b)
				}
			}
			for _, b := range [][]byte{store.BucketMeta, store.BucketSecrets, store.BucketAudit, store.BucketKeys} {
				if !hasBucket(t, db, b) {
					t.Errorf("migration 3 lost bucket %s", b)
				}
			}
			db.View(func(tx *bolt.Tx) error {
				if tx.Bucket(store.BucketKeys).Get([]byte("agent")) == nil {
					t.Error("migration 3 lost a virtual key record")
				}
				return nil
			})
		},
	},
	4: {
		before: func(t *testing.T, db *store.DB) {
			if hasBucket(t, db, store.BucketTemplates) {
				t.Error("templates bucket exists before migration 4")
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(store.BucketRollupsDay).Put([]byte("day"), []byte{1})
			}); err != nil {
				t.Fatal(err)
			}
		},
		after: func(t *testing.T, db *store.DB) {
			if !hasBucket(t, db, store.BucketTemplates) {
				t.Error("templates bucket missing after migration 4")
			}
			db.View(func(tx *bolt.Tx) error {
				if tx.Bucket(store.BucketRollupsDay).Get([]byte("day")) == nil {
					t.Error("migration 4 lost a rollup")
				}
				return nil
			})
		},
	},
}

func TestEachMigrationHasATest(t *testing.T) {
	if len(migrationChecks) != len(store.Migrations) {
		t.Errorf("%d migrations but %d migration tests; add a case to migrationChecks for every new migration",
			len(store.Migrations), len(migrationChecks))
	}
	for i, m := range store.Migrations {
		if m.Version != uint64(i+1) {
			t.Errorf("Migrations[%d] has version %d; want %d", i, m.Version, i+1)
		}
		if _, ok := migrationChecks[m.Version]; !ok {
			t.Errorf("migration %d (%s) has no case in migrationChecks", m.Version, m.Name)
		}
	}
}

func TestMigrations(t *testing.T) {
	for i, m := range store.Migrations {
		check, ok := migrationChecks[m.Version]
		if !ok {
			continue // reported by TestEachMigrationHasATest
		}
		t.Run(fmt.Sprintf("%d_%s", m.Version, m.Name), func(t *testing.T) {
			path := tempPath(t)
			db := mustOpen(t, path, store.Options{Migrations: store.Migrations[:i]})
			if v, _ := db.SchemaVersion(); v != uint64(i) {
				t.Fatalf("setup: schema version %d; want %d", v, i)
			}
			check.before(t, db)
			db.Close()

			db = mustOpen(t, path, store.Options{Migrations: store.Migrations[:i+1]})
			defer db.Close()
			if v, _ := db.SchemaVersion(); v != m.Version {
				t.Fatalf("schema version %d after migration; want %d", v, m.Version)
			}
			check.after(t, db)
		})
	}
}

// synthetic returns three migrations that record their runs in ran and
// each create a bucket named after their version.
func synthetic(ran *[]uint64) []store.Migration {
	mk := func(v uint64) store.Migration {
		return store.Migration{
			Version: v,
			Name:    fmt.Sprintf("synthetic %d", v),
			Up: func(tx *bolt.Tx) error {
				*ran = append(*ran, v)
				_, err := tx.CreateBucket([]byte(fmt.Sprintf("m%d", v)))
				return err
			},
		}
	}
	return []store.Migration{mk(1), mk(2), mk(3)}
}

func TestMigrationsAppliedInOrderFromOlderVersion(t *testing.T) {
	path := tempPath(t)
	var ran []uint64
	ms := synthetic(&ran)

	db := mustOpen(t, path, store.Options{Migrations: ms[:1]})
	if v, _ := db.SchemaVersion(); v != 1 {
		t.Fatalf("schema version %d; want 1", v)
	}
	db.Close()
	if fmt.Sprint(ran) != "[1]" {
		t.Fatalf("first open ran %v; want [1]", ran)
	}

	ran = nil
	db = mustOpen(t, path, store.Options{Migrations: ms})
	defer db.Close()
	if fmt.Sprint(ran) != "[2 3]" {
		t.Errorf("reopen ran %v; want [2 3] (only the pending ones, in order)", ran)
	}
	if v, _ := db.SchemaVersion(); v != 3 {
		t.Errorf("schema version %d; want 3", v)
	}
	for _, b := range []string{"m1", "m2", "m3"} {
		if !hasBucket(t, db, []byte(b)) {
			t.Errorf("bucket %s missing", b)
		}
	}
	db.Close()

	// A current file runs nothing.
	ran = nil
	db = mustOpen(t, path, store.Options{Migrations: ms})
	if len(ran) != 0 {
		t.Errorf("opening a current file ran %v; want nothing", ran)
	}
}

func TestFailingMigrationRollsBack(t *testing.T) {
	path := tempPath(t)
	var ran []uint64
	ms := synthetic(&ran)
	mustOpen(t, path, store.Options{Migrations: ms[:1]}).Close()

	boom := errors.New("boom")
	ms[2].Up = func(tx *bolt.Tx) error { return boom }
	_, err := store.Open(path, store.Options{Migrations: ms})
	if err == nil {
		t.Fatal("Open succeeded with a failing migration")
	}
	if !errors.Is(err, boom) {
		t.Errorf("error %v does not wrap the migration's error", err)
	}
	if !strings.Contains(err.Error(), "synthetic 3") {
		t.Errorf("error %q does not name the failing migration", err)
	}

	db := mustOpen(t, path, store.Options{Migrations: ms[:1]})
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != 1 {
		t.Errorf("schema version %d after a failed migration; want the old version 1", v)
	}
	if hasBucket(t, db, []byte("m2")) {
		t.Error("migration 2's bucket survived the failure of migration 3; the transaction did not roll back")
	}
	if !hasBucket(t, db, []byte("m1")) {
		t.Error("bucket m1 lost")
	}
}

func TestNewerSchemaAsksForUpgrade(t *testing.T) {
	path := tempPath(t)
	var ran []uint64
	ms := synthetic(&ran)
	mustOpen(t, path, store.Options{Migrations: ms}).Close()

	db, err := store.Open(path, store.Options{Migrations: ms[:1]})
	if err == nil {
		db.Close()
		t.Fatal("Open of a newer file succeeded")
	}
	for _, want := range []string{"upgrade credflow", "schema version 3", "up to 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestMisnumberedMigrationsRejected(t *testing.T) {
	var ran []uint64
	ms := synthetic(&ran)
	ms[1].Version = 5
	_, err := store.Open(tempPath(t), store.Options{Migrations: ms})
	if err == nil {
		t.Fatal("Open accepted a migration list with a gap")
	}
	if len(ran) != 0 {
		t.Errorf("ran %v despite a bad list", ran)
	}
}

func TestSecondOpenIsBusy(t *testing.T) {
	path := tempPath(t)
	holder := mustOpen(t, path, store.Options{Process: "credflow test-holder"})
	defer holder.Close()

	start := time.Now()
	db, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond, Process: "credflow second"})
	waited := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("a second Open of a held file succeeded")
	}
	if !errors.Is(err, store.ErrBusy) {
		t.Fatalf("error %v does not wrap ErrBusy", err)
	}
	for _, want := range []string{"'credflow test-holder'", fmt.Sprintf("pid %d", os.Getpid()), path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "no longer seems to run") {
		t.Errorf("error %q calls a live holder stale", err)
	}
	if waited < 150*time.Millisecond || waited > 5*time.Second {
		t.Errorf("second Open returned after %s; want about the 200ms timeout", waited)
	}
	// The failed opener must not have replaced the holder's note.
	if o, ok := store.ParseOwner(path); !ok || o.Process != "credflow test-holder" {
		t.Errorf("owner note is %+v, %v; want the holder's", o, ok)
	}
}

func TestOwnerFile(t *testing.T) {
	path := tempPath(t)
	before := time.Now().UTC().Add(-time.Second)
	db := mustOpen(t, path, store.Options{Process: "credflow secrets set"})
	o, ok := store.ParseOwner(path)
	if !ok {
		t.Fatal("no owner file while open")
	}
	if o.PID != os.Getpid() || o.Process != "credflow secrets set" || o.Since.Before(before) {
		t.Errorf("owner = %+v; want pid %d, process %q, since about now", o, os.Getpid(), "credflow secrets set")
	}
	if got := mode(t, path+".owner"); got != 0o600 {
		t.Errorf("owner file mode %#o; want 0600", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".owner"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file still there after Close (stat error %v)", err)
	}
}

func TestBusyWithStaleOwner(t *testing.T) {
	path := tempPath(t)
	holder := mustOpen(t, path, store.Options{Process: "credflow test-holder"})
	defer holder.Close()

	// A pid above Linux's maximum (2^22) never exists.
	const stalePID = 1<<22 + 12345
	data, _ := json.Marshal(store.Owner{PID: stalePID, Process: "credflow crashed", Since: time.Now()})
	if err := os.WriteFile(path+".owner", data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, store.ErrBusy) {
		t.Fatalf("error %v does not wrap ErrBusy", err)
	}
	for _, want := range []string{"'credflow crashed'", fmt.Sprintf("pid %d", stalePID), "no longer seems to run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestBusyWithoutOwnerFile(t *testing.T) {
	path := tempPath(t)
	holder := mustOpen(t, path, store.Options{})
	defer holder.Close()
	if err := os.Remove(path + ".owner"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrBusy) {
		t.Fatalf("error %v does not wrap ErrBusy", err)
	}
	if !strings.Contains(err.Error(), "another process") {
		t.Errorf("error %q; want it to fall back to \"another process\"", err)
	}
}

func TestItobBtoiSortable(t *testing.T) {
	vals := []uint64{0, 1, 255, 256, 1 << 32, 1<<64 - 1}
	for i, v := range vals {
		if got := store.Btoi(store.Itob(v)); got != v {
			t.Errorf("Btoi(Itob(%d)) = %d", v, got)
		}
		if i > 0 && string(store.Itob(vals[i-1])) >= string(store.Itob(v)) {
			t.Errorf("Itob(%d) does not sort before Itob(%d)", vals[i-1], v)
		}
	}
}
