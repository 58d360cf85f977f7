package detect

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
)

// MinExactLen is the shortest value Exact holds: shorter ones would match
// ordinary words, and the 8-byte window needs a whole window.
const MinExactLen = 8

// Exact matches a fixed set of secret values (the vault's secrets) exactly,
// holding no plaintext: build it from values, then the caller wipes its
// copies.
//
// For each value it keeps its length and a keyed hash (hash/maphash, with a
// random seed) of the whole value, and sets bits in a bitset for a
// keyed mix of 8-byte windows near the value's end. Scan looks at the text
// through an 8-byte window (one load, multiply and bit test); a set bit
// sends the window to the values of that bucket, each confirmed by hashing
// the text it would cover.
//
// Two choices keep it fast. The windows are the value's tail, not its head,
// because API keys share their heads ("sk-proj-", "ghp_"), which would send
// every such occurrence to every key of that provider. And a value of 11
// bytes or more registers its last exactStride windows, so Scan needs to
// look only at every exactStride-th text position: any occurrence has one
// of those windows at such a position. Values of 8-10 bytes go to a second
// table scanned at every position, which costs time only when there are
// such values.
//
// A heap dump shows no value: the bitset, about 0.3% full, keeps some 8
// bits of each tail window (keyed with a random mix key), and the rest are
// 64-bit keyed hashes. (A value short and guessable enough to
// brute-force against its hash with the seed is as weak in the vault.)
type Exact struct {
	label  string
	seed   maphash.Seed
	mixKey uint64
	long   exactTable // values of exactStride+7 bytes or more
	short  exactTable // shorter ones, at stride 1
	count  int
}

// exactStride is how many text positions one window check covers.
const exactStride = 4

type exactTable struct {
	stride  int
	shift   uint     // 64 - log2(len(bits)*64)
	bits    []uint64 // nil when the table is empty
	entries []exactEntry
}

type exactEntry struct {
	bucket uint32 // the window's bit index
	offset uint32 // where the window starts in the value
	length uint32
	sum    uint64 // maphash of the whole value
}

const mixMul = 0x9E3779B97F4A7C15

