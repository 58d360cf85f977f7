// Package iostreams owns the standard streams a command uses, so commands
// are tested without a terminal: prompts, no-echo reads and TTY checks go
// through here.
package iostreams

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams are a command's input and outputs.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inFD    int
	inTTY   bool
	scanner *bufio.Reader
}

// System returns the process's own streams.
func System() *IOStreams {
	s := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, inFD: int(os.Stdin.Fd())}
	s.inTTY = term.IsTerminal(s.inFD)
	return s
}

// Test returns streams over buffers; nothing is a terminal.
func Test(in io.Reader, out, errOut io.Writer) *IOStreams {
	return &IOStreams{In: in, Out: out, ErrOut: errOut, inFD: -1}
}

// IsStdinTTY reports whether input is an interactive terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// ErrNoTTY reports a prompt that cannot be shown.
var ErrNoTTY = errors.New("no terminal to prompt on")

// ReadSecret prompts on stderr and reads a line without echo.
func (s *IOStreams) ReadSecret(prompt string) (string, error) {
	if !s.inTTY {
		return "", ErrNoTTY
	}
	fmt.Fprint(s.ErrOut, prompt)
	b, err := term.ReadPassword(s.inFD)
	fmt.Fprintln(s.ErrOut)
	if err != nil {
		return "", fmt.Errorf("read from terminal: %w", err)
	}
	return string(b), nil
}

// Confirm asks a yes/no question on the terminal; the default is no.
func (s *IOStreams) Confirm(prompt string) (bool, error) {
	if !s.inTTY {
		return false, ErrNoTTY
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", prompt)
	if s.scanner == nil {
		s.scanner = bufio.NewReader(s.In)
	}
	line, err := s.scanner.ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
