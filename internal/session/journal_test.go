package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// openNoFlush opens a store whose journal is never applied on its own
// (an hour between flushes), so a test decides what the file holds.
func openNoFlush(t *testing.T, path string, key []byte) *Store {
	t.Helper()
	s, err := Open(path, key, Options{Process: "test", FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crash stops a store as kill -9 would leave it: what was acknowledged is
// in the journal, nothing more is applied or removed.
func crash(s *Store) {
	close(s.closed)
	s.wg.Wait()
	s.jnl.f.Close()
	s.db.Close()
}

func texts(items []contextdoc.Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Text())
	}
	return strings.Join(out, "|")
}

// Every acknowledged commit survives a crash before the journal reached
// the file: sessions appended to, a replaced one, a deleted one, a
// conversation, and concurrent writers; the next open replays the
// journal and removes it.
func TestJournalSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	key := NewKey()
	ctx := context.Background()
	s := openNoFlush(t, path, key)
	for i := 0; i < 3; i++ {
		if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", fmt.Sprint("q", i)), msg("assistant", fmt.Sprint("a", i))},
			Update: func(th *Thread) { th.Turns++ }}); err != nil {
			t.Fatal(err)
		}
	}
	// Applied to the file, then more on top, journaled only.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", "q3")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "b", Append: []contextdoc.Item{msg("user", "old")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "b", Replace: true, Append: []contextdoc.Item{msg("user", "new")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindConversation, Owner: "k", ID: "conv_x", Create: true, Append: []contextdoc.Item{msg("user", "c0")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "gone", Append: []contextdoc.Item{msg("user", "x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(KindSession, "k", "gone"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: fmt.Sprint("w", w), Append: []contextdoc.Item{msg("user", fmt.Sprint(i))}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// A refused commit leaves nothing behind.
	if err := s.Commit(ctx, Change{Kind: KindConversation, Owner: "k", ID: "conv_x", Create: true, Append: []contextdoc.Item{msg("user", "dup")}}); !errors.Is(err, ErrExists) {
		t.Fatalf("a second create: %v", err)
	}
	if fi, err := os.Stat(path + journalSuffix); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the journal before the crash: %v %v", fi, err)
	}
	crash(s)

	s = openNoFlush(t, path, key)
	defer s.Close()
	if _, err := os.Stat(path + journalSuffix); err != nil {
		t.Fatalf("a fresh journal: %v", err)
	}
	th, items, err := s.Get(KindSession, "k", "a")
	if err != nil || texts(items) != "q0|a0|q1|a1|q2|a2|q3" || th.Turns != 3 || th.Count != 7 {
		t.Fatalf("session a: %v %q %+v", err, texts(items), th)
	}
	if _, items, err := s.Get(KindSession, "k", "b"); err != nil || texts(items) != "new" {
		t.Fatalf("replaced session b: %v %q", err, texts(items))
	}
	if _, items, err := s.Get(KindConversation, "k", "conv_x"); err != nil || texts(items) != "c0" {
		t.Fatalf("conversation: %v %q", err, texts(items))
	}
	if _, _, err := s.Get(KindSession, "k", "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted session came back: %v", err)
	}
	for w := 0; w < 8; w++ {
		if _, items, err := s.Get(KindSession, "k", fmt.Sprint("w", w)); err != nil || texts(items) != "0|1|2|3|4|5|6|7|8|9" {
			t.Fatalf("writer %d: %v %q", w, err, texts(items))
		}
	}
	// Listing sees what is only journaled, too.
	s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "late", Append: []contextdoc.Item{msg("user", "l")}})
	list, _, err := s.List(KindSession, "k")
	if err != nil || len(list) != 11 { // a, b, w0…w7, late
		t.Fatalf("list: %v %d", err, len(list))
	}
}

