package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
	"github.com/zalando/go-keyring"
)

// backends returns every backend the vault's tests run against: the file
// backend always; the real OS keychain when CREDFLOW_TEST_KEYCHAIN=1 (under
// scripts/with-secret-service.sh), failing if it does not answer; and
// go-keyring's in-memory mock otherwise, so the keychain code path is still
// exercised.
func backends(t *testing.T) map[string]func(t *testing.T) Backend {
	return map[string]func(t *testing.T) Backend{
		"file": func(t *testing.T) Backend {
			return &File{Path: filepath.Join(t.TempDir(), "vault.age"), WorkFactor: 10,
				Passphrase: func(bool) (string, error) { return "test passphrase", nil }}
		},
		"keychain": func(t *testing.T) Backend {
			b := make([]byte, 6)
			rand.Read(b)
			k := &Keychain{Service: "credflow-unit-" + hex.EncodeToString(b), Timeout: 5 * time.Second}
			if os.Getenv("CREDFLOW_TEST_KEYCHAIN") == "1" {
				if err := k.Probe(context.Background()); err != nil {
					t.Fatalf("CREDFLOW_TEST_KEYCHAIN=1 but the keychain does not answer: %v", err)
				}
				t.Cleanup(func() { keyring.DeleteAll(k.Service) })
			} else {
				keyring.MockInit()
			}
			return k
		},
	}
}

func TestBackendContract(t *testing.T) {
	ctx := context.Background()
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			if err := be.Probe(ctx); err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if _, err := be.Get(ctx, "a@v1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get missing: err = %v, want ErrNotFound", err)
			}
			if err := be.Apply(ctx, map[string]string{"a@v1": "one", "b@v1": "two"}, nil); err != nil {
				t.Fatal(err)
			}
			if v, err := be.Get(ctx, "a@v1"); err != nil || v != "one" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if err := be.Apply(ctx, map[string]string{"a@v2": "three"}, []string{"b@v1", "never-there"}); err != nil {
				t.Fatalf("Apply with a missing delete: %v", err)
			}
			if _, err := be.Get(ctx, "b@v1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted item still readable: %v", err)
			}
			if v, _ := be.Get(ctx, "a@v2"); v != "three" {
				t.Fatalf("a@v2 = %q", v)
			}
		})
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newVault(t *testing.T, be Backend, keep int) (*Vault, *store.DB, *clock) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	return New(db, be, Options{Grace: time.Hour, KeepRetired: keep, Process: "test", Now: c.now}), db, c
}

func states(t *testing.T, v *Vault, name string) string {
	t.Helper()
	s, err := v.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, ver := range s.Versions {
		parts = append(parts, string(ver.State))
	}
	return strings.Join(parts, ",")
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			v, db, c := newVault(t, be, 1)
			if _, err := v.Set(ctx, "openai", "sk-one", Meta{Provider: "openai"}); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Set(ctx, "openai", "sk-dup", Meta{}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "credflow secrets rotate openai") {
				t.Fatalf("second Set: %v", err)
			}
			if _, err := v.Set(ctx, "x", "", Meta{}); !errors.Is(err, ErrValueEmpty) {
				t.Fatalf("empty value: %v", err)
			}
			if _, err := v.Set(ctx, "-bad", "v", Meta{}); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("bad name: %v", err)
			}

			res, err := v.Rotate(ctx, "openai", "sk-two", -1)
			if err != nil {
				t.Fatal(err)
			}
			if res.New.N != 2 || res.Previous.State != StateGrace || !res.Previous.GraceUntil.Equal(c.t.Add(time.Hour)) {
				t.Fatalf("rotate result: %+v", res)
			}
			if got := states(t, v, "openai"); got != "grace,active" {
				t.Fatalf("after rotate: %s", got)
			}
			// The grace version is still readable; the active one is the new value.
			if val, _, _ := v.Reveal(ctx, "openai", 1); val != "sk-one" {
				t.Fatalf("grace value = %q", val)
			}
			if got, _ := v.Resolve(ctx, map[string]string{"K": "openai"}, "exec test"); got["K"] != "sk-two" {
				t.Fatalf("Resolve = %q", got["K"])
			}

			// Grace ends: retired on the next housekeeping, value kept.
			c.advance(time.Hour)
			if err := v.Housekeep(ctx); err != nil {
				t.Fatal(err)
			}
			if got := states(t, v, "openai"); got != "retired,active" {
				t.Fatalf("after grace: %s", got)
			}
			// Another rotation with no grace: v2 retired at once; keep_retired=1
			// destroys v1 and deletes its value from the backend.
			if _, err := v.Rotate(ctx, "openai", "sk-three", 0); err != nil {
				t.Fatal(err)
			}
			if got := states(t, v, "openai"); got != "destroyed,retired,active" {
				t.Fatalf("after second rotate: %s", got)
			}
			if _, err := be.Get(ctx, "openai@v1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("destroyed value still in backend: %v", err)
			}
			if _, _, err := v.Reveal(ctx, "openai", 1); !errors.Is(err, ErrVersionMissing) {
				t.Fatalf("reveal destroyed: %v", err)
			}

			// Rollback to the newest earlier version with a value.
			from, to, err := v.Rollback(ctx, "openai", 0)
			if err != nil || from.N != 3 || to.N != 2 {
				t.Fatalf("rollback: from %d to %d, %v", from.N, to.N, err)
			}
			if got, _ := v.Resolve(ctx, map[string]string{"K": "openai"}, "exec test"); got["K"] != "sk-two" {
				t.Fatalf("after rollback Resolve = %q", got["K"])
			}
			if _, _, err := v.Rollback(ctx, "openai", 1); !errors.Is(err, ErrVersionMissing) {
				t.Fatalf("rollback to destroyed: %v", err)
			}

			// Remove: not the active version; then the whole secret.
			if err := v.Remove(ctx, "openai", 2); !errors.Is(err, ErrActiveVersion) {
				t.Fatalf("remove active: %v", err)
			}
			if err := v.Remove(ctx, "openai", 3); err != nil {
				t.Fatal(err)
			}
			if err := v.Remove(ctx, "openai", 0); err != nil {
				t.Fatal(err)
			}
			for _, item := range []string{"openai@v2", "openai@v3"} {
				if _, err := be.Get(ctx, item); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s still in backend after rm: %v", item, err)
				}
			}
			if _, err := v.Get("openai"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after rm: %v", err)
			}

			// The audit log has every step, in order, and no value.
			entries, err := audit.Query(db, audit.Filter{Secret: "openai"})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range entries {
				actions = append(actions, e.Action)
				if e.Process != "test" || e.PID != os.Getpid() {
					t.Fatalf("audit entry without process: %+v", e)
				}
			}
			want := "set,rotate,reveal,exec,retire,rotate,destroy,rollback,exec,rm,rm"
			if got := strings.Join(actions, ","); got != want {
				t.Fatalf("audit actions\n got %s\nwant %s", got, want)
			}
			db.Close()
			raw, err := os.ReadFile(db.Path())
			if err != nil {
				t.Fatal(err)
			}
			for _, val := range []string{"sk-one", "sk-two", "sk-three"} {
				if bytes.Contains(raw, []byte(val)) {
					t.Fatalf("value %q found in the data file", val)
				}
			}
		})
	}
}

