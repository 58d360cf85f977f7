package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/tokens"
)

// The mock answers the Responses API in its own shape: a response object
// echoing the request's settings, with the last user message as the
// output text and usage from credflow's tokenizer; streams as OpenAI's
// events, one delta per chunk, each with its sequence number.
func TestMockResponses(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{})
	body := `{"model":"mock-1","instructions":"Be brief.","max_output_tokens":50,"input":[{"role":"user","content":"first"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"42"},{"role":"user","content":[{"type":"input_text","text":"echo this"}]}]}`
	var r struct {
		ID, Object, Status, Model string
		Instructions              string `json:"instructions"`
		MaxOutputTokens           int    `json:"max_output_tokens"`
		Output                    []struct {
			Type, Role, Status string
			Content            []struct{ Type, Text string }
		}
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
			TotalTokens  int `json:"total_tokens"`
		}
	}
	decode(t, mockSend(t, m, context.Background(), provider.Responses, false, body), 200, &r)
	if r.Object != "response" || r.Status != "completed" || r.Model != "mock-1" || !strings.HasPrefix(r.ID, "resp_") ||
		r.Instructions != "Be brief." || r.MaxOutputTokens != 50 || len(r.Output) != 1 || r.Output[0].Type != "message" ||
		r.Output[0].Content[0].Type != "output_text" || r.Output[0].Content[0].Text != "echo this" {
		t.Fatalf("%+v", r)
	}
	wantOut := len(tokens.Split("mock-1", "echo this"))
	wantIn := tokens.Count("mock-1", "Be brief."+"first"+"{}"+"42"+"echo this")
	if r.Usage.OutputTokens != wantOut || r.Usage.InputTokens != wantIn || r.Usage.TotalTokens != wantIn+wantOut {
		t.Errorf("usage %+v, want in %d out %d", r.Usage, wantIn, wantOut)
	}

	evs, err := events(t, mockSend(t, m, context.Background(), provider.Responses, true, `{"model":"mock-1","stream":true,"input":"one two three"}`))
	if err != io.EOF {
		t.Fatalf("stream ended with %v", err)
	}
	var types []string
	var text strings.Builder
	for i, ev := range evs {
		var e struct {
			Type           string `json:"type"`
			SequenceNumber int    `json:"sequence_number"`
			Delta          string `json:"delta"`
			Response       struct {
				Usage *struct {
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
			} `json:"response"`
		}
		unmarshal(t, ev.Data, &e)
		if e.Type != ev.Name || e.SequenceNumber != i {
			t.Errorf("event %d: name %q type %q sequence %d", i, ev.Name, e.Type, e.SequenceNumber)
		}
		if types = append(types, e.Type); e.Type == "response.output_text.delta" {
			text.WriteString(e.Delta)
		}
		if e.Type == "response.completed" && (e.Response.Usage == nil || e.Response.Usage.OutputTokens != len(tokens.Split("mock-1", "one two three"))) {
			t.Errorf("completed without usage: %s", ev.Data)
		}
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		strings.Repeat("response.output_text.delta ", len(tokens.Split("mock-1", "one two three"))) +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if got := strings.Join(types, " "); got != want || text.String() != "one two three" {
		t.Errorf("events %s\nwant %s\ntext %q", got, want, text.String())
	}
}

// Faults apply to the Responses API too: a configured status is an
// OpenAI error body, a cut stream ends without response.completed.
func TestMockResponsesFaults(t *testing.T) {
	m := provider.NewMock("mock", config.MockOptions{FailStatus: 503})
	var e struct {
		Error struct{ Message, Type string }
	}
	decode(t, mockSend(t, m, context.Background(), provider.Responses, false, `{"model":"m","input":"x"}`), 503, &e)
	if e.Error.Type != "api_error" || e.Error.Message == "" {
		t.Errorf("%+v", e)
	}
	m = provider.NewMock("mock", config.MockOptions{Reply: longReply, CutAfter: 2})
	evs, err := events(t, mockSend(t, m, context.Background(), provider.Responses, true, `{"model":"m","input":"x","stream":true}`))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stream ended with %v", err)
	}
	for _, ev := range evs {
		if ev.Name == "response.completed" {
			t.Fatal("a cut stream completed")
		}
	}
	if n := len(evs); n != 6 { // created, in_progress, item added, part added, 2 deltas
		var b strings.Builder
		for _, ev := range evs {
			json.NewEncoder(&b).Encode(ev.Name)
		}
		t.Errorf("%d events before the cut: %s", n, b.String())
	}
}
