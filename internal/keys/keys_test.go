package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t *testing.T) (*Service, *clock, *store.DB) {
	t.Helper()
	c := newClock()
	db := openDB(t)
	return New(db, Options{Now: c.Now, Process: "keys test"}), c, db
}

func mustCreate(t *testing.T, s *Service, name string, opts CreateOptions) (string, Key) {
	t.Helper()
	plain, k, err := s.Create(name, opts)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return plain, k
}

// authn builds an Authenticator over the service's records.
func authn(t *testing.T, s *Service, c *clock) *Authenticator {
	t.Helper()
	a := NewAuthenticator(c.Now)
	if err := s.Refresh(a); err != nil {
		t.Fatal(err)
	}
	return a
}

func wantAuthErr(t *testing.T, a *Authenticator, presented string, kind error, msg string) {
	t.Helper()
	k, err := a.Authenticate(presented)
	if k != nil || !errors.Is(err, kind) {
		t.Fatalf("Authenticate = %v, %v; want error %v", k, err, kind)
	}
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T is not an *AuthError", err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
	if len(presented) > len(KeyPrefix) && strings.Contains(err.Error(), presented[len(KeyPrefix):]) {
		t.Errorf("error %q contains the presented key", err)
	}
}

var keyRE = regexp.MustCompile(`^cf-[A-Za-z0-9_-]{32}$`)

func TestKeysFormat(t *testing.T) {
	s, _, _ := newService(t)
	a, ka := mustCreate(t, s, "a", CreateOptions{})
	b, _ := mustCreate(t, s, "b", CreateOptions{})
	for _, k := range []string{a, b} {
		if !keyRE.MatchString(k) {
			t.Errorf("key %q does not look like cf- and 32 base64url characters", k)
		}
	}
	if a == b {
		t.Fatal("two keys are equal")
	}
	if ka.Prefix != a[:7] || ka.Hash != HashKey(a) {
		t.Errorf("record prefix %q hash %x; want %q, %x", ka.Prefix, ka.Hash, a[:7], HashKey(a))
	}
}

// TestKeysHashOnlyStorage reads the whole data file: no key, current or
// rotated out, appears in it, only hashes.
func TestKeysHashOnlyStorage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	s := New(db, Options{Now: c.Now})
	first, _ := mustCreate(t, s, "agent", CreateOptions{Models: []string{"gpt-4o*"}})
	second, k, err := s.Rotate("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("agent", UpdateOptions{Models: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{first, second} {
		body := key[len(KeyPrefix):]
		if bytes.Contains(data, []byte(body)) {
			t.Errorf("the data file contains a key")
		}
	}
	for _, h := range []Hash{k.Hash, k.Previous} {
		if !bytes.Contains(data, []byte(hex.EncodeToString(h[:]))) {
			t.Errorf("the data file lacks hash %x", h)
		}
	}
}

func TestKeysHashJSON(t *testing.T) {
	k := Key{Name: "x", Hash: HashKey("cf-abc")}
	data, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "previous") || strings.Contains(string(data), "expires_at") || strings.Contains(string(data), "policy") {
		t.Errorf("unset fields are written: %s", data)
	}
	var back Key
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash != k.Hash {
		t.Errorf("hash did not round-trip: %s", data)
	}
	if err := json.Unmarshal([]byte(`{"hash":"abcd"}`), &back); err == nil {
		t.Error("a short hash was accepted")
	}
}

func TestKeysCreateErrors(t *testing.T) {
	s, _, _ := newService(t)
	mustCreate(t, s, "agent", CreateOptions{})
	for _, tc := range []struct {
		name string
		opts CreateOptions
		kind error
		msg  string
	}{
		{"agent", CreateOptions{}, ErrExists, `virtual key "agent" already exists (cf-`},
		{"bad name!", CreateOptions{}, ErrInvalidName, `key name "bad name!"`},
		{"", CreateOptions{}, ErrInvalidName, "use 1-64 letters"},
		{"x", CreateOptions{Models: []string{"gpt-[4]"}}, ErrInvalid, `model pattern "gpt-[4]" is invalid: '[' is not allowed`},
		{"x", CreateOptions{Models: []string{""}}, ErrInvalid, "empty model pattern"},
		{"x", CreateOptions{ExpiresIn: -time.Hour}, ErrInvalid, "must not be negative"},
		{"x", CreateOptions{ExpiresIn: MaxLifetime + 1}, ErrInvalid, "at most 100 years"},
	} {
		_, _, err := s.Create(tc.name, tc.opts)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Create(%q) = %v; want %v containing %q", tc.name, err, tc.kind, tc.msg)
		}
	}
	_, _, err := s.Create("agent", CreateOptions{})
	if !strings.Contains(err.Error(), "'credflow keys rotate agent'") {
		t.Errorf("duplicate error does not point to rotate: %v", err)
	}
	if _, err := s.Revoke("agent"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Create("agent", CreateOptions{})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "was revoked on 2026-11-27; names are not reused") {
		t.Errorf("reusing a revoked name: %v", err)
	}
}

