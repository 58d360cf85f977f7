package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/credflow/credflow/pkg/contextdoc"
)

// Manager is what people do with stored conversations: list, read,
// import, change, fork, delete and prune them. The daemon serves it on
// its admin API (AdminRoutes); commands use it on the context file
// directly when no daemon runs. Either way the answers are the admin
// API's types, and the errors wrap ErrNotFound, ErrExists or ErrInvalid
// in a sentence that says what to do.
type Manager struct {
	Store *Store
	// Now is the clock (default time.Now).
	Now func() time.Time
	// KeyExists says whether a virtual key exists, so a conversation is
	// never given to a key nobody can use (a typo); nil accepts any name.
	KeyExists func(name string) (bool, error)
	// Retention is how long the conversations of a key are kept (0:
	// forever): what a prune without an age applies. Nil refuses such a
	// prune.
	Retention func(owner string) time.Duration
}

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// Info describes a thread for listings.
func Info(th *Thread) adminapi.SessionInfo {
	in := adminapi.SessionInfo{
		Kind: string(th.Kind), ID: th.ID, Key: th.Owner, Created: th.Created, Updated: th.Updated,
		Model: th.Model, Policy: th.Policy, Turns: th.Turns, Items: th.Count,
		InputTokens: th.Input, OutputTokens: th.Output, CostMicros: th.Cost, Previous: th.Previous,
	}
	if th.Summary != nil {
		in.SummaryItems = th.Summary.Through
	}
	return in
}

// describe names a conversation in a message: "session "x" of key "k"",
// "conversation conv_1".
func describeThread(kind Kind, owner, id string) string {
	switch {
	case kind == KindSession:
		return fmt.Sprintf("session %q of key %q", id, owner)
	case owner == adminapi.AnyKey || owner == "":
		return fmt.Sprintf("%s %s", kind, id)
	}
	return fmt.Sprintf("%s %s of key %q", kind, id, owner)
}

// NotFoundError is the "not found" of a conversation, with a hint.
func NotFoundError(kind Kind, owner, id string) error {
	hint := "credflow sessions list"
	if kind != KindSession {
		hint += " --kind " + string(kind)
	}
	if owner != adminapi.AnyKey && owner != "" {
		hint += " --key " + owner
	}
	return fmt.Errorf("%s %w; see '%s'", describeThread(kind, owner, id), ErrNotFound, hint)
}

// resolve checks a kind and id and finds the owner of a conversation or
// response asked for with AnyKey.
func (m *Manager) resolve(kind Kind, owner, id string) (string, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return "", err
	}
	if kind == KindSession {
		if owner == adminapi.AnyKey || owner == "" {
			return "", invalidf("a session is named per virtual key: give its key (--key NAME)")
		}
		return owner, CheckName(id)
	}
	if err := checkID(kind, id); err != nil {
		return "", err
	}
	if owner != adminapi.AnyKey && owner != "" {
		return owner, nil
	}
	o, err := m.Store.OwnerOf(kind, id)
	if err != nil {
		return "", err
	}
	if o == "" {
		return "", NotFoundError(kind, owner, id)
	}
	return o, nil
}

func checkID(kind Kind, id string) error {
	if err := CheckName(id); err != nil {
		return invalidf("invalid %s id %q: use 1 to %d printable characters", kind, id, MaxNameLen)
	}
	return nil
}

// get reads a thread, turning "not found" into a sentence.
func (m *Manager) get(kind Kind, owner, id string) (*Thread, []contextdoc.Item, error) {
	th, items, err := m.Store.Get(kind, owner, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, NotFoundError(kind, owner, id)
	}
	return th, items, err
}

// List returns the conversations of kind ("" for every kind) of owner (""
// for every key), most recently updated first, and how many records could
// not be read.
func (m *Manager) List(kind Kind, owner string) (*adminapi.SessionList, error) {
	kinds := []Kind{KindSession, KindConversation, KindResponse}
	if kind != "" {
		if _, err := ParseKind(string(kind)); err != nil {
			return nil, err
		}
		kinds = []Kind{kind}
	}
	out := &adminapi.SessionList{Sessions: []adminapi.SessionInfo{}}
	for _, k := range kinds {
		ths, damaged, err := m.Store.List(k, owner)
		if err != nil {
			return nil, err
		}
		out.Damaged += damaged
		for _, th := range ths {
			out.Sessions = append(out.Sessions, Info(th))
		}
	}
	slices.SortStableFunc(out.Sessions, func(a, b adminapi.SessionInfo) int { return b.Updated.Compare(a.Updated) })
	return out, nil
}

