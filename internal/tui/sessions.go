package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/credflow/credflow/pkg/adminapi"
)

// MaxSessions bounds the sessions top keeps; past it the one seen least
// recently is forgotten.
const MaxSessions = 5000

type sessionID struct{ key, session string }

// SessionRow is one stored conversation (a session or a conversation) as
// seen in the requests that continued it since top started.
type SessionRow struct {
	Key, Session string
	// Model answered the last request.
	Model string
	// Turns counts the requests seen (errors included).
	Turns, Errors int64
	In, Out       int64 // tokens
	Cost          int64 // micro-dollars, sum of the priced requests
	Unpriced      int64
	// Context is the history sent with the last request (tokens), Window
	// that model's context window (0 when unknown), PeakContext the most
	// history sent with any request seen.
	Context, Window, PeakContext int
	// Summaries counts the requests for which older turns were replaced by
	// a summary.
	Summaries int64
	LastSeen  time.Time
}

// share is how much of the window the last request's history filled (0
// when the window is unknown).
func (r *SessionRow) share() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Context) / float64(r.Window)
}

func (s *Stats) addSession(e *adminapi.Event) {
	if e.Session == "" {
		return
	}
	id := sessionID{e.Key, e.Session}
	r := s.sessions[id]
	if r == nil {
		if len(s.sessions) >= MaxSessions {
			s.forgetOldestSession()
		}
		r = &SessionRow{Key: e.Key, Session: e.Session}
		s.sessions[id] = r
	}
	r.Turns++
	if isError(e) {
		r.Errors++
	}
	r.In += e.InputTokens
	r.Out += e.OutputTokens
	if e.CostKnown {
		r.Cost += e.CostMicros
	} else {
		r.Unpriced++
	}
	if e.Summarized {
		r.Summaries++
	}
	if !e.Time.Before(r.LastSeen) {
		r.LastSeen = e.Time
		if e.Model != "" {
			r.Model = e.Model
		}
		// A failed request may have sent nothing: keep what the last one
		// that did shows.
		if e.ContextTokens > 0 || e.ContextWindow > 0 {
			r.Context, r.Window = e.ContextTokens, e.ContextWindow
		}
	}
	r.PeakContext = max(r.PeakContext, e.ContextTokens)
}

func (s *Stats) forgetOldestSession() {
	var oldest sessionID
	var at time.Time
	first := true
	for id, r := range s.sessions {
		if first || r.LastSeen.Before(at) {
			oldest, at, first = id, r.LastSeen, false
		}
	}
	delete(s.sessions, oldest)
}

// Session returns the session of key named name, or nil.
func (s *Stats) Session(key, name string) *SessionRow { return s.sessions[sessionID{key, name}] }

// Sessions returns the sessions whose key, name or model contains filter
// (case-insensitive), most recently seen first.
func (s *Stats) Sessions(filter string) []*SessionRow {
	f := strings.ToLower(filter)
	out := make([]*SessionRow, 0, len(s.sessions))
	for _, r := range s.sessions {
		if f == "" || strings.Contains(strings.ToLower(r.Key+"\x00"+r.Session+"\x00"+r.Model), f) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Session < out[j].Session
	})
	return out
}

// Sort columns of the sessions table, in the order `s` cycles them.
const (
	SessSortLast = iota
	SessSortTurns
	SessSortContext
	SessSortCost
	SessSortName
	numSessSorts
)

var sessSortTitles = [numSessSorts]string{"LAST", "TURNS", "CONTEXT", "COST", "SESSION"}

var sessionCols = []column{
	{title: "KEY", width: 8, grow: 6, left: true},
	{title: "SESSION", width: 12, grow: 18, left: true},
	{title: "MODEL", width: 12, grow: 6, left: true},
	{title: "TURNS", width: 5},
	{title: "CONTEXT", width: 11, grow: 6, left: true},
	{title: "SUMM", width: 4},
	{title: "COST", width: 11},
	{title: "LAST", width: 8},
}

// sessionsView is the live list of the sessions requests continued: it
// owns the selection and the sort order.
type sessionsView struct {
	cursor int
	offset int
	sort   int
}

// rows returns the sessions to show, sorted.
func (v *sessionsView) rows(s *Stats, filter string) []*SessionRow {
	rows := s.Sessions(filter) // most recent first
	key := func(r *SessionRow) float64 {
		switch v.sort {
		case SessSortTurns:
			return float64(r.Turns)
		case SessSortContext:
			if r.Window > 0 {
				return r.share()
			}
			return -1 / float64(1+r.Context) // unknown windows last, the fuller first
		case SessSortCost:
			return float64(r.Cost)
		}
		return 0
	}
	switch v.sort {
	case SessSortLast:
	case SessSortName:
		sort.SliceStable(rows, func(i, j int) bool {
			if rows[i].Session != rows[j].Session {
				return rows[i].Session < rows[j].Session
			}
			return rows[i].Key < rows[j].Key
		})
	default:
		sort.SliceStable(rows, func(i, j int) bool { return key(rows[i]) > key(rows[j]) })
	}
	return rows
}

