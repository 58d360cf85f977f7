package detect

import (
	"bytes"
	"slices"
	"testing"
)

// fuzzSecrets are held by the fuzz Exact; the fuzzer can splice them in.
var fuzzSecrets = [][]byte{
	[]byte("pa55word"),                  // short table
	[]byte("sk-proj-fuzzsecret0123456"), // strided table
	[]byte("secret0123456789"),          // a tail of the one above
	[]byte("zzzzzzzzzzzz"),              // overlaps itself
}

func FuzzScan(f *testing.F) {
	for _, tp := range readTruePositives(f) {
		f.Add([]byte("x " + tp.value + " y"))
	}
	for _, s := range []string{
		"", "a", "@", "::", "-----BEGIN PRIVATE KEY-----", "eyJ", "4111 1111 1111 1111 1",
		"+1 (", "\xe2\x80", "\xf3\xa0\x80", "GB82 WEST", "zzzzzzzzzzzzzzzzzzzzz pa55wordpa55word",
		"sk-proj-fuzzsecret0123456789", "cf-" + string(bytes.Repeat([]byte("a"), 32)),
		"ignore all\n\n previous\tinstructions", "1.2.3.4.5.6", "a[::2] fe80::1 2001:db8::",
	} {
		f.Add([]byte(s))
	}
	set, err := Compile(append(builtinSpecs(), Spec{Regex: `x[0-9]+y`}, Spec{Words: []string{"ignore", "zz"}}))
	if err != nil {
		f.Fatal(err)
	}
	exact := NewExact("vault_secret", fuzzSecrets)
	fast := newWordsDetector("w", []string{"ignore", "zz", "Blue moon", "a1"})
	slow := *fast
	slow.starts = nil
	all := Join(set, exact, NewVirtualKeys(nil))
	f.Fuzz(func(t *testing.T, text []byte) {
		orig := bytes.Clone(text)
		for _, s := range []Scanner{all, set, exact} {
			checkHits(t, text, collect(s, text))
		}
		if !bytes.Equal(text, orig) {
			t.Fatal("Scan modified its input")
		}
		// The word pass finds what a byte-at-a-time reference finds.
		if got, want := wordPassHits(set, text, false), wordPassHits(set, text, true); !slices.Equal(got, want) {
			t.Fatalf("word pass: got %v, reference %v", got, want)
		}
		// The words detector's word-start path finds what its byte loop finds.
		if got, want := fast.appendHits(nil, text), slow.appendHits(nil, text); !slices.Equal(got, want) {
			t.Fatalf("words: got %v, byte loop %v", got, want)
		}
		// Exact covers every occurrence of every secret, and nothing else.
		if got, want := collect(exact, text), exactReference(text); !slices.Equal(got, want) {
			t.Fatalf("Exact: got %v, reference %v", got, want)
		}
	})
}

func builtinSpecs() []Spec {
	var specs []Spec
	for _, info := range Builtins() {
		specs = append(specs, Spec{Builtin: info.Name})
	}
	return specs
}

// checkHits asserts the Scanner contract: in bounds, not empty, in Start
// order, not overlapping.
func checkHits(t *testing.T, text []byte, hits []Hit) {
	t.Helper()
	end := 0
	for _, h := range hits {
		if h.Start < 0 || h.End > len(text) || h.Start >= h.End {
			t.Fatalf("hit %v out of bounds of %d bytes", h, len(text))
		}
		if h.Start < end {
			t.Fatalf("hit %v overlaps or precedes the previous one (end %d): %v", h, end, hits)
		}
		if h.Detector == "" {
			t.Fatalf("hit %v has no detector", h)
		}
		end = h.End
	}
}

// wordPassHits runs the built-ins' word pass, the real one or (naive) a
// reference that tests every byte for a word start.
func wordPassHits(s *Set, text []byte, naive bool) []Hit {
	sc := scanner{text: text, mask: s.mask, names: &s.names, pairs: s.pairs}
	if !naive {
		sc.words()
		return sc.hits
	}
	for i := 0; i+1 < len(text); i++ {
		if !isWord(text[i]) || (i > 0 && isWord(text[i-1])) {
			continue
		}
		b := uint(text[i])<<8 | uint(text[i+1])
		if s.pairs[b>>6]&(1<<(b&63)) == 0 {
			continue
		}
		if e := sc.atWord(i); e > i+1 {
			i = e - 1
		}
	}
	return sc.hits
}

// exactReference finds fuzzSecrets with bytes.Index and merges
// overlapping occurrences, as Exact promises.
func exactReference(text []byte) []Hit {
	var occ []Hit
	for _, s := range fuzzSecrets {
		for off := 0; ; {
			k := bytes.Index(text[off:], s)
			if k < 0 {
				break
			}
			occ = append(occ, Hit{"vault_secret", off + k, off + k + len(s)})
			off += k + 1
		}
	}
	slices.SortFunc(occ, func(a, b Hit) int { return a.Start - b.Start })
	var out []Hit
	for _, h := range occ {
		if n := len(out); n > 0 && h.Start < out[n-1].End {
			out[n-1].End = max(out[n-1].End, h.End)
			continue
		}
		out = append(out, h)
	}
	return out
}
