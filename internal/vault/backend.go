package vault

import (
	"context"
	"errors"
)

// Backend stores secret values by item name. Implementations hold values
// only; every fact about a secret (versions, states, dates) lives in the
// data file.
type Backend interface {
	// Name is "keychain" or "file", as in the config.
	Name() string
	// Get returns the item's value or an error wrapping ErrNotFound.
	Get(ctx context.Context, item string) (string, error)
	// Apply stores sets and removes deletes. Removing a missing item is not
	// an error. A file backend writes once for the whole call.
	Apply(ctx context.Context, sets map[string]string, deletes []string) error
	// Probe checks that the backend answers, without changing what it holds.
	Probe(ctx context.Context) error
}

// Errors a backend maps its own failures to, so callers and users see one
// vocabulary whatever the store.
var (
	ErrNotFound       = errors.New("not found")
	ErrTooBig         = errors.New("value too big for the backend")
	ErrUnavailable    = errors.New("vault backend unavailable")
	ErrBadPassphrase  = errors.New("wrong vault passphrase")
	ErrExists         = errors.New("already exists")
	ErrNoActive       = errors.New("no active version")
	ErrInvalidName    = errors.New("invalid name")
	ErrActiveVersion  = errors.New("version is active")
	ErrNothingToRoll  = errors.New("no version to roll back to")
	ErrValueEmpty     = errors.New("empty value")
	ErrVersionMissing = errors.New("version has no stored value")
)
