package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/ledger"
	"github.com/spf13/cobra"
)

type usageOptions struct {
	By    []string
	Since string
	Until string
	Key   string
	JSON  bool
	CSV   bool
}

func newUsageCmd(f *Factory) *cobra.Command {
	var o usageOptions
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show what the gateway served: requests, errors, tokens and cost, grouped",
		Long: `Show the gateway's usage from the ledger in the data file: requests, errors,
tokens and cost, grouped by virtual key, model, provider, session, day or hour.

The answer comes from hourly and daily rollups, never from scanning every
request: ranges shorter than two days and --by hour read hourly rollups,
longer ones daily rollups, and the range is widened to whole UTC hours or
days. Days and hours are UTC.

--by session groups by stored conversation (the X-Credflow-Session name or
the conversation id; "-" for requests without one). Sessions have no
rollups (there are too many, and rollups are kept for good), so it reads
the raw request records instead: slower on long ranges, and only as far
back as they are kept (ledger.retention, 90 days by default); credflow says
when the range reaches further.

COST is exact for requests whose model has a known price. When some
requests had no known price, it reads "≥$1.23 (+N unpriced)": a lower
bound, never an unknown counted as free.

It reads the data file, whether or not a daemon runs; a running daemon is
first asked (on its admin socket) to write the requests it holds, so the
report includes the very latest.`,
		Example: `  credflow usage
  credflow usage --by key --by model --since 30d
  credflow usage --by day --key agent --csv > agent.csv
  credflow usage --by session --key agent --since 24h`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := o.query(f.Now())
			if err != nil {
				return err
			}
			flushDaemon(cmd.Context(), f)
			db, err := f.OpenStore()
			if err != nil {
				return err
			}
			rows, damage, err := ledger.UsageWithDamage(db, q)
			var pruned time.Time
			if err == nil && q.FromRecords() {
				pruned, err = ledger.PrunedBefore(db)
			}
			db.Close()
			if err != nil {
				return err
			}
			if _, from, _ := q.Plan(); !pruned.IsZero() && from.Before(pruned) {
				info(f.IO.ErrOut, "--by session reads the request records, kept from %s on (ledger.retention); earlier requests are not in it", pruned.Local().Format(time.DateTime))
			}
			if !damage.Empty() {
				info(f.IO.ErrOut, "skipped %s; the totals are of the rest", damage)
			}
			var total ledger.Counters
			for _, r := range rows {
				total.Add(r.Counters)
			}
			cols := usageColumns(q.By)
			switch {
			case o.JSON:
				return writeJSON(f.IO.Out, usageJSON(q, cols, rows, total))
			case o.CSV:
				return writeUsageCSV(f.IO.Out, cols, rows)
			}
			if len(rows) == 0 {
				_, from, to := q.Plan()
				info(f.IO.ErrOut, "no usage recorded from %s to %s", from.Local().Format(time.DateTime), to.Local().Format(time.DateTime))
				return nil
			}
			return writeUsageTable(f.IO.Out, cols, rows, total)
		},
	}
	cmd.Flags().StringSliceVar(&o.By, "by", nil, "group by `DIM`: key, model, provider, session, day, hour (repeat, or separate with commas)")
	cmd.Flags().StringVar(&o.Since, "since", "7d", "from a duration ago (24h, 7d) or a date (2026-11-01, RFC 3339)")
	cmd.Flags().StringVar(&o.Until, "until", "", "up to a duration ago or a date (default now)")
	cmd.Flags().StringVar(&o.Key, "key", "", "only the usage of virtual key `NAME`")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&o.CSV, "csv", false, "print as CSV (rows only, no total)")
	cmd.MarkFlagsMutuallyExclusive("json", "csv")
	return cmd
}

