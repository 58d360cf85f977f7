package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
)

// fakeDaemon stands in for 'credflow serve': it holds the data file (so a
// command that opened it would fail) and serves the key routes on the
// admin socket, refreshing its Authenticator on each change.
type fakeDaemon struct {
	dataDir string
	auth    *keys.Authenticator
	svc     *keys.Service
}

func startFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfkeys") // short: Unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &fakeDaemon{dataDir: dir, auth: keys.NewAuthenticator(nil)}
	db, err := store.Open(filepath.Join(dir, store.FileName), store.Options{Process: "credflow serve"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d.svc = keys.New(db, keys.Options{Process: "credflow serve"})
	mux := http.NewServeMux()
	d.svc.AdminRoutes(mux, func() {
		if err := d.svc.Refresh(d.auth); err != nil {
			t.Error(err)
		}
	})
	ln, err := net.Listen("unix", adminapi.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return d
}

func runKeys(t *testing.T, dataDir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"HOME": dataDir, "CREDFLOW_DATA_DIR": dataDir, "CREDFLOW_LOCK_TIMEOUT": "100ms"}
	f := &Factory{
		IO:      iostreams.Test(strings.NewReader(""), &out, &errOut),
		Getenv:  func(k string) string { return env[k] },
		Environ: func() []string { return nil },
		Now:     time.Now,
	}
	code := Run(context.Background(), append([]string{"keys"}, args...), f)
	return code, out.String(), errOut.String()
}

// TestKeysCLIThroughDaemon runs the keys commands while a daemon owns the
// data file: they go through the admin API, and the daemon's
// Authenticator follows every change at once.
func TestKeysCLIThroughDaemon(t *testing.T) {
	d := startFakeDaemon(t)
	code, out, errOut := runKeys(t, d.dataDir, "create", "agent", "--models", "gpt-4o*", "--expires", "30d")
	if code != 0 {
		t.Fatalf("create exited %d: %s", code, errOut)
	}
	first := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(first, "cf-") || !strings.Contains(errOut, "shown only this once") {
		t.Fatalf("create printed %q / %q", out, errOut)
	}
	k, err := d.auth.Authenticate(first)
	if err != nil || !d.auth.Allowed(k, "gpt-4o-mini") || d.auth.Allowed(k, "claude-sonnet-4") {
		t.Fatalf("the daemon does not know the new key: %v", err)
	}

	code, out, errOut = runKeys(t, d.dataDir, "rotate", "agent", "--grace", "1h")
	second := strings.TrimSuffix(out, "\n")
	if code != 0 || second == first || !strings.Contains(errOut, "is accepted until") {
		t.Fatalf("rotate exited %d: %q / %s", code, out, errOut)
	}
	for _, v := range []string{first, second} {
		if _, err := d.auth.Authenticate(v); err != nil {
			t.Errorf("during grace: %v", err)
		}
	}

	if code, _, errOut = runKeys(t, d.dataDir, "update", "agent", "--all-models", "--expires", "never"); code != 0 {
		t.Fatalf("update exited %d: %s", code, errOut)
	}
	k, _ = d.auth.Authenticate(second)
	if k == nil || !d.auth.Allowed(k, "claude-sonnet-4") || !k.ExpiresAt.IsZero() {
		t.Errorf("the daemon did not apply the update: %+v", k)
	}

	code, out, errOut = runKeys(t, d.dataDir, "list", "--json")
	var ks []adminapi.Key
	if code != 0 || json.Unmarshal([]byte(out), &ks) != nil || len(ks) != 1 || ks[0].PreviousPrefix != first[:7] {
		t.Fatalf("list exited %d: %s %s", code, out, errOut)
	}

	if code, _, errOut = runKeys(t, d.dataDir, "revoke", "agent"); code != 0 {
		t.Fatalf("revoke exited %d: %s", code, errOut)
	}
	if _, err := d.auth.Authenticate(second); !errors.Is(err, keys.ErrRevoked) {
		t.Errorf("the daemon accepts a revoked key: %v", err)
	}

	// The daemon's errors keep their exit codes (404 → not found);
	// usage errors are caught before the call.
	code, _, errOut = runKeys(t, d.dataDir, "revoke", "ghost")
	if code != ExitNotFound || !strings.Contains(errOut, `credflow: virtual key "ghost" not found`) {
		t.Errorf("revoke ghost: %d %s", code, errOut)
	}
	code, _, errOut = runKeys(t, d.dataDir, "create", "x", "--models", "gpt-[4]")
	if code != ExitUsage || !strings.Contains(errOut, `model pattern "gpt-[4]" is invalid`) {
		t.Errorf("bad pattern: %d %s", code, errOut)
	}
}

// TestKeysManagers runs one scenario against both keyManager
// implementations: they must behave alike.
func TestKeysManagers(t *testing.T) {
	ctx := context.Background()
	fileDB, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fileDB.Close()
	d := startFakeDaemon(t)
	for name, m := range map[string]keyManager{
		"daemon": daemonKeys{adminapi.NewClient(adminapi.SocketPath(d.dataDir))},
		"file":   fileKeys{s: keys.New(fileDB, keys.Options{}), now: time.Now},
	} {
		t.Run(name, func(t *testing.T) {
			ik, err := m.Create(ctx, "agent", keys.CreateOptions{Models: []string{"mock/*"}, ExpiresIn: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if ik.Key.Name != "agent" || ik.Key.Prefix != ik.Value[:7] || ik.Key.State != adminapi.KeyActive ||
				time.Until(ik.Key.ExpiresAt) < 59*time.Minute || len(ik.Key.Models) != 1 {
				t.Errorf("Create = %+v", ik.Key)
			}
			if _, err := m.Create(ctx, "agent", keys.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("duplicate: %v", err)
			}
			rk, err := m.Rotate(ctx, "agent", 0)
			if err != nil || rk.Value == ik.Value || rk.Key.PreviousPrefix != "" {
				t.Errorf("Rotate = %+v, %v", rk, err)
			}
			never := time.Duration(0)
			all := []string{}
			uk, err := m.Update(ctx, "agent", keys.UpdateOptions{Models: &all, ExpiresIn: &never})
			if err != nil || len(uk.Models) != 0 || !uk.ExpiresAt.IsZero() {
				t.Errorf("Update = %+v, %v", uk, err)
			}
			vk, err := m.Revoke(ctx, "agent")
			if err != nil || vk.State != adminapi.KeyRevoked {
				t.Errorf("Revoke = %+v, %v", vk, err)
			}
			ks, err := m.List(ctx)
			if err != nil || len(ks) != 1 || ks[0].State != adminapi.KeyRevoked || ks[0].Models == nil {
				t.Errorf("List = %+v, %v", ks, err)
			}
			if _, err := m.Revoke(ctx, "ghost"); err == nil || !strings.Contains(err.Error(), `virtual key "ghost" not found`) {
				t.Errorf("Revoke(ghost) = %v", err)
			}
		})
	}
}
