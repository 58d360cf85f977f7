package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

func newKeysCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Issue and manage the virtual keys clients use with the gateway",
		Long: `Virtual keys are what clients of the credflow gateway use as their API key;
the gateway holds the real provider keys. A virtual key is shown once, when it
is created or rotated. The gateway stores only its hash; a copy goes into your
vault (secret vkey-NAME) so 'credflow exec --key NAME' can hand it to a program. Each key can be limited
to some models and can expire.

While 'credflow serve' runs these commands go through its admin socket, so
the daemon picks up changes at once; otherwise they edit the data file.`,
	}
	cmd.AddCommand(
		newKeysCreateCmd(f),
		newKeysListCmd(f),
		newKeysUpdateCmd(f),
		newKeysRevokeCmd(f),
		newKeysRotateCmd(f),
	)
	return cmd
}

// keyManager is what the keys commands need. daemonKeys goes through a
// running daemon's admin API; fileKeys edits the data file when none runs.
type keyManager interface {
	Create(ctx context.Context, name string, opts keys.CreateOptions) (*adminapi.IssuedKey, error)
	List(ctx context.Context) ([]adminapi.Key, error)
	Revoke(ctx context.Context, name string) (*adminapi.Key, error)
	Rotate(ctx context.Context, name string, grace time.Duration) (*adminapi.IssuedKey, error)
	Update(ctx context.Context, name string, opts keys.UpdateOptions) (*adminapi.Key, error)
}

// daemonKeys manages keys through the admin API. Every method returns
// adminapi.ErrNoDaemon, having changed nothing, when no daemon answers.
type daemonKeys struct{ c *adminapi.Client }

func secondsOf(d time.Duration) int64 { return int64(d / time.Second) }

func (d daemonKeys) Create(ctx context.Context, name string, opts keys.CreateOptions) (*adminapi.IssuedKey, error) {
	return d.c.CreateKey(ctx, adminapi.CreateKeyRequest{Name: name, Models: opts.Models, Templates: opts.Templates, ExpiresInSeconds: secondsOf(opts.ExpiresIn), Policy: opts.Policy})
}

func (d daemonKeys) List(ctx context.Context) ([]adminapi.Key, error) { return d.c.ListKeys(ctx) }

func (d daemonKeys) Revoke(ctx context.Context, name string) (*adminapi.Key, error) {
	return d.c.RevokeKey(ctx, name)
}

func (d daemonKeys) Rotate(ctx context.Context, name string, grace time.Duration) (*adminapi.IssuedKey, error) {
	g := secondsOf(grace)
	return d.c.RotateKey(ctx, name, adminapi.RotateKeyRequest{GraceSeconds: &g})
}

func (d daemonKeys) Update(ctx context.Context, name string, opts keys.UpdateOptions) (*adminapi.Key, error) {
	req := adminapi.UpdateKeyRequest{Models: opts.Models, Templates: opts.Templates, Policy: opts.Policy}
	if opts.ExpiresIn != nil {
		s := secondsOf(*opts.ExpiresIn)
		req.ExpiresInSeconds = &s
	}
	return d.c.UpdateKey(ctx, name, req)
}

// fileKeys manages keys in the data file directly.
type fileKeys struct {
	s   *keys.Service
	now func() time.Time
}

func (m fileKeys) Create(_ context.Context, name string, opts keys.CreateOptions) (*adminapi.IssuedKey, error) {
	plain, k, err := m.s.Create(name, opts)
	if err != nil {
		return nil, err
	}
	return &adminapi.IssuedKey{Key: k.Public(m.now()), Value: plain}, nil
}

func (m fileKeys) List(context.Context) ([]adminapi.Key, error) {
	ks, err := m.s.List()
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]adminapi.Key, 0, len(ks))
	for i := range ks {
		out = append(out, ks[i].Public(now))
	}
	return out, nil
}

func (m fileKeys) Revoke(_ context.Context, name string) (*adminapi.Key, error) {
	return m.public(m.s.Revoke(name))
}

