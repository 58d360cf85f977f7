package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

// VirtualKeySecret is the vault secret that keeps a virtual key's value, so
// 'exec --key' and 'env --key' can hand it to a program. The gateway itself
// keeps only the key's hash.
func VirtualKeySecret(name string) string { return "vkey-" + name }

// gatewayEnv returns the variables that point OpenAI and Anthropic SDKs
// (and Claude Code, Codex CLI, Aider...) at the gateway with virtual key
// name. It reads the key from the vault (audited) and the address from
// the running daemon, or the config when none runs.
func gatewayEnv(ctx context.Context, f *Factory, name, purpose string) (map[string]string, error) {
	addr, running, err := gatewayAddr(ctx, f)
	if err != nil {
		return nil, err
	}
	if !running {
		info(f.IO.ErrOut, "no credflow daemon is running; start it with 'credflow serve' (using %s from the config)", addr)
	}
	v, closeFn, err := f.OpenVault()
	if err != nil {
		return nil, err
	}
	defer closeFn()
	sec := VirtualKeySecret(name)
	vals, err := v.Resolve(ctx, map[string]string{"KEY": sec}, purpose)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, &exitError{code: ExitNotFound, err: fmt.Errorf("virtual key %q is not in the vault (secret %q); create it with 'credflow keys create %s', or give it a fresh value with 'credflow keys rotate %s'", name, sec, name, name)}
	}
	if err != nil {
		return nil, err
	}
	key := vals["KEY"]
	return map[string]string{
		"OPENAI_BASE_URL":    "http://" + addr + "/v1",
		"OPENAI_API_BASE":    "http://" + addr + "/v1",
		"OPENAI_API_KEY":     key,
		"ANTHROPIC_BASE_URL": "http://" + addr,
		"ANTHROPIC_API_KEY":  key,
	}, nil
}

func gatewayAddr(ctx context.Context, f *Factory) (string, bool, error) {
	p, err := f.Paths()
	if err != nil {
		return "", false, err
	}
	st, err := adminapi.NewClient(adminapi.SocketPath(p.DataDir)).Status(ctx)
	if err == nil {
		return st.Listen, true, nil
	}
	c, cerr := f.Config()
	if cerr != nil {
		return "", false, cerr
	}
	return c.Server.Listen, false, nil
}

func newEnvCmd(f *Factory) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "env --key NAME",
		Short: "Print shell exports that point OpenAI and Anthropic clients at the gateway",
		Long: `Print export lines for OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL and
ANTHROPIC_API_KEY (plus the legacy OPENAI_API_BASE) that point SDKs and
coding agents at the running gateway with virtual key NAME:

  eval "$(credflow env --key agent)"

The values are a credflow virtual key, not a provider key; reading it is
recorded in the audit log. Prefer 'credflow exec --key NAME -- CMD', which
keeps the key out of your shell.`,
		Args: exactArgs(0, "no arguments (name the key with --key)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usageErrorf("name the virtual key with --key NAME (see 'credflow keys list')")
			}
			env, err := gatewayEnv(cmd.Context(), f, key, "env --key "+key)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(env))
			for k := range env {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				fmt.Fprintf(f.IO.Out, "export %s=%s\n", k, shellQuote(env[k]))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "virtual key `NAME`")
	return cmd
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
