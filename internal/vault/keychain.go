package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// Keychain stores values in the OS keychain through go-keyring: macOS
// Keychain, Windows Credential Manager, or the Linux Secret Service.
type Keychain struct {
	// Service is the keychain service name items live under.
	Service string
	// Timeout bounds every call: go-keyring has none, and a locked keyring
	// waiting for an unlock prompt can block forever.
	Timeout time.Duration
}

// Name implements Backend.
func (k *Keychain) Name() string { return "keychain" }

// Get implements Backend.
func (k *Keychain) Get(ctx context.Context, item string) (string, error) {
	var v string
	err := k.call(ctx, "read", item, func() error {
		var err error
		v, err = keyring.Get(k.Service, item)
		return err
	})
	return v, err
}

// Apply implements Backend.
func (k *Keychain) Apply(ctx context.Context, sets map[string]string, deletes []string) error {
	for item, v := range sets {
		if err := k.call(ctx, "write", item, func() error { return keyring.Set(k.Service, item, v) }); err != nil {
			return err
		}
	}
	for _, item := range deletes {
		err := k.call(ctx, "delete", item, func() error { return keyring.Delete(k.Service, item) })
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Probe implements Backend: a read of an item that does not exist must
// answer "not found" within the timeout.
func (k *Keychain) Probe(ctx context.Context) error {
	_, err := k.Get(ctx, "credflow-probe")
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// call runs fn in a goroutine so a hung keychain cannot hang credflow. The
// goroutine is abandoned on timeout; the process is short-lived or, in the
// daemon, the call is retried on the next reload.
func (k *Keychain) call(ctx context.Context, op, item string, fn func() error) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return k.mapErr(op, item, err)
	case <-t.C:
		return fmt.Errorf("%w: the OS keychain did not answer a %s within %s; it may be locked or waiting for an unlock prompt. Unlock it and try again, or keep secrets in an encrypted file instead with 'credflow init --backend file'", ErrUnavailable, op, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *Keychain) mapErr(op, item string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("keychain item %q in service %q: %w", item, k.Service, ErrNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%w: the OS keychain refuses values this large (macOS allows about 3 KB, Windows 2,560 bytes); store it with the file backend ('credflow init --backend file') or keep a path to it instead", ErrTooBig)
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return fmt.Errorf("%w: this platform has no OS keychain credflow can use; run 'credflow init --backend file' to keep secrets in an encrypted file", ErrUnavailable)
	default:
		// go-keyring's errors carry D-Bus or OS text, never the value.
		return fmt.Errorf("%w: the OS keychain failed to %s (%v). On Linux a Secret Service (gnome-keyring, KeePassXC) must run and be unlocked; or run 'credflow init --backend file' to use an encrypted file", ErrUnavailable, op, err)
	}
}