func TestKeysListGet(t *testing.T) {
	s, _, _ := newService(t)
	if ks, err := s.List(); err != nil || len(ks) != 0 {
		t.Fatalf("List on an empty file = %v, %v", ks, err)
	}
	mustCreate(t, s, "zeta", CreateOptions{})
	mustCreate(t, s, "alpha", CreateOptions{Models: []string{"b*", "a*", "b*"}, ExpiresIn: 48 * time.Hour})
	ks, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].Name != "alpha" || ks[1].Name != "zeta" {
		t.Fatalf("List = %+v; want alpha, zeta", ks)
	}
	k, err := s.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Models, " ") != "b* a*" {
		t.Errorf("models %q; want duplicates dropped, order kept", k.Models)
	}
	if want := time.Date(2026, 11, 29, 9, 30, 0, 0, time.UTC); !k.ExpiresAt.Equal(want) {
		t.Errorf("expires %v; want %v", k.ExpiresAt, want)
	}
	_, err = s.Get("ghost")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `virtual key "ghost" not found; see 'credflow keys list'`) {
		t.Errorf("Get(ghost) = %v", err)
	}
	for _, fn := range []func() error{
		func() error { _, err := s.Revoke("ghost"); return err },
		func() error { _, _, err := s.Rotate("ghost", 0); return err },
		func() error { _, err := s.Update("ghost", UpdateOptions{Models: &[]string{}}); return err },
	} {
		if err := fn(); !errors.Is(err, ErrNotFound) {
			t.Errorf("on a missing key: %v; want ErrNotFound", err)
		}
	}
}

func TestKeysRevoke(t *testing.T) {
	s, c, _ := newService(t)
	plain, _ := mustCreate(t, s, "agent", CreateOptions{})
	old := plain
	plain, _, err := s.Rotate("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	k, err := s.Revoke("agent")
	if err != nil {
		t.Fatal(err)
	}
	if k.RevokedAt.IsZero() || !k.Previous.IsZero() {
		t.Errorf("revoked record %+v: want RevokedAt set and no previous key", k)
	}
	if got := k.Public(c.Now()).State; got != adminapi.KeyRevoked {
		t.Errorf("state %q; want revoked", got)
	}
	a := authn(t, s, c)
	wantAuthErr(t, a, plain, ErrRevoked, `virtual key "agent" was revoked on 2026-11-27; create a new one with 'credflow keys create NAME'`)
	// The old value, though in its grace period, stops too.
	wantAuthErr(t, a, old, ErrUnknownKey, "not a known credflow virtual key")

	if _, err := s.Revoke("agent"); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "already revoked on 2026-11-27") {
		t.Errorf("second revoke: %v", err)
	}
	if _, _, err := s.Rotate("agent", 0); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "cannot be rotated") {
		t.Errorf("rotate revoked: %v", err)
	}
	if _, err := s.Update("agent", UpdateOptions{Models: &[]string{}}); !errors.Is(err, ErrRevoked) {
		t.Errorf("update revoked: %v", err)
	}
}

