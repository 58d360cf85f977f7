package gateway

import (
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/translate"
)

// translateOptions are the options of a translation for target t: the
// route's strictness, whether the model reasons (the catalogue's word or
// a prices: override; a model nobody describes does not), and c.dropped
// to record the hints left out (x-credflow-dropped, the request log).
func (st *state) translateOptions(c *call, t route.Target) translate.Options {
	return translate.Options{Model: t.Model, DefaultMaxTokens: st.cfg.Server.DefaultMaxTokens,
		MaxTokensField: st.cfg.Providers[t.Provider].MaxTokensField, Strict: t.Strict,
		Reasoning: st.reasons(t.Provider, t.Model), Dropped: &c.dropped}
}
