package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/dotenv"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

type importOptions struct {
	EnvFile string
	Profile string
}

func newSecretsImportCmd(f *Factory) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import --env-file PATH",
		Short: "Move a .env file's values into the vault and print the matching exec profile",
		Long: `Read KEY=VALUE lines from a .env file and store each value as a secret named
after its key (OPENAI_API_KEY becomes "openai-api-key"). All are imported or
none: if a name already exists nothing is stored. Empty values are skipped.

The command prints a profile for the config file so 'credflow exec --profile'
injects the same variables. It does not delete the .env file: do that
yourself once the profile works.`,
		Args: exactArgs(0, "no arguments (give the file with --env-file)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runImport(cmd, f, o) },
	}
	cmd.Flags().StringVar(&o.EnvFile, "env-file", "", "the .env file to import (required)")
	cmd.Flags().StringVar(&o.Profile, "profile", "", "name of the printed profile (default: the file's directory name)")
	return cmd
}

var nonName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// secretNameFor turns OPENAI_API_KEY into openai-api-key.
func secretNameFor(key string) string {
	n := strings.ToLower(strings.ReplaceAll(key, "_", "-"))
	n = strings.Trim(nonName.ReplaceAllString(n, "-"), "-._")
	if n == "" {
		n = "secret"
	}
	return n
}

func providerFor(key string) string {
	for _, p := range []string{"openai", "anthropic", "groq", "mistral", "deepseek", "openrouter", "together", "xai", "fireworks", "gemini"} {
		if strings.HasPrefix(strings.ToLower(key), p+"_") {
			return p
		}
	}
	return ""
}

func runImport(cmd *cobra.Command, f *Factory, o importOptions) error {
	if o.EnvFile == "" {
		return usageErrorf("give the file to import with --env-file PATH")
	}
	fh, err := os.Open(o.EnvFile)
	if err != nil {
		return fmt.Errorf("open %s: %w", o.EnvFile, err)
	}
	entries, err := dotenv.Parse(fh, o.EnvFile)
	fh.Close()
	if err != nil {
		return usageErrorf("%v; nothing was imported", err)
	}
	profile := o.Profile
	if profile == "" {
		abs, _ := filepath.Abs(o.EnvFile)
		profile = secretNameFor(filepath.Base(filepath.Dir(abs)))
	}
	if !config.NameRE.MatchString(profile) {
		return usageErrorf("--profile %q: use letters, digits, '.', '_' and '-'", profile)
	}
	var items []vault.ImportEntry
	var skipped []string
	for _, e := range entries {
		if e.Value == "" {
			skipped = append(skipped, e.Key)
			continue
		}
		items = append(items, vault.ImportEntry{Name: secretNameFor(e.Key), Value: e.Value,
			Meta: vault.Meta{EnvVar: e.Key, Provider: providerFor(e.Key), Note: "imported from " + filepath.Base(o.EnvFile)}})
	}
	if len(items) == 0 {
		return usageErrorf("%s has no KEY=VALUE lines with a value; nothing to import", o.EnvFile)
	}
	v, closeFn, err := f.OpenVault()
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := v.Import(cmd.Context(), items, o.EnvFile); err != nil {
		return err
	}
	for _, k := range skipped {
		info(f.IO.ErrOut, "skipped %s: empty value", k)
	}
	info(f.IO.ErrOut, "imported %d secret(s) from %s into the %s", len(items), o.EnvFile, backendText(v.Backend().Name()))
	sort.Slice(items, func(i, j int) bool { return items[i].Meta.EnvVar < items[j].Meta.EnvVar })
	fmt.Fprintf(f.IO.Out, "profiles:\n  %s:\n", profile)
	for _, it := range items {
		fmt.Fprintf(f.IO.Out, "    %s: %s\n", it.Meta.EnvVar, it.Name)
	}
	p, _ := f.Paths()
	fmt.Fprintf(f.IO.ErrOut, `
Next:
  1. Add the profile above to %s (under "profiles:").
  2. Check it: credflow exec --profile %s -- env
  3. Delete %s: its values are now in the vault, and credflow did not delete it.
`, p.Config, profile, o.EnvFile)
	return nil
}
