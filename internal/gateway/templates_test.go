package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/templates"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// waitEvent waits for the n-th request event (1-based) and returns it: a
// streamed request's event comes after the client has read its answer.
func (e *env) waitEvent(t *testing.T, n int) adminapi.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		if len(e.events) >= n {
			ev := e.events[n-1]
			e.mu.Unlock()
			return ev
		}
		e.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("request event %d never came (have %d)", n, e.eventCount())
	return adminapi.Event{}
}

// addTemplates stores templates and a template-only key "app" in the data
// file, then reloads the gateway as 'credflow templates add' does.
func (e *env) addTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	db, err := store.Open(filepath.Join(e.dataDir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := templates.NewService(db, templates.Options{Process: "test"})
	for name, src := range files {
		tpl, err := templates.ParseNamed([]byte(src), name+".yaml", name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Add(tpl, ""); err != nil {
			t.Fatal(err)
		}
	}
	appKey, _, err := keys.New(db, keys.Options{}).Create("app", keys.CreateOptions{Templates: []string{"summarize"}})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return appKey
}

const summarizeTemplate = `model: gpt-4o-mini
system: You are concise.
prompt: "Summarize in {{words}} words: {{input}}"
params: {temperature: 0.2}
variables:
  input: {}
  words: {type: integer, default: 20}
`

const echoTemplate = `model: mock
prompt: "Say {{what}} to {{who}}"
variables:
  what: {}
  who: {default: everyone}
`

// TestTemplateEndpoint runs templates through POST /v1/templates/NAME with
// the OpenAI SDK: the rendered request reaches the upstream exactly, the
// answer is an OpenAI chat completion, streamed or not, and the request
// is accounted under the key with the template's name.
func TestTemplateEndpoint(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	e.addTemplates(t, map[string]string{"summarize": summarizeTemplate, "echo": echoTemplate})
	c := e.openai(e.key)
	ctx := context.Background()

	var resp openai.ChatCompletion
	err := c.Post(ctx, "templates/summarize", map[string]any{"variables": map[string]any{"input": "The fox jumps.", "words": 5}}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Choices []struct{ Message struct{ Content string } }
	}
	json.Unmarshal(fixture(t, "openai-chat.json"), &want)
	if resp.Choices[0].Message.Content != want.Choices[0].Message.Content {
		t.Errorf("content %q; want the upstream's %q", resp.Choices[0].Message.Content, want.Choices[0].Message.Content)
	}
	body, _, path := seen.last(t)
	if path != "/v1/chat/completions" {
		t.Errorf("upstream path %s", path)
	}
	msgs, _ := json.Marshal(body["messages"])
	if string(msgs) != `[{"content":"You are concise.","role":"system"},{"content":"Summarize in 5 words: The fox jumps.","role":"user"}]` {
		t.Errorf("upstream messages %s", msgs)
	}
	if body["temperature"] != 0.2 || body["model"] != "gpt-4o-mini" {
		t.Errorf("upstream body %v", body)
	}
	ev := e.waitEvent(t, 1)
	if ev.Endpoint != "templates/summarize" || ev.Key != "test" || ev.Status != 200 || ev.InputTokens == 0 {
		t.Errorf("event %+v", ev)
	}

	// Not streamed, on the mock provider: it echoes the rendered prompt.
	var echo openai.ChatCompletion
	if err := c.Post(ctx, "templates/echo", map[string]any{"variables": map[string]any{"what": "hi", "who": "Ada"}}, &echo); err != nil {
		t.Fatal(err)
	}
	if got := echo.Choices[0].Message.Content; got != "Say hi to Ada" || echo.Usage.PromptTokens == 0 {
		t.Errorf("mock answer %q, usage %+v; want the echo of the rendered prompt", got, echo.Usage)
	}

	// Streaming, on the mock provider, with a model override.
	var raw *http.Response
	err = c.Post(ctx, "templates/echo", map[string]any{"variables": map[string]any{"what": "hello"}, "stream": true, "model": "mock-2"}, &raw)
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(raw), err)
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		chunks++
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Say hello to everyone") || chunks < 2 {
		t.Errorf("streamed %d chunks: %q; want the mock's echo of the rendered prompt", chunks, text.String())
	}
	if ev := e.waitEvent(t, 3); ev.Endpoint != "templates/echo" || !ev.Stream || ev.Model != "mock-2" {
		t.Errorf("stream event %+v", ev)
	}
}

