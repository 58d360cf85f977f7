package store

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestMigration2Keys upgrades a schema 1 file: the keys bucket appears,
// the version becomes 2, and what schema 1 held stays.
func TestMigration2Keys(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{Migrations: Migrations[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(); v != 1 {
		t.Fatalf("schema version %d; want 1", v)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(BucketKeys) != nil {
			t.Error("a schema 1 file has a keys bucket")
		}
		return tx.Bucket(BucketSecrets).Put([]byte("openai"), []byte(`{"name":"openai"}`))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(path, Options{Migrations: Migrations[:2]})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != 2 {
		t.Fatalf("schema version %d; want 2", v)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(BucketKeys) == nil {
			t.Error("no keys bucket after migration 2")
		}
		if tx.Bucket(BucketSecrets).Get([]byte("openai")) == nil {
			t.Error("migration 2 lost a secret record")
		}
		return nil
	})

	// Running it again on a current file changes nothing.
	if err := db.Update(migrate2); err != nil {
		t.Errorf("migration 2 is not idempotent: %v", err)
	}
}

// TestMigration2FreshFile checks that a new file gets every bucket.
func TestMigration2FreshFile(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{BucketMeta, BucketSecrets, BucketAudit, BucketKeys} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
}
