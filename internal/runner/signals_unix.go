//go:build !windows

package runner

import (
	"os"
	"syscall"
)

// forwarded are the signals a child receives when credflow does.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
