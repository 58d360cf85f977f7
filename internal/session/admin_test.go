package session

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

	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/credflow/credflow/pkg/contextdoc"
)

// adminTest serves the sessions endpoints over a Unix socket, as the
// daemon does, and returns a client for it and the manager behind it.
func adminTest(t *testing.T, openErr error) (*adminapi.Client, *Manager) {
	c, m, _ := adminServer(t, openErr)
	return c, m
}

func adminServer(t *testing.T, openErr error) (*adminapi.Client, *Manager, string) {
	t.Helper()
	s, _, _ := openTest(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	m := &Manager{Store: s, Now: func() time.Time { return now },
		KeyExists: func(name string) (bool, error) { return name == "alice" || name == "bob", nil },
		Retention: func(owner string) time.Duration {
			if owner == "bob" {
				return 0 // kept forever
			}
			return 24 * time.Hour
		}}
	mux := http.NewServeMux()
	AdminRoutes(mux, func(context.Context) (*Manager, error) {
		if openErr != nil {
			return nil, openErr
		}
		return m, nil
	})
	dir, err := os.MkdirTemp("", "cfadm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return adminapi.NewClient(sock), m, sock
}

// raw sends a request the client would not, and returns the error the
// client would make of the answer.
func raw(t *testing.T, sock, method, path string, body any) error {
	t.Helper()
	data, _ := json.Marshal(body)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest(method, "http://credflow"+path, bytes.NewReader(data))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e adminapi.Error
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode < 300 {
		return nil
	}
	return &adminapi.StatusError{Status: resp.StatusCode, Message: e.Error}
}

func doc(kind, id, key string, items ...contextdoc.Item) *contextdoc.Document {
	cost := int64(7)
	out := []contextdoc.Item{}
	for i, it := range items {
		if it.Role == contextdoc.RoleAssistant {
			it.Usage = &contextdoc.Usage{InputTokens: int64(10 * (i + 1)), OutputTokens: 2, CostMicros: &cost}
		}
		out = append(out, it)
	}
	return &contextdoc.Document{Version: contextdoc.Version, Kind: kind, ID: id, Key: key,
		Created: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Model: "mock", Items: out}
}

// wantStatus checks an admin call failed with status and a message that
// contains want.
func wantStatus(t *testing.T, err error, status int, want string) {
	t.Helper()
	var se *adminapi.StatusError
	if !errors.As(err, &se) || se.Status != status || !strings.Contains(se.Message, want) {
		t.Errorf("got %v; want HTTP %d with %q", err, status, want)
	}
}

func TestAdminImportGetList(t *testing.T) {
	c, _ := adminTest(t, nil)
	ctx := context.Background()
	work := doc("session", "my work", "ignored", msg("user", "hi"), msg("assistant", "hello"), msg("user", "more"), msg("assistant", "sure"))
	in, err := c.ImportSession(ctx, "alice", work, false)
	if err != nil {
		t.Fatal(err)
	}
	if in.Kind != "session" || in.ID != "my work" || in.Key != "alice" || in.Items != 4 || in.Turns != 2 ||
		in.InputTokens != 60 || in.OutputTokens != 4 || in.CostMicros != 14 || in.Model != "mock" {
		t.Errorf("imported %+v", in)
	}
	// Again: it exists; with replace it is replaced.
	_, err = c.ImportSession(ctx, "alice", work, false)
	wantStatus(t, err, 409, `session "my work" of key "alice" already exists; add --replace`)
	short := doc("session", "my work", "", msg("user", "only"))
	if in, err := c.ImportSession(ctx, "alice", short, true); err != nil || in.Items != 1 || in.Turns != 0 {
		t.Errorf("replace: %+v %v", in, err)
	}
	// Bob's session of the same name is another one.
	if _, err := c.ImportSession(ctx, "bob", work, false); err != nil {
		t.Fatal(err)
	}
	conv := doc("conversation", "conv_1", "", msg("user", "q"), msg("assistant", "a"))
	if _, err := c.ImportSession(ctx, "bob", conv, false); err != nil {
		t.Fatal(err)
	}

	got, err := c.GetSession(ctx, "session", "alice", "my work")
	if err != nil || got.Version != contextdoc.Version || got.Key != "alice" || len(got.Items) != 1 || got.Items[0].Text() != "only" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// A conversation is found by its id alone, or with its own key; asked
	// for as another key's it is not found, as if it did not exist.
	if got, err := c.GetSession(ctx, "conversation", adminapi.AnyKey, "conv_1"); err != nil || got.Key != "bob" || len(got.Items) != 2 {
		t.Errorf("get conv_1 of any key: %+v %v", got, err)
	}
	_, err = c.GetSession(ctx, "conversation", "alice", "conv_1")
	wantStatus(t, err, 404, `conversation conv_1 of key "alice" not found`)
	_, err = c.GetSession(ctx, "session", "carol", "my work")
	wantStatus(t, err, 404, `session "my work" of key "carol" not found; see 'credflow sessions list --key carol'`)
	_, err = c.GetSession(ctx, "session", adminapi.AnyKey, "my work")
	wantStatus(t, err, 400, "a session is named per virtual key")
	_, err = c.GetSession(ctx, "thread", "alice", "x")
	wantStatus(t, err, 400, `invalid kind "thread"`)

	list, err := c.ListSessions(ctx, "", "")
	if err != nil || len(list.Sessions) != 3 {
		t.Fatalf("list all: %+v %v", list, err)
	}
	if list, _ := c.ListSessions(ctx, "session", ""); len(list.Sessions) != 2 {
		t.Errorf("list sessions: %+v", list)
	}
	if list, _ := c.ListSessions(ctx, "", "bob"); len(list.Sessions) != 2 || list.Sessions[0].Key != "bob" {
		t.Errorf("list bob's: %+v", list)
	}
	if list, _ := c.ListSessions(ctx, "conversation", "alice"); len(list.Sessions) != 0 {
		t.Errorf("alice has conversations: %+v", list)
	}
	_, err = c.ListSessions(ctx, "nope", "")
	wantStatus(t, err, 400, `invalid kind "nope"`)
}

func TestAdminImportRefusals(t *testing.T) {
	c, _, sock := adminServer(t, nil)
	ctx := context.Background()
	_, err := c.ImportSession(ctx, "mallory", doc("session", "x", ""), false)
	wantStatus(t, err, 404, `virtual key "mallory" not found; see 'credflow keys list', or create it first`)
	bad := doc("session", "x", "")
	bad.Version = "credflow.context/v0"
	_, err = c.ImportSession(ctx, "alice", bad, false)
	wantStatus(t, err, 400, `invalid document: version: "credflow.context/v0" is not "credflow.context/v1"`)
	bad = doc("session", "x", "", contextdoc.Item{Type: "message", Role: "robot"})
	_, err = c.ImportSession(ctx, "alice", bad, false)
	wantStatus(t, err, 400, "items[0].role")
	bad = doc("session", "bad\nname", "")
	_, err = c.ImportSession(ctx, "alice", bad, false)
	wantStatus(t, err, 400, "control characters are not allowed")
	bad = doc("session", "x", "")
	bad.Policy = "forget"
	_, err = c.ImportSession(ctx, "alice", bad, false)
	wantStatus(t, err, 400, `invalid policy "forget"`)

	// A conversation id is unique: another key's is in the way.
	if _, err := c.ImportSession(ctx, "bob", doc("conversation", "conv_2", ""), false); err != nil {
		t.Fatal(err)
	}
	_, err = c.ImportSession(ctx, "alice", doc("conversation", "conv_2", ""), true)
	wantStatus(t, err, 409, `conversation conv_2 already exists for key "bob"`)

	// The path and the document must agree.
	err = raw(t, sock, http.MethodPut, "/v1/sessions/session/alice/other", doc("session", "x", ""))
	wantStatus(t, err, 400, `the document is session "x" but the path names session "other"`)
}

func TestAdminUpdate(t *testing.T) {
	c, m, sock := adminServer(t, nil)
	ctx := context.Background()
	if _, err := c.ImportSession(ctx, "alice", doc("session", "work", "", msg("user", "hi")), false); err != nil {
		t.Fatal(err)
	}
	tz, pol := "Europe/Paris", "summarize"
	in, err := c.UpdateSession(ctx, "session", "alice", "work", adminapi.UpdateSessionRequest{
		SetProfile: map[string]string{"name": "Ana", "lang": "fr"},
		SetData:    map[string]json.RawMessage{"cart": json.RawMessage(`{"items":2}`)},
		Pin:        []contextdoc.PinnedDocument{{Name: "STYLE.md", Text: "Be brief."}, {Name: "notes", Text: "n"}},
		TimeZone:   &tz, Policy: &pol,
	})
	if err != nil || in.Policy != "summarize" {
		t.Fatalf("update: %+v %v", in, err)
	}
	d, _ := c.GetSession(ctx, "session", "alice", "work")
	if d.Profile["name"] != "Ana" || string(d.Data["cart"]) != `{"items":2}` || len(d.Documents) != 2 || d.Environment == nil || d.Environment.TimeZone != tz || d.Policy != pol || len(d.Items) != 1 {
		t.Fatalf("after update: %+v", d)
	}
	// Removals, a replaced pin, back to the default policy, no time zone.
	empty := ""
	_, err = c.UpdateSession(ctx, "session", "alice", "work", adminapi.UpdateSessionRequest{
		UnsetProfile: []string{"lang"}, UnsetData: []string{"cart"}, Unpin: []string{"notes"},
		Pin: []contextdoc.PinnedDocument{{Name: "STYLE.md", Text: "Be very brief."}}, TimeZone: &empty, Policy: &empty,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ = c.GetSession(ctx, "session", "alice", "work")
	if len(d.Profile) != 1 || d.Data != nil || len(d.Documents) != 1 || d.Documents[0].Text != "Be very brief." || d.Environment != nil || d.Policy != "" {
		t.Fatalf("after removals: %+v", d)
	}

	for _, c2 := range []struct {
		req    adminapi.UpdateSessionRequest
		status int
		want   string
	}{
		{adminapi.UpdateSessionRequest{Policy: ptr("forget")}, 400, `invalid policy "forget": use window, summarize or relevance`},
		{adminapi.UpdateSessionRequest{TimeZone: ptr("Mars/Olympus")}, 400, `invalid time zone "Mars/Olympus"`},
		{adminapi.UpdateSessionRequest{Unpin: []string{"nothere"}, UnsetProfile: []string{"age"}}, 404, `session "work" of key "alice" has no profile "age", pinned document "nothere"; nothing was changed`},
	} {
		_, err := c.UpdateSession(ctx, "session", "alice", "work", c2.req)
		wantStatus(t, err, c2.status, c2.want)
	}
	// (Over HTTP a body with bad JSON does not decode; directly, the
	// manager checks the values itself.)
	if _, err := m.Update(ctx, KindSession, "alice", "work", adminapi.UpdateSessionRequest{SetData: map[string]json.RawMessage{"x": json.RawMessage(`{`)}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `invalid data "x": the value is not JSON`) {
		t.Errorf("bad JSON data: %v", err)
	}
	_, err = c.UpdateSession(ctx, "session", "bob", "work", adminapi.UpdateSessionRequest{Policy: &pol})
	wantStatus(t, err, 404, `session "work" of key "bob" not found`)
	if list, _ := c.ListSessions(ctx, "", "bob"); len(list.Sessions) != 0 {
		t.Errorf("an update of a missing session made one: %+v", list)
	}
	if _, err := c.ImportSession(ctx, "bob", doc("conversation", "conv_9", ""), false); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateSession(ctx, "conversation", adminapi.AnyKey, "conv_9", adminapi.UpdateSessionRequest{Policy: &pol})
	wantStatus(t, err, 400, "only a session has a profile")
	// Unknown fields are refused (a typo is not silently ignored).
	err = raw(t, sock, http.MethodPatch, "/v1/sessions/session/alice/work", map[string]any{"profil": map[string]string{"a": "b"}})
	wantStatus(t, err, 400, `unknown field "profil"`)
}

func ptr[T any](v T) *T { return &v }

func TestAdminForkDeletePrune(t *testing.T) {
	c, m := adminTest(t, nil)
	ctx := context.Background()
	src := doc("session", "work", "", msg("user", "hi"), msg("assistant", "hello"))
	src.Profile = map[string]string{"name": "Ana"}
	src.Summary = &contextdoc.Summary{Text: "greetings", Through: 1}
	if _, err := c.ImportSession(ctx, "alice", src, false); err != nil {
		t.Fatal(err)
	}
	in, err := c.ForkSession(ctx, "session", "alice", "work", adminapi.ForkSessionRequest{To: "try", Key: "bob"})
	if err != nil || in.Key != "bob" || in.ID != "try" || in.Items != 2 || in.Turns != 1 || in.SummaryItems != 1 {
		t.Fatalf("fork: %+v %v", in, err)
	}
	d, _ := c.GetSession(ctx, "session", "bob", "try")
	if d.Profile["name"] != "Ana" || d.Items[1].Text() != "hello" {
		t.Errorf("forked copy %+v", d)
	}
	_, err = c.ForkSession(ctx, "session", "alice", "work", adminapi.ForkSessionRequest{To: "try", Key: "bob"})
	wantStatus(t, err, 409, `session "try" of key "bob" already exists; choose another name, or delete it first with 'credflow sessions rm try --key bob'`)
	_, err = c.ForkSession(ctx, "session", "alice", "work", adminapi.ForkSessionRequest{To: "x", Key: "mallory"})
	wantStatus(t, err, 404, `virtual key "mallory" not found`)
	_, err = c.ForkSession(ctx, "session", "alice", "work", adminapi.ForkSessionRequest{})
	wantStatus(t, err, 400, "name the new session")

	// A response is forked with the responses it continues.
	r1 := doc("response", "resp_1", "", msg("user", "one"), msg("assistant", "1"))
	r2 := doc("response", "resp_2", "", msg("user", "two"), msg("assistant", "2"))
	r2.Previous = "resp_1"
	for _, d := range []*contextdoc.Document{r1, r2} {
		if _, err := c.ImportSession(ctx, "alice", d, false); err != nil {
			t.Fatal(err)
		}
	}
	in, err = c.ForkSession(ctx, "response", adminapi.AnyKey, "resp_2", adminapi.ForkSessionRequest{To: "from-responses"})
	if err != nil || in.Key != "alice" || in.Items != 4 {
		t.Fatalf("fork of a response chain: %+v %v", in, err)
	}
	d, _ = c.GetSession(ctx, "session", "alice", "from-responses")
	if d.Items[0].Text() != "one" || d.Items[3].Text() != "2" {
		t.Errorf("chain order: %+v", d.Items)
	}

	// Delete returns what it deleted; then it is gone.
	del, err := c.DeleteSession(ctx, "session", "bob", "try")
	if err != nil || del.Items != 2 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.DeleteSession(ctx, "session", "bob", "try")
	wantStatus(t, err, 404, `session "try" of key "bob" not found`)
	_, err = c.DeleteSession(ctx, "response", "bob", "resp_1")
	wantStatus(t, err, 404, `response resp_1 of key "bob" not found`)

	// Prune: by age, or by each key's retention (bob's: forever).
	if _, err := c.ImportSession(ctx, "bob", doc("session", "kept", ""), false); err != nil {
		t.Fatal(err)
	}
	m.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	res, err := c.PruneSessions(ctx, adminapi.PruneSessionsRequest{})
	if err != nil || res.Deleted != 4 {
		t.Fatalf("prune by retention: %+v %v", res, err)
	}
	if list, _ := c.ListSessions(ctx, "", ""); len(list.Sessions) != 1 || list.Sessions[0].Key != "bob" {
		t.Errorf("after prune: %+v", list)
	}
	day := int64(24 * 3600)
	if res, err := c.PruneSessions(ctx, adminapi.PruneSessionsRequest{OlderThanSeconds: &day}); err != nil || res.Deleted != 1 {
		t.Errorf("prune older than a day: %+v %v", res, err)
	}
	zero := int64(0)
	_, err = c.PruneSessions(ctx, adminapi.PruneSessionsRequest{OlderThanSeconds: &zero})
	wantStatus(t, err, 400, "older_than_seconds 0")
}

// A vault that cannot be used makes every call a 503 that says why.
func TestAdminUnavailable(t *testing.T) {
	c, _ := adminTest(t, errors.New("stored conversations are unavailable: the keychain is locked"))
	_, err := c.ListSessions(context.Background(), "", "")
	wantStatus(t, err, 503, "the keychain is locked")
}
