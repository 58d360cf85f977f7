package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"filippo.io/age"
)

// File stores values in one age-encrypted JSON file, unlocked with a
// scrypt passphrase. It is for machines without a usable OS keychain.
type File struct {
	Path string
	// Passphrase returns the passphrase; confirm is true when the file is
	// about to be created, so a TTY prompt can ask twice.
	Passphrase func(confirm bool) (string, error)
	// WorkFactor is scrypt's log2(N) for new encryptions; 0 means age's
	// default (18, about a second). Tests lower it.
	WorkFactor int

	mu     sync.Mutex
	pass   string
	items  map[string]string
	loaded bool
}

// fileFormat is the plaintext inside the age envelope.
type fileFormat struct {
	Version int               `json:"version"`
	Items   map[string]string `json:"items"`
}

// Name implements Backend.
func (f *File) Name() string { return "file" }

// Get implements Backend.
func (f *File) Get(ctx context.Context, item string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return "", err
	}
	v, ok := f.items[item]
	if !ok {
		return "", fmt.Errorf("item %q in %s: %w", item, f.Path, ErrNotFound)
	}
	return v, nil
}

// Apply implements Backend with one atomic rewrite of the file.
func (f *File) Apply(ctx context.Context, sets map[string]string, deletes []string) error {
	if len(sets) == 0 && len(deletes) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	next := make(map[string]string, len(f.items)+len(sets))
	for k, v := range f.items {
		next[k] = v
	}
	for k, v := range sets {
		next[k] = v
	}
	for _, k := range deletes {
		delete(next, k)
	}
	if err := f.write(next); err != nil {
		return err
	}
	f.items = next
	return nil
}

// Probe implements Backend: the file must be absent (it will be created) or
// open with the passphrase.
func (f *File) Probe(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load()
}

func (f *File) passphrase(confirm bool) (string, error) {
	if f.pass != "" {
		return f.pass, nil
	}
	if f.Passphrase == nil {
		return "", fmt.Errorf("%w: the file vault %s needs a passphrase: set CREDFLOW_VAULT_PASSPHRASE or run credflow in a terminal", ErrUnavailable, f.Path)
	}
	p, err := f.Passphrase(confirm)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", fmt.Errorf("%w: the vault passphrase is empty; set CREDFLOW_VAULT_PASSPHRASE or type one at the prompt", ErrBadPassphrase)
	}
	f.pass = p
	return p, nil
}

func (f *File) load() error {
	if f.loaded {
		return nil
	}
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		f.items = map[string]string{}
		f.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrUnavailable, f.Path, err)
	}
	pass, err := f.passphrase(false)
	if err != nil {
		return err
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return err
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		f.pass = ""
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return fmt.Errorf("%w: the passphrase does not unlock %s; check CREDFLOW_VAULT_PASSPHRASE", ErrBadPassphrase, f.Path)
		}
		return fmt.Errorf("%w: %s is not a readable credflow vault (%v); restore it from a backup or move it aside", ErrUnavailable, f.Path, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %s is damaged (%v); restore it from a backup", ErrUnavailable, f.Path, err)
	}
	var ff fileFormat
	if err := json.Unmarshal(plain, &ff); err != nil {
		return fmt.Errorf("%w: %s decrypts but is not a credflow vault; restore it from a backup", ErrUnavailable, f.Path)
	}
	if ff.Items == nil {
		ff.Items = map[string]string{}
	}
	f.items = ff.Items
	f.loaded = true
	return nil
}

// write replaces the file atomically: temp file in the same directory,
// fsync, rename, fsync the directory. A crash leaves the old or new file.
func (f *File) write(items map[string]string) error {
	_, statErr := os.Stat(f.Path)
	pass, err := f.passphrase(errors.Is(statErr, fs.ErrNotExist))
	if err != nil {
		return err
	}
	rcp, err := age.NewScryptRecipient(pass)
	if err != nil {
		return err
	}
	if f.WorkFactor > 0 {
		rcp.SetWorkFactor(f.WorkFactor)
	}
	plain, err := json.Marshal(fileFormat{Version: 1, Items: items})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".vault-*.tmp")
	if err != nil {
		return fmt.Errorf("write vault file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write vault file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write vault file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("replace vault file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Create writes an empty vault file if none exists, asking for a new
// passphrase; an existing file is only unlocked.
func (f *File) Create(ctx context.Context) (created bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return false, err
	}
	if _, err := os.Stat(f.Path); err == nil {
		return false, nil
	}
	return true, f.write(f.items)
}
