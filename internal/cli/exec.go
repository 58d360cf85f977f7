package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/runner"
	"github.com/spf13/cobra"
)

type execOptions struct {
	Profile   string
	Key       string
	Env       []string
	NoMasking bool
	Argv      []string
}

func newExecCmd(f *Factory) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [--profile P] [--env VAR=SECRET]... -- COMMAND [ARGS...]",
		Short: "Run a command with secrets injected into its environment",
		Long: `Run COMMAND with environment variables set from vault secrets: those of a
profile in the config file (--profile) and single ones (--env VAR=SECRET,
which override the profile). --key NAME sets OPENAI_BASE_URL, OPENAI_API_KEY,
ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY so SDKs and coding agents talk to
the credflow gateway with that virtual key. Signals are forwarded to the command and its
exit code is credflow's. Any injected value that appears in the command's
output is replaced by "<concealed by credflow>" unless --no-masking is given.`,
		Example: `  credflow exec --env OPENAI_API_KEY=openai -- python app.py
  credflow exec --profile dev -- npm run dev
  credflow exec --key agent -- claude`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give the command to run after --, e.g. 'credflow exec --env OPENAI_API_KEY=openai -- python app.py'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Argv = args
			return runExec(cmd, f, o)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&o.Profile, "profile", "", "inject the variables of profile `P` from the config file")
	cmd.Flags().StringVar(&o.Key, "key", "", "point OpenAI and Anthropic clients at the gateway with virtual key `NAME`")
	cmd.Flags().StringArrayVar(&o.Env, "env", nil, "inject secret `VAR=SECRET` (repeatable)")
	cmd.Flags().BoolVar(&o.NoMasking, "no-masking", false, "do not conceal secret values in the command's output")
	return cmd
}

func runExec(cmd *cobra.Command, f *Factory, o execOptions) error {
	refs := map[string]string{}
	if o.Profile != "" {
		c, err := f.Config()
		if err != nil {
			return err
		}
		prof, ok := c.Profiles[o.Profile]
		if !ok {
			names := make([]string, 0, len(c.Profiles))
			for n := range c.Profiles {
				names = append(names, n)
			}
			sort.Strings(names)
			known := "none is defined"
			if len(names) > 0 {
				known = "defined: " + strings.Join(names, ", ")
			}
			where := c.Path
			if where == "" {
				where = "the config file (run 'credflow init' to create one)"
			}
			return &exitError{code: ExitNotFound, err: fmt.Errorf("profile %q not found in %s (%s); add it under \"profiles:\"", o.Profile, where, known)}
		}
		for k, v := range prof {
			refs[k] = v
		}
	}
	for _, e := range o.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" || v == "" {
			return usageErrorf("--env %q: use VAR=SECRET, naming a secret, not a value (e.g. --env OPENAI_API_KEY=openai)", redactArg(e))
		}
		if !config.EnvVarRE.MatchString(k) {
			return usageErrorf("--env: %q is not a valid environment variable name", k)
		}
		refs[k] = v
	}
	if len(refs) == 0 && o.Key == "" {
		return usageErrorf("nothing to inject: add --profile P, --env VAR=SECRET or --key NAME")
	}
	purpose := "exec " + filepath.Base(o.Argv[0])
	values := map[string]string{}
	if o.Key != "" {
		env, err := gatewayEnv(cmd.Context(), f, o.Key, purpose)
		if err != nil {
			return err
		}
		values = env
	}
	if len(refs) > 0 {
		v, closeFn, err := f.OpenVault()
		if err != nil {
			return err
		}
		secrets, err := v.Resolve(cmd.Context(), refs, purpose)
		// Release the data file before the child runs: it may run for hours.
		closeFn()
		if err != nil {
			return err
		}
		// Explicit --env and profile entries win over --key's defaults.
		for k, val := range secrets {
			values[k] = val
		}
	}
	spec := runner.Spec{
		Argv: o.Argv, Env: f.Environ(), Inject: values,
		Stdin: f.IO.In, Stdout: f.IO.Out, Stderr: f.IO.ErrOut,
	}
	if !o.NoMasking {
		for k, val := range values {
			if strings.HasSuffix(k, "_BASE_URL") || k == "OPENAI_API_BASE" {
				continue // addresses, not secrets
			}
			spec.Mask = append(spec.Mask, val)
		}
	}
	code, err := runner.Run(cmd.Context(), spec)
	if err != nil {
		if errors.Is(err, runner.ErrNotFound) {
			return &exitError{code: code, err: err}
		}
		return err
	}
	return &exitError{code: code, silent: true}
}

// redactArg keeps a mistaken --env VALUE out of error output: if someone
// typed a value where a secret name belongs, do not echo it back.
func redactArg(s string) string {
	if len(s) > 24 {
		return s[:4] + "…"
	}
	return s
}
