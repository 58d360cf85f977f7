package tui

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Linking bubbletea must not make a program query its terminal at start
// (see package quietterm): this test binary, run under script(1) on a
// pseudo-terminal that never answers, must neither write the OSC 11 query
// nor wait for its answer, and must not leave CI set.
func TestNoTerminalQueryAtInit(t *testing.T) {
	if os.Getenv("CREDFLOW_QUIET_CHILD") == "1" {
		if _, ok := os.LookupEnv("CI"); ok {
			fmt.Println("CI is still set")
		}
		return
	}
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to run the test under a terminal")
	}
	cmd := exec.Command(script, "-qec", fmt.Sprintf("'%s' -test.run='^TestNoTerminalQueryAtInit$'", os.Args[0]), "/dev/null")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CREDFLOW_QUIET_CHILD=1", "TERM=xterm-256color")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if bytes.Contains(out, []byte("\x1b]11;?")) || bytes.Contains(out, []byte("CI is still set")) || !bytes.Contains(out, []byte("PASS")) {
		t.Errorf("output under a terminal: %q", out)
	}
	if d := time.Since(began); d > 4*time.Second {
		t.Errorf("took %s: waited for the terminal's answer?", d)
	}
}
