package tui

import "github.com/credflow/credflow/internal/tui/internal/quietterm"

// bubbletea's init has run (this package imports it): the terminal was
// not queried, and the environment is put back. See package quietterm.
func init() { quietterm.Restore() }
