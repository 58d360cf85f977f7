package textflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type visit struct{ key, text string }

func collect(t *testing.T, raw string) []visit {
	t.Helper()
	var got []visit
	if err := Strings([]byte(raw), func(key string, text []byte) bool {
		got = append(got, visit{key, string(text)})
		return true
	}); err != nil {
		t.Fatalf("Strings(%s): %v", raw, err)
	}
	return got
}

func TestStringsOrderAndKeys(t *testing.T) {
	raw := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},` +
		`{"role":"assistant","content":[{"type":"text","text":"yo"}]}],` +
		`"stop":["a",["b",{"x":"c"}],"d"],"n":1,"ok":true,"nil":null,"o":{"deep":{"k":"v"}}}`
	want := []visit{
		{"model", "gpt-4o"},
		{"role", "user"}, {"content", "hi"},
		{"role", "assistant"}, {"type", "text"}, {"text", "yo"},
		{"stop", "a"}, {"stop", "b"}, {"x", "c"}, {"stop", "d"},
		{"k", "v"},
	}
	if got := collect(t, raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := collect(t, ` "top" `); !reflect.DeepEqual(got, []visit{{"", "top"}}) {
		t.Fatalf("top-level string: %q", got)
	}
	if got := collect(t, `["a",{"k":"b"},"c"]`); !reflect.DeepEqual(got, []visit{{"", "a"}, {"k", "b"}, {"", "c"}}) {
		t.Fatalf("top-level array: %q", got)
	}
	// Member names are never visited, even when they look like values.
	if got := collect(t, `{"secret@example.com":1,"a":{"b@c":{}}}`); len(got) != 0 {
		t.Fatalf("keys visited: %q", got)
	}
}

func TestStringsEscapes(t *testing.T) {
	raw := `{"a":"line\nbreak","b":"q\"uote","c":"back\\slash","d":"\u00e9t\u00C9","e":"\ud83d\ude00!",` +
		`"f":"a\/b","g":"\b\f\r\t","h":"lone \ud800 x","i":"hi \udc00\ud800","j":"\ud83d\u0041",` +
		`"k\u0065y":"esc key","l":"raw é 😀"}`
	want := []visit{
		{"a", "line\nbreak"}, {"b", `q"uote`}, {"c", `back\slash`}, {"d", "étÉ"}, {"e", "😀!"},
		{"f", "a/b"}, {"g", "\b\f\r\t"}, {"h", "lone \uFFFD x"}, {"i", "hi \uFFFD\uFFFD"}, {"j", "\uFFFDA"},
		{"key", "esc key"}, {"l", "raw é 😀"},
	}
	got := collect(t, raw)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// The same as encoding/json.
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if m[v.key] != v.text {
			t.Errorf("%s: %q, encoding/json %q", v.key, v.text, m[v.key])
		}
	}
}

func TestStringsAliasAndStop(t *testing.T) {
	raw := []byte(`{"a":"plain","b":"esc\n","c":"never"}`)
	n := 0
	err := Strings(raw, func(key string, text []byte) bool {
		n++
		switch key {
		case "a":
			if &text[0] != &raw[6] {
				t.Error("escape-free text does not alias raw")
			}
		case "b":
			if string(text) != "esc\n" {
				t.Errorf("b = %q", text)
			}
			return false
		}
		return true
	})
	if err != nil || n != 2 {
		t.Fatalf("stop: n=%d err=%v", n, err)
	}
	// Stopping early does not look at the (malformed) rest.
	if err := Strings([]byte(`["a", nope`), func(string, []byte) bool { return false }); err != nil {
		t.Fatalf("stopped walk reported %v", err)
	}
}

