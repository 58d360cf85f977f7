package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Virtual keys on the admin API:
//
//	POST  /v1/keys               CreateKeyRequest  -> 201 IssuedKey
//	GET   /v1/keys                                 -> 200 KeyList
//	GET   /v1/keys/{name}                          -> 200 Key
//	POST  /v1/keys/{name}/revoke                   -> 200 Key
//	POST  /v1/keys/{name}/rotate RotateKeyRequest  -> 200 IssuedKey
//	PATCH /v1/keys/{name}        UpdateKeyRequest  -> 200 Key
//
// Errors are {"error": "..."} with 400 (bad name, pattern or duration),
// 404 (no such key), 409 (name taken, key revoked) or 500.
//
// No type here carries a key's hash. The key itself appears only in
// IssuedKey, the answer to create and rotate, and only that once.

// KeyState is where a virtual key is in its life.
type KeyState string

// Key states.
const (
	KeyActive  KeyState = "active"
	KeyExpired KeyState = "expired"
	KeyRevoked KeyState = "revoked"
)

// Key describes a virtual key without its secret or hash.
type Key struct {
	Name string `json:"name"`
	// Prefix is the key's first characters ("cf-AbCd"), to tell keys apart.
	Prefix    string    `json:"prefix"`
	State     KeyState  `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RotatedAt time.Time `json:"rotated_at,omitzero"`
	// Models are glob patterns of the models the key may call; empty
	// means every model.
	Models []string `json:"models"`
	// Templates, when set, restrict the key to running these prompt
	// templates; it cannot call the model APIs directly.
	Templates []string `json:"templates,omitempty"`
	// Policy holds the key's budgets and rate limits.
	Policy Policy `json:"policy,omitzero"`
	// PreviousPrefix and PreviousUntil describe the key replaced by the
	// last rotation while it is still accepted (its grace period).
	PreviousPrefix string    `json:"previous_prefix,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitzero"`
}

// KeyList is the answer to GET /v1/keys.
type KeyList struct {
	Keys []Key `json:"keys"`
}

// IssuedKey is the answer to create and rotate: the key's description and
// the key itself, which is not stored and cannot be shown again.
type IssuedKey struct {
	Key   Key    `json:"key"`
	Value string `json:"value"`
}

// CreateKeyRequest creates a virtual key.
type CreateKeyRequest struct {
	Name string `json:"name"`
	// Models are glob patterns ("gpt-4o*", "mock/*"); empty: every model.
	Models []string `json:"models,omitempty"`
	// Templates restrict the key to these templates (names or globs).
	Templates []string `json:"templates,omitempty"`
	// ExpiresInSeconds is the key's lifetime from now; 0: no expiry.
	ExpiresInSeconds int64 `json:"expires_in_seconds,omitempty"`
	// Policy sets budgets and rate limits.
	Policy Policy `json:"policy,omitzero"`
}

// RotateKeyRequest replaces a key's secret.
type RotateKeyRequest struct {
	// GraceSeconds is how long the replaced key stays accepted; nil
	// means the server's default, 0 stops it at once.
	GraceSeconds *int64 `json:"grace_seconds,omitempty"`
}

// UpdateKeyRequest changes a key's policy. Nil fields stay as they are.
type UpdateKeyRequest struct {
	// Models replaces the model patterns; an empty list allows every model.
	Models *[]string `json:"models,omitempty"`
	// Templates replaces the template restriction; an empty list lifts it.
	Templates *[]string `json:"templates,omitempty"`
	// ExpiresInSeconds sets the expiry to now plus this; 0 removes it.
	ExpiresInSeconds *int64 `json:"expires_in_seconds,omitempty"`
	// Policy replaces the key's budgets and rate limits.
	Policy *Policy `json:"policy,omitempty"`
}

func keyPath(name string, action string) string {
	p := "/v1/keys/" + url.PathEscape(name)
	if action != "" {
		p += "/" + action
	}
	return p
}

// CreateKey creates a virtual key and returns it, the only time it is shown.
func (c *Client) CreateKey(ctx context.Context, r CreateKeyRequest) (*IssuedKey, error) {
	var out IssuedKey
	if err := c.do(ctx, http.MethodPost, "/v1/keys", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns every virtual key, revoked and expired ones included,
// ordered by name.
func (c *Client) ListKeys(ctx context.Context) ([]Key, error) {
	var out KeyList
	if err := c.do(ctx, http.MethodGet, "/v1/keys", nil, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// GetKey describes one virtual key.
func (c *Client) GetKey(ctx context.Context, name string) (*Key, error) {
	var out Key
	if err := c.do(ctx, http.MethodGet, keyPath(name, ""), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKey revokes a virtual key for good; the daemon refuses it at once.
func (c *Client) RevokeKey(ctx context.Context, name string) (*Key, error) {
	var out Key
	if err := c.do(ctx, http.MethodPost, keyPath(name, "revoke"), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKey gives a virtual key a new secret and returns it, the only time
// it is shown. The old one stays accepted for the grace period.
func (c *Client) RotateKey(ctx context.Context, name string, r RotateKeyRequest) (*IssuedKey, error) {
	var out IssuedKey
	if err := c.do(ctx, http.MethodPost, keyPath(name, "rotate"), r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateKey changes a virtual key's models or expiry.
func (c *Client) UpdateKey(ctx context.Context, name string, r UpdateKeyRequest) (*Key, error) {
	var out Key
	if err := c.do(ctx, http.MethodPatch, keyPath(name, ""), r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
