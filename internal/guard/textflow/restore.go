package textflow

import (
	"bytes"
	"strings"
	"sync"
)

// Transformer rewrites a text that arrives in pieces. Write returns the
// text that is safe to emit now; Flush returns what is held back at the end
// of the text. A Transformer is used by one goroutine at a time.
type Transformer interface {
	Write(chunk string) string
	Flush() string
}

// Quicker is an optional Transformer method: Quick reports that Write(chunk)
// would return chunk unchanged and leave nothing held, so the caller may
// skip Write and keep its own encoding of chunk. Stream relies on it to
// pass events through without re-encoding them.
type Quicker interface {
	Quick(chunk string) bool
}

// BytesQuicker is Quick for a []byte chunk, which spares Stream a string
// conversion (an allocation) per event. chunk must not be retained.
type BytesQuicker interface {
	QuickBytes(chunk []byte) bool
}

// Triggered is an optional Transformer method: Triggers returns the bytes
// without which a chunk is always Quick while nothing is held. Stream uses
// it to pass whole events on without reading their JSON: an event none of
// whose strings can hold a trigger byte needs no rewriting.
type Triggered interface {
	Triggers() string
}

// Wholer is an optional Transformer method: Whole rewrites a complete text
// without touching the Transformer's streaming state. Without it, Stream
// rewrites whole texts (".done" events, whole objects) with a fresh
// Transformer's Write and Flush.
type Wholer interface {
	Whole(s string) string
}

// Restorer is a Transformer that replaces placeholders by their originals.
// Where placeholders overlap it takes, at the leftmost position, the longest
// one that matches ("[EMAIL_10]" over "[EMAIL_1]"), the same whether the
// text arrives whole or in pieces. While streaming it holds back at most
// MaxHold bytes, and only while the held text is a prefix of a placeholder
// that more text could complete.
type Restorer struct {
	tab  *table
	held string
}

// table is a Restorer's immutable part, shared by Fork and ForJSON.
type table struct {
	nodes []node
	orig  []string
	first [256]bool
	one   int // the only first byte of all placeholders, or -1
	max   int // longest placeholder
	json  bool

	twinOnce sync.Once
	twin     *table // the same placeholders, originals JSON-escaped
}

// node is a trie node: placeholders are paths from nodes[0].
type node struct {
	labels []byte  // edge bytes, parallel to kids
	kids   []int32 // node indices
	out    int32   // index into orig of the placeholder ending here, or -1
}

// NewRestorer returns a Restorer for m, placeholder → original. Empty
// placeholders are ignored. Placeholders may start with any byte; when they
// all start with the same one (such as '['), finding candidates is a
// memchr.
func NewRestorer(m map[string]string) *Restorer {
	t := &table{nodes: []node{{out: -1}}, one: -1}
	for ph, orig := range m {
		if ph == "" {
			continue
		}
		n := 0
		for k := 0; k < len(ph); k++ {
			n = t.child(n, ph[k], true)
		}
		t.nodes[n].out = int32(len(t.orig))
		t.orig = append(t.orig, orig)
		t.max = max(t.max, len(ph))
		t.first[ph[0]] = true
	}
	if l := t.nodes[0].labels; len(l) == 1 {
		t.one = int(l[0])
	}
	return &Restorer{tab: t}
}

func (t *table) child(n int, c byte, add bool) int {
	nd := &t.nodes[n]
	if k := bytes.IndexByte(nd.labels, c); k >= 0 {
		return int(nd.kids[k])
	}
	if !add {
		return -1
	}
	id := len(t.nodes)
	nd.labels = append(nd.labels, c)
	nd.kids = append(nd.kids, int32(id))
	t.nodes = append(t.nodes, node{out: -1})
	return id
}

// Fork returns a Restorer with the same placeholders and nothing held, for
// another text slot; it shares r's tables, so it is cheap.
func (r *Restorer) Fork() *Restorer { return &Restorer{tab: r.tab} }

// ForJSON returns a fresh Restorer whose originals are escaped as the
// inside of a JSON string, for texts that are JSON themselves (tool call
// arguments), where a placeholder stands inside a string literal and an
// original holding '"' or '\' would otherwise break the document. ForJSON
// of such a Restorer is just a Fork.
func (r *Restorer) ForJSON() *Restorer {
	t := r.tab
	if t.json {
		return r.Fork()
	}
	t.twinOnce.Do(func() {
		tw := &table{nodes: t.nodes, first: t.first, one: t.one, max: t.max, json: true}
		tw.orig = make([]string, len(t.orig))
		for k, o := range t.orig {
			q := appendQuoted(nil, o)
			tw.orig[k] = string(q[1 : len(q)-1])
		}
		t.twin = tw
	})
	return &Restorer{tab: t.twin}
}

