package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

func newSecretsCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "secrets",
		Aliases: []string{"secret"},
		Short:   "Store, rotate and inspect credentials in the vault",
		Long: `Secrets are named credentials kept in the vault backend (the OS keychain or an
encrypted file). Each has versions; one is active. Values are never taken from
the command line and never printed unless you ask with --reveal.`,
	}
	cmd.AddCommand(
		newSecretsSetCmd(f),
		newSecretsListCmd(f),
		newSecretsGetCmd(f),
		newSecretsRotateCmd(f),
		newSecretsHistoryCmd(f),
		newSecretsRollbackCmd(f),
		newSecretsRmCmd(f),
		newSecretsImportCmd(f),
	)
	return cmd
}

// valueSource is how a command reads a secret value: never from argv.
type valueSource struct {
	Stdin    bool
	FromEnv  string
	Generate bool
	Length   int
}

func (s *valueSource) addFlags(cmd *cobra.Command, generate bool) {
	cmd.Flags().BoolVar(&s.Stdin, "stdin", false, "read the value from standard input (one trailing newline is dropped)")
	cmd.Flags().StringVar(&s.FromEnv, "from-env", "", "read the value from environment variable `VAR`")
	if generate {
		cmd.Flags().BoolVar(&s.Generate, "generate", false, "generate a random value (for credentials credflow itself issues)")
		cmd.Flags().IntVar(&s.Length, "length", 32, "random bytes for --generate (the value is their base64url text)")
	}
}

func (s *valueSource) read(f *Factory, name string) (string, error) {
	n := 0
	for _, b := range []bool{s.Stdin, s.FromEnv != "", s.Generate} {
		if b {
			n++
		}
	}
	if n > 1 {
		return "", usageErrorf("choose one of --stdin, --from-env and --generate")
	}
	switch {
	case s.Generate:
		if s.Length < 16 || s.Length > 1024 {
			return "", usageErrorf("--length %d: use 16 to 1024 bytes", s.Length)
		}
		b := make([]byte, s.Length)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	case s.FromEnv != "":
		v := f.Getenv(s.FromEnv)
		if v == "" {
			return "", usageErrorf("environment variable %s is empty or unset", s.FromEnv)
		}
		return v, nil
	case s.Stdin:
		data, err := io.ReadAll(io.LimitReader(f.IO.In, 1<<20+1))
		if err != nil {
			return "", fmt.Errorf("read standard input: %w", err)
		}
		if len(data) > 1<<20 {
			return "", usageErrorf("the value on standard input is over 1 MiB; store a path to the data instead")
		}
		v := strings.TrimSuffix(string(data), "\n")
		v = strings.TrimSuffix(v, "\r")
		if v == "" {
			return "", usageErrorf("standard input was empty; pipe the value in, e.g. 'pbpaste | credflow secrets set %s --stdin'", name)
		}
		return v, nil
	}
	v, err := f.IO.ReadSecret(fmt.Sprintf("Value for %s (input is hidden): ", name))
	if errors.Is(err, iostreams.ErrNoTTY) {
		return "", usageErrorf("no value given and standard input is not a terminal to prompt on; use --stdin to pipe the value in, or --from-env VAR")
	}
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", usageErrorf("the value was empty; nothing was stored")
	}
	return v, nil
}

type secretsSetOptions struct {
	Name   string
	Source valueSource
	Meta   vault.Meta
}

