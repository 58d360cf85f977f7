package runner_test

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/runner"
)

const C = runner.Concealed

// mask writes the chunks to a Masker over secrets and returns what came out
// after Close.
func mask(t *testing.T, secrets []string, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	m := runner.NewMasker(&out, secrets)
	for _, c := range chunks {
		n, err := m.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", c, n, err, len(c))
		}
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.String()
}

func TestMaskerSingleWrite(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"one occurrence", []string{"sk-123"}, "key is sk-123 ok\n", "key is " + C + " ok\n"},
		{"several occurrences", []string{"sk-123"}, "sk-123sk-123 and sk-123", C + C + " and " + C},
		{"two secrets", []string{"alpha", "beta"}, "beta alpha gamma", C + " " + C + " gamma"},
		{"no occurrence", []string{"sk-123"}, "nothing to see", "nothing to see"},
		{"partial only", []string{"sk-123"}, "sk-12 sk-1234", "sk-12 " + C + "4"},
		{"longer contains shorter", []string{"abc", "abcdef"}, "xabcdefx abc", "x" + C + "x " + C},
		{"order of values does not matter", []string{"abcdef", "abc"}, "xabcdefx abc", "x" + C + "x " + C},
		{"shorter in the middle of longer", []string{"cd", "abcdef"}, "abcdef cd", C + " " + C},
		{"overlapping prefixes", []string{"abcd", "abxy"}, "abxy abcd abx ab", C + " " + C + " abx ab"},
		{"empty value ignored", []string{"", "tok"}, "a tok b", "a " + C + " b"},
		{"binary", []string{"\x00\xff"}, "a\x00\xffb\x00", "a" + C + "b\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mask(t, tt.secrets, tt.in); got != tt.want {
				t.Errorf("masked %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMaskerSplitAtEveryPoint writes each input in two and in three pieces
// at every possible split, and one byte at a time.
func TestMaskerSplitAtEveryPoint(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"one secret", []string{"sk-SECRET"}, "pre sk-SECRET post", "pre " + C + " post"},
		{"at the edges", []string{"sk-SECRET"}, "sk-SECRET", C},
		{"repeated prefix", []string{"aab"}, "aaab aab", "a" + C + " " + C},
		{"longer contains shorter", []string{"abc", "abcdef"}, "xabcdefx abc abcde", "x" + C + "x " + C + " " + C + "de"},
		{"overlapping prefixes", []string{"abcd", "abxy"}, "abxy abcd abx", C + " " + C + " abx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			for i := 0; i <= len(in); i++ {
				if got := mask(t, tt.secrets, in[:i], in[i:]); got != tt.want {
					t.Errorf("split at %d (%q | %q)\n got %q\nwant %q", i, in[:i], in[i:], got, tt.want)
				}
				for j := i; j <= len(in); j++ {
					if got := mask(t, tt.secrets, in[:i], in[i:j], in[j:]); got != tt.want {
						t.Errorf("split at %d,%d (%q | %q | %q)\n got %q\nwant %q", i, j, in[:i], in[i:j], in[j:], got, tt.want)
					}
				}
			}
			var bytewise []string
			for i := range len(in) {
				bytewise = append(bytewise, in[i:i+1])
			}
			if got := mask(t, tt.secrets, bytewise...); got != tt.want {
				t.Errorf("byte at a time\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMaskerPassesThroughAtOnce(t *testing.T) {
	var out bytes.Buffer
	m := runner.NewMasker(&out, []string{"SECRET"})

	m.Write([]byte("hello world\n"))
	if out.String() != "hello world\n" {
		t.Fatalf("after a write without a secret the writer has %q; want it all", out.String())
	}
	// A prompt without a newline is not held back either.
	m.Write([]byte("Password: "))
	if out.String() != "hello world\nPassword: " {
		t.Fatalf("a prompt was held back: writer has %q", out.String())
	}
	// Only the tail that could start a secret waits.
	m.Write([]byte("xx SEC"))
	if out.String() != "hello world\nPassword: xx " {
		t.Fatalf("writer has %q; want everything but \"SEC\"", out.String())
	}
	// It turns out not to be the secret: flushed by the next write.
	m.Write([]byte("OND!"))
	if out.String() != "hello world\nPassword: xx SECOND!" {
		t.Fatalf("writer has %q; want the held-back \"SEC\" flushed", out.String())
	}
	// A held-back prefix is flushed by Close.
	m.Write([]byte("bye SECRE"))
	if out.String() != "hello world\nPassword: xx SECOND!bye " {
		t.Fatalf("writer has %q", out.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello world\nPassword: xx SECOND!bye SECRE" {
		t.Fatalf("after Close the writer has %q; want the held-back \"SECRE\"", out.String())
	}
}

func TestMaskerHoldsBackOnlyAPossibleStart(t *testing.T) {
	var out bytes.Buffer
	m := runner.NewMasker(&out, []string{"abc"})
	// "ab" then "x": the b could not start "abc", so nothing stays behind.
	m.Write([]byte("zab"))
	if out.String() != "z" {
		t.Fatalf("writer has %q; want \"z\"", out.String())
	}
	m.Write([]byte("x"))
	if out.String() != "zabx" {
		t.Fatalf("writer has %q; want \"zabx\" with nothing held", out.String())
	}
}

func TestMaskerNoSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {}, {""}, {"", ""}} {
		var out bytes.Buffer
		m := runner.NewMasker(&out, secrets)
		for _, c := range []string{"a", "", "bc\n", "\x00"} {
			m.Write([]byte(c))
		}
		if out.String() != "abc\n\x00" {
			t.Errorf("secrets %q: writer has %q before Close; want everything", secrets, out.String())
		}
		m.Close()
		if out.String() != "abc\n\x00" {
			t.Errorf("secrets %q: writer has %q after Close", secrets, out.String())
		}
	}
}

func TestMaskerCloseWithNothingPending(t *testing.T) {
	var out countingWriter
	m := runner.NewMasker(&out, []string{"s3cret"})
	m.Write([]byte("plain"))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if out.writes != 1 {
		t.Errorf("%d writes; want 1 (Close writes nothing when nothing is held)", out.writes)
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

type errWriter struct{}

var errBroken = errors.New("broken pipe")

func (errWriter) Write(p []byte) (int, error) { return 0, errBroken }

func TestMaskerWriteError(t *testing.T) {
	m := runner.NewMasker(errWriter{}, []string{"secret"})
	if _, err := m.Write([]byte("hello\n")); !errors.Is(err, errBroken) {
		t.Errorf("Write error %v; want the writer's error", err)
	}
	m = runner.NewMasker(errWriter{}, []string{"secret"})
	m.Write([]byte("sec")) // held back, nothing written yet
	if err := m.Close(); !errors.Is(err, errBroken) {
		t.Errorf("Close error %v; want the writer's error", err)
	}
}

// fuzzAlphabet has no byte in common with Concealed, so a secret can never
// be found in (or across the edge of) a replacement.
const fuzzAlphabet = "ABC"

// mapTo keeps bytes of alphabet and maps every other byte into it.
func mapTo(b []byte, alphabet string) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if strings.IndexByte(alphabet, c) >= 0 {
			out[i] = c
		} else {
			out[i] = alphabet[int(c)%len(alphabet)]
		}
	}
	return string(out)
}

// overlaps reports whether two different secrets can overlap partially: a
// proper suffix of one equals a proper prefix of the other. Without such
// pairs occurrences of different secrets are either disjoint or nested, and
// replacing longest-first with strings.ReplaceAll gives the same result as
// the Masker's left-to-right scan.
func overlaps(secrets []string) bool {
	for _, a := range secrets {
		for _, b := range secrets {
			if a == b {
				continue
			}
			for k := 1; k < len(a) && k < len(b); k++ {
				if a[len(a)-k:] == b[:k] {
					return true
				}
			}
		}
	}
	return false
}

func FuzzMasker(f *testing.F) {
	f.Add([]byte("xxABCAxxABx"), []byte("ABC,AB"), []byte{3, 1, 4})
	f.Add([]byte("AABAABA"), []byte("AAB"), []byte{1, 1, 1, 1})
	f.Add([]byte("ABCABCABC"), []byte("ABC,BCA,C"), []byte{2, 5})
	f.Add([]byte("xABCxA"), []byte("CA,BB"), []byte{3})
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, rawIn, rawSecrets, splits []byte) {
		// Input over a slightly larger alphabet so that non-secret bytes occur.
		in := mapTo(rawIn, fuzzAlphabet+"x\n")
		var secrets []string
		for _, s := range bytes.Split(rawSecrets, []byte(",")) {
			if len(s) > 0 && len(s) <= 8 && len(secrets) < 4 {
				secrets = append(secrets, mapTo(s, fuzzAlphabet))
			}
		}

		var out bytes.Buffer
		m := runner.NewMasker(&out, secrets)
		rest := in
		for _, s := range splits {
			n := min(int(s)%8, len(rest))
			if _, err := m.Write([]byte(rest[:n])); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		m.Write([]byte(rest))
		m.Close()
		got := out.String()

		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Fatalf("secrets %q, input %q: output %q contains %q", secrets, in, got, s)
			}
		}

		// Longest first; equal lengths keep their order, as NewMasker does.
		sorted := append([]string(nil), secrets...)
		sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })

		// Exact semantics for any secrets: leftmost match wins, and at one
		// position the longest. strings.Replacer compares in argument order.
		var pairs []string
		for _, s := range sorted {
			pairs = append(pairs, s, C)
		}
		want := in
		if len(pairs) > 0 {
			want = strings.NewReplacer(pairs...).Replace(in)
		}
		if got != want {
			t.Fatalf("secrets %q, input %q, splits %v:\n got %q\nwant %q", secrets, in, splits, got, want)
		}

		// The simpler reference agrees when no two secrets overlap partially.
		// (With "AB" and "BC" in "ABC", the scan masks "AB"+"C" but
		// ReplaceAll longest-first order depends on which it tries first.)
		if !overlaps(secrets) {
			ref := in
			for _, s := range sorted {
				ref = strings.ReplaceAll(ref, s, C)
			}
			if got != ref {
				t.Fatalf("secrets %q, input %q, splits %v:\n got %q\nReplaceAll %q", secrets, in, splits, got, ref)
			}
		}
	})
}
