// Package route owns model routing: which provider (and which upstream
// model name) serves the model a client asks for, as an ordered list of
// targets to try.
//
// Resolution order: an exact route; then "provider/model" naming a
// configured provider; then glob routes ("claude-*") in config order.
// Exact names win over globs so an alias is never shadowed by a pattern.
package route

import (
	"fmt"
	"github.com/credflow/credflow/internal/glob"
	"sort"
	"strings"

	"github.com/credflow/credflow/internal/config"
)

// Target is one place a request can go.
type Target struct {
	Provider string
	// Model is the upstream model name.
	Model string
	// Strict: the route says "translate: strict", so a translation
	// refuses the hints it would otherwise drop.
	Strict bool
}

// Table is an immutable routing table built from config.
type Table struct {
	exact     map[string][]targetSpec
	globs     []globRoute
	providers map[string]bool
}

type targetSpec struct {
	provider string
	model    string // empty: the requested model name
	strict   bool
}

type globRoute struct {
	pattern string
	targets []targetSpec
}

// New builds a table. Config validation has already checked the routes.
func New(routes []config.Route, providers map[string]config.Provider) (*Table, error) {
	t := &Table{exact: map[string][]targetSpec{}, providers: map[string]bool{}}
	for name := range providers {
		t.providers[name] = true
	}
	for _, r := range routes {
		var specs []targetSpec
		for _, s := range r.Targets {
			p, m, _ := strings.Cut(s, "/")
			if !t.providers[p] {
				return nil, fmt.Errorf("route %q: target %q names unknown provider %q", r.Model, s, p)
			}
			specs = append(specs, targetSpec{provider: p, model: m, strict: r.Translate == config.TranslateStrict})
		}
		if strings.ContainsAny(r.Model, "*?") {
			t.globs = append(t.globs, globRoute{pattern: r.Model, targets: specs})
		} else if _, dup := t.exact[r.Model]; !dup {
			t.exact[r.Model] = specs
		}
	}
	return t, nil
}

// ErrUnknownModel is returned for a model no route matches.
type ErrUnknownModel struct {
	Model string
	Known []string
}

func (e *ErrUnknownModel) Error() string {
	msg := fmt.Sprintf("model %q is not routed by this credflow gateway", e.Model)
	if len(e.Known) > 0 {
		msg += "; routed models: " + strings.Join(e.Known, ", ")
	}
	return msg + ". Add a route in the config file's routes: section, or ask for \"provider/model\""
}

// Resolve returns the ordered targets for a requested model.
func (t *Table) Resolve(model string) ([]Target, error) {
	if specs, ok := t.exact[model]; ok {
		return expand(specs, model), nil
	}
	if p, m, ok := strings.Cut(model, "/"); ok && t.providers[p] && m != "" {
		return []Target{{Provider: p, Model: m}}, nil
	}
	for _, g := range t.globs {
		if glob.Match(g.pattern, model) {
			return expand(g.targets, model), nil
		}
	}
	return nil, &ErrUnknownModel{Model: model, Known: t.Models()}
}

func expand(specs []targetSpec, model string) []Target {
	out := make([]Target, len(specs))
	for i, s := range specs {
		m := s.model
		if m == "" {
			m = model
		}
		out[i] = Target{Provider: s.provider, Model: m, Strict: s.strict}
	}
	return out
}

// Models lists the exact names and patterns routed, sorted, for /v1/models
// and messages.
func (t *Table) Models() []string {
	out := make([]string, 0, len(t.exact)+len(t.globs))
	for m := range t.exact {
		out = append(out, m)
	}
	for _, g := range t.globs {
		out = append(out, g.pattern)
	}
	sort.Strings(out)
	return out
}