func TestStringsNoAlloc(t *testing.T) {
	raw := []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"hi"}],"stop":["a","b"],"n":2,"o":{"p":1}}`)
	n := 0
	fn := func(key string, text []byte) bool { n += len(key) + len(text); return true }
	if a := testing.AllocsPerRun(100, func() { _ = Strings(raw, fn) }); a != 0 {
		t.Fatalf("Strings allocates %.1f times per escape-free body with known keys", a)
	}
	// Unknown keys cost one string each per document, not per visit.
	raw = []byte(`{"zz":["a","b","c","d","e","f"]}`)
	if a := testing.AllocsPerRun(100, func() { _ = Strings(raw, fn) }); a > 1 {
		t.Fatalf("unknown key made %.1f strings", a)
	}
}

func TestRewriteUnchangedIsRaw(t *testing.T) {
	raw := []byte(`{"text":"x\u00e9\/","stop":["y",{"role":"z"}],"n":-1.5e+3}`)
	calls := 0
	fn := func(key string, text []byte) ([]byte, bool) {
		calls++
		if key == "text" {
			return []byte("xé/"), true // equal to the decoded text: no change
		}
		return nil, false
	}
	out, err := Rewrite(raw, fn)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || &out[0] != &raw[0] || len(out) != len(raw) {
		t.Fatalf("unchanged rewrite did not return raw itself (calls %d): %s", calls, out)
	}
	plain := []byte(`{"text":"x","stop":["y",{"role":"z"}],"n":-1.5e+3}`)
	same := func(_ string, text []byte) ([]byte, bool) { return text, true }
	if a := testing.AllocsPerRun(100, func() { _, _ = Rewrite(plain, same) }); a != 0 {
		t.Fatalf("unchanged Rewrite allocates %.1f", a)
	}
}

func TestRewriteEncoding(t *testing.T) {
	raw := []byte(`{ "keep" : 1 ,"s": "old" , "t":["a",  "b"] }`)
	out, err := Rewrite(raw, func(key string, text []byte) ([]byte, bool) {
		switch string(text) {
		case "old":
			return []byte("q\" b\\ nl\n cr\r tab\t bs\b ff\f nul\x00 us\x1f <&> é 😀 \u2028 del\x7f"), true
		case "b":
			return []byte("B"), true
		}
		return nil, false
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{ "keep" : 1 ,"s": "q\" b\\ nl\n cr\r tab\t bs\b ff\f nul\u0000 us\u001f <&> é 😀 ` + "\u2028" + ` del` + "\x7f" + `" , "t":["a",  "B"] }`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
}

// mapStrings applies f to every string value of a decoded JSON value.
func mapStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = mapStrings(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = mapStrings(x[k], f)
		}
	}
	return v
}

