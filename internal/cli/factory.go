package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/vault"
)

// Factory carries what commands share: streams, environment, clock and the
// lazily opened config, data file and vault. Tests build one by hand.
type Factory struct {
	IO      *iostreams.IOStreams
	Getenv  func(string) string
	Environ func() []string
	Now     func() time.Time

	ConfigFlag  string
	DataDirFlag string
	// Process names the running command for audit records and lock notes.
	Process string
	// configOptional makes a missing --config file mean defaults (init).
	configOptional bool

	paths *config.Paths
	cfg   *config.Config
}

// Paths resolves the config and data locations once.
func (f *Factory) Paths() (config.Paths, error) {
	if f.paths == nil {
		p, err := config.ResolvePaths(f.ConfigFlag, f.DataDirFlag, f.Getenv)
		if err != nil {
			return p, err
		}
		f.paths = &p
	}
	return *f.paths, nil
}

// Config loads the config file (or the embedded defaults) once, applying
// environment overrides meant for CI and tests.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	p, err := f.Paths()
	if err != nil {
		return nil, err
	}
	c, err := config.Load(p.Config, p.ConfigExplicit && !f.configOptional)
	if err != nil {
		return nil, err
	}
	// CREDFLOW_VAULT_BACKEND and CREDFLOW_KEYCHAIN_SERVICE let one config
	// (or none) run against either backend or a private keychain namespace.
	if b := f.Getenv("CREDFLOW_VAULT_BACKEND"); b != "" {
		if b != "keychain" && b != "file" {
			return nil, usageErrorf("CREDFLOW_VAULT_BACKEND=%q: use \"keychain\" or \"file\"", b)
		}
		c.Vault.Backend = b
	}
	if s := f.Getenv("CREDFLOW_KEYCHAIN_SERVICE"); s != "" {
		c.Vault.KeychainService = s
	}
	f.cfg = c
	return c, nil
}

// OpenStore opens the data file, creating the data directory if needed.
func (f *Factory) OpenStore() (*store.DB, error) {
	p, err := f.Paths()
	if err != nil {
		return nil, err
	}
	if err := config.EnsureDataDir(p.DataDir); err != nil {
		return nil, err
	}
	timeout, err := f.lockTimeout()
	if err != nil {
		return nil, err
	}
	return store.Open(filepath.Join(p.DataDir, store.FileName), store.Options{Process: f.Process, Timeout: timeout})
}

// lockTimeout is how long to wait for a file another process holds:
// CREDFLOW_LOCK_TIMEOUT, or the store's default (0).
func (f *Factory) lockTimeout() (time.Duration, error) {
	s := f.Getenv("CREDFLOW_LOCK_TIMEOUT")
	if s == "" {
		return 0, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, usageErrorf("CREDFLOW_LOCK_TIMEOUT=%q: %v", s, err)
	}
	return d, nil
}

// Backend builds the configured vault backend; backend may override it.
func (f *Factory) Backend(backend string) (vault.Backend, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	p, err := f.Paths()
	if err != nil {
		return nil, err
	}
	if backend == "" {
		backend = c.Vault.Backend
	}
	switch backend {
	case "keychain":
		return &vault.Keychain{Service: c.Vault.KeychainService, Timeout: c.Vault.Timeout.Std()}, nil
	case "file":
		fb := &vault.File{Path: c.VaultFilePath(p.DataDir), Passphrase: f.passphrase}
		if s := f.Getenv("CREDFLOW_VAULT_SCRYPT_WORK_FACTOR"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 30 {
				return nil, usageErrorf("CREDFLOW_VAULT_SCRYPT_WORK_FACTOR=%q: use a whole number from 1 to 30", s)
			}
			fb.WorkFactor = n
		}
		return fb, nil
	}
	return nil, usageErrorf("unknown vault backend %q; use \"keychain\" or \"file\"", backend)
}

// passphrase reads CREDFLOW_VAULT_PASSPHRASE or prompts on the terminal.
func (f *Factory) passphrase(confirm bool) (string, error) {
	if p := f.Getenv("CREDFLOW_VAULT_PASSPHRASE"); p != "" {
		return p, nil
	}
	p, err := f.IO.ReadSecret("Vault passphrase: ")
	if errors.Is(err, iostreams.ErrNoTTY) {
		return "", fmt.Errorf("%w: the file vault needs its passphrase and there is no terminal to ask on; set CREDFLOW_VAULT_PASSPHRASE", vault.ErrUnavailable)
	}
	if err != nil || !confirm {
		return p, err
	}
	again, err := f.IO.ReadSecret("Repeat passphrase: ")
	if err != nil {
		return "", err
	}
	if again != p {
		return "", fmt.Errorf("%w: the two passphrases differ; nothing was written", vault.ErrBadPassphrase)
	}
	return p, nil
}

// OpenVault opens the data file and the backend. Call the returned close
// function when done; it releases the data file for other processes.
func (f *Factory) OpenVault() (*vault.Vault, func(), error) {
	c, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	be, err := f.Backend("")
	if err != nil {
		return nil, nil, err
	}
	db, err := f.OpenStore()
	if err != nil {
		return nil, nil, err
	}
	v := vault.New(db, be, vault.Options{
		Grace:       c.Vault.Grace.Std(),
		KeepRetired: *c.Vault.KeepRetired,
		Process:     f.Process,
		Now:         f.Now,
	})
	var once sync.Once
	return v, func() { once.Do(func() { db.Close() }) }, nil
}

// notifyDaemon asks a running daemon to reload its secrets. It reports
// whether one was reached; no daemon is not an error.
func (f *Factory) notifyDaemon(ctx context.Context) (bool, error) {
	p, err := f.Paths()
	if err != nil {
		return false, err
	}
	return reloadDaemon(ctx, p.DataDir)
}
