package session

import (
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// Policy names how older turns are left out when the context does not fit.
type Policy string

// Fitting policies. An empty or unknown policy fits like PolicyWindow.
const (
	// PolicyWindow keeps the newest turns.
	PolicyWindow Policy = "window"
	// PolicySummarize fits like PolicyWindow; the turns it leaves out are
	// replaced by a stored summary, which the caller makes (SummaryPlan,
	// SummaryPrompt) and counts in FitInput.Fixed.
	PolicySummarize Policy = "summarize"
	// PolicyRelevance keeps the newest turns, then the older turns most
	// related to the current input.
	PolicyRelevance Policy = "relevance"
)

// FitInput describes one fitting.
type FitInput struct {
	// Items are the whole history, oldest first, then the new request's
	// items.
	Items []contextdoc.Item
	// Fixed are the tokens that are always sent: system prompt and
	// instructions, profile, pinned documents, the summary item if any,
	// tools.
	Fixed int
	// Current is how many items at the end are the new request's own;
	// they, and the whole turn they belong to, are never dropped. With 0
	// the newest turn is taken as the current one.
	Current int
	// Window is the model's context window in tokens (0: unknown, and
	// everything fits); Output is the output cap reserved out of it.
	Window, Output int
	Policy         Policy
	// Query is the current input's text (for PolicyRelevance); when empty,
	// the text of the current items is used.
	Query string
}

// FitResult says what to send.
type FitResult struct {
	// Keep are the indexes into Items to send, ascending (chronological).
	Keep []int
	// Dropped are the indexes left out, ascending.
	Dropped []int
	// Tokens is the estimated prompt size of what is kept, plus Fixed.
	Tokens int
	// Budget is the prompt size allowed: Window − Output − a safety
	// margin (0 when Window is unknown). Callers quote it in
	// context-length errors.
	Budget int
	// Fits is false when even the current turn (with Fixed and the system
	// messages) does not fit: Keep then holds only those, and the caller
	// decides (with OpenAI's truncation "disabled", a context-length
	// error).
	Fits bool
}

// Estimation constants. They are rough on purpose: a tokenizer per model
// family is not worth its cost on the request path, and the safety
// margin absorbs the error.
const (
	fitBytesPerToken = 4
	// fitItemOverhead is the framing every item costs (role, separators).
	fitItemOverhead = 4
	// fitImageTokens is what an image costs, whatever its size: providers
	// scale images down to about this.
	fitImageTokens = 1000
	// The safety margin: 2% of the window, at least fitMarginMin tokens.
	fitMarginPercent = 2
	fitMarginMin     = 64
	// fitRecentTurns is how many turns before the current one relevance
	// keeps regardless of their relevance: a follow-up ("and the second
	// one?") needs them whatever its words.
	fitRecentTurns = 2
)

// EstimateTokens returns an item's size in tokens: Item.Tokens when set
// (credflow records it from a provider's usage), else an estimate from
// its content: text, refusals, function names, arguments and outputs at
// 4 bytes a token, an image 1,000, a file its decoded size as text but at
// least an image's worth (over-estimating costs an old turn;
// under-estimating, a failed request), plus 4 for the item's framing.
// Opaque reasoning data (signatures, encrypted content) is not counted:
// providers do not count earlier turns' reasoning as input.
func EstimateTokens(it *contextdoc.Item) int {
	if it.Tokens > 0 {
		return it.Tokens
	}
	text := len(it.Name) + len(it.Arguments)
	n := fitItemOverhead
	for i := range it.Content {
		p := &it.Content[i]
		switch p.Type {
		case contextdoc.PartImage:
			n += fitImageTokens
		case contextdoc.PartFile:
			size := base64.StdEncoding.DecodedLen(len(p.Data)) + len(p.Text)
			n += max(fitCeilDiv(size, fitBytesPerToken), fitImageTokens)
		default:
			text += len(p.Text)
		}
	}
	return n + fitCeilDiv(text, fitBytesPerToken)
}

func fitCeilDiv(a, b int) int { return (a + b - 1) / b }

// fitMargin is the safety margin kept free of a window: estimates are
// rough, and providers add framing of their own.
func fitMargin(window int) int {
	return max(window*fitMarginPercent/100, fitMarginMin)
}

// fitGroup is a run of whole turns that is kept or dropped as one: a
// turn, or several merged so that no tool call is parted from its result.
type fitGroup struct {
	start, end int // items [start, end)
	tokens     int // of its items but system and developer messages
	items      int // how many such items
}

// fitKind is what fitting needs to know of an item's type and role.
type fitKind uint8

const (
	fitKindOther fitKind = iota
	// fitKindUser starts a turn.
	fitKindUser
	// fitKindSystem is a system or developer message. These are always kept,
	// like Fixed: they are instructions (which matter more than any turn)
	// and are short, and dropping one would change what the model is told
	// to do, not merely what it remembers.
	fitKindSystem
	// fitKindCall is a function call or output with a call id.
	fitKindCall
)

func fitKindOf(it *contextdoc.Item) fitKind {
	switch it.Type {
	case contextdoc.TypeMessage:
		switch it.Role {
		case contextdoc.RoleUser:
			return fitKindUser
		case contextdoc.RoleSystem, contextdoc.RoleDeveloper:
			return fitKindSystem
		}
	case contextdoc.TypeFunctionCall, contextdoc.TypeFunctionCallOutput:
		if it.CallID != "" {
			return fitKindCall
		}
	}
	return fitKindOther
}

// fitInfo is what fitting needs of an item, read once: items are large
// structs, and a history of thousands is walked several times.
type fitInfo struct {
	tokens int
	kind   fitKind
}

// fitGroups splits items into turns and merges the turns a call id spans,
// oldest first. A turn starts at a user message and runs to the item
// before the next; items before the first user message are a turn of
// their own. Groups without any item but system messages are left out
// (there is nothing in them to keep or drop). calls is how many call
// items there are, to size a map.
func fitGroups(items []contextdoc.Item, info []fitInfo, calls int) []fitGroup {
	n := len(items)
	if n == 0 {
		return nil
	}
	starts := make([]int, 0, 16)
	for i := range info {
		if i == 0 || info[i].kind == fitKindUser {
			starts = append(starts, i)
		}
	}
	nt := len(starts)
	// reach[t] is the oldest turn that turn t must stay with: the turn
	// where a call id it holds first appears. A call and its output are in
	// one turn unless a user message came between them (a client that
	// answered a tool call late); then the turns between merge.
	reach := make([]int, nt)
	var first map[string]int
	if calls > 0 {
		first = make(map[string]int, calls)
	}
	t := -1
	for i := range info {
		if t+1 < nt && starts[t+1] == i {
			t++
			reach[t] = t
		}
		if info[i].kind != fitKindCall {
			continue
		}
		id := items[i].CallID
		if f, ok := first[id]; !ok {
			first[id] = t
		} else if f < reach[t] {
			reach[t] = f
		}
	}
	// Merge from the newest turn down: a group grows while a turn in it
	// reaches further back.
	groups := make([]fitGroup, 0, nt)
	for hi := nt - 1; hi >= 0; {
		lo, k := reach[hi], hi-1
		for ; k >= lo; k-- {
			lo = min(lo, reach[k])
		}
		g := fitGroup{start: starts[k+1], end: n}
		if hi+1 < nt {
			g.end = starts[hi+1]
		}
		for i := g.start; i < g.end; i++ {
			if info[i].kind != fitKindSystem {
				g.tokens += info[i].tokens
				g.items++
			}
		}
		if g.items > 0 {
			groups = append(groups, g)
		}
		hi = k
	}
	slices.Reverse(groups)
	return groups
}

// Fit decides which items of a history are sent to a model: whole turns,
// never a tool call without its result, always the system and developer
// messages and the current turn, and by Policy which older turns. It is
// deterministic, and O(n log n) in the items (plus, for relevance, one
// scan of the candidate turns' text, at most fitScanBytes an item).
func Fit(in FitInput) FitResult {
	items := in.Items
	n := len(items)
	cur := min(max(in.Current, 0), n)
	info := make([]fitInfo, n)
	total, system, nsys, calls := 0, 0, 0, 0
	for i := range items {
		it := &items[i]
		info[i] = fitInfo{tokens: EstimateTokens(it), kind: fitKindOf(it)}
		total += info[i].tokens
		switch info[i].kind {
		case fitKindSystem:
			system += info[i].tokens
			nsys++
		case fitKindCall:
			calls++
		}
	}
	if in.Window <= 0 {
		// Unknown window: nothing to fit against, so send everything and
		// let the provider judge.
		keep := make([]int, n)
		for i := range keep {
			keep[i] = i
		}
		return FitResult{Keep: keep, Dropped: []int{}, Tokens: in.Fixed + total, Fits: true}
	}
	budget := in.Window - in.Output - fitMargin(in.Window)

	groups := fitGroups(items, info, calls)
	// The current groups: those holding any of the last cur items (a
	// suffix of groups), or the newest one.
	mand := len(groups)
	if cur > 0 {
		for mand > 0 && groups[mand-1].end > n-cur {
			mand--
		}
	} else if mand > 0 {
		mand--
	}
	need := in.Fixed + system
	kept := make([]bool, len(groups))
	for g := mand; g < len(groups); g++ {
		need += groups[g].tokens
		kept[g] = true
	}
	res := FitResult{Budget: budget, Fits: need <= budget}
	if res.Fits {
		room := budget - need
		switch in.Policy {
		case PolicyRelevance:
			need += fitByRelevance(in, info, groups[:mand], kept, room, cur)
		default: // window, summarize, unknown
			for g := mand - 1; g >= 0 && groups[g].tokens <= room; g-- {
				room -= groups[g].tokens
				need += groups[g].tokens
				kept[g] = true
			}
		}
	}
	res.Tokens = need

	// One backing array for both lists: Keep from the front, Dropped after.
	nk := nsys
	for g := range groups {
		if kept[g] {
			nk += groups[g].items
		}
	}
	buf := make([]int, n)
	res.Keep, res.Dropped = buf[:0:nk], buf[nk:nk:n]
	g := 0
	for i := range info {
		for g < len(groups) && groups[g].end <= i {
			g++
		}
		// Items outside every group are system messages (groups cover all
		// other items), so the in-group test decides for the rest.
		if info[i].kind == fitKindSystem || (g < len(groups) && groups[g].start <= i && kept[g]) {
			res.Keep = append(res.Keep, i)
		} else {
			res.Dropped = append(res.Dropped, i)
		}
	}
	return res
}

// fitByRelevance marks which of the older groups to keep within room:
// the newest fitRecentTurns, then the others by descending relevance to
// the query, newer first among equals. A group too big for what room is
// left is skipped, not a stop: a smaller, less relevant one may still
// fit. It returns the tokens added.
func fitByRelevance(in FitInput, info []fitInfo, older []fitGroup, kept []bool, room, cur int) int {
	added := 0
	g := len(older) - 1
	for r := 0; r < fitRecentTurns && g >= 0; r, g = r+1, g-1 {
		if older[g].tokens <= room {
			room -= older[g].tokens
			added += older[g].tokens
			kept[g] = true
		}
	}
	// Candidates: the rest that could fit at all (no use reading the
	// others' text).
	var cands []int
	for ; g >= 0; g-- {
		if older[g].tokens <= room {
			cands = append(cands, g) // newest first
		}
	}
	if len(cands) == 0 {
		return added
	}
	query := in.Query
	if strings.TrimSpace(query) == "" {
		var b strings.Builder
		for i := len(in.Items) - cur; i < len(in.Items); i++ {
			fitItemText(&in.Items[i], func(s string) { b.WriteString(s); b.WriteByte(' ') })
		}
		query = b.String()
	}
	score := fitBM25(in.Items, info, older, cands, query)
	order := make([]int, len(cands)) // positions in cands
	for k := range order {
		order[k] = k
	}
	if score != nil {
		// Stable on a list newest first: equal scores keep recency order.
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case score[a] > score[b]:
				return -1
			case score[a] < score[b]:
				return 1
			}
			return 0
		})
	}
	for _, k := range order {
		if g := cands[k]; older[g].tokens <= room {
			room -= older[g].tokens
			added += older[g].tokens
			kept[g] = true
		}
	}
	return added
}

