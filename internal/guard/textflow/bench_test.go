package textflow

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/credflow/credflow/pkg/llmapi"
)

// chatBody makes a Chat Completions request of about size bytes: a system
// prompt, turns of prose, a tool. With newlines, the strings hold escapes.
func chatBody(size int, newlines bool) []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while credflow relays " +
		"every request to the upstream provider and counts tokens for the ledger of this session")
	para := func(n, seed int) string {
		var b strings.Builder
		for k := 0; b.Len() < n; k++ {
			if k > 0 {
				if newlines && k%17 == 0 {
					b.WriteString("\n")
				} else {
					b.WriteString(" ")
				}
			}
			b.WriteString(words[(k*7+seed)%len(words)])
		}
		return b.String()
	}
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	req := map[string]any{"model": "gpt-4o", "stream": true, "temperature": 0.2}
	msgs := []msg{{"system", para(2000, 1)}}
	for k := 0; ; k++ {
		role := "user"
		if k%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, msg{role, para(600+k*37%400, k)})
		req["messages"] = msgs
		if b, _ := json.Marshal(req); len(b) >= size {
			break
		}
	}
	req["tools"] = []any{map[string]any{"type": "function", "function": map[string]any{
		"name": "get_weather", "description": "Gets the weather",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"location": map[string]any{"type": "string", "description": "City"}}, "required": []string{"location"}},
	}}}
	b, _ := json.Marshal(req)
	return b
}

func BenchmarkStrings32K(b *testing.B) {
	for _, nl := range []bool{false, true} {
		body := chatBody(32<<10, nl)
		b.Run(fmt.Sprintf("escapes=%v", nl), func(b *testing.B) {
			n := 0
			fn := func(key string, text []byte) bool { n += len(text); return true }
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Strings(body, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRewrite32KUnchanged(b *testing.B) {
	body := chatBody(32<<10, false)
	r := NewRestorer(testMap)
	fn := func(_ string, text []byte) ([]byte, bool) {
		if r.QuickBytes(text) {
			return nil, false
		}
		return []byte(r.Replace(string(text))), true
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rewrite(body, fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamEvent(b *testing.B) {
	cases := []struct {
		name string
		f    Format
		warm string // an event that makes the slot exist (text held, then released)
		data string
	}{
		{"chat", Chat, "",
			`{"id":"chatcmpl-PLACEHOLDER0003XXXXXXXXXXXXXX","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,"delta":{"content":" unable"},"logprobs":null,"finish_reason":null}]}`},
		{"chat-slot", Chat,
			`{"id":"chatcmpl-PLACEHOLDER0003XXXXXXXXXXXXXX","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,"delta":{"content":"[EMAIL_1] "},"logprobs":null,"finish_reason":null}]}`,
			`{"id":"chatcmpl-PLACEHOLDER0003XXXXXXXXXXXXXX","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,"delta":{"content":" unable"},"logprobs":null,"finish_reason":null}]}`},
		{"messages", Messages, "",
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" currently"}}`},
		{"responses", Responses, "",
			`{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_PLACEHOLDER0002XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","output_index":0,"content_index":0,"delta":" How","logprobs":[],"obfuscation":"NAySC1S9hV3s"}`},
	}
	for _, v := range variants[:2] {
		for _, c := range cases {
			benchEvent(b, v, c.name, c.f, c.warm, c.data)
		}
	}
}

// benchEvent times Stream.Event on one event that needs no change; variant
// "restorer" takes the whole-event fast path, "quick" reads the event.
func benchEvent(b *testing.B, v variant, name string, f Format, warm, data string) {
	b.Run(v.name+"/"+name, func(b *testing.B) {
		base := NewRestorer(testMap)
		s := NewStream(f, func() Transformer { return v.wrap(base.Fork()) })
		n := 0
		emit := func(llmapi.Event) error { n++; return nil }
		if warm != "" {
			_ = s.Event(llmapi.Event{Data: []byte(warm)}, emit)
			if len(s.slots) == 0 {
				b.Fatal("warm-up made no slot")
			}
		}
		ev := llmapi.Event{Data: []byte(data)}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Event(ev, emit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRestorerWrite(b *testing.B) {
	r := NewRestorer(testMap)
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !r.Quick(" the weather in San Francisco") {
				b.Fatal("not quick")
			}
		}
	})
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Write("mail [EMA")
			_ = r.Write("IL_1] now")
		}
	})
}
