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
