package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/pkg/adminapi"
	bolt "go.etcd.io/bbolt"
)

// A request a guardrail hit leaves an audit entry, written with its
// record, that names the rule and counts but holds no matched text.
func TestGuardHitsAudited(t *testing.T) {
	db := mustOpen(t, tempPath(t))
	defer db.Close()
	recs := []Record{
		{Time: time.Now().UTC(), ID: "7", Key: "agent", Model: "gpt-x", Status: 400,
			Guard: []adminapi.GuardHit{{Rule: "credentials", Action: "block", Side: "request", Detector: "vault_secret", Count: 1}}},
		{Time: time.Now().UTC(), ID: "8", Key: "agent", Model: "gpt-x", Status: 200},
	}
	if err := db.Update(func(tx *bolt.Tx) error { return writeRecords(tx, recs) }); err != nil {
		t.Fatal(err)
	}
	got, err := audit.Query(db, audit.Filter{Action: audit.ActionGuard})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0].Detail, `request 7 of key "agent" to gpt-x: rule credentials block request vault_secret x1`) {
		t.Fatalf("audit entries %+v", got)
	}
	back, err := Recent(db, Filter{})
	if err != nil || len(back) != 2 {
		t.Fatalf("records %v %v", back, err)
	}
	for _, r := range back {
		if r.ID == "7" && (len(r.Guard) != 1 || r.Guard[0].Count != 1) {
			t.Fatalf("record lost its hits: %+v", r)
		}
	}
}
