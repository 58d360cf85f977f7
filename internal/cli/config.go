package cli

import (
	"github.com/credflow/credflow/internal/config"
	"github.com/spf13/cobra"
)

func newConfigCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the config file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Check the config file and report every problem with file:line and a fix",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.Paths()
			if err != nil {
				return err
			}
			c, err := config.Load(p.Config, true)
			if err != nil {
				return err
			}
			info(f.IO.ErrOut, "%s is valid (vault backend: %s, %d profile(s), %d provider(s))", c.Path, c.Vault.Backend, len(c.Profiles), len(c.Providers))
			return nil
		},
	})
	return cmd
}
