//go:build windows

package runner

import "os"

// forwarded are the signals a child receives when credflow does.
var forwarded = []os.Signal{os.Interrupt}
