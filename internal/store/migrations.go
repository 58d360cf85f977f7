package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Migration moves the file from schema Version-1 to Version.
type Migration struct {
	Version uint64
	Name    string
	Up      func(tx *bolt.Tx) error
}

// Migrations is the ordered list applied by Open. Append only: a released
// migration is never edited, and each one has its own test.
var Migrations = []Migration{
	{Version: 1, Name: "create meta, secrets and audit buckets", Up: migrate1},
	{Version: 2, Name: "create keys bucket", Up: migrate2},
	{Version: 3, Name: "create usage and rollup buckets", Up: migrate3},
	{Version: 4, Name: "create templates bucket", Up: migrate4},
}

// LatestVersion is the schema version a migration list ends at.
func LatestVersion(ms []Migration) uint64 {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

func migrate1(tx *bolt.Tx) error {
	for _, name := range [][]byte{BucketMeta, BucketSecrets, BucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(BucketMeta)
	if meta.Get(keyCreated) == nil {
		return meta.Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339)))
	}
	return nil
}

// migrate2 adds the bucket of virtual keys (internal/keys).
func migrate2(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(BucketKeys)
	return err
}

// migrate3 adds the request ledger (internal/ledger): raw usage records
// and their hourly and daily rollups.
func migrate3(tx *bolt.Tx) error {
	for _, name := range [][]byte{BucketUsage, BucketRollupsHour, BucketRollupsDay} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// migrate4 adds the prompt templates (internal/templates).
func migrate4(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(BucketTemplates)
	return err
}

// migrate applies every pending migration in one transaction, so a crash
// leaves the file at its old version or its new one, never between.
func (db *DB) migrate(ms []Migration) error {
	for i, m := range ms {
		if m.Version != uint64(i+1) {
			return fmt.Errorf("internal error: migration %q has version %d, want %d", m.Name, m.Version, i+1)
		}
	}
	latest := LatestVersion(ms)
	var current uint64
	if err := db.View(func(tx *bolt.Tx) error { current = schemaVersion(tx); return nil }); err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("data file %s has schema version %d, but this credflow knows only up to %d; upgrade credflow (or point --data-dir elsewhere)", db.path, current, latest)
	}
	if current == latest {
		return nil
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, m := range ms[current:] {
			if err := m.Up(tx); err != nil {
				return fmt.Errorf("migrate data file to schema %d (%s): %w", m.Version, m.Name, err)
			}
		}
		meta, err := tx.CreateBucketIfNotExists(BucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keySchemaVersion, Itob(latest))
	})
}
