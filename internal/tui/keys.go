package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds top's key bindings; the help view describes them.
type keyMap struct {
	Next, Keys, Models, Providers, Feed key.Binding
	Sessions                            key.Binding
	Up, Down, Sort, Filter, Pause       key.Binding
	Detail, Back, Help, Quit            key.Binding
}

func defaultKeys() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Next:      b("tab", "next view", "tab"),
		Keys:      b("1", "keys", "1"),
		Models:    b("2", "models", "2"),
		Providers: b("3", "providers", "3"),
		Feed:      b("4", "live feed", "4"),
		Sessions:  b("5", "sessions", "5"),
		Up:        b("↑/k", "select up", "up", "k"),
		Down:      b("↓/j", "select down", "down", "j"),
		Sort:      b("s", "cycle the sort column", "s"),
		Filter:    b("/", "filter by substring (enter keeps, esc clears)", "/"),
		Pause:     b("p", "pause the feed (totals keep counting)", "p"),
		Detail:    b("enter", "details of the selected row", "enter"),
		Back:      b("esc", "back / clear the filter", "esc"),
		Help:      b("?", "this help", "?"),
		Quit:      b("q", "quit (also ctrl+c)", "q", "ctrl+c"),
	}
}