func TestRewriteRoundTrip(t *testing.T) {
	files := []string{"openai-request-tools.json", "anthropic-request-claude-code.json",
		"anthropic-request-claude-code-2.1.328.json", "openai-responses-request-tools.json",
		"anthropic-exchange-tools.json", "openai-conversations.json"}
	mask := func(s string) string {
		s = strings.ReplaceAll(s, "e", "[E_1]")
		return strings.ReplaceAll(s, "a", "\"\\\n<a>")
	}
	for _, name := range files {
		raw := readWire(t, name)
		out, err := Rewrite(raw, func(_ string, text []byte) ([]byte, bool) {
			return []byte(mask(string(text))), true
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want, got any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		want = mapStrings(want, mask)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: result is not JSON: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: round trip differs", name)
		}
		// And back: undoing the mask restores the original document's value.
		back, err := Rewrite(out, func(_ string, text []byte) ([]byte, bool) {
			s := strings.ReplaceAll(string(text), "\"\\\n<a>", "a")
			return []byte(strings.ReplaceAll(s, "[E_1]", "e")), true
		})
		if err != nil {
			t.Fatal(err)
		}
		var orig, again any
		_ = json.Unmarshal(raw, &orig)
		if err := json.Unmarshal(back, &again); err != nil || !reflect.DeepEqual(orig, again) {
			t.Fatalf("%s: unmask did not restore the document (%v)", name, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	bad := []string{
		``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`,
		`{"a":1 "b":2}`, `["a" "b"]`, `"unterminated`, `"bad \x escape"`, `"bad \u12 escape"`, `"\u12G4"`,
		"\"ctl \x01\"", `{"a":tru}`, `{"a":nul}`, `{"a":fals}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`,
		`{"a":"x"}x`, `{"a":"x"} "b"`, `{a:"x"}`, `{'a':"x"}`, `["\`, `"\`, `{"a\":"x"}`,
		`{"k\q":"v"}`, strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, s := range bad {
		err := Strings([]byte(s), func(string, []byte) bool { return true })
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Strings(%.40q) = %v, want a SyntaxError", s, err)
		}
		if out, err := Rewrite([]byte(s), func(_ string, b []byte) ([]byte, bool) { return append(b, 'x'), true }); err == nil {
			t.Errorf("Rewrite(%.40q) = %q, nil", s, out)
		}
	}
	// Deep but within bounds is fine.
	deep := strings.Repeat("[", 500) + `"x"` + strings.Repeat("]", 500)
	if got := collect(t, deep); len(got) != 1 || got[0].text != "x" {
		t.Fatal("deep array")
	}
}

// jsonStrings lists a document's string values with their keys (as Strings
// defines them) through encoding/json's tokenizer.
func jsonStrings(raw []byte) ([]visit, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		obj     bool
		wantKey bool
		key     string
	}
	var stack []frame
	var out []visit
	curKey := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].key
	}
	// afterValue flips an object frame back to expecting a key.
	afterValue := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{obj: true, wantKey: true})
			case '[':
				stack = append(stack, frame{key: curKey()})
			default:
				stack = stack[:len(stack)-1]
				afterValue()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				stack[n-1].wantKey = false
				stack[n-1].key = v
				continue
			}
			out = append(out, visit{curKey(), v})
			afterValue()
		default:
			afterValue()
		}
	}
}

func FuzzStrings(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":["y",{"c":"z\n\u00e9\ud83d\ude00"}],"d":1.5,"e":[true,false,null]}`,
		`"top"`, `[]`, `{}`, `["\ud800"]`, `{"k\"":"v\\"}`, `[1,2,3]`, `{"a":{"b":{"c":["d"]}}}`,
		`{"a":"\/\b\f\n\r\t"}`, `{"a":}`, `[`, `"\u00`, `{"x":[["y"]]}`,
	} {
		f.Add([]byte(s))
	}
	if raw, err := readWireErr("openai-request-tools.json"); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got []visit
		err := Strings(raw, func(key string, text []byte) bool {
			got = append(got, visit{key, string(text)})
			return true
		})
		out, rerr := Rewrite(raw, func(_ string, text []byte) ([]byte, bool) {
			return append(append([]byte{}, text...), "\"\\\x01é"...), true
		})
		if !json.Valid(raw) {
			return // must only not panic or hang
		}
		if err != nil || rerr != nil {
			t.Fatalf("valid JSON rejected: %v / %v", err, rerr)
		}
		if !utf8.Valid(raw) {
			return // encoding/json substitutes U+FFFD; Strings passes bytes on
		}
		want, jerr := jsonStrings(raw)
		if jerr != nil {
			t.Fatalf("tokenizer: %v", jerr)
		}
		if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
			t.Fatalf("Strings %q\nencoding/json %q", got, want)
		}
		if !json.Valid(out) {
			t.Fatalf("Rewrite made invalid JSON: %s", out)
		}
		again, _ := jsonStrings(out)
		if len(again) != len(want) {
			t.Fatalf("Rewrite changed the number of strings")
		}
		for i := range want {
			if again[i].text != want[i].text+"\"\\\x01é" || again[i].key != want[i].key {
				t.Fatalf("Rewrite string %d = %q, want %q", i, again[i], want[i].text+"\"\\\x01é")
			}
		}
	})
}
