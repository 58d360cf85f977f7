package detect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// randomSecrets returns n distinct secrets shaped like real API keys:
// provider prefixes and random base62/base64url bodies, 20-164 bytes.
func randomSecrets(n int) [][]byte {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	prefixes := []string{"sk-proj-", "sk-ant-api03-", "ghp_", "AKIA", "xoxb-", "sk_live_", "AIza", "", "hf_", "glpat-"}
	var out [][]byte
	seen := map[string]bool{}
	for len(out) < n {
		p := prefixes[r.IntN(len(prefixes))]
		l := 20 + r.IntN(145) - len(p)
		b := []byte(p)
		for range max(l, 12) {
			b = append(b, b64url[r.IntN(len(b64url))])
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	return out
}

func TestExactFindsEverySecretAnywhere(t *testing.T) {
	secrets := randomSecrets(200)
	e := NewExact("vault_secret", secrets)
	if e.Len() != 200 {
		t.Fatalf("Len = %d, want 200", e.Len())
	}
	filler := []byte("ordinary prose with code: for i := range xs { total += xs[i] } // done.\n")
	for i, s := range secrets {
		for _, c := range []struct {
			name       string
			before, af []byte
		}{
			{"alone", nil, nil},
			{"start", nil, filler},
			{"end", filler, nil},
			{"middle", filler, filler},
			{"glued", []byte("xx"), []byte("yy")},
			// Every alignment against the scan stride.
			{"offset1", []byte("a"), nil},
			{"offset2", []byte("ab"), []byte("c")},
			{"offset3", []byte("abc"), []byte("cd")},
			{"offset5", []byte("abcde"), []byte("def")},
		} {
			text := slices.Concat(c.before, s, c.af)
			want := []Hit{{"vault_secret", len(c.before), len(c.before) + len(s)}}
			if got := collect(e, text); !slices.Equal(got, want) {
				t.Fatalf("secret %d (%d bytes) %s: got %v, want %v", i, len(s), c.name, got, want)
			}
		}
	}
	// All 200 in one text, in order.
	var text []byte
	var want []Hit
	for _, s := range secrets {
		text = append(text, filler...)
		want = append(want, Hit{"vault_secret", len(text), len(text) + len(s)})
		text = append(text, s...)
	}
	if got := collect(e, text); !slices.Equal(got, want) {
		t.Fatalf("all secrets: got %d hits, want %d", len(got), len(want))
	}
}

func TestExactOverlapsAndContainment(t *testing.T) {
	a := []byte("AAAAAAAAbbbbbbbbCCCC")
	b := []byte("bbbbCCCCdddddddd") // overlaps a's tail
	outer := []byte("prefix-" + "INNERsecret123" + "-suffix")
	inner := []byte("INNERsecret123")
	e := NewExact("v", [][]byte{a, b, outer, inner, []byte("short"), nil})
	if e.Len() != 4 {
		t.Fatalf("Len = %d, want 4 (short values ignored)", e.Len())
	}
	// Overlapping neighbours come out as one hit covering both.
	text := []byte("..AAAAAAAAbbbbbbbbCCCCdddddddd..")
	if got, want := collect(e, text), []Hit{{"v", 2, 30}}; !slices.Equal(got, want) {
		t.Errorf("overlap: got %v, want %v", got, want)
	}
	// A secret inside another: the outer one covers it.
	text = []byte("x prefix-INNERsecret123-suffix y INNERsecret123 z")
	if got, want := collect(e, text), []Hit{{"v", 2, 30}, {"v", 33, 47}}; !slices.Equal(got, want) {
		t.Errorf("containment: got %v, want %v", got, want)
	}
	// Adjacent, not overlapping: two hits.
	text = slices.Concat(inner, inner)
	if got, want := collect(e, text), []Hit{{"v", 0, 14}, {"v", 14, 28}}; !slices.Equal(got, want) {
		t.Errorf("adjacent: got %v, want %v", got, want)
	}
}

func TestExactShortValues(t *testing.T) {
	// 8-10 bytes: too short for the strided table.
	vals := [][]byte{[]byte("pa55word"), []byte("hunter2!x"), []byte("0123456789"), []byte("1234567")}
	e := NewExact("v", vals)
	if e.Len() != 3 {
		t.Fatalf("Len = %d, want 3", e.Len())
	}
	for _, v := range vals[:3] {
		for pre := range 9 {
			text := slices.Concat([]byte(strings.Repeat("-", pre)), v, []byte("+"))
			if got, want := collect(e, text), []Hit{{"v", pre, pre + len(v)}}; !slices.Equal(got, want) {
				t.Errorf("%q after %d bytes: got %v, want %v", v, pre, got, want)
			}
		}
	}
	if got := collect(e, []byte("x 1234567 y")); got != nil {
		t.Errorf("7-byte value matched: %v", got)
	}
	// Short and long values together, overlapping.
	e = NewExact("v", [][]byte{[]byte("pa55word"), []byte("word-and-more-text")})
	if got, want := collect(e, []byte("my pa55word-and-more-text.")), []Hit{{"v", 3, 25}}; !slices.Equal(got, want) {
		t.Errorf("short+long overlap: got %v, want %v", got, want)
	}
}

func TestExactNoNearMisses(t *testing.T) {
	secrets := randomSecrets(200)
	e := NewExact("v", secrets)
	for i, s := range secrets {
		for _, k := range []int{0, len(s) / 2, len(s) - 1} {
			m := bytes.Clone(s)
			m[k] ^= 0x01
			if got := collect(e, m); got != nil {
				t.Fatalf("secret %d with byte %d flipped: got %v", i, k, got)
			}
		}
		if got := collect(e, s[:len(s)-1]); got != nil {
			t.Fatalf("secret %d less its last byte: got %v", i, got)
		}
		if got := collect(e, s[1:]); got != nil {
			t.Fatalf("secret %d less its first byte: got %v", i, got)
		}
	}
	if got := collect(e, []byte("short")); got != nil {
		t.Errorf("short text: %v", got)
	}
	if got := collect(NewExact("v", nil), secrets[0]); got != nil || NewExact("v", nil).Len() != 0 {
		t.Errorf("empty Exact found %v", got)
	}
	var nilExact *Exact
	if nilExact.Len() != 0 || collect(nilExact, secrets[0]) != nil {
		t.Error("nil Exact")
	}
	// Duplicates count once.
	if n := NewExact("v", [][]byte{secrets[0], bytes.Clone(secrets[0])}).Len(); n != 1 {
		t.Errorf("duplicates: Len = %d", n)
	}
}

// TestExactHoldsNoPlaintext looks for any 8-byte piece of any secret in
// everything the Exact holds: its %#v rendering and the raw little-endian
// bytes of every integer reachable from it.
func TestExactHoldsNoPlaintext(t *testing.T) {
	secrets := randomSecrets(200)
	// Include short, low-entropy values, which a careless layout would
	// hold verbatim.
	secrets = append(secrets, []byte("password"), []byte("hunter2hunter2"), []byte("12345678"))
	e := NewExact("vault_secret", secrets)
	var raw bytes.Buffer
	dumpRaw(&raw, reflect.ValueOf(e))
	text := fmt.Sprintf("%#v %+v", e, *e)
	for i, s := range secrets {
		for k := 0; k+8 <= len(s); k++ {
			w := s[k : k+8]
			if strings.Contains(text, string(w)) {
				t.Fatalf("secret %d: %q appears in %%#v", i, w)
			}
			if bytes.Contains(raw.Bytes(), w) {
				t.Fatalf("secret %d: %q appears in the raw memory of the Exact", i, w)
			}
		}
	}
	if raw.Len() < 8*1024 {
		t.Fatalf("raw dump is %d bytes; the walk missed the bitset", raw.Len())
	}
}

// dumpRaw writes the bytes of every integer, string and byte reachable
// from v (unexported fields included).
func dumpRaw(w *bytes.Buffer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			dumpRaw(w, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			dumpRaw(w, v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			dumpRaw(w, v.Index(i))
		}
	case reflect.String:
		w.WriteString(v.String())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint, reflect.Uintptr:
		w.Write(binary.LittleEndian.AppendUint64(nil, v.Uint()))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		w.Write(binary.LittleEndian.AppendUint64(nil, uint64(v.Int())))
	}
}

func collect(s Scanner, text []byte) []Hit {
	var out []Hit
	s.Scan(text, func(h Hit) bool { out = append(out, h); return true })
	return out
}
