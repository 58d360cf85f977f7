package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
)

// helpNotes explain the numbers, most needed first (a short terminal cuts
// the last ones).
var helpNotes = []string{
	`"today" is the daemon's spend in the current UTC day, all keys; ≥ means some of its requests have no known price, so it is a lower bound. The keys, models and providers tables count that day too (the daemon's figures and what finished since); their latencies, the rates, the feed and the sessions count what top saw since it started.`,
	`COST ending in +? includes requests without a known price; ? is no known price at all.`,
	`BUDGET is the key's budget nearest its limit: green below 70% used, yellow below 90%, red from 90%; — means no budget. enter lists all of a key's budgets.`,
	`SESSIONS are the stored conversations requests continued: CONTEXT is the history sent with the last one against the model's window (yellow from 70%, red from 90%), SUMM how many requests had older turns replaced by a summary.`,
	`The sparklines cover the last 5 minutes: requests per second and mean latency.`,
}

// helpView lists the key bindings, then what the numbers mean, in width
// cells.
func helpView(keys keyMap, width int) string {
	var b strings.Builder
	b.WriteString(styles.title.Render("keys"))
	row := func(k, desc string) { b.WriteString("\n" + labelled(k, 9, desc, width)) }
	row(keys.Next.Help().Key+" 1-5", keys.Next.Help().Desc+"; 1 keys, 2 models, 3 providers, 4 feed, 5 sessions")
	row("↑↓ k j", "select (scroll the help and details)")
	for _, k := range []key.Binding{keys.Sort, keys.Filter, keys.Pause, keys.Detail, keys.Back, keys.Help, keys.Quit} {
		row(k.Help().Key, k.Help().Desc)
	}
	for _, n := range helpNotes {
		b.WriteString("\n")
		for _, l := range wrap(n, max(width-4, 20)) {
			b.WriteString("\n  " + styles.faint.Render(l))
		}
	}
	return clip(b.String(), width)
}
