package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// Audit actions of this package.
const (
	ActionCreate = "key-create"
	ActionRevoke = "key-revoke"
	ActionRotate = "key-rotate"
	ActionUpdate = "key-update"
)

// Options configure a Service.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Process names the caller in audit records ("credflow keys create").
	Process string
}

// Service manages the virtual-key records in a data file. Each method is
// one bbolt transaction, so it is safe for concurrent use and a change
// commits together with its audit record or not at all.
type Service struct {
	db  *store.DB
	opt Options
}

// New returns a Service over db.
func New(db *store.DB, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{db: db, opt: opt}
}

// now is the clock to the second, so records and messages read cleanly.
func (s *Service) now() time.Time { return s.opt.Now().UTC().Truncate(time.Second) }

// CreateOptions shape a new key.
type CreateOptions struct {
	// Models are glob patterns of the models the key may call; empty
	// allows every model.
	Models []string
	// Templates restrict the key to these templates (see Key.Templates).
	Templates []string
	// ExpiresIn is the key's lifetime; 0 means it does not expire.
	ExpiresIn time.Duration
	Policy    Policy
}

// UpdateOptions change a key. Nil fields stay as they are.
type UpdateOptions struct {
	// Models replaces the patterns; a pointer to an empty slice allows
	// every model.
	Models *[]string
	// Templates replaces the template restriction; a pointer to an empty
	// slice lifts it.
	Templates *[]string
	// ExpiresIn sets the expiry to now plus this; 0 removes the expiry.
	ExpiresIn *time.Duration
	// Policy replaces the budgets and rate limits.
	Policy *Policy
}

func checkLifetime(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %s is %w: it must not be negative", what, d, ErrInvalid)
	}
	if d > MaxLifetime {
		return fmt.Errorf("%s %s is %w: it must be at most 100 years", what, d, ErrInvalid)
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("virtual key %q %w; see 'credflow keys list', or create it with 'credflow keys create %s'", name, ErrNotFound, name)
}

func revoked(k *Key, doing string) error {
	return fmt.Errorf("virtual key %q was %w on %s and cannot be %s; create a new one with 'credflow keys create NAME'", k.Name, ErrRevoked, k.RevokedAt.Format(time.DateOnly), doing)
}

func load(tx *bolt.Tx, name string) (*Key, error) {
	b := tx.Bucket(store.BucketKeys)
	if b == nil {
		return nil, fmt.Errorf("keys bucket missing: the data file is not initialised")
	}
	data := b.Get([]byte(name))
	if data == nil {
		return nil, notFound(name)
	}
	var k Key
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("record of virtual key %q is damaged: %w", name, err)
	}
	return &k, nil
}

func (s *Service) save(tx *bolt.Tx, k *Key, now time.Time, action, detail string) error {
	// A rotated-out key whose grace has ended is dropped on the next write.
	if !k.Previous.IsZero() && !k.inGrace(now) {
		k.Previous, k.PreviousPrefix, k.PreviousUntil = Hash{}, "", time.Time{}
	}
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := tx.Bucket(store.BucketKeys).Put([]byte(k.Name), data); err != nil {
		return err
	}
	return audit.Append(tx, audit.Entry{Time: now, Action: action, Secret: k.Name, Process: s.opt.Process, Detail: detail})
}

// Create makes a new key called name and returns it with its record. The
// key is returned only here; the record holds its hash.
func (s *Service) Create(name string, opts CreateOptions) (string, Key, error) {
	if err := CheckName(name); err != nil {
		return "", Key{}, err
	}
	models, err := CheckModels(opts.Models)
	if err != nil {
		return "", Key{}, err
	}
	templates, err := CheckTemplates(opts.Templates)
	if err != nil {
		return "", Key{}, err
	}
	if err := checkLifetime("expiry", opts.ExpiresIn); err != nil {
		return "", Key{}, err
	}
	now := s.now()
	plain, hash := newKey()
	k := &Key{Name: name, Hash: hash, Prefix: displayPrefix(plain), CreatedAt: now, Models: models, Templates: templates, Policy: opts.Policy}
	if opts.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(opts.ExpiresIn)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		old, err := load(tx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil {
			if !old.RevokedAt.IsZero() {
				return fmt.Errorf("virtual key %q %w and was revoked on %s; names are not reused, so choose another name", name, ErrExists, old.RevokedAt.Format(time.DateOnly))
			}
			return fmt.Errorf("virtual key %q %w (%s...); to give it a new key run 'credflow keys rotate %s'", name, ErrExists, old.Prefix, name)
		}
		return s.save(tx, k, now, ActionCreate, "virtual key for "+modelsText(models)+expiryText(k.ExpiresAt))
	})
	if err != nil {
		return "", Key{}, err
	}
	return plain, *k, nil
}

func expiryText(t time.Time) string {
	if t.IsZero() {
		return "; no expiry"
	}
	return "; expires " + dateText(t)
}

// List returns every key, revoked and expired ones included, by name.
func (s *Service) List() ([]Key, error) {
	var out []Key
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketKeys)
		if b == nil {
			return fmt.Errorf("keys bucket missing: the data file is not initialised")
		}
		return b.ForEach(func(name, _ []byte) error {
			k, err := load(tx, string(name))
			if err != nil {
				return err
			}
			out = append(out, *k)
			return nil
		})
	})
	return out, err
}

