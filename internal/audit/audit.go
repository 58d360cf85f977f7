// Package audit owns credflow's append-only audit log: one record per
// security-relevant act (set, reveal, rotate, retire, rollback, rm, import,
// exec, daemon load). Records carry names, versions and the acting
// process, never secret values. There is no API to edit or delete one.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/credflow/credflow/internal/store"
	bolt "go.etcd.io/bbolt"
)

// Actions.
const (
	ActionSet      = "set"
	ActionReveal   = "reveal"
	ActionRotate   = "rotate"
	ActionRetire   = "retire"
	ActionDestroy  = "destroy"
	ActionRollback = "rollback"
	ActionRemove   = "rm"
	ActionImport   = "import"
	ActionExec     = "exec"
	ActionLoad     = "daemon-load"
	// ActionGuard records a guardrail hit on a request (rule, action,
	// count; never the matched text). The ledger writes it with the
	// request's record.
	ActionGuard = "guard"
)

// Entry is one audit record.
type Entry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	Secret  string    `json:"secret,omitempty"`
	Version int       `json:"version,omitempty"`
	PID     int       `json:"pid"`
	Process string    `json:"process"`
	Detail  string    `json:"detail,omitempty"`
}

// Append adds e inside tx, so the record commits with the change it
// describes or not at all. PID is filled in when zero.
func Append(tx *bolt.Tx, e Entry) error {
	b := tx.Bucket(store.BucketAudit)
	if b == nil {
		return fmt.Errorf("audit bucket missing: the data file is not initialised")
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.PID == 0 {
		e.PID = os.Getpid()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(store.Itob(seq), data)
}

// Filter narrows a query. Zero fields match everything.
type Filter struct {
	Since  time.Time
	Secret string
	Action string
}

// Query returns matching entries oldest first.
func Query(db *store.DB, f Filter) ([]Entry, error) {
	var out []Entry
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.BucketAudit)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit record damaged: %w", err)
			}
			if !f.Since.IsZero() && e.Time.Before(f.Since) {
				return nil
			}
			if f.Secret != "" && e.Secret != f.Secret {
				return nil
			}
			if f.Action != "" && e.Action != f.Action {
				return nil
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}
