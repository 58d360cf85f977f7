package detect

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
)

// Byte classes, looked up in one table so the hot loops test a single load.
const (
	cWord   = 1 << iota // [A-Za-z0-9_], the \w of regexp and the word of the word pass
	cDigit              // [0-9]
	cUpper              // [A-Z]
	cLower              // [a-z]
	cHex                // [0-9A-Fa-f]
	cB64URL             // [A-Za-z0-9_-]
	cLocal              // email local part: [A-Za-z0-9._%+_-]
	cAlnum              // [A-Za-z0-9]
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var v uint8
		isDigit := b >= '0' && b <= '9'
		isUpper := b >= 'A' && b <= 'Z'
		isLower := b >= 'a' && b <= 'z'
		if isDigit || isUpper || isLower {
			v |= cWord | cB64URL | cLocal | cAlnum
		}
		if isDigit {
			v |= cDigit | cHex
		}
		if isUpper {
			v |= cUpper
		}
		if isLower {
			v |= cLower
		}
		if (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F') {
			v |= cHex
		}
		switch b {
		case '_':
			v |= cWord | cB64URL | cLocal
		case '-':
			v |= cB64URL | cLocal
		case '.', '%', '+':
			v |= cLocal
		}
		t[c] = v
	}
	return t
}()

func isDigit(c byte) bool { return c-'0' < 10 }
func isWord(c byte) bool  { return class[c]&cWord != 0 }

// runLen counts the bytes of t from i that are all in class cls.
func runLen(t []byte, i int, cls uint8) int {
	j := i
	for j < len(t) && class[t[j]]&cls != 0 {
		j++
	}
	return j - i
}

func digitRun(t []byte, i int) int { return runLen(t, i, cDigit) }

// dispatch maps a word's first byte to the built-ins that may start there.
var dispatch = func() (d [256]uint32) {
	numeric := bit(idPhone) | bit(idCard) | bit(idSSN) | bit(idIP)
	for c := '0'; c <= '9'; c++ {
		d[c] |= numeric
	}
	for c := 'A'; c <= 'Z'; c++ {
		d[c] |= bit(idIBAN)
	}
	d['A'] |= bit(idAWS) | bit(idGoogle)
	d['s'] |= bit(idOpenAI) | bit(idAnthropic) | bit(idStripe)
	d['r'] |= bit(idStripe)
	d['p'] |= bit(idStripe)
	d['g'] |= bit(idGitHub)
	d['x'] |= bit(idSlack)
	d['X'] |= bit(idSlack)
	d['h'] |= bit(idSlack)
	d['e'] |= bit(idJWT)
	for c := range 256 {
		if phraseFirstByte[c] {
			d[c] |= bit(idInjection)
		}
	}
	return d
}()

// startsPair reports whether a word whose first two bytes are c0, c1 may
// begin a hit of a built-in in mask. It is much narrower than the first
// byte alone ("sk", "AK", "gh", "ey", two capitals, a digit, the first
// letters of an injection phrase), so few word starts reach atWord.
func startsPair(mask uint32, c0, c1 byte) bool {
	m := dispatch[c0] & mask
	if m == 0 {
		return false
	}
	p := string([]byte{c0, c1})
	switch {
	case m&(bit(idPhone)|bit(idCard)|bit(idSSN)|bit(idIP)) != 0 && isDigit(c0):
		return true
	case m&bit(idIBAN) != 0 && class[c0]&cUpper != 0 && class[c1]&cUpper != 0:
		return true
	case m&bit(idAWS) != 0 && (p == "AK" || p == "AS" || p == "AB" || p == "AC" || p == "A3"):
		return true
	case m&bit(idGoogle) != 0 && p == "AI":
		return true
	case m&(bit(idOpenAI)|bit(idAnthropic)|bit(idStripe)) != 0 && p == "sk":
		return true
	case m&bit(idStripe) != 0 && (p == "rk" || p == "pk"):
		return true
	case m&bit(idGitHub) != 0 && (p == "gh" || p == "gi"):
		return true
	case m&bit(idSlack) != 0 && (p == "xo" || p == "xa" || p == "XA" || p == "ht" || p == "ho"):
		return true
	case m&bit(idJWT) != 0 && p == "ey":
		return true
	case m&bit(idInjection) != 0 && phraseStarts(c0, c1):
		return true
	}
	return false
}

