package session

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of the data key that encrypts the context file.
const KeySize = chacha20poly1305.KeySize

// NewKey returns a fresh random data key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic("session: no randomness: " + err.Error())
	}
	return k
}

// sealer encrypts records with XChaCha20-Poly1305 under the data key. The
// record's place in the file (its bucket key) is the additional data, so a
// record moved to another place, another thread or another owner's
// thread does not open.
type sealer struct {
	aead cipher.AEAD
	// names derives the file's key of a named session from its owner and
	// name, so names are not in the file in the clear.
	names []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("the context data key is %d bytes, want %d", len(key), KeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("credflow context: session names"))
	return &sealer{aead: aead, names: mac.Sum(nil)}, nil
}

// errOpen is a record that does not decrypt: damaged, moved, or written
// under another key.
var errOpen = errors.New("cannot be decrypted (damaged, or written with another data key)")

func (s *sealer) seal(place, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("session: no randomness: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, plain, place)
}

func (s *sealer) open(place, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], place)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

// sessionKey is the file's name for a named session of a key.
func (s *sealer) sessionKey(owner, name string) string {
	mac := hmac.New(sha256.New, s.names)
	mac.Write([]byte(owner))
	mac.Write([]byte{0})
	mac.Write([]byte(name))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}
