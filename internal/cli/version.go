package cli

import (
	"fmt"

	"github.com/credflow/credflow/internal/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print credflow's version, commit and build date",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			i := buildinfo.Get()
			if asJSON {
				return writeJSON(f.IO.Out, i)
			}
			fmt.Fprintf(f.IO.Out, "credflow %s (commit %s, built %s, %s)\n", i.Version, i.Commit, i.Date, i.GoVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
