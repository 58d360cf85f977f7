// Package tui is credflow top: a live terminal dashboard of the gateway's
// traffic, built on bubbletea. It knows nothing of cobra; data comes from a
// Feed (the admin API client is one).
package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Feed delivers the daemon's status and its stream of finished requests.
// *adminapi.Client satisfies it.
type Feed interface {
	Status(ctx context.Context) (*adminapi.Status, error)
	// Events streams finished requests until ctx ends or the daemon goes
	// away, then closes the channel.
	Events(ctx context.Context) (<-chan adminapi.Event, error)
}

// Options tune the dashboard. Zero values mean the defaults.
type Options struct {
	// Refresh is the least time between two redraws (default 500ms).
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Location is the time zone times are shown in (default time.Local).
	Location *time.Location
	// Backoff and MaxBackoff bound the wait between reconnect attempts
	// (default 1s and 5s); the wait doubles after each failure.
	Backoff, MaxBackoff time.Duration
	// StatusEvery is the time between two status requests while connected
	// (default 2s): they keep the day's spend, the budgets and the uptime
	// true even for requests top did not see.
	StatusEvery time.Duration
}

// Views, in tab order.
const (
	ViewKeys = iota
	ViewModels
	ViewProviders
	ViewFeed
	ViewSessions
	numViews
)

var (
	viewNames      = [numViews]string{"keys", "models", "providers", "feed", "sessions"}
	shortViewNames = [numViews]string{"keys", "models", "provs", "feed", "sess"}
)

// Model is the dashboard's bubbletea model. Use it through a pointer.
type Model struct {
	feed   Feed
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	keys   keyMap

	stats    *Stats
	status   *adminapi.Status
	today    todaySpend
	online   bool
	events   <-chan adminapi.Event // the stream being followed
	lastErr  error
	backoff  time.Duration
	fetching bool // a status request is out

	width, height int
	view          int
	tables        [numDims]tableView
	feedView      feedView
	sessionsView  sessionsView
	detail        *detailView
	help          bool
	scroll        int // first line shown of the help or a detail
	filter        string
	filtering     bool

	frame   string // the last rendered screen; View returns it
	dirty   bool   // state changed since frame was rendered
	lastSec int64  // the clock second frame was rendered at
}

// New returns a dashboard reading feed. ctx bounds its calls to feed.
func New(ctx context.Context, feed Feed, opts Options) *Model {
	if opts.Refresh <= 0 {
		opts.Refresh = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff < opts.Backoff {
		opts.MaxBackoff = max(opts.Backoff, 5*time.Second)
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Model{
		feed: feed, opts: opts, ctx: ctx, cancel: cancel, keys: defaultKeys(),
		stats: NewStats(), backoff: opts.Backoff, width: 80, height: 24,
	}
	for d := range m.tables {
		m.tables[d].dim = Dim(d)
	}
	m.render()
	return m
}

// Run shows the dashboard until the user quits or ctx ends.
func Run(ctx context.Context, feed Feed, opts Options, popts ...tea.ProgramOption) error {
	m := New(ctx, feed, opts)
	defer m.cancel()
	_, err := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, popts...)...).Run()
	if err != nil && ctx.Err() != nil {
		return nil // interrupted
	}
	return err
}

// Stats returns the aggregates (for tests and embedding).
func (m *Model) Stats() *Stats { return m.stats }

// Messages.
type (
	connectedMsg struct {
		status *adminapi.Status
		events <-chan adminapi.Event
	}
	connFailedMsg struct{ err error }
	statusMsg     struct {
		status *adminapi.Status
		err    error
	}
	eventsMsg struct {
		events []adminapi.Event
		ended  bool // the stream closed after these
	}
	retryMsg      struct{}
	tickMsg       struct{}
	statusTickMsg struct{}
)

// Init starts connecting, the redraw tick and the status tick.
func (m *Model) Init() tea.Cmd { return tea.Batch(m.connect(), m.tick(), m.statusTick()) }

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

// statusTick schedules the next status request. There is one chain of
// them for the program's life, and at most one request out at a time.
func (m *Model) statusTick() tea.Cmd {
	return tea.Tick(m.opts.StatusEvery, func(time.Time) tea.Msg { return statusTickMsg{} })
}

func (m *Model) fetchStatus() tea.Cmd {
	feed, ctx := m.feed, m.ctx
	return func() tea.Msg {
		st, err := feed.Status(ctx)
		return statusMsg{st, err}
	}
}

