package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Budget bar thresholds: the share of a budget used below which the bar is
// green, then yellow; red from budgetRed on.
const (
	budgetYellow = 0.70
	budgetRed    = 0.90
)

// budgetShare is how much of b is used (1 = all of it; more when overspent).
func budgetShare(b adminapi.BudgetStatus) float64 {
	if b.Limit <= 0 {
		return 0
	}
	return float64(b.Used) / float64(b.Limit)
}

// tightest returns the budget nearest its limit, or nil.
func tightest(bs []adminapi.BudgetStatus) *adminapi.BudgetStatus {
	var out *adminapi.BudgetStatus
	for i := range bs {
		if out == nil || budgetShare(bs[i]) > budgetShare(*out) {
			out = &bs[i]
		}
	}
	return out
}

// budgetCell draws a key's tightest budget in w cells: a bar coloured by
// threshold, the share used, and used/limit when there is room; "—" for a
// key without budgets. plain leaves the colour out (a selected row is
// drawn in reverse video, which a colour inside would interrupt).
func budgetCell(bs []adminapi.BudgetStatus, w int, plain bool) string {
	b := tightest(bs)
	if b == nil {
		return "—"
	}
	share := budgetShare(*b)
	pct := strconv.Itoa(int(share*100)) + "%"
	label := pct + " " + budgetAmount(b.Used, b.Unit) + "/" + budgetAmount(b.Limit, b.Unit)
	const minBar = 6
	if w < minBar+1+len(label) {
		label = pct
	}
	barW := max(1, w-1-len(label))
	filled := int(share*float64(barW) + 0.5)
	if b.Used > 0 {
		filled = max(filled, 1)
	}
	filled = min(filled, barW)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barW-filled)
	if !plain {
		bar = budgetStyle(share).Render(bar)
	}
	return bar + " " + label
}

// budgetStyle colours a budget bar by the share used.
func budgetStyle(share float64) lipgloss.Style {
	switch {
	case share >= budgetRed:
		return styles.bad
	case share >= budgetYellow:
		return styles.warn
	}
	return styles.good
}

// budgetAmount formats an amount of a budget's unit compactly, for the bar.
func budgetAmount(v int64, unit string) string {
	if unit == adminapi.UnitTokens {
		return strings.Replace(count(v), ".0", "", 1)
	}
	switch {
	case v == 0:
		return "$0"
	case v < 10_000:
		return "<$0.01"
	case v >= 100_000_000:
		return "$" + strconv.FormatInt(v/1_000_000, 10)
	}
	return "$" + strconv.FormatFloat(float64(v)/1e6, 'f', 2, 64)
}

// budgetExact formats an amount of a budget's unit exactly.
func budgetExact(v int64, unit string) string {
	if unit == adminapi.UnitTokens {
		return strconv.FormatInt(v, 10) + " tokens"
	}
	return pricing.Micros(v).String()
}

// budgetDetail describes each budget for the detail view.
func budgetDetail(bs []adminapi.BudgetStatus, loc *time.Location) [][2]string {
	if len(bs) == 0 {
		return [][2]string{{"budget", "none"}}
	}
	var out [][2]string
	for _, b := range bs {
		kind := "hard"
		if b.Soft {
			kind = "soft"
		}
		per := "/" + b.Period
		if b.Period == adminapi.PeriodTotal {
			per = " total"
		}
		reset := "never resets"
		if !b.ResetsAt.IsZero() {
			reset = "resets " + b.ResetsAt.In(loc).Format("2006-01-02 15:04 MST")
		}
		out = append(out, [2]string{"budget " + kind, fmt.Sprintf("%s of %s%s (%d%%), %s",
			budgetExact(b.Used, b.Unit), budgetExact(b.Limit, b.Unit), per, int(budgetShare(b)*100), reset)})
	}
	return out
}
