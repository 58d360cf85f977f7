package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"

	"github.com/credflow/credflow/pkg/llmapi"
)

// Events follows GET /v1/events: one Event per finished request, until ctx
// ends or the daemon stops (then the channel is closed). The stream
// starts with requests that finish after the call.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	if _, err := os.Stat(c.socket); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDaemon
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://credflow/v1/events", nil)
	if err != nil {
		return nil, err
	}
	// Events run for as long as the caller wants: no client timeout.
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, ErrNoDaemon
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("admin API: events: %s", resp.Status)
	}
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		rd := llmapi.NewReader(resp.Body)
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if ev.Name != "request" {
				continue
			}
			var e Event
			if json.Unmarshal(ev.Data, &e) != nil {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
