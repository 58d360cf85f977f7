package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/guard"
	"github.com/credflow/credflow/internal/guard/textflow"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/policy"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
)

// guardSecrets reads every vault secret's active value for the
// vault_secrets detector; they are hashed by guard.New and dropped.
func guardSecrets(ctx context.Context, v *vault.Vault, held map[string]string) ([][]byte, error) {
	var list []*vault.Secret
	if v != nil {
		var err error
		if list, err = v.List(ctx); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, s := range list {
		if _, ok := held[s.Name]; !ok {
			names = append(names, s.Name)
		}
	}
	out := make([][]byte, 0, len(held)+len(names))
	for _, val := range held {
		out = append(out, []byte(val))
	}
	if len(names) > 0 {
		vals, _, err := v.LoadActive(ctx, names, "credflow serve: guardrails")
		if err != nil {
			return nil, err
		}
		for _, val := range vals {
			out = append(out, []byte(val))
		}
	}
	return out, nil
}

// needsSecrets reports whether a guardrail matches vault secrets.
func needsSecrets(cfg *config.Config) bool {
	for _, g := range cfg.Guardrails {
		if g.VaultSecrets {
			return true
		}
	}
	return false
}

// buildGuard compiles the guardrails of st's config.
func (s *Server) buildGuard(st *state, secrets [][]byte) {
	for _, p := range st.cfg.Policies {
		st.usesMonthSpend = st.usesMonthSpend || strings.Contains(p.When, "spend_month")
	}
	if len(st.cfg.Guardrails) == 0 {
		return
	}
	st.guard = guard.New(st.cfg.Guardrails, guard.Options{
		Secrets:          secrets,
		VerifyVirtualKey: func(b []byte) bool { return s.auth.Known(string(b)) },
		Moderate: func(ctx context.Context, model string, texts []string) (map[string]float64, bool, error) {
			return s.moderate(ctx, st, model, texts)
		},
		OnModerationError: func(rule string, blocked bool, err error) {
			what := "allowed (on_error: allow)"
			if blocked {
				what = "blocked (on_error: block)"
			}
			s.log.Warn("moderation call failed; request "+what, "rule", rule, "err", st.scrub(err))
		},
	})
	for i := range secrets {
		clear(secrets[i])
	}
}

// evalPolicy runs the CEL policies for a request. It returns the model
// to route (model itself when no rule routes), the guardrails required,
// or the error that refuses the request.
func (s *Server) evalPolicy(st *state, c *call, key *keys.Key, r *http.Request, model, prov string, body []byte) (string, []string, *apiError) {
	set := st.cfg.PolicySet
	if set.Len() == 0 {
		return model, nil, nil
	}
	hdr := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "x-api-key" || lk == "api-key" {
			continue // a rule never sees credentials
		}
		hdr[lk] = strings.Join(v, ", ")
	}
	in := policy.Input{
		Key: key.Name, Model: model, Provider: prov, Endpoint: endpointName(c.endpoint),
		Session: r.Header.Get("X-Credflow-Session"), Tokens: int64(estimate(len(body))),
		SpendMicros: s.today.keySpend(key.Name, s.opt.Now()), Headers: hdr, Time: s.opt.Now().In(s.opt.location()),
	}
	if st.usesMonthSpend {
		in.MonthSpendMicros = s.keyMonthSpend(key.Name, s.opt.Now())
	}
	d, err := set.Eval(in)
	if err != nil {
		s.log.Error("policy evaluation failed; request refused", "id", c.ev.ID, "err", err)
		return "", nil, &apiError{Status: http.StatusInternalServerError, Code: "policy_error",
			Message: "credflow could not evaluate its policies for this request: " + err.Error()}
	}
	switch d.Kind {
	case policy.Deny:
		c.ev.Policy = d.Rule + ": deny"
		return "", nil, &apiError{Status: http.StatusForbidden, Code: "policy_denied",
			Message: fmt.Sprintf("request denied by policy %q: %s", d.Rule, d.Message)}
	case policy.Route:
		c.ev.Policy = d.Rule + ": route " + d.Model
		return d.Model, d.Require, nil
	case policy.Require:
		c.ev.Policy = d.Rule + ": require " + strings.Join(d.Require, ",")
	}
	return model, d.Require, nil
}

// endpointName is the short endpoint name policies see.
func endpointName(ep provider.Endpoint) string {
	switch ep {
	case provider.ChatCompletions:
		return "chat"
	case provider.CountTokens:
		return "count_tokens"
	}
	return string(ep)
}

// guardBlocked turns a guardrail block into the client's error.
func guardBlocked(b *guard.Block) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "guardrail_blocked", Message: b.Error()}
}

// guardHits copies a pass's hits onto the request's event.
func guardHits(p *guard.Pass) []adminapi.GuardHit {
	hits := p.Hits()
	if len(hits) == 0 {
		return nil
	}
	out := make([]adminapi.GuardHit, len(hits))
	for i, h := range hits {
		out[i] = adminapi.GuardHit{Rule: h.Rule, Action: h.Action, Side: string(h.Side), Detector: h.Detector, Count: h.Count}
	}
	return out
}

// streamFormat is the client API a reply stream is in.
func streamFormat(ep provider.Endpoint) textflow.Format {
	switch ep {
	case provider.Messages:
		return textflow.Messages
	case provider.Responses:
		return textflow.Responses
	case provider.Completions:
		return textflow.Completions
	}
	return textflow.Chat
}

// moderate calls a moderation model (routed like any, in OpenAI's
// /v1/moderations format) and returns the highest score per category.
func (s *Server) moderate(ctx context.Context, st *state, model string, texts []string) (map[string]float64, bool, error) {
	targets, err := st.routes.Resolve(model)
	if err != nil {
		return nil, false, err
	}
	var lastErr error
	for _, t := range targets {
		p := st.providers[t.Provider]
		if p.Format() == provider.FormatAnthropic {
			lastErr = fmt.Errorf("provider %q speaks the Anthropic API, which has no moderation endpoint", t.Provider)
			continue
		}
		body, _ := json.Marshal(map[string]any{"model": t.Model, "input": texts})
		resp, err := p.Send(ctx, &provider.Request{Endpoint: provider.Moderations, Model: t.Model, Body: body, Header: http.Header{}})
		if err != nil {
			lastErr = err
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			lastErr = fmt.Errorf("provider %q answered the moderation call with %d", t.Provider, resp.StatusCode)
			continue
		}
		var out struct {
			Results []struct {
				Flagged bool               `json:"flagged"`
				Scores  map[string]float64 `json:"category_scores"`
			} `json:"results"`
		}
		if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&out); err != nil || len(out.Results) == 0 {
			lastErr = errors.New("the moderation answer has no results")
			continue
		}
		scores := map[string]float64{}
		flagged := false
		for _, r := range out.Results {
			flagged = flagged || r.Flagged
			for c, v := range r.Scores {
				scores[c] = max(scores[c], v)
			}
		}
		return scores, flagged, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no provider could serve the moderation call")
	}
	return nil, false, lastErr
}
