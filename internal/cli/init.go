package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

type initOptions struct {
	Backend string
}

func newInitCmd(f *Factory) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the config file and data directory and choose the vault backend",
		Long: `Create the config file (commented YAML with example providers) and the data
directory (mode 0700), and choose where secret values live:

  keychain  the OS keychain (macOS Keychain, Windows Credential Manager,
            Linux Secret Service). The default when it answers.
  file      an age-encrypted file in the data directory, unlocked with a
            passphrase (prompted, or CREDFLOW_VAULT_PASSPHRASE).

credflow never falls back to the file on its own: if the keychain does not
answer, init says so and you choose. Running init again changes nothing that
exists; it checks the setup and prints the next steps.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error { return runInit(cmd, f, o) },
	}
	cmd.Flags().StringVar(&o.Backend, "backend", "", `vault backend: "keychain" or "file" (default: keychain if it answers)`)
	return cmd
}

func runInit(cmd *cobra.Command, f *Factory, o initOptions) error {
	ctx := cmd.Context()
	f.configOptional = true
	p, err := f.Paths()
	if err != nil {
		return err
	}
	if o.Backend == "" {
		o.Backend = f.Getenv("CREDFLOW_VAULT_BACKEND")
	}
	if o.Backend != "" && o.Backend != "keychain" && o.Backend != "file" {
		return usageErrorf("--backend %q: use \"keychain\" or \"file\"", o.Backend)
	}
	_, statErr := os.Stat(p.Config)
	configExists := statErr == nil
	backend := o.Backend
	if configExists {
		c, err := config.Load(p.Config, true)
		if err != nil {
			return fmt.Errorf("%w\nFix the file (see 'credflow config validate'), or move it aside and run 'credflow init' again", err)
		}
		if backend != "" && backend != c.Vault.Backend {
			return &exitError{code: ExitConflict, err: fmt.Errorf("%s already sets vault.backend: %s; edit that line to switch to %q (existing secrets stay in the old backend), then run 'credflow init' again", p.Config, c.Vault.Backend, backend)}
		}
		backend = c.Vault.Backend
	}
	if backend == "" {
		backend = "keychain"
	}
	be, err := f.Backend(backend)
	if err != nil {
		return err
	}
	if err := be.Probe(ctx); err != nil {
		if backend == "keychain" && errors.Is(err, vault.ErrUnavailable) {
			return fmt.Errorf("%w\ncredflow will not fall back to a weaker store on its own. To keep secrets in an age-encrypted file instead, run:\n  credflow init --backend file", err)
		}
		return err
	}
	if err := config.EnsureDataDir(p.DataDir); err != nil {
		return err
	}
	if fb, ok := be.(*vault.File); ok {
		created, err := fb.Create(ctx)
		if err != nil {
			return err
		}
		if created {
			info(f.IO.ErrOut, "created encrypted vault %s", fb.Path)
		}
	}
	if !configExists {
		if err := writeConfig(p.Config, backend); err != nil {
			return err
		}
		info(f.IO.ErrOut, "wrote %s (vault backend: %s)", p.Config, backend)
	} else {
		info(f.IO.ErrOut, "kept %s (vault backend: %s)", p.Config, backend)
	}
	db, err := f.OpenStore()
	if err != nil {
		return err
	}
	ver, _ := db.SchemaVersion()
	db.Close()
	info(f.IO.ErrOut, "data directory %s ready (schema version %d)", p.DataDir, ver)
	fmt.Fprintf(f.IO.ErrOut, `
Next steps:
  credflow secrets set openai                     store a key (typed at a hidden prompt)
  credflow secrets import --env-file .env         or move a .env file's keys in
  credflow exec --env OPENAI_API_KEY=openai -- python app.py
  credflow serve                                  run the local gateway
`)
	return nil
}

func writeConfig(path, backend string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	data := config.DefaultFile()
	data = bytes.Replace(data, []byte("  backend: keychain\n"), []byte("  backend: "+backend+"\n"), 1)
	// O_EXCL: never overwrite a config another process wrote meanwhile.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("write config: %w", err)
	}
	return fh.Close()
}
