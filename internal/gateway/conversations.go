package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/contextdoc"
)

// The stored-state endpoints of the OpenAI API that credflow serves
// itself, for every routed model: GET, DELETE and input_items of
// responses, and the Conversations API. A virtual key sees only its own:
// another key's id is a 404 like a missing one.

func (s *Server) stateRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/responses/{id}", s.stateful(s.getResponse))
	mux.HandleFunc("DELETE /v1/responses/{id}", s.stateful(s.deleteResponse))
	mux.HandleFunc("GET /v1/responses/{id}/input_items", s.stateful(s.responseInputItems))
	mux.HandleFunc("POST /v1/conversations", s.stateful(s.createConversation))
	mux.HandleFunc("GET /v1/conversations/{id}", s.stateful(s.getConversation))
	mux.HandleFunc("POST /v1/conversations/{id}", s.stateful(s.updateConversation))
	mux.HandleFunc("DELETE /v1/conversations/{id}", s.stateful(s.deleteConversation))
	mux.HandleFunc("GET /v1/conversations/{id}/items", s.stateful(s.listConversationItems))
	mux.HandleFunc("POST /v1/conversations/{id}/items", s.stateful(s.addConversationItems))
	mux.HandleFunc("GET /v1/conversations/{id}/items/{item}", s.stateful(s.getConversationItem))
	mux.HandleFunc("DELETE /v1/conversations/{id}/items/{item}", s.stateful(s.deleteConversationItem))
}

// stateReq is an authenticated request to a stored-state endpoint.
type stateReq struct {
	w     http.ResponseWriter
	r     *http.Request
	key   *keys.Key
	store *session.Store
}

func (q *stateReq) fail(e *apiError) { writeAPIError(q.w, provider.FormatOpenAI, e) }

// stateful authenticates a stored-state request and opens the context
// file for it.
func (s *Server) stateful(h func(*stateReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := &stateReq{w: w, r: r}
		key, err := s.auth.Authenticate(presentedKey(r))
		if err != nil {
			q.fail(&apiError{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: err.Error()})
			return
		}
		if len(key.Templates) > 0 {
			q.fail(&apiError{Status: http.StatusForbidden, Code: "template_only_key",
				Message: fmt.Sprintf("virtual key %q may only run templates", key.Name)})
			return
		}
		st, err := s.contextStore(r.Context())
		if err != nil {
			q.fail(contextError(err))
			return
		}
		q.key, q.store = key, st
		h(q)
	}
}