// Get returns a conversation as a credflow.context/v1 document. owner may
// be adminapi.AnyKey for a conversation or response.
func (m *Manager) Get(kind Kind, owner, id string) (*contextdoc.Document, error) {
	owner, err := m.resolve(kind, owner, id)
	if err != nil {
		return nil, err
	}
	th, items, err := m.get(kind, owner, id)
	if err != nil {
		return nil, err
	}
	return Document(th, items), nil
}

// checkKey refuses a key that cannot own a conversation.
func (m *Manager) checkKey(owner string) error {
	if owner == "" || owner == adminapi.AnyKey {
		return invalidf("name the virtual key the conversation belongs to (--key NAME)")
	}
	if m.KeyExists == nil {
		return nil
	}
	ok, err := m.KeyExists(owner)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("virtual key %q %w; see 'credflow keys list', or create it first with 'credflow keys create %s'", owner, ErrNotFound, owner)
	}
	return nil
}

// Import stores d as a conversation of owner (d's own key is ignored),
// replacing one of the same kind and id when replace is set. It reports
// whether it made a new one.
func (m *Manager) Import(ctx context.Context, owner string, d *contextdoc.Document, replace bool) (*adminapi.SessionInfo, bool, error) {
	if err := d.Validate(); err != nil {
		return nil, false, invalidf("invalid document: %v", err)
	}
	kind := Kind(d.Kind)
	if kind == KindSession {
		if err := CheckName(d.ID); err != nil {
			return nil, false, err
		}
	} else if err := checkID(kind, d.ID); err != nil {
		return nil, false, err
	}
	if d.Policy != "" {
		if err := checkPolicy(d.Policy); err != nil {
			return nil, false, err
		}
	}
	if err := m.checkKey(owner); err != nil {
		return nil, false, err
	}
	if kind != KindSession {
		// Ids are unique across keys: one of another key's is in the way.
		// (The admin may know whose it is; a client of the gateway never
		// learns it.)
		o, err := m.Store.OwnerOf(kind, d.ID)
		if err != nil {
			return nil, false, err
		}
		if o != "" && o != owner {
			return nil, false, wrapf(ErrExists, "%s %s already exists for key %q; import it for that key (--key %s), or delete it first", kind, d.ID, o, o)
		}
	}
	_, _, err := m.Store.Get(kind, owner, d.ID)
	existed := err == nil || errors.Is(err, ErrDamaged)
	if existed && !replace {
		return nil, false, fmt.Errorf("%s %w; add --replace to overwrite it, or delete it first", describeThread(kind, owner, d.ID), ErrExists)
	}
	if err := m.Store.Import(ctx, owner, d, replace); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, false, fmt.Errorf("%s %w; add --replace to overwrite it, or delete it first", describeThread(kind, owner, d.ID), ErrExists)
		}
		return nil, false, err
	}
	th, _, err := m.get(kind, owner, d.ID)
	if err != nil {
		return nil, false, err
	}
	in := Info(th)
	return &in, !existed, nil
}

// Delete removes a conversation and returns what it was.
func (m *Manager) Delete(kind Kind, owner, id string) (*adminapi.SessionInfo, error) {
	owner, err := m.resolve(kind, owner, id)
	if err != nil {
		return nil, err
	}
	in := adminapi.SessionInfo{Kind: string(kind), ID: id, Key: owner}
	th, _, err := m.get(kind, owner, id)
	switch {
	case errors.Is(err, ErrDamaged):
		// A record that cannot be read can still be deleted.
	case err != nil:
		return nil, err
	default:
		in = Info(th)
	}
	if err := m.Store.Delete(kind, owner, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, NotFoundError(kind, owner, id)
		}
		return nil, err
	}
	return &in, nil
}

// Policies a session can be fitted by.
var policies = []string{string(PolicyWindow), string(PolicySummarize), string(PolicyRelevance)}

func checkPolicy(p string) error {
	if !slices.Contains(policies, p) {
		return invalidf("invalid policy %q: use window, summarize or relevance", p)
	}
	return nil
}