// NewExact returns an Exact for values, reporting hits as label (e.g.
// "vault_secret"). Values shorter than MinExactLen are ignored; duplicates
// count once. It keeps no reference to values.
func NewExact(label string, values [][]byte) *Exact {
	var key [8]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails
	e := &Exact{label: label, seed: maphash.MakeSeed(), mixKey: binary.LittleEndian.Uint64(key[:])}
	type value struct {
		length uint32
		sum    uint64
	}
	var vals []value
	for _, v := range values {
		if len(v) >= MinExactLen {
			vals = append(vals, value{uint32(len(v)), maphash.Bytes(e.seed, v)})
		}
	}
	// Distinct values, by length and hash.
	slices.SortFunc(vals, func(a, b value) int {
		if a.length != b.length {
			return int(a.length) - int(b.length)
		}
		return cmpUint64(a.sum, b.sum)
	})
	vals = slices.Compact(vals)
	e.count = len(vals)
	nLong, nShort := 0, 0
	for _, v := range vals {
		if v.length >= exactStride+7 {
			nLong++
		} else {
			nShort++
		}
	}
	e.long = newExactTable(exactStride, nLong*exactStride)
	e.short = newExactTable(1, nShort)
	for _, v := range values {
		if len(v) < MinExactLen {
			continue
		}
		t, windows := &e.short, 1
		if len(v) >= exactStride+7 {
			t, windows = &e.long, exactStride
		}
		sum := maphash.Bytes(e.seed, v)
		for w := range windows {
			off := len(v) - 8 - w
			b := e.bucket(t, binary.LittleEndian.Uint64(v[off:]))
			t.entries = append(t.entries, exactEntry{bucket: b, offset: uint32(off), length: uint32(len(v)), sum: sum})
		}
	}
	for _, t := range []*exactTable{&e.long, &e.short} {
		slices.SortFunc(t.entries, func(a, b exactEntry) int {
			if a.bucket != b.bucket {
				return int(a.bucket) - int(b.bucket)
			}
			if a.offset != b.offset {
				return int(a.offset) - int(b.offset)
			}
			if a.length != b.length {
				return int(a.length) - int(b.length)
			}
			return cmpUint64(a.sum, b.sum)
		})
		t.entries = slices.Compact(t.entries)
		for _, en := range t.entries {
			t.bits[en.bucket/64] |= 1 << (en.bucket % 64)
		}
	}
	return e
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newExactTable sizes a table for windows entries: about 256 bits per
// window (8 KB for 200 values at stride 1, 32 KB at stride 4) keeps false
// candidates near 0.4% of checks while the bitset stays in L1 cache.
func newExactTable(stride, windows int) exactTable {
	t := exactTable{stride: stride}
	if windows == 0 {
		return t
	}
	logBits := max(12, min(24, bits.Len(uint(windows*256-1))))
	t.shift = uint(64 - logBits)
	t.bits = make([]uint64, (1<<logBits)/64)
	return t
}

func (e *Exact) bucket(t *exactTable, window uint64) uint32 {
	return uint32(((window ^ e.mixKey) * mixMul) >> t.shift)
}

// Len returns how many distinct values e holds.
func (e *Exact) Len() int {
	if e == nil {
		return 0
	}
	return e.count
}

// Scan reports every occurrence of a held value, in increasing Start
// order; occurrences that overlap (two values sharing text, or one value
// inside another) are reported as one hit covering all of them, so a mask
// hides every byte of every value.
func (e *Exact) Scan(text []byte, hit func(Hit) bool) { scanWith(e, text, hit) }

func (e *Exact) appendHits(dst []Hit, text []byte) []Hit {
	if e == nil || e.count == 0 || len(text) < MinExactLen {
		return dst
	}
	base := len(dst)
	for _, t := range []*exactTable{&e.long, &e.short} {
		if t.bits == nil {
			continue
		}
		for j := 0; ; j += t.stride {
			var b uint32
			if j, b = e.next(t, text, j); j < 0 {
				break
			}
			dst = e.confirm(t, dst, text, j, b)
		}
	}
	if len(dst) == base {
		return dst
	}
	// Occurrences were found by their tails, possibly more than once; order
	// them by start and merge the overlapping ones.
	found := dst[base:]
	slices.SortFunc(found, func(a, b Hit) int { return a.Start - b.Start })
	out := base
	for _, h := range found {
		if out > base && h.Start < dst[out-1].End {
			dst[out-1].End = max(dst[out-1].End, h.End)
			continue
		}
		dst[out] = h
		out++
	}
	return dst[:out]
}

// next returns the first window position at or after j (stepping by the
// table's stride) whose bucket bit is set, and the bucket; -1 when there
// is none. It is the hot loop, kept free of calls so its state stays in
// registers.
func (e *Exact) next(t *exactTable, text []byte, j int) (int, uint32) {
	words := t.bits
	mask := uint32(len(words) - 1)
	k, shift, stride := e.mixKey, t.shift&63, t.stride
	for ; j+8 <= len(text); j += stride {
		b := uint32(((binary.LittleEndian.Uint64(text[j:]) ^ k) * mixMul) >> shift)
		if words[(b>>6)&mask]&(1<<(b&63)) != 0 {
			return j, b
		}
	}
	return -1, 0
}

// confirm checks the entries of bucket b against the text around the
// window at text[j:j+8].
func (e *Exact) confirm(t *exactTable, dst []Hit, text []byte, j int, b uint32) []Hit {
	ents := t.entries
	lo, hi := 0, len(ents)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ents[m].bucket < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for ; lo < len(ents) && ents[lo].bucket == b; lo++ {
		en := ents[lo]
		start := j - int(en.offset)
		end := start + int(en.length)
		if start < 0 || end > len(text) {
			continue
		}
		if maphash.Bytes(e.seed, text[start:end]) == en.sum {
			dst = append(dst, Hit{Detector: e.label, Start: start, End: end})
		}
	}
	return dst
}

// VirtualKeys matches credflow virtual keys: "cf-" followed by exactly 32
// base64url characters, not preceded or followed by another base64url
// character. A candidate is a hit only if verify(candidate) is true; verify
// nil makes every well-shaped key a hit. verify must not keep candidate, a
// slice of the scanned text.
type VirtualKeys struct {
	verify func(candidate []byte) bool
}

// NewVirtualKeys returns a VirtualKeys scanner (detector "virtual_key").
func NewVirtualKeys(verify func(candidate []byte) bool) *VirtualKeys {
	return &VirtualKeys{verify: verify}
}

var vkPrefix = []byte("cf-")

const vkBody = 32

// Scan reports every virtual key in text that verify accepts.
func (v *VirtualKeys) Scan(text []byte, hit func(Hit) bool) { scanWith(v, text, hit) }

func (v *VirtualKeys) appendHits(dst []Hit, text []byte) []Hit {
	if v == nil {
		return dst
	}
	n := len(text)
	for off := 0; off < n; {
		k := bytes.Index(text[off:], vkPrefix)
		if k < 0 {
			break
		}
		i := off + k
		off = i + 1
		e := i + len(vkPrefix) + vkBody
		if e > n || (i > 0 && class[text[i-1]]&cB64URL != 0) || runLen(text, i+3, cB64URL) != vkBody {
			continue
		}
		if v.verify != nil && !v.verify(text[i:e]) {
			continue
		}
		dst = append(dst, Hit{Detector: VirtualKeyDetector, Start: i, End: e})
		off = e
	}
	return dst
}
