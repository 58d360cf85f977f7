// Package quietterm keeps bubbletea v1's package init from querying the
// terminal, so that only 'credflow top', not every credflow command, talks
// to it.
//
// bubbletea v1 (tea_init.go) calls lipgloss.HasDarkBackground in its init,
// and termenv then writes an OSC 11 query to a terminal stdout and waits
// for the answer: a round trip for every command run in a terminal, and a
// 5s stall where the terminal never answers (some ptys, serial consoles).
// termenv treats stdout as no terminal while CI is set, so this package's
// init sets CI, and Restore, called from the tui package's init (which
// runs after bubbletea's, as tui imports it), takes it away again.
//
// The order is Go's (1.21+): packages initialize one at a time, each step
// taking the first in import-path order whose imports are done. This
// package imports only os, so it is ready at once; bubbletea depends on
// golang.org/x/sys, which sorts after github.com/credflow, so this package
// is initialized before it. A test checks the order and the missing query.
//
// Nothing of top needs the answer: its colours are fixed ANSI ones, and
// lipgloss reads the colour profile lazily, after Restore.
package quietterm

import "os"

// set reports that init set CI (it was not set before).
var set bool

func init() {
	if _, ok := os.LookupEnv("CI"); ok {
		return // termenv skips the query already
	}
	set = os.Setenv("CI", "1") == nil
}

// Restore unsets what init set, so children and later code see the real
// environment. Call it once bubbletea is initialized.
func Restore() {
	if set {
		os.Unsetenv("CI")
		set = false
	}
}
