package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/credflow/credflow/internal/store"
)

// holdMain opens the data file as 'credflow serve' would, writes READY,
// holds the lock for SECONDS, then exits: credflow-hold READY SECONDS.
func holdMain() int {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: credflow-hold READY SECONDS")
		return 2
	}
	secs, err := strconv.ParseFloat(os.Args[2], 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir := filepath.Join(os.Getenv("XDG_DATA_HOME"), "credflow")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	db, err := store.Open(filepath.Join(dir, store.FileName), store.Options{Process: "credflow serve"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.WriteFile(os.Args[1], []byte("ready"), 0o600)
	time.Sleep(time.Duration(secs * float64(time.Second)))
	db.Close()
	return 0
}
