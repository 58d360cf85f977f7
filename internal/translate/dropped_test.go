package translate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/credflow/credflow/pkg/llmapi"
)

func TestSummarizeDropped(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"context_management"}, "context_management"},
		{[]string{"context_management", "system[1].cache_control", "context_management"}, "context_management, system[1].cache_control"},
		{[]string{"system[1].cache_control", "system[2].cache_control", "messages[0].content[9].cache_control"},
			"system[*].cache_control, messages[0].content[9].cache_control"},
		{[]string{"messages[0].content[1].cache_control", "thinking", "messages[3].content[0].cache_control", "messages[3].content[0].content[1].cache_control"},
			"messages[*].content[*].cache_control, thinking, messages[3].content[0].content[1].cache_control"},
		{[]string{"a[x].b", "a[x].b"}, "a[x].b"},
	} {
		if got := SummarizeDropped(c.in); got != c.want {
			t.Errorf("SummarizeDropped(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	var many []string
	for _, f := range "abcdefghijklmnop" {
		many = append(many, string(f))
	}
	if got := SummarizeDropped(many); !strings.HasSuffix(got, ", l, and 4 more") || strings.Count(got, ",") != 12 {
		t.Errorf("16 paths: %q", got)
	}
}

// The first request of Claude Code 2.1.328, as recorded: every field that
// is only a hint is dropped and named, and nothing else.
func TestClaudeCodeRequestToOpenAI(t *testing.T) {
	body := input(t, "wire/anthropic-request-claude-code-2.1.328.json")
	for _, c := range []struct {
		reasoning bool
		want      string
	}{
		{true, "context_management, system[*].cache_control, messages[0].content[9].cache_control, tools[10].defer_loading, thinking.display"},
		{false, "context_management, system[*].cache_control, messages[0].content[9].cache_control, tools[10].defer_loading, thinking"},
	} {
		var dropped []string
		out, err := AnthropicRequestToOpenAI(body, Options{Model: "gpt-x", Reasoning: c.reasoning, Dropped: &dropped})
		if err != nil {
			t.Fatal(err)
		}
		if got := SummarizeDropped(dropped); got != c.want {
			t.Errorf("reasoning %v: dropped %q, want %q", c.reasoning, got, c.want)
		}
		for _, leak := range []string{"context_management", "cache_control", "display", "defer_loading", "thinking"} {
			if bytes.Contains(out, []byte(`"`+leak+`"`)) {
				t.Errorf("reasoning %v: %q reached the OpenAI request", c.reasoning, leak)
			}
		}
		var r llmapi.ChatRequest
		json.Unmarshal(out, &r)
		if want := map[bool]string{true: "high", false: ""}[c.reasoning]; r.ReasoningEffort != want {
			t.Errorf("reasoning %v: reasoning_effort %q, want %q", c.reasoning, r.ReasoningEffort, want)
		}
		if len(r.Tools) != 12 || r.Messages[0].Role != "system" || r.User == "" {
			t.Errorf("reasoning %v: translated %d tools, first role %q, user %q", c.reasoning, len(r.Tools), r.Messages[0].Role, r.User)
		}
	}
	// A strict route refuses the first hint, naming it.
	_, err := AnthropicRequestToOpenAI(body, Options{Strict: true, Reasoning: true})
	check400(t, err, "context_management")
	if !strings.Contains(err.Error(), `translate: strict`) {
		t.Errorf("strict refusal does not say how to fix it: %v", err)
	}
}

// Each Anthropic hint is dropped and named, or refused under Strict.
func TestAnthropicHints(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct{ body, path string }{
		{`"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},` + msgs, "context_management"},
		{`"service_tier":"standard_only",` + msgs, "service_tier"},
		{`"metadata":{"user_id":"u","tenant":"t"},` + msgs, "metadata.tenant"},
		{`"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],` + msgs, "system[0].cache_control"},
		{`"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"url","url":"https://x/a.png"},"cache_control":{"type":"ephemeral"}}]}]`, "messages[0].content[1].cache_control"},
		{`"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{},"cache_control":{"type":"ephemeral"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}]`, "messages[0].content[0].cache_control"},
		{`"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]}]`, "messages[0].content[0].content[0].cache_control"},
		{`"messages":[{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}]`, "messages[0].content[0].cache_control"},
		{`"tools":[{"name":"f","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],` + msgs, "tools[0].cache_control"},
		{`"tools":[{"name":"f","input_schema":{"type":"object"},"defer_loading":true}],` + msgs, "tools[0].defer_loading"},
		{`"thinking":{"type":"enabled","budget_tokens":2048,"display":"summarized"},` + msgs, "thinking.display"},
		{`"thinking":{"type":"enabled","budget_tokens":2048},` + msgs, ""},
	} {
		body := []byte(`{"model":"m","max_tokens":10,` + c.body + `}`)
		var dropped []string
		_, err := AnthropicRequestToOpenAI(body, Options{Reasoning: true, Dropped: &dropped})
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if len(dropped) == 0 && c.path == "" {
			continue
		}
		if len(dropped) != 1 || dropped[0] != c.path {
			t.Errorf("%s: dropped %q, want [%s]", c.body, dropped, c.path)
		}
		_, err = AnthropicRequestToOpenAI(body, Options{Reasoning: true, Strict: true})
		check400(t, err, c.path)
	}
}

// Each OpenAI hint is dropped and named, or refused under Strict.
func TestOpenAIHints(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct{ body, path string }{
		{msgs + `,"prompt_cache_key":"k"`, "prompt_cache_key"},
		{msgs + `,"prompt_cache_retention":"24h"`, "prompt_cache_retention"},
		{msgs + `,"metadata":{"a":"b"}`, "metadata"},
		{msgs + `,"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}`, "stream_options.include_obfuscation"},
		{msgs + `,"service_tier":"auto"`, "service_tier"},
		{msgs + `,"verbosity":"medium"`, "verbosity"},
		{`"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"high"}}]}]`, "messages[0].content[0].image_url.detail"},
		{`"messages":[{"role":"user","name":"alice","content":"hi"}]`, "messages[0].name"},
		{msgs + `,"stream":true,"stream_options":{"include_usage":true}`, ""},
		{`"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"auto"}}]}]`, ""},
	} {
		body := []byte(`{"model":"m",` + c.body + `}`)
		var dropped []string
		if _, err := OpenAIRequestToAnthropic(body, Options{Dropped: &dropped}); err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if c.path == "" {
			if len(dropped) != 0 {
				t.Errorf("%s: dropped %q, want nothing", c.body, dropped)
			}
			continue
		}
		if len(dropped) != 1 || dropped[0] != c.path {
			t.Errorf("%s: dropped %q, want [%s]", c.body, dropped, c.path)
		}
		_, err := OpenAIRequestToAnthropic(body, Options{Strict: true})
		check400(t, err, c.path)
	}
}

// A message's name has no place in Anthropic's format: it is dropped and
// named, and the text is sent as written (no "alice: " prefix).
func TestMessageNameDropped(t *testing.T) {
	var dropped []string
	out, err := OpenAIRequestToAnthropic([]byte(`{"model":"m","messages":[
		{"role":"system","name":"rules","content":"Be brief."},
		{"role":"user","name":"alice","content":"hi"},
		{"role":"assistant","name":"bot","content":"hello"},
		{"role":"user","content":"bye"}]}`), Options{Dropped: &dropped})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","max_tokens":4096,"system":"Be brief.","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if got := SummarizeDropped(dropped); got != "messages[*].name" {
		t.Errorf("dropped %q", got)
	}
}

// A system message among an Anthropic request's messages (Claude Code
// sends one for model names it does not know) becomes an OpenAI system
// message in place.
func TestAnthropicSystemMessageInPlace(t *testing.T) {
	out, err := AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":5,"system":"first","messages":[
		{"role":"user","content":"hi"},
		{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
		{"role":"user","content":"again"}]}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","messages":[{"role":"system","content":"first"},{"role":"user","content":"hi"},{"role":"system","content":"a\n\nb"},{"role":"user","content":"again"}],"max_completion_tokens":5}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	_, err = AnthropicRequestToOpenAI([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"system","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`), Options{})
	check400(t, err, "messages[0].content[0].type")
}
