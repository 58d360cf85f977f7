package route

import (
	"errors"
	"reflect"
	"testing"

	"github.com/credflow/credflow/internal/config"
)

func TestResolve(t *testing.T) {
	providers := map[string]config.Provider{"openai": {}, "anthropic": {}, "groq": {}, "mock": {}}
	tbl, err := New([]config.Route{
		{Model: "fast", Targets: []string{"groq/llama-3.1-8b-instant", "openai/gpt-4o-mini"}},
		{Model: "claude-*", Targets: []string{"anthropic"}},
		{Model: "gpt-*", Targets: []string{"openai"}, Translate: config.TranslateStrict},
		{Model: "*", Targets: []string{"mock"}},
		{Model: "gpt-4o", Targets: []string{"mock/echo"}}, // exact beats the earlier glob
	}, providers)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]Target{
		"fast":              {{"groq", "llama-3.1-8b-instant", false}, {"openai", "gpt-4o-mini", false}},
		"claude-sonnet-4-5": {{"anthropic", "claude-sonnet-4-5", false}},
		"gpt-4.1":           {{"openai", "gpt-4.1", true}},
		"gpt-4o":            {{"mock", "echo", false}},
		"openai/o3":         {{"openai", "o3", false}},       // provider/model names no route: not strict
		"meta/llama":        {{"mock", "meta/llama", false}}, // "meta" is no provider: falls to the glob
		"anything":          {{"mock", "anything", false}},
	}
	for model, want := range cases {
		got, err := tbl.Resolve(model)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", model, got, err, want)
		}
	}
}

func TestUnknown(t *testing.T) {
	tbl, _ := New([]config.Route{{Model: "mock*", Targets: []string{"mock"}}}, map[string]config.Provider{"mock": {}})
	_, err := tbl.Resolve("gpt-4o")
	var ue *ErrUnknownModel
	if !errors.As(err, &ue) || ue.Model != "gpt-4o" || !reflect.DeepEqual(ue.Known, []string{"mock*"}) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New([]config.Route{{Model: "x", Targets: []string{"nope"}}}, nil); err == nil {
		t.Fatal("unknown provider accepted")
	}
}
