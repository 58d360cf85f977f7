// Package vault owns credflow's secrets: named credentials with versions,
// one active at a time, rotated with a grace period, retired, rolled back
// and removed, every step audited.
//
// Values live only in a Backend (the OS keychain or an age-encrypted file),
// one backend item per version ("NAME@vN"). Names, versions, states and
// dates live in the data file (store.BucketSecrets). Every operation writes
// the backend first and the metadata second, so a crash between the two
// leaves at worst an orphaned value or a version whose value is missing,
// never metadata that points at a value credflow believes deleted.
//
// The data file's lock serialises whole operations across processes: a
// command holds it from its first read to its last write.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// State is where a version is in its life.
type State string

// Version states. Active is the one in use; Grace is a rotated-out version
// still usable until GraceUntil; Retired is kept only for rollback;
// Destroyed has had its value deleted from the backend.
const (
	StateActive    State = "active"
	StateGrace     State = "grace"
	StateRetired   State = "retired"
	StateDestroyed State = "destroyed"
)

// Version is one value of a secret. It never holds the value.
type Version struct {
	N           int       `json:"version"`
	State       State     `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	GraceUntil  time.Time `json:"grace_until,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	DestroyedAt time.Time `json:"destroyed_at,omitzero"`
}

// HasValue reports whether the backend still holds this version's value.
func (v Version) HasValue() bool { return v.State != StateDestroyed }

// Meta is optional, descriptive information about a secret.
type Meta struct {
	Provider string `json:"provider,omitempty"`
	Note     string `json:"note,omitempty"`
	EnvVar   string `json:"env_var,omitempty"`
}

// Secret is a named credential's metadata and version list.
type Secret struct {
	Name string `json:"name"`
	Meta
	Backend   string    `json:"backend"`
	CreatedAt time.Time `json:"created_at"`
	Versions  []Version `json:"versions"`
}

// Active returns the active version, if any.
func (s *Secret) Active() (Version, bool) {
	for _, v := range s.Versions {
		if v.State == StateActive {
			return v, true
		}
	}
	return Version{}, false
}

// Version returns version n.
func (s *Secret) Version(n int) (Version, bool) {
	for _, v := range s.Versions {
		if v.N == n {
			return v, true
		}
	}
	return Version{}, false
}

func (s *Secret) set(v Version) {
	for i := range s.Versions {
		if s.Versions[i].N == v.N {
			s.Versions[i] = v
			return
		}
	}
	s.Versions = append(s.Versions, v)
}

func (s *Secret) latest() int {
	n := 0
	for _, v := range s.Versions {
		n = max(n, v.N)
	}
	return n
}

// Options configure a Vault.
type Options struct {
	// Grace is the default time a rotated-out version stays usable.
	Grace time.Duration
	// KeepRetired is how many retired versions keep their values.
	KeepRetired int
	// Process names the caller in audit records ("credflow secrets rotate").
	Process string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Vault is the secrets service over a data file and a backend.
type Vault struct {
	db  *store.DB
	be  Backend
	opt Options
	mu  sync.Mutex
}

// New returns a Vault. It does not contact the backend.
func New(db *store.DB, be Backend, opt Options) *Vault {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Vault{db: db, be: be, opt: opt}
}

// Backend is the store of values.
func (v *Vault) Backend() Backend { return v.be }

func itemName(name string, n int) string { return fmt.Sprintf("%s@v%d", name, n) }

func (v *Vault) now() time.Time { return v.opt.Now().UTC().Truncate(time.Second) }

// CheckName validates a secret name.
func CheckName(name string) error {
	if !config.NameRE.MatchString(name) {
		return fmt.Errorf("%w: secret name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("secret %q %w; see 'credflow secrets list', or add it with 'credflow secrets set %s'", name, ErrNotFound, name)
}

// Get returns a secret's metadata.
func (v *Vault) Get(name string) (*Secret, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var s *Secret
	err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		s, err = load(tx, name)
		return err
	})
	return s, err
}

func load(tx *bolt.Tx, name string) (*Secret, error) {
	data := tx.Bucket(store.BucketSecrets).Get([]byte(name))
	if data == nil {
		return nil, notFound(name)
	}
	var s Secret
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("metadata of secret %q is damaged: %w", name, err)
	}
	return &s, nil
}

