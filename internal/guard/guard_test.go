package guard

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/guard/detect"
)

func rules(t testing.TB, action string, names ...string) []config.Guardrail {
	var specs []detect.Spec
	for _, n := range names {
		specs = append(specs, detect.Spec{Builtin: n})
	}
	set, err := detect.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	return []config.Guardrail{{Name: "r", Action: action, Compiled: set, VaultSecrets: true, VirtualKeys: true}}
}

func secrets(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 20+i%100)
		rand.Read(b)
		out[i] = []byte("sk-" + base64.RawURLEncoding.EncodeToString(b))
	}
	return out
}

// chatBody is a 32 KB chat request of prose and code.
func chatBody(tb testing.TB) []byte {
	prose := "The gateway forwards each request to the provider the route names, counting tokens as the stream goes by. "
	code := "func (s *Server) serve(w http.ResponseWriter, r *http.Request) {\n\tif err := s.check(r); err != nil {\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	for b.Len() < 31*1024 {
		b.WriteString(prose)
		b.WriteString(code)
	}
	body, _ := json.Marshal(map[string]any{"model": "gpt-x", "messages": []map[string]string{
		{"role": "system", "content": "You are a careful reviewer."}, {"role": "user", "content": b.String()}}})
	return body
}

// The tokenize action and its restoring: the same value gets the same
// placeholder, arguments get JSON-escaped originals.
func TestTokenizeAndRestore(t *testing.T) {
	e := New(rules(t, config.ActionTokenize, "email"), Options{})
	p := e.Begin(context.Background(), "k", "m", nil)
	body := []byte(`{"messages":[{"role":"user","content":"a@example.com and a@example.com, b@example.org"}]}`)
	out, blk, err := p.Request(body)
	if err != nil || blk != nil {
		t.Fatal(err, blk)
	}
	if string(out) != `{"messages":[{"role":"user","content":"[EMAIL_1] and [EMAIL_1], [EMAIL_2]"}]}` {
		t.Fatalf("tokenized %s", out)
	}
	reply, blk := p.ReplyBody([]byte(`{"choices":[{"message":{"content":"to [EMAIL_2]","tool_calls":[{"function":{"arguments":"{\"to\":\"[EMAIL_1]\"}"}}]}}]}`))
	if blk != nil || string(reply) != `{"choices":[{"message":{"content":"to b@example.org","tool_calls":[{"function":{"arguments":"{\"to\":\"a@example.com\"}"}}]}}]}` {
		t.Fatalf("restored %s", reply)
	}
	if h := p.Hits(); len(h) != 1 || h[0].Count != 3 || h[0].Detector != "email" {
		t.Fatalf("hits %+v", h)
	}
}

// Scoping: keys and models globs, optional rules only when required.
func TestRuleScope(t *testing.T) {
	r := rules(t, config.ActionMask, "email")
	r[0].Keys, r[0].Models = []string{"intern*"}, []string{"gpt-*"}
	e := New(r, Options{})
	if e.Begin(context.Background(), "intern-1", "gpt-5", nil) == nil || e.Begin(context.Background(), "boss", "gpt-5", nil) != nil || e.Begin(context.Background(), "intern", "claude-x", nil) != nil {
		t.Fatal("scope globs")
	}
	r[0].Optional, r[0].Keys = true, nil
	e = New(r, Options{})
	if e.Begin(context.Background(), "k", "gpt-5", nil) != nil || e.Begin(context.Background(), "k", "claude", []string{"r"}) == nil {
		t.Fatal("optional rules")
	}
}

// BenchmarkRequest32K: every built-in detector, 200 vault secrets and the
// virtual-key check over a 32 KB chat request, JSON walk included: the
// guard stage's whole cost for a large prompt (target: 200 µs).
func BenchmarkRequest32K(b *testing.B) {
	var names []string
	for _, i := range detect.Builtins() {
		names = append(names, i.Name)
	}
	e := New(rules(b, config.ActionLog, names...), Options{Secrets: secrets(200)})
	body := chatBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p := e.Begin(context.Background(), "k", "m", nil)
		if _, blk, err := p.Request(body); err != nil || blk != nil {
			b.Fatal(err, blk)
		}
	}
}

// BenchmarkRequestDefault300: the default credentials rule on an ordinary
// chat request, the cost every request pays when no guardrails are set.
func BenchmarkRequestDefault300(b *testing.B) {
	e := New(config.DefaultGuardrails(), Options{Secrets: secrets(20)})
	body := []byte(`{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today? Please summarise the attached notes in three bullet points."}],"temperature":0.2}`)
	b.ReportAllocs()
	for b.Loop() {
		p := e.Begin(context.Background(), "k", "m", nil)
		if _, blk, err := p.Request(body); err != nil || blk != nil {
			b.Fatal(err, blk)
		}
	}
}