func TestTemplateEndpointErrors(t *testing.T) {
	oa, seen := fakeOpenAI(t)
	e := startGateway(t, baseConfig, oa, nil)
	appKey := e.addTemplates(t, map[string]string{"summarize": summarizeTemplate, "echo": echoTemplate})
	ctx := context.Background()
	apiErr := func(err error) *openai.Error {
		t.Helper()
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Fatalf("error %v is not an API error", err)
		}
		return ae
	}
	c := e.openai(e.key)
	var out openai.ChatCompletion

	err := c.Post(ctx, "templates/summarize", map[string]any{"variables": map[string]any{"words": 5}}, &out)
	if ae := apiErr(err); ae.StatusCode != 400 || ae.Param != "variables.input" || !strings.Contains(ae.Message, `variable "input": required but not given`) {
		t.Errorf("missing variable: %d %q %q", ae.StatusCode, ae.Param, ae.Message)
	}
	err = c.Post(ctx, "templates/summarize", map[string]any{"variables": map[string]any{"input": "x", "words": "many"}}, &out)
	if ae := apiErr(err); ae.StatusCode != 400 || ae.Param != "variables.words" || !strings.Contains(ae.Message, "not an integer") {
		t.Errorf("bad type: %d %q %q", ae.StatusCode, ae.Param, ae.Message)
	}
	err = c.Post(ctx, "templates/summarize", map[string]any{"variables": map[string]any{"input": "x", "tone": "dry"}}, &out)
	if ae := apiErr(err); ae.StatusCode != 400 || ae.Param != "variables.tone" || !strings.Contains(ae.Message, "not declared") {
		t.Errorf("undeclared variable: %d %q %q", ae.StatusCode, ae.Param, ae.Message)
	}
	err = c.Post(ctx, "templates/summarize", map[string]any{"vars": map[string]any{}}, &out)
	if ae := apiErr(err); ae.StatusCode != 400 || !strings.Contains(ae.Message, `unknown field "vars"`) {
		t.Errorf("unknown field: %d %q", ae.StatusCode, ae.Message)
	}
	err = c.Post(ctx, "templates/nope", map[string]any{}, &out)
	if ae := apiErr(err); ae.StatusCode != 404 || ae.Code != "template_not_found" {
		t.Errorf("unknown template: %d %q", ae.StatusCode, ae.Code)
	}
	wrong := e.openai("cf-wrong")
	err = wrong.Post(ctx, "templates/summarize", map[string]any{}, &out)
	if ae := apiErr(err); ae.StatusCode != 401 {
		t.Errorf("bad key: %d", ae.StatusCode)
	}
	if n := seen.count(); n != 0 {
		t.Errorf("refused requests reached the upstream %d times", n)
	}

	// A key restricted to one template runs it and nothing else.
	app := e.openai(appKey)
	if err := app.Post(ctx, "templates/summarize", map[string]any{"variables": map[string]any{"input": "x"}}, &out); err != nil {
		t.Errorf("template-only key on its template: %v", err)
	}
	err = app.Post(ctx, "templates/echo", map[string]any{"variables": map[string]any{"what": "x"}}, &out)
	if ae := apiErr(err); ae.StatusCode != 403 || ae.Code != "template_not_allowed" {
		t.Errorf("template-only key on another template: %d %q", ae.StatusCode, ae.Code)
	}
	_, err = app.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if ae := apiErr(err); ae.StatusCode != 403 || ae.Code != "template_only_key" || !strings.Contains(ae.Message, "--clear-templates") {
		t.Errorf("template-only key on chat completions: %d %q %q", ae.StatusCode, ae.Code, ae.Message)
	}
}
