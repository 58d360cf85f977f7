package textflow

import (
	"math/rand/v2"
	"strings"
	"testing"
)

var testMap = map[string]string{
	"[EMAIL_1]":  "alice@example.com",
	"[EMAIL_10]": "bob@example.org",
	"[PHONE_2]":  "+1 555 0100",
	"[NAME_3]":   `Zoë "Z" O'Neil \ co`,
}

// naive is an independent reference: leftmost-longest replacement by trying
// every placeholder at every position.
func naive(m map[string]string, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		best := ""
		for ph := range m {
			if len(ph) > len(best) && strings.HasPrefix(s[i:], ph) {
				best = ph
			}
		}
		if best == "" {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(m[best])
		i += len(best)
	}
	return b.String()
}

// feed writes chunks and checks the hold bound after every Write.
func feed(t *testing.T, r *Restorer, chunks ...string) string {
	t.Helper()
	return feedM(t, testMap, r, chunks...)
}

func feedM(t *testing.T, m map[string]string, r *Restorer, chunks ...string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString(r.Write(c))
		if r.Held() > r.MaxHold() {
			t.Fatalf("holding %d bytes, MaxHold %d (chunks %q)", r.Held(), r.MaxHold(), chunks)
		}
		if r.Held() > 0 && !isPrefixOfSome(m, r.held) {
			t.Fatalf("holding %q, which starts no placeholder", r.held)
		}
	}
	b.WriteString(r.Flush())
	if r.Held() != 0 {
		t.Fatal("Flush left text held")
	}
	return b.String()
}

func isPrefixOfSome(m map[string]string, s string) bool {
	for ph := range m {
		if len(ph) > len(s) && strings.HasPrefix(ph, s) {
			return true
		}
	}
	return false
}

func TestRestorerSplits(t *testing.T) {
	base := NewRestorer(testMap)
	if base.MaxHold() != len("[EMAIL_10]")-1 {
		t.Fatalf("MaxHold = %d", base.MaxHold())
	}
	texts := []string{
		"mail [EMAIL_1] now",
		"[EMAIL_10][EMAIL_1]x[PHONE_2]",
		"a [EMA [EMAIL_1 [EMAIL_1] [[EMAIL_10]] [NAME_3]]",
		"[EMAIL_1]0] and [EMAIL_1]",
		"[", "[EMAIL_1", "x[EMAIL_10", "[[[[",
	}
	for _, text := range texts {
		want := naive(testMap, text)
		if got := base.Replace(text); got != want {
			t.Fatalf("Replace(%q) = %q, want %q", text, got, want)
		}
		for i := 0; i <= len(text); i++ {
			if got := feed(t, base.Fork(), text[:i], text[i:]); got != want {
				t.Fatalf("split %q|%q: %q, want %q", text[:i], text[i:], got, want)
			}
			for j := i; j <= len(text); j++ {
				if got := feed(t, base.Fork(), text[:i], text[i:j], text[j:]); got != want {
					t.Fatalf("split %q|%q|%q: %q, want %q", text[:i], text[i:j], text[j:], got, want)
				}
			}
		}
		// One byte at a time.
		chunks := strings.Split(text, "")
		if got := feed(t, base.Fork(), chunks...); got != want {
			t.Fatalf("bytewise %q: %q, want %q", text, got, want)
		}
	}
}

func TestRestorerReleasesNonMatch(t *testing.T) {
	r := NewRestorer(testMap)
	if out := r.Write("see [EMA"); out != "see " || r.Held() != 4 {
		t.Fatalf("Write = %q held %d", out, r.Held())
	}
	// 'X' ends the match: everything goes out at once.
	if out := r.Write("X more"); out != "[EMAX more" || r.Held() != 0 {
		t.Fatalf("Write = %q held %d", out, r.Held())
	}
	// A non-matching '[' inside a chunk is not held either.
	if out := r.Write("[link](x) [ok"); out != "[link](x) [ok" || r.Held() != 0 {
		t.Fatalf("Write = %q held %d", out, r.Held())
	}
	// "[EMAIL_1" could still become "[EMAIL_10]": held; "]" decides it.
	if out := r.Write("[EMAIL_1"); out != "" || r.Held() != 8 {
		t.Fatalf("Write = %q held %d", out, r.Held())
	}
	if out := r.Write("] "); out != "alice@example.com " || r.Held() != 0 {
		t.Fatalf("Write = %q held %d", out, r.Held())
	}
}