func TestKeysExpiry(t *testing.T) {
	s, c, _ := newService(t)
	plain, _ := mustCreate(t, s, "temp", CreateOptions{ExpiresIn: time.Hour})
	a := authn(t, s, c)
	if k, err := a.Authenticate(plain); err != nil || k.Name != "temp" {
		t.Fatalf("Authenticate = %v, %v", k, err)
	}
	c.Add(time.Hour - time.Second)
	if _, err := a.Authenticate(plain); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.Add(time.Second)
	wantAuthErr(t, a, plain, ErrExpired, `virtual key "temp" expired on 2026-11-27 10:30 UTC; extend it with 'credflow keys update temp --expires 30d'`)
	k, err := s.Get("temp")
	if err != nil {
		t.Fatal(err)
	}
	if k.State(c.Now()) != adminapi.KeyExpired {
		t.Errorf("state %q; want expired", k.State(c.Now()))
	}

	// Extending revives it; 0 removes the expiry.
	d := 2 * time.Hour
	if _, err := s.Update("temp", UpdateOptions{ExpiresIn: &d}); err != nil {
		t.Fatal(err)
	}
	a = authn(t, s, c)
	if _, err := a.Authenticate(plain); err != nil {
		t.Fatalf("after extending: %v", err)
	}
	var never time.Duration
	k, err = s.Update("temp", UpdateOptions{ExpiresIn: &never})
	if err != nil || !k.ExpiresAt.IsZero() {
		t.Fatalf("Update(never) = %+v, %v", k, err)
	}
	c.Add(10 * 365 * 24 * time.Hour)
	a = authn(t, s, c)
	if _, err := a.Authenticate(plain); err != nil {
		t.Fatalf("without expiry: %v", err)
	}
}

func TestKeysRotateGrace(t *testing.T) {
	s, c, _ := newService(t)
	old, _ := mustCreate(t, s, "agent", CreateOptions{Models: []string{"mock/*"}, ExpiresIn: 30 * 24 * time.Hour})
	c.Add(time.Minute)
	cur, k, err := s.Rotate("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cur == old || k.Hash != HashKey(cur) || k.Previous != HashKey(old) || k.PreviousPrefix != old[:7] {
		t.Fatalf("rotated record %+v is wrong", k)
	}
	if len(k.Models) != 1 || k.ExpiresAt.IsZero() {
		t.Errorf("rotation changed models or expiry: %+v", k)
	}
	pub := k.Public(c.Now())
	if pub.PreviousPrefix != old[:7] || !pub.PreviousUntil.Equal(c.Now().Add(time.Hour)) {
		t.Errorf("public view %+v lacks the grace period", pub)
	}
	a := authn(t, s, c)
	if a.Len() != 1 {
		t.Errorf("Len = %d; want 1", a.Len())
	}
	for _, p := range []string{old, cur} {
		if got, err := a.Authenticate(p); err != nil || got.Name != "agent" {
			t.Fatalf("during grace: %v, %v", got, err)
		}
	}
	c.Add(time.Hour)
	wantAuthErr(t, a, old, ErrExpired, `this is the old value of virtual key "agent", rotated on 2026-11-27; it stopped working on 2026-11-27 10:31 UTC`)
	if _, err := a.Authenticate(cur); err != nil {
		t.Fatalf("new key after grace: %v", err)
	}
	if k.Public(c.Now()).PreviousPrefix != "" {
		t.Error("public view still shows an ended grace period")
	}

	// Grace 0 stops the old value at once; a value rotated out earlier
	// is dropped (one previous value only).
	third, k, err := s.Rotate("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fourth, k, err := s.Rotate("agent", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Previous.IsZero() {
		t.Errorf("grace 0 kept a previous key: %+v", k)
	}
	a = authn(t, s, c)
	for _, p := range []string{old, cur, third} {
		wantAuthErr(t, a, p, ErrUnknownKey, "not a known")
	}
	if _, err := a.Authenticate(fourth); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate("agent", -time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative grace: %v", err)
	}
}

func TestKeysAuthenticatorRefusals(t *testing.T) {
	s, c, _ := newService(t)
	mustCreate(t, s, "agent", CreateOptions{})
	a := authn(t, s, c)
	wantAuthErr(t, a, "", ErrMissingKey, "no virtual key presented; send a credflow key as 'Authorization: Bearer cf-...'")
	wantAuthErr(t, a, "sk-proj-0123456789abcdef", ErrUnknownKey, `not a credflow virtual key (those start with "cf-")`)
	unknown, _ := newKey()
	wantAuthErr(t, a, unknown, ErrUnknownKey, "not a known credflow virtual key")
	wantAuthErr(t, a, "cf-", ErrUnknownKey, "not a known")

	empty := NewAuthenticator(nil)
	wantAuthErr(t, empty, unknown, ErrUnknownKey, "not a known")
	if empty.Allowed(nil, "gpt-4o") {
		t.Error("a nil key is allowed a model")
	}
}

