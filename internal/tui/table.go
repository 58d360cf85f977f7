package tui

import (
	"slices"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Sort columns of the aggregate tables; `s` cycles them in the order of
// sortCycle.
const (
	SortReqs = iota
	SortIn
	SortOut
	SortCost
	SortP50
	SortP99
	SortErr
	SortName
	SortBudget // keys only
	numSorts
)

var sortTitles = [numSorts]string{"REQS", "IN", "OUT", "COST", "P50", "P99", "ERR", "NAME", "BUDGET"}

// aggCols are the aggregate tables' columns; the names of sortTitles map
// onto them. The keys table adds a budget bar after the cost.
var (
	aggCols = []column{
		{title: "NAME", width: 12, grow: 20, left: true},
		{title: "REQS", width: 6},
		{title: "IN", width: 7},
		{title: "OUT", width: 7},
		{title: "COST", width: 11},
		{title: "P50", width: 7},
		{title: "P99", width: 7},
		{title: "ERR", width: 5},
	}
	keyCols = []column{
		{title: "NAME", width: 10, grow: 22, left: true},
		aggCols[1], aggCols[2], aggCols[3], aggCols[4],
		{title: "BUDGET", width: 9, grow: 13, left: true},
		aggCols[5], aggCols[6], aggCols[7],
	}
)

// sortCycle is the order `s` goes through the sort columns of dimension d.
func sortCycle(d Dim) []int {
	if d == DimKey {
		return []int{SortReqs, SortIn, SortOut, SortCost, SortBudget, SortP50, SortP99, SortErr, SortName}
	}
	return []int{SortReqs, SortIn, SortOut, SortCost, SortP50, SortP99, SortErr, SortName}
}

// tableView shows the aggregates of one dimension: it owns the selection
// and the sort order.
type tableView struct {
	dim    Dim
	cursor int
	offset int
	sort   int
	// budgets are the keys' budgets by key name (keys table only), from
	// the daemon's last status.
	budgets map[string][]adminapi.BudgetStatus
}

// rows returns the rows to show, sorted.
func (t *tableView) rows(s *Stats, filter string) []*Row {
	rows := s.Rows(t.dim, filter) // name order
	key := func(r *Row) float64 {
		switch t.sort {
		case SortIn:
			return float64(r.In)
		case SortOut:
			return float64(r.Out)
		case SortCost:
			return float64(r.Cost)
		case SortP50:
			return r.Percentile(50)
		case SortP99:
			return r.Percentile(99)
		case SortErr:
			return float64(r.Errors)
		case SortBudget:
			if b := tightest(t.budgets[r.Name]); b != nil {
				return budgetShare(*b)
			}
			return -1
		}
		return float64(r.Requests)
	}
	if t.sort != SortName {
		sort.SliceStable(rows, func(i, j int) bool { return key(rows[i]) > key(rows[j]) })
	}
	return rows
}

// Update handles the keys the table owns: selection and sort.
func (t *tableView) Update(msg tea.KeyMsg, keys keyMap, n int) {
	switch {
	case key.Matches(msg, keys.Up):
		t.cursor--
	case key.Matches(msg, keys.Down):
		t.cursor++
	case key.Matches(msg, keys.Sort):
		cycle := sortCycle(t.dim)
		t.sort = cycle[(slices.Index(cycle, t.sort)+1)%len(cycle)]
	}
	t.cursor = max(0, min(t.cursor, n-1))
}

// selected returns the selected row or nil.
func (t *tableView) selected(rows []*Row) *Row {
	if len(rows) == 0 {
		return nil
	}
	return rows[max(0, min(t.cursor, len(rows)-1))]
}

// View draws the table in width x height cells.
func (t *tableView) View(rows []*Row, width, height int) string {
	all := aggCols
	if t.dim == DimKey {
		all = keyCols
	}
	cols := fitColumns(all, width-2)
	titles := make([]string, len(all))
	for i, c := range all {
		titles[i] = c.title
		if c.title == sortTitles[t.sort] {
			titles[i] += "▼"
			if t.sort == SortName {
				titles[i] = c.title + "▲"
			}
		}
	}
	var b strings.Builder
	b.WriteString(styles.colHead.Render("  " + formatRow(cols, titles)))
	if len(rows) == 0 {
		b.WriteString("\n  " + styles.faint.Render("no requests yet"))
		return b.String()
	}
	t.cursor = max(0, min(t.cursor, len(rows)-1))
	visible := max(1, height-1)
	t.offset = scroll(t.offset, t.cursor, visible, len(rows))
	for i := t.offset; i < len(rows) && i < t.offset+visible; i++ {
		r := rows[i]
		cells := []string{
			r.Name, count(r.Requests), count(r.In), count(r.Out),
			money(r.Cost, r.Unpriced, r.Requests),
			latency(r.Percentile(50)), latency(r.Percentile(99)), count(r.Errors),
		}
		if t.dim == DimKey {
			bw := 0
			if len(cols) > 5 {
				bw = cols[5].width
			}
			cells = slices.Insert(cells, 5, budgetCell(t.budgets[r.Name], bw, i == t.cursor))
		}
		b.WriteByte('\n')
		b.WriteString(selectLine(formatRow(cols, cells), i == t.cursor))
	}
	return b.String()
}

// scroll returns the first visible index that keeps cursor in view.
func scroll(offset, cursor, visible, n int) int {
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+visible {
		offset = cursor - visible + 1
	}
	return max(0, min(offset, n-visible))
}

// selectLine marks the selected line with a "›" gutter and reverse video.
func selectLine(line string, sel bool) string {
	if sel {
		return styles.selected.Render("› " + line)
	}
	return "  " + line
}
