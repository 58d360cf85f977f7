package detect

import (
	"bytes"
	"regexp"
	"strings"
)

// regexDetector runs a user's regexp. Go's regexp is linear but slow over
// large texts, so a literal prefix, when the regexp has one, rules out
// texts that cannot match before the regexp runs.
type regexDetector struct {
	label    string
	re       *regexp.Regexp
	prefix   []byte
	complete bool // the regexp is exactly prefix
}

func newRegexDetector(label string, re *regexp.Regexp) *regexDetector {
	p, complete := re.LiteralPrefix()
	return &regexDetector{label: label, re: re, prefix: []byte(p), complete: complete && p != ""}
}

func (r *regexDetector) appendHits(dst []Hit, text []byte) []Hit {
	if len(r.prefix) > 0 {
		k := bytes.Index(text, r.prefix)
		if k < 0 {
			return dst
		}
		if r.complete {
			for off := k; off >= 0; {
				dst = append(dst, Hit{Detector: r.label, Start: off, End: off + len(r.prefix)})
				next := bytes.Index(text[off+len(r.prefix):], r.prefix)
				if next < 0 {
					break
				}
				off += len(r.prefix) + next
			}
			return dst
		}
	}
	for _, loc := range r.re.FindAllIndex(text, -1) {
		if loc[1] > loc[0] {
			dst = append(dst, Hit{Detector: r.label, Start: loc[0], End: loc[1]})
		}
	}
	return dst
}

// wordsDetector matches a word list case-insensitively on word boundaries
// (regexp's \b: a word that starts or ends with [A-Za-z0-9_] may not touch
// another such byte there).
type wordsDetector struct {
	label string
	words [][]byte // lower case (ASCII; non-ASCII compared with bytes.EqualFold)
	// byFirst lists the words starting with each byte, under both ASCII
	// cases, so the scan looks at a position only when some word can
	// start there.
	byFirst [256][]int32
	// starts, when every word starts with a word byte and has two bytes
	// or more, holds their first two bytes (both cases) so the scan visits
	// only word starts that can begin one, as the built-ins' word pass
	// does; nil otherwise.
	starts *pairTable
}

func newWordsDetector(label string, words []string) *wordsDetector {
	w := &wordsDetector{label: label}
	seen := map[string]bool{}
	for _, s := range words {
		s = strings.ToLower(strings.TrimSpace(s))
		if seen[s] {
			continue
		}
		seen[s] = true
		idx := int32(len(w.words))
		w.words = append(w.words, []byte(s))
		c := s[0]
		w.byFirst[c] = append(w.byFirst[c], idx)
		if c >= 'a' && c <= 'z' {
			w.byFirst[c-'a'+'A'] = append(w.byFirst[c-'a'+'A'], idx)
		}
	}
	w.starts = &pairTable{}
	set := func(c0, c1 byte) {
		for _, a := range caseVariants(c0) {
			for _, b := range caseVariants(c1) {
				x := int(a)<<8 | int(b)
				w.starts[x>>6] |= 1 << (x & 63)
			}
		}
	}
	for _, word := range w.words {
		if !isWord(word[0]) || len(word) == 1 { // the word pass looks at two bytes
			w.starts = nil
			return w
		}
		set(word[0], word[1])
	}
	return w
}

// caseVariants returns c and, for an ASCII letter, its other case.
func caseVariants(c byte) []byte {
	switch {
	case c >= 'a' && c <= 'z':
		return []byte{c, c - 'a' + 'A'}
	case c >= 'A' && c <= 'Z':
		return []byte{c, c - 'A' + 'a'}
	}
	return []byte{c}
}

func (w *wordsDetector) appendHits(dst []Hit, text []byte) []Hit {
	if w.starts != nil {
		for i := 0; ; i++ {
			if i = nextWordStart(w.starts, text, i); i < 0 {
				return dst
			}
			dst = w.at(dst, text, i)
		}
	}
	for i := range text {
		if w.byFirst[text[i]] == nil || isWord(text[i]) && i > 0 && isWord(text[i-1]) {
			continue
		}
		dst = w.at(dst, text, i)
	}
	return dst
}

// at appends the words that match at text[i].
func (w *wordsDetector) at(dst []Hit, text []byte, i int) []Hit {
	n := len(text)
	for _, wi := range w.byFirst[text[i]] {
		word := w.words[wi]
		e := i + len(word)
		if e > n || !foldEqual(text[i:e], word) {
			continue
		}
		if isWord(word[len(word)-1]) && e < n && isWord(text[e]) {
			continue
		}
		dst = append(dst, Hit{Detector: w.label, Start: i, End: e})
	}
	return dst
}

// foldEqual compares b with the lower-case word, ASCII case-insensitively,
// falling back to Unicode folding for non-ASCII words.
func foldEqual(b, word []byte) bool {
	for k, c := range word {
		if c >= 0x80 {
			return bytes.EqualFold(b, word)
		}
		x := b[k]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != c {
			return false
		}
	}
	return true
}
