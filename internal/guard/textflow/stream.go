package textflow

import (
	"bytes"
	"strconv"

	"github.com/credflow/credflow/pkg/llmapi"
)

// Format is the client-facing API format of a stream.
type Format int

const (
	// Chat is OpenAI Chat Completions chunks, ending in "data: [DONE]".
	Chat Format = iota
	// Messages is Anthropic Messages events.
	Messages
	// Responses is OpenAI Responses API events.
	Responses
	// Completions is legacy OpenAI completions chunks (choices[i].text).
	Completions
)

func (f Format) String() string {
	switch f {
	case Chat:
		return "chat"
	case Messages:
		return "messages"
	case Responses:
		return "responses"
	case Completions:
		return "completions"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Kind says what a text slot carries, for callers that treat them apart.
type Kind int

const (
	// Text is answer text (and refusals).
	Text Kind = iota
	// Reasoning is reasoning or thinking text.
	Reasoning
	// Arguments is tool call arguments or tool input: JSON text, in which a
	// restored original must be JSON-escaped (see Restorer.ForJSON).
	Arguments
	nKinds
)

// field names a text slot's place in its format.
type field uint8

const (
	fContent          field = iota // Chat delta.content
	fReasoningContent              // Chat delta.reasoning_content
	fReasoning                     // Chat delta.reasoning
	fRefusal                       // Chat delta.refusal
	fToolArgs                      // Chat delta.tool_calls[j].function.arguments
	fText                          // Completions choices[i].text
	fBlock                         // Messages content block
	fOutputText                    // Responses families, see respFams
	fRespRefusal
	fFuncArgs
	fSummary
	fReasoningText
)

// chatFields are the Chat delta members that are text slots.
var chatFields = [...]struct {
	name string
	kind Kind
}{
	fContent:          {"content", Text},
	fReasoningContent: {"reasoning_content", Reasoning},
	fReasoning:        {"reasoning", Reasoning},
	fRefusal:          {"refusal", Text},
}

// Messages delta types that are text slots.
const (
	dtNone uint8 = iota
	dtText
	dtJSON
	dtThinking
)

var msgDeltas = [...]struct{ typ, field string }{
	dtText:     {"text_delta", "text"},
	dtJSON:     {"input_json_delta", "partial_json"},
	dtThinking: {"thinking_delta", "thinking"},
}

// respFam is a Responses event family with a streamed text slot: its delta
// event, its done event and the done event's member holding the full text.
type respFam struct {
	f           field
	delta, done string
	doneField   string
	kind        Kind
	sub         string // second slot index member, "" for none
}

var respFams = [...]respFam{
	{fOutputText, "response.output_text.delta", "response.output_text.done", "text", Text, "content_index"},
	{fRespRefusal, "response.refusal.delta", "response.refusal.done", "refusal", Text, "content_index"},
	{fFuncArgs, "response.function_call_arguments.delta", "response.function_call_arguments.done", "arguments", Arguments, ""},
	{fSummary, "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done", "text", Reasoning, "summary_index"},
	{fReasoningText, "response.reasoning_text.delta", "response.reasoning_text.done", "text", Reasoning, "content_index"},
}

func respFamOf(f field) *respFam {
	for k := range respFams {
		if respFams[k].f == f {
			return &respFams[k]
		}
	}
	return nil
}

// slotKey identifies a text slot: a is the choice, content block or output
// index, b the tool call, content or summary index.
type slotKey struct {
	a, b int
	f    field
}

type slot struct {
	key   slotKey
	kind  Kind
	t     Transformer
	qb    BytesQuicker
	q     Quicker
	dtype uint8  // Messages: the block's delta type
	item  []byte // Responses: item_id as raw JSON
	holds bool   // t may be holding text back
}

// target is a text field found in the event being handled.
type target struct {
	start, end int // the JSON string, quotes included
	esc        bool
	key        slotKey
	kind       Kind
	dtype      uint8
	slow       bool   // went through Write; out is valid
	changed    bool   // out differs from the text
	out        string // text to send instead
}

// choice is a Chat or Completions choice in the event being handled.
type choice struct {
	index     int
	finishing bool // finish_reason is set: its slots end here
	other     bool // carries more than text: never dropped
}

type piece struct {
	key  slotKey
	text string
}

// Stream rewrites the text deltas of one SSE stream in one client-facing
// API format, through one Transformer per text slot. It is not safe for
// concurrent use.
//
// Slots: Chat choices[i].delta.content, .reasoning_content, .reasoning,
// .refusal and .tool_calls[j].function.arguments, per choice and tool call
// index; Completions choices[i].text; Messages content_block_delta text,
// partial_json and thinking, per block index; Responses output_text,
// refusal, function_call_arguments, reasoning_summary_text and
// reasoning_text deltas, per output index (and content or summary index).
//
// A slot ends with Chat's/Completions' finish_reason for its choice, the
// [DONE] marker, Messages' content_block_stop, or the Responses family's
// ".done" event (or output_item.done, response.completed, .incomplete,
// .failed); text still held then goes out first, as an extra delta event
// of the slot's own shape or, when the closing Chat chunk carries the slot
// itself, appended to it. Finish does the same for streams that stop
// without closing.
//
// Whole texts are rewritten too, with whole-text semantics: Responses
// ".done" texts and the strings of every other Responses event
// (output_item.done, content_part.done, response.completed …), and of
// Messages message_start, content_block_start and deltas of other types
// (citations). Member "arguments" and "partial_json" strings are
// Arguments.
//
// An event whose text needed no change is passed on as the same Event, its
// Data untouched; so is any event that is not a JSON object or is not read
// as one. When nothing is held and the transformers are Triggered, an event
// none of whose strings can hold a trigger byte is passed on without being
// parsed at all.
//
// Emptied deltas: a delta event whose text became "" because all of it is
// held back is dropped (Chat, Completions, Messages and Responses alike),
// unless it carries something else — role, tool call id or name,
// finish_reason, non-null usage, non-empty logprobs — in which case it is
// sent with "" as its text. The held text goes out with a later event of the
// slot. An event whose text was "" upstream is not a change and passes.
//
// Responses numbering: each event the client receives gets upstream's
// sequence_number plus the count of events added so far less those
// dropped, so a gapless upstream stays gapless; an event whose number comes
// out the same keeps its bytes.
type Stream struct {
	f    Format
	newT func(Kind) Transformer

	slots   []*slot
	probes  [nKinds]probe
	targets []target
	choices []choice
	pieces  []piece
	scratch []byte // decoded escaped text
	tmpl    []byte // Chat/Completions: a chunk of the stream, the shape for made-up chunks
	named   bool   // events carry SSE event names

	nhold int  // slots that may be holding text
	trig  trig // what makes an event need reading

	// Responses numbering: the client gets upstream's number plus shift,
	// which counts the events added less those dropped, so a gapless
	// upstream stays gapless.
	seqOn   bool
	shift   int
	lastSeq int // the last number sent
}

// trig is the union of the slot transformers' trigger bytes.
type trig struct {
	init bool
	ok   bool // every kind's transformer is Triggered, by harmless bytes
	any  bool // there is at least one trigger byte
	one  int  // the only trigger byte, or -1
	set  [256]bool
}

// probe is a Transformer of a kind that is never written to: it answers
// Quick for slots that have none yet, and Whole.
type probe struct {
	init bool
	t    Transformer
	qb   BytesQuicker
	q    Quicker
	w    Wholer
}

// NewStream returns a Stream whose text slots each get a Transformer from
// newT, called once per slot when the slot first has text that may need
// rewriting (a slot whose text never does costs nothing), and once per Kind
// for a probe that is never written to and answers Quick, Triggers and
// Whole. newT should be cheap (Restorer.Fork). A *Restorer returned for an
// Arguments slot is replaced by its ForJSON twin, so that a restored
// original cannot break the JSON of tool arguments.
func NewStream(f Format, newT func() Transformer) *Stream {
	return NewStreamKinds(f, func(Kind) Transformer { return newT() })
}

// NewStreamKinds is NewStream with the slot's Kind passed to newT.
func NewStreamKinds(f Format, newT func(Kind) Transformer) *Stream {
	return &Stream{f: f, newT: newT}
}

func (s *Stream) make(k Kind) Transformer {
	t := s.newT(k)
	if r, ok := t.(*Restorer); ok && k == Arguments {
		return r.ForJSON()
	}
	return t
}

func (s *Stream) probe(k Kind) *probe {
	p := &s.probes[k]
	if !p.init {
		p.init = true
		p.t = s.make(k)
		p.qb, _ = p.t.(BytesQuicker)
		p.q, _ = p.t.(Quicker)
		p.w, _ = p.t.(Wholer)
	}
	return p
}

// Event passes ev through the slot transformers and calls emit zero or more
// times; it returns emit's first error.
func (s *Stream) Event(ev llmapi.Event, emit func(llmapi.Event) error) error {
	d := ev.Data
	i := skipWS(d, 0)
	if ev.Name != "" {
		s.named = true
	}
	if i >= len(d) || d[i] != '{' {
		if (s.f == Chat || s.f == Completions) && ev.IsDone() {
			if err := s.Finish(emit); err != nil {
				return err
			}
		}
		return emit(ev)
	}
	if s.quickEvent(d) {
		return emit(ev)
	}
	switch s.f {
	case Chat, Completions:
		return s.chat(ev, i, emit)
	case Messages:
		return s.messages(ev, i, emit)
	case Responses:
		return s.responses(ev, i, emit)
	}
	return emit(ev)
}

// Finish flushes any held text at the end of the stream, for upstreams that
// end without closing their slots. The Stream may not be used afterwards
// except for more Finish calls, which emit nothing.
func (s *Stream) Finish(emit func(llmapi.Event) error) error { return s.finish(emit, nil) }

// finish flushes every slot; e is the Responses event the flush comes
// before, if any, for numbering.
func (s *Stream) finish(emit func(llmapi.Event) error, e *respEvent) error {
	if len(s.slots) == 0 {
		return nil
	}
	switch s.f {
	case Chat, Completions:
		s.pieces = s.pieces[:0]
		for _, sl := range s.slots {
			if f := sl.t.Flush(); f != "" {
				s.pieces = append(s.pieces, piece{sl.key, f})
			}
		}
		s.slots, s.nhold = s.slots[:0], 0
		if len(s.pieces) > 0 {
			return emit(llmapi.Event{Data: s.chatChunk(s.tmpl, s.pieces)})
		}
	default:
		for len(s.slots) > 0 {
			sl := s.slots[0]
			s.remove(0)
			if err := s.flushSlot(sl, emit, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Stream) find(k slotKey) (int, *slot) {
	for n, sl := range s.slots {
		if sl.key == k {
			return n, sl
		}
	}
	return -1, nil
}

func (s *Stream) remove(n int) {
	if s.slots[n].holds {
		s.nhold--
	}
	copy(s.slots[n:], s.slots[n+1:])
	s.slots[len(s.slots)-1] = nil
	s.slots = s.slots[:len(s.slots)-1]
}

// text returns t's decoded text; it may alias d or s.scratch.
func (s *Stream) text(t *target, d []byte) ([]byte, bool) {
	raw := d[t.start+1 : t.end-1]
	if !t.esc {
		return raw, true
	}
	var ok bool
	s.scratch, ok = unescape(s.scratch[:0], raw)
	return s.scratch, ok
}

// write runs target t through its slot. The quick way, when the slot's
// transformer (or, for a slot not made yet, a probe of its kind) vouches
// that Write would change nothing, costs no allocation.
func (s *Stream) write(t *target, d []byte, item []byte) {
	text, ok := s.text(t, d)
	if !ok {
		return
	}
	_, sl := s.find(t.key)
	if sl == nil {
		p := s.probe(t.kind)
		if p.qb != nil && p.qb.QuickBytes(text) || p.qb == nil && p.q != nil && p.q.Quick(string(text)) {
			return
		}
		sl = &slot{key: t.key, kind: t.kind, t: s.make(t.kind), dtype: t.dtype}
		sl.qb, _ = sl.t.(BytesQuicker)
		sl.q, _ = sl.t.(Quicker)
		if item != nil {
			sl.item = append([]byte(nil), item...)
		}
		s.slots = append(s.slots, sl)
	} else if sl.qb != nil && sl.qb.QuickBytes(text) || sl.qb == nil && sl.q != nil && sl.q.Quick(string(text)) {
		return
	}
	if t.dtype != dtNone {
		sl.dtype = t.dtype
	}
	in := string(text)
	t.out = sl.t.Write(in)
	t.slow = true
	t.changed = t.out != in
	// Quick("") is true exactly when nothing is held.
	holds := !(sl.qb != nil && sl.qb.QuickBytes(nil) || sl.qb == nil && sl.q != nil && sl.q.Quick(""))
	if holds != sl.holds {
		sl.holds = holds
		if holds {
			s.nhold++
		} else {
			s.nhold--
		}
	}
}

// quickEvent reports an event that needs no reading: nothing is held, and
// every trigger byte in it is JSON structure ('[' or '{' opening a member's
// value), so no string in it holds one, and no \u escape could spell one.
// A Responses stream whose numbering has shifted is read to renumber it.
func (s *Stream) quickEvent(d []byte) bool {
	if s.nhold > 0 || s.f == Responses && s.shift != 0 {
		return false
	}
	tr := &s.trig
	if !tr.init {
		s.initTrig()
	}
	if !tr.ok {
		return false
	}
	if !tr.any {
		return true
	}
	if tr.one >= 0 {
		c := byte(tr.one)
		for i := 0; ; {
			k := bytes.IndexByte(d[i:], c)
			if k < 0 {
				break
			}
			if !opensValue(d, i+k) {
				return false
			}
			i += k + 1
		}
	} else {
		for p, c := range d {
			if tr.set[c] && !opensValue(d, p) {
				return false
			}
		}
	}
	return bytes.Index(d, []byte(`\u`)) < 0
}

func (s *Stream) initTrig() {
	tr := &s.trig
	tr.init, tr.ok, tr.one = true, true, -1
	for k := Kind(0); k < nKinds; k++ {
		tg, ok := s.probe(k).t.(Triggered)
		if !ok {
			tr.ok = false
			return
		}
		for _, c := range []byte(tg.Triggers()) {
			tr.set[c] = true
		}
	}
	n := 0
	for c := range 256 {
		if !tr.set[c] {
			continue
		}
		// Bytes an escape other than \u spells, or that are everywhere
		// in JSON, cannot be looked for in the raw event.
		if c == '"' || c == '\\' || c == '/' || c < 0x20 {
			tr.ok = false
			return
		}
		n++
		tr.one = c
	}
	tr.any = n > 0
	if n != 1 {
		tr.one = -1
	}
}

// opensValue reports that the '[' or '{' at p is JSON structure: the
// start of the document, or the value of a member whose name is a word.
// In valid JSON, an unescaped quote, word characters, a quote and a colon
// can only be a member name: were the first quote a closing one, the word
// would stand bare between two strings.
func opensValue(d []byte, p int) bool {
	if c := d[p]; c != '[' && c != '{' {
		return false
	}
	j := p - 1
	for j >= 0 && isSpace(d[j]) {
		j--
	}
	if j < 0 {
		return true
	}
	if d[j] != ':' {
		return false
	}
	j--
	for j >= 0 && isSpace(d[j]) {
		j--
	}
	if j < 0 || d[j] != '"' {
		return false
	}
	k := j - 1
	for k >= 0 && isWordByte(d[k]) {
		k--
	}
	if k == j-1 || k < 0 || d[k] != '"' {
		return false
	}
	n := 0
	for m := k - 1; m >= 0 && d[m] == '\\'; m-- {
		n++
	}
	return n%2 == 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// quickWhole reports that a whole text of kind k needs no change.
func (s *Stream) quickWhole(k Kind, text []byte) bool {
	p := s.probe(k)
	if p.qb != nil {
		return p.qb.QuickBytes(text)
	}
	return p.q != nil && p.q.Quick(string(text))
}

// whole rewrites a complete text: with Whole when the kind's transformer
// has it, else with a fresh transformer.
func (s *Stream) whole(k Kind, text string) string {
	if p := s.probe(k); p.w != nil {
		return p.w.Whole(text)
	}
	t := s.make(k)
	out := t.Write(text)
	return out + t.Flush()
}

// rewriteAll rewrites every string of d as a whole text; doneField, when
// set, is of kind doneKind, other strings by their member name.
func (s *Stream) rewriteAll(d []byte, doneField string, doneKind Kind) []byte {
	out, err := Rewrite(d, func(key string, text []byte) ([]byte, bool) {
		k := Text
		switch {
		case doneField != "" && key == doneField:
			k = doneKind
		case key == "arguments" || key == "partial_json":
			k = Arguments
		}
		if s.quickWhole(k, text) {
			return nil, false
		}
		return []byte(s.whole(k, string(text))), true
	})
	if err != nil {
		return d
	}
	return out
}

// splice returns d with the changed targets' texts replaced.
func splice(d []byte, ts []target) []byte {
	n := len(d)
	for k := range ts {
		n += len(ts[k].out) + 8
	}
	out := make([]byte, 0, n)
	last := 0
	for k := range ts {
		t := &ts[k]
		if !t.changed {
			continue
		}
		out = append(out, d[last:t.start]...)
		out = appendQuoted(out, t.out)
		last = t.end
	}
	return append(out, d[last:]...)
}

// emptied reports that t had text and now has none.
func (t *target) emptied() bool { return t.changed && t.out == "" && t.end-t.start > 2 }

// ---- Chat Completions and legacy Completions ----

func (s *Stream) chat(ev llmapi.Event, i int, emit func(llmapi.Event) error) error {
	d := ev.Data
	s.targets, s.choices, s.pieces = s.targets[:0], s.choices[:0], s.pieces[:0]
	usage, ok := s.walkChat(d, i)
	if !ok || len(s.targets) == 0 && len(s.slots) == 0 {
		return emit(ev)
	}
	changed, slow := false, false
	for k := range s.targets {
		t := &s.targets[k]
		s.write(t, d, nil)
		changed = changed || t.changed
		slow = slow || t.slow
	}
	// Slots of finishing choices end here: their held text goes into this
	// chunk's own field when it has one, else into a chunk sent before it.
	for c := range s.choices {
		ch := &s.choices[c]
		if !ch.finishing {
			continue
		}
		for n := 0; n < len(s.slots); {
			sl := s.slots[n]
			if sl.key.a != ch.index {
				n++
				continue
			}
			if f := sl.t.Flush(); f != "" {
				if t := s.targetOf(sl.key); t != nil {
					if !t.slow {
						text, _ := s.text(t, d)
						t.out, t.slow = string(text), true
					}
					t.out += f
					t.changed, changed = true, true
				} else {
					s.pieces = append(s.pieces, piece{sl.key, f})
				}
			}
			s.remove(n)
		}
	}
	if slow || len(s.pieces) > 0 {
		s.tmpl = append(s.tmpl[:0], d...)
	}
	if len(s.pieces) > 0 {
		if err := emit(llmapi.Event{Name: ev.Name, Data: s.chatChunk(d, s.pieces)}); err != nil {
			return err
		}
	}
	if !changed {
		return emit(ev)
	}
	if !usage && s.droppable() {
		return nil
	}
	return emit(llmapi.Event{Name: ev.Name, Data: splice(d, s.targets)})
}

func (s *Stream) targetOf(k slotKey) *target {
	for n := range s.targets {
		if s.targets[n].key == k {
			return &s.targets[n]
		}
	}
	return nil
}

// droppable reports a chunk that carried only text, all of which is held.
func (s *Stream) droppable() bool {
	for c := range s.choices {
		if s.choices[c].other || s.choices[c].finishing {
			return false
		}
	}
	for k := range s.targets {
		t := &s.targets[k]
		if t.changed && t.out != "" || !t.changed && t.end-t.start > 2 {
			return false
		}
	}
	return len(s.choices) > 0
}

// walkChat finds the text fields of a chunk; usage reports a non-null
// usage member.
func (s *Stream) walkChat(d []byte, i int) (usage, ok bool) {
	it := newIter(d, i)
	for {
		key, _, vs, more := it.member()
		if !more {
			break
		}
		switch string(key) {
		case "choices":
			if d[vs] == '[' {
				end, ok := s.walkChoices(d, vs)
				if !ok {
					return false, false
				}
				it.took(end)
			}
		case "usage":
			usage = !isNull(d, vs)
		}
	}
	return usage, !it.bad
}

func (s *Stream) walkChoices(d []byte, i int) (int, bool) {
	arr := newIter(d, i)
	for pos := 0; ; pos++ {
		vs, more := arr.elem()
		if !more {
			break
		}
		if d[vs] != '{' {
			continue
		}
		c := choice{index: pos}
		first := len(s.targets)
		it := newIter(d, vs)
		for {
			key, _, cvs, more := it.member()
			if !more {
				break
			}
			switch string(key) {
			case "index":
				if n, ok := it.int(cvs); ok {
					c.index = n
				}
			case "delta":
				if s.f == Chat && d[cvs] == '{' {
					end, ok := s.walkDelta(d, cvs, &c)
					if !ok {
						return 0, false
					}
					it.took(end)
				}
			case "text":
				if s.f == Completions {
					s.addTarget(&it, cvs, slotKey{f: fText}, Text, &c)
				}
			case "finish_reason":
				c.finishing = !isNull(d, cvs)
			case "logprobs":
				c.other = c.other || !isEmpty(d, cvs)
			}
		}
		if it.bad {
			return 0, false
		}
		arr.took(it.i)
		for k := first; k < len(s.targets); k++ {
			s.targets[k].key.a = c.index
		}
		s.choices = append(s.choices, c)
	}
	return arr.i, !arr.bad
}

// addTarget records the current value of it as a target when it is a
// string; anything but null marks the choice as carrying more than text.
func (s *Stream) addTarget(it *iter, vs int, k slotKey, kind Kind, c *choice) {
	end, esc, ok := it.str(vs)
	if !ok {
		if !isNull(it.b, vs) && c != nil {
			c.other = true
		}
		return
	}
	s.targets = append(s.targets, target{start: vs, end: end, esc: esc, key: k, kind: kind})
}

func (s *Stream) walkDelta(d []byte, i int, c *choice) (int, bool) {
	it := newIter(d, i)
	for {
		key, _, vs, more := it.member()
		if !more {
			break
		}
		switch string(key) {
		case "content":
			s.addTarget(&it, vs, slotKey{f: fContent}, Text, c)
		case "reasoning_content":
			s.addTarget(&it, vs, slotKey{f: fReasoningContent}, Reasoning, c)
		case "reasoning":
			s.addTarget(&it, vs, slotKey{f: fReasoning}, Reasoning, c)
		case "refusal":
			s.addTarget(&it, vs, slotKey{f: fRefusal}, Text, c)
		case "tool_calls":
			if d[vs] != '[' {
				c.other = true
				continue
			}
			end, ok := s.walkToolCalls(d, vs, c)
			if !ok {
				return 0, false
			}
			it.took(end)
		default:
			c.other = true
		}
	}
	return it.i, !it.bad
}

func (s *Stream) walkToolCalls(d []byte, i int, c *choice) (int, bool) {
	arr := newIter(d, i)
	for pos := 0; ; pos++ {
		vs, more := arr.elem()
		if !more {
			break
		}
		if d[vs] != '{' {
			c.other = true
			continue
		}
		idx, first := pos, len(s.targets)
		it := newIter(d, vs)
		for {
			key, _, tvs, more := it.member()
			if !more {
				break
			}
			switch string(key) {
			case "index":
				if n, ok := it.int(tvs); ok {
					idx = n
				}
			case "function":
				if d[tvs] != '{' {
					c.other = true
					continue
				}
				fn := newIter(d, tvs)
				for {
					fkey, _, fvs, more := fn.member()
					if !more {
						break
					}
					if string(fkey) == "arguments" {
						s.addTarget(&fn, fvs, slotKey{f: fToolArgs}, Arguments, c)
					} else {
						c.other = true
					}
				}
				if fn.bad {
					return 0, false
				}
				it.took(fn.i)
			default:
				c.other = true
			}
		}
		if it.bad {
			return 0, false
		}
		arr.took(it.i)
		for k := first; k < len(s.targets); k++ {
			s.targets[k].key.b = idx
		}
	}
	return arr.i, !arr.bad
}

// chatChunk makes a chunk carrying held text: tmpl's members (id, object,
// created, model …) with choices replaced and a usage, if any, nulled.
func (s *Stream) chatChunk(tmpl []byte, ps []piece) []byte {
	// Group by choice, keeping the fields' order stable.
	for a := 1; a < len(ps); a++ {
		for b := a; b > 0 && lessPiece(ps[b], ps[b-1]); b-- {
			ps[b], ps[b-1] = ps[b-1], ps[b]
		}
	}
	out := make([]byte, 0, len(tmpl)+64)
	out = append(out, '{')
	n, has := 0, false
	it := newIter(tmpl, skipWS(tmpl, 0))
	for {
		key, kq, vs, more := it.member()
		if !more {
			break
		}
		ve := it.valueEnd()
		if ve < 0 {
			break
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		switch string(key) {
		case "choices":
			out = s.appendChoices(append(out, `"choices":`...), ps)
			has = true
		case "usage":
			if !isNull(tmpl, vs) {
				out = append(out, `"usage":null`...)
				break
			}
			fallthrough
		default:
			out = append(out, tmpl[kq:ve]...)
		}
	}
	if !has {
		if n > 0 {
			out = append(out, ',')
		}
		out = s.appendChoices(append(out, `"choices":`...), ps)
	}
	return append(out, '}')
}

func lessPiece(x, y piece) bool {
	if x.key.a != y.key.a {
		return x.key.a < y.key.a
	}
	if x.key.f != y.key.f {
		return x.key.f < y.key.f
	}
	return x.key.b < y.key.b
}

func (s *Stream) appendChoices(out []byte, ps []piece) []byte {
	out = append(out, '[')
	for k := 0; k < len(ps); {
		a := ps[k].key.a
		e := k
		for e < len(ps) && ps[e].key.a == a {
			e++
		}
		if k > 0 {
			out = append(out, ',')
		}
		if s.f == Completions {
			out = append(out, `{"text":`...)
			for _, p := range ps[k:e] {
				out = appendQuoted(out, p.text) // one slot per choice
				break
			}
			out = append(out, `,"index":`...)
			out = strconv.AppendInt(out, int64(a), 10)
			out = append(out, `,"logprobs":null,"finish_reason":null}`...)
			k = e
			continue
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(a), 10)
		out = append(out, `,"delta":{`...)
		nf, tools := 0, false
		for _, p := range ps[k:e] {
			if p.key.f == fToolArgs {
				if !tools {
					if nf > 0 {
						out = append(out, ',')
					}
					out = append(out, `"tool_calls":[`...)
					tools = true
				} else {
					out = append(out, ',')
				}
				out = append(out, `{"index":`...)
				out = strconv.AppendInt(out, int64(p.key.b), 10)
				out = append(out, `,"function":{"arguments":`...)
				out = appendQuoted(out, p.text)
				out = append(out, `}}`...)
				nf++
				continue
			}
			if nf > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, chatFields[p.key.f].name...)
			out = append(out, `":`...)
			out = appendQuoted(out, p.text)
			nf++
		}
		if tools {
			out = append(out, ']')
		}
		out = append(out, `},"logprobs":null,"finish_reason":null}`...)
		k = e
	}
	return append(out, ']')
}

// ---- Anthropic Messages ----

func (s *Stream) messages(ev llmapi.Event, i int, emit func(llmapi.Event) error) error {
	d := ev.Data
	var typ []byte
	index, dvs := -1, -1
	it := newIter(d, i)
	for {
		key, _, vs, more := it.member()
		if !more {
			break
		}
		switch string(key) {
		case "type":
			if end, _, ok := it.str(vs); ok {
				typ = d[vs+1 : end-1]
			}
		case "index":
			if n, ok := it.int(vs); ok {
				index = n
			}
		case "delta":
			if d[vs] == '{' {
				dvs = vs
			}
		}
	}
	if it.bad {
		return emit(ev)
	}
	switch string(typ) {
	case "content_block_delta":
		if dvs >= 0 && index >= 0 {
			return s.blockDelta(ev, dvs, index, emit)
		}
	case "content_block_stop":
		if n, sl := s.find(slotKey{a: index, f: fBlock}); sl != nil {
			s.remove(n)
			if err := s.flushSlot(sl, emit, nil); err != nil {
				return err
			}
		}
	case "content_block_start":
		// A block index reused without a stop: the old block is over.
		if n, sl := s.find(slotKey{a: index, f: fBlock}); sl != nil {
			s.remove(n)
			if err := s.flushSlot(sl, emit, nil); err != nil {
				return err
			}
		}
		return s.emitWhole(ev, emit)
	case "message_start":
		return s.emitWhole(ev, emit)
	case "message_delta", "message_stop":
		// Blocks end before these; flush any an upstream left open.
		if err := s.Finish(emit); err != nil {
			return err
		}
	}
	return emit(ev)
}

func (s *Stream) emitWhole(ev llmapi.Event, emit func(llmapi.Event) error) error {
	if out := s.rewriteAll(ev.Data, "", Text); !sameSlice(out, ev.Data) {
		ev.Data = out
	}
	return emit(ev)
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (s *Stream) blockDelta(ev llmapi.Event, dvs, index int, emit func(llmapi.Event) error) error {
	d := ev.Data
	dtype, other := dtNone, false
	var tgt target
	found := false
	it := newIter(d, dvs)
	for {
		key, _, vs, more := it.member()
		if !more {
			break
		}
		switch string(key) {
		case "type":
			end, _, ok := it.str(vs)
			if !ok {
				break
			}
			switch string(d[vs+1 : end-1]) {
			case "text_delta":
				dtype = dtText
			case "input_json_delta":
				dtype = dtJSON
			case "thinking_delta":
				dtype = dtThinking
			}
		case "text", "partial_json", "thinking":
			end, esc, ok := it.str(vs)
			if ok && !found {
				found = true
				tgt = target{start: vs, end: end, esc: esc}
				tgt.dtype = map3(string(key))
				continue
			}
			other = true
		default:
			other = true
		}
	}
	if it.bad {
		return emit(ev)
	}
	if dtype == dtNone || !found || tgt.dtype != dtype {
		// Other delta types (citations, signatures) have whole texts.
		return s.emitWhole(ev, emit)
	}
	tgt.key = slotKey{a: index, f: fBlock}
	switch dtype {
	case dtJSON:
		tgt.kind = Arguments
	case dtThinking:
		tgt.kind = Reasoning
	}
	s.write(&tgt, d, nil)
	if !tgt.changed {
		return emit(ev)
	}
	if tgt.emptied() && !other {
		return nil
	}
	ts := [1]target{tgt}
	return emit(llmapi.Event{Name: ev.Name, Data: splice(d, ts[:])})
}

func map3(field string) uint8 {
	switch field {
	case "text":
		return dtText
	case "partial_json":
		return dtJSON
	}
	return dtThinking
}

// flushSlot sends the text sl holds as one more delta event of its shape.
// Chat slots are flushed by their callers, which batch them into a chunk.
// e is the Responses event the flush comes before, if any.
func (s *Stream) flushSlot(sl *slot, emit func(llmapi.Event) error, e *respEvent) error {
	f := sl.t.Flush()
	if f == "" {
		return nil
	}
	var ev llmapi.Event
	switch s.f {
	case Messages:
		md := msgDeltas[sl.dtype]
		b := make([]byte, 0, 80+len(f))
		b = append(b, `{"type":"content_block_delta","index":`...)
		b = strconv.AppendInt(b, int64(sl.key.a), 10)
		b = append(b, `,"delta":{"type":"`...)
		b = append(b, md.typ...)
		b = append(b, `","`...)
		b = append(b, md.field...)
		b = append(b, `":`...)
		b = appendQuoted(b, f)
		b = append(b, `}}`...)
		ev.Data = b
		if s.named {
			ev.Name = "content_block_delta"
		}
	case Responses:
		fam := respFamOf(sl.key.f)
		b := make([]byte, 0, 160+len(f))
		b = append(b, `{"type":"`...)
		b = append(b, fam.delta...)
		b = append(b, '"')
		if n := s.insertSeq(e); n >= 0 {
			b = append(b, `,"sequence_number":`...)
			b = strconv.AppendInt(b, int64(n), 10)
		}
		if sl.item != nil {
			b = append(b, `,"item_id":`...)
			b = append(b, sl.item...)
		}
		b = append(b, `,"output_index":`...)
		b = strconv.AppendInt(b, int64(sl.key.a), 10)
		if fam.sub != "" {
			b = append(b, `,"`...)
			b = append(b, fam.sub...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, int64(sl.key.b), 10)
		}
		b = append(b, `,"delta":`...)
		b = appendQuoted(b, f)
		if sl.key.f == fOutputText {
			b = append(b, `,"logprobs":[]`...)
		}
		ev.Data = append(b, '}')
		if s.named {
			ev.Name = fam.delta
		}
	default:
		ev.Data = s.chatChunk(s.tmpl, []piece{{sl.key, f}})
	}
	return emit(ev)
}

// ---- OpenAI Responses ----

// respEvent is what responses reads from an event's top level.
type respEvent struct {
	data               []byte
	typ                []byte
	seqS, seqE         int // sequence_number value span; seqS < 0 if none
	out, content, summ int
	itemS, itemE       int // item_id span, quotes included
	delta              target
	hasDelta           bool
	other              bool // non-empty logprobs
}

func (s *Stream) readResp(d []byte, i int, e *respEvent) bool {
	*e = respEvent{data: d, seqS: -1, out: -1, itemS: -1}
	it := newIter(d, i)
	for {
		key, _, vs, more := it.member()
		if !more {
			break
		}
		switch string(key) {
		case "type":
			if end, _, ok := it.str(vs); ok {
				e.typ = d[vs+1 : end-1]
			}
		case "sequence_number":
			if ve := it.valueEnd(); ve > vs {
				e.seqS, e.seqE = vs, ve
			}
		case "output_index":
			if n, ok := it.int(vs); ok {
				e.out = n
			}
		case "content_index":
			if n, ok := it.int(vs); ok {
				e.content = n
			}
		case "summary_index":
			if n, ok := it.int(vs); ok {
				e.summ = n
			}
		case "item_id":
			if end, _, ok := it.str(vs); ok {
				e.itemS, e.itemE = vs, end
			}
		case "delta":
			if end, esc, ok := it.str(vs); ok {
				e.delta = target{start: vs, end: end, esc: esc}
				e.hasDelta = true
			}
		case "logprobs":
			e.other = e.other || !isEmpty(d, vs)
		}
	}
	return !it.bad
}

func (s *Stream) responses(ev llmapi.Event, i int, emit func(llmapi.Event) error) error {
	d := ev.Data
	var e respEvent
	if !s.readResp(d, i, &e) {
		return emit(ev)
	}
	for k := range respFams {
		fam := &respFams[k]
		sub := 0
		switch fam.sub {
		case "content_index":
			sub = e.content
		case "summary_index":
			sub = e.summ
		}
		key := slotKey{a: e.out, b: sub, f: fam.f}
		switch string(e.typ) {
		case fam.delta:
			if !e.hasDelta || e.out < 0 {
				return s.seqEmit(ev, d, &e, emit)
			}
			t := &e.delta
			t.key, t.kind = key, fam.kind
			var item []byte
			if e.itemS >= 0 {
				item = d[e.itemS:e.itemE]
			}
			s.write(t, d, item)
			if !t.changed {
				return s.seqEmit(ev, d, &e, emit)
			}
			if t.emptied() && !e.other {
				if e.seqS >= 0 {
					s.shift--
				}
				return nil
			}
			ts := [1]target{*t}
			return s.seqEmit(ev, splice(d, ts[:]), &e, emit)
		case fam.done:
			if n, sl := s.find(key); sl != nil {
				s.remove(n)
				if err := s.flushSlot(sl, emit, &e); err != nil {
					return err
				}
			}
			return s.seqEmit(ev, s.rewriteAll(d, fam.doneField, fam.kind), &e, emit)
		}
	}
	switch string(e.typ) {
	case "response.output_item.done":
		if err := s.flushWhere(emit, &e, func(k slotKey) bool { return k.a == e.out }); err != nil {
			return err
		}
	case "response.content_part.done":
		if err := s.flushWhere(emit, &e, func(k slotKey) bool {
			return k.a == e.out && k.b == e.content && k.f != fSummary && k.f != fFuncArgs
		}); err != nil {
			return err
		}
	case "response.completed", "response.incomplete", "response.failed":
		if err := s.finish(emit, &e); err != nil {
			return err
		}
	}
	return s.seqEmit(ev, s.rewriteAll(d, "", Text), &e, emit)
}

func (s *Stream) flushWhere(emit func(llmapi.Event) error, e *respEvent, match func(slotKey) bool) error {
	for n := 0; n < len(s.slots); {
		sl := s.slots[n]
		if !match(sl.key) {
			n++
			continue
		}
		s.remove(n)
		if err := s.flushSlot(sl, emit, e); err != nil {
			return err
		}
	}
	return nil
}

// insertSeq numbers an event added before e (or, without e, at the end):
// -1 when the stream has no numbers.
func (s *Stream) insertSeq(e *respEvent) int {
	if e != nil && e.seqS >= 0 {
		if n, ok := parseInt(e.data[e.seqS:e.seqE]); ok {
			v := n + s.shift
			s.seqOn, s.shift, s.lastSeq = true, s.shift+1, v
			return v
		}
	}
	if !s.seqOn {
		return -1
	}
	s.lastSeq++
	return s.lastSeq
}

// seqEmit emits data (ev.Data or a rewrite of it) numbered as the next
// event of the stream.
func (s *Stream) seqEmit(ev llmapi.Event, data []byte, e *respEvent, emit func(llmapi.Event) error) error {
	same := sameSlice(data, ev.Data)
	if e.seqS >= 0 {
		if n, ok := parseInt(ev.Data[e.seqS:e.seqE]); ok {
			want := n + s.shift
			s.seqOn, s.lastSeq = true, want
			if want != n {
				vs, ve := e.seqS, e.seqE
				if !same {
					vs, ve = findMember(data, "sequence_number")
				}
				if vs >= 0 {
					b := make([]byte, 0, len(data)+4)
					b = append(b, data[:vs]...)
					b = strconv.AppendInt(b, int64(want), 10)
					data = append(b, data[ve:]...)
					same = false
				}
			}
		}
	}
	if !same {
		ev.Data = data
	}
	return emit(ev)
}

// findMember returns the value span of a top-level member, or -1.
func findMember(d []byte, name string) (int, int) {
	it := newIter(d, skipWS(d, 0))
	for {
		key, _, vs, more := it.member()
		if !more {
			return -1, -1
		}
		if string(key) == name {
			if ve := it.valueEnd(); ve > vs {
				return vs, ve
			}
			return -1, -1
		}
	}
}
