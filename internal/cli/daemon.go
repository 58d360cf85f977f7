package cli

import (
	"context"
	"errors"

	"github.com/credflow/credflow/pkg/adminapi"
)

// reloadDaemon is the hook that lets a running daemon pick up a rotated
// secret without restart: it asks the daemon on the admin socket to reload
// its secrets. No daemon is not an error; it reads the vault when it starts.
func reloadDaemon(ctx context.Context, dataDir string) (bool, error) {
	_, err := adminapi.NewClient(adminapi.SocketPath(dataDir)).Reload(ctx, adminapi.ReloadRequest{Secrets: true})
	if errors.Is(err, adminapi.ErrNoDaemon) {
		return false, nil
	}
	return err == nil, err
}

// flushDaemon asks a running daemon to write its pending usage records, so
// a report read from the data file includes the last requests. Without a
// daemon there is nothing pending.
func flushDaemon(ctx context.Context, f *Factory) {
	p, err := f.Paths()
	if err != nil {
		return
	}
	_ = adminapi.NewClient(adminapi.SocketPath(p.DataDir)).FlushUsage(ctx)
}
