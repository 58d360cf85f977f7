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
		Short: "Watch the running gateway live: requests, tokens, cost and latency per key, model and provider",
		Long: `Show a live dashboard of the running daemon's traffic since top started:
requests, tokens, cost, latency percentiles and errors per virtual key,
model and provider, requests per second, and a feed of the latest requests.

Keys: tab or 1-4 switch views, ↑↓ or j/k select, s cycles the sort column,
/ filters, p pauses the feed, enter shows details, ? help, q quits.
If the daemon goes away, top shows "reconnecting…" and resumes when it
is back. Without a running daemon, top fails with exit code 4.`,
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
