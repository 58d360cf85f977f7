package templates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// Audit actions of this package.
const (
	ActionAdd      = "template-add"
	ActionUpdate   = "template-update"
	ActionRollback = "template-rollback"
	ActionRemove   = "template-rm"
)

// Version is one saved version of a template.
type Version struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Process  string    `json:"process,omitempty"`
	Note     string    `json:"note,omitempty"`
	Template Template  `json:"template"`
}

// Record is a template's whole history, oldest first; the last version is
// the current one. History only grows: a rollback saves an old version
// again as the newest.
type Record struct {
	Name     string    `json:"name"`
	Versions []Version `json:"versions"`
}

// Current is the version in use.
func (r *Record) Current() *Version { return &r.Versions[len(r.Versions)-1] }

// Version returns version v.
func (r *Record) Version(v int) (*Version, error) {
	for i := range r.Versions {
		if r.Versions[i].Version == v {
			return &r.Versions[i], nil
		}
	}
	return nil, fmt.Errorf("template %q has no version %d (it has 1 to %d): %w; see 'credflow templates history %s'",
		r.Name, v, r.Current().Version, ErrNoVersion, r.Name)
}

// Options configure a Service.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Process names the caller in versions and audit records.
	Process string
}

// Service keeps templates in a data file. Each method is one bbolt
// transaction, so a version commits with its audit record or not at all.
type Service struct {
	db  *store.DB
	opt Options
}

// NewService returns a Service over db.
func NewService(db *store.DB, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{db: db, opt: opt}
}

func notFound(name string) error {
	return fmt.Errorf("template %q %w; see 'credflow templates list', or add it with 'credflow templates add %s -f FILE'", name, ErrNotFound, name)
}

func get(tx *bolt.Tx, name string) (*Record, error) {
	data := tx.Bucket(store.BucketTemplates).Get([]byte(name))
	if data == nil {
		return nil, notFound(name)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("template %q in the data file is unreadable: %w", name, err)
	}
	if len(r.Versions) == 0 {
		return nil, fmt.Errorf("template %q in the data file has no versions; remove it with 'credflow templates rm %s'", name, name)
	}
	return &r, nil
}

func (s *Service) put(tx *bolt.Tx, r *Record, action string, version int, detail string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := tx.Bucket(store.BucketTemplates).Put([]byte(r.Name), data); err != nil {
		return err
	}
	return audit.Append(tx, audit.Entry{Time: s.opt.Now(), Action: action, Secret: r.Name, Version: version, Process: s.opt.Process, Detail: detail})
}

func (s *Service) version(r *Record, t Template, note string) Version {
	n := 1
	if len(r.Versions) > 0 {
		n = r.Current().Version + 1
	}
	return Version{Version: n, Created: s.opt.Now().UTC().Truncate(time.Second), Process: s.opt.Process, Note: note, Template: t}
}

// Add saves a new template. It fails with ErrExists if the name is taken.
func (s *Service) Add(t *Template, note string) (*Version, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var out Version
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(store.BucketTemplates).Get([]byte(t.Name)) != nil {
			return fmt.Errorf("template %q %w; save a new version with 'credflow templates add %s -f FILE --new-version' or 'credflow templates edit %s'", t.Name, ErrExists, t.Name, t.Name)
		}
		r := &Record{Name: t.Name}
		out = s.version(r, *t, note)
		r.Versions = append(r.Versions, out)
		return s.put(tx, r, ActionAdd, out.Version, note)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Save stores t as the newest version of an existing template, or as the
// first of a new one. An unchanged template returns ErrUnchanged and
// saves nothing.
func (s *Service) Save(t *Template, note string) (*Version, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var out Version
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := get(tx, t.Name)
		action := ActionUpdate
		if err != nil {
			if tx.Bucket(store.BucketTemplates).Get([]byte(t.Name)) != nil {
				return err
			}
			r, action = &Record{Name: t.Name}, ActionAdd
		} else if Equal(&r.Current().Template, t) {
			return fmt.Errorf("template %q: %w (it matches version %d)", t.Name, ErrUnchanged, r.Current().Version)
		}
		out = s.version(r, *t, note)
		r.Versions = append(r.Versions, out)
		return s.put(tx, r, action, out.Version, note)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns a template's record.
func (s *Service) Get(name string) (*Record, error) {
	var r *Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = get(tx, name)
		return err
	})
	return r, err
}

// List returns every template's record, by name.
func (s *Service) List() ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.BucketTemplates).ForEach(func(k, _ []byte) error {
			r, err := get(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, *r)
			return nil
		})
	})
	return out, err
}

// Current returns the current version of every template, by name: what
// the gateway serves.
func Current(db *store.DB) (map[string]*Template, error) {
	out := map[string]*Template{}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketTemplates)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			r, err := get(tx, string(k))
			if err != nil {
				return err
			}
			t := r.Current().Template
			out[r.Name] = &t
			return nil
		})
	})
	return out, err
}

// Rollback saves version v again as the newest version.
func (s *Service) Rollback(name string, v int) (*Version, error) {
	var out Version
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := get(tx, name)
		if err != nil {
			return err
		}
		old, err := r.Version(v)
		if err != nil {
			return err
		}
		if Equal(&old.Template, &r.Current().Template) {
			return fmt.Errorf("template %q: %w: version %d is the same as the current version %d", name, ErrUnchanged, v, r.Current().Version)
		}
		note := fmt.Sprintf("rollback to version %d", v)
		out = s.version(r, old.Template, note)
		r.Versions = append(r.Versions, out)
		return s.put(tx, r, ActionRollback, out.Version, note)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Remove deletes a template and its history (the audit log keeps the fact).
func (s *Service) Remove(name string) (int, error) {
	var n int
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := get(tx, name)
		if err != nil {
			return err
		}
		n = len(r.Versions)
		if err := tx.Bucket(store.BucketTemplates).Delete([]byte(name)); err != nil {
			return err
		}
		return audit.Append(tx, audit.Entry{Time: s.opt.Now(), Action: ActionRemove, Secret: name, Version: r.Current().Version, Process: s.opt.Process,
			Detail: fmt.Sprintf("%d version(s) removed", n)})
	})
	return n, err
}

// Equal reports whether two templates say the same thing.
func Equal(a, b *Template) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