// Update handles the keys the view owns: selection and sort.
func (v *sessionsView) Update(msg tea.KeyMsg, keys keyMap, n int) {
	switch {
	case key.Matches(msg, keys.Up):
		v.cursor--
	case key.Matches(msg, keys.Down):
		v.cursor++
	case key.Matches(msg, keys.Sort):
		v.sort = (v.sort + 1) % numSessSorts
	}
	v.cursor = max(0, min(v.cursor, n-1))
}

func (v *sessionsView) selected(rows []*SessionRow) *SessionRow {
	if len(rows) == 0 {
		return nil
	}
	return rows[max(0, min(v.cursor, len(rows)-1))]
}

// View draws the sessions in width x height cells; times are shown in loc.
func (v *sessionsView) View(rows []*SessionRow, width, height int, loc *time.Location) string {
	cols := fitColumns(sessionCols, width-2)
	titles := make([]string, len(sessionCols))
	for i, c := range sessionCols {
		titles[i] = c.title
		if c.title == sessSortTitles[v.sort] {
			if v.sort == SessSortName {
				titles[i] += "▲"
			} else {
				titles[i] += "▼"
			}
		}
	}
	var b strings.Builder
	b.WriteString(styles.colHead.Render("  " + formatRow(cols, titles)))
	if len(rows) == 0 {
		b.WriteString("\n  " + styles.faint.Render("no sessions yet: requests with X-Credflow-Session or a stored conversation show here"))
		return b.String()
	}
	ctxW := 0
	if len(cols) > 4 {
		ctxW = cols[4].width
	}
	v.cursor = max(0, min(v.cursor, len(rows)-1))
	visible := max(1, height-1)
	v.offset = scroll(v.offset, v.cursor, visible, len(rows))
	for i := v.offset; i < len(rows) && i < v.offset+visible; i++ {
		r := rows[i]
		summ := "-"
		if r.Summaries > 0 {
			summ = count(r.Summaries)
		}
		line := formatRow(cols, []string{
			dash(r.Key), r.Session, dash(r.Model), count(r.Turns), contextCell(r, ctxW, i == v.cursor), summ,
			money(r.Cost, r.Unpriced, r.Turns), r.LastSeen.In(loc).Format(time.TimeOnly),
		})
		b.WriteByte('\n')
		b.WriteString(selectLine(line, i == v.cursor))
	}
	return b.String()
}

// contextCell draws the last request's history against the model's
// window in w cells: a bar coloured as budgets are when there is room,
// then "12.3k/200k"; "12.3k/?" when the window is unknown.
func contextCell(r *SessionRow, w int, plain bool) string {
	if r.Context == 0 && r.Window == 0 {
		return "-"
	}
	window := "?"
	if r.Window > 0 {
		window = tokens(int64(r.Window))
	}
	label := tokens(int64(r.Context)) + "/" + window
	// Labels right-aligned in a common width keep the bars in one column.
	const minBar, labelW = 4, 10
	if len(label) < labelW {
		label = strings.Repeat(" ", labelW-len(label)) + label
	}
	if w < minBar+1+len(label) {
		return strings.TrimLeft(label, " ")
	}
	barW := w - 1 - len(label)
	if r.Window <= 0 {
		return strings.Repeat(" ", barW+1) + label // no window, no bar
	}
	share := r.share()
	filled := min(int(share*float64(barW)+0.5), barW)
	if r.Context > 0 {
		filled = max(filled, 1)
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barW-filled)
	if !plain {
		bar = budgetStyle(share).Render(bar)
	}
	return bar + " " + label
}

// tokens formats a token count compactly without a needless ".0": 950,
// 12.3k, 200k, 1.05M.
func tokens(n int64) string { return strings.Replace(count(n), ".0k", "k", 1) }

// sessionDetail lists every number of a session.
func sessionDetail(r *SessionRow, loc *time.Location) [][2]string {
	window := "unknown"
	if r.Window > 0 {
		window = fmt.Sprintf("%d tokens (%d%% filled by the last request)", r.Window, int(r.share()*100))
	}
	return [][2]string{
		{"key", dash(r.Key)},
		{"session", r.Session},
		{"model", dash(r.Model)},
		{"turns", fmt.Sprint(r.Turns)},
		{"errors", fmt.Sprintf("%d (%s)", r.Errors, percent(r.Errors, r.Turns))},
		{"tokens in", fmt.Sprint(r.In)},
		{"tokens out", fmt.Sprint(r.Out)},
		{"cost", money(r.Cost, r.Unpriced, r.Turns)},
		{"history sent", fmt.Sprintf("%d tokens last, %d at most", r.Context, r.PeakContext)},
		{"model window", window},
		{"summaries made", fmt.Sprint(r.Summaries)},
		{"last request", r.LastSeen.In(loc).Format(time.DateTime)},
	}
}

// sessionTitle names a session in the detail's title.
func sessionTitle(r *SessionRow) string {
	return fmt.Sprintf("session %s of key %s", r.Session, dash(r.Key))
}
