package cli

import (
	"fmt"
	"time"

	"github.com/credflow/credflow/internal/audit"
	"github.com/credflow/credflow/internal/config"
	"github.com/spf13/cobra"
)

type auditOptions struct {
	Since  string
	Secret string
	Action string
	JSON   bool
}

func newAuditCmd(f *Factory) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: who set, revealed, rotated, used or removed which secret",
		Long: `Show the append-only audit log. Each record has the time, the action (set,
import, reveal, rotate, retire, destroy, rollback, rm, exec, daemon-load), the
secret and version, and the process that acted. Values are never recorded.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var flt audit.Filter
			flt.Secret, flt.Action = o.Secret, o.Action
			if o.Since != "" {
				t, err := parseSince(o.Since, f.Now())
				if err != nil {
					return err
				}
				flt.Since = t
			}
			db, err := f.OpenStore()
			if err != nil {
				return err
			}
			defer db.Close()
			entries, err := audit.Query(db, flt)
			if err != nil {
				return err
			}
			if o.JSON {
				if entries == nil {
					entries = []audit.Entry{}
				}
				return writeJSON(f.IO.Out, entries)
			}
			if len(entries) == 0 {
				info(f.IO.ErrOut, "no audit records match")
				return nil
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "TIME\tACTION\tSECRET\tVERSION\tPROCESS\tDETAIL")
			for _, e := range entries {
				ver := "-"
				if e.Version > 0 {
					ver = fmt.Sprintf("v%d", e.Version)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (pid %d)\t%s\n", e.Time.Local().Format(time.DateTime), e.Action, dash(e.Secret), ver, e.Process, e.PID, e.Detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&o.Since, "since", "", "only records newer than a duration (24h, 7d) or a date (2026-11-01, RFC 3339)")
	cmd.Flags().StringVar(&o.Secret, "secret", "", "only records about secret `NAME`")
	cmd.Flags().StringVar(&o.Action, "action", "", "only records of one action (set, reveal, rotate, exec, ...)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// parseSince accepts a duration back from now, a date or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("--since %q: use a duration (24h, 7d) or a date (2026-11-01 or RFC 3339)", s)
}
