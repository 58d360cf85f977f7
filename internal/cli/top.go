package cli

import (
	"errors"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/credflow/credflow/internal/tui"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

// The admin API client is top's feed.
var _ tui.Feed = (*adminapi.Client)(nil)

func newTopCmd(f *Factory) *cobra.Command {
	var refresh time.Duration
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the running gateway live: requests, tokens, cost and latency per key, model, provider and session",
		Long: `Show a live dashboard of the running daemon.

The header has its address and uptime, today's spend (the UTC day, all keys;
"≥$1.23" when some requests have no known price, so the sum is a lower
bound), requests/s, tokens/s in and out, the error rate, and sparklines of
requests/s and latency over the last 5 minutes. Tabs show, per virtual key,
model and provider, today's requests (the UTC day: the daemon's figures,
then what finishes): tokens in and out, cost and errors, with the p50/p99
latency of the requests top saw, and for keys a bar of the budget nearest
its limit (green, yellow from 70%, red from 90%); the fourth tab is a live
feed of requests; the fifth lists the stored conversations (sessions)
requests continued since top started: turns, the history sent against the
model's context window, and the summaries made.

Keys: tab or 1-5 switch views, ↑↓ or j/k select, s cycles the sort column,
/ filters, p pauses the feed, enter shows details, ? help, q quits.
top redraws at most once per --refresh and asks the daemon for its status
every 2s. If the daemon goes away, top shows "reconnecting…" and resumes
when it is back. Without a running daemon, top fails with exit code 4.`,
		Example: `  credflow top
  credflow top --refresh 1s`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if refresh < 100*time.Millisecond {
				return usageErrorf("--refresh %s: use 100ms or more", refresh)
			}
			p, err := f.Paths()
			if err != nil {
				return err
			}
			client := adminapi.NewClient(adminapi.SocketPath(p.DataDir))
			if _, err := client.Status(cmd.Context()); errors.Is(err, adminapi.ErrNoDaemon) {
				return &exitError{code: ExitUnavailable, err: fmt.Errorf("no credflow daemon is running for %s; start one with 'credflow serve'", p.DataDir)}
			} else if err != nil {
				return err
			}
			return tui.Run(cmd.Context(), client, tui.Options{Refresh: refresh, Now: f.Now},
				tea.WithInput(f.IO.In), tea.WithOutput(f.IO.Out), tea.WithAltScreen())
		},
	}
	cmd.Flags().DurationVar(&refresh, "refresh", 500*time.Millisecond, "redraw at most once per `DURATION` (at least 100ms)")
	return cmd
}