// Get returns one key's record.
func (s *Service) Get(name string) (Key, error) {
	if err := CheckName(name); err != nil {
		return Key{}, err
	}
	var k *Key
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		k, err = load(tx, name)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	return *k, nil
}

// change loads name, applies fn and saves the result with an audit record
// in one transaction. fn returns the audit detail.
func (s *Service) change(name, action string, fn func(k *Key, now time.Time) (string, error)) (Key, error) {
	if err := CheckName(name); err != nil {
		return Key{}, err
	}
	now := s.now()
	var k *Key
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if k, err = load(tx, name); err != nil {
			return err
		}
		detail, err := fn(k, now)
		if err != nil {
			return err
		}
		return s.save(tx, k, now, action, detail)
	})
	if err != nil {
		return Key{}, err
	}
	return *k, nil
}

// Revoke ends a key for good: every request with it, or with a key it was
// rotated from, is refused. The record stays, so lists and audits can say
// what happened, and the name is not reused.
func (s *Service) Revoke(name string) (Key, error) {
	return s.change(name, ActionRevoke, func(k *Key, now time.Time) (string, error) {
		if !k.RevokedAt.IsZero() {
			return "", fmt.Errorf("virtual key %q was already %w on %s", k.Name, ErrRevoked, k.RevokedAt.Format(time.DateOnly))
		}
		k.RevokedAt = now
		k.Previous, k.PreviousPrefix, k.PreviousUntil = Hash{}, "", time.Time{}
		return "virtual key revoked", nil
	})
}

// Rotate gives the key a new value and returns it. The old value stays
// accepted for grace (0: it stops at once); a value rotated out earlier
// and still in its grace period stops now, since a key keeps one previous
// value only. Models, expiry and policy stay.
func (s *Service) Rotate(name string, grace time.Duration) (string, Key, error) {
	if err := checkLifetime("grace period", grace); err != nil {
		return "", Key{}, err
	}
	plain, hash := newKey()
	k, err := s.change(name, ActionRotate, func(k *Key, now time.Time) (string, error) {
		if !k.RevokedAt.IsZero() {
			return "", revoked(k, "rotated")
		}
		detail := "virtual key rotated; the old key stopped at once"
		k.Previous, k.PreviousPrefix, k.PreviousUntil = Hash{}, "", time.Time{}
		if grace > 0 {
			k.Previous, k.PreviousPrefix, k.PreviousUntil = k.Hash, k.Prefix, now.Add(grace)
			detail = "virtual key rotated; the old key is accepted until " + dateText(k.PreviousUntil)
		}
		k.Hash, k.Prefix, k.RotatedAt = hash, displayPrefix(plain), now
		return detail, nil
	})
	if err != nil {
		return "", Key{}, err
	}
	return plain, k, nil
}

// Update changes a key's models or expiry.
func (s *Service) Update(name string, opts UpdateOptions) (Key, error) {
	if opts.Models == nil && opts.Templates == nil && opts.ExpiresIn == nil && opts.Policy == nil {
		return Key{}, fmt.Errorf("nothing to update is %w: give new models, templates, a new expiry, budgets or rate limits", ErrInvalid)
	}
	var templates []string
	if opts.Templates != nil {
		var err error
		if templates, err = CheckTemplates(*opts.Templates); err != nil {
			return Key{}, err
		}
	}
	var models []string
	if opts.Models != nil {
		var err error
		if models, err = CheckModels(*opts.Models); err != nil {
			return Key{}, err
		}
	}
	if opts.ExpiresIn != nil {
		if err := checkLifetime("expiry", *opts.ExpiresIn); err != nil {
			return Key{}, err
		}
	}
	return s.change(name, ActionUpdate, func(k *Key, now time.Time) (string, error) {
		if !k.RevokedAt.IsZero() {
			return "", revoked(k, "updated")
		}
		var detail []byte
		if opts.Models != nil {
			k.Models = models
			detail = append(detail, modelsText(models)...)
		}
		if opts.Templates != nil {
			k.Templates = templates
			if len(detail) > 0 {
				detail = append(detail, "; "...)
			}
			detail = append(detail, templatesText(templates)...)
		}
		if opts.ExpiresIn != nil {
			k.ExpiresAt = time.Time{}
			if *opts.ExpiresIn > 0 {
				k.ExpiresAt = now.Add(*opts.ExpiresIn)
			}
			if len(detail) == 0 {
				detail = append(detail, "expiry changed"...)
			}
			detail = append(detail, expiryText(k.ExpiresAt)...)
		}
		if opts.Policy != nil {
			k.Policy = *opts.Policy
			if len(detail) > 0 {
				detail = append(detail, "; "...)
			}
			detail = append(detail, "limits changed"...)
		}
		return string(detail), nil
	})
}

// Refresh loads every record into a, the daemon's hot-path view. Call it at
// start and after each change (AdminRoutes' onChange).
func (s *Service) Refresh(a *Authenticator) error {
	ks, err := s.List()
	if err != nil {
		return err
	}
	a.Load(ks)
	return nil
}