// pairTable is the bitset of startsPair over all byte pairs (c0<<8 | c1),
// built per Set.
type pairTable [65536 / 64]uint64

func newPairTable(mask uint32) *pairTable {
	p := &pairTable{}
	for x := range 65536 {
		if startsPair(mask, byte(x>>8), byte(x)) {
			p[x>>6] |= 1 << (x & 63)
		}
	}
	return p
}

// wordMask is the built-ins the word pass serves.
var wordMask = bit(idPhone) | bit(idCard) | bit(idIBAN) | bit(idSSN) | bit(idIP) | bit(idJWT) |
	bit(idOpenAI) | bit(idAnthropic) | bit(idAWS) | bit(idGitHub) | bit(idSlack) | bit(idGoogle) |
	bit(idStripe) | bit(idInjection)

// scanner is the state of one Set scan over the built-ins.
type scanner struct {
	text  []byte
	mask  uint32
	names *[numBuiltins]string
	pairs *pairTable
	hits  []Hit
}

func (sc *scanner) add(id builtinID, start, end int) {
	sc.hits = append(sc.hits, Hit{Detector: sc.names[id], Start: start, End: end})
}

func (sc *scanner) run() {
	if sc.mask&bit(idEmail) != 0 {
		sc.emails()
	}
	if sc.mask&bit(idPrivateKey) != 0 {
		sc.privateKeys()
	}
	if sc.mask&bit(idInjection) != 0 {
		sc.invisibles()
	}
	if sc.mask&bit(idIP) != 0 {
		sc.ipv6()
	}
	if sc.mask&wordMask != 0 {
		sc.words()
	}
}

