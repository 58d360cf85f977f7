package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// Stored conversations on the admin API (the gateway's context engine):
//
//	GET    /v1/sessions?kind=K&key=NAME                                -> 200 SessionList
//	GET    /v1/sessions/{kind}/{key}/{id}                              -> 200 contextdoc.Document
//	PUT    /v1/sessions/{kind}/{key}/{id}[?replace=1] contextdoc.Document -> 201 SessionInfo (200 replaced)
//	PATCH  /v1/sessions/{kind}/{key}/{id}      UpdateSessionRequest    -> 200 SessionInfo
//	DELETE /v1/sessions/{kind}/{key}/{id}                              -> 200 SessionInfo
//	POST   /v1/sessions/{kind}/{key}/{id}/fork ForkSessionRequest      -> 201 SessionInfo
//	POST   /v1/sessions/prune                  PruneSessionsRequest    -> 200 PruneSessionsResult
//
// {kind} is session, conversation or response; {key} is the owner, the
// virtual key's name. A conversation's or response's id is unique, so for
// those {key} may be "-": whichever key owns it. A session is named per
// key and needs its key. Without kind, the list holds all three kinds;
// without key, every key's.
//
// Errors are {"error": "..."} with 400 (bad kind, name or body), 404 (no
// such conversation for that key: another key's is not found either), 409
// (it exists), 503 (the vault holding the context data key cannot be
// used) or 500.

// Kinds of stored conversation.
const (
	KindSession      = contextdoc.KindSession
	KindConversation = contextdoc.KindConversation
	KindResponse     = contextdoc.KindResponse
)

// AnyKey in a session path stands for whichever key owns a conversation
// or response.
const AnyKey = "-"

// SessionInfo describes one stored conversation without its items.
type SessionInfo struct {
	Kind string `json:"kind"`
	// ID is a session's name, or a conversation's or response's id.
	ID string `json:"id"`
	// Key is the virtual key it belongs to.
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Model answered last.
	Model  string `json:"model,omitempty"`
	Policy string `json:"policy,omitempty"`
	// Turns counts the exchanges; Items the stored items.
	Turns int `json:"turns"`
	Items int `json:"items"`
	// InputTokens, OutputTokens and CostMicros sum the turns' usage (the
	// cost over the turns whose price is known).
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	CostMicros   int64 `json:"cost_micros"`
	// SummaryItems is how many of the oldest items the running summary
	// stands for (summarize policy); 0 without a summary.
	SummaryItems int `json:"summary_items,omitempty"`
	// Previous is a response's previous_response_id.
	Previous string `json:"previous,omitempty"`
}

// SessionList is the answer to GET /v1/sessions, most recently updated
// first.
type SessionList struct {
	Sessions []SessionInfo `json:"sessions"`
	// Damaged counts records that could not be read and were left out.
	Damaged int `json:"damaged,omitempty"`
}

// UpdateSessionRequest changes a stored conversation's settings; what it
// does not mention stays as it is. Unset and removals apply before sets
// and additions.
type UpdateSessionRequest struct {
	// Profile: facts about the user given to the model with every request.
	SetProfile   map[string]string `json:"set_profile,omitempty"`
	UnsetProfile []string          `json:"unset_profile,omitempty"`
	// Data: the session's state, any JSON values.
	SetData   map[string]json.RawMessage `json:"set_data,omitempty"`
	UnsetData []string                   `json:"unset_data,omitempty"`
	// Pin adds (or replaces, by name) pinned documents; Unpin removes them
	// by name.
	Pin   []contextdoc.PinnedDocument `json:"pin,omitempty"`
	Unpin []string                    `json:"unpin,omitempty"`
	// TimeZone sets the environment's IANA time zone; "" removes the
	// environment.
	TimeZone *string `json:"time_zone,omitempty"`
	// Policy sets how the history is fitted: window, summarize or
	// relevance; "" goes back to the configured default.
	Policy *string `json:"policy,omitempty"`
}

// ForkSessionRequest copies a conversation, its items and settings, to a
// new session.
type ForkSessionRequest struct {
	// To is the new session's name.
	To string `json:"to"`
	// Key gives the copy to another virtual key; empty keeps the same one.
	Key string `json:"key,omitempty"`
}

// PruneSessionsRequest deletes stored conversations not updated for a
// while.
type PruneSessionsRequest struct {
	// OlderThanSeconds is the age past which they go; nil applies the
	// configured retention (context.retention and key_retention).
	OlderThanSeconds *int64 `json:"older_than_seconds,omitempty"`
}

// PruneSessionsResult says how many were deleted.
type PruneSessionsResult struct {
	Deleted int `json:"deleted"`
}

func sessionPath(kind, key, id, action string) string {
	p := "/v1/sessions/" + url.PathEscape(kind) + "/" + url.PathEscape(key) + "/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// ListSessions lists stored conversations of kind ("" for all kinds) and
// key ("" for all keys), most recently updated first.
func (c *Client) ListSessions(ctx context.Context, kind, key string) (*SessionList, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if key != "" {
		q.Set("key", key)
	}
	p := "/v1/sessions"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out SessionList
	if err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSession returns a stored conversation as a credflow.context/v1
// document. key may be AnyKey for a conversation or response.
func (c *Client) GetSession(ctx context.Context, kind, key, id string) (*contextdoc.Document, error) {
	var out contextdoc.Document
	if err := c.do(ctx, http.MethodGet, sessionPath(kind, key, id, ""), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportSession stores d as a conversation of key (the document's own key
// is ignored), replacing one of the same kind and id when replace is set.
func (c *Client) ImportSession(ctx context.Context, key string, d *contextdoc.Document, replace bool) (*SessionInfo, error) {
	p := sessionPath(d.Kind, key, d.ID, "")
	if replace {
		p += "?replace=1"
	}
	var out SessionInfo
	if err := c.do(ctx, http.MethodPut, p, d, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSession deletes a stored conversation and returns what it was.
func (c *Client) DeleteSession(ctx context.Context, kind, key, id string) (*SessionInfo, error) {
	var out SessionInfo
	if err := c.do(ctx, http.MethodDelete, sessionPath(kind, key, id, ""), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateSession changes a stored conversation's settings.
func (c *Client) UpdateSession(ctx context.Context, kind, key, id string, r UpdateSessionRequest) (*SessionInfo, error) {
	var out SessionInfo
	if err := c.do(ctx, http.MethodPatch, sessionPath(kind, key, id, ""), r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ForkSession copies a stored conversation to a new session.
func (c *Client) ForkSession(ctx context.Context, kind, key, id string, r ForkSessionRequest) (*SessionInfo, error) {
	var out SessionInfo
	if err := c.do(ctx, http.MethodPost, sessionPath(kind, key, id, "fork"), r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PruneSessions deletes stored conversations past their retention (or
// older than r.OlderThanSeconds).
func (c *Client) PruneSessions(ctx context.Context, r PruneSessionsRequest) (*PruneSessionsResult, error) {
	var out PruneSessionsResult
	if err := c.do(ctx, http.MethodPost, "/v1/sessions/prune", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
