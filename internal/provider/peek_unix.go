//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package provider

import "syscall"

// leanSupported reports whether the lean client can run here: it needs to
// look at an idle connection without blocking to tell a closed one.
const leanSupported = true

// peeker looks at an idle connection without reading from it.
type peeker struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	n   int
	err error
}

func (c *conn) init() error {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	c.peek.rc = rc
	c.peek.fn = c.peek.check
	return nil
}

func (p *peeker) check(fd uintptr) bool {
	var b [1]byte
	p.n, _, p.err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// alive reports whether an idle connection can carry a request: nothing
// arrived on it since its last response, not even the end of the stream
// (an upstream closing idle connections) or a TLS close_notify.
func (c *conn) alive() bool {
	if c.peek.rc == nil {
		return false
	}
	if err := c.peek.rc.Read(c.peek.fn); err != nil {
		return false
	}
	return c.peek.err == syscall.EAGAIN || c.peek.err == syscall.EWOULDBLOCK
}
