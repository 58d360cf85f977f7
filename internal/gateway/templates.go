package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/templates"
)

// TemplateRequest is the body of POST /v1/templates/NAME.
type TemplateRequest struct {
	// Variables fill the template's placeholders: text, numbers or booleans.
	Variables map[string]json.RawMessage `json:"variables"`
	Stream    bool                       `json:"stream"`
	// Model overrides the template's model.
	Model string `json:"model,omitempty"`
	// Params override or add to the template's request options.
	Params map[string]json.RawMessage `json:"params,omitempty"`
}

// templateCall marks a chat request made by the template endpoint, so the
// request path accepts keys restricted to templates and names the
// template in the request's event.
type templateCall struct{}

// loadTemplates reads the current version of every template into memory;
// the daemon serves templates from there and reloads them with the rest.
func (s *Server) loadTemplates(db *store.DB) error {
	ts, err := templates.Current(db)
	if err != nil {
		return fmt.Errorf("read templates: %w", err)
	}
	s.templates.Store(&ts)
	return nil
}

// templateScope enforces a key's template restriction on the request
// path: a key limited to templates may only come through the template
// endpoint. It also labels a template request's event.
func templateScope(r *http.Request, key *keys.Key, c *call) *apiError {
	if r.Context().Value(summarizeCall{}) != nil {
		c.ev.Endpoint = "context/summarize"
		return nil
	}
	name, fromTemplate := r.Context().Value(templateCall{}).(string)
	if fromTemplate {
		c.ev.Endpoint = "templates/" + name
		return nil
	}
	if len(key.Templates) > 0 {
		return &apiError{Status: http.StatusForbidden, Code: "template_only_key",
			Message: fmt.Sprintf("virtual key %q may only run templates (%s) through POST /v1/templates/NAME, not call %s directly; lift that with 'credflow keys update %s --clear-templates'",
				key.Name, strings.Join(key.Templates, ", "), r.URL.Path, key.Name)}
	}
	return nil
}

// serveTemplate renders a template with the request's variables and runs
// the result through the chat completions path, so routing, limits,
// accounting, streaming and errors are the same as for any request.
func (s *Server) serveTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	fail := func(e *apiError) { writeAPIError(w, provider.FormatOpenAI, e) }
	key, err := s.auth.Authenticate(presentedKey(r))
	if err != nil {
		fail(&apiError{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: err.Error()})
		return
	}
	if !key.AllowsTemplate(name) {
		fail(&apiError{Status: http.StatusForbidden, Code: "template_not_allowed",
			Message: fmt.Sprintf("virtual key %q may not run template %q (allowed: %s); change it with 'credflow keys update %s --templates ...'", key.Name, name, strings.Join(key.Templates, ", "), key.Name)})
		return
	}
	var tpl *templates.Template
	if m := s.templates.Load(); m != nil {
		tpl = (*m)[name]
	}
	if tpl == nil {
		fail(&apiError{Status: http.StatusNotFound, Code: "template_not_found",
			Message: fmt.Sprintf("no template %q; see 'credflow templates list', or add it with 'credflow templates add %s -f FILE'", name, name)})
		return
	}
	st := s.state.Load()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, st.cfg.Server.MaxBodyBytes))
	if err == nil {
		clearBodyDeadline(w, r)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(&apiError{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large",
				Message: fmt.Sprintf("request body is over the gateway's limit of %d bytes (server.max_body_bytes)", mbe.Limit)})
		}
		return
	}
	var req TemplateRequest
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(&apiError{Status: http.StatusBadRequest, Code: "invalid_json",
				Message: "request body: " + strings.TrimPrefix(err.Error(), "json: ") + `; send {"variables": {"name": "value"}, "stream": false} (optional: "model", "params")`})
			return
		}
	}
	vars := make(map[string]string, len(req.Variables))
	for k, v := range req.Variables {
		s, err := variableText(v)
		if err != nil {
			fail(&apiError{Status: http.StatusBadRequest, Code: "invalid_variable", Param: "variables." + k,
				Message: fmt.Sprintf("template %q: variable %q: %v", name, k, err)})
			return
		}
		vars[k] = s
	}
	t := tpl
	if len(req.Params) > 0 {
		cp := *tpl
		cp.Params = map[string]any{}
		for k, v := range tpl.Params {
			cp.Params[k] = v
		}
		for k, v := range req.Params {
			if slices.Contains([]string{"model", "messages", "stream", "stream_options"}, k) {
				fail(&apiError{Status: http.StatusBadRequest, Code: "invalid_param", Param: "params." + k,
					Message: fmt.Sprintf("params.%s is set by credflow; use the request's own \"model\" or \"stream\" field", k)})
				return
			}
			cp.Params[k] = v
		}
		t = &cp
	}
	rendered, err := t.Render(vars)
	if err != nil {
		param := ""
		var ve *templates.VarError
		if errors.As(err, &ve) {
			param = "variables." + ve.Variable
		}
		fail(&apiError{Status: http.StatusBadRequest, Code: "invalid_variable", Param: param, Message: err.Error()})
		return
	}
	body := rendered.ChatRequest(req.Model, req.Stream)
	r2 := r.Clone(context.WithValue(r.Context(), templateCall{}, name))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.URL.Path = "/v1/chat/completions"
	s.endpoint(provider.ChatCompletions).ServeHTTP(w, r2)
}

// variableText turns a JSON variable value into the text placed in the
// prompt: strings as they are, numbers and booleans as written.
func variableText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("has no value")
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '{', '[':
		return "", errors.New("must be text, a number or a boolean, not an object or list")
	case 'n':
		return "", errors.New("is null; give a value or leave it out to use the default")
	}
	return string(v), nil
}
