package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/translate"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// watch prepares the turn to read a streamed answer: the upstream's
// events go through an accumulator in the upstream's format, except for
// a translated Responses stream, whose translator keeps the result.
func (tn *turn) watch(up *upstream, endpoint provider.Endpoint) {
	switch {
	case up.responses != nil:
	case up.format == provider.FormatAnthropic:
		tn.acc = translate.NewMessagesAccumulator()
	case endpoint != provider.Responses:
		tn.acc = translate.NewChatAccumulator()
	}
}

// observe feeds one upstream stream event to the accumulator.
func (tn *turn) observe(ev llmapi.Event) {
	if tn.acc != nil {
		tn.acc.Translate(ev, nil)
	}
}

// resultOf reads a non-streaming upstream answer (before translation).
func resultOf(up *upstream, endpoint provider.Endpoint, body []byte) (*translate.Result, error) {
	switch {
	case up.format == provider.FormatAnthropic:
		return translate.MessagesResponseToResult(body)
	case endpoint == provider.Responses && up.responses == nil:
		return translate.ResponsesBodyToResult(body)
	}
	return translate.ChatResponseToResult(body)
}

// streamResult is the streamed answer, read off the accumulator, the
// translated stream, or the client's final Responses event (ev, for a
// stream that passed through).
func (tn *turn) streamResult(rs *translate.ResponsesStream, ev llmapi.Event) (*translate.Result, json.RawMessage) {
	switch {
	case tn.acc != nil:
		tn.acc.Finish(nil)
		return tn.acc.Result(), nil
	case rs != nil:
		obj, _, _ := jsonx.Get(ev.Data, "response")
		return rs.Result(), obj
	}
	obj, _, _ := jsonx.Get(ev.Data, "response")
	res, err := translate.ResponsesBodyToResult(obj)
	if err != nil {
		return nil, nil
	}
	return res, obj
}

// finishTurn stores what the turn added: the request's new items and the
// answer's, with the turn's usage and cost on the answer's first item. It
// runs before the client's last event or body goes out, so whatever a
// client received is on disk; a failure is logged (the client has its
// answer; the turn is not kept).
func (s *Server) finishTurn(c *call, tn *turn, res *translate.Result, respObj json.RawMessage) {
	if tn == nil || tn.committed || res == nil || !tn.record {
		return
	}
	tn.committed = true
	now := s.opt.Now().UTC()
	s.settle(c) // the cost, for the turn's record
	var cost *int64
	if c.ev.CostKnown {
		v := c.ev.CostMicros
		cost = &v
	}
	usage := &contextdoc.Usage{InputTokens: c.ev.InputTokens, OutputTokens: c.ev.OutputTokens, CostMicros: cost}
	reply := make([]contextdoc.Item, len(res.Items))
	for i, it := range res.Items {
		it.Model = c.ev.Model
		it.Time = &now
		it.Tokens = session.EstimateTokens(&it)
		if i == 0 {
			it.Usage = usage
		}
		reply[i] = it
	}
	mark := func(items []contextdoc.Item) []contextdoc.Item {
		out := make([]contextdoc.Item, len(items))
		for i, it := range items {
			it.Time = &now
			if it.Tokens == 0 {
				it.Tokens = session.EstimateTokens(&it)
			}
			out[i] = it
		}
		return out
	}
	count := func(th *session.Thread) {
		th.Model, th.Provider = c.ev.Model, c.ev.Provider
		th.Turns++
		th.Input += c.ev.InputTokens
		th.Output += c.ev.OutputTokens
		if cost != nil {
			th.Cost += *cost
		}
	}
	var changes []session.Change
	switch tn.kind {
	case session.KindSession:
		add := append(mark(tn.fresh), reply...)
		summary, summarized := tn.summary, tn.summarized
		changes = append(changes, session.Change{Kind: session.KindSession, Owner: tn.owner, ID: tn.name, Replace: tn.replace, Append: add,
			Update: func(th *session.Thread) {
				count(th)
				th.System = tn.system
				if summarized || tn.replace {
					th.Summary = summary
				}
			}})
	case session.KindResponse:
		id := tn.respID
		if id == "" {
			id = res.ID // passed through: the upstream's id
		}
		if id == "" {
			return
		}
		input := mark(tn.input)
		upstream := tn.passthrough
		changes = append(changes, session.Change{Kind: session.KindResponse, Owner: tn.owner, ID: id, Create: true,
			Append: append(append([]contextdoc.Item{}, input...), reply...),
			Update: func(th *session.Thread) {
				count(th)
				th.Previous, th.Conversation, th.InputCount = tn.previous, tn.conversation, len(input)
				th.Response, th.Upstream = respObj, upstream
			}})
		if tn.conversation != "" && !tn.upstreamID {
			changes = append(changes, session.Change{Kind: session.KindConversation, Owner: tn.owner, ID: tn.conversation,
				Append: append(append([]contextdoc.Item{}, input...), reply...)})
		}
	}
	// A client that went away does not cancel the write: it was answered.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tn.store.Commit(ctx, changes...); err != nil {
		if errors.Is(err, session.ErrExists) {
			s.log.Warn("a response id was already stored; this answer is not kept", "id", c.ev.ID, "err", err)
			return
		}
		s.log.Error("could not store the conversation turn", "id", c.ev.ID, "key", tn.owner, "err", err)
	}
}
