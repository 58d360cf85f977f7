package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// A real Claude Code request, with its headers, passes through byte for
// byte: fields credflow has never heard of keep working on day one.
func TestClaudeCodeRequestPassesThrough(t *testing.T) {
	an, seen := fakeAnthropic(t)
	e := startGateway(t, baseConfig, nil, an)
	body := fixture(t, "anthropic-request-claude-code.json")
	req, _ := http.NewRequest("POST", e.base+"/v1/messages?beta=true", bytes.NewReader(body))
	for _, h := range [][2]string{
		{"content-type", "application/json"}, {"accept", "application/json"},
		{"user-agent", "claude-cli/0.2.107 (external)"}, {"anthropic-version", "2023-06-01"},
		{"x-app", "cli"}, {"anthropic-beta", "claude-code-20250219"},
		{"authorization", "Bearer " + e.key}, // Claude Code with ANTHROPIC_AUTH_TOKEN
	} {
		req.Header.Set(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/event-stream") || !bytes.Contains(out, []byte("message_stop")) {
		t.Fatalf("status %d, %s", resp.StatusCode, out)
	}
	seen.mu.Lock()
	got, hdr := seen.bodies[0], seen.headers[0]
	seen.mu.Unlock()
	if !bytes.Equal(got, body) {
		t.Fatal("the upstream did not receive the request byte for byte")
	}
	if hdr.Get("Anthropic-Beta") != "claude-code-20250219" || hdr.Get("X-Api-Key") != upstreamAnthropicKey || hdr.Get("Authorization") != "" {
		t.Fatalf("upstream headers: beta %q, key injected %v, client auth leaked %q", hdr.Get("Anthropic-Beta"), hdr.Get("X-Api-Key") == upstreamAnthropicKey, hdr.Get("Authorization"))
	}
}

func TestEmbeddingsAndResponsesPassThrough(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	c := e.openai(e.key)
	emb, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "gpt-embed-test",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
	})
	if err != nil || len(emb.Data) != 1 || len(emb.Data[0].Embedding) != 2 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}
	if _, _, path := seen.last(t); path != "/v1/embeddings" {
		t.Fatalf("embeddings went to %s", path)
	}
	status, _, _ := e.raw("/v1/responses", `{"model":"gpt-4o","input":"hi","x_new_field":1}`)
	body, _, path := seen.last(t)
	if status != 200 || path != "/v1/responses" || body["x_new_field"] != float64(1) {
		t.Fatalf("responses pass-through: %d %s %v", status, path, body)
	}
	status, _, _ = e.raw("/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi"}`)
	if _, _, path := seen.last(t); status != 200 || path != "/v1/completions" {
		t.Fatalf("completions pass-through: %d %s", status, path)
	}
	// /v1/models lists what credflow routes.
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range page.Data {
		ids[m.ID] = true
	}
	if !ids["claude-*"] || !ids["fast"] || !ids["mock*"] {
		t.Fatalf("models: %v", ids)
	}
}
