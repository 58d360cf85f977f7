package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
)

// listenAdmin binds the admin socket in the data directory. The directory
// is 0700 and the socket is made 0600: file permissions are the admin
// API's authentication. A socket left by a daemon that died is replaced; a
// live one means another daemon runs.
func listenAdmin(dataDir string) (net.Listener, error) {
	path := adminapi.SocketPath(dataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another credflow daemon is already running for %s (its admin socket %s answers); stop it first, or use another --data-dir", dataDir, path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// adminMux builds the admin API.
func (s *Server) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := s.status()
		day, by, now := s.today.snapshotBy()
		st.Today, st.TodayBy, st.Now = &day, &by, now
		st.Budgets = s.budgets(now)
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Reload(r.Context()); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, adminapi.Error{Error: "reload failed, the running configuration is kept: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, adminapi.ReloadResponse{OK: true, Message: "reloaded"})
	})
	mux.HandleFunc("GET /v1/events", s.serveEvents)
	mux.HandleFunc("POST /v1/usage/flush", func(w http.ResponseWriter, r *http.Request) {
		if s.ledger == nil {
			writeJSON(w, http.StatusOK, adminapi.ReloadResponse{OK: true, Message: "accounting is off"})
			return
		}
		if err := s.ledger.Flush(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "could not write usage records: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, adminapi.ReloadResponse{OK: true, Message: "flushed"})
	})
	// Key management opens the data file for each call and rebuilds the
	// authenticator after a change, so a new or revoked key takes effect
	// on the next request.
	keysHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		db, err := s.opt.OpenStore()
		if err != nil {
			status := http.StatusInternalServerError
			writeJSON(w, status, adminapi.Error{Error: err.Error()})
			return
		}
		defer db.Close()
		m := http.NewServeMux()
		svc := keys.New(db, keys.Options{Now: s.opt.Now, Process: "credflow serve"})
		svc.AdminRoutes(m, func() {
			list, err := svc.List()
			if err != nil {
				return
			}
			// A key's new budgets start from what it already spent.
			if err := s.seedLimits(db, list); err != nil {
				s.log.Warn("could not read spend for budgets", "err", err)
			}
			s.auth.Load(list)
		})
		m.ServeHTTP(w, r)
	})
	mux.Handle("/v1/keys", keysHandler)
	mux.Handle("/v1/keys/", keysHandler)
	// Stored conversations: the context file is opened (its data key made
	// in the vault) on first use, as for a stateful request.
	session.AdminRoutes(mux, func(ctx context.Context) (*session.Manager, error) {
		st, err := s.contextStore(ctx)
		if err != nil {
			return nil, err
		}
		return &session.Manager{Store: st, Now: s.opt.Now, Retention: s.contextRetention,
			KeyExists: func(name string) (bool, error) { return keyExists(s.opt.OpenStore, name) }}, nil
	})
	return mux
}

// keyExists says whether the data file has a virtual key of that name
// (revoked and expired ones included).
func keyExists(open func() (*store.DB, error), name string) (bool, error) {
	db, err := open()
	if err != nil {
		return false, err
	}
	defer db.Close()
	_, err = keys.New(db, keys.Options{Process: "credflow serve"}).Get(name)
	if errors.Is(err, keys.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// contextRetention is how long a key's stored conversations are kept (0:
// forever), from the running configuration.
func (s *Server) contextRetention(owner string) time.Duration {
	cfg := s.state.Load().cfg.Context
	d := *cfg.Retention
	if kd, ok := cfg.KeyRetention[owner]; ok {
		d = kd
	}
	return d.Std()
}

// serveEvents streams finished requests as Server-Sent Events.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: "streaming unsupported"})
		return
	}
	ch, cancel := s.bus.Subscribe(1024)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": credflow events\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case e, ok := <-ch:
			if !ok {
				return
			}
			data, _ := json.Marshal(e)
			fmt.Fprintf(w, "event: request\ndata: %s\n\n", data)
			fl.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
