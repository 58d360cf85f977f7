package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/vault"
)

// memBackend keeps values in memory.
type memBackend map[string]string

func (memBackend) Name() string { return "file" }
func (m memBackend) Get(_ context.Context, item string) (string, error) {
	v, ok := m[item]
	if !ok {
		return "", fmt.Errorf("item %q: %w", item, vault.ErrNotFound)
	}
	return v, nil
}
func (m memBackend) Apply(_ context.Context, sets map[string]string, deletes []string) error {
	for k, v := range sets {
		m[k] = v
	}
	for _, k := range deletes {
		delete(m, k)
	}
	return nil
}
func (memBackend) Probe(context.Context) error { return nil }

// LoadKey makes the data key only when asked to, then reads back the same
// one; a key that was edited by hand is refused, never replaced.
func TestLoadKey(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	be := memBackend{}
	v := vault.New(db, be, vault.Options{})
	ctx := context.Background()
	if _, err := LoadKey(ctx, v, "test", false); !errors.Is(err, ErrNoKey) {
		t.Fatalf("without a key and create off: %v", err)
	}
	if _, err := v.Get(KeySecret); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a read made the key: %v", err)
	}
	k1, err := LoadKey(ctx, v, "test", true)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %v", err)
	}
	k2, err := LoadKey(ctx, v, "test", false)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := v.Rotate(ctx, KeySecret, base64.StdEncoding.EncodeToString([]byte("short")), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(ctx, v, "test", true); err == nil {
		t.Fatal("a bad key was accepted")
	}
}

func TestCheckNameAndKind(t *testing.T) {
	for _, ok := range []string{"work", "my project / day 2", "ünïcode", "x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "tab\there", "nl\n", strings.Repeat("a", MaxNameLen+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckName(%q) = %v", bad, err)
		}
	}
	if _, err := ParseKind("responses"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseKind(responses) = %v", err)
	}
}
