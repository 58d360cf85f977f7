// Package keys owns credflow's virtual keys: the credentials clients of the
// gateway hold instead of the real provider keys, which only the daemon
// knows.
//
// It owns the key format ("cf-" and 32 base64url characters: 24 random
// bytes), the records in the data file's keys bucket (store.BucketKeys),
// the service that creates, lists, updates, rotates and revokes them with an
// audit record per change, the admin API handlers for the same operations,
// and the in-memory Authenticator the daemon checks every request against.
//
// A key is shown once, when it is created or rotated, and never stored:
// a record holds the SHA-256 hash of the key and a short display prefix
// ("cf-AbCd") only. Key values never appear in errors, logs or audit
// records.
//
// Model patterns are small globs (see Match): '*' matches any run of
// characters, '/' included, and '?' matches one character.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/glob"
	"github.com/credflow/credflow/pkg/adminapi"
)

// KeyPrefix starts every virtual key, so people and secret scanners can
// tell credflow keys from provider keys.
const KeyPrefix = "cf-"

// randomBytes is the key's entropy: 192 bits, well above the 128 the
// design asks for.
const randomBytes = 24

// displayLen is how much of a key lists show: "cf-" and 4 characters,
// 24 of the key's 192 bits, enough to tell keys apart and useless to guess
// the rest.
const displayLen = len(KeyPrefix) + 4

// DefaultGrace is how long a rotated-out key stays accepted when the
// caller does not say.
const DefaultGrace = 24 * time.Hour

// MaxLifetime bounds expiries and grace periods.
const MaxLifetime = 100 * 365 * 24 * time.Hour

// Errors. They are wrapped in sentences that say what to do; test for them
// with errors.Is.
var (
	// ErrInvalidName: a key name that config.NameRE rejects.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalid: a bad model pattern, duration or empty change.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no key of that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: the name is taken.
	ErrExists = errors.New("already exists")
	// ErrRevoked: the key was revoked (management refused, or a request
	// presented it).
	ErrRevoked = errors.New("revoked")
	// ErrExpired: the key, or the rotated-out key presented, has expired.
	ErrExpired = errors.New("expired")
	// ErrMissingKey: a request presented no key.
	ErrMissingKey = errors.New("no virtual key presented")
	// ErrUnknownKey: a request presented a key that matches no record.
	ErrUnknownKey = errors.New("unknown virtual key")
)

// Hash is the SHA-256 of a whole key string. It is stored as hex.
//
// A fast, unsalted hash is right here, unlike for passwords: a key has 192
// random bits, so there is no dictionary to try and brute force is out of
// reach however fast the hash is; a slow KDF would only cost the daemon
// time on every request. Without a salt the hash is also a map key, so
// authentication is one lookup.
type Hash [sha256.Size]byte

// HashKey returns the hash of key as stored.
func HashKey(key string) Hash {
	// A key is 35 bytes; copying it to the stack spares the request path
	// the heap allocation of []byte(key).
	var buf [64]byte
	if len(key) <= len(buf) {
		return sha256.Sum256(append(buf[:0], key...))
	}
	return sha256.Sum256([]byte(key))
}

// IsZero reports an unset hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText writes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(h[:])), nil
}

// UnmarshalText reads a hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != hex.EncodedLen(len(h)) {
		return fmt.Errorf("key hash has %d hex digits, want %d", len(b), hex.EncodedLen(len(h)))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Policy holds a key's budgets and rate limits (enforced by the gateway's
// limiter, internal/limits).
type Policy = adminapi.Policy

// Key is a virtual key's record. It never holds the key itself.
type Key struct {
	Name string `json:"name"`
	// Hash is the SHA-256 of the current key.
	Hash Hash `json:"hash"`
	// Prefix is the current key's first characters, for lists.
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RotatedAt time.Time `json:"rotated_at,omitzero"`
	// Models are glob patterns (see Match) of the models the key may
	// call; empty means every model.
	Models []string `json:"models,omitempty"`
	// Templates, when set, restrict the key to running these prompt
	// templates (names or glob patterns) through POST /v1/templates/NAME;
	// such a key cannot call the model APIs directly.
	Templates []string `json:"templates,omitempty"`
	// Previous is the hash of the key the last rotation replaced; it is
	// accepted until PreviousUntil.
	Previous       Hash      `json:"previous,omitzero"`
	PreviousPrefix string    `json:"previous_prefix,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitzero"`
	Policy         Policy    `json:"policy,omitzero"`
}