// fitItemText calls fn with each piece of an item's text that says what
// the item is about: message, output and reasoning text, a call's name
// and arguments.
func fitItemText(it *contextdoc.Item, fn func(string)) {
	if it.Name != "" {
		fn(it.Name)
	}
	if it.Arguments != "" {
		fn(it.Arguments)
	}
	for i := range it.Content {
		if p := &it.Content[i]; p.Type == contextdoc.PartText || p.Type == contextdoc.PartRefusal || p.Type == "" {
			fn(p.Text)
		}
	}
}

// BM25 parameters, the usual ones.
const (
	fitBM25K1 = 1.2
	fitBM25B  = 0.75
)

// fitScanBytes is how much of an item's text relevance reads: its
// beginning says what it is about, and a long tool result (a file, a
// page) would otherwise cost more to scan than it is worth on the
// request path.
const fitScanBytes = 8 << 10

// fitBM25 scores each candidate group (indexes into groups) against the
// query with Okapi BM25 over lowercased words, the candidates being the
// collection. It returns nil when the query has no word to match.
//
// Only query words are counted, so a candidate's text is read once and
// nothing is allocated per word; of a long item, only the first
// fitScanBytes are read.
func fitBM25(items []contextdoc.Item, info []fitInfo, groups []fitGroup, cands []int, query string) []float64 {
	terms := make(map[string]int)
	var filter fitWordFilter
	buf := make([]byte, 0, 64)
	buf = fitWords(query, buf, func(w []byte) {
		if _, stop := fitStopwords[string(w)]; stop {
			return
		}
		if _, ok := terms[string(w)]; !ok {
			terms[string(w)] = len(terms)
			filter.add(w)
		}
	})
	nq := len(terms)
	if nq == 0 {
		return nil
	}
	tf := make([]int32, len(cands)*nq)
	dl := make([]int, len(cands))
	totalLen := 0
	for c, g := range cands {
		row := tf[c*nq : (c+1)*nq]
		words := 0
		count := func(w []byte) {
			words++
			if filter.may(w) {
				if q, ok := terms[string(w)]; ok {
					row[q]++
				}
			}
		}
		for i := groups[g].start; i < groups[g].end; i++ {
			if info[i].kind != fitKindSystem {
				left := fitScanBytes
				fitItemText(&items[i], func(s string) {
					s = s[:min(len(s), left)]
					left -= len(s)
					buf = fitWords(s, buf, count)
				})
			}
		}
		dl[c] = words
		totalLen += words
	}
	df := make([]int, nq)
	for c := range cands {
		for q, f := range tf[c*nq : (c+1)*nq] {
			if f > 0 {
				df[q]++
			}
		}
	}
	nd := float64(len(cands))
	idf := make([]float64, nq)
	for q := range idf {
		// The non-negative form: a word in most turns still counts a little.
		idf[q] = math.Log(1 + (nd-float64(df[q])+0.5)/(float64(df[q])+0.5))
	}
	avg := max(float64(totalLen)/nd, 1)
	score := make([]float64, len(cands))
	for c := range cands {
		norm := fitBM25K1 * (1 - fitBM25B + fitBM25B*float64(dl[c])/avg)
		s := 0.0
		for q, f := range tf[c*nq : (c+1)*nq] {
			if f > 0 {
				ff := float64(f)
				s += idf[q] * ff * (fitBM25K1 + 1) / (ff + norm)
			}
		}
		score[c] = s
	}
	return score
}

