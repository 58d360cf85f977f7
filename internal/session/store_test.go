package session

import (
	"bytes"
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
	bolt "go.etcd.io/bbolt"
)

func openTest(t *testing.T) (*Store, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	key := NewKey()
	s, err := Open(filepath.Join(dir, FileName), key, Options{Process: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir, key
}

func msg(role, text string) contextdoc.Item {
	return contextdoc.Item{Type: contextdoc.TypeMessage, Role: role, Content: []contextdoc.Part{contextdoc.TextPart(text)}}
}

func TestCommitAndGet(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	for turn := 0; turn < 3; turn++ {
		err := s.Commit(ctx, Change{Kind: KindSession, Owner: "alice", ID: "work",
			Append: []contextdoc.Item{msg("user", fmt.Sprintf("question %d", turn)), msg("assistant", fmt.Sprintf("answer %d", turn))},
			Update: func(th *Thread) { th.Model = "m"; th.Turns++ }})
		if err != nil {
			t.Fatal(err)
		}
	}
	th, items, err := s.Get(KindSession, "alice", "work")
	if err != nil {
		t.Fatal(err)
	}
	if th.Turns != 3 || th.Count != 6 || th.NextSeq != 6 || len(items) != 6 || items[4].Text() != "question 2" || items[5].ID == "" || items[5].Time == nil {
		t.Fatalf("%+v %+v", th, items)
	}
	// Another key's session of the same name is another session; asking
	// for alice's as bob finds nothing.
	if _, _, err := s.Get(KindSession, "bob", "work"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob sees alice's session: %v", err)
	}
	// Responses and conversations are found by id, and only by their owner.
	if err := s.Commit(ctx, Change{Kind: KindResponse, Owner: "alice", ID: "resp_1", Create: true, Append: []contextdoc.Item{msg("user", "hi")}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(KindResponse, "bob", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob sees alice's response: %v", err)
	}
	if err := s.Commit(ctx, Change{Kind: KindResponse, Owner: "bob", ID: "resp_1", Append: []contextdoc.Item{msg("user", "mine now")}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob wrote to alice's response: %v", err)
	}
	if err := s.Commit(ctx, Change{Kind: KindResponse, Owner: "alice", ID: "resp_1", Create: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("a second response with the same id: %v", err)
	}
}

// Concurrent commits to one thread all land, in some order, each item once.
func TestConcurrentCommits(t *testing.T) {
	s, _, _ := openTest(t)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Commit(context.Background(), Change{Kind: KindSession, Owner: "k", ID: "busy",
				Append: []contextdoc.Item{msg("user", fmt.Sprint(i))}, Update: func(th *Thread) { th.Turns++ }}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	th, items, err := s.Get(KindSession, "k", "busy")
	if err != nil || th.Turns != 40 || len(items) != 40 {
		t.Fatalf("%v %+v %d", err, th, len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.Text()] = true
	}
	if len(seen) != 40 {
		t.Fatalf("%d distinct items", len(seen))
	}
}

// The file holds no plaintext: not a sentence of a turn, not a session's
// name, not the owner's.
func TestNoPlaintextOnDisk(t *testing.T) {
	s, dir, _ := openTest(t)
	const secret = "the purple elephant sings at midnight in Reykjavik"
	err := s.Commit(context.Background(), Change{Kind: KindSession, Owner: "owner-zeta", ID: "project-kestrel",
		Append: []contextdoc.Item{msg("user", secret)}, Update: func(th *Thread) { th.Profile = map[string]string{"city": "Reykjavik-unique-city"} }})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if info == nil || info.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, needle := range []string{"purple elephant", "project-kestrel", "owner-zeta", "Reykjavik"} {
			if bytes.Contains(data, []byte(needle)) {
				t.Errorf("%s holds %q in the clear", p, needle)
			}
		}
		return nil
	})
}

// A record that does not decrypt is an error naming its thread; the other
// threads stay readable. A wrong data key reads nothing.
func TestDamagedRecordAndWrongKey(t *testing.T) {
	dir := t.TempDir()
	key := NewKey()
	path := filepath.Join(dir, FileName)
	s, err := Open(path, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"conv_a", "conv_b"} {
		if err := s.Commit(ctx, Change{Kind: KindConversation, Owner: "k", ID: id, Append: []contextdoc.Item{msg("user", "x"), msg("assistant", "y")}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Flip a byte of one item of conv_a.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		k := itemKey([]byte("cconv_a"), 1)
		v := append([]byte{}, tx.Bucket(bucketItems).Get(k)...)
		v[len(v)-1] ^= 0xff
		return tx.Bucket(bucketItems).Put(k, v)
	})
	db.Close()
	s, err = Open(path, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(KindConversation, "k", "conv_a")
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "conversation conv_a") || !strings.Contains(err.Error(), "item 1") {
		t.Fatalf("damaged item: %v", err)
	}
	if _, items, err := s.Get(KindConversation, "k", "conv_b"); err != nil || len(items) != 2 {
		t.Fatalf("the other conversation: %v %d", err, len(items))
	}
	s.Close()
	other, err := Open(path, NewKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, _, err := other.Get(KindConversation, "k", "conv_b"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("read with another key: %v", err)
	}
}

// Delete removes the items as well as the record, and Prune by age.
func TestDeleteAndPrune(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, FileName), NewKey(), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.Commit(ctx, Change{Kind: KindSession, Owner: "a", ID: "old", Append: []contextdoc.Item{msg("user", "1")}})
	now = now.Add(48 * time.Hour)
	s.Commit(ctx, Change{Kind: KindSession, Owner: "a", ID: "new", Append: []contextdoc.Item{msg("user", "2")}})
	s.Commit(ctx, Change{Kind: KindSession, Owner: "b", ID: "old-b", Append: []contextdoc.Item{msg("user", "3")}})
	n, err := s.Prune(func(owner string) time.Time {
		if owner == "a" {
			return now.Add(-24 * time.Hour)
		}
		return time.Time{} // b keeps everything
	})
	if err != nil || n != 1 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	list, _, _ := s.List(KindSession, "")
	if len(list) != 2 {
		t.Fatalf("%d sessions left", len(list))
	}
	if err := s.Delete(KindSession, "a", "new"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(KindSession, "a", "new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	var items int
	s.db.View(func(tx *bolt.Tx) error { items = tx.Bucket(bucketItems).Stats().KeyN; return nil })
	if items != 1 {
		t.Fatalf("%d items left in the file, want 1 (b's)", items)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	cost := int64(1234)
	err := s.Commit(ctx, Change{Kind: KindSession, Owner: "a", ID: "s1",
		Append: []contextdoc.Item{msg("user", "hi"), {Type: contextdoc.TypeFunctionCall, CallID: "c1", Name: "f", Arguments: `{"x":1}`},
			{Type: contextdoc.TypeFunctionCallOutput, CallID: "c1", Content: []contextdoc.Part{contextdoc.TextPart("42")}},
			{Type: contextdoc.TypeMessage, Role: "assistant", Content: []contextdoc.Part{contextdoc.TextPart("done")}, Model: "m",
				Usage: &contextdoc.Usage{InputTokens: 10, OutputTokens: 2, CostMicros: &cost}}},
		Update: func(th *Thread) {
			th.Policy, th.Profile = "summarize", map[string]string{"lang": "en"}
			th.Summary = &contextdoc.Summary{Text: "earlier", Through: 1}
		}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Export(KindSession, "a", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Import(ctx, "b", d, false); err != nil {
		t.Fatal(err)
	}
	d2, err := s.Export(KindSession, "b", "s1")
	if err != nil {
		t.Fatal(err)
	}
	d.Key, d.Created, d.Updated, d2.Created, d2.Updated = "b", time.Time{}, time.Time{}, time.Time{}, time.Time{}
	a, b := fmt.Sprintf("%+v", *d), fmt.Sprintf("%+v", *d2)
	if a != b {
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
	if err := s.Import(ctx, "b", d, false); !errors.Is(err, ErrExists) {
		t.Fatalf("import over an existing session: %v", err)
	}
	d.Items[1].Type = "wizardry"
	if err := s.Import(ctx, "b", d, true); err == nil || !strings.Contains(err.Error(), "items[1].type") {
		t.Fatalf("bad item: %v", err)
	}
}
