package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// The context engine through the real doors: the official SDKs against
// the gateway, fake upstreams that record every body they get.

func anthropicText(id, text string) func(http.ResponseWriter) {
	b, _ := json.Marshal(map[string]any{"id": id, "type": "message", "role": "assistant", "model": "claude-x",
		"content": []any{map[string]any{"type": "text", "text": text}}, "stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": 20, "output_tokens": 5}})
	return jsonAnswer(200, string(b))
}

func chatText(text string) func(http.ResponseWriter) {
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "local-x",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
	return jsonAnswer(200, string(b))
}

// roles lists a recorded body's messages as "role:text" (text joined).
func roles(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, m := range body["messages"].([]any) {
		msg := m.(map[string]any)
		var text strings.Builder
		switch c := msg["content"].(type) {
		case string:
			text.WriteString(c)
		case []any:
			for _, b := range c {
				bl := b.(map[string]any)
				if s, ok := bl["text"].(string); ok {
					text.WriteString(s)
				}
				if s, ok := bl["content"].(string); ok {
					text.WriteString(s)
				}
			}
		}
		out = append(out, fmt.Sprintf("%s:%s", msg["role"], text.String()))
	}
	return out
}

func input(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// Three turns chained by previous_response_id, the model switching
// between an Anthropic-format and an OpenAI-format upstream, the gateway
// restarted between turns 2 and 3: each upstream gets the whole history
// in its own format, and instructions are not carried over.
func TestResponsesChainAcrossModelsAndRestart(t *testing.T) {
	e, oa, an := responsesEnv(t)
	ctx := context.Background()
	an.then(anthropicText("msg_1", "Nice to meet you, Ada."), anthropicText("msg_3", "You're welcome."))
	oa.then(chatText("Your name is Ada."))

	r1, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", Instructions: openai.String("Be terse."), Input: input("My name is Ada.")})
	if err != nil {
		t.Fatal(err)
	}
	if got := an.last(t); got["system"] != "Be terse." || len(roles(t, got)) != 1 {
		t.Fatalf("turn 1: %v", got)
	}
	r2, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "local-x", PreviousResponseID: openai.String(r1.ID), Input: input("What is my name?")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user:My name is Ada.", "assistant:Nice to meet you, Ada.", "user:What is my name?"}
	if got := roles(t, oa.last(t)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("turn 2, the chat upstream got %q, want %q (no system: instructions are not carried over)", got, want)
	}
	if r2.PreviousResponseID != r1.ID || r2.OutputText() != "Your name is Ada." {
		t.Fatalf("turn 2: %s", r2.RawJSON())
	}
	e.restart()
	r3, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", PreviousResponseID: openai.String(r2.ID), Input: input("Thanks!")})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "assistant:Your name is Ada.", "user:Thanks!")
	got := an.last(t)
	if r := roles(t, got); strings.Join(r, "|") != strings.Join(want, "|") || got["system"] != nil {
		t.Fatalf("turn 3 after a restart, the Anthropic upstream got %q (system %v), want %q", r, got["system"], want)
	}
	// The stored response reads back; its input items are the history
	// and its own input, newest first.
	back, err := e.responses().Get(ctx, r3.ID, responses.ResponseGetParams{})
	if err != nil || back.OutputText() != "You're welcome." || back.ID != r3.ID {
		t.Fatalf("GET: %v %s", err, back.RawJSON())
	}
	page := e.responses().InputItems.ListAutoPaging(ctx, r3.ID, responses.InputItemListParams{})
	var texts []string
	for page.Next() {
		texts = append(texts, itemTexts(t, page.Current().RawJSON())...)
	}
	if page.Err() != nil || strings.Join(texts, "|") != "Thanks!|Your name is Ada.|What is my name?|Nice to meet you, Ada.|My name is Ada." {
		t.Fatalf("input_items: %v %q", page.Err(), texts)
	}
	if err := e.responses().Delete(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.responses().Get(ctx, r2.ID, responses.ResponseGetParams{}); !isStatus(err, 404) {
		t.Fatalf("GET after DELETE: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *openai.Error
	return errors.As(err, &e) && e.StatusCode == status
}

// A second virtual key gets 404 for the first key's response,
// conversation and session, exactly as for one that does not exist; an
// unknown previous_response_id for a provider that cannot hold it is
// OpenAI's previous_response_not_found.
func TestStoredStateIsPerKey(t *testing.T) {
	e, _, an := responsesEnv(t)
	ctx := context.Background()
	an.then(anthropicText("m1", "first"), anthropicText("m2", "second"))
	r1, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", Input: input("hi")})
	if err != nil {
		t.Fatal(err)
	}
	oc := openai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
	conv, err := oc.Conversations.New(ctx, openaiConvParams("hello"))
	if err != nil {
		t.Fatal(err)
	}
	oa1 := e.openai(e.key)
	if _, err := oa1.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("remember me")}},
		option.WithHeader("X-Credflow-Session", "private")); err != nil {
		t.Fatal(err)
	}
	other := e.keyWith("other", adminapi.Policy{})
	oc2 := openai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(other), option.WithMaxRetries(0))
	if _, err := oc2.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{}); !isStatus(err, 404) {
		t.Errorf("another key's response: %v", err)
	}
	_, err = oc2.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-x", PreviousResponseID: openai.String(r1.ID), Input: input("steal")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "previous_response_not_found" {
		t.Errorf("continuing another key's response: %v", err)
	}
	_, err = oc2.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-x", PreviousResponseID: openai.String("resp_never_issued"), Input: input("x")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "previous_response_not_found" {
		t.Errorf("an unknown previous_response_id on an Anthropic model: %v", err)
	}
	if _, err := oc2.Conversations.Get(ctx, conv.ID); !isStatus(err, 404) {
		t.Errorf("another key's conversation: %v", err)
	}
	if _, err := oc2.Conversations.Items.List(ctx, conv.ID, conversationsListParams()); !isStatus(err, 404) {
		t.Errorf("another key's conversation items: %v", err)
	}
	// The other key's session of the same name is its own, empty one.
	status, _, body := e.rawWith(other, "/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"what did I say?"}]}`, "X-Credflow-Session", "private")
	if status != 200 || bytes.Contains(body, []byte("remember me")) {
		t.Errorf("%d %s", status, body)
	}
}

