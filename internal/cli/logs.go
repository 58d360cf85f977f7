package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	Follow bool
	Key    string
	Model  string
	Errors bool
	N      int
	JSON   bool
}

func newLogsCmd(f *Factory) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the gateway's recent requests; -f follows new ones",
		Long: `Show the gateway's most recent requests from the ledger in the data file,
newest last: time, virtual key, model, provider, status, tokens in and out,
cost and latency. Prompts and replies are never recorded.

It reads the data file whether or not a daemon runs; a running daemon is
first asked to write the requests it holds.
With -f it then follows the running daemon's requests as they finish, until
interrupted; without a daemon, -f fails with exit code 4. A cost ending in
"~" is for an estimated token count; "?" is an unknown price.

--json prints one JSON object per line.`,
		Example: `  credflow logs -n 20
  credflow logs -f --key agent
  credflow logs --errors --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.N < 0 {
				return usageErrorf("-n %d: use 0 or more", o.N)
			}
			p, err := f.Paths()
			if err != nil {
				return err
			}
			flt := ledger.Filter{Key: o.Key, Model: o.Model, ErrorsOnly: o.Errors, Limit: o.N}
			// Subscribe before reading the file, so that no request falls
			// between the two.
			var events <-chan adminapi.Event
			if o.Follow {
				events, err = adminapi.NewClient(adminapi.SocketPath(p.DataDir)).Events(cmd.Context())
				if errors.Is(err, adminapi.ErrNoDaemon) {
					return &exitError{code: ExitUnavailable, err: fmt.Errorf("no credflow daemon is running for %s, so there is nothing to follow; start one with 'credflow serve' (without -f, logs shows what is recorded)", p.DataDir)}
				}
				if err != nil {
					return err
				}
			}
			var recent []ledger.Record
			if o.N > 0 {
				flushDaemon(cmd.Context(), f)
				db, err := f.OpenStore()
				if err != nil {
					return err
				}
				var damage ledger.Damage
				recent, damage, err = ledger.RecentWithDamage(db, flt)
				db.Close()
				if err != nil {
					return err
				}
				if !damage.Empty() {
					info(f.IO.ErrOut, "skipped %s; showing the rest", damage)
				}
			}
			slices.Reverse(recent) // newest last
			lw := &logWriter{w: f.IO.Out, json: o.JSON}
			for i := range recent {
				if err := lw.print(&recent[i]); err != nil {
					return err
				}
			}
			if !o.Follow {
				if len(recent) == 0 && !o.JSON {
					info(f.IO.ErrOut, "no requests recorded")
				}
				return nil
			}

			seen := make(map[string]bool, len(recent))
			for _, r := range recent {
				seen[r.ID+"@"+strconv.FormatInt(r.Time.UnixNano(), 10)] = true
			}
			for ev := range events {
				r := ledger.FromEvent(ev)
				if seen[r.ID+"@"+strconv.FormatInt(r.Time.UnixNano(), 10)] || !flt.Match(&r) {
					continue
				}
				if err := lw.print(&r); err != nil {
					return err
				}
			}
			if cmd.Context().Err() != nil {
				return nil // interrupted
			}
			return &exitError{code: ExitUnavailable, err: errors.New("the credflow daemon stopped")}
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "then follow the running daemon's requests until interrupted")
	cmd.Flags().StringVar(&o.Key, "key", "", "only requests of virtual key `NAME`")
	cmd.Flags().StringVar(&o.Model, "model", "", "only requests for `MODEL` (requested or upstream name)")
	cmd.Flags().BoolVar(&o.Errors, "errors", false, "only failed requests")
	cmd.Flags().IntVarP(&o.N, "lines", "n", 50, "show the last `N` recorded requests")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	return cmd
}

// logWriter prints request records: aligned columns for people (a header
// once, then one line per record, flushed at once so -f shows each request
// as it finishes), or one JSON object per line.
type logWriter struct {
	w      io.Writer
	json   bool
	header bool
}

const logFormat = "%-20s %-12s %-24s %-10s %6s %8s %8s %10s %8s %s\n"

func (l *logWriter) print(r *ledger.Record) error {
	if l.json {
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(l.w, "%s\n", data)
		return err
	}
	if !l.header {
		l.header = true
		if _, err := fmt.Fprintf(l.w, logFormat, "TIME", "KEY", "MODEL", "PROVIDER", "STATUS", "IN", "OUT", "COST", "LATENCY", "ERROR"); err != nil {
			return err
		}
	}
	cost := "?"
	if r.CostKnown {
		cost = r.Cost.String()
	}
	if r.Estimated {
		cost += "~"
	}
	lat := (time.Duration(r.LatencyUS) * time.Microsecond).Round(latencyRound(r.LatencyUS)).String()
	notes := r.ErrorClass
	// Guardrail hits and policy decisions go after the error: rule,
	// action, side, detector and count, never the text.
	if len(r.Guard) > 0 {
		notes = strings.TrimSpace(notes + " guard=" + adminapi.GuardSummary(r.Guard))
	}
	if r.Policy != "" {
		notes = strings.TrimSpace(notes + " policy=" + strconv.Quote(r.Policy))
	}
	_, err := fmt.Fprintf(l.w, logFormat, r.Time.Local().Format(time.DateTime), dash(r.Key), dash(r.Model), dash(r.Provider),
		strconv.Itoa(r.Status), strconv.FormatInt(r.Input, 10), strconv.FormatInt(r.Output, 10), cost, lat, notes)
	return err
}

// latencyRound keeps two or three significant digits: 50ms, 1.2s.
func latencyRound(us int64) time.Duration {
	switch d := time.Duration(us) * time.Microsecond; {
	case d >= time.Second:
		return 100 * time.Millisecond
	case d >= time.Millisecond:
		return time.Millisecond
	}
	return time.Microsecond
}