// State is where the key is at time now.
func (k *Key) State(now time.Time) adminapi.KeyState {
	switch {
	case !k.RevokedAt.IsZero():
		return adminapi.KeyRevoked
	case k.expired(now):
		return adminapi.KeyExpired
	}
	return adminapi.KeyActive
}

func (k *Key) expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// inGrace reports whether the rotated-out key is still accepted.
func (k *Key) inGrace(now time.Time) bool {
	return !k.Previous.IsZero() && now.Before(k.PreviousUntil)
}

// Allows reports whether the key may call model: true when it has no
// patterns or one of them matches.
func (k *Key) Allows(model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, p := range k.Models {
		if Match(p, model) {
			return true
		}
	}
	return false
}

// AllowsTemplate reports whether the key may run template name: true when
// it has no template list or one of its patterns matches.
func (k *Key) AllowsTemplate(name string) bool {
	if len(k.Templates) == 0 {
		return true
	}
	for _, p := range k.Templates {
		if Match(p, name) {
			return true
		}
	}
	return false
}

// Public is the key's description for the admin API and lists: no hashes.
func (k *Key) Public(now time.Time) adminapi.Key {
	p := adminapi.Key{
		Name:      k.Name,
		Prefix:    k.Prefix,
		State:     k.State(now),
		CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt,
		RotatedAt: k.RotatedAt,
		Models:    append([]string{}, k.Models...),
		Templates: slices.Clone(k.Templates),
		Policy:    k.Policy,
	}
	if k.inGrace(now) && k.RevokedAt.IsZero() {
		p.PreviousPrefix, p.PreviousUntil = k.PreviousPrefix, k.PreviousUntil
	}
	return p
}

func (k *Key) clone() *Key {
	c := *k
	c.Models = slices.Clone(k.Models)
	c.Templates = slices.Clone(k.Templates)
	c.Policy.Budgets = slices.Clone(k.Policy.Budgets)
	return &c
}

// newKey returns a fresh key and its hash.
func newKey() (string, Hash) {
	b := make([]byte, randomBytes)
	// crypto/rand.Read never fails (it crashes the program instead).
	rand.Read(b)
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key)
}

func displayPrefix(key string) string { return key[:displayLen] }

// CheckName validates a key name: the same rule as secret names.
func CheckName(name string) error {
	if !config.NameRE.MatchString(name) {
		return fmt.Errorf("%w: key name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}

// patternChars are what a model pattern may contain besides letters and
// digits: what model names use, and the two wildcards.
const patternChars = "-._:/@+*?"

// maxPatternLen bounds a pattern; model names are far shorter.
const maxPatternLen = 200

// CheckPattern validates one model pattern.
func CheckPattern(p string) error {
	if p == "" {
		return fmt.Errorf("an empty model pattern is %w; leave --models out to allow every model", ErrInvalid)
	}
	if len(p) > maxPatternLen {
		return fmt.Errorf("model pattern %q is %w: longer than %d characters", p, ErrInvalid, maxPatternLen)
	}
	for _, c := range p {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(patternChars, c)) {
			continue
		}
		return fmt.Errorf("model pattern %q is %w: %q is not allowed; use letters, digits and - . _ : / @ +, with * for any run of characters and ? for one (e.g. 'gpt-4o*', 'claude-*', 'mock/*')", p, ErrInvalid, c)
	}
	return nil
}

// CheckModels validates patterns and returns them without duplicates, in
// their order; nil for none.
func CheckModels(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if err := CheckPattern(p); err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// CheckTemplates validates template names or patterns and returns them
// without duplicates, in their order; nil for none.
func CheckTemplates(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if !templateRE.MatchString(p) {
			return nil, fmt.Errorf("template pattern %q is %w: use a template name (letters, digits, '.', '_', '-'), with * for any run of characters and ? for one", p, ErrInvalid)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

var templateRE = regexp.MustCompile(`^[A-Za-z0-9*?][A-Za-z0-9_.*?-]{0,63}$`)

// Match reports whether model matches pattern (see glob.Match), the same
// rule routes use.
func Match(pattern, model string) bool { return glob.Match(pattern, model) }

// models renders patterns for messages.
func modelsText(models []string) string {
	if len(models) == 0 {
		return "all models"
	}
	return "models " + strings.Join(models, ", ")
}

func templatesText(ts []string) string {
	if len(ts) == 0 {
		return "any template and the model APIs"
	}
	return "only templates " + strings.Join(ts, ", ")
}

func dateText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