// fitWordFilter rejects most words that are not query words by their
// length and first byte, cheaper than a map lookup.
type fitWordFilter struct {
	lens  uint64
	first [4]uint64
}

func (f *fitWordFilter) add(w []byte) {
	f.lens |= 1 << min(len(w), 63)
	f.first[w[0]>>6] |= 1 << (w[0] & 63)
}

func (f *fitWordFilter) may(w []byte) bool {
	return f.lens&(1<<min(len(w), 63)) != 0 && f.first[w[0]>>6]&(1<<(w[0]&63)) != 0
}

// fitWords calls fn with each word of s, lowercased, in buf (reused; it
// returns it for the next call). A word is a run of letters and digits
// of at least two bytes; a CJK ideograph or kana is a word by itself, as
// those scripts do not space words.
func fitWords(s string, buf []byte, fn func(w []byte)) []byte {
	w := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if l := fitASCII[c]; l != 0 {
				w = append(w, l)
				continue
			}
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			if fitIdeograph(r) {
				if len(w) > 1 {
					fn(w)
				}
				w = utf8.AppendRune(w[:0], r)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				w = utf8.AppendRune(w, unicode.ToLower(r))
				continue
			}
		}
		if len(w) > 1 {
			fn(w)
		}
		w = w[:0]
	}
	if len(w) > 1 {
		fn(w)
	}
	return w[:0]
}

