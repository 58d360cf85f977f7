// Command credflow keeps LLM provider keys in the OS keychain and runs a
// local gateway that accounts for what your tools spend.
package main

import (
	"os"

	"github.com/credflow/credflow/internal/cli"
)

func main() { os.Exit(cli.Main()) }
