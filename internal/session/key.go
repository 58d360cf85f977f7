package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/credflow/credflow/internal/vault"
)

// KeySecret is the vault secret holding the data key of the context file
// (base64 of KeySize bytes). It is made on first use and must not be
// edited: a file sealed under a lost key cannot be read.
const KeySecret = "credflow-context-key"

// ErrNoKey reports that the vault holds no context data key yet: nothing
// was ever stored, so there is nothing to read.
var ErrNoKey = errors.New("no context data key in the vault yet")

// LoadKey reads the context file's data key from v. When the vault has
// none, it makes and stores one if create is set, and returns ErrNoKey
// otherwise (a command that only reads has nothing to read, and must not
// leave a key behind). purpose goes into the vault's audit record of the
// read. A key that exists but cannot be read is an error, never replaced.
func LoadKey(ctx context.Context, v *vault.Vault, purpose string, create bool) ([]byte, error) {
	values, missing, err := v.LoadActive(ctx, []string{KeySecret}, purpose)
	if err != nil {
		return nil, fmt.Errorf("read the context data key from the vault: %w", err)
	}
	if enc, ok := values[KeySecret]; ok {
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("vault secret %q is not a context data key (%d bytes of base64); it must not be edited by hand", KeySecret, KeySize)
		}
		return key, nil
	}
	if err := missing[KeySecret]; err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("read the context data key from the vault: %w", err)
	}
	if !create {
		return nil, ErrNoKey
	}
	key := NewKey()
	if _, err := v.Set(ctx, KeySecret, base64.StdEncoding.EncodeToString(key), vault.Meta{Note: "encrypts stored conversations (context.db); do not edit"}); err != nil {
		return nil, fmt.Errorf("store a context data key in the vault: %w", err)
	}
	return key, nil
}

// MaxNameLen bounds a session's name.
const MaxNameLen = 200

// ErrInvalid marks a bad name, kind or setting; its message says which.
var ErrInvalid = errors.New("invalid")

// sentinelError is a sentence for people that is one of the package's
// errors.
type sentinelError struct {
	msg string
	is  error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.is }

func wrapf(is error, format string, a ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, a...), is: is}
}

func invalidf(format string, a ...any) error { return wrapf(ErrInvalid, format, a...) }

// CheckName validates a session's name, as the X-Credflow-Session header
// gives it: 1 to MaxNameLen printable characters.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return invalidf("invalid session name %q: use 1 to %d printable characters", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return invalidf("invalid session name %q: control characters are not allowed", name)
		}
	}
	return nil
}

// ParseKind accepts a kind's name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindSession, KindConversation, KindResponse:
		return k, nil
	}
	return "", invalidf("invalid kind %q: use session, conversation or response", s)
}