// A record cut short (power lost mid-write) ends the replay: the
// complete records before it are applied, the file opens.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	key := NewKey()
	s := openNoFlush(t, path, key)
	for i := 0; i < 3; i++ {
		if err := s.Commit(context.Background(), Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	crash(s)
	data, err := os.ReadFile(path + journalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the last record in half; then also a damaged byte in it.
	payloads, torn, _ := readJournal(path + journalSuffix)
	if len(payloads) != 3 || torn {
		t.Fatalf("%d records, torn %v", len(payloads), torn)
	}
	last := 8 + len(payloads[2])
	cut := data[:len(data)-last/2]
	if err := os.WriteFile(path+journalSuffix, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, torn, _ := readJournal(path + journalSuffix); len(p) != 2 || !torn {
		t.Fatalf("cut: %d records, torn %v", len(p), torn)
	}
	bad := append([]byte{}, data...)
	bad[len(bad)-3] ^= 0xff
	if err := os.WriteFile(path+applyingSuffix, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, torn, _ := readJournal(path + applyingSuffix); len(p) != 2 || !torn {
		t.Fatalf("damaged: %d records, torn %v", len(p), torn)
	}
	// Both files replay (the one being applied first), each up to its
	// bad record: the same two records twice, which changes nothing.
	s = openNoFlush(t, path, key)
	defer s.Close()
	if _, items, err := s.Get(KindSession, "k", "a"); err != nil || texts(items) != "0|1" {
		t.Fatalf("after a torn tail: %v %q", err, texts(items))
	}
}

// A crash while the journal is being applied (moved aside, not yet in
// the file) loses nothing: the journal moved aside replays before the
// newer one, so the newer records win.
func TestJournalCrashWhileApplying(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	key := NewKey()
	ctx := context.Background()
	s := openNoFlush(t, path, key)
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", "first")}, Update: func(th *Thread) { th.Model = "old" }}); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Lock()
	if err := s.jnl.rotate(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Unlock()
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", "second")}, Update: func(th *Thread) { th.Model = "new" }}); err != nil {
		t.Fatal(err)
	}
	crash(s)
	s = openNoFlush(t, path, key)
	defer s.Close()
	th, items, err := s.Get(KindSession, "k", "a")
	if err != nil || texts(items) != "first|second" || th.Model != "new" || th.NextSeq != 2 {
		t.Fatalf("%v %q %+v", err, texts(items), th)
	}
	for _, p := range []string{path + applyingSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
}

// A graceful close applies everything and leaves no journal.
func TestCloseAppliesJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	key := NewKey()
	s := openNoFlush(t, path, key)
	if err := s.Commit(context.Background(), Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", "kept")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + journalSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal after Close: %v", err)
	}
	s = openNoFlush(t, path, key)
	defer s.Close()
	if _, items, err := s.Get(KindSession, "k", "a"); err != nil || texts(items) != "kept" {
		t.Fatalf("%v %q", err, texts(items))
	}
}

// Threads with journaled changes stay cached (pinned) whatever the cache's
// limit, so reads see them; once applied they may be evicted and are read
// from the file.
func TestPinnedUntilApplied(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	s, err := Open(path, NewKey(), Options{Process: "test", FlushInterval: time.Hour, CacheBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: fmt.Sprint("s", i), Append: []contextdoc.Item{msg("user", strings.Repeat("x", 100))}}); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	cached := len(s.cache)
	s.mu.Unlock()
	if cached != 20 {
		t.Fatalf("%d of 20 threads with journaled changes cached", cached)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	cached, over := len(s.cache), s.bytes > s.limit
	s.mu.Unlock()
	if cached >= 20 || over {
		t.Fatalf("after applying, %d threads cached, over the limit %v", cached, over)
	}
	for i := 0; i < 20; i++ {
		if _, items, err := s.Get(KindSession, "k", fmt.Sprint("s", i)); err != nil || len(items) != 1 {
			t.Fatalf("s%d: %v", i, err)
		}
	}
}

// A change that must find its thread does not make one: a delete between
// a check and a commit is not undone.
func TestMustExist(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", MustExist: true, Update: func(th *Thread) { th.Policy = "window" }}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing thread: %v", err)
	}
	if _, _, err := s.Get(KindSession, "k", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused change made the thread: %v", err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", Append: []contextdoc.Item{msg("user", "x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Change{Kind: KindSession, Owner: "k", ID: "a", MustExist: true, Update: func(th *Thread) { th.Policy = "window" }}); err != nil {
		t.Fatal(err)
	}
	if th, _, _ := s.Get(KindSession, "k", "a"); th.Policy != "window" {
		t.Fatalf("policy %q", th.Policy)
	}
}