// rawWith posts a body with a given key and extra headers.
func (e *env) rawWith(key, path, body string, headers ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// A Chat Completions client and a Messages client each continue a
// session over three turns by sending only their new turn: the upstream
// gets the whole conversation, tool call and result included; a streamed
// reply is stored like any.
func TestSessionsForChatAndMessages(t *testing.T) {
	e, oa, an := responsesEnv(t)
	ctx := context.Background()
	oa.then(fileAnswer(t, "openai-chat-stream-tools.sse"), chatText("It is 18C in Edinburgh."), chatText("Bye."))
	sess := option.WithHeader("X-Credflow-Session", "weather")
	c := e.openai(e.key)
	// Turn 1, streamed: the model calls tools.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "local-x",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Edinburgh?")}}, sess)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) == 0 {
		t.Fatalf("no tool calls: %+v", acc.Choices)
	}
	// Turn 2: only the tool results.
	var results []openai.ChatCompletionMessageParamUnion
	for _, tc := range calls {
		results = append(results, openai.ToolMessage(`{"temp_c":18}`, tc.ID))
	}
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "local-x", Messages: results}, sess); err != nil {
		t.Fatal(err)
	}
	got := oa.last(t)
	msgs := got["messages"].([]any)
	asst := msgs[1].(map[string]any)
	if len(msgs) != 2+len(calls) || msgs[0].(map[string]any)["content"] != "Weather in Edinburgh?" || len(asst["tool_calls"].([]any)) != len(calls) ||
		msgs[2].(map[string]any)["tool_call_id"] != calls[0].ID {
		t.Fatalf("turn 2, the upstream got %v", msgs)
	}
	// Turn 3: a new question.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "local-x", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Thanks")}}, sess); err != nil {
		t.Fatal(err)
	}
	r := roles(t, oa.last(t))
	if len(r) != 4+len(calls) || r[len(r)-2] != "assistant:It is 18C in Edinburgh." || r[len(r)-1] != "user:Thanks" {
		t.Fatalf("turn 3: %q", r)
	}
	// The event names the session and what history went with the turn.
	if ev := e.lastEvent(); ev.Session != "weather" || ev.ContextTokens <= 0 || ev.Summarized {
		t.Fatalf("turn 3 event: session %q, context tokens %d, summarized %v", ev.Session, ev.ContextTokens, ev.Summarized)
	}

	// Messages: three turns, only the new one sent each time.
	an.then(anthropicText("a1", "Hello Ada."), anthropicText("a2", "You said your name is Ada."), anthropicText("a3", "Goodbye."))
	ac := anthropic.NewClient(aoption.WithBaseURL(e.base), aoption.WithAPIKey(e.key), aoption.WithMaxRetries(0))
	for i, text := range []string{"I am Ada.", "Who am I?", "Bye"} {
		_, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 100, System: []anthropic.TextBlockParam{{Text: "You are kind."}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}}, aoption.WithHeader("X-Credflow-Session", "ada"))
		if err != nil {
			t.Fatal(err)
		}
		if got := roles(t, an.last(t)); len(got) != 2*i+1 {
			t.Fatalf("messages turn %d: %q", i+1, got)
		}
	}
	last := an.last(t)
	if r := roles(t, last); strings.Join(r, "|") != "user:I am Ada.|assistant:Hello Ada.|user:Who am I?|assistant:You said your name is Ada.|user:Bye" || !strings.Contains(fmt.Sprint(last["system"]), "You are kind.") {
		t.Fatalf("messages turn 3: %q %v", r, last["system"])
	}
	// A client that sends the whole conversation each time (Claude Code
	// does) is not sent it twice.
	an.then(anthropicText("a4", "Still here."))
	full := []anthropic.MessageParam{
		anthropic.NewUserMessage(anthropic.NewTextBlock("I am Ada.")), anthropic.NewAssistantMessage(anthropic.NewTextBlock("Hello Ada.")),
		anthropic.NewUserMessage(anthropic.NewTextBlock("Who am I?")), anthropic.NewAssistantMessage(anthropic.NewTextBlock("You said your name is Ada.")),
		anthropic.NewUserMessage(anthropic.NewTextBlock("Bye")), anthropic.NewAssistantMessage(anthropic.NewTextBlock("Goodbye.")),
		anthropic.NewUserMessage(anthropic.NewTextBlock("Are you there?")),
	}
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 100, Messages: full}, aoption.WithHeader("X-Credflow-Session", "ada")); err != nil {
		t.Fatal(err)
	}
	if got := roles(t, an.last(t)); len(got) != 7 {
		t.Fatalf("a full-history client got its history twice: %q", got)
	}
	// A new turn that repeats the session's first is still a new turn.
	an.then(anthropicText("a5", "You told me."))
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 100, System: []anthropic.TextBlockParam{{Text: "You are kind."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("I am Ada."))}}, aoption.WithHeader("X-Credflow-Session", "ada")); err != nil {
		t.Fatal(err)
	}
	if got := roles(t, an.last(t)); len(got) != 9 || got[8] != "user:I am Ada." {
		t.Fatalf("a repeated first turn: %q", got)
	}
	// Bad input: the header on an endpoint that cannot use it.
	status, _, body := e.raw("/v1/embeddings", `{"model":"mock","input":"x"}`, "X-Credflow-Session", "s")
	if status != 400 || !strings.Contains(string(body), "X-Credflow-Session") {
		t.Fatalf("session header on embeddings: %d %s", status, body)
	}
}