// readJSON decodes a small request body.
func (q *stateReq) readJSON(v any) bool {
	body, err := io.ReadAll(io.LimitReader(q.r.Body, 32<<20))
	if err != nil {
		q.fail(&apiError{Status: http.StatusBadRequest, Message: "read request: " + err.Error()})
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		q.fail(&apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "request body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) getResponse(q *stateReq) {
	id := q.r.PathValue("id")
	th, _, err := q.store.Get(session.KindResponse, q.key.Name, id)
	if err != nil {
		q.stateError("Response", id, err)
		return
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.Write(th.Response)
}

func (s *Server) deleteResponse(q *stateReq) {
	id := q.r.PathValue("id")
	th, _, err := q.store.Get(session.KindResponse, q.key.Name, id)
	if err == nil {
		err = q.store.Delete(session.KindResponse, q.key.Name, id)
	}
	if err != nil {
		q.stateError("Response", id, err)
		return
	}
	if th.Upstream {
		// The provider it passed through to keeps a copy: delete that too.
		s.deleteUpstream(q.r.Context(), th.Provider, "responses/"+id)
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"id": id, "object": "response.deleted", "deleted": true})
}

// deleteUpstream asks a provider to delete its copy of what credflow
// deleted (best effort: logged when it fails).
func (s *Server) deleteUpstream(ctx context.Context, prov, path string) {
	p := s.state.Load().providers[prov]
	if p == nil {
		return
	}
	resp, err := p.Send(ctx, &provider.Request{Endpoint: provider.Endpoint(path), Method: http.MethodDelete})
	if err != nil {
		s.log.Warn("could not delete the provider's copy", "provider", prov, "path", path, "err", s.state.Load().scrub(err))
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		s.log.Warn("the provider did not delete its copy", "provider", prov, "path", path, "status", resp.StatusCode)
	}
}

// responseInputItems lists what a response was given as input: the
// history it continued and its own input (not its output), newest first
// by default.
func (s *Server) responseInputItems(q *stateReq) {
	id := q.r.PathValue("id")
	th, items, err := q.store.Get(session.KindResponse, q.key.Name, id)
	if err != nil {
		q.stateError("Response", id, err)
		return
	}
	tn := &turn{store: q.store, owner: q.key.Name, previous: th.Previous}
	if th.Conversation != "" {
		// Its input was the conversation up to it.
		if _, citems, err := q.store.Get(session.KindConversation, q.key.Name, th.Conversation); err == nil {
			tn.history = conversationBefore(citems, items)
		}
	} else if th.Previous != "" {
		if aerr := s.resolvePrevious(tn); aerr != nil && aerr.Status != http.StatusNotFound {
			q.fail(aerr)
			return
		}
	}
	input := append(append([]contextdoc.Item{}, tn.history...), items[:min(th.InputCount, len(items))]...)
	q.list(input, "desc")
}

// conversationBefore is a conversation's items before a response's own
// (which it holds too).
func conversationBefore(conv, own []contextdoc.Item) []contextdoc.Item {
	if len(own) == 0 {
		return conv
	}
	for i := range conv {
		if conv[i].ID == own[0].ID {
			return conv[:i]
		}
	}
	return conv
}

// list writes items as OpenAI's paginated list: after (an item id),
// limit (1 to 100, 20 by default) and order (asc, or the default).
func (q *stateReq) list(items []contextdoc.Item, defaultOrder string) {
	qs := q.r.URL.Query()
	order := qs.Get("order")
	if order == "" {
		order = defaultOrder
	}
	if order != "asc" && order != "desc" {
		q.fail(&apiError{Status: http.StatusBadRequest, Param: "order", Message: fmt.Sprintf("order must be asc or desc, not %q", order)})
		return
	}
	limit := 20
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			q.fail(&apiError{Status: http.StatusBadRequest, Param: "limit", Message: "limit must be a whole number from 1 to 100"})
			return
		}
		limit = n
	}
	ordered := make([]contextdoc.Item, len(items))
	copy(ordered, items)
	if order == "desc" {
		for i, j := 0, len(ordered)-1; i < j; i, j = i+1, j-1 {
			ordered[i], ordered[j] = ordered[j], ordered[i]
		}
	}
	if after := qs.Get("after"); after != "" {
		found := false
		for i := range ordered {
			if ordered[i].ID == after {
				ordered, found = ordered[i+1:], true
				break
			}
		}
		if !found {
			q.fail(&apiError{Status: http.StatusBadRequest, Param: "after", Message: fmt.Sprintf("no item with id %q in this list", after)})
			return
		}
	}
	more := len(ordered) > limit
	if more {
		ordered = ordered[:limit]
	}
	data := translate.ItemsToResponsesList(ordered)
	out := struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		HasMore bool              `json:"has_more"`
		LastID  *string           `json:"last_id"`
	}{Object: "list", Data: data, HasMore: more}
	if len(ordered) > 0 {
		out.FirstID, out.LastID = &ordered[0].ID, &ordered[len(ordered)-1].ID
	}
	writeJSON(q.w, http.StatusOK, out)
}

// stateError answers a failed look-up: 404 for missing or another key's.
func (q *stateReq) stateError(what, id string, err error) {
	if errors.Is(err, session.ErrNotFound) {
		q.fail(&apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Message: fmt.Sprintf("%s with id '%s' not found.", what, id)})
		return
	}
	q.fail(&apiError{Status: http.StatusInternalServerError, Message: fmt.Sprintf("%s %s cannot be read: %v", what, id, err)})
}

// conversationObject is the Conversations API's conversation.
func conversationObject(th *session.Thread) map[string]any {
	md := th.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return map[string]any{"id": th.ID, "object": "conversation", "created_at": th.Created.Unix(), "metadata": md}
}

// itemsParam reads Conversations API items (Responses input items).
func itemsParam(raw []json.RawMessage) ([]contextdoc.Item, *apiError) {
	if len(raw) == 0 {
		return nil, nil
	}
	body, _ := json.Marshal(map[string]any{"input": raw})
	items, skipped, err := translate.ResponsesInputItems(body)
	if err != nil {
		return nil, translateError(err)
	}
	if skipped > 0 {
		return nil, &apiError{Status: http.StatusBadRequest, Param: "items", Message: "items: credflow keeps messages, function calls, their outputs and reasoning; an item of another type (a built-in tool's, an item_reference) was sent"}
	}
	return items, nil
}