func TestRestorerOverlap(t *testing.T) {
	for _, c := range []struct {
		chunks []string
		want   string
	}{
		{[]string{"[EMAIL_1", "]"}, "alice@example.com"},
		{[]string{"[EMAIL_1", "0]"}, "bob@example.org"},
		{[]string{"[EMAIL_1", "0", "]"}, "bob@example.org"},
		{[]string{"[EMAIL_1", "0x"}, "[EMAIL_10x"},
		{[]string{"[EMAIL_1", "x"}, "[EMAIL_1x"},
		{[]string{"[EMAIL_1"}, "[EMAIL_1"},
		{[]string{"[EMAIL_1]", "0]"}, "alice@example.com0]"},
	} {
		r := NewRestorer(testMap)
		if got := feed(t, r, c.chunks...); got != c.want {
			t.Errorf("%q: %q, want %q", c.chunks, got, c.want)
		}
	}
	// A placeholder that another one extends: "[A]" and "[A]x]".
	m := map[string]string{"[A]": "1", "[A]x]": "2"}
	r := NewRestorer(m)
	if got := feedM(t, m, r.Fork(), "[A", "]x", "]"); got != "2" {
		t.Fatalf("got %q", got)
	}
	if out := r.Write("[A]"); out != "" || r.Held() != 3 {
		t.Fatalf("[A] with [A]x] possible: %q held %d", out, r.Held())
	}
	if out := r.Write("x") + r.Flush(); out != "1x" {
		t.Fatalf("got %q", out)
	}
	if got := r.Replace("[A]x][A]x"); got != "21x" {
		t.Fatalf("Replace = %q", got)
	}
}

func TestRestorerHoldBoundRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	frags := []string{"[EMAIL_1]", "[EMAIL_10]", "[PHONE_2]", "[NAME_3]", "[EMA", "[", "]", "x", " ", "[PHONE_", "é", "0]"}
	base := NewRestorer(testMap)
	for n := 0; n < 2000; n++ {
		var sb strings.Builder
		for k := rng.IntN(12); k >= 0; k-- {
			sb.WriteString(frags[rng.IntN(len(frags))])
		}
		text := sb.String()
		var chunks []string
		for rest := text; rest != ""; {
			k := 1 + rng.IntN(len(rest))
			chunks, rest = append(chunks, rest[:k]), rest[k:]
		}
		if got, want := feed(t, base.Fork(), chunks...), naive(testMap, text); got != want {
			t.Fatalf("%q: %q, want %q", chunks, got, want)
		}
	}
}

func TestRestorerOtherFirstBytes(t *testing.T) {
	m := map[string]string{"<<P1>>": "one", "{{x}}": "two", "§": "three"}
	r := NewRestorer(m)
	text := "a<<P1>> b{{x}}c§d<<P1 {{x"
	want := "aone btwocthreed<<P1 {{x"
	for i := 0; i <= len(text); i++ {
		if got := feedM(t, m, r.Fork(), text[:i], text[i:]); got != want {
			t.Fatalf("split at %d: %q", i, got)
		}
	}
	if r.Quick("<x") || !r.Quick("plain [text]") {
		t.Fatal("Quick with several first bytes")
	}
}

func TestRestorerQuick(t *testing.T) {
	r := NewRestorer(testMap)
	if !r.Quick("no brackets") || r.Quick("a [b") || !r.QuickBytes([]byte("x")) || r.QuickBytes([]byte("[")) {
		t.Fatal("Quick")
	}
	r.Write("[EMA")
	if r.Quick("plain") || r.QuickBytes([]byte("plain")) {
		t.Fatal("Quick while holding")
	}
	// The quick path does not allocate; a Write that changes nothing neither.
	q := NewRestorer(testMap)
	if a := testing.AllocsPerRun(100, func() {
		_ = q.Quick("some text without brackets")
		_ = q.Write("text [with] a bracket")
	}); a != 0 {
		t.Fatalf("%.1f allocs", a)
	}
	empty := NewRestorer(nil)
	if !empty.Quick("[x") || empty.Write("[x") != "[x" || empty.MaxHold() != 0 {
		t.Fatal("empty restorer")
	}
}

func TestRestorerForJSON(t *testing.T) {
	r := NewRestorer(testMap)
	j := r.ForJSON()
	got := j.Write(`{"who":"[NAME_`) + j.Write(`3]"}`) + j.Flush()
	want := `{"who":"Zoë \"Z\" O'Neil \\ co"}`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if j.ForJSON().Replace("[NAME_3]") != `Zoë \"Z\" O'Neil \\ co` {
		t.Fatal("ForJSON is not idempotent")
	}
	if r.Replace("[NAME_3]") != testMap["[NAME_3]"] {
		t.Fatal("ForJSON changed the original Restorer")
	}
}

// TestRestorerConcurrentForks: one Restorer per request, Forks and ForJSON
// twins per stream goroutine.
func TestRestorerConcurrentForks(t *testing.T) {
	base := NewRestorer(testMap)
	done := make(chan string)
	for g := range 8 {
		go func() {
			r := base.Fork()
			if g%2 == 0 {
				r = base.ForJSON()
			}
			done <- r.Write("a [EMAIL_") + r.Write("1] b") + r.Flush()
		}()
	}
	for range 8 {
		if got := <-done; got != "a alice@example.com b" {
			t.Errorf("got %q", got)
		}
	}
}