func (m fileKeys) Rotate(_ context.Context, name string, grace time.Duration) (*adminapi.IssuedKey, error) {
	plain, k, err := m.s.Rotate(name, grace)
	if err != nil {
		return nil, err
	}
	return &adminapi.IssuedKey{Key: k.Public(m.now()), Value: plain}, nil
}

func (m fileKeys) Update(_ context.Context, name string, opts keys.UpdateOptions) (*adminapi.Key, error) {
	return m.public(m.s.Update(name, opts))
}

func (m fileKeys) public(k keys.Key, err error) (*adminapi.Key, error) {
	if err != nil {
		return nil, err
	}
	p := k.Public(m.now())
	return &p, nil
}

// withKeys runs fn against the running daemon, or, when none answers,
// against the data file. It reports whether the daemon was used. fn must
// do nothing but call the manager: it may run twice.
func withKeys(ctx context.Context, f *Factory, fn func(keyManager) error) (bool, error) {
	p, err := f.Paths()
	if err != nil {
		return false, err
	}
	err = fn(daemonKeys{adminapi.NewClient(adminapi.SocketPath(p.DataDir))})
	if !errors.Is(err, adminapi.ErrNoDaemon) {
		return true, keysError(err)
	}
	db, err := f.OpenStore()
	if err != nil {
		return false, err
	}
	defer db.Close()
	err = fn(fileKeys{s: keys.New(db, keys.Options{Now: f.Now, Process: f.Process}), now: f.Now})
	return false, keysError(err)
}

// keysError gives the keys package's errors, and the daemon's answers, their
// exit codes.
func keysError(err error) error {
	code := 0
	var se *adminapi.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Status == 400:
		code = ExitUsage
	case errors.As(err, &se) && se.Status == 404:
		code = ExitNotFound
	case errors.As(err, &se) && se.Status == 409:
		code = ExitConflict
	case errors.Is(err, keys.ErrInvalidName), errors.Is(err, keys.ErrInvalid):
		code = ExitUsage
	case errors.Is(err, keys.ErrNotFound):
		code = ExitNotFound
	case errors.Is(err, keys.ErrExists), errors.Is(err, keys.ErrRevoked):
		code = ExitConflict
	default:
		return err
	}
	return &exitError{code: code, err: err}
}

// parseExpires reads --expires: a duration from now, or "never".
func parseExpires(s string) (time.Duration, error) {
	if s == "never" {
		return 0, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, usageErrorf("--expires: %v", err)
	}
	if d < time.Second {
		return 0, usageErrorf("--expires %s: a key must live at least a second; use a duration like 30d, or 'never'", s)
	}
	if d > keys.MaxLifetime {
		return 0, usageErrorf("--expires %s: use at most 100 years, or 'never'", s)
	}
	return d.Truncate(time.Second), nil
}

// checkKeyArgs validates what both managers would refuse, so the errors
// keep their exit codes when they would come back from a daemon as text.
func checkKeyArgs(name string, models []string) ([]string, error) {
	if err := keys.CheckName(name); err != nil {
		return nil, keysError(err)
	}
	m, err := keys.CheckModels(models)
	return m, keysError(err)
}

func keyWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

func expiryPhrase(t time.Time) string {
	if t.IsZero() {
		return "no expiry"
	}
	return "expires " + keyWhen(t)
}

func modelsPhrase(models []string) string {
	if len(models) == 0 {
		return "all models"
	}
	return "models " + strings.Join(models, ", ")
}

func modelsList(models []string) string {
	if len(models) == 0 {
		return "all"
	}
	return strings.Join(models, ",")
}

// scopeList is the MODELS column: the model patterns and, for a key
// restricted to templates, which ones.
func scopeList(k adminapi.Key) string {
	s := modelsList(k.Models)
	if len(k.Templates) > 0 {
		s += " (templates " + strings.Join(k.Templates, ",") + " only)"
	}
	return s
}