// Claude Code sends its whole conversation each time and shares its
// headers with side calls (a title, a summary) under another system
// prompt. With X-Credflow-Session set for it, every upstream request is
// exactly what Claude Code sent, and the session holds the main
// conversation, not the side calls.
func TestSessionWithSideCalls(t *testing.T) {
	e, _, an := responsesEnv(t)
	ctx := context.Background()
	ac := anthropic.NewClient(aoption.WithBaseURL(e.base), aoption.WithAPIKey(e.key), aoption.WithMaxRetries(0))
	sess := aoption.WithHeader("X-Credflow-Session", "cc")
	title := []anthropic.TextBlockParam{{Text: "Generate a concise title for this conversation."}}
	agent := []anthropic.TextBlockParam{{Text: "You are an interactive coding agent."}}
	send := func(system []anthropic.TextBlockParam, msgs ...anthropic.MessageParam) []string {
		t.Helper()
		if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-x", MaxTokens: 100, System: system, Messages: msgs}, sess); err != nil {
			t.Fatal(err)
		}
		return roles(t, an.last(t))
	}
	user := func(s string) anthropic.MessageParam { return anthropic.NewUserMessage(anthropic.NewTextBlock(s)) }
	an.then(anthropicText("t1", "Writing a file"), anthropicText("m1", "Done: wrote x."), anthropicText("m2", "Anything else?"), anthropicText("t2", "File writing"))

	if got := send(title, user("write x")); strings.Join(got, "|") != "user:write x" {
		t.Fatalf("title call: %q", got)
	}
	// The main loop's first request: no title turn put before it.
	if got := send(agent, user("write x")); strings.Join(got, "|") != "user:write x" {
		t.Fatalf("the main loop's first request got the side call's history: %q", got)
	}
	main := []anthropic.MessageParam{user("write x"), anthropic.NewAssistantMessage(anthropic.NewTextBlock("Done: wrote x.")), user("thanks")}
	if got := send(agent, main...); len(got) != 3 {
		t.Fatalf("main loop turn 2: %q", got)
	}
	// A side call later in the conversation goes as it is and is not stored.
	if got := send(title, user("write x")); strings.Join(got, "|") != "user:write x" {
		t.Fatalf("a late side call got the session's history: %q", got)
	}
	st, err := e.srv.ContextStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, items, err := st.Get(session.KindSession, "test", "cc")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, it := range items {
		texts = append(texts, string(it.Role)+":"+it.Text())
	}
	if want := "user:write x|assistant:Done: wrote x.|user:thanks|assistant:Anything else?"; strings.Join(texts, "|") != want {
		t.Fatalf("the session holds %q, want the main conversation %q", texts, want)
	}
	// A client that sends only its new turns keeps one system prompt: its
	// history is put before each turn (TestSessionsForChatAndMessages).
}