// MaxHold is the most Write ever holds back: the longest placeholder less
// one byte.
func (r *Restorer) MaxHold() int { return max(r.tab.max-1, 0) }

// Held returns how many bytes Write is holding back now.
func (r *Restorer) Held() int { return len(r.held) }

// Write implements Transformer.
func (r *Restorer) Write(chunk string) string {
	s := chunk
	if r.held != "" {
		s = r.held + chunk
	}
	out, held := r.tab.run(s, false)
	r.held = held
	return out
}

// Flush implements Transformer: the held text is released, with any
// complete placeholder in it replaced.
func (r *Restorer) Flush() string {
	if r.held == "" {
		return ""
	}
	out, _ := r.tab.run(r.held, true)
	r.held = ""
	return out
}

// Replace returns s with every placeholder replaced, for texts that arrive
// whole. It does not touch the streaming state.
func (r *Restorer) Replace(s string) string {
	out, _ := r.tab.run(s, true)
	return out
}

// Whole implements Wholer; it is Replace.
func (r *Restorer) Whole(s string) string { return r.Replace(s) }

// Quick implements Quicker: nothing is held and no placeholder can start
// in chunk.
func (r *Restorer) Quick(chunk string) bool {
	if r.held != "" {
		return false
	}
	if r.tab.one >= 0 {
		return strings.IndexByte(chunk, byte(r.tab.one)) < 0
	}
	if r.tab.max == 0 {
		return true
	}
	for k := 0; k < len(chunk); k++ {
		if r.tab.first[chunk[k]] {
			return false
		}
	}
	return true
}

// Triggers implements Triggered: the first bytes of the placeholders.
func (r *Restorer) Triggers() string {
	var b []byte
	for c := range 256 {
		if r.tab.first[c] {
			b = append(b, byte(c))
		}
	}
	return string(b)
}

// QuickBytes implements BytesQuicker.
func (r *Restorer) QuickBytes(chunk []byte) bool {
	if r.held != "" {
		return false
	}
	if r.tab.one >= 0 {
		return bytes.IndexByte(chunk, byte(r.tab.one)) < 0
	}
	if r.tab.max == 0 {
		return true
	}
	for _, c := range chunk {
		if r.tab.first[c] {
			return false
		}
	}
	return true
}

// run replaces the placeholders of s. Unless final, it stops at the first
// position where s's rest is a proper prefix of a placeholder and returns
// that rest as held: only more text can tell whether it matches. With
// final, that position takes the longest complete match, if any. Both ways
// decide every position exactly as a run over the whole text would.
func (t *table) run(s string, final bool) (out, held string) {
	var b []byte // nil until the first replacement
	last, i := 0, 0
	for i < len(s) {
		j := t.next(s, i)
		if j < 0 {
			break
		}
		n, o, open := t.match(s[j:])
		if open && !final {
			if b == nil {
				return s[:j], s[j:]
			}
			b = append(b, s[last:j]...)
			return string(b), s[j:]
		}
		if n == 0 {
			i = j + 1
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s)+len(t.orig[o]))
		}
		b = append(b, s[last:j]...)
		b = append(b, t.orig[o]...)
		i = j + n
		last = i
	}
	if b == nil {
		return s, ""
	}
	return string(append(b, s[last:]...)), ""
}

// next returns the first index ≥ i where a placeholder may start, or -1.
func (t *table) next(s string, i int) int {
	if t.one >= 0 {
		if k := strings.IndexByte(s[i:], byte(t.one)); k >= 0 {
			return i + k
		}
		return -1
	}
	for ; i < len(s); i++ {
		if t.first[s[i]] {
			return i
		}
	}
	return -1
}

// match walks the trie along s: n is the length of the longest placeholder
// that s starts with (0 if none) and o its original's index; open reports
// that all of s is a proper prefix of a longer placeholder.
func (t *table) match(s string) (n, o int, open bool) {
	nd := 0
	for k := 0; k < len(s); k++ {
		nd = t.child(nd, s[k], false)
		if nd < 0 {
			return n, o, false
		}
		if x := t.nodes[nd].out; x >= 0 {
			n, o = k+1, int(x)
		}
	}
	return n, o, len(t.nodes[nd].kids) > 0
}
