// Package tui is credflow top: a live terminal dashboard of the gateway's
// traffic, built on bubbletea. It knows nothing of cobra; data comes from a
// Feed (the admin API client is one).
package tui

import (
	"context"
	"fmt"
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
}

// Views, in tab order.
const (
	ViewKeys = iota
	ViewModels
	ViewProviders
	ViewFeed
	numViews
)

var viewNames = [numViews]string{"keys", "models", "providers", "feed"}

// Model is the dashboard's bubbletea model. Use it through a pointer.
type Model struct {
	feed   Feed
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	keys   keyMap

	stats   *Stats
	status  *adminapi.Status
	online  bool
	events  <-chan adminapi.Event // the stream being followed
	lastErr error
	backoff time.Duration

	width, height int
	view          int
	tables        [numDims]tableView
	feedView      feedView
	detail        *detailView
	help          bool
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
	eventsMsg     struct {
		events []adminapi.Event
		ended  bool // the stream closed after these
	}
	retryMsg struct{}
	tickMsg  struct{}
)

// Init starts connecting and the redraw tick.
func (m *Model) Init() tea.Cmd { return tea.Batch(m.connect(), m.tick()) }

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
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
		m.status, m.online, m.lastErr, m.backoff = msg.status, true, nil, m.opts.Backoff
		m.events = msg.events
		m.dirty = true
		return m, listen(msg.events)
	case connFailedMsg:
		return m, m.lost(msg.err)
	case eventsMsg:
		for _, e := range msg.events {
			m.stats.Add(e)
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
		m.help = !m.help
	case key.Matches(msg, k.Keys, k.Models, k.Providers, k.Feed):
		m.switchTo(int(msg.Runes[0] - '1'))
	case key.Matches(msg, k.Next):
		m.switchTo((m.view + 1) % numViews)
	case key.Matches(msg, k.Back):
		switch {
		case m.help:
			m.help = false
		case m.detail != nil:
			m.detail = nil
		default:
			m.filter = ""
			m.resetCursor()
		}
	case m.help || m.detail != nil:
		// Other keys do nothing over the help and detail views.
	case key.Matches(msg, k.Filter):
		m.filtering = true
	case key.Matches(msg, k.Pause):
		m.feedView.setPaused(!m.feedView.paused, m.stats)
	case key.Matches(msg, k.Detail):
		m.openDetail()
	case m.view == ViewFeed:
		m.feedView.Update(msg, k, len(m.feedView.events(m.stats, m.filter)))
	default:
		t := &m.tables[m.view]
		t.Update(msg, k, len(t.rows(m.stats, m.filter)))
	}
	return nil
}

func (m *Model) switchTo(v int) {
	m.view, m.detail, m.help = v, nil, false
}

func (m *Model) resetCursor() {
	m.feedView.cursor, m.feedView.offset = 0, 0
	for d := range m.tables {
		m.tables[d].cursor, m.tables[d].offset = 0, 0
	}
}

func (m *Model) openDetail() {
	if m.view == ViewFeed {
		if e := m.feedView.selected(m.feedView.events(m.stats, m.filter)); e != nil {
			m.detail = &detailView{event: e}
		}
		return
	}
	t := &m.tables[m.view]
	if r := t.selected(t.rows(m.stats, m.filter)); r != nil {
		m.detail = &detailView{dim: t.dim, name: r.Name}
	}
}

// View returns the last rendered screen.
func (m *Model) View() string { return m.frame }

// Styles. Tests pin lipgloss to the ASCII profile, which drops them.
var styles = struct {
	title, colHead, selected, tab, tabActive, faint, bad, warn lipgloss.Style
}{
	title:     lipgloss.NewStyle().Bold(true),
	colHead:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
	selected:  lipgloss.NewStyle().Reverse(true),
	tab:       lipgloss.NewStyle().Faint(true),
	tabActive: lipgloss.NewStyle().Bold(true).Reverse(true),
	faint:     lipgloss.NewStyle().Faint(true),
	bad:       lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
	warn:      lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
}

// render draws the whole screen into m.frame.
func (m *Model) render() {
	now := m.opts.Now()
	m.dirty, m.lastSec = false, now.Unix()
	w, h := max(m.width, 20), max(m.height, 6)
	head := m.header(now, w)
	foot := m.footer(w)
	bodyH := h - strings.Count(head, "\n") - 2 // header lines, footer
	var body string
	switch {
	case m.help:
		body = helpView(m.keys, w)
	case m.detail != nil:
		body = m.detail.View(m.stats, w, bodyH, m.opts.Location)
	case m.view == ViewFeed:
		body = m.feedView.View(m.feedView.events(m.stats, m.filter), w, bodyH, m.opts.Location)
	default:
		t := &m.tables[m.view]
		body = t.View(t.rows(m.stats, m.filter), w, bodyH)
	}
	lines := strings.Split(body, "\n")
	if len(lines) > bodyH {
		lines = lines[:bodyH]
	}
	for len(lines) < bodyH {
		lines = append(lines, "")
	}
	m.frame = clip(head+"\n"+strings.Join(lines, "\n")+"\n"+foot, w)
}

// header draws the status line, the sparkline and the tabs.
func (m *Model) header(now time.Time, w int) string {
	// The parts in order of importance; those that do not fit are left out.
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
	reqs, toks := m.stats.Rates(now)
	t := &m.stats.Total
	parts = append(parts,
		fmt.Sprintf("%d reqs", t.Requests),
		rate(reqs)+" req/s", rate(toks)+" tok/s",
		"spent "+money(t.Cost, t.Unpriced, t.Requests),
		"err "+percent(t.Errors, t.Requests))
	if m.online && m.status != nil {
		parts = append(parts, "up "+uptime(now.Sub(m.status.StartedAt)))
	}
	line1 := parts[0]
	for _, p := range parts[1:] {
		if lipgloss.Width(line1)+2+lipgloss.Width(p) > w {
			break
		}
		line1 += "  " + p
	}

	const label = "req/s "
	n := min(SparkSeconds, w-len(label)-12)
	var peak int64
	counts := m.stats.PerSecond(now, max(n, 0))
	for _, c := range counts {
		peak = max(peak, c)
	}
	line2 := styles.faint.Render(label) + sparkline(counts) + styles.faint.Render(fmt.Sprintf(" peak %d/s", peak))

	var tabs []string
	for i, name := range viewNames {
		s := fmt.Sprintf(" %d %s ", i+1, name)
		if i == m.view && !m.help && m.detail == nil {
			tabs = append(tabs, styles.tabActive.Render(s))
		} else {
			tabs = append(tabs, styles.tab.Render(s))
		}
	}
	line3 := strings.Join(tabs, " ")
	if m.view != ViewFeed {
		line3 += "  sort " + strings.ToLower(sortTitles[m.tables[m.view].sort])
	}
	if m.filter != "" && !m.filtering {
		line3 += "  filter " + fmt.Sprintf("%q", m.filter)
	}
	return line1 + "\n" + line2 + "\n" + line3
}

// footer draws the filter prompt or the key hints that fit in w.
func (m *Model) footer(w int) string {
	var hints []string
	switch {
	case m.filtering:
		return "/" + m.filter + "█"
	case m.help:
		hints = []string{"esc back", "q quit"}
	case m.detail != nil:
		hints = []string{"esc back", "1-4 views", "? help", "q quit"}
	default:
		hints = []string{"tab/1-4 view", "↑↓ select", "s sort", "/ filter", "p pause", "enter detail", "? help", "q quit"}
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