func newSecretsSetCmd(f *Factory) *cobra.Command {
	var o secretsSetOptions
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a new secret (value from a hidden prompt, --stdin or --from-env)",
		Example: `  credflow secrets set openai --provider openai
  pbpaste | credflow secrets set anthropic --stdin
  credflow secrets set groq --from-env GROQ_API_KEY`,
		Args: exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if err := vault.CheckName(o.Name); err != nil {
				return err
			}
			if o.Meta.EnvVar != "" && !config.EnvVarRE.MatchString(o.Meta.EnvVar) {
				return usageErrorf("--env-var %q is not a valid environment variable name", o.Meta.EnvVar)
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			if _, err := v.Get(o.Name); err == nil {
				return fmt.Errorf("secret %q %w; to store a new value run 'credflow secrets rotate %s'", o.Name, vault.ErrExists, o.Name)
			}
			value, err := o.Source.read(f, o.Name)
			if err != nil {
				return err
			}
			s, err := v.Set(cmd.Context(), o.Name, value, o.Meta)
			if err != nil {
				return err
			}
			closeFn()
			info(f.IO.ErrOut, "stored %q version 1 in the %s", s.Name, backendText(s.Backend))
			// A running gateway may be waiting for this key.
			if reached, err := f.notifyDaemon(cmd.Context()); err == nil && reached {
				fmt.Fprintln(f.IO.ErrOut, "The running credflow daemon reloaded its keys.")
			}
			fmt.Fprintf(f.IO.ErrOut, "Use it with: credflow exec --env %s=%s -- COMMAND\n", envVarFor(s), s.Name)
			return nil
		},
	}
	o.Source.addFlags(cmd, true)
	cmd.Flags().StringVar(&o.Meta.Provider, "provider", "", "provider this key belongs to (openai, anthropic, ...)")
	cmd.Flags().StringVar(&o.Meta.Note, "note", "", "a note for yourself (not secret)")
	cmd.Flags().StringVar(&o.Meta.EnvVar, "env-var", "", "environment variable this secret is usually injected as")
	return cmd
}

func backendText(b string) string {
	if b == "file" {
		return "encrypted file vault"
	}
	return "OS keychain"
}

func envVarFor(s *vault.Secret) string {
	if s.EnvVar != "" {
		return s.EnvVar
	}
	if s.Provider != "" {
		return strings.ToUpper(s.Provider) + "_API_KEY"
	}
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s.Name))
}

// secretRow is the listing form of a secret: never a value.
type secretRow struct {
	Name          string    `json:"name"`
	Provider      string    `json:"provider,omitempty"`
	Note          string    `json:"note,omitempty"`
	EnvVar        string    `json:"env_var,omitempty"`
	ActiveVersion int       `json:"active_version"`
	Versions      int       `json:"versions"`
	Backend       string    `json:"backend"`
	UpdatedAt     time.Time `json:"updated_at"`
	AgeSeconds    int64     `json:"age_seconds"`
	RotationDue   bool      `json:"rotation_due"`
}

func newSecretsListCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List secrets: names, versions, age and backend (never values)",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Config()
			if err != nil {
				return err
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			secrets, err := v.List(cmd.Context())
			if err != nil {
				return err
			}
			now := f.Now()
			rows := []secretRow{}
			for _, s := range secrets {
				r := secretRow{Name: s.Name, Provider: s.Provider, Note: s.Note, EnvVar: s.EnvVar, Versions: len(s.Versions), Backend: s.Backend}
				if a, ok := s.Active(); ok {
					r.ActiveVersion, r.UpdatedAt = a.N, a.ActivatedAt
					age := now.Sub(a.CreatedAt)
					r.AgeSeconds = int64(age.Seconds())
					r.RotationDue = age > c.Vault.RotationPeriod.Std()
				}
				rows = append(rows, r)
			}
			if asJSON {
				return writeJSON(f.IO.Out, rows)
			}
			if len(rows) == 0 {
				info(f.IO.ErrOut, "no secrets yet; add one with 'credflow secrets set NAME'")
				return nil
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "NAME\tACTIVE\tVERSIONS\tAGE\tBACKEND\tPROVIDER\tROTATION")
			due := 0
			for _, r := range rows {
				active, rot := "-", "ok"
				if r.ActiveVersion > 0 {
					active = fmt.Sprintf("v%d", r.ActiveVersion)
				} else {
					rot = "no active version"
				}
				if r.RotationDue {
					rot = "DUE"
					due++
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, active, r.Versions, ago(time.Duration(r.AgeSeconds)*time.Second), r.Backend, dash(r.Provider), rot)
			}
			tw.Flush()
			if due > 0 {
				fmt.Fprintf(f.IO.ErrOut, "%d secret(s) older than the rotation period (%s): rotate with 'credflow secrets rotate NAME'\n", due, c.Vault.RotationPeriod)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newSecretsGetCmd(f *Factory) *cobra.Command {
	var reveal bool
	var version int
	cmd := &cobra.Command{
		Use:   "get NAME --reveal",
		Short: "Print a secret's value (needs --reveal; audited)",
		Args:  exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !reveal {
				return usageErrorf("'secrets get' prints the secret's value in clear text and records it in the audit log; add --reveal to confirm.\nTo use a secret without seeing it, run 'credflow exec --env VAR=%s -- COMMAND'", args[0])
			}
			if version < 0 {
				return usageErrorf("--version %d: versions start at 1", version)
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			val, ver, err := v.Reveal(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			if ver.State != vault.StateActive {
				info(f.IO.ErrOut, "version %d is %s, not active", ver.N, ver.State)
			}
			fmt.Fprintln(f.IO.Out, val)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "confirm that the value may be printed")
	cmd.Flags().IntVar(&version, "version", 0, "version `N` (default: the active one)")
	return cmd
}

type secretsRotateOptions struct {
	Name   string
	Grace  string
	Source valueSource
}

func newSecretsRotateCmd(f *Factory) *cobra.Command {
	var o secretsRotateOptions
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Store a new active version; the previous one stays usable for a grace period",
		Long: `Store a new value as the active version of NAME. The previous version stays
usable for the grace period (vault.grace in the config, or --grace), then is
retired. Retired versions are kept for rollback (vault.keep_retired), older
ones are deleted from the backend. A running credflow daemon is told to
reload, so it uses the new value without restart.`,
		Example: `  credflow secrets rotate openai              # prompt for the new key
  credflow secrets rotate openai --grace 1h --stdin < new-key.txt
  credflow secrets rotate webhook-token --generate`,
		Args: exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			grace := time.Duration(-1)
			if o.Grace != "" {
				d, err := config.ParseDuration(o.Grace)
				if err != nil {
					return usageErrorf("--grace: %v", err)
				}
				grace = d
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			s, err := v.Get(o.Name)
			if err != nil {
				return err
			}
			value, err := o.Source.read(f, o.Name)
			if err != nil {
				return err
			}
			res, err := v.Rotate(cmd.Context(), o.Name, value, grace)
			if err != nil {
				return err
			}
			closeFn()
			info(f.IO.ErrOut, "rotated %q: version %d is active", o.Name, res.New.N)
			reached, derr := f.notifyDaemon(cmd.Context())
			w := f.IO.ErrOut
			switch {
			case derr != nil:
				fmt.Fprintf(w, "The running credflow daemon did not reload (%v); run 'kill -HUP' on it or restart it.\n", derr)
			case reached:
				fmt.Fprintln(w, "The running credflow daemon reloaded and now uses the new version.")
			default:
				fmt.Fprintln(w, "No credflow daemon is running; it will use the new version when it starts.")
			}
			if o.Source.Generate {
				fmt.Fprintf(w, "The new value was generated; read it with 'credflow secrets get %s --reveal' where you need to configure it.\n", o.Name)
			}
			if p := res.Previous; p.N > 0 {
				fmt.Fprintln(w, "\nWhat is left to do:")
				if p.State == vault.StateGrace {
					fmt.Fprintf(w, "  1. Version %d stays usable until %s, then is retired.\n", p.N, p.GraceUntil.Local().Format(time.RFC1123))
				} else {
					fmt.Fprintf(w, "  1. Version %d was retired at once (no grace period).\n", p.N)
				}
				if !o.Source.Generate {
					fmt.Fprintf(w, "  2. Revoke the old key (version %d) at %s once nothing uses it.\n", p.N, revokeWhere(s.Provider))
				}
				fmt.Fprintf(w, "  Changed your mind? 'credflow secrets rollback %s' makes version %d active again.\n", o.Name, p.N)
			}
			return nil
		},
	}
	o.Source.addFlags(cmd, true)
	cmd.Flags().StringVar(&o.Grace, "grace", "", "how long the previous version stays usable (e.g. 1h, 2d; 0 retires it at once; default vault.grace)")
	return cmd
}

// revokeWhere tells the user where the provider's key page is.
func revokeWhere(provider string) string {
	switch strings.ToLower(provider) {
	case "openai":
		return "https://platform.openai.com/api-keys"
	case "anthropic":
		return "https://console.anthropic.com/settings/keys"
	case "groq":
		return "https://console.groq.com/keys"
	case "mistral":
		return "https://console.mistral.ai/api-keys"
	case "openrouter":
		return "https://openrouter.ai/settings/keys"
	case "":
		return "the provider's dashboard"
	}
	return provider + "'s dashboard"
}

func newSecretsHistoryCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show a secret's versions and their states",
		Args:  exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			if err := v.Housekeep(cmd.Context()); err != nil {
				return err
			}
			s, err := v.Get(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(f.IO.Out, s)
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "VERSION\tSTATE\tCREATED\tNOTE")
			for i := len(s.Versions) - 1; i >= 0; i-- {
				ver := s.Versions[i]
				note := ""
				switch ver.State {
				case vault.StateGrace:
					note = "usable until " + ver.GraceUntil.Format(time.RFC3339)
				case vault.StateRetired:
					note = "retired " + ver.RetiredAt.Format(time.RFC3339) + "; can be rolled back to"
				case vault.StateDestroyed:
					note = "value deleted " + ver.DestroyedAt.Format(time.RFC3339)
				case vault.StateActive:
					note = "active since " + ver.ActivatedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "v%d\t%s\t%s\t%s\n", ver.N, ver.State, ver.CreatedAt.Format(time.RFC3339), note)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newSecretsRollbackCmd(f *Factory) *cobra.Command {
	var to int
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Make an earlier version active again (default: the newest earlier one)",
		Args:  exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return usageErrorf("--to %d: versions start at 1", to)
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			from, now, err := v.Rollback(cmd.Context(), args[0], to)
			if err != nil {
				return err
			}
			closeFn()
			if from.N > 0 {
				info(f.IO.ErrOut, "%q: version %d is active again; version %d is retired", args[0], now.N, from.N)
			} else {
				info(f.IO.ErrOut, "%q: version %d is active again", args[0], now.N)
			}
			if reached, err := f.notifyDaemon(cmd.Context()); err != nil {
				fmt.Fprintf(f.IO.ErrOut, "The running credflow daemon did not reload (%v); restart it.\n", err)
			} else if reached {
				fmt.Fprintln(f.IO.ErrOut, "The running credflow daemon reloaded.")
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "version `N` to make active")
	return cmd
}

func newSecretsRmCmd(f *Factory) *cobra.Command {
	var version int
	var yes bool
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Delete a secret, or one of its versions, from the vault",
		Args:    exactArgs(1, "the secret's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if version < 0 {
				return usageErrorf("--version %d: versions start at 1", version)
			}
			v, closeFn, err := f.OpenVault()
			if err != nil {
				return err
			}
			defer closeFn()
			s, err := v.Get(name)
			if err != nil {
				return err
			}
			what := fmt.Sprintf("secret %q and all %d of its versions", name, len(s.Versions))
			if version > 0 {
				what = fmt.Sprintf("version %d of secret %q", version, name)
			}
			if !yes {
				ok, err := f.IO.Confirm("Delete " + what + "? This cannot be undone.")
				if errors.Is(err, iostreams.ErrNoTTY) {
					return usageErrorf("refusing to delete %s without confirmation: no terminal to ask on; add --yes", what)
				}
				if err != nil {
					return err
				}
				if !ok {
					info(f.IO.ErrOut, "nothing deleted")
					return &exitError{code: ExitError, silent: true}
				}
			}
			if err := v.Remove(cmd.Context(), name, version); err != nil {
				return err
			}
			info(f.IO.ErrOut, "deleted %s", what)
			return nil
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "delete only version `N` (not the active one)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