// setStatus takes a status from the daemon.
func (m *Model) setStatus(st *adminapi.Status) {
	m.status = st
	m.today.set(st, m.stats.Recent())
	m.stats.SetToday(st)
	budgets := map[string][]adminapi.BudgetStatus{}
	for _, kb := range st.Budgets {
		budgets[kb.Key] = kb.Budgets
	}
	m.tables[DimKey].budgets = budgets
	m.dirty = true
}

// connect asks for the status, then subscribes to the events.
func (m *Model) connect() tea.Cmd {
	feed, ctx := m.feed, m.ctx
	return func() tea.Msg {
		st, err := feed.Status(ctx)
		if err != nil {
			return connFailedMsg{err}
		}
		ch, err := feed.Events(ctx)
		if err != nil {
			return connFailedMsg{err}
		}
		return connectedMsg{st, ch}
	}
}

// listen waits for the next events and takes what else is queued.
func listen(ch <-chan adminapi.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return eventsMsg{ended: true}
		}
		evs := []adminapi.Event{e}
		for len(evs) < 512 {
			select {
			case e, ok := <-ch:
				if !ok {
					return eventsMsg{events: evs, ended: true}
				}
				evs = append(evs, e)
			default:
				return eventsMsg{events: evs}
			}
		}
		return eventsMsg{events: evs}
	}
}

// Update applies a message. Events only change state; the tick, keys and
// resizes redraw.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.render()
	case tickMsg:
		if m.dirty || m.opts.Now().Unix() != m.lastSec {
			m.render()
		}
		return m, m.tick()
	case connectedMsg:
		m.online, m.lastErr, m.backoff = true, nil, m.opts.Backoff
		m.setStatus(msg.status)
		m.events = msg.events
		return m, listen(msg.events)
	case statusTickMsg:
		if !m.online || m.fetching {
			return m, m.statusTick()
		}
		m.fetching = true
		return m, m.fetchStatus()
	case statusMsg:
		m.fetching = false
		// A failed request changes nothing: a daemon that went away ends
		// the event stream too, and that is what starts reconnecting.
		if msg.err == nil && m.online {
			m.setStatus(msg.status)
		}
		return m, m.statusTick()
	case connFailedMsg:
		return m, m.lost(msg.err)
	case eventsMsg:
		for i := range msg.events {
			m.stats.Add(msg.events[i])
			m.today.add(&msg.events[i])
		}
		m.dirty = true
		if msg.ended {
			return m, m.lost(nil)
		}
		return m, listen(m.events)
	case retryMsg:
		return m, m.connect()
	case tea.KeyMsg:
		cmd := m.key(msg)
		m.render()
		return m, cmd
	}
	return m, nil
}

// lost records a lost daemon and schedules the next attempt.
func (m *Model) lost(err error) tea.Cmd {
	if m.ctx.Err() != nil {
		return nil
	}
	m.online, m.lastErr, m.dirty = false, err, true
	wait := m.backoff
	m.backoff = min(2*m.backoff, m.opts.MaxBackoff)
	return tea.Tick(wait, func(time.Time) tea.Msg { return retryMsg{} })
}

func (m *Model) quit() tea.Cmd {
	m.cancel()
	return tea.Quit
}

// key handles a key press.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if msg.Type == tea.KeyCtrlC {
		return m.quit()
	}
	if m.filtering {
		switch msg.Type {
		case tea.KeyEsc:
			m.filter, m.filtering = "", false
		case tea.KeyEnter:
			m.filtering = false
		case tea.KeyBackspace:
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		case tea.KeyRunes, tea.KeySpace:
			m.filter += string(msg.Runes)
		}
		m.resetCursor()
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.help, m.scroll = !m.help, 0
	case key.Matches(msg, k.Keys, k.Models, k.Providers, k.Feed, k.Sessions):
		m.switchTo(int(msg.Runes[0] - '1'))
	case key.Matches(msg, k.Next):
		m.switchTo((m.view + 1) % numViews)
	case key.Matches(msg, k.Back):
		switch {
		case m.help:
			m.help, m.scroll = false, 0
		case m.detail != nil:
			m.detail, m.scroll = nil, 0
		default:
			m.filter = ""
			m.resetCursor()
		}
	case m.help || m.detail != nil:
		// They scroll (a short terminal cuts them); other keys do nothing.
		switch {
		case key.Matches(msg, k.Up):
			m.scroll--
		case key.Matches(msg, k.Down):
			m.scroll++
		}
	case key.Matches(msg, k.Filter):
		m.filtering = true
	case key.Matches(msg, k.Pause):
		m.feedView.setPaused(!m.feedView.paused, m.stats)
	case key.Matches(msg, k.Detail):
		m.openDetail()
	case m.view == ViewFeed:
		m.feedView.Update(msg, k, len(m.feedView.events(m.stats, m.filter)))
	case m.view == ViewSessions:
		m.sessionsView.Update(msg, k, len(m.sessionsView.rows(m.stats, m.filter)))
	default:
		t := &m.tables[m.view]
		t.Update(msg, k, len(t.rows(m.stats, m.filter)))
	}
	return nil
}