// A distinctive sentence sent in a session, a conversation and a stored
// response is in no file under the data directory.
func TestNoPlaintextUnderDataDir(t *testing.T) {
	e, _, _ := responsesEnv(t)
	ctx := context.Background()
	const secret = "The ochre walrus negotiates treaties on Tuesdays"
	oa1 := e.openai(e.key)
	if _, err := oa1.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(secret)}},
		option.WithHeader("X-Credflow-Session", "zoo")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "mock", Input: input(secret)}); err != nil {
		t.Fatal(err)
	}
	e.restart() // everything written and closed
	filepath.Walk(e.dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte("ochre walrus")) {
			t.Errorf("%s holds the conversation in the clear", p)
		}
		// A session's name is a label the usage ledger reports by (like a
		// key's name); the context file keeps only a keyed hash of it.
		if filepath.Base(p) == "context.db" && bytes.Contains(data, []byte("zoo")) {
			t.Errorf("%s holds the session's name in the clear", p)
		}
		return nil
	})
}

func openaiConvParams(text string) conversations.ConversationNewParams {
	return conversations.ConversationNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)}}
}

func conversationsListParams() conversations.ItemListParams { return conversations.ItemListParams{} }

// The Conversations API end to end with the official client, and a
// Responses request that continues a conversation on a non-OpenAI model.
func TestConversationsCRUDAndResponses(t *testing.T) {
	e, _, an := responsesEnv(t)
	ctx := context.Background()
	oc := openai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
	params := openaiConvParams("You are a pirate.")
	params.Items[0].OfMessage.Role = responses.EasyInputMessageRoleSystem
	params.Metadata = map[string]string{"topic": "test"}
	conv, err := oc.Conversations.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conv.ID, "conv_") || !strings.Contains(conv.RawJSON(), `"topic":"test"`) || conv.CreatedAt == 0 {
		t.Fatalf("%s", conv.RawJSON())
	}
	got, err := oc.Conversations.Get(ctx, conv.ID)
	if err != nil || got.ID != conv.ID {
		t.Fatalf("%v %s", err, got.RawJSON())
	}
	upd, err := oc.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: map[string]string{"topic": "updated"}})
	if err != nil || !strings.Contains(upd.RawJSON(), `"topic":"updated"`) {
		t.Fatalf("update: %v %s", err, upd.RawJSON())
	}
	added, err := oc.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("Ahoy?", responses.EasyInputMessageRoleUser)}})
	if err != nil || len(added.Data) != 1 || added.Data[0].ID == "" {
		t.Fatalf("add items: %v %s", err, added.RawJSON())
	}
	item, err := oc.Conversations.Items.Get(ctx, conv.ID, added.Data[0].ID, conversations.ItemGetParams{})
	if err != nil || item.ID != added.Data[0].ID {
		t.Fatalf("get item: %v %s", err, item.RawJSON())
	}
	// A response in the conversation: the upstream gets it all, and the
	// conversation gets the turn.
	an.then(anthropicText("m1", "Arr, ahoy!"))
	resp, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", Input: input("Say hello."),
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	body := an.last(t)
	// Anthropic wants turns to alternate: the two user items are one turn.
	if r := roles(t, body); body["system"] != "You are a pirate." || strings.Join(r, "|") != "user:Ahoy?Say hello." {
		t.Fatalf("the upstream got system %v, %q", body["system"], r)
	}
	if resp.Conversation.ID != conv.ID {
		t.Errorf("the response does not name its conversation: %s", resp.RawJSON())
	}
	page, err := oc.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc})
	if err != nil || len(page.Data) != 4 || page.Data[3].Role != "assistant" || strings.Join(itemTexts(t, page.Data[3].RawJSON()), "") != "Arr, ahoy!" {
		t.Fatalf("items after the response: %v %s", err, page.RawJSON())
	}
	// Continuing that response continues the conversation.
	an.then(anthropicText("m2", "Aye."))
	if _, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "claude-x", PreviousResponseID: openai.String(resp.ID), Input: input("Again?")}); err != nil {
		t.Fatal(err)
	}
	if r := roles(t, an.last(t)); strings.Join(r, "|") != "user:Ahoy?Say hello.|assistant:Arr, ahoy!|user:Again?" {
		t.Fatalf("continuing a response of a conversation: %q", r)
	}
	if _, err := oc.Conversations.Items.Delete(ctx, conv.ID, added.Data[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Conversations.Items.Get(ctx, conv.ID, added.Data[0].ID, conversations.ItemGetParams{}); !isStatus(err, 404) {
		t.Errorf("a deleted item: %v", err)
	}
	if _, err := oc.Conversations.Delete(ctx, conv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Conversations.Get(ctx, conv.ID); !isStatus(err, 404) {
		t.Errorf("a deleted conversation: %v", err)
	}
}

// itemTexts reads the texts of a listed item's content.
func itemTexts(t *testing.T, raw string) []string {
	var it struct {
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	var out []string
	for _, c := range it.Content {
		out = append(out, c.Text)
	}
	return out
}

// A session longer than the model's context window is fitted by its
// policy: window keeps the newest turns; relevance keeps an older turn
// about the question; summarize folds the older turns into a summary
// written by the summarizer model, and when that fails falls back to
// window (logged) without losing a stored turn.
func TestSessionFittingPolicies(t *testing.T) {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 15) // ~100 tokens
	run := func(t *testing.T, policy string, summarizer *scripted) (*env, *scripted, *logBuffer) {
		oa := &scripted{}
		cfg := strings.ReplaceAll(`
context:
  policy: POLICY
  summarizer: summ-model
providers:
  chat:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
  summ:
    type: openai-compatible
    base_url: SUMM/v1
routes:
  - model: small
    targets: [chat]
  - model: summ-model
    targets: [summ]
prices:
  chat/small: {input: "0", output: "0", context: 2000}
  summ/summ-model: {input: "0", output: "0", context: 100000}
`, "POLICY", policy)
		sumURL := "http://127.0.0.1:9"
		if summarizer != nil {
			sumURL = summarizer.serve(t).URL
		}
		cfg = strings.ReplaceAll(cfg, "SUMM", sumURL)
		e := startGateway(t, cfg, oa.serve(t), nil)
		logs := e.logs
		c := e.openai(e.key)
		for i := 0; i < 30; i++ {
			oa.then(chatText(fmt.Sprintf("ok %d", i)))
			q := fmt.Sprintf("turn %d: %s", i, filler)
			if i == 3 {
				q = "turn 3: my zebra is called Zed. " + filler
			}
			if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "small", MaxTokens: openai.Int(200),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(q)}}, option.WithHeader("X-Credflow-Session", "long")); err != nil {
				t.Fatal(err)
			}
		}
		oa.then(chatText("Zed"))
		if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "small", MaxTokens: openai.Int(200),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is my zebra called?")}}, option.WithHeader("X-Credflow-Session", "long")); err != nil {
			t.Fatal(err)
		}
		return e, oa, logs
	}
	sent := func(t *testing.T, oa *scripted) (string, []string) {
		r := roles(t, oa.last(t))
		return strings.Join(r, "\n"), r
	}
	t.Run("window", func(t *testing.T) {
		e, oa, _ := run(t, "window", nil)
		all, r := sent(t, oa)
		if len(r) >= 61 || len(r) < 5 || strings.Contains(all, "turn 0:") || !strings.Contains(all, "turn 29:") || r[len(r)-1] != "user:What is my zebra called?" {
			t.Fatalf("window sent %d messages:\n%s", len(r), all)
		}
		if ev := e.lastEvent(); ev.Session != "long" || ev.ContextWindow != 2000 || ev.ContextTokens <= 0 || ev.ContextTokens > 2000 || ev.Summarized {
			t.Fatalf("event: session %q, context %d of %d, summarized %v", ev.Session, ev.ContextTokens, ev.ContextWindow, ev.Summarized)
		}
	})
	t.Run("relevance", func(t *testing.T) {
		_, oa, _ := run(t, "relevance", nil)
		all, r := sent(t, oa)
		if !strings.Contains(all, "zebra is called Zed") || strings.Contains(all, "turn 0:") || len(r) >= 61 {
			t.Fatalf("relevance did not keep the turn about the zebra:\n%s", all)
		}
	})
	t.Run("summarize", func(t *testing.T) {
		summ := &scripted{}
		for range 40 {
			summ.then(chatText("SUMMARY: the user's zebra is called Zed."))
		}
		e, oa, _ := run(t, "summarize", summ)
		all, _ := sent(t, oa)
		if !strings.Contains(all, "SUMMARY: the user's zebra is called Zed.") || strings.Contains(all, "turn 0:") {
			t.Fatalf("no summary in what was sent:\n%s", all)
		}
		// The summarizer first saw the oldest turns, then (incrementally)
		// only the turns that fell out since, with the summary so far; its
		// calls are the key's.
		if p := string(summ.bodies[0]); !strings.Contains(p, "turn 0:") {
			t.Fatalf("first summarizer prompt: %.300s", p)
		}
		if p := string(summ.bodies[len(summ.bodies)-1]); len(summ.bodies) < 2 || strings.Contains(p, "turn 0:") || !strings.Contains(p, "SUMMARY: the user") {
			t.Fatalf("%d summarizer calls; the last prompt: %.300s", len(summ.bodies), p)
		}
		found := false
		var last adminapi.Event
		for _, ev := range e.allEvents() {
			found = found || ev.Endpoint == "context/summarize" && ev.Key == "test"
			if ev.Session == "long" {
				last = ev
			}
		}
		if !found {
			t.Error("the summarizer's request is not accounted to the key")
		}
		if !last.Summarized {
			t.Errorf("the last turn's event does not say it was summarized: %+v", last)
		}
	})
	t.Run("summarizer fails", func(t *testing.T) {
		summ := &scripted{} // no answers: every call is a 500
		e, oa, logs := run(t, "summarize", summ)
		all, _ := sent(t, oa)
		if strings.Contains(all, "turn 0:") || !strings.Contains(logs.String(), "the summarizer failed") {
			t.Fatalf("no window fallback, or no warning:\n%s\n%s", all, logs.String())
		}
		// Nothing stored was lost: with a larger window every turn goes.
		e.setConfig(strings.ReplaceAll(e.cfgText, "context: 2000", "context: 100000"))
		oa.then(chatText("still Zed"))
		c := e.openai(e.key)
		if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "small",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("and now?")}}, option.WithHeader("X-Credflow-Session", "long")); err != nil {
			t.Fatal(err)
		}
		if all, r := sent(t, oa); !strings.Contains(all, "turn 0:") || len(r) != 2*31+1 {
			t.Fatalf("after the failure, %d messages:\n%s", len(r), all)
		}
	})
}