func (s *Server) createConversation(q *stateReq) {
	var req struct {
		Items    []json.RawMessage `json:"items"`
		Metadata map[string]string `json:"metadata"`
	}
	if !q.readJSON(&req) {
		return
	}
	if len(req.Items) > 20 {
		q.fail(&apiError{Status: http.StatusBadRequest, Param: "items", Message: "a new conversation takes at most 20 items; add more with POST /v1/conversations/{id}/items"})
		return
	}
	items, aerr := itemsParam(req.Items)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	id := session.NewID("conv_")
	err := q.store.Commit(q.r.Context(), session.Change{Kind: session.KindConversation, Owner: q.key.Name, ID: id, Create: true, Append: items,
		Update: func(th *session.Thread) { th.Metadata = req.Metadata }})
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	th, _, err := q.store.Get(session.KindConversation, q.key.Name, id)
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	writeJSON(q.w, http.StatusOK, conversationObject(th))
}

func (s *Server) getConversation(q *stateReq) {
	id := q.r.PathValue("id")
	th, _, err := q.store.Get(session.KindConversation, q.key.Name, id)
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	writeJSON(q.w, http.StatusOK, conversationObject(th))
}

func (s *Server) updateConversation(q *stateReq) {
	id := q.r.PathValue("id")
	var req struct {
		Metadata map[string]string `json:"metadata"`
	}
	if !q.readJSON(&req) {
		return
	}
	if _, _, err := q.store.Get(session.KindConversation, q.key.Name, id); err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	if err := q.store.Commit(q.r.Context(), session.Change{Kind: session.KindConversation, Owner: q.key.Name, ID: id, MustExist: true,
		Update: func(th *session.Thread) { th.Metadata = req.Metadata }}); err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	s.getConversation(q)
}

func (s *Server) deleteConversation(q *stateReq) {
	id := q.r.PathValue("id")
	if err := q.store.Delete(session.KindConversation, q.key.Name, id); err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"id": id, "object": "conversation.deleted", "deleted": true})
}

func (s *Server) listConversationItems(q *stateReq) {
	id := q.r.PathValue("id")
	_, items, err := q.store.Get(session.KindConversation, q.key.Name, id)
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	q.list(items, "desc")
}

func (s *Server) addConversationItems(q *stateReq) {
	id := q.r.PathValue("id")
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if !q.readJSON(&req) {
		return
	}
	if len(req.Items) == 0 || len(req.Items) > 20 {
		q.fail(&apiError{Status: http.StatusBadRequest, Param: "items", Message: "send 1 to 20 items"})
		return
	}
	items, aerr := itemsParam(req.Items)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	if _, _, err := q.store.Get(session.KindConversation, q.key.Name, id); err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	if err := q.store.Commit(q.r.Context(), session.Change{Kind: session.KindConversation, Owner: q.key.Name, ID: id, MustExist: true, Append: items}); err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	_, all, err := q.store.Get(session.KindConversation, q.key.Name, id)
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	// The new items are the last ones (seq numbers only grow).
	added := all[max(len(all)-len(items), 0):]
	q.list(added, "asc")
}

func (s *Server) getConversationItem(q *stateReq) {
	id, itemID := q.r.PathValue("id"), q.r.PathValue("item")
	_, items, err := q.store.Get(session.KindConversation, q.key.Name, id)
	if err != nil {
		q.stateError("Conversation", id, err)
		return
	}
	for i := range items {
		if items[i].ID == itemID {
			out := translate.ItemsToResponsesList(items[i : i+1])
			if len(out) == 1 {
				q.w.Header().Set("Content-Type", "application/json")
				q.w.Write(out[0])
				return
			}
		}
	}
	q.stateError("Item", itemID, session.ErrNotFound)
}

func (s *Server) deleteConversationItem(q *stateReq) {
	id, itemID := q.r.PathValue("id"), q.r.PathValue("item")
	if err := q.store.DeleteItem(session.KindConversation, q.key.Name, id, itemID); err != nil {
		if errors.Is(err, session.ErrNotFound) {
			if _, _, gerr := q.store.Get(session.KindConversation, q.key.Name, id); gerr != nil {
				q.stateError("Conversation", id, gerr)
				return
			}
			q.stateError("Item", itemID, err)
			return
		}
		q.stateError("Conversation", id, err)
		return
	}
	s.getConversation(q)
}