// fitASCII maps an ASCII letter or digit to its lowercase, anything else
// to 0: one lookup a byte in the hot loop.
var fitASCII = func() (t [utf8.RuneSelf]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = c, c
	}
	return t
}()

func fitIdeograph(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// fitStopwords are English words too common to say what a turn is about.
var fitStopwords = func() map[string]struct{} {
	m := make(map[string]struct{})
	for _, w := range strings.Fields(`
		about above after again all also am an and any are as at be because
		been before being below between both but by can could did do does
		doing down during each few for from further had has have having he
		her here hers him his how if in into is it its itself just let me
		more most my no nor not now of off on once only or other our ours
		out over own please same she should so some such than that the
		their theirs them then there these they this those through to too
		under until up very was we were what when where which while who
		whom why will with would you your yours yourself
		don doesn didn isn aren wasn ll ve re
	`) {
		m[w] = struct{}{}
	}
	return m
}()

// SummaryPlan returns the indexes of the items the caller must fold into
// the stored summary, oldest first: those the summarize policy leaves out
// (in.Policy is taken as PolicySummarize) that the summary, covering the
// first summarizedThrough items, does not cover yet. Dropped items are
// always the whole turns before the kept ones (less system messages,
// which are never dropped), so once they are folded in the summary
// covers through the last index returned plus one, and the next plan
// starts there. It returns nil when there is nothing new.
//
// in.Fixed should count the summary as it is now; a summary that grows
// may push another turn out, which the next plan picks up.
func SummaryPlan(in FitInput, summarizedThrough int) (toSummarize []int) {
	in.Policy = PolicySummarize
	dropped := Fit(in).Dropped
	k, _ := slices.BinarySearch(dropped, summarizedThrough)
	if k == len(dropped) {
		return nil
	}
	return slices.Clip(dropped[k:])
}

// fitSummaryInstructions open a summarizer request.
const fitSummaryInstructions = `You keep the running summary of a conversation between a user and an AI assistant, so that the conversation can go on after its older turns are removed from the model's context.

Update the previous summary with the new turns below. Keep what a later turn may need: facts about the user and their work, decisions made and why, names (people, projects, files, functions, services, identifiers), numbers and values that matter, the tool calls made and what their results showed, and the tasks and questions still open. Drop greetings, repetition and anything superseded; when the new turns contradict the previous summary, keep the newer. Be concise: plain text, third person, short paragraphs or bullet points.

Reply with the updated summary only.`

// SummaryPrompt builds the text of a request asking a model to fold items
// (from SummaryPlan) into the previous summary prev (empty when there is
// none yet). Reasoning items are left out: they are the model's working,
// and what came of them is in the messages and calls that followed.
func SummaryPrompt(prev string, items []contextdoc.Item) string {
	var b strings.Builder
	b.WriteString(fitSummaryInstructions)
	b.WriteString("\n\nPrevious summary:\n")
	if prev = strings.TrimSpace(prev); prev == "" {
		b.WriteString("(none)")
	} else {
		b.WriteString(prev)
	}
	b.WriteString("\n\nNew turns:\n")
	for i := range items {
		it := &items[i]
		switch it.Type {
		case contextdoc.TypeMessage:
			b.WriteString("\n")
			b.WriteString(it.Role)
			b.WriteString(": ")
			fitWriteContent(&b, it)
		case contextdoc.TypeFunctionCall:
			b.WriteString("\ntool call ")
			b.WriteString(it.Name)
			b.WriteString("(")
			b.WriteString(it.Arguments)
			b.WriteString(")")
		case contextdoc.TypeFunctionCallOutput:
			if it.IsError {
				b.WriteString("\ntool result (error): ")
			} else {
				b.WriteString("\ntool result: ")
			}
			fitWriteContent(&b, it)
		default:
			continue
		}
		b.WriteString("\n")
	}
	return b.String()
}

// fitWriteContent writes an item's parts for a summarizer: text as is,
// attachments by name only.
func fitWriteContent(b *strings.Builder, it *contextdoc.Item) {
	for k, p := range it.Content {
		if k > 0 {
			b.WriteString(" ")
		}
		switch p.Type {
		case contextdoc.PartImage:
			b.WriteString("[image]")
		case contextdoc.PartFile:
			if p.Filename != "" {
				b.WriteString("[file " + p.Filename + "]")
			} else {
				b.WriteString("[file]")
			}
		default:
			b.WriteString(strings.TrimSpace(p.Text))
		}
	}
}