// logBuffer collects the gateway's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// The mock speaks the Responses API but keeps nothing: a chain on it is
// assembled by credflow, streamed turns included.
func TestResponsesChainOnMockStreamed(t *testing.T) {
	e, _, _ := responsesEnv(t)
	ctx := context.Background()
	var prev string
	var first int64
	for i, text := range []string{"one", "two", "three"} {
		params := responses.ResponseNewParams{Model: "mock", Input: input(text)}
		if prev != "" {
			params.PreviousResponseID = openai.String(prev)
		}
		stream := e.responses().NewStreaming(ctx, params)
		var final responses.Response
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "response.completed" {
				final = ev.Response
			}
		}
		if stream.Err() != nil || final.OutputText() != text {
			t.Fatalf("turn %d: %v %s", i, stream.Err(), final.RawJSON())
		}
		// The mock counts the prompt it got: it grows with the history.
		ev := e.lastEvent()
		if i == 0 {
			first = ev.InputTokens
		} else if ev.InputTokens <= first {
			t.Fatalf("turn %d: the mock got no history (%d input tokens, %d on the first turn)", i, ev.InputTokens, first)
		}
		prev = final.ID
	}
	page := e.responses().InputItems.ListAutoPaging(ctx, prev, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
	var texts []string
	for page.Next() {
		texts = append(texts, itemTexts(t, page.Current().RawJSON())...)
	}
	if strings.Join(texts, "|") != "one|one|two|two|three" {
		t.Fatalf("input_items of the third turn: %q (%v)", texts, page.Err())
	}
}

