package gateway

import (
	"context"

	"github.com/credflow/credflow/internal/session"
)

// ContextStore opens the context file, for tests that fill it directly.
func (s *Server) ContextStore(ctx context.Context) (*session.Store, error) {
	return s.contextStore(ctx)
}