func save(tx *bolt.Tx, s *Secret) error {
	sort.Slice(s.Versions, func(i, j int) bool { return s.Versions[i].N < s.Versions[j].N })
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Bucket(store.BucketSecrets).Put([]byte(s.Name), data)
}

// commit writes secrets (nil entries are deleted by name) and audit entries
// in one transaction.
func (v *Vault) commit(secrets map[string]*Secret, entries []audit.Entry) error {
	return v.db.Update(func(tx *bolt.Tx) error {
		for name, s := range secrets {
			if s == nil {
				if err := tx.Bucket(store.BucketSecrets).Delete([]byte(name)); err != nil {
					return err
				}
				continue
			}
			if err := save(tx, s); err != nil {
				return err
			}
		}
		for _, e := range entries {
			if e.Process == "" {
				e.Process = v.opt.Process
			}
			if err := audit.Append(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Set stores the first version of a new secret.
func (v *Vault) Set(ctx context.Context, name, value string, meta Meta) (*Secret, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if value == "" {
		return nil, fmt.Errorf("%w: refusing to store an empty value for %q", ErrValueEmpty, name)
	}
	if s, err := v.Get(name); !errors.Is(err, ErrNotFound) {
		if err != nil {
			return nil, err
		}
		a, _ := s.Active()
		return nil, fmt.Errorf("secret %q %w (active version %d); to store a new value run 'credflow secrets rotate %s'", name, ErrExists, a.N, name)
	}
	now := v.now()
	s := &Secret{Name: name, Meta: meta, Backend: v.be.Name(), CreatedAt: now,
		Versions: []Version{{N: 1, State: StateActive, CreatedAt: now, ActivatedAt: now}}}
	if err := v.be.Apply(ctx, map[string]string{itemName(name, 1): value}, nil); err != nil {
		return nil, err
	}
	err := v.commit(map[string]*Secret{name: s}, []audit.Entry{{Time: now, Action: audit.ActionSet, Secret: name, Version: 1}})
	return s, err
}

// Import stores several new secrets at once: all or none. It refuses if any
// name exists, before touching anything.
func (v *Vault) Import(ctx context.Context, entries []ImportEntry, source string) ([]*Secret, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	sets := map[string]string{}
	secrets := map[string]*Secret{}
	var out []*Secret
	var records []audit.Entry
	for _, e := range entries {
		if err := CheckName(e.Name); err != nil {
			return nil, err
		}
		if e.Value == "" {
			return nil, fmt.Errorf("%w: %s has an empty value for %s; remove the line or give it a value", ErrValueEmpty, source, e.Meta.EnvVar)
		}
		if _, dup := secrets[e.Name]; dup {
			return nil, fmt.Errorf("%w: two entries would both be named %q", ErrExists, e.Name)
		}
		if s, err := v.Get(e.Name); err == nil {
			return nil, fmt.Errorf("secret %q %w (from %s); nothing was imported. Rename it in the file, or remove the existing one with 'credflow secrets rm %s'", s.Name, ErrExists, e.Meta.EnvVar, s.Name)
		}
		s := &Secret{Name: e.Name, Meta: e.Meta, Backend: v.be.Name(), CreatedAt: now,
			Versions: []Version{{N: 1, State: StateActive, CreatedAt: now, ActivatedAt: now}}}
		secrets[e.Name] = s
		sets[itemName(e.Name, 1)] = e.Value
		out = append(out, s)
		records = append(records, audit.Entry{Time: now, Action: audit.ActionImport, Secret: e.Name, Version: 1, Detail: "from " + source})
	}
	if err := v.be.Apply(ctx, sets, nil); err != nil {
		return nil, err
	}
	return out, v.commit(secrets, records)
}

// ImportEntry is one secret to import.
type ImportEntry struct {
	Name  string
	Value string
	Meta  Meta
}

// List returns every secret, oldest name first, after retiring versions
// whose grace has ended.
func (v *Vault) List(ctx context.Context) ([]*Secret, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.housekeep(ctx); err != nil {
		return nil, err
	}
	var out []*Secret
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.BucketSecrets).ForEach(func(k, _ []byte) error {
			s, err := load(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// Reveal returns the value of version n (0: the active one) and audits it.
func (v *Vault) Reveal(ctx context.Context, name string, n int) (string, Version, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.housekeep(ctx); err != nil {
		return "", Version{}, err
	}
	s, err := v.Get(name)
	if err != nil {
		return "", Version{}, err
	}
	ver, err := pick(s, n)
	if err != nil {
		return "", Version{}, err
	}
	val, err := v.be.Get(ctx, itemName(name, ver.N))
	if err != nil {
		return "", ver, missingValue(name, ver, err)
	}
	return val, ver, v.commit(nil, []audit.Entry{{Time: v.now(), Action: audit.ActionReveal, Secret: name, Version: ver.N}})
}

func missingValue(name string, ver Version, err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("secret %q version %d: %w in the %s; it was removed outside credflow. Run 'credflow secrets rotate %s' to store a new value", name, ver.N, ErrVersionMissing, "backend", name)
	}
	return err
}

func pick(s *Secret, n int) (Version, error) {
	if n == 0 {
		a, ok := s.Active()
		if !ok {
			return Version{}, fmt.Errorf("secret %q has %w; run 'credflow secrets rollback %s' or 'credflow secrets rotate %s'", s.Name, ErrNoActive, s.Name, s.Name)
		}
		return a, nil
	}
	ver, ok := s.Version(n)
	if !ok {
		return Version{}, fmt.Errorf("secret %q has no version %d (%w); see 'credflow secrets history %s'", s.Name, n, ErrNotFound, s.Name)
	}
	if !ver.HasValue() {
		return Version{}, fmt.Errorf("secret %q version %d was destroyed on %s; its value is gone (%w)", s.Name, n, ver.DestroyedAt.Format(time.DateOnly), ErrVersionMissing)
	}
	return ver, nil
}

// RotateResult reports what a rotation did.
type RotateResult struct {
	Secret   *Secret
	New      Version
	Previous Version
}

// Rotate stores value as a new active version. The previous active version
// stays usable for grace (negative: the configured default; zero: retire at
// once), then is retired.
func (v *Vault) Rotate(ctx context.Context, name, value string, grace time.Duration) (*RotateResult, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if value == "" {
		return nil, fmt.Errorf("%w: refusing to rotate %q to an empty value", ErrValueEmpty, name)
	}
	if grace < 0 {
		grace = v.opt.Grace
	}
	s, err := v.Get(name)
	if err != nil {
		return nil, err
	}
	now := v.now()
	res := &RotateResult{Secret: s}
	next := Version{N: s.latest() + 1, State: StateActive, CreatedAt: now, ActivatedAt: now}
	if err := v.be.Apply(ctx, map[string]string{itemName(name, next.N): value}, nil); err != nil {
		return nil, err
	}
	var records []audit.Entry
	if prev, ok := s.Active(); ok {
		if grace > 0 {
			prev.State, prev.GraceUntil = StateGrace, now.Add(grace)
		} else {
			prev.State, prev.RetiredAt = StateRetired, now
		}
		s.set(prev)
		res.Previous = prev
	}
	s.set(next)
	res.New = next
	detail := fmt.Sprintf("new active version %d", next.N)
	if res.Previous.N > 0 {
		detail += fmt.Sprintf("; version %d %s", res.Previous.N, graceText(res.Previous))
	}
	records = append(records, audit.Entry{Time: now, Action: audit.ActionRotate, Secret: name, Version: next.N, Detail: detail})
	if err := v.commit(map[string]*Secret{name: s}, records); err != nil {
		return nil, err
	}
	if err := v.housekeep(ctx); err != nil {
		return res, err
	}
	res.Secret, err = v.Get(name)
	return res, err
}

func graceText(p Version) string {
	if p.State == StateGrace {
		return "usable until " + p.GraceUntil.Format(time.RFC3339)
	}
	return "retired"
}

// Rollback makes version to (0: the newest earlier version that still has
// a value) active again; the current active version is retired.
func (v *Vault) Rollback(ctx context.Context, name string, to int) (from, now Version, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.housekeep(ctx); err != nil {
		return from, now, err
	}
	s, err := v.Get(name)
	if err != nil {
		return from, now, err
	}
	cur, hasActive := s.Active()
	var target Version
	if to == 0 {
		for _, ver := range s.Versions {
			if ver.HasValue() && ver.State != StateActive && (!hasActive || ver.N < cur.N) && ver.N > target.N {
				target = ver
			}
		}
		if target.N == 0 {
			return from, now, fmt.Errorf("secret %q: %w: no earlier version still has a value; see 'credflow secrets history %s'", name, ErrNothingToRoll, name)
		}
	} else {
		if target, err = pick(s, to); err != nil {
			return from, now, err
		}
		if target.State == StateActive {
			return from, now, fmt.Errorf("secret %q: version %d is already active (%w)", name, to, ErrNothingToRoll)
		}
	}
	// The value must still be there before anything changes.
	if _, err := v.be.Get(ctx, itemName(name, target.N)); err != nil {
		return from, now, missingValue(name, target, err)
	}
	t := v.now()
	if hasActive {
		cur.State, cur.RetiredAt, cur.GraceUntil = StateRetired, t, time.Time{}
		s.set(cur)
	}
	target.State, target.ActivatedAt, target.GraceUntil, target.RetiredAt = StateActive, t, time.Time{}, time.Time{}
	s.set(target)
	detail := fmt.Sprintf("version %d active again", target.N)
	if hasActive {
		detail += fmt.Sprintf("; version %d retired", cur.N)
	}
	err = v.commit(map[string]*Secret{name: s}, []audit.Entry{{Time: t, Action: audit.ActionRollback, Secret: name, Version: target.N, Detail: detail}})
	return cur, target, err
}

// Remove deletes a whole secret (n == 0) or one non-active version.
func (v *Vault) Remove(ctx context.Context, name string, n int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.Get(name)
	if err != nil {
		return err
	}
	t := v.now()
	if n == 0 {
		var items []string
		for _, ver := range s.Versions {
			if ver.HasValue() {
				items = append(items, itemName(name, ver.N))
			}
		}
		if err := v.be.Apply(ctx, nil, items); err != nil {
			return err
		}
		return v.commit(map[string]*Secret{name: nil}, []audit.Entry{{Time: t, Action: audit.ActionRemove, Secret: name, Detail: fmt.Sprintf("secret and its %d stored version(s) deleted", len(items))}})
	}
	ver, ok := s.Version(n)
	switch {
	case !ok:
		return fmt.Errorf("secret %q has no version %d (%w); see 'credflow secrets history %s'", name, n, ErrNotFound, name)
	case ver.State == StateActive:
		return fmt.Errorf("secret %q: version %d %w; rotate or roll back first, or remove the whole secret with 'credflow secrets rm %s'", name, n, ErrActiveVersion, name)
	case !ver.HasValue():
		return fmt.Errorf("secret %q version %d was already destroyed (%w)", name, n, ErrVersionMissing)
	}
	if err := v.be.Apply(ctx, nil, []string{itemName(name, n)}); err != nil {
		return err
	}
	ver.State, ver.DestroyedAt = StateDestroyed, t
	s.set(ver)
	return v.commit(map[string]*Secret{name: s}, []audit.Entry{{Time: t, Action: audit.ActionRemove, Secret: name, Version: n, Detail: "version deleted"}})
}

// Resolve returns the active value of each secret, keyed like refs (env
// var → secret name), and audits the use with purpose (e.g. "exec python").
func (v *Vault) Resolve(ctx context.Context, refs map[string]string, purpose string) (map[string]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.housekeep(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(refs))
	var records []audit.Entry
	t := v.now()
	vars := make([]string, 0, len(refs))
	for k := range refs {
		vars = append(vars, k)
	}
	sort.Strings(vars)
	for _, env := range vars {
		name := refs[env]
		s, err := v.Get(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env, err)
		}
		ver, err := pick(s, 0)
		if err != nil {
			return nil, err
		}
		val, err := v.be.Get(ctx, itemName(name, ver.N))
		if err != nil {
			return nil, missingValue(name, ver, err)
		}
		out[env] = val
		records = append(records, audit.Entry{Time: t, Action: audit.ActionExec, Secret: name, Version: ver.N, Detail: fmt.Sprintf("as %s for %s", env, purpose)})
	}
	return out, v.commit(nil, records)
}

// Housekeep retires versions whose grace has ended and destroys retired
// versions beyond the kept count.
func (v *Vault) Housekeep(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.housekeep(ctx)
}

func (v *Vault) housekeep(ctx context.Context) error {
	t := v.now()
	changed := map[string]*Secret{}
	var deletes []string
	var records []audit.Entry
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.BucketSecrets).ForEach(func(k, _ []byte) error {
			s, err := load(tx, string(k))
			if err != nil {
				return err
			}
			dirty := false
			for _, ver := range s.Versions {
				if ver.State == StateGrace && !ver.GraceUntil.After(t) {
					ver.State, ver.RetiredAt = StateRetired, t
					s.set(ver)
					dirty = true
					records = append(records, audit.Entry{Time: t, Action: audit.ActionRetire, Secret: s.Name, Version: ver.N, Detail: "grace period ended"})
				}
			}
			var retired []Version
			for _, ver := range s.Versions {
				if ver.State == StateRetired {
					retired = append(retired, ver)
				}
			}
			sort.Slice(retired, func(i, j int) bool { return retired[i].N > retired[j].N })
			for i, ver := range retired {
				if i < v.opt.KeepRetired {
					continue
				}
				ver.State, ver.DestroyedAt = StateDestroyed, t
				s.set(ver)
				dirty = true
				deletes = append(deletes, itemName(s.Name, ver.N))
				records = append(records, audit.Entry{Time: t, Action: audit.ActionDestroy, Secret: s.Name, Version: ver.N, Detail: fmt.Sprintf("beyond the %d retired versions kept", v.opt.KeepRetired)})
			}
			if dirty {
				changed[s.Name] = s
			}
			return nil
		})
	})
	if err != nil || len(changed) == 0 {
		return err
	}
	if err := v.be.Apply(ctx, nil, deletes); err != nil {
		return err
	}
	return v.commit(changed, records)
}

// LoadActive reads the active value of each named secret for a daemon,
// auditing the load. Secrets that cannot be read are reported in missing
// with the reason; they do not fail the others.
func (v *Vault) LoadActive(ctx context.Context, names []string, purpose string) (values map[string]string, missing map[string]error, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.housekeep(ctx); err != nil {
		return nil, nil, err
	}
	values, missing = map[string]string{}, map[string]error{}
	var records []audit.Entry
	t := v.now()
	for _, name := range names {
		if _, done := values[name]; done {
			continue
		}
		s, err := v.Get(name)
		if err != nil {
			missing[name] = err
			continue
		}
		ver, err := pick(s, 0)
		if err != nil {
			missing[name] = err
			continue
		}
		val, err := v.be.Get(ctx, itemName(name, ver.N))
		if err != nil {
			missing[name] = missingValue(name, ver, err)
			continue
		}
		values[name] = val
		records = append(records, audit.Entry{Time: t, Action: audit.ActionLoad, Secret: name, Version: ver.N, Detail: purpose})
	}
	return values, missing, v.commit(nil, records)
}
