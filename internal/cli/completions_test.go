package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/cli"
	"github.com/credflow/credflow/internal/iostreams"
)

// TestCompletionsUpToDate fails when the committed completion files differ
// from what the command tree generates: run scripts/gen-completions.sh.
func TestCompletionsUpToDate(t *testing.T) {
	files := map[string]string{
		"bash":       "credflow.bash",
		"zsh":        "_credflow",
		"fish":       "credflow.fish",
		"powershell": "credflow.ps1",
	}
	for shell, name := range files {
		t.Run(shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := &cli.Factory{
				IO:      iostreams.Test(nil, &out, &errOut),
				Getenv:  func(string) string { return "" },
				Environ: func() []string { return nil },
				Now:     time.Now,
			}
			if code := cli.Run(context.Background(), []string{"completion", shell}, f); code != 0 {
				t.Fatalf("completion %s exited %d: %s", shell, code, errOut.String())
			}
			want, err := os.ReadFile(filepath.Join("..", "..", "completions", name))
			if err != nil {
				t.Fatalf("%v; run scripts/gen-completions.sh", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("completions/%s is stale; run scripts/gen-completions.sh and commit the result", name)
			}
		})
	}
}
