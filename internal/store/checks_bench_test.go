package store

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkChecks times the checks Open adds, alone: the header read and
// the bounded walk. CREDFLOW_BENCH_DB names a large data file to time them
// on (they must not grow with the file).
func BenchmarkChecks(b *testing.B) {
	path := os.Getenv("CREDFLOW_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), FileName)
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.Run("header", func(b *testing.B) {
		for b.Loop() {
			if p, err := checkHeader(path); p != "" || err != nil {
				b.Fatal(p, err)
			}
		}
	})
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := db.View(quickCheck); err != nil {
				b.Fatal(err)
			}
		}
	})
}
