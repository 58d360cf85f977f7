package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/gateway"
	"github.com/credflow/credflow/internal/glob"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/spf13/cobra"
)

// modelRow is one routed model with what it costs.
type modelRow struct {
	Model    string `json:"model"`
	Route    string `json:"route"`
	Provider string `json:"provider"`
	Upstream string `json:"upstream_model"`
	// Prices are USD per 1M tokens as decimal strings; empty when unknown.
	Input      string `json:"input_per_mtok,omitempty"`
	Output     string `json:"output_per_mtok,omitempty"`
	CacheRead  string `json:"cache_read_per_mtok,omitempty"`
	CacheWrite string `json:"cache_write_per_mtok,omitempty"`
	Context    int    `json:"context_window,omitempty"`
	MaxOutput  int    `json:"max_output,omitempty"`
	Priced     bool   `json:"priced"`
}

func newModelsCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models the gateway routes, with prices and context windows",
		Long: `List the models the gateway routes (from the config's routes), with the
provider each goes to and its price per million tokens and context window
from the embedded price table (models.dev snapshot) and the config's
"prices:" overrides. A glob route lists the table's models that match it.
A model with no known price shows "unknown": credflow never treats it as free.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			prices := gateway.PriceTable(cfg)
			rows := []modelRow{}
			for _, r := range cfg.Routes {
				if len(r.Targets) == 0 {
					continue
				}
				prov, upstream, _ := strings.Cut(r.Targets[0], "/")
				pc := cfg.Providers[prov]
				pp := gateway.PricingProvider(prices, pc)
				names := []string{r.Model}
				if strings.ContainsAny(r.Model, "*?") {
					names = nil
					for _, m := range prices.Models(pp) {
						if glob.Match(r.Model, m) {
							names = append(names, m)
						}
					}
					sort.Strings(names)
					if len(names) == 0 {
						rows = append(rows, modelRow{Model: r.Model, Route: r.Model, Provider: prov})
						continue
					}
				}
				for _, name := range names {
					up := upstream
					if up == "" {
						up = name
					}
					row := modelRow{Model: name, Route: r.Model, Provider: prov, Upstream: up}
					if pc.Type == "mock" {
						// The built-in mock bills nothing.
						row.Input, row.Output, row.Priced = "$0.00", "$0.00", true
					} else if p, ok := prices.Find(pp, up); ok {
						row.Context, row.MaxOutput, row.Priced = p.Context, p.MaxOutput, p.Priced()
						row.Input, row.Output = perM(p.Input, p.HasInput), perM(p.Output, p.HasOutput)
						row.CacheRead, row.CacheWrite = perM(p.CacheRead, p.HasCacheRead), perM(p.CacheWrite, p.HasCacheWrite)
					}
					rows = append(rows, row)
				}
			}
			if asJSON {
				return writeJSON(f.IO.Out, rows)
			}
			if len(rows) == 0 {
				info(f.IO.ErrOut, "no routes configured; add some under \"routes:\" in the config file")
				return nil
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "MODEL\tPROVIDER\tUPSTREAM\tINPUT/1M\tOUTPUT/1M\tCACHED/1M\tCONTEXT")
			for _, r := range rows {
				if r.Upstream == "" {
					fmt.Fprintf(tw, "%s\t%s\t(pattern)\t-\t-\t-\t-\n", r.Model, r.Provider)
					continue
				}
				in, out := orUnknown(r.Input), orUnknown(r.Output)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Model, r.Provider, r.Upstream, in, out, dash(r.CacheRead), ctxText(r.Context))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func perM(m pricing.Micros, known bool) string {
	if !known {
		return ""
	}
	return m.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func ctxText(n int) string {
	switch {
	case n == 0:
		return "-"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	case n%1024 == 0:
		return strconv.Itoa(n/1024) + "k"
	}
	return strconv.Itoa(n)
}
