package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

func newDataCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Look after the data file (credflow.db)",
	}
	cmd.AddCommand(newDataRepairCmd(f))
	return cmd
}

// bucketPurpose says what each bucket of the data file holds, for the
// repair report.
var bucketPurpose = map[string]string{
	"meta":         "schema version",
	"secrets":      "secret names, versions, dates",
	"audit":        "audit log",
	"keys":         "virtual keys",
	"usage":        "usage records",
	"rollups_hour": "hourly usage sums",
	"rollups_day":  "daily usage sums",
	"templates":    "prompt templates",
}

func newDataRepairCmd(f *Factory) *cobra.Command {
	var discard bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Save what can be read from a damaged data file into a new one",
		Long: `Replace a damaged data file (credflow.db) with a new one that holds every
bucket and key that can still be read from it, and say what was saved and
what was lost. Commands report a damaged file with exit code 7.

The old file is never deleted: it stays beside the new one as
credflow.db.damaged-YYYYMMDDTHHMMSS (UTC; the copy made when the damage
was found, if there is one). To go back to it, stop credflow and move it
over credflow.db.

--discard starts over with a new, empty data file instead (the old one is
kept all the same). Secret values are in the vault backend, not in the
data file: neither form touches them.

Stop 'credflow serve' first: the repair refuses to run while a daemon uses
the data directory.`,
		Example: `  credflow data repair
  credflow data repair --discard`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.Paths()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
			st, err := adminapi.NewClient(adminapi.SocketPath(p.DataDir)).Status(ctx)
			cancel()
			if err == nil {
				return &exitError{code: ExitUnavailable, err: fmt.Errorf("a credflow daemon (pid %d) is using %s; stop it, then run the repair again", st.PID, p.DataDir)}
			}
			path := filepath.Join(p.DataDir, store.FileName)
			rep, err := store.Repair(path, store.RepairOptions{Discard: discard})
			if err != nil {
				return err
			}
			if rep.Problem != "" {
				info(f.IO.ErrOut, "%s was damaged: %s", path, rep.Problem)
			}
			if rep.Discarded {
				info(f.IO.ErrOut, "started over with a new, empty data file at %s", path)
			} else {
				writeRepairTable(f, rep)
				if rep.Complete() {
					info(f.IO.ErrOut, "every key was saved into a new data file at %s", path)
				} else {
					info(f.IO.ErrOut, "saved what could be read into a new data file at %s; the rest is lost (above)", path)
				}
			}
			if rep.Backup != "" {
				info(f.IO.ErrOut, "the old file is kept at %s", rep.Backup)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&discard, "discard", false, "start over with a new, empty data file (the old one is kept)")
	return cmd
}

func writeRepairTable(f *Factory, rep *store.RepairReport) {
	tw := table(f.IO.Out)
	fmt.Fprintln(tw, "BUCKET\tHOLDS\tSAVED\tLOST")
	for _, b := range rep.Buckets {
		lost := "nothing"
		switch {
		case b.Missing:
			lost = "all: it was not found; created empty"
		case b.Lost != "" && b.Saved == 0:
			lost = "all: " + b.Lost
		case b.Lost != "":
			lost = "some: " + b.Lost
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.Name, dash(bucketPurpose[b.Name]), b.Saved, lost)
	}
	tw.Flush()
}
