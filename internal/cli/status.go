package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

func newStatusCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running gateway: address, uptime, providers and their keys, models",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.Paths()
			if err != nil {
				return err
			}
			st, err := adminapi.NewClient(adminapi.SocketPath(p.DataDir)).Status(cmd.Context())
			if errors.Is(err, adminapi.ErrNoDaemon) {
				return &exitError{code: ExitUnavailable, err: fmt.Errorf("no credflow daemon is running for %s; start one with 'credflow serve'", p.DataDir)}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(f.IO.Out, st)
			}
			w := f.IO.Out
			fmt.Fprintf(w, "credflow %s (pid %d), up %s\n", st.Version, st.PID, time.Since(st.StartedAt).Round(time.Second))
			fmt.Fprintf(w, "Listening:  http://%s  (OpenAI base URL http://%s/v1)\n", st.Listen, st.Listen)
			cfg := st.ConfigPath
			if cfg == "" {
				cfg = "built-in defaults"
			}
			fmt.Fprintf(w, "Config:     %s (reloaded %s)\n", cfg, st.ReloadedAt.Local().Format(time.DateTime))
			fmt.Fprintf(w, "Data:       %s\n", st.DataDir)
			fmt.Fprintf(w, "Requests:   %d served, %d in flight; %d virtual key(s)\n", st.Requests, st.InFlight, st.Keys)
			if d := st.Today; d != nil {
				cost := pricing.Micros(d.CostMicros).String()
				if d.CostUnknown > 0 {
					cost = fmt.Sprintf("≥%s (+%d unpriced)", cost, d.CostUnknown)
				}
				since := "UTC day"
				if d.Since.After(d.Day) {
					since = "since " + d.Since.Local().Format("15:04") + ", when the daemon started; earlier requests are not counted"
				}
				fmt.Fprintf(w, "Today:      %s, %d request(s), %d tokens in, %d out (%s)\n", cost, d.Requests, d.InputTokens, d.OutputTokens, since)
			}
			fmt.Fprintf(w, "Models:     %s\n\n", strings.Join(st.Models, ", "))
			tw := table(w)
			fmt.Fprintln(tw, "PROVIDER\tTYPE\tFORMAT\tSECRET\tKEY")
			for _, pr := range st.Providers {
				key := "ok"
				switch {
				case pr.Secret == "":
					key = "none needed"
				case !pr.SecretPresent:
					key = "MISSING: run 'credflow secrets set " + pr.Secret + "'"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", pr.Name, pr.Type, pr.Format, dash(pr.Secret), key)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
