package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestGetSet(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi \"x\" {"}],"stream":true,"x_unknown":{"a":[1,2.5e3,null,false]}}`)
	m, err := GetString(body, "model")
	if err != nil || m != "gpt-4o" {
		t.Fatalf("model = %q, %v", m, err)
	}
	if s, _ := GetBool(body, "stream"); !s {
		t.Fatal("stream not true")
	}
	out, err := SetString(body, "model", "gpt-4o-2024-08-06")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi \"x\" {"}],"stream":true,"x_unknown":{"a":[1,2.5e3,null,false]}}`
	if string(out) != want {
		t.Fatalf("Set replaced wrongly:\n%s", out)
	}
	out, err = Set(body, "stream_options", []byte(`{"include_usage":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("added field broke JSON: %v\n%s", err, out)
	}
	if v["stream_options"].(map[string]any)["include_usage"] != true || v["x_unknown"] == nil {
		t.Fatalf("fields lost: %s", out)
	}
	empty, err := SetString([]byte(" { } "), "model", "m")
	if err != nil || string(empty) != ` {"model":"m"} ` {
		t.Fatalf("set on empty object: %q %v", empty, err)
	}
}

func TestErrors(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"model":}`, `{"model":"x"`, `{"a":1}x`, `{"a" 1}`, `{"a":tru}`, `{"a":"unterminated}`} {
		if _, _, err := Get([]byte(bad), "model"); err == nil {
			t.Errorf("Get(%q) accepted invalid JSON", bad)
		}
	}
	if _, _, err := Get([]byte(`[1]`), "model"); !errors.Is(err, ErrNotObject) {
		t.Errorf("array: %v", err)
	}
	if _, err := GetString([]byte(`{"model":5}`), "model"); err == nil {
		t.Error("non-string model accepted")
	}
}

// TestFixtures checks that every real request fixture scans and round-trips.
func TestFixtures(t *testing.T) {
	for _, f := range []string{"openai-request-tools.json", "anthropic-request-claude-code.json"} {
		body, err := os.ReadFile("../../testdata/wire/" + f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := Fields(body, func(string, []byte) bool { n++; return true }); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(body, &m)
		if n != len(m) {
			t.Fatalf("%s: scanned %d fields, encoding/json sees %d", f, n, len(m))
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"model":"x","a":[1,{"b":"\""}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a":"x\\\\","b":"y\\\"z","c":"\\\\\\\"w"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string][]byte{}
		err := Fields(b, func(k string, raw []byte) bool {
			if _, dup := got[k]; !dup {
				got[k] = raw
			}
			return true
		})
		var v map[string]json.RawMessage
		stdErr := json.Unmarshal(b, &v)
		// Where both accept it, each member's value is the one
		// encoding/json sees (the first of duplicates for jsonx, the last
		// for encoding/json: compare only keys seen once).
		if err == nil && stdErr == nil && v != nil && len(got) == len(v) {
			for k, raw := range got {
				want, ok := v[k]
				if ok && bytes.Count(b, []byte(k)) == 1 && string(compact(t, raw)) != string(compact(t, want)) {
					t.Fatalf("member %q: jsonx %s, encoding/json %s", k, raw, v[k])
				}
			}
		}
		// Whatever encoding/json accepts as an object, jsonx must accept.
		if stdErr == nil && v != nil && err != nil {
			t.Fatalf("jsonx rejects valid object %q: %v", b, err)
		}
		if err == nil && stdErr == nil && v != nil {
			out, err := SetString(b, "model", "m")
			if err != nil {
				t.Fatal(err)
			}
			var w map[string]json.RawMessage
			if err := json.Unmarshal(out, &w); err != nil {
				t.Fatalf("Set produced invalid JSON from %q: %s", b, out)
			}
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return out.Bytes()
}

func BenchmarkGetModel(b *testing.B) {
	body, _ := os.ReadFile("../../testdata/wire/openai-request-tools.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		GetString(body, "model")
		GetBool(body, "stream")
	}
}

func TestMembersMatchesFields(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","stream":true,"a\"b":[1,{"x":2}],"usage":{"prompt_tokens":3}}`)
	var viaFields, viaMembers []string
	if err := Fields(body, func(k string, v []byte) bool { viaFields = append(viaFields, k+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if err := Members(body, func(k, v []byte) bool { viaMembers = append(viaMembers, string(k)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(viaFields) != 4 || strings.Join(viaFields, "|") != strings.Join(viaMembers, "|") {
		t.Fatalf("Fields %q, Members %q", viaFields, viaMembers)
	}
	if err := Members([]byte(`[1]`), func(k, v []byte) bool { return true }); err == nil {
		t.Fatal("Members accepted a non-object")
	}
}

func TestDelete(t *testing.T) {
	for _, c := range []struct{ in, key, want string }{
		{`{"a":1,"b":2,"c":3}`, "b", `{"a":1,"c":3}`},
		{`{"a":1,"b":2,"c":3}`, "a", `{"b":2,"c":3}`},
		{`{"a":1,"b":2,"c":3}`, "c", `{"a":1,"b":2}`},
		{`{ "a" : 1 , "b" : [2] }`, "b", `{ "a" : 1}`},
		{`{"only":{"x":1}}`, "only", `{}`},
		{`{"a":1}`, "missing", `{"a":1}`},
		{`{"a":"b","b":"a"}`, "b", `{"a":"b"}`},
	} {
		got, err := Delete([]byte(c.in), c.key)
		if err != nil || string(got) != c.want {
			t.Errorf("Delete(%s, %s) = %s, %v; want %s", c.in, c.key, got, err, c.want)
		}
		var v any
		if json.Unmarshal(got, &v) != nil {
			t.Errorf("Delete(%s, %s) = %s: not JSON", c.in, c.key, got)
		}
	}
}