// checkUpdate validates a change before anything is read or written.
func checkUpdate(r *adminapi.UpdateSessionRequest) error {
	for k := range r.SetProfile {
		if strings.TrimSpace(k) == "" {
			return invalidf("invalid profile: a key is empty; write KEY=VALUE")
		}
	}
	for k, v := range r.SetData {
		if strings.TrimSpace(k) == "" {
			return invalidf("invalid data: a key is empty; write KEY=JSON")
		}
		if !json.Valid(v) {
			return invalidf("invalid data %q: the value is not JSON (quote a string: '\"text\"')", k)
		}
	}
	for _, d := range r.Pin {
		if strings.TrimSpace(d.Name) == "" {
			return invalidf("invalid pinned document: its name is empty")
		}
	}
	if tz := r.TimeZone; tz != nil && *tz != "" {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "Local" {
			return invalidf("invalid time zone %q: use an IANA name such as Europe/Paris or America/New_York", *tz)
		}
	}
	if p := r.Policy; p != nil && *p != "" {
		if err := checkPolicy(*p); err != nil {
			return err
		}
	}
	return nil
}

// applyUpdate changes th as r says: removals, then additions.
func applyUpdate(th *Thread, r *adminapi.UpdateSessionRequest) {
	if len(r.UnsetProfile) > 0 || len(r.SetProfile) > 0 {
		p := maps.Clone(th.Profile)
		if p == nil {
			p = map[string]string{}
		}
		for _, k := range r.UnsetProfile {
			delete(p, k)
		}
		maps.Copy(p, r.SetProfile)
		th.Profile = nilIfEmpty(p)
	}
	if len(r.UnsetData) > 0 || len(r.SetData) > 0 {
		d := maps.Clone(th.Data)
		if d == nil {
			d = map[string]json.RawMessage{}
		}
		for _, k := range r.UnsetData {
			delete(d, k)
		}
		maps.Copy(d, r.SetData)
		th.Data = nilIfEmpty(d)
	}
	if len(r.Unpin) > 0 || len(r.Pin) > 0 {
		var docs []contextdoc.PinnedDocument
		for _, d := range th.Documents {
			if !slices.Contains(r.Unpin, d.Name) && !slices.ContainsFunc(r.Pin, func(p contextdoc.PinnedDocument) bool { return p.Name == d.Name }) {
				docs = append(docs, d)
			}
		}
		th.Documents = append(docs, r.Pin...)
	}
	if tz := r.TimeZone; tz != nil {
		th.Environment = nil
		if *tz != "" {
			th.Environment = &contextdoc.Environment{TimeZone: *tz}
		}
	}
	if p := r.Policy; p != nil {
		th.Policy = *p
	}
}

func nilIfEmpty[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}

