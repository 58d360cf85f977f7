package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/credflow/credflow/internal/session"
)

// ContextKeySecret is the vault secret holding the data key that
// encrypts the context file. It is created on first use.
const ContextKeySecret = session.KeySecret

// contextEngine opens the context file on first use and holds it until
// the daemon stops: stateless traffic never touches it, and a vault that
// cannot be used only fails the stateful requests.
type contextEngine struct {
	mu    sync.Mutex
	store *session.Store
	// failed remembers why the last open failed, and when, so a broken
	// vault is not asked again on every request.
	failed   error
	failedAt time.Time
}

// errContextUnavailable wraps why the context file cannot be used.
var errContextUnavailable = errors.New("stored conversations are unavailable")

// contextStore returns the open context file, opening it (and creating
// its data key in the vault) the first time.
func (s *Server) contextStore(ctx context.Context) (*session.Store, error) {
	e := &s.ctx
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil {
		return e.store, nil
	}
	if e.failed != nil && s.opt.Now().Sub(e.failedAt) < 5*time.Second {
		return nil, e.failed
	}
	st, err := s.openContext(ctx)
	if err != nil {
		e.failed, e.failedAt = fmt.Errorf("%w: %v", errContextUnavailable, err), s.opt.Now()
		return nil, e.failed
	}
	e.store, e.failed = st, nil
	return st, nil
}

func (s *Server) openContext(ctx context.Context) (*session.Store, error) {
	key, err := s.contextKey(ctx)
	if err != nil {
		return nil, err
	}
	cfg := s.state.Load().cfg
	return session.Open(filepath.Join(s.opt.DataDir, session.FileName), key, session.Options{
		Now: s.opt.Now, Process: "credflow serve", CacheBytes: cfg.Context.CacheMB << 20})
}

// contextKey reads the data key from the vault, or makes it.
func (s *Server) contextKey(ctx context.Context) ([]byte, error) {
	v, closeFn, err := s.opt.OpenVault(ctx)
	if err != nil {
		return nil, fmt.Errorf("credflow keeps conversations encrypted with a key in its vault, which cannot be opened: %w; if no OS keychain answers on this machine, run 'credflow init --backend file'", err)
	}
	defer closeFn()
	key, err := session.LoadKey(ctx, v, "credflow serve (context)", false)
	if errors.Is(err, session.ErrNoKey) {
		if key, err = session.LoadKey(ctx, v, "credflow serve (context)", true); err == nil {
			s.log.Info("created the data key of stored conversations in the vault", "secret", session.KeySecret)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w; if no OS keychain answers on this machine, run 'credflow init --backend file'", err)
	}
	return key, nil
}

// closeContext releases the context file (at shutdown, after the last
// request finished).
func (s *Server) closeContext() {
	s.ctx.mu.Lock()
	defer s.ctx.mu.Unlock()
	if s.ctx.store != nil {
		if err := s.ctx.store.Close(); err != nil {
			s.log.Error("could not close the context file", "err", err)
		}
		s.ctx.store = nil
	}
}

// contextError is the client's answer when stored conversations cannot
// be used.
func contextError(err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "context_unavailable", Message: err.Error()}
}

// pruneContext deletes conversations past their retention, once an hour
// while the daemon runs (and at start, if the file is open).
func (s *Server) pruneContext(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.ctx.mu.Lock()
		st := s.ctx.store
		s.ctx.mu.Unlock()
		if st != nil {
			cfg := s.state.Load().cfg.Context
			now := s.opt.Now()
			n, err := st.Prune(func(owner string) time.Time {
				d := *cfg.Retention
				if kd, ok := cfg.KeyRetention[owner]; ok {
					d = kd
				}
				if d <= 0 {
					return time.Time{}
				}
				return now.Add(-d.Std())
			})
			if err != nil {
				s.log.Warn("could not prune stored conversations", "err", err)
			} else if n > 0 {
				s.log.Info("pruned stored conversations past their retention", "deleted", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
