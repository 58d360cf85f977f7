// Package runner owns running a child process with secrets injected into
// its environment: signals forwarded, exit code passed back, and secret
// values masked in its stdout and stderr.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Spec describes one child run.
type Spec struct {
	Argv []string
	// Env is the base environment (usually os.Environ()).
	Env []string
	// Inject are variables to set, overriding Env.
	Inject map[string]string
	// Mask lists values to conceal in the child's output; nil disables masking.
	Mask           []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ErrNotFound reports a command that cannot be found or started.
var ErrNotFound = errors.New("command not found")

// Run starts the child, forwards the signals credflow gets to it, waits, and returns its exit code (128+signal when it
// died of a signal, as shells report it).
func Run(ctx context.Context, s Spec) (int, error) {
	if len(s.Argv) == 0 {
		return 2, errors.New("no command given")
	}
	path, err := exec.LookPath(s.Argv[0])
	if err != nil {
		return 127, fmt.Errorf("%w: %q is not on PATH or not executable", ErrNotFound, s.Argv[0])
	}
	cmd := exec.Command(path, s.Argv[1:]...)
	cmd.Args[0] = s.Argv[0]
	cmd.Env = mergeEnv(s.Env, s.Inject)
	cmd.Stdin = s.Stdin

	var closers []io.Closer
	stdout, stderr := s.Stdout, s.Stderr
	if len(s.Mask) > 0 {
		mo, me := NewMasker(stdout, s.Mask), NewMasker(stderr, s.Mask)
		stdout, stderr = mo, me
		closers = append(closers, mo, me)
	}
	// Pass *os.File through directly when not masking, so a child sees its
	// real terminal (colours, prompts). When masking, exec copies through pipes.
	cmd.Stdout, cmd.Stderr = stdout, stderr

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		return 126, fmt.Errorf("start %s: %w", s.Argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-ctx.Done():
				_ = cmd.Process.Signal(os.Interrupt)
				return
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	for _, c := range closers {
		c.Close()
	}
	return exitCode(cmd, err)
}

func exitCode(cmd *exec.Cmd, err error) (int, error) {
	if cmd.ProcessState == nil {
		return 1, err
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}

func mergeEnv(base []string, inject map[string]string) []string {
	out := make([]string, 0, len(base)+len(inject))
	for _, kv := range base {
		name := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				name = kv[:i]
				break
			}
		}
		if _, ok := inject[name]; ok {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range inject {
		out = append(out, k+"="+v)
	}
	return out
}
