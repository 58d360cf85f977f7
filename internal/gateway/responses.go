package gateway

import (
	"errors"
	"net/http"

	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/translate"
)

// speaksResponses reports whether a provider takes Responses API
// requests as they are: OpenAI, Azure OpenAI, OpenAI-compatible servers
// that declare it, and the mock.
func speaksResponses(p provider.Provider, f provider.Format) bool {
	return f == provider.FormatOpenAI && p.Supports(provider.Responses)
}

// prepareResponses translates a Responses API request for a provider that
// does not speak it: to Chat Completions for OpenAI-format providers, to
// Messages for Anthropic ones, through the neutral form
// (internal/translate's Conv). The response is translated back by relay
// with up.responses.
func (s *Server) prepareResponses(st *state, p provider.Provider, c *call, t route.Target, body []byte, up *upstream, req *provider.Request) (*upstream, *provider.Request, *apiError) {
	opt := st.translateOptions(c, t)
	conv, meta, err := translate.ResponsesRequestToConv(body, opt)
	if err != nil {
		return nil, nil, translateError(err)
	}
	meta.ID, meta.Model, meta.CreatedAt = translate.NewResponseID(), c.ev.Model, s.opt.Now().Unix()
	if tn := c.turn; tn != nil {
		// The conversation so far goes first, fitted into the model's
		// window; the response is stored under credflow's id.
		tn.respID = meta.ID
		meta.Conversation = tn.conversation
		if tn.history != nil {
			fit := s.fitHistory(st, t, tn.history, conv.Items, estimate(len(body)-len(tn.inputBytes(body))), int64(conv.MaxOutputTokens), session.PolicyWindow, tn)
			if !tn.truncate && fit.cut(len(tn.history)+len(conv.Items)) {
				return nil, nil, contextTooLong()
			}
			conv.Items = fit.items
		}
	} else {
		meta.Store = false // nothing was stored: say so
	}
	up.translated, up.responses = true, meta
	if up.format == provider.FormatAnthropic {
		req.Endpoint = provider.Messages
		req.Body, err = translate.ConvToMessages(conv, opt)
	} else {
		req.Endpoint = provider.ChatCompletions
		req.Body, err = translate.ConvToChat(conv, opt)
	}
	if err != nil {
		return nil, nil, translateError(err)
	}
	return up, req, nil
}

// translateError is the client's 400 (or the translator's own status)
// for a request that cannot be expressed upstream.
func translateError(err error) *apiError {
	var te *translate.Error
	if errors.As(err, &te) {
		return te
	}
	return &apiError{Status: http.StatusBadRequest, Message: err.Error()}
}

// reasons reports whether the catalogue says a model reasons, which
// decides whether a reasoning effort is sent to it.
func (st *state) reasons(prov, model string) bool {
	p, ok := st.price(prov, model)
	return ok && p.Reasoning
}