// TestKeysConstantTimePath checks that the lookup is confirmed by the
// hash comparison: an entry filed under the presented key's hash but
// holding another hash is refused.
func TestKeysConstantTimePath(t *testing.T) {
	a := NewAuthenticator(nil)
	presented, h := newKey()
	other, oh := newKey()
	k := &Key{Name: "x", Hash: oh, Prefix: other[:7]}
	a.snap.Store(&snapshot{byHash: map[Hash]entry{h: {hash: oh, key: k}}})
	wantAuthErr(t, a, presented, ErrUnknownKey, "not a known")
	a.snap.Store(&snapshot{byHash: map[Hash]entry{h: {hash: h, key: k}}})
	if got, err := a.Authenticate(presented); err != nil || got != k {
		t.Fatalf("Authenticate = %v, %v", got, err)
	}
}

func TestKeysAuthenticateNoAllocs(t *testing.T) {
	s, c, _ := newService(t)
	plain, _ := mustCreate(t, s, "agent", CreateOptions{Models: []string{"gpt-4o*", "claude-*"}})
	a := authn(t, s, c)
	allocs := testing.AllocsPerRun(100, func() {
		k, err := a.Authenticate(plain)
		if err != nil || !a.Allowed(k, "claude-sonnet-4") {
			t.Fatal("refused")
		}
		if _, err := a.Authenticate("cf-unknown"); err == nil {
			t.Fatal("accepted")
		}
	})
	if allocs != 0 {
		t.Errorf("Authenticate+Allowed allocate %v times per call; want 0", allocs)
	}
}

// TestKeysAuthenticatorConcurrent swaps the key set while requests are
// checked; run with -race.
func TestKeysAuthenticatorConcurrent(t *testing.T) {
	s, c, _ := newService(t)
	plain, _ := mustCreate(t, s, "agent", CreateOptions{})
	ks, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(c.Now)
	a.Load(ks)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if k, err := a.Authenticate(plain); err != nil || k.Name != "agent" {
					t.Errorf("Authenticate = %v, %v", k, err)
					return
				}
			}
		})
	}
	for range 200 {
		a.Load(ks)
	}
	// Load copies: changing the caller's slice changes nothing.
	ks[0].Name = "changed"
	close(stop)
	wg.Wait()
	if k, _ := a.Authenticate(plain); k.Name != "agent" {
		t.Errorf("Load did not copy the records: %q", k.Name)
	}
}

func TestKeysAllowed(t *testing.T) {
	all := &Key{}
	some := &Key{Models: []string{"gpt-4o*", "claude-*", "mock/*", "o?-mini"}}
	for _, tc := range []struct {
		key   *Key
		model string
		want  bool
	}{
		{all, "anything/at-all", true},
		{some, "gpt-4o", true},
		{some, "gpt-4o-mini-2024-07-18", true},
		{some, "gpt-4", false},
		{some, "claude-sonnet-4-5", true},
		{some, "claude", false},
		{some, "mock/echo", true},
		{some, "mock/a/b", true},
		{some, "mock", false},
		{some, "o3-mini", true},
		{some, "o3-mini-high", false},
		{some, "", false},
	} {
		if got := tc.key.Allows(tc.model); got != tc.want {
			t.Errorf("%v.Allows(%q) = %v; want %v", tc.key.Models, tc.model, got, tc.want)
		}
	}
}

func TestKeysMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, model string
		want           bool
	}{
		{"*", "", true},
		{"*", "openrouter/anthropic/claude", true},
		{"", "", true},
		{"", "a", false},
		{"a", "a", true},
		{"a", "A", false},
		{"a*b", "ab", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"a*b*c", "abbbcbc", true},
		{"a*b*c", "abbbcb", false},
		{"*-mini", "gpt-4o-mini", true},
		{"*mini*", "gpt-4o-mini-2024", true},
		{"?", "", false},
		{"??", "ab", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"openrouter/*", "openrouter/meta/llama-3", true},
		{"**", "x", true},
		{"*a*a*a*a*b", strings.Repeat("a", 60), false},
	} {
		if got := Match(tc.pattern, tc.model); got != tc.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tc.pattern, tc.model, got, tc.want)
		}
	}
}