func scopePhrase(k adminapi.Key) string {
	s := modelsPhrase(k.Models)
	if len(k.Templates) > 0 {
		s += ", through templates " + strings.Join(k.Templates, ", ") + " only"
	}
	return s
}

// issued prints a new key: the key alone on stdout, so that
// KEY=$(credflow keys create NAME) works, and the rest on stderr.
func issued(ctx context.Context, f *Factory, ik *adminapi.IssuedKey, what string) {
	fmt.Fprintln(f.IO.Out, ik.Value)
	k := ik.Key
	info(f.IO.ErrOut, "%s virtual key %q (%s...) for %s, %s", what, k.Name, k.Prefix, scopePhrase(k), expiryPhrase(k.ExpiresAt))
	if err := keepInVault(ctx, f, k.Name, ik.Value); err != nil {
		info(f.IO.ErrOut, "the key is shown only this once: store it now. (Keeping a copy in the vault failed: %v; 'credflow exec --key %s' will not find it.)", err, k.Name)
		return
	}
	info(f.IO.ErrOut, "the gateway keeps only its hash; a copy is in your vault as secret %q, so 'credflow exec --key %s -- CMD' can hand it to a program", VirtualKeySecret(k.Name), k.Name)
}

// keepInVault stores a virtual key's value in the vault (a new version on
// rotation) so exec --key and env --key can inject it later.
func keepInVault(ctx context.Context, f *Factory, name, value string) error {
	v, closeFn, err := f.OpenVault()
	if err != nil {
		return err
	}
	defer closeFn()
	sec := VirtualKeySecret(name)
	if _, err := v.Get(sec); errors.Is(err, vault.ErrNotFound) {
		_, err = v.Set(ctx, sec, value, vault.Meta{Provider: "credflow", Note: "credflow virtual key " + name})
		return err
	}
	// The gateway enforces the old key's grace itself; the vault copy
	// follows the new one at once.
	_, err = v.Rotate(ctx, sec, value, 0)
	return err
}

type keysCreateOptions struct {
	Name      string
	Models    []string
	Templates []string
	Expires   string
	Limits    limitFlags
}

func newKeysCreateCmd(f *Factory) *cobra.Command {
	var o keysCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a virtual key and print it (once)",
		Long: `Create a virtual key called NAME and print it on standard output, the only
time it is shown. Give it to a client as its API key for the gateway.

--models limits the key to models matching glob patterns: '*' matches any run
of characters ('/' included) and '?' one character. Without it the key may use
every model.

--templates restricts the key to running the named prompt templates (POST
/v1/templates/NAME, 'credflow templates run'); such a key cannot call the
model APIs directly, so a small app can be given one prompt and nothing else.

--budget caps spend per period (day, week, month in UTC, or total) in dollars
or tokens; a request that would pass a hard budget gets a 429 that says which
budget and when it resets. --soft-budget only warns (log and event). --rpm,
--tpm and --max-concurrent limit the request rate, token rate and parallelism.`,
		Example: `  credflow keys create agent
  credflow keys create ci --models 'gpt-4o*' --models 'claude-*' --expires 90d
  credflow keys create agent --budget 5usd/day --soft-budget 3usd/day --rpm 60
  credflow keys create summarizer-app --templates summarize --budget 1usd/day
  KEY=$(credflow keys create scratch --expires 12h)`,
		Args: exactArgs(1, "the key's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			models, err := checkKeyArgs(o.Name, o.Models)
			if err != nil {
				return err
			}
			opts := keys.CreateOptions{Models: models}
			if opts.Templates, err = keys.CheckTemplates(o.Templates); err != nil {
				return keysError(err)
			}
			if opts.Policy, err = o.Limits.policy(); err != nil {
				return err
			}
			if o.Expires != "" {
				if opts.ExpiresIn, err = parseExpires(o.Expires); err != nil {
					return err
				}
			}
			var ik *adminapi.IssuedKey
			if _, err := withKeys(cmd.Context(), f, func(m keyManager) (err error) {
				ik, err = m.Create(cmd.Context(), o.Name, opts)
				return err
			}); err != nil {
				return err
			}
			issued(cmd.Context(), f, ik, "created")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&o.Models, "models", nil, "allow only models matching `PATTERN` (repeat, or separate with commas)")
	cmd.Flags().StringSliceVar(&o.Templates, "templates", nil, "allow only running templates `NAME` (repeat, or separate with commas; globs allowed), and no direct model calls")
	cmd.Flags().StringVar(&o.Expires, "expires", "", "expire after `DURATION` (e.g. 12h, 30d, 2w; default never)")
	o.Limits.add(cmd, false)
	return cmd
}

func newKeysListCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List virtual keys: names, prefixes, states, models and expiry (never the keys)",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ks []adminapi.Key
			if _, err := withKeys(cmd.Context(), f, func(m keyManager) (err error) {
				ks, err = m.List(cmd.Context())
				return err
			}); err != nil {
				return err
			}
			if ks == nil {
				ks = []adminapi.Key{}
			}
			if asJSON {
				return writeJSON(f.IO.Out, ks)
			}
			if len(ks) == 0 {
				info(f.IO.ErrOut, "no virtual keys yet; create one with 'credflow keys create NAME'")
				return nil
			}
			now := f.Now()
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "NAME\tPREFIX\tSTATE\tMODELS\tLIMITS\tEXPIRES\tAGE\tNOTE")
			for _, k := range ks {
				note := ""
				switch {
				case k.State == adminapi.KeyRevoked:
					note = "revoked " + keyWhen(k.RevokedAt)
				case k.PreviousPrefix != "":
					note = fmt.Sprintf("old key %s... accepted until %s", k.PreviousPrefix, keyWhen(k.PreviousUntil))
				}
				fmt.Fprintf(tw, "%s\t%s...\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Prefix, k.State, scopeList(k), limitsText(k.Policy), keyWhen(k.ExpiresAt), ago(now.Sub(k.CreatedAt)), note)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

type keysUpdateOptions struct {
	Name           string
	Models         []string
	AllModels      bool
	Templates      []string
	ClearTemplates bool
	Expires        string
	Limits         limitFlags
}

func newKeysUpdateCmd(f *Factory) *cobra.Command {
	var o keysUpdateOptions
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a virtual key's models, templates, expiry or limits",
		Example: `  credflow keys update agent --models 'claude-*'
  credflow keys update agent --all-models
  credflow keys update app --templates summarize,translate
  credflow keys update app --clear-templates    # may call the model APIs again
  credflow keys update agent --expires 30d      # 30 days from now
  credflow keys update agent --expires never
  credflow keys update agent --budget 10usd/month --rpm 30   # replaces all limits
  credflow keys update agent --no-limits`,
		Args: exactArgs(1, "the key's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			setModels := cmd.Flags().Changed("models")
			setTemplates := cmd.Flags().Changed("templates")
			setLimits := o.Limits.changed(cmd)
			if !setModels && !o.AllModels && !setTemplates && !o.ClearTemplates && o.Expires == "" && !setLimits {
				return usageErrorf("nothing to update: give --models, --all-models, --templates, --clear-templates, --expires, or budgets and limits (--budget, --rpm, ... or --no-limits)")
			}
			models, err := checkKeyArgs(o.Name, o.Models)
			if err != nil {
				return err
			}
			var opts keys.UpdateOptions
			if setModels || o.AllModels {
				if models == nil {
					models = []string{}
				}
				opts.Models = &models
			}
			if setTemplates || o.ClearTemplates {
				ts, err := keys.CheckTemplates(o.Templates)
				if err != nil {
					return keysError(err)
				}
				if ts == nil {
					ts = []string{}
				}
				opts.Templates = &ts
			}
			if o.Expires != "" {
				d, err := parseExpires(o.Expires)
				if err != nil {
					return err
				}
				opts.ExpiresIn = &d
			}
			if setLimits {
				p, err := o.Limits.policy()
				if err != nil {
					return err
				}
				opts.Policy = &p
			}
			var k *adminapi.Key
			if _, err := withKeys(cmd.Context(), f, func(m keyManager) (err error) {
				k, err = m.Update(cmd.Context(), o.Name, opts)
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "updated virtual key %q: now for %s, %s; %s", k.Name, scopePhrase(*k), expiryPhrase(k.ExpiresAt), limitsText(k.Policy))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&o.Models, "models", nil, "allow only models matching `PATTERN` (repeat, or separate with commas); replaces the old list")
	cmd.Flags().BoolVar(&o.AllModels, "all-models", false, "allow every model")
	cmd.Flags().StringSliceVar(&o.Templates, "templates", nil, "restrict the key to running templates `NAME` (repeat, or separate with commas); replaces the old list")
	cmd.Flags().BoolVar(&o.ClearTemplates, "clear-templates", false, "lift the template restriction: the key may call the model APIs again")
	cmd.MarkFlagsMutuallyExclusive("templates", "clear-templates")
	cmd.Flags().StringVar(&o.Expires, "expires", "", "expire `DURATION` from now (e.g. 30d), or 'never'")
	cmd.MarkFlagsMutuallyExclusive("models", "all-models")
	o.Limits.add(cmd, true)
	cmd.MarkFlagsMutuallyExclusive("no-limits", "budget")
	return cmd
}

func newKeysRevokeCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a virtual key for good",
		Long: `Revoke a virtual key: the gateway refuses it, and any old value of it still in
a rotation's grace period, from now on. The key stays in 'credflow keys list'
as revoked, and its name is not reused.`,
		Args: exactArgs(1, "the key's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := checkKeyArgs(args[0], nil); err != nil {
				return err
			}
			var k *adminapi.Key
			if _, err := withKeys(cmd.Context(), f, func(m keyManager) (err error) {
				k, err = m.Revoke(cmd.Context(), args[0])
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "revoked virtual key %q (%s...); requests with it are refused from now on", k.Name, k.Prefix)
			return nil
		},
	}
	return cmd
}

func newKeysRotateCmd(f *Factory) *cobra.Command {
	var graceFlag string
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a virtual key a new value and print it (once); the old one works for a grace period",
		Long: `Give the virtual key NAME a new value and print it on standard output, the
only time it is shown. The old value stays accepted for the grace period
(--grace, default 24h; 0 stops it at once) so clients can move over. Models
and expiry stay as they are.`,
		Example: `  credflow keys rotate agent
  credflow keys rotate agent --grace 0     # the old key is leaked: stop it now`,
		Args: exactArgs(1, "the key's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			grace := keys.DefaultGrace
			if graceFlag != "" {
				d, err := config.ParseDuration(graceFlag)
				if err != nil {
					return usageErrorf("--grace: %v", err)
				}
				if d > keys.MaxLifetime {
					return usageErrorf("--grace %s: use at most 100 years", graceFlag)
				}
				// The admin API counts whole seconds; so does the file.
				grace = d.Truncate(time.Second)
			}
			if _, err := checkKeyArgs(name, nil); err != nil {
				return err
			}
			var ik *adminapi.IssuedKey
			if _, err := withKeys(cmd.Context(), f, func(m keyManager) (err error) {
				ik, err = m.Rotate(cmd.Context(), name, grace)
				return err
			}); err != nil {
				return err
			}
			issued(cmd.Context(), f, ik, "rotated")
			if k := ik.Key; k.PreviousPrefix != "" {
				fmt.Fprintf(f.IO.ErrOut, "The old key (%s...) is accepted until %s; give clients the new one before then.\n", k.PreviousPrefix, keyWhen(k.PreviousUntil))
			} else {
				fmt.Fprintln(f.IO.ErrOut, "The old key stopped working now.")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&graceFlag, "grace", "", "how long the old key stays accepted (e.g. 1h, 2d; 0 stops it at once; default 24h)")
	return cmd
}