// truncation "disabled" (OpenAI's default) refuses a history over the
// model's window with OpenAI's error; "auto" drops the oldest turns.
func TestResponsesTruncation(t *testing.T) {
	oa := &scripted{}
	e := startGateway(t, `
providers:
  chat:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
routes:
  - model: small
    targets: [chat]
prices:
  chat/small: {input: "0", output: "0", context: 1500}
`, oa.serve(t), nil)
	ctx := context.Background()
	long := strings.Repeat("word ", 1000) // ~1250 tokens
	oa.then(chatText("first"))
	r1, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "small", Input: input(long), MaxOutputTokens: openai.Int(100)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.responses().New(ctx, responses.ResponseNewParams{Model: "small", Input: input(long), PreviousResponseID: openai.String(r1.ID), MaxOutputTokens: openai.Int(100)})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "context_length_exceeded" {
		t.Fatalf("an input over the window: %v", err)
	}
	oa.then(chatText("second"))
	if _, err := e.responses().New(ctx, responses.ResponseNewParams{Model: "small", Input: input(long), PreviousResponseID: openai.String(r1.ID),
		MaxOutputTokens: openai.Int(100), Truncation: responses.ResponseNewParamsTruncationAuto}); err != nil {
		t.Fatal(err)
	}
	if r := roles(t, oa.last(t)); len(r) != 1 {
		t.Fatalf("truncation auto sent %d messages", len(r))
	}
}