func TestKeysCheckPattern(t *testing.T) {
	for _, p := range []string{"gpt-4o*", "claude-*", "mock/*", "llama3:8b", "claude-3-5-sonnet@20240620", "a+b", "o?-mini", "*"} {
		if err := CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "gpt 4", "gpt-[4]", `a\b`, "a{b,c}", "é*", strings.Repeat("a", 201), "a\n"} {
		if err := CheckPattern(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckPattern(%q) = %v; want ErrInvalid", p, err)
		}
	}
}

func TestKeysUpdate(t *testing.T) {
	s, _, _ := newService(t)
	mustCreate(t, s, "agent", CreateOptions{Models: []string{"gpt-4o*"}})
	k, err := s.Update("agent", UpdateOptions{Models: &[]string{"claude-*", "mock/*"}})
	if err != nil || strings.Join(k.Models, " ") != "claude-* mock/*" || !k.ExpiresAt.IsZero() {
		t.Fatalf("Update(models) = %+v, %v", k, err)
	}
	k, err = s.Update("agent", UpdateOptions{Models: &[]string{}})
	if err != nil || len(k.Models) != 0 || !k.Allows("anything") {
		t.Fatalf("Update(all models) = %+v, %v", k, err)
	}
	if _, err := s.Update("agent", UpdateOptions{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "nothing to update") {
		t.Errorf("empty update: %v", err)
	}
	if _, err := s.Update("agent", UpdateOptions{Models: &[]string{"a b"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad pattern: %v", err)
	}
	neg := -time.Hour
	if _, err := s.Update("agent", UpdateOptions{ExpiresIn: &neg}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative expiry: %v", err)
	}
}

func TestKeysAudit(t *testing.T) {
	s, _, db := newService(t)
	first, _ := mustCreate(t, s, "agent", CreateOptions{Models: []string{"gpt-4o*"}, ExpiresIn: 24 * time.Hour})
	second, _, err := s.Rotate("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := 48 * time.Hour
	if _, err := s.Update("agent", UpdateOptions{ExpiresIn: &d}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke("agent"); err != nil {
		t.Fatal(err)
	}
	// Refused changes leave no record.
	s.Revoke("agent")
	s.Create("agent", CreateOptions{})
	entries, err := audit.Query(db, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action)
		if e.Secret != "agent" || e.Process != "keys test" || !e.Time.Equal(newClock().Now()) {
			t.Errorf("entry %+v: want key name, process and clock time", e)
		}
		for _, k := range []string{first, second} {
			if strings.Contains(e.Detail, k[len(KeyPrefix):]) {
				t.Errorf("audit detail %q contains a key", e.Detail)
			}
		}
	}
	if want := "key-create key-rotate key-update key-revoke"; strings.Join(got, " ") != want {
		t.Errorf("actions %q; want %q", got, want)
	}
	if d := entries[0].Detail; d != "virtual key for models gpt-4o*; expires 2026-11-28 09:30 UTC" {
		t.Errorf("create detail %q", d)
	}
	if d := entries[1].Detail; d != "virtual key rotated; the old key is accepted until 2026-11-27 10:30 UTC" {
		t.Errorf("rotate detail %q", d)
	}
}

// BenchmarkAuthenticate is the daemon's per-request cost among 10,000
// keys: one SHA-256, one map lookup, one compare.
func BenchmarkAuthenticate(b *testing.B) {
	var ks []Key
	var plain string
	for i := range 10000 {
		p, h := newKey()
		ks = append(ks, Key{Name: "k" + string(rune('a'+i%26)), Hash: h, Prefix: p[:7], Models: []string{"gpt-4o*", "claude-*"}})
		plain = p
	}
	a := NewAuthenticator(nil)
	a.Load(ks)
	b.ReportAllocs()
	for b.Loop() {
		k, err := a.Authenticate(plain)
		if err != nil || !a.Allowed(k, "claude-sonnet-4") {
			b.Fatal("refused")
		}
	}
}