func (o *usageOptions) query(now time.Time) (ledger.Query, error) {
	var q ledger.Query
	for _, s := range o.By {
		d, err := ledger.ParseDim(strings.ToLower(strings.TrimSpace(s)))
		if err != nil {
			return q, usageErrorf("--by: %v", err)
		}
		if !slices.Contains(q.By, d) {
			q.By = append(q.By, d)
		}
	}
	if o.Since != "" {
		t, err := parseSince(o.Since, now)
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	q.Until = now
	if o.Until != "" {
		t, err := parseSince(o.Until, now)
		if err != nil {
			return q, usageErrorf("--until %q: use a duration (24h, 7d) or a date (2026-11-01 or RFC 3339)", o.Until)
		}
		q.Until = t
	}
	if !q.Since.IsZero() && !q.Until.After(q.Since) {
		return q, usageErrorf("--until (%s) is not after --since (%s)", q.Until.Local().Format(time.DateTime), q.Since.Local().Format(time.DateTime))
	}
	q.Key = o.Key
	return q, nil
}

// usageColumns are the group columns in the order asked; hour replaces day.
func usageColumns(by []ledger.Dim) []ledger.Dim {
	var cols []ledger.Dim
	for _, d := range by {
		if d == ledger.DimDay && slices.Contains(by, ledger.DimHour) {
			continue
		}
		cols = append(cols, d)
	}
	return cols
}

func groupValue(r ledger.Row, d ledger.Dim) string {
	switch d {
	case ledger.DimKey:
		return r.Key
	case ledger.DimModel:
		return r.Model
	case ledger.DimProvider:
		return r.Provider
	case ledger.DimSession:
		return r.Session
	case ledger.DimDay:
		return r.Period.UTC().Format(time.DateOnly)
	case ledger.DimHour:
		return r.Period.UTC().Format("2006-01-02 15:00")
	}
	return ""
}

// costCell shows a known cost, or a lower bound and the unpriced count.
func costCell(c ledger.Counters) string {
	if c.CostUnknown == 0 {
		return c.Cost.String()
	}
	return fmt.Sprintf("≥%s (+%d unpriced)", c.Cost, c.CostUnknown)
}

func writeUsageTable(w io.Writer, cols []ledger.Dim, rows []ledger.Row, total ledger.Counters) error {
	tw := table(w)
	var head []string
	for _, d := range cols {
		head = append(head, strings.ToUpper(string(d)))
	}
	if len(head) == 0 {
		head = []string{""}
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHED\tCOST")
	line := func(group []string, c ledger.Counters) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", strings.Join(group, "\t"), c.Requests, c.Errors, c.Input, c.Output, c.Cached, costCell(c))
	}
	if len(cols) > 0 {
		for _, r := range rows {
			var group []string
			for _, d := range cols {
				group = append(group, dash(groupValue(r, d)))
			}
			line(group, r.Counters)
		}
	}
	group := make([]string, len(head))
	group[0] = "TOTAL"
	line(group, total)
	return tw.Flush()
}

type usageJSONRow struct {
	Key      *string `json:"key,omitempty"`
	Model    *string `json:"model,omitempty"`
	Provider *string `json:"provider,omitempty"`
	Session  *string `json:"session,omitempty"`
	Day      string  `json:"day,omitempty"`
	Hour     string  `json:"hour,omitempty"`
	ledger.Counters
	CostText string `json:"cost"`
}

type usageJSONOut struct {
	Since       time.Time  `json:"since,omitzero"`
	Until       time.Time  `json:"until,omitzero"`
	Granularity ledger.Dim `json:"granularity"`
	// Source is what was read: "rollups", or "records" (--by session).
	Source string         `json:"source"`
	By     []ledger.Dim   `json:"by"`
	Key    string         `json:"key,omitempty"`
	Rows   []usageJSONRow `json:"rows"`
	Total  usageJSONRow   `json:"total"`
}

func usageJSON(q ledger.Query, cols []ledger.Dim, rows []ledger.Row, total ledger.Counters) usageJSONOut {
	g, from, to := q.Plan()
	out := usageJSONOut{Since: from, Until: to, Granularity: g, Source: "rollups", By: cols, Key: q.Key, Rows: []usageJSONRow{}}
	if q.FromRecords() {
		out.Source = "records"
	}
	if out.By == nil {
		out.By = []ledger.Dim{}
	}
	for _, r := range rows {
		jr := usageJSONRow{Counters: r.Counters, CostText: costCell(r.Counters)}
		for _, d := range cols {
			v := groupValue(r, d)
			switch d {
			case ledger.DimKey:
				jr.Key = &v
			case ledger.DimModel:
				jr.Model = &v
			case ledger.DimProvider:
				jr.Provider = &v
			case ledger.DimSession:
				jr.Session = &v
			case ledger.DimDay:
				jr.Day = v
			case ledger.DimHour:
				jr.Hour = r.Period.UTC().Format(time.RFC3339)
			}
		}
		out.Rows = append(out.Rows, jr)
	}
	out.Total = usageJSONRow{Counters: total, CostText: costCell(total)}
	return out
}

func writeUsageCSV(w io.Writer, cols []ledger.Dim, rows []ledger.Row) error {
	cw := csv.NewWriter(w)
	var head []string
	for _, d := range cols {
		head = append(head, string(d))
	}
	head = append(head, "requests", "errors", "input", "output", "cached", "cache_write", "reasoning",
		"cost_usd", "cost_unknown_requests", "latency_us_sum", "estimated")
	cw.Write(head)
	for _, r := range rows {
		var rec []string
		for _, d := range cols {
			v := groupValue(r, d)
			if d == ledger.DimHour {
				v = r.Period.UTC().Format(time.RFC3339)
			}
			rec = append(rec, v)
		}
		c := r.Counters
		for _, n := range []int64{c.Requests, c.Errors, c.Input, c.Output, c.Cached, c.CacheWrite, c.Reasoning} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		rec = append(rec, c.Cost.Decimal(), strconv.FormatInt(c.CostUnknown, 10),
			strconv.FormatInt(c.LatencyUS, 10), strconv.FormatInt(c.Estimated, 10))
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}
