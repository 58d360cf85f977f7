// Package cli owns credflow's command line: the cobra tree, flag parsing,
// output formatting and exit codes. Each command builds an options struct,
// calls one function of a domain package and prints; domain packages know
// nothing of cobra or terminals.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

// Exit codes. Scripts can rely on them; the README lists them.
const (
	ExitOK          = 0
	ExitError       = 1 // anything not listed below
	ExitUsage       = 2 // bad flags or arguments
	ExitNotFound    = 3 // a named secret, version, profile or file does not exist
	ExitUnavailable = 4 // the vault backend or the data file cannot be used now
	ExitConfig      = 5 // the config file is invalid
	ExitConflict    = 6 // the thing already exists, or the operation is refused
	ExitDamaged     = 7 // the data file is damaged ('credflow data repair')
)

// Main runs credflow with the process's arguments and streams and returns
// the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], &Factory{
		IO:      iostreams.System(),
		Getenv:  os.Getenv,
		Environ: os.Environ,
		Now:     time.Now,
	})
}

// Run executes one command line against f and returns the exit code.
func Run(ctx context.Context, args []string, f *Factory) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.silent {
		return ee.code
	}
	fmt.Fprintf(f.IO.ErrOut, "credflow: %s\n", err)
	code := exitCodeFor(err)
	if code == ExitUsage && cmd != nil && !(errors.As(err, &ee) && ee.noHint) {
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// exitError carries a specific exit code; silent ones print nothing (a
// child's exit code passed through by exec).
type exitError struct {
	code   int
	silent bool
	// noHint leaves out the "Run --help" line after a usage error whose
	// message already says what to fix (a bad file, a bad variable).
	noHint bool
	err    error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

func exitCodeFor(err error) int {
	var ee *exitError
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, store.ErrDamaged):
		return ExitDamaged
	case errors.As(err, &ve):
		return ExitConfig
	case errors.Is(err, vault.ErrInvalidName), errors.Is(err, vault.ErrValueEmpty):
		return ExitUsage
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, config.ErrNotExist), errors.Is(err, os.ErrNotExist):
		return ExitNotFound
	case errors.Is(err, vault.ErrUnavailable), errors.Is(err, vault.ErrBadPassphrase), errors.Is(err, store.ErrBusy):
		return ExitUnavailable
	case errors.Is(err, vault.ErrExists), errors.Is(err, vault.ErrActiveVersion), errors.Is(err, vault.ErrNothingToRoll),
		errors.Is(err, vault.ErrNoActive), errors.Is(err, vault.ErrVersionMissing), errors.Is(err, vault.ErrTooBig):
		return ExitConflict
	}
	msg := err.Error()
	// cobra's own argument and flag errors.
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return ExitUsage
		}
	}
	return ExitError
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "credflow",
		Short: "Keep LLM keys in the OS keychain and see, limit and steer what your tools spend",
		Long: `credflow keeps provider API keys in the OS keychain (versioned, rotatable,
audited), injects them into the programs that need them, and runs a local
OpenAI- and Anthropic-compatible gateway that accounts for every token.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			f.Process = cmd.CommandPath()
		},
	}
	root.PersistentFlags().StringVar(&f.ConfigFlag, "config", "", "config file (env CREDFLOW_CONFIG; default $XDG_CONFIG_HOME/credflow/config.yaml)")
	root.PersistentFlags().StringVar(&f.DataDirFlag, "data-dir", "", "data directory (env CREDFLOW_DATA_DIR; default $XDG_DATA_HOME/credflow)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: err}
	})
	root.AddCommand(
		newVersionCmd(f),
		newInitCmd(f),
		newConfigCmd(f),
		newSecretsCmd(f),
		newExecCmd(f),
		newAuditCmd(f),
		newServeCmd(f),
		newStatusCmd(f),
		newEnvCmd(f),
		newKeysCmd(f),
		newUsageCmd(f),
		newLogsCmd(f),
		newModelsCmd(f),
		newTopCmd(f),
		newTemplatesCmd(f),
		newSessionsCmd(f),
		newPolicyCmd(f),
		newDataCmd(f),
	)
	root.CompletionOptions.HiddenDefaultCmd = false
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (keys, secrets, …)
// reject an argument that names no subcommand: cobra would print the
// group's help and exit 0, so a typo in a script would pass unnoticed.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if !cmd.HasParent() || !cmd.HasAvailableSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return usageErrorf("%s", msg)
	}
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %s (got %d argument(s))", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}
