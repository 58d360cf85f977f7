package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/route"
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
	if meta.PreviousResponseID != "" {
		return nil, nil, &apiError{Status: http.StatusBadRequest, Param: "previous_response_id", Code: "unsupported_parameter",
			Message: fmt.Sprintf("model %q routes to provider %q (%s), and credflow keeps no stored responses for it: send the whole conversation in input", c.ev.Model, p.Name(), p.Type())}
	}
	meta.ID, meta.Model, meta.CreatedAt = translate.NewResponseID(), c.ev.Model, s.opt.Now().Unix()
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
