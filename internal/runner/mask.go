package runner

import (
	"bytes"
	"io"
	"sync"
)

// Concealed replaces a secret value in a child's output.
const Concealed = "<concealed by credflow>"

// Masker is an io.WriteCloser that replaces every occurrence of any secret
// value with Concealed before passing output on. A value split across two
// writes is still caught: the masker holds back only the shortest tail that
// could be the start of a value, so output without secrets flows through
// at once and prompts without a newline still appear.
type Masker struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
	pending []byte
}

// NewMasker masks values in output written to w. Empty values are ignored;
// longer values are matched first so a value containing another is masked
// whole.
func NewMasker(w io.Writer, values []string) *Masker {
	m := &Masker{w: w}
	for _, v := range values {
		if v != "" {
			m.secrets = append(m.secrets, []byte(v))
		}
	}
	// Longest first: when two values overlap at one position, mask the longer.
	for i := 1; i < len(m.secrets); i++ {
		for j := i; j > 0 && len(m.secrets[j]) > len(m.secrets[j-1]); j-- {
			m.secrets[j], m.secrets[j-1] = m.secrets[j-1], m.secrets[j]
		}
	}
	return m
}

// Write implements io.Writer. It reports len(p) written once p is accepted.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, p...)
	out, keep := m.scan(m.pending, false)
	m.pending = append(m.pending[:0], keep...)
	if len(out) > 0 {
		if _, err := m.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close flushes what was held back.
func (m *Masker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, _ := m.scan(m.pending, true)
	m.pending = m.pending[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := m.w.Write(out)
	return err
}

// scan returns the masked bytes ready to emit and the tail to hold back.
func (m *Masker) scan(buf []byte, final bool) (out, keep []byte) {
	out = make([]byte, 0, len(buf))
	i := 0
outer:
	for i < len(buf) {
		// Hold back before matching: while a longer value could still
		// complete here, a shorter one that already matches must wait.
		if !final && m.couldStart(buf[i:]) {
			return out, buf[i:]
		}
		for _, s := range m.secrets {
			if bytes.HasPrefix(buf[i:], s) {
				out = append(out, Concealed...)
				i += len(s)
				continue outer
			}
		}
		out = append(out, buf[i])
		i++
	}
	return out, nil
}

// couldStart reports whether tail is a proper prefix of some secret, so more
// bytes might complete a match.
func (m *Masker) couldStart(tail []byte) bool {
	for _, s := range m.secrets {
		if len(tail) < len(s) && bytes.HasPrefix(s, tail) {
			return true
		}
	}
	return false
}