// missingSettings lists what an update names that is not there to remove,
// so a typo is not silently a no-op.
func missingSettings(th *Thread, r *adminapi.UpdateSessionRequest) error {
	var miss []string
	for _, k := range r.UnsetProfile {
		if _, ok := th.Profile[k]; !ok {
			miss = append(miss, fmt.Sprintf("profile %q", k))
		}
	}
	for _, k := range r.UnsetData {
		if _, ok := th.Data[k]; !ok {
			miss = append(miss, fmt.Sprintf("data %q", k))
		}
	}
	for _, n := range r.Unpin {
		if !slices.ContainsFunc(th.Documents, func(d contextdoc.PinnedDocument) bool { return d.Name == n }) {
			miss = append(miss, fmt.Sprintf("pinned document %q", n))
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return wrapf(ErrNotFound, "%s has no %s; nothing was changed", describeThread(th.Kind, th.Owner, th.ID), strings.Join(miss, ", "))
}

// Update changes a session's profile, data, pinned documents, environment
// or policy. Other kinds keep only their items and are refused.
func (m *Manager) Update(ctx context.Context, kind Kind, owner, id string, r adminapi.UpdateSessionRequest) (*adminapi.SessionInfo, error) {
	owner, err := m.resolve(kind, owner, id)
	if err != nil {
		return nil, err
	}
	if kind != KindSession {
		return nil, invalidf("only a session has a profile, data, pinned documents, a time zone and a policy; %s keeps its items only (fork it to a session to set them)", describeThread(kind, owner, id))
	}
	if err := checkUpdate(&r); err != nil {
		return nil, err
	}
	th, _, err := m.get(kind, owner, id)
	if err != nil {
		return nil, err
	}
	if err := missingSettings(th, &r); err != nil {
		return nil, err
	}
	// MustExist: one deleted since the check above is not made again
	// with only these settings.
	if err := m.Store.Commit(ctx, Change{Kind: kind, Owner: owner, ID: id, MustExist: true, Update: func(th *Thread) { applyUpdate(th, &r) }}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, NotFoundError(kind, owner, id)
		}
		return nil, err
	}
	th, _, err = m.get(kind, owner, id)
	if err != nil {
		return nil, err
	}
	in := Info(th)
	return &in, nil
}

// history returns what a conversation holds, oldest first: a response's
// whole chain (or the conversation it was added to), as the gateway
// would send it next.
func (m *Manager) history(kind Kind, owner, id string) (*Thread, []contextdoc.Item, error) {
	th, items, err := m.get(kind, owner, id)
	if err != nil || kind != KindResponse {
		return th, items, err
	}
	if th.Conversation != "" {
		if _, citems, err := m.Store.Get(KindConversation, owner, th.Conversation); err == nil {
			return th, citems, nil
		}
	}
	chain := [][]contextdoc.Item{items}
	for prev, n := th.Previous, 0; prev != "" && n < 100000; n++ {
		p, pitems, err := m.Store.Get(KindResponse, owner, prev)
		if err != nil {
			break // an earlier response was deleted: the history starts after it
		}
		chain = append(chain, pitems)
		prev = p.Previous
	}
	var all []contextdoc.Item
	for i := len(chain) - 1; i >= 0; i-- {
		all = append(all, chain[i]...)
	}
	return th, all, nil
}

// Fork copies a conversation, its items and settings, to a new session
// named r.To, of r.Key or the same key.
func (m *Manager) Fork(ctx context.Context, kind Kind, owner, id string, r adminapi.ForkSessionRequest) (*adminapi.SessionInfo, error) {
	owner, err := m.resolve(kind, owner, id)
	if err != nil {
		return nil, err
	}
	if r.To == "" {
		return nil, invalidf("name the new session")
	}
	if err := CheckName(r.To); err != nil {
		return nil, err
	}
	to := owner
	if r.Key != "" {
		to = r.Key
		if err := m.checkKey(to); err != nil {
			return nil, err
		}
	}
	src, items, err := m.history(kind, owner, id)
	if err != nil {
		return nil, err
	}
	copied := slices.Clone(items)
	err = m.Store.Commit(ctx, Change{Kind: KindSession, Owner: to, ID: r.To, Create: true, Append: copied,
		Update: func(th *Thread) {
			th.Model, th.Provider = src.Model, src.Provider
			th.Turns, th.Input, th.Output, th.Cost = src.Turns, src.Input, src.Output, src.Cost
			if kind == KindSession {
				th.Policy = src.Policy
				th.Profile, th.Data = maps.Clone(src.Profile), maps.Clone(src.Data)
				th.Documents = slices.Clone(src.Documents)
				if src.Environment != nil {
					env := *src.Environment
					th.Environment = &env
				}
				if src.Summary != nil {
					sum := *src.Summary
					th.Summary = &sum
				}
			}
		}})
	if errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("%s %w; choose another name, or delete it first with 'credflow sessions rm %s --key %s'", describeThread(KindSession, to, r.To), ErrExists, shellQuote(r.To), to)
	}
	if err != nil {
		return nil, err
	}
	th, _, err := m.get(KindSession, to, r.To)
	if err != nil {
		return nil, err
	}
	in := Info(th)
	return &in, nil
}

// shellQuote quotes a name for a command line in a hint when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Prune deletes the conversations not updated for olderThan, or, when it
// is nil, past their key's retention; it returns how many it deleted.
func (m *Manager) Prune(olderThan *time.Duration) (int, error) {
	now := m.now()
	var cutoff func(string) time.Time
	switch {
	case olderThan != nil:
		if *olderThan <= 0 {
			return 0, invalidf("invalid age %s: give a positive age such as 30d", *olderThan)
		}
		t := now.Add(-*olderThan)
		cutoff = func(string) time.Time { return t }
	case m.Retention == nil:
		return 0, invalidf("no retention is configured; give an age (--older-than 30d)")
	default:
		cutoff = func(owner string) time.Time {
			d := m.Retention(owner)
			if d <= 0 {
				return time.Time{} // kept forever
			}
			return now.Add(-d)
		}
	}
	return m.Store.Prune(cutoff)
}

