package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
)

// maxBody bounds an admin request body; key requests are tiny.
const maxBody = 64 << 10

// AdminRoutes registers the virtual-key endpoints of the admin API on mux
// (the list is in pkg/adminapi). onChange, if not nil, is called after
// every successful change, so the daemon can rebuild its Authenticator
// (typically with Refresh).
func (s *Service) AdminRoutes(mux *http.ServeMux, onChange func()) {
	changed := func() {
		if onChange != nil {
			onChange()
		}
	}
	mux.HandleFunc("POST /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		var req adminapi.CreateKeyRequest
		if !decode(w, r, &req) {
			return
		}
		exp, err := seconds("expires_in_seconds", req.ExpiresInSeconds)
		if err != nil {
			writeError(w, err)
			return
		}
		plain, k, err := s.Create(req.Name, CreateOptions{Models: req.Models, Templates: req.Templates, ExpiresIn: exp, Policy: req.Policy})
		if err != nil {
			writeError(w, err)
			return
		}
		changed()
		writeIssued(w, http.StatusCreated, adminapi.IssuedKey{Key: k.Public(s.now()), Value: plain})
	})
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		ks, err := s.List()
		if err != nil {
			writeError(w, err)
			return
		}
		now := s.now()
		out := adminapi.KeyList{Keys: make([]adminapi.Key, 0, len(ks))}
		for i := range ks {
			out.Keys = append(out.Keys, ks[i].Public(now))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/keys/{name}", func(w http.ResponseWriter, r *http.Request) {
		k, err := s.Get(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, k.Public(s.now()))
	})
	mux.HandleFunc("POST /v1/keys/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		k, err := s.Revoke(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		changed()
		writeJSON(w, http.StatusOK, k.Public(s.now()))
	})
	mux.HandleFunc("POST /v1/keys/{name}/rotate", func(w http.ResponseWriter, r *http.Request) {
		var req adminapi.RotateKeyRequest
		if !decode(w, r, &req) {
			return
		}
		grace := DefaultGrace
		if req.GraceSeconds != nil {
			var err error
			if grace, err = seconds("grace_seconds", *req.GraceSeconds); err != nil {
				writeError(w, err)
				return
			}
		}
		plain, k, err := s.Rotate(r.PathValue("name"), grace)
		if err != nil {
			writeError(w, err)
			return
		}
		changed()
		writeIssued(w, http.StatusOK, adminapi.IssuedKey{Key: k.Public(s.now()), Value: plain})
	})
	mux.HandleFunc("PATCH /v1/keys/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req adminapi.UpdateKeyRequest
		if !decode(w, r, &req) {
			return
		}
		opts := UpdateOptions{Models: req.Models, Templates: req.Templates, Policy: req.Policy}
		if req.ExpiresInSeconds != nil {
			exp, err := seconds("expires_in_seconds", *req.ExpiresInSeconds)
			if err != nil {
				writeError(w, err)
				return
			}
			opts.ExpiresIn = &exp
		}
		k, err := s.Update(r.PathValue("name"), opts)
		if err != nil {
			writeError(w, err)
			return
		}
		changed()
		writeJSON(w, http.StatusOK, k.Public(s.now()))
	})
}

// seconds converts a wire duration, refusing what would overflow.
func seconds(field string, n int64) (time.Duration, error) {
	if n < 0 || n > int64(MaxLifetime/time.Second) {
		return 0, fmt.Errorf("%s %d is %w: use 0 to %d", field, n, ErrInvalid, int64(MaxLifetime/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// decode reads a JSON body into v; an empty body leaves v as it is. It
// answers 400 itself and reports false on a bad body.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: "invalid request body: " + err.Error()})
		return false
	}
	return true
}

// statusFor maps the package's errors to HTTP statuses.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrRevoked):
		return http.StatusConflict
	case errors.Is(err, store.ErrBusy):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusFor(err), adminapi.Error{Error: err.Error()})
}

// writeIssued answers with a new key: the one response that carries one,
// so nothing on the way may keep a copy.
func writeIssued(w http.ResponseWriter, status int, v adminapi.IssuedKey) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
