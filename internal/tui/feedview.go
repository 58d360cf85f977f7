package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/credflow/credflow/pkg/adminapi"
)

var feedCols = []column{
	{title: "TIME", width: 8, left: true},
	{title: "KEY", width: 10, left: true},
	{title: "MODEL", width: 14, grow: 16, left: true},
	{title: "STATUS", width: 6},
	{title: "IN", width: 7},
	{title: "OUT", width: 7},
	{title: "COST", width: 10},
	{title: "LATENCY", width: 8},
}

// feedView is the live list of recent requests, newest first. Paused, it
// keeps showing the events it had.
type feedView struct {
	cursor int
	offset int
	paused bool
	frozen []adminapi.Event
}

// setPaused freezes (or thaws) the list at the current events.
func (f *feedView) setPaused(p bool, s *Stats) {
	f.paused = p
	f.frozen = nil
	if p {
		f.frozen = s.Recent()
	}
}

// events returns the events to show, newest first, filtered.
func (f *feedView) events(s *Stats, filter string) []adminapi.Event {
	src := f.frozen
	if !f.paused {
		src = s.Recent()
	}
	if filter == "" {
		return src
	}
	fl := strings.ToLower(filter)
	var out []adminapi.Event
	for _, e := range src {
		hay := strings.ToLower(strings.Join([]string{e.Key, e.Model, e.Provider, e.UpstreamModel, strconv.Itoa(e.Status), e.Error, e.Session}, "\x00"))
		if strings.Contains(hay, fl) {
			out = append(out, e)
		}
	}
	return out
}

// Update handles the keys the feed owns: selection.
func (f *feedView) Update(msg tea.KeyMsg, keys keyMap, n int) {
	switch {
	case key.Matches(msg, keys.Up):
		f.cursor--
	case key.Matches(msg, keys.Down):
		f.cursor++
	}
	f.cursor = max(0, min(f.cursor, n-1))
}

func (f *feedView) selected(evs []adminapi.Event) *adminapi.Event {
	if len(evs) == 0 {
		return nil
	}
	e := evs[max(0, min(f.cursor, len(evs)-1))]
	return &e
}

// View draws the feed in width x height cells; times are shown in loc.
func (f *feedView) View(evs []adminapi.Event, width, height int, loc *time.Location) string {
	cols := fitColumns(feedCols, width-2)
	titles := make([]string, len(feedCols))
	for i, c := range feedCols {
		titles[i] = c.title
	}
	var b strings.Builder
	b.WriteString(styles.colHead.Render("  " + formatRow(cols, titles)))
	if len(evs) == 0 {
		b.WriteString("\n  " + styles.faint.Render("no requests yet"))
		return b.String()
	}
	f.cursor = max(0, min(f.cursor, len(evs)-1))
	visible := max(1, height-1)
	f.offset = scroll(f.offset, f.cursor, visible, len(evs))
	for i := f.offset; i < len(evs) && i < f.offset+visible; i++ {
		e := &evs[i]
		status := strconv.Itoa(e.Status)
		var unpriced int64
		if !e.CostKnown {
			unpriced = 1
		}
		line := formatRow(cols, []string{
			e.Time.In(loc).Format(time.TimeOnly), nameOf(e, DimKey), nameOf(e, DimModel), status,
			count(e.InputTokens), count(e.OutputTokens), money(e.CostMicros, unpriced, 1), latency(e.LatencyMS),
		})
		b.WriteByte('\n')
		b.WriteString(selectLine(line, i == f.cursor))
	}
	return b.String()
}