func (m *Model) switchTo(v int) {
	m.view, m.detail, m.help, m.scroll = v, nil, false, 0
}

func (m *Model) resetCursor() {
	m.feedView.cursor, m.feedView.offset = 0, 0
	m.sessionsView.cursor, m.sessionsView.offset = 0, 0
	for d := range m.tables {
		m.tables[d].cursor, m.tables[d].offset = 0, 0
	}
}

func (m *Model) openDetail() {
	if m.view == ViewFeed {
		if e := m.feedView.selected(m.feedView.events(m.stats, m.filter)); e != nil {
			m.detail, m.scroll = &detailView{event: e}, 0
		}
		return
	}
	if m.view == ViewSessions {
		if r := m.sessionsView.selected(m.sessionsView.rows(m.stats, m.filter)); r != nil {
			m.detail, m.scroll = &detailView{session: &sessionID{r.Key, r.Session}}, 0
		}
		return
	}
	t := &m.tables[m.view]
	if r := t.selected(t.rows(m.stats, m.filter)); r != nil {
		m.detail, m.scroll = &detailView{dim: t.dim, name: r.Name}, 0
	}
}

// View returns the last rendered screen.
func (m *Model) View() string { return m.frame }

// Styles. Tests pin lipgloss to the ASCII profile, which drops them.
var styles = struct {
	title, colHead, selected, tab, tabActive, faint, good, bad, warn lipgloss.Style
}{
	title:     lipgloss.NewStyle().Bold(true),
	colHead:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
	selected:  lipgloss.NewStyle().Reverse(true),
	tab:       lipgloss.NewStyle().Faint(true),
	tabActive: lipgloss.NewStyle().Bold(true).Reverse(true),
	faint:     lipgloss.NewStyle().Faint(true),
	good:      lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
	bad:       lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
	warn:      lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
}

// render draws the whole screen into m.frame.
func (m *Model) render() {
	now := m.opts.Now()
	m.dirty, m.lastSec = false, now.Unix()
	w, h := max(m.width, 20), max(m.height, 6)
	head := m.header(now, w)
	// A short terminal loses the latency sparkline, then the requests one,
	// then the rates line, to keep a few rows of the view.
	for _, i := range []int{3, 2, 1} {
		if h-len(head)-1 >= 3 {
			break
		}
		head = slices.Delete(head, i, i+1)
	}
	foot := m.footer(w)
	bodyH := h - len(head) - 1
	var body string
	switch {
	case m.help:
		body = helpView(m.keys, w)
	case m.detail != nil:
		body = m.detail.View(m.stats, m.tables[DimKey].budgets, w, m.opts.Location)
	case m.view == ViewFeed:
		body = m.feedView.View(m.feedView.events(m.stats, m.filter), w, bodyH, m.opts.Location)
	case m.view == ViewSessions:
		body = m.sessionsView.View(m.sessionsView.rows(m.stats, m.filter), w, bodyH, m.opts.Location)
	default:
		t := &m.tables[m.view]
		body = t.View(t.rows(m.stats, m.filter), w, bodyH)
	}
	lines := strings.Split(body, "\n")
	if m.help || m.detail != nil {
		m.scroll = max(0, min(m.scroll, len(lines)-bodyH))
		lines = lines[m.scroll:]
	}
	if len(lines) > bodyH {
		lines = lines[:bodyH]
	}
	for len(lines) < bodyH {
		lines = append(lines, "")
	}
	m.frame = clip(strings.Join(head, "\n")+"\n"+strings.Join(lines, "\n")+"\n"+foot, w)
}

