package cli

import (
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/limits"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/spf13/cobra"
)

// limitFlags are the budget and rate-limit flags of keys create/update.
type limitFlags struct {
	Budgets     []string
	SoftBudgets []string
	RPM, TPM    int
	Concurrent  int
	NoLimits    bool
}

func (l *limitFlags) add(cmd *cobra.Command, update bool) {
	cmd.Flags().StringArrayVar(&l.Budgets, "budget", nil, "hard budget `AMOUNT/PERIOD`: 5usd/day, $20/month, 100000tokens/week, 50usd (total); repeatable")
	cmd.Flags().StringArrayVar(&l.SoftBudgets, "soft-budget", nil, "soft budget (warns, never refuses), same form as --budget; repeatable")
	cmd.Flags().IntVar(&l.RPM, "rpm", 0, "requests per minute (0: no limit)")
	cmd.Flags().IntVar(&l.TPM, "tpm", 0, "tokens per minute (0: no limit)")
	cmd.Flags().IntVar(&l.Concurrent, "max-concurrent", 0, "requests in flight at once (0: no limit)")
	if update {
		cmd.Flags().BoolVar(&l.NoLimits, "no-limits", false, "remove every budget and rate limit")
	}
}

// changed reports whether any limit flag was given.
func (l *limitFlags) changed(cmd *cobra.Command) bool {
	for _, n := range []string{"budget", "soft-budget", "rpm", "tpm", "max-concurrent", "no-limits"} {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			return true
		}
	}
	return false
}

// policy builds the policy the flags describe.
func (l *limitFlags) policy() (adminapi.Policy, error) {
	var p adminapi.Policy
	if l.NoLimits {
		return p, nil
	}
	for _, set := range []struct {
		specs []string
		soft  bool
	}{{l.Budgets, false}, {l.SoftBudgets, true}} {
		for _, s := range set.specs {
			b, err := limits.ParseBudget(s)
			if err != nil {
				return p, usageErrorf("%v", err)
			}
			b.Soft = set.soft
			p.Budgets = append(p.Budgets, b)
		}
	}
	if l.RPM < 0 || l.TPM < 0 || l.Concurrent < 0 {
		return p, usageErrorf("--rpm, --tpm and --max-concurrent must not be negative")
	}
	p.RPM, p.TPM, p.MaxConcurrent = l.RPM, l.TPM, l.Concurrent
	return p, nil
}

// limitsText describes a policy for lists and messages.
func limitsText(p adminapi.Policy) string {
	var parts []string
	for _, b := range p.Budgets {
		parts = append(parts, limits.FormatBudget(b))
	}
	if p.RPM > 0 {
		parts = append(parts, itoa(p.RPM)+" rpm")
	}
	if p.TPM > 0 {
		parts = append(parts, itoa(p.TPM)+" tpm")
	}
	if p.MaxConcurrent > 0 {
		parts = append(parts, itoa(p.MaxConcurrent)+" concurrent")
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

func itoa(n int) string { return strconv.Itoa(n) }