func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	keyring.MockInit()
	be := &Keychain{Service: "credflow-import-test", Timeout: time.Second}
	v, _, _ := newVault(t, be, 3)
	if _, err := v.Set(ctx, "taken", "x", Meta{}); err != nil {
		t.Fatal(err)
	}
	_, err := v.Import(ctx, []ImportEntry{
		{Name: "fresh", Value: "1", Meta: Meta{EnvVar: "FRESH"}},
		{Name: "taken", Value: "2", Meta: Meta{EnvVar: "TAKEN"}},
	}, ".env")
	if !errors.Is(err, ErrExists) {
		t.Fatalf("import over an existing name: %v", err)
	}
	if _, err := v.Get("fresh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial import stored fresh: %v", err)
	}
	if _, err := be.Get(ctx, "fresh@v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial import wrote the backend: %v", err)
	}
	out, err := v.Import(ctx, []ImportEntry{{Name: "fresh", Value: "1"}, {Name: "other", Value: "2"}}, ".env")
	if err != nil || len(out) != 2 {
		t.Fatalf("import: %v", err)
	}
}

func TestFileBackend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.age")
	pass := func(p string) func(bool) (string, error) {
		return func(bool) (string, error) { return p, nil }
	}
	f := &File{Path: path, WorkFactor: 10, Passphrase: pass("right")}
	if created, err := f.Create(ctx); err != nil || !created {
		t.Fatalf("Create: %v %v", created, err)
	}
	if err := f.Apply(ctx, map[string]string{"k@v1": "PLAINTEXT-MARKER"}, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vault file mode: %v %v", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("PLAINTEXT-MARKER")) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Fatal("vault file is not an age file or holds the plaintext")
	}
	// No temporary files are left behind by the atomic write.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only vault.age", len(entries))
	}
	// A new process (new instance) reads it with the right passphrase...
	g := &File{Path: path, Passphrase: pass("right")}
	if v, err := g.Get(ctx, "k@v1"); err != nil || v != "PLAINTEXT-MARKER" {
		t.Fatalf("reopen: %q %v", v, err)
	}
	// ...and a wrong one gets a sentence, not age's internals.
	h := &File{Path: path, Passphrase: pass("hunter2-not-it")}
	_, err = h.Get(ctx, "k@v1")
	if !errors.Is(err, ErrBadPassphrase) || !strings.Contains(err.Error(), "CREDFLOW_VAULT_PASSPHRASE") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2-not-it") {
		t.Fatal("error repeats the passphrase")
	}
	// No passphrase source at all.
	n := &File{Path: path}
	if _, err := n.Get(ctx, "k@v1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no passphrase: %v", err)
	}
	// A damaged file is reported as such.
	os.WriteFile(path, []byte("garbage"), 0o600)
	d := &File{Path: path, Passphrase: pass("right")}
	if _, err := d.Get(ctx, "k@v1"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("damaged: %v", err)
	}
}

func TestKeychainErrors(t *testing.T) {
	ctx := context.Background()
	k := &Keychain{Service: "svc", Timeout: 50 * time.Millisecond}

	// A keychain call that never returns is cut off with advice.
	start := time.Now()
	err := k.call(ctx, "read", "x", func() error { time.Sleep(2 * time.Second); return nil })
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "credflow init --backend file") {
		t.Fatalf("hung call: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("timeout not applied")
	}

	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	err = k.Apply(ctx, map[string]string{"big@v1": strings.Repeat("x", 4000)}, nil)
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "2,560 bytes") {
		t.Fatalf("too big: %v", err)
	}
	keyring.MockInitWithError(errors.New("org.freedesktop.DBus.Error.ServiceUnknown"))
	err = k.Probe(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "Secret Service") {
		t.Fatalf("no service: %v", err)
	}
	keyring.MockInit()
}