// Admin API.

// Body limits: a document may hold images and files; a change may pin a
// long document.
const (
	maxDocument = 64 << 20
	maxChange   = 16 << 20
)

// AdminRoutes registers the stored-conversation endpoints of the admin
// API on mux (the list is in pkg/adminapi). open returns the manager over
// the open context file; its error (the vault holding the data key cannot
// be used) is answered with 503.
func AdminRoutes(mux *http.ServeMux, open func(ctx context.Context) (*Manager, error)) {
	with := func(fn func(w http.ResponseWriter, r *http.Request, m *Manager)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m, err := open(r.Context())
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error()})
				return
			}
			fn(w, r, m)
		}
	}
	path := func(r *http.Request) (Kind, string, string) {
		return Kind(r.PathValue("kind")), r.PathValue("key"), r.PathValue("id")
	}
	mux.HandleFunc("GET /v1/sessions", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		list, err := m.List(Kind(r.URL.Query().Get("kind")), r.URL.Query().Get("key"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, list)
	}))
	mux.HandleFunc("GET /v1/sessions/{kind}/{key}/{id}", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		kind, key, id := path(r)
		d, err := m.Get(kind, key, id)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	}))
	mux.HandleFunc("PUT /v1/sessions/{kind}/{key}/{id}", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		kind, key, id := path(r)
		var d contextdoc.Document
		// Unknown fields are kept out, not refused: a newer credflow's
		// document may have more.
		if !decode(w, r, &d, maxDocument, false) {
			return
		}
		if d.Kind != string(kind) || d.ID != id {
			writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: fmt.Sprintf("the document is %s %q but the path names %s %q", d.Kind, d.ID, kind, id)})
			return
		}
		replace := r.URL.Query().Get("replace")
		in, created, err := m.Import(r.Context(), key, &d, replace == "1" || replace == "true")
		if err != nil {
			writeError(w, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, in)
	}))
	mux.HandleFunc("PATCH /v1/sessions/{kind}/{key}/{id}", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		kind, key, id := path(r)
		var req adminapi.UpdateSessionRequest
		if !decode(w, r, &req, maxChange, true) {
			return
		}
		in, err := m.Update(r.Context(), kind, key, id, req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
	}))
	mux.HandleFunc("DELETE /v1/sessions/{kind}/{key}/{id}", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		kind, key, id := path(r)
		in, err := m.Delete(kind, key, id)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
	}))
	mux.HandleFunc("POST /v1/sessions/{kind}/{key}/{id}/fork", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		kind, key, id := path(r)
		var req adminapi.ForkSessionRequest
		if !decode(w, r, &req, maxChange, true) {
			return
		}
		in, err := m.Fork(r.Context(), kind, key, id, req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, in)
	}))
	mux.HandleFunc("POST /v1/sessions/prune", with(func(w http.ResponseWriter, r *http.Request, m *Manager) {
		var req adminapi.PruneSessionsRequest
		if !decode(w, r, &req, maxChange, true) {
			return
		}
		var age *time.Duration
		if s := req.OlderThanSeconds; s != nil {
			if *s <= 0 || *s > int64(100*365*24*time.Hour/time.Second) {
				writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: fmt.Sprintf("older_than_seconds %d: use 1 to %d", *s, int64(100*365*24*time.Hour/time.Second))})
				return
			}
			d := time.Duration(*s) * time.Second
			age = &d
		}
		n, err := m.Prune(age)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, adminapi.PruneSessionsResult{Deleted: n})
	}))
}

// decode reads a JSON body of at most limit bytes into v; an empty body
// leaves v as it is. It answers 400 itself and reports false on a bad
// body.
func decode(w http.ResponseWriter, r *http.Request, v any, limit int64, strict bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		msg := "invalid request body: " + err.Error()
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			msg = fmt.Sprintf("the request body is larger than %d MiB", limit>>20)
		}
		writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: msg})
		return false
	}
	return true
}

// StatusFor maps the package's errors to HTTP statuses.
func StatusFor(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists):
		return http.StatusConflict
	case errors.Is(err, store.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrDamaged):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusFor(err), adminapi.Error{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