// Without a vault to hold the data key, stateful requests get an error
// that names the fix; stateless ones are served.
func TestStatefulWithoutVault(t *testing.T) {
	// No provider needs a key: the gateway starts without a vault.
	oa := &scripted{}
	oa.then(chatText("hello"))
	e := startGateway(t, `
providers:
  mock:
    type: mock
  chat:
    type: openai-compatible
    base_url: {{OPENAI}}/v1
routes:
  - model: "local-*"
    targets: [chat]
  - model: "*"
    targets: [mock]
`, oa.serve(t), nil)
	e.opts.OpenVault = func(context.Context) (*vault.Vault, func(), error) {
		return nil, nil, fmt.Errorf("%w: no Secret Service answers", vault.ErrUnavailable)
	}
	e.restart()
	status, _, body := e.raw("/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"hi"}]}`, "X-Credflow-Session", "s")
	if status != 503 || !strings.Contains(string(body), "credflow init --backend file") {
		t.Fatalf("a session request without a vault: %d %s", status, body)
	}
	if status, _, body := e.raw("/v1/chat/completions", `{"model":"mock","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("a stateless request without a vault: %d %s", status, body)
	}
	// A Responses request stores by default; without a vault it is
	// answered, unstored, and says so.
	status, _, body = e.raw("/v1/responses", `{"model":"local-x","input":"hi"}`)
	if status != 200 || !strings.Contains(string(body), `"store":false`) {
		t.Fatalf("a default Responses request without a vault: %d %s", status, body)
	}
}
