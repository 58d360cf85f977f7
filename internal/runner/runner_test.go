//go:build !windows

package runner_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/runner"
)

// syncBuffer is a bytes.Buffer safe to read while the child writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code int
	err  error
}

// runBounded runs spec and fails the test instead of hanging when the
// child does not finish in time.
func runBounded(t *testing.T, ctx context.Context, spec runner.Spec) (int, error) {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		code, err := runner.Run(ctx, spec)
		done <- result{code, err}
	}()
	select {
	case r := <-done:
		return r.code, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Run(%q) did not return within 10s", spec.Argv)
		return 0, nil
	}
}

func baseEnv() []string { return []string{"PATH=" + os.Getenv("PATH")} }

func TestRunExitCode(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"exit 255", 255},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM)},
		{"kill -KILL $$", 128 + int(syscall.SIGKILL)},
	} {
		code, err := runBounded(t, context.Background(), runner.Spec{
			Argv: []string{"sh", "-c", tt.script}, Env: baseEnv(),
			Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
		})
		if err != nil {
			t.Errorf("sh -c %q: %v", tt.script, err)
		}
		if code != tt.want {
			t.Errorf("sh -c %q: exit code %d; want %d", tt.script, code, tt.want)
		}
	}
	if 128+int(syscall.SIGTERM) != 143 {
		t.Fatalf("SIGTERM is %d here", syscall.SIGTERM)
	}
}

func TestRunEnvironment(t *testing.T) {
	var out bytes.Buffer
	code, err := runBounded(t, context.Background(), runner.Spec{
		Argv: []string{"sh", "-c", `echo "FOO=$FOO KEEP=$KEEP NEW=$NEW"; env | grep -c '^FOO='`},
		Env:  append(baseEnv(), "FOO=base", "KEEP=kept", "EMPTY="),
		Inject: map[string]string{
			"FOO": "injected",
			"NEW": "fresh",
		},
		Stdout: &out, Stderr: &out,
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v, output %q", code, err, out.String())
	}
	want := "FOO=injected KEEP=kept NEW=fresh\n1\n"
	if out.String() != want {
		t.Errorf("output %q; want %q (injected overrides base, once; other base vars pass)", out.String(), want)
	}
}

func TestRunStdin(t *testing.T) {
	var out bytes.Buffer
	code, err := runBounded(t, context.Background(), runner.Spec{
		Argv: []string{"sh", "-c", "read line; echo \"got $line\""}, Env: baseEnv(),
		Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &out,
	})
	if err != nil || code != 0 || out.String() != "got hello\n" {
		t.Errorf("code %d, err %v, output %q", code, err, out.String())
	}
}

func TestRunCommandNotFound(t *testing.T) {
	code, err := runner.Run(context.Background(), runner.Spec{
		Argv: []string{"credflow-no-such-command-xyz"}, Env: baseEnv(),
		Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
	})
	if !errors.Is(err, runner.ErrNotFound) {
		t.Errorf("error %v; want ErrNotFound", err)
	}
	if code != 127 {
		t.Errorf("exit code %d; want 127", code)
	}
	if err != nil && !strings.Contains(err.Error(), "credflow-no-such-command-xyz") {
		t.Errorf("error %q does not name the command", err)
	}
}

func TestRunNoCommand(t *testing.T) {
	if _, err := runner.Run(context.Background(), runner.Spec{}); err == nil {
		t.Error("Run with no argv succeeded")
	}
}

func TestRunMasksStdoutAndStderr(t *testing.T) {
	const secret = "sk-live-0123456789"
	var stdout, stderr bytes.Buffer
	code, err := runBounded(t, context.Background(), runner.Spec{
		// printf without a newline at the end, and the value in two writes,
		// to exercise the held-back tail being flushed at exit.
		Argv: []string{"sh", "-c", `echo "out: $API_KEY"; echo "err: $API_KEY" >&2; printf 'sk-live-'; printf '0123456789 end'; printf 'tail sk-li' >&2`},
		Env:  baseEnv(), Inject: map[string]string{"API_KEY": secret},
		Mask:   []string{secret},
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if want := "out: " + runner.Concealed + "\n" + runner.Concealed + " end"; stdout.String() != want {
		t.Errorf("stdout %q; want %q", stdout.String(), want)
	}
	if want := "err: " + runner.Concealed + "\ntail sk-li"; stderr.String() != want {
		t.Errorf("stderr %q; want %q", stderr.String(), want)
	}
}

func TestRunWithoutMaskPassesValues(t *testing.T) {
	var out bytes.Buffer
	code, err := runBounded(t, context.Background(), runner.Spec{
		Argv: []string{"sh", "-c", `printf %s "$API_KEY"`},
		Env:  baseEnv(), Inject: map[string]string{"API_KEY": "visible"},
		Stdout: &out, Stderr: &out,
	})
	if err != nil || code != 0 || out.String() != "visible" {
		t.Errorf("code %d, err %v, output %q; want \"visible\" with Mask nil", code, err, out.String())
	}
}

// waitFor polls until out contains s or the deadline passes.
func waitFor(t *testing.T, out *syncBuffer, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output within %s; output so far %q", s, d, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunForwardsSignals(t *testing.T) {
	// Catch SIGUSR1 in the test too, so a Run that forgets to register
	// for it fails this test instead of killing the test binary.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGUSR1)
	defer signal.Stop(guard)

	out := &syncBuffer{}
	done := make(chan result, 1)
	go func() {
		code, err := runner.Run(context.Background(), runner.Spec{
			Argv:   []string{"sh", "-c", `trap "echo got-usr1; exit 9" USR1; echo ready; while :; do sleep 0.05; done`},
			Env:    baseEnv(),
			Stdout: out, Stderr: out,
		})
		done <- result{code, err}
	}()
	waitFor(t, out, "ready", 10*time.Second)

	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
		if r.code != 9 {
			t.Errorf("exit code %d; want 9 from the child's USR1 trap", r.code)
		}
		if !strings.Contains(out.String(), "got-usr1") {
			t.Errorf("output %q; want got-usr1", out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("child did not exit within 10s of SIGUSR1; output %q (signal not forwarded?)", out.String())
	}
}

func TestRunContextCancelInterruptsChild(t *testing.T) {
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		code, err := runner.Run(ctx, runner.Spec{
			Argv:   []string{"sh", "-c", `trap "echo got-int; exit 5" INT; echo ready; while :; do sleep 0.05; done`},
			Env:    baseEnv(),
			Stdout: out, Stderr: out,
		})
		done <- result{code, err}
	}()
	waitFor(t, out, "ready", 10*time.Second)
	cancel()
	select {
	case r := <-done:
		if r.code != 5 || !strings.Contains(out.String(), "got-int") {
			t.Errorf("code %d, err %v, output %q; want 5 and got-int", r.code, r.err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("child did not exit within 10s of cancel; output %q", out.String())
	}
}
