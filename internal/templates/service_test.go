package templates

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/store"
)

func TestServiceHistory(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s := NewService(db, Options{Now: func() time.Time { return now }, Process: "test"})

	v1 := mustParse(t, "model: a\nprompt: 'one {{x}}'\nvariables: {x: {}}\n")
	if _, err := s.Add(v1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(v1, ""); !errors.Is(err, ErrExists) {
		t.Errorf("second Add: %v; want ErrExists", err)
	}
	if _, err := s.Save(v1, ""); !errors.Is(err, ErrUnchanged) {
		t.Errorf("Save unchanged: %v; want ErrUnchanged", err)
	}
	v2 := mustParse(t, "model: b\nprompt: 'two {{x}}'\nvariables: {x: {}}\n")
	if v, err := s.Save(v2, "edit"); err != nil || v.Version != 2 {
		t.Fatalf("Save v2: %v %v", v, err)
	}
	if _, err := s.Rollback("t", 2); !errors.Is(err, ErrUnchanged) {
		t.Errorf("rollback to the current version: %v; want ErrUnchanged", err)
	}
	if _, err := s.Rollback("t", 9); !errors.Is(err, ErrNoVersion) {
		t.Errorf("rollback to a missing version: %v; want ErrNoVersion", err)
	}
	v, err := s.Rollback("t", 1)
	if err != nil || v.Version != 3 || v.Note != "rollback to version 1" {
		t.Fatalf("rollback: %+v %v", v, err)
	}
	r, err := s.Get("t")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Versions) != 3 || !Equal(&r.Current().Template, v1) || r.Versions[1].Template.Model != "b" {
		t.Errorf("history after rollback: %+v", r.Versions)
	}
	cur, err := Current(db)
	if err != nil || cur["t"] == nil || cur["t"].Prompt != "one {{x}}" {
		t.Errorf("Current: %v %v", cur, err)
	}
	if n, err := s.Remove("t"); err != nil || n != 3 {
		t.Errorf("Remove: %d %v", n, err)
	}
	if _, err := s.Get("t"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v; want ErrNotFound", err)
	}
	entries, err := audit.Query(db, audit.Filter{Secret: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	want := []string{ActionAdd, ActionUpdate, ActionRollback, ActionRemove}
	if len(actions) != len(want) {
		t.Fatalf("audit actions %v; want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("audit actions %v; want %v", actions, want)
		}
	}
	// An invalid template is never stored.
	bad := &Template{Name: "bad", Model: "a", Prompt: "{{nope}}"}
	if _, err := s.Save(bad, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Save invalid: %v; want ErrInvalid", err)
	}
	if _, err := s.Get("bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an invalid template was stored")
	}
}
