// Package adminapi holds the public types and Go client of credflow's admin
// API: JSON over HTTP on a Unix socket in the data directory (mode 0600;
// file permissions are the authentication).
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SocketName is the admin socket's name inside the data directory.
const SocketName = "admin.sock"

// SocketPath returns the admin socket's path for a data directory.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// ErrNoDaemon reports that no daemon listens on the socket.
var ErrNoDaemon = errors.New("no credflow daemon is running")

// StatusError is an error answer from the daemon: its HTTP status (400
// bad input, 404 not found, 409 conflict, 5xx failure) and message.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Client talks to a daemon's admin socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path. It does not connect.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{socket: path, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// ReloadRequest selects what to reload.
type ReloadRequest struct {
	Config  bool `json:"config"`
	Secrets bool `json:"secrets"`
}

// ReloadResponse reports a reload.
type ReloadResponse struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// Error is the admin API's error body.
type Error struct {
	Error string `json:"error"`
}

// FlushUsage asks the daemon to write its pending usage records now, so a
// report read from the data file right after is complete.
func (c *Client) FlushUsage(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/usage/flush", nil, nil)
}

// Reload asks the daemon to rebuild its state from config and vault.
func (c *Client) Reload(ctx context.Context, r ReloadRequest) (*ReloadResponse, error) {
	var out ReloadResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/reload", r, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, err := os.Stat(c.socket); errors.Is(err, fs.ErrNotExist) {
		return ErrNoDaemon
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://credflow"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			// A socket file left by a daemon that died.
			return ErrNoDaemon
		}
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		se := &StatusError{Status: resp.StatusCode, Message: "admin API: " + resp.Status}
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			se.Message = e.Error
		}
		return se
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