// header draws two status lines, the two sparklines and the tabs.
func (m *Model) header(now time.Time, w int) []string {
	// Each line holds its parts in order; a part that does not fit is left
	// out, so narrow terminals lose the least important ones.
	parts := []string{styles.title.Render("credflow top")}
	switch {
	case m.online && m.status != nil:
		parts = append(parts, m.status.Listen)
	case m.status == nil && m.lastErr == nil:
		parts = append(parts, "connecting…")
	default:
		s := "reconnecting…"
		if m.lastErr != nil {
			s += " (" + m.lastErr.Error() + ")"
		}
		parts = append(parts, styles.bad.Render(s))
	}
	if m.feedView.paused {
		parts = append(parts, styles.warn.Render("PAUSED"))
	}
	if m.online && m.status != nil {
		parts = append(parts, "up "+uptime(now.Sub(m.status.StartedAt)))
	}
	t := &m.stats.Total
	if m.today.known {
		d := m.today.total(now)
		label := "today "
		if d.Since.After(d.Day) {
			// The daemon could not read the ledger: it counts from its start.
			label = "since " + d.Since.In(m.opts.Location).Format("15:04") + " "
		}
		parts = append(parts, label+daySpend(d.CostMicros, d.CostUnknown))
	} else {
		parts = append(parts, "spent "+money(t.Cost, t.Unpriced, t.Requests))
	}
	line1 := flow(parts, w)

	r := m.stats.Rates(now)
	stats2 := []string{
		fmt.Sprintf("%d reqs", t.Requests),
		rate(r.Reqs) + " req/s",
		"tok/s in " + rate(r.In) + " out " + rate(r.Out),
		"err " + percent(t.Errors, t.Requests),
	}
	if t.Guarded > 0 {
		// Shown once a guardrail has fired: what it saw, what it refused.
		stats2 = append(stats2, fmt.Sprintf("guard %d hit, %d blocked", t.Guarded, t.Blocked))
	}
	line2 := flow(stats2, w)

	// Sparklines of the last SparkSeconds: one column per step seconds,
	// as many as fit.
	const labelW, suffixW = 8, 14
	var reqs, lat []float64
	if n := w - labelW - suffixW; n > 0 {
		step := (SparkSeconds + int64(n) - 1) / int64(n)
		reqs, lat = m.stats.Series(now, n, step)
	}
	peak := slices.Max(append([]float64{0}, reqs...))
	slowest := slices.Max(append([]float64{0}, lat...))
	line3 := styles.faint.Render("req/s   ") + sparkline(reqs) + styles.faint.Render(" peak "+rate(peak)+"/s")
	line4 := styles.faint.Render("latency ") + sparkline(lat) + styles.faint.Render(" max "+latency(slowest))

	var sortLabel string
	switch m.view {
	case ViewFeed:
	case ViewSessions:
		sortLabel = "  sort " + strings.ToLower(sessSortTitles[m.sessionsView.sort])
	default:
		sortLabel = "  sort " + strings.ToLower(sortTitles[m.tables[m.view].sort])
	}
	// Short tab names when the long ones and the sort do not fit.
	var line5 string
	for _, names := range [][numViews]string{viewNames, shortViewNames} {
		var tabs []string
		for i, name := range names {
			s := fmt.Sprintf(" %d %s ", i+1, name)
			if i == m.view && !m.help && m.detail == nil {
				tabs = append(tabs, styles.tabActive.Render(s))
			} else {
				tabs = append(tabs, styles.tab.Render(s))
			}
		}
		line5 = strings.Join(tabs, " ") + sortLabel
		if lipgloss.Width(line5) <= w {
			break
		}
	}
	if m.filter != "" && !m.filtering {
		line5 += "  filter " + fmt.Sprintf("%q", m.filter)
	}
	return []string{line1, line2, line3, line4, line5}
}

// flow joins the parts that fit in w, two spaces apart, skipping those
// that do not.
func flow(parts []string, w int) string {
	line := parts[0]
	for _, p := range parts[1:] {
		if lipgloss.Width(line)+2+lipgloss.Width(p) <= w {
			line += "  " + p
		}
	}
	return line
}

// footer draws the filter prompt or the key hints that fit in w.
func (m *Model) footer(w int) string {
	var hints []string
	switch {
	case m.filtering:
		return "/" + m.filter + "█"
	case m.help:
		hints = []string{"esc back", "↑↓ scroll", "q quit"}
	case m.detail != nil:
		hints = []string{"esc back", "↑↓ scroll", "1-5 views", "? help", "q quit"}
	default:
		hints = []string{"tab/1-5 view", "↑↓ select", "s sort", "/ filter", "p pause", "enter detail", "? help", "q quit"}
	}
	line := hints[0]
	for _, h := range hints[1:] {
		if lipgloss.Width(line)+2+lipgloss.Width(h) > w {
			break
		}
		line += "  " + h
	}
	return styles.faint.Render(line)
}
