//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package provider

// leanSupported is false where an idle connection cannot be checked
// without blocking: every call goes through net/http.
const leanSupported = false

type peeker struct{}

func (c *conn) init() error { return nil }

func (c *conn) alive() bool { return false }
