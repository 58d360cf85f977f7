package tui

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/credflow/credflow/internal/pricing"
)

// column is one table column.
type column struct {
	title string
	width int  // the least width
	grow  int  // cells it may grow by when there is room
	left  bool // left-aligned (names); numbers are right-aligned
}

// fitColumns returns the columns of cols that fit in width with one space
// between them, dropping the rightmost first. The spare room goes to the
// columns that grow, the rightmost first, each up to its grow.
func fitColumns(cols []column, width int) []column {
	out := append([]column(nil), cols...)
	for len(out) > 1 && totalWidth(out) > width {
		out = out[:len(out)-1]
	}
	spare := width - totalWidth(out)
	for i := len(out) - 1; i >= 0 && spare > 0; i-- {
		g := min(spare, out[i].grow)
		out[i].width += g
		spare -= g
	}
	return out
}

func totalWidth(cols []column) int {
	w := len(cols) - 1
	for _, c := range cols {
		w += c.width
	}
	return w
}

// formatRow lays cells out in cols; cells beyond cols are dropped.
func formatRow(cols []column, cells []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pad(cells[i], c.width, c.left))
	}
	return b.String()
}

// pad fits s in exactly w cells, truncating with "…".
func pad(s string, w int, left bool) string {
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	fill := strings.Repeat(" ", w-ansi.StringWidth(s))
	if left {
		return s + fill
	}
	return fill + s
}

// clip cuts every line of s to width cells so nothing wraps.
func clip(s string, width int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "")
		}
	}
	return strings.Join(lines, "\n")
}

// wrap breaks s into lines of at most w cells at spaces (a word longer
// than w gets a line of its own and is cut later by clip).
func wrap(s string, w int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// labelled lays out "  label value" with the label in lw cells and the
// value wrapped under itself to fit width.
func labelled(label string, lw int, value string, width int) string {
	indent := 2 + lw + 1
	lines := wrap(value, max(width-indent, 20))
	var b strings.Builder
	fmt.Fprintf(&b, "  %-*s %s", lw, label, lines[0])
	for _, l := range lines[1:] {
		b.WriteString("\n" + strings.Repeat(" ", indent) + l)
	}
	return b.String()
}

// count formats a count compactly: 999, 12.3k, 4.56M.
func count(n int64) string {
	switch {
	case n < 10_000:
		return strconv.FormatInt(n, 10)
	case n < 1_000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	case n < 1_000_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + "M"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 2, 64) + "G"
}

// rate formats a per-second rate.
func rate(v float64) string {
	switch {
	case v >= 10_000:
		return count(int64(v))
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// money formats a cost: the priced sum, "+?" when some requests have no
// known price, "?" when none has.
func money(micros, unpriced, requests int64) string {
	switch {
	case requests > 0 && unpriced == requests:
		return "?"
	case unpriced > 0:
		return pricing.Micros(micros).String() + "+?"
	}
	return pricing.Micros(micros).String()
}

// latency formats milliseconds: 850ms, 1.25s, 42s.
func latency(ms float64) string {
	switch {
	case ms <= 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	case ms < 10_000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	}
	return strconv.FormatFloat(ms/1000, 'f', 0, 64) + "s"
}

// percent formats part/whole as a percentage.
func percent(part, whole int64) string {
	if whole == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

// uptime formats a duration like 3d4h, 2h05m, 4m09s, 12s.
func uptime(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours()/24), int(d.Hours())%24)
}

var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values with block characters, scaled to their maximum;
// a zero is a space.
func sparkline(values []float64) string {
	peak := slices.Max(append([]float64{0}, values...))
	r := make([]rune, len(values))
	for i, v := range values {
		if v <= 0 || peak <= 0 {
			r[i] = ' '
			continue
		}
		lvl := int(math.Ceil(v * float64(len(sparkBlocks)) / peak)) // 1..8
		r[i] = sparkBlocks[max(1, min(lvl, len(sparkBlocks)))-1]
	}
	return string(r)
}

// daySpend formats the day's spend: a lower bound ("≥$1.23") when some of
// its requests have no known price, never a plain $0 for them.
func daySpend(micros, unknown int64) string {
	s := pricing.Micros(micros).String()
	if unknown > 0 {
		return "≥" + s
	}
	return s
}
