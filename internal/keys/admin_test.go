package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
)

// shortTempDir is a temporary directory whose path leaves room for a Unix
// socket name (about 100 bytes at most).
func shortTempDir(t *testing.T) string {
	dir := t.TempDir()
	if len(dir) < 80 {
		return dir
	}
	dir, err := os.MkdirTemp("", "cfk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type adminFixture struct {
	svc     *keys.Service
	auth    *keys.Authenticator
	client  *adminapi.Client
	mux     *http.ServeMux
	changes atomic.Int32
}

// newAdmin serves the key routes on a real Unix socket, the way the daemon
// does, with an Authenticator rebuilt on every change.
func newAdmin(t *testing.T) *adminFixture {
	t.Helper()
	dir := shortTempDir(t)
	db, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx := &adminFixture{svc: keys.New(db, keys.Options{Process: "credflow serve"}), auth: keys.NewAuthenticator(nil), mux: http.NewServeMux()}
	fx.svc.AdminRoutes(fx.mux, func() {
		fx.changes.Add(1)
		if err := fx.svc.Refresh(fx.auth); err != nil {
			t.Error(err)
		}
	})
	sock := adminapi.SocketPath(dir)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(fx.mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	fx.client = adminapi.NewClient(sock)
	return fx
}

func TestKeysAdminAPI(t *testing.T) {
	fx := newAdmin(t)
	ctx := context.Background()
	c := fx.client

	ks, err := c.ListKeys(ctx)
	if err != nil || len(ks) != 0 {
		t.Fatalf("ListKeys on an empty file = %v, %v", ks, err)
	}
	ik, err := c.CreateKey(ctx, adminapi.CreateKeyRequest{Name: "agent", Models: []string{"gpt-4o*"}, ExpiresInSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ik.Value, "cf-") || ik.Key.Prefix != ik.Value[:7] || ik.Key.State != adminapi.KeyActive || ik.Key.ExpiresAt.IsZero() {
		t.Fatalf("CreateKey = %+v", ik)
	}
	if k, err := fx.auth.Authenticate(ik.Value); err != nil || !fx.auth.Allowed(k, "gpt-4o-mini") || fx.auth.Allowed(k, "claude-x") {
		t.Fatalf("the daemon's Authenticator was not refreshed: %v", err)
	}
	_, err = c.CreateKey(ctx, adminapi.CreateKeyRequest{Name: "agent"})
	if err == nil || !strings.Contains(err.Error(), "'credflow keys rotate agent'") {
		t.Errorf("duplicate create: %v", err)
	}

	rk, err := c.RotateKey(ctx, "agent", adminapi.RotateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rk.Value == ik.Value || rk.Key.PreviousPrefix != ik.Key.Prefix || time.Until(rk.Key.PreviousUntil) < 23*time.Hour {
		t.Fatalf("RotateKey with the default grace = %+v", rk.Key)
	}
	for _, v := range []string{ik.Value, rk.Value} {
		if _, err := fx.auth.Authenticate(v); err != nil {
			t.Errorf("during grace: %v", err)
		}
	}
	zero := int64(0)
	rk2, err := c.RotateKey(ctx, "agent", adminapi.RotateKeyRequest{GraceSeconds: &zero})
	if err != nil || rk2.Key.PreviousPrefix != "" {
		t.Fatalf("RotateKey(grace 0) = %+v, %v", rk2, err)
	}
	if _, err := fx.auth.Authenticate(rk.Value); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("the key rotated out with grace 0: %v", err)
	}

	all := []string{}
	never := int64(0)
	uk, err := c.UpdateKey(ctx, "agent", adminapi.UpdateKeyRequest{Models: &all, ExpiresInSeconds: &never})
	if err != nil || len(uk.Models) != 0 || !uk.ExpiresAt.IsZero() {
		t.Fatalf("UpdateKey = %+v, %v", uk, err)
	}
	k, err := c.GetKey(ctx, "agent")
	if err != nil || k.Name != "agent" || k.Models == nil {
		t.Fatalf("GetKey = %+v, %v", k, err)
	}

	vk, err := c.RevokeKey(ctx, "agent")
	if err != nil || vk.State != adminapi.KeyRevoked || vk.RevokedAt.IsZero() {
		t.Fatalf("RevokeKey = %+v, %v", vk, err)
	}
	if _, err := fx.auth.Authenticate(rk2.Value); !errors.Is(err, keys.ErrRevoked) {
		t.Errorf("after revoke: %v", err)
	}
	_, err = c.RevokeKey(ctx, "ghost")
	if err == nil || !strings.Contains(err.Error(), `virtual key "ghost" not found`) {
		t.Errorf("revoke ghost: %v", err)
	}
	ks, err = c.ListKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].State != adminapi.KeyRevoked {
		t.Fatalf("ListKeys = %+v, %v", ks, err)
	}
	if n := fx.changes.Load(); n != 5 {
		t.Errorf("onChange ran %d times; want 5 (create, 2 rotate, update, revoke)", n)
	}
}

func TestKeysAdminStatus(t *testing.T) {
	fx := newAdmin(t)
	if _, err := fx.client.CreateKey(context.Background(), adminapi.CreateKeyRequest{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.client.CreateKey(context.Background(), adminapi.CreateKeyRequest{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.client.RevokeKey(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	before := fx.changes.Load()
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/keys", `{"name":"bad name"}`, 400, "invalid name"},
		{"POST", "/v1/keys", `{"name":"x","models":["gpt-[4]"]}`, 400, "model pattern"},
		{"POST", "/v1/keys", `{"name":"x","expires_in_seconds":-1}`, 400, "expires_in_seconds -1 is invalid"},
		{"POST", "/v1/keys", `{"name":"x","expires_in_seconds":999999999999}`, 400, "invalid"},
		{"POST", "/v1/keys", `{"name":"x","colour":"red"}`, 400, "unknown field"},
		{"POST", "/v1/keys", `{`, 400, "invalid request body"},
		{"POST", "/v1/keys", `{"name":"taken"}`, 409, "already exists"},
		{"GET", "/v1/keys/ghost", ``, 404, "not found"},
		{"POST", "/v1/keys/ghost/revoke", ``, 404, "not found"},
		{"POST", "/v1/keys/gone/revoke", ``, 409, "already revoked"},
		{"POST", "/v1/keys/gone/rotate", ``, 409, "cannot be rotated"},
		{"POST", "/v1/keys/taken/rotate", `{"grace_seconds":-5}`, 400, "invalid"},
		{"PATCH", "/v1/keys/taken", `{}`, 400, "nothing to update"},
		{"PATCH", "/v1/keys/gone", `{"models":[]}`, 409, "cannot be updated"},
		{"DELETE", "/v1/keys/taken", ``, 405, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		rec := httptest.NewRecorder()
		fx.mux.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s %s %s: status %d; want %d (%s)", tc.method, tc.path, tc.body, rec.Code, tc.status, rec.Body)
			continue
		}
		if tc.msg == "" {
			continue
		}
		var e adminapi.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s %s: body %s; want an error containing %q", tc.method, tc.path, tc.body, rec.Body, tc.msg)
		}
	}
	if fx.changes.Load() != before {
		t.Error("onChange ran after a refused change")
	}

	// A new key is marked not to be cached.
	rec := httptest.NewRecorder()
	fx.mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/keys", strings.NewReader(`{"name":"fresh"}`)))
	if rec.Code != 201 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("create: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	// Listings never carry hashes.
	rec = httptest.NewRecorder()
	fx.mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/keys", nil))
	if strings.Contains(rec.Body.String(), "hash") || strings.Contains(rec.Body.String(), `"value"`) {
		t.Errorf("GET /v1/keys leaks: %s", rec.Body)
	}
}

func TestKeysAdminNoDaemon(t *testing.T) {
	c := adminapi.NewClient(filepath.Join(t.TempDir(), adminapi.SocketName))
	if _, err := c.ListKeys(context.Background()); !errors.Is(err, adminapi.ErrNoDaemon) {
		t.Errorf("ListKeys without a daemon: %v; want ErrNoDaemon", err)
	}
}
