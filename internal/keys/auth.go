package keys

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// AuthError is why Authenticate refused a key. Its message is for the
// client and names the key, never its value; Err is one of ErrMissingKey,
// ErrUnknownKey, ErrRevoked or ErrExpired, for errors.Is.
type AuthError struct {
	Err error
	// Name is the key's name when the key was recognised.
	Name string
	// At is when it was revoked or expired.
	At  time.Time
	msg string
}

func (e *AuthError) Error() string { return e.msg }
func (e *AuthError) Unwrap() error { return e.Err }

// The two refusals that name no key are built once: a flood of bad keys
// costs no allocations.
var (
	errMissing = &AuthError{Err: ErrMissingKey,
		msg: "no virtual key presented; send a credflow key as 'Authorization: Bearer cf-...' (or 'x-api-key: cf-...'); create one with 'credflow keys create NAME'"}
	errUnknown = &AuthError{Err: ErrUnknownKey,
		msg: "the presented key is not a known credflow virtual key; check the client's key, or see 'credflow keys list'"}
	errNotOurs = &AuthError{Err: ErrUnknownKey,
		msg: "the presented key is not a credflow virtual key (those start with \"cf-\"); give the client a key from 'credflow keys create NAME', not a provider key"}
)

// Authenticator answers, for each request, which virtual key it presented.
// It holds an immutable snapshot of the records and swaps it whole on Load,
// so Authenticate takes no lock and is safe for concurrent use while the
// daemon reloads.
type Authenticator struct {
	now  func() time.Time
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	byHash map[Hash]entry
}

// entry is one accepted hash: a key's current one, or its previous one
// during a rotation's grace period.
type entry struct {
	hash     Hash
	key      *Key
	previous bool
}

// NewAuthenticator returns an Authenticator that knows no keys yet; now is
// its clock (nil: time.Now).
func NewAuthenticator(now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{now: now}
	a.snap.Store(&snapshot{byHash: map[Hash]entry{}})
	return a
}

// Load replaces everything the Authenticator knows with keys, atomically:
// a request sees either the old set or the new one. keys is copied.
func (a *Authenticator) Load(keys []Key) {
	s := &snapshot{byHash: make(map[Hash]entry, len(keys))}
	for i := range keys {
		k := keys[i].clone()
		s.byHash[k.Hash] = entry{hash: k.Hash, key: k}
		if !k.Previous.IsZero() && k.RevokedAt.IsZero() {
			s.byHash[k.Previous] = entry{hash: k.Previous, key: k, previous: true}
		}
	}
	a.snap.Store(s)
}

// Len reports how many keys are loaded.
func (a *Authenticator) Len() int {
	n := 0
	for _, e := range a.snap.Load().byHash {
		if !e.previous {
			n++
		}
	}
	return n
}

// Keys returns the loaded keys (shared: do not modify), for reports.
func (a *Authenticator) Keys() []*Key {
	var out []*Key
	for _, e := range a.snap.Load().byHash {
		if !e.previous {
			out = append(out, e.key)
		}
	}
	return out
}

// Known reports whether value is a virtual key this gateway has issued,
// revoked and rotated-out ones included (a pasted one is still a leak).
func (a *Authenticator) Known(value string) bool {
	if !strings.HasPrefix(value, KeyPrefix) {
		return false
	}
	_, ok := a.snap.Load().byHash[HashKey(value)]
	return ok
}

// Authenticate returns the key whose value was presented, or an *AuthError
// that says why it is refused. The returned Key is shared and must not be
// modified. On success it does not allocate.
func (a *Authenticator) Authenticate(presented string) (*Key, error) {
	if presented == "" {
		return nil, errMissing
	}
	if !strings.HasPrefix(presented, KeyPrefix) {
		return nil, errNotOurs
	}
	h := HashKey(presented)
	e, ok := a.snap.Load().byHash[h]
	// The map finds the record by the hash of the presented key, so no
	// comparison ever runs against the key itself; the constant-time
	// compare of the two hashes keeps it so should the lookup change.
	if !ok || subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 {
		return nil, errUnknown
	}
	k := e.key
	now := a.now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, &AuthError{Err: ErrRevoked, Name: k.Name, At: k.RevokedAt,
			msg: fmt.Sprintf("virtual key %q was revoked on %s; create a new one with 'credflow keys create NAME'", k.Name, k.RevokedAt.Format(time.DateOnly))}
	case e.previous && !now.Before(k.PreviousUntil):
		return nil, &AuthError{Err: ErrExpired, Name: k.Name, At: k.PreviousUntil,
			msg: fmt.Sprintf("this is the old value of virtual key %q, rotated on %s; it stopped working on %s. Use the key the rotation gave out", k.Name, k.RotatedAt.Format(time.DateOnly), dateText(k.PreviousUntil))}
	case k.expired(now):
		return nil, &AuthError{Err: ErrExpired, Name: k.Name, At: k.ExpiresAt,
			msg: fmt.Sprintf("virtual key %q expired on %s; extend it with 'credflow keys update %s --expires 30d', or create a new one", k.Name, dateText(k.ExpiresAt), k.Name)}
	}
	return k, nil
}

// Allowed reports whether key may call model; see Key.Allows and Match.
func (a *Authenticator) Allowed(key *Key, model string) bool {
	return key != nil && key.Allows(model)
}
