package store_test

import (
	"os"
	"testing"

	"github.com/credflow/credflow/internal/store"
)

// BenchmarkOpen is what every credflow command and every daemon admin
// operation pays to open the data file, checks included. It opens a fresh
// file, or the file named by CREDFLOW_BENCH_DB (a copy of a large data
// file, to check that the check stays bounded as the file grows).
func BenchmarkOpen(b *testing.B) {
	path := os.Getenv("CREDFLOW_BENCH_DB")
	if path == "" {
		path = tempPath(b)
		mustOpen(b, path, store.Options{}).Close()
	}
	for b.Loop() {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