// words visits every word start (a [A-Za-z0-9_] byte at the start of the
// text or after one that is not) whose first two bytes the pair table
// accepts, and hands it to atWord. Tokens and numbers all begin at a word
// start: a key glued to a preceding word ("risk-free" has no word start at
// "sk") is not one.
func (sc *scanner) words() {
	for i := 0; ; {
		if i = nextWordStart(sc.pairs, sc.text, i); i < 0 {
			return
		}
		if e := sc.atWord(i); e > i+1 {
			i = e
		} else {
			i++
		}
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// wordBytes returns, for 8 bytes packed little-endian in x, 0x80 in each
// byte that is [A-Za-z0-9_] and 0 elsewhere (SWAR: the ranges are tested
// on 7-bit bytes, where the additions cannot carry into a neighbour).
func wordBytes(x uint64) uint64 {
	x7 := x &^ msb
	in := func(lo, hi byte) uint64 {
		return (x7 + lsb*uint64(0x80-lo)) &^ (x7 + lsb*uint64(0x7F-hi))
	}
	return (in('0', '9') | in('A', 'Z') | in('a', 'z') | in('_', '_')) &^ x & msb
}

// nextWordStart returns the first word start p >= i whose first two bytes
// the pair table accepts, or -1. It finds word starts eight bytes at a
// time (a word byte after a non-word byte) and looks up only those; it is
// the hot loop, kept free of calls so its state stays in registers.
func nextWordStart(pair *pairTable, t []byte, i int) int {
	n := len(t)
	if i < 0 || i+1 >= n {
		return -1
	}
	j := i &^ 7
	prevNW := uint64(0x80) // the byte before the text is not a word byte
	if j > 0 && isWord(t[j-1]) {
		prevNW = 0
	}
	for ; j < n; j += 8 {
		var x uint64
		if j+8 <= n {
			x = binary.LittleEndian.Uint64(t[j:])
		} else {
			var tail [8]byte // zero bytes are not word bytes
			copy(tail[:], t[j:])
			x = binary.LittleEndian.Uint64(tail[:])
		}
		m := wordBytes(x)
		nw := ^m & msb
		starts := m & (nw<<8 | prevNW)
		prevNW = nw >> 56
		if j < i {
			starts &= ^uint64(0) << (8 * uint(i-j))
		}
		for starts != 0 {
			p := j + bits.TrailingZeros64(starts)/8
			starts &= starts - 1
			if p+1 >= n {
				return -1
			}
			if b := uint(t[p])<<8 | uint(t[p+1]); pair[(b>>6)&1023]&(1<<(b&63)) != 0 {
				return p
			}
		}
	}
	return -1
}

// atWord runs the enabled built-ins that can start with t[i] and returns
// the furthest end of what they found (0 for nothing).
func (sc *scanner) atWord(i int) int {
	t := sc.text
	c := t[i]
	m := dispatch[c] & sc.mask
	best := 0
	found := func(id builtinID, s, e int) {
		if e > s {
			sc.add(id, s, e)
			best = max(best, e)
		}
	}
	if isDigit(c) {
		if m&bit(idSSN) != 0 {
			found(idSSN, i, matchSSN(t, i))
		}
		if m&bit(idCard) != 0 {
			found(idCard, i, matchCard(t, i))
		}
		if m&bit(idPhone) != 0 {
			s, e := matchPhone(t, i)
			found(idPhone, s, e)
		}
		if m&bit(idIP) != 0 {
			found(idIP, i, matchIPv4(t, i))
		}
		return best
	}
	if m&bit(idIBAN) != 0 {
		found(idIBAN, i, matchIBAN(t, i))
	}
	switch c {
	case 'A':
		if m&bit(idAWS) != 0 {
			found(idAWS, i, matchAWS(t, i))
		}
		if m&bit(idGoogle) != 0 {
			found(idGoogle, i, matchGoogle(t, i))
		}
	case 's':
		if m&bit(idAnthropic) != 0 {
			found(idAnthropic, i, matchAnthropic(t, i))
		}
		// An Anthropic key never carries OpenAI's marker by design; the
		// check keeps a chance occurrence from reporting it twice.
		if m&bit(idOpenAI) != 0 && !hasPrefixAt(t, i, "sk-ant-") {
			found(idOpenAI, i, matchOpenAI(t, i))
		}
		if m&bit(idStripe) != 0 {
			found(idStripe, i, matchStripe(t, i))
		}
	case 'r', 'p':
		if m&bit(idStripe) != 0 {
			found(idStripe, i, matchStripe(t, i))
		}
	case 'g':
		if m&bit(idGitHub) != 0 {
			found(idGitHub, i, matchGitHub(t, i))
		}
	case 'x', 'X', 'h':
		if m&bit(idSlack) != 0 {
			found(idSlack, i, matchSlack(t, i))
		}
	case 'e':
		if m&bit(idJWT) != 0 {
			found(idJWT, i, matchJWT(t, i))
		}
	}
	if m&bit(idInjection) != 0 {
		found(idInjection, i, matchPhrase(t, i))
	}
	return best
}

// ipv6 looks at every ':' (bytes.IndexByte) for an IPv6 address around
// it: after a first group of 1-4 hex digits, or as a leading "::".
func (sc *scanner) ipv6() {
	t := sc.text
	n := len(t)
	for off := 0; off < n; {
		k := bytes.IndexByte(t[off:], ':')
		if k < 0 {
			return
		}
		p := off + k
		off = p + 1
		start := -1
		if p+2 < n && t[p+1] == ':' && class[t[p+2]]&cHex != 0 && (p == 0 || !isWord(t[p-1]) && t[p-1] != ':' && t[p-1] != '.') {
			start = p + 2 // "::1:2", "::ffff:1.2.3.4"
		} else {
			h := p
			for h > 0 && p-h < 5 && class[t[h-1]]&cHex != 0 {
				h--
			}
			if h < p && p-h <= 4 && (h == 0 || !isWord(t[h-1])) {
				start = h
			}
		}
		if start < 0 {
			continue
		}
		if s, e := matchIPv6(t, start); e > 0 {
			sc.add(idIP, s, e)
			off = e
		}
	}
}

// entropy is the Shannon entropy of b in bits per byte, as gitleaks
// computes it to drop placeholders ("sk_test_xxxxxxxxxxxx").
func entropy(b []byte) float64 {
	var counts [256]uint16
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	h := 0.0
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
