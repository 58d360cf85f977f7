package textflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/credflow/credflow/pkg/llmapi"
)

// The fixtures are the recorded streams of testdata/wire (the same files as
// shared/data/wire, plus the Responses recordings).
const wireDir = "../../../testdata/wire/"

func readWireErr(name string) ([]byte, error) { return os.ReadFile(wireDir + name) }

func readWire(t testing.TB, name string) []byte {
	t.Helper()
	b, err := readWireErr(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readEvents(t testing.TB, name string) []llmapi.Event {
	t.Helper()
	r := llmapi.NewReader(bytes.NewReader(readWire(t, name)))
	var evs []llmapi.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func formatOf(name string) Format {
	switch {
	case strings.HasPrefix(name, "openai-chat"):
		return Chat
	case strings.HasPrefix(name, "anthropic"):
		return Messages
	case strings.HasPrefix(name, "openai-responses"):
		return Responses
	}
	panic(name)
}

// variant is a way to build a slot transformer from a Restorer: the
// Restorer itself (Stream's whole-event fast path), one without Triggers
// (every event read, texts checked with Quick), and one with no optional
// method at all (every text through Write).
type variant struct {
	name string
	wrap func(*Restorer) Transformer
}

type quickT struct{ r *Restorer }

func (q quickT) Write(s string) string    { return q.r.Write(s) }
func (q quickT) Flush() string            { return q.r.Flush() }
func (q quickT) Quick(s string) bool      { return q.r.Quick(s) }
func (q quickT) QuickBytes(b []byte) bool { return q.r.QuickBytes(b) }
func (q quickT) Whole(s string) string    { return q.r.Whole(s) }

// plainT is a Transformer with no optional methods.
type plainT struct{ r *Restorer }

func (p plainT) Write(s string) string { return p.r.Write(s) }
func (p plainT) Flush() string         { return p.r.Flush() }

var variants = []variant{
	{"restorer", func(r *Restorer) Transformer { return r }},
	{"quick", func(r *Restorer) Transformer { return quickT{r} }},
	{"plain", func(r *Restorer) Transformer { return plainT{r} }},
}

// runStream feeds evs through a Stream restoring testMap and returns what
// the client receives.
func runStream(t *testing.T, f Format, evs []llmapi.Event) []llmapi.Event {
	return runVariant(t, variants[0], f, evs)
}

func runVariant(t *testing.T, v variant, f Format, evs []llmapi.Event) []llmapi.Event {
	t.Helper()
	base := NewRestorer(testMap)
	s := NewStreamKinds(f, func(k Kind) Transformer {
		if k == Arguments {
			return v.wrap(base.ForJSON())
		}
		return v.wrap(base.Fork())
	})
	var out []llmapi.Event
	emit := func(ev llmapi.Event) error { out = append(out, ev); return nil }
	for _, ev := range evs {
		if err := s.Event(ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(emit); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStreamPassThroughFixtures(t *testing.T) {
	names, _ := filepath.Glob(wireDir + "*.sse")
	if len(names) < 8 {
		t.Fatalf("only %d fixtures", len(names))
	}
	for _, v := range variants {
		for _, path := range names {
			name := filepath.Base(path)
			evs := readEvents(t, name)
			out := runVariant(t, v, formatOf(name), evs)
			if len(out) != len(evs) {
				t.Fatalf("%s %s: %d events in, %d out", v.name, name, len(evs), len(out))
			}
			for i := range evs {
				if out[i].Name != evs[i].Name || !sameSlice(out[i].Data, evs[i].Data) {
					t.Fatalf("%s %s event %d re-encoded:\n in %s\nout %s", v.name, name, i, evs[i].Data, out[i].Data)
				}
			}
		}
	}
}

// ---- the client's view, decoded with encoding/json ----

type slotText struct {
	id   string
	text string
	kind Kind
}

func decodeMap(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("event is not a JSON object: %v\n%s", err, data)
	}
	return m
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

var famByDelta = map[string]*respFam{}
var famByDone = map[string]*respFam{}

func init() {
	for k := range respFams {
		famByDelta[respFams[k].delta] = &respFams[k]
		famByDone[respFams[k].done] = &respFams[k]
	}
}

func respID(fam *respFam, m map[string]any) string {
	sub := 0
	if fam.sub != "" {
		sub = num(m[fam.sub])
	}
	return fmt.Sprintf("%s/%d/%d", fam.delta, num(m["output_index"]), sub)
}

// deltas lists the slot texts an event carries.
func deltas(t *testing.T, f Format, ev llmapi.Event) []slotText {
	if !json.Valid(ev.Data) {
		return nil
	}
	m := decodeMap(t, ev.Data)
	var out []slotText
	switch f {
	case Chat:
		chs, _ := m["choices"].([]any)
		for _, c := range chs {
			c := c.(map[string]any)
			d, _ := c["delta"].(map[string]any)
			if s, ok := d["content"].(string); ok {
				out = append(out, slotText{fmt.Sprintf("c%d", num(c["index"])), s, Text})
			}
			tcs, _ := d["tool_calls"].([]any)
			for _, tc := range tcs {
				tc := tc.(map[string]any)
				fn, _ := tc["function"].(map[string]any)
				if s, ok := fn["arguments"].(string); ok {
					out = append(out, slotText{fmt.Sprintf("c%d/t%d", num(c["index"]), num(tc["index"])), s, Arguments})
				}
			}
		}
	case Messages:
		if m["type"] == "content_block_delta" {
			d := m["delta"].(map[string]any)
			for _, k := range []struct {
				f string
				k Kind
			}{{"text", Text}, {"partial_json", Arguments}, {"thinking", Reasoning}} {
				if s, ok := d[k.f].(string); ok {
					out = append(out, slotText{fmt.Sprintf("b%d", num(m["index"])), s, k.k})
				}
			}
		}
	case Responses:
		if fam := famByDelta[m["type"].(string)]; fam != nil {
			out = append(out, slotText{respID(fam, m), m["delta"].(string), fam.kind})
		}
	}
	return out
}

// closes lists the slots an event ends.
func closes(t *testing.T, f Format, ev llmapi.Event, open map[string]bool) []string {
	if !json.Valid(ev.Data) {
		if ev.IsDone() {
			var all []string
			for id := range open {
				all = append(all, id)
			}
			return all
		}
		return nil
	}
	m := decodeMap(t, ev.Data)
	var out []string
	switch f {
	case Chat:
		chs, _ := m["choices"].([]any)
		for _, c := range chs {
			c := c.(map[string]any)
			if c["finish_reason"] != nil {
				p := fmt.Sprintf("c%d", num(c["index"]))
				for id := range open {
					if id == p || strings.HasPrefix(id, p+"/") {
						out = append(out, id)
					}
				}
			}
		}
	case Messages:
		if m["type"] == "content_block_stop" {
			out = append(out, fmt.Sprintf("b%d", num(m["index"])))
		}
	case Responses:
		if fam := famByDone[m["type"].(string)]; fam != nil {
			out = append(out, respID(fam, m))
		}
	}
	return out
}

// setDelta returns ev with its (only) slot text replaced, re-encoded.
func setDelta(t *testing.T, f Format, ev llmapi.Event, text string) llmapi.Event {
	m := decodeMap(t, ev.Data)
	switch f {
	case Chat:
		d := m["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
		if tcs, ok := d["tool_calls"].([]any); ok {
			tcs[0].(map[string]any)["function"].(map[string]any)["arguments"] = text
		} else {
			d["content"] = text
		}
	case Messages:
		d := m["delta"].(map[string]any)
		for _, k := range []string{"text", "partial_json", "thinking"} {
			if _, ok := d[k]; ok {
				d[k] = text
			}
		}
	case Responses:
		m["delta"] = text
	}
	return llmapi.Event{Name: ev.Name, Data: marshal(t, m)}
}

func marshal(t *testing.T, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// setWhole puts full slot texts into a Responses event that carries whole
// texts (.done, output_item.done, response.completed); it reports whether
// it changed anything.
func setWhole(t *testing.T, ev *llmapi.Event, full map[string]string) bool {
	m := decodeMap(t, ev.Data)
	typ, _ := m["type"].(string)
	changed := false
	setItem := func(out int, item map[string]any) {
		switch item["type"] {
		case "message":
			cs, _ := item["content"].([]any)
			for ci, c := range cs {
				id := fmt.Sprintf("response.output_text.delta/%d/%d", out, ci)
				if s, ok := full[id]; ok {
					c.(map[string]any)["text"] = s
					changed = true
				}
			}
		case "function_call":
			if s, ok := full[fmt.Sprintf("response.function_call_arguments.delta/%d/0", out)]; ok {
				item["arguments"] = s
				changed = true
			}
		}
	}
	switch {
	case famByDone[typ] != nil:
		fam := famByDone[typ]
		if s, ok := full[respID(fam, m)]; ok {
			m[fam.doneField] = s
			changed = true
		}
	case typ == "response.content_part.done":
		if s, ok := full[fmt.Sprintf("response.output_text.delta/%d/%d", num(m["output_index"]), num(m["content_index"]))]; ok {
			m["part"].(map[string]any)["text"] = s
			changed = true
		}
	case typ == "response.output_item.done":
		setItem(num(m["output_index"]), m["item"].(map[string]any))
	case typ == "response.completed":
		for k, it := range m["response"].(map[string]any)["output"].([]any) {
			setItem(k, it.(map[string]any))
		}
	}
	if changed {
		ev.Data = marshal(t, m)
	}
	return changed
}

// wholeTexts lists the full texts of the slots in ids that a Responses
// event carries.
func wholeTexts(t *testing.T, ev llmapi.Event, ids map[string]string) map[string]string {
	full := map[string]string{}
	for id := range ids {
		full[id] = "\x00"
	}
	if !setWholeRead(t, ev, full) {
		return nil
	}
	return full
}

// setWholeRead reads instead of writes: for each id whose value is "\x00"
// it stores the text found in ev.
func setWholeRead(t *testing.T, ev llmapi.Event, full map[string]string) bool {
	m := decodeMap(t, ev.Data)
	typ, _ := m["type"].(string)
	found := false
	get := func(id string, v any) {
		if s, ok := v.(string); ok {
			if _, want := full[id]; want {
				full[id] = s
				found = true
			}
		}
	}
	readItem := func(out int, item map[string]any) {
		cs, _ := item["content"].([]any)
		for ci, c := range cs {
			get(fmt.Sprintf("response.output_text.delta/%d/%d", out, ci), c.(map[string]any)["text"])
		}
		if item["type"] == "function_call" {
			get(fmt.Sprintf("response.function_call_arguments.delta/%d/0", out), item["arguments"])
		}
	}
	switch {
	case famByDone[typ] != nil:
		fam := famByDone[typ]
		get(respID(fam, m), m[fam.doneField])
	case typ == "response.output_item.done":
		readItem(num(m["output_index"]), m["item"].(map[string]any))
	case typ == "response.completed":
		for k, it := range m["response"].(map[string]any)["output"].([]any) {
			readItem(k, it.(map[string]any))
		}
	}
	for id, s := range full {
		if s == "\x00" {
			delete(full, id)
		}
	}
	return found
}

// skeleton lists the member paths of a JSON value.
func skeleton(v any, path string, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[path+"."+k] = true
			skeleton(e, path+"."+k, into)
		}
	case []any:
		for _, e := range x {
			skeleton(e, path+"[]", into)
		}
	}
}

func shapeKey(f Format, m map[string]any) string {
	if f == Chat {
		return "chunk"
	}
	s, _ := m["type"].(string)
	return s
}

// ---- injection ----

// plan says where a placeholder goes into a slot's deltas: after delta at
// (0-based among the slot's deltas), split into parts over at, at+1 (and
// at+2 for three parts), and tail appended to the slot's last delta.
type plan struct {
	parts []string
	tail  string
}

type slotInfo struct {
	events []int // input event indices of the slot's deltas
	kind   Kind
	at     int
}

// insideString reports that JSON text s ends inside a string literal.
func insideString(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			in = !in
		}
	}
	return in
}

func slotsOf(t *testing.T, f Format, evs []llmapi.Event, need int) (map[string]*slotInfo, []string) {
	slots := map[string]*slotInfo{}
	var order []string
	for i, ev := range evs {
		for _, st := range deltas(t, f, ev) {
			si := slots[st.id]
			if si == nil {
				si = &slotInfo{kind: st.kind}
				slots[st.id] = si
				order = append(order, st.id)
			}
			si.events = append(si.events, i)
		}
	}
	var ids []string
	for _, id := range order {
		si := slots[id]
		if len(si.events) < need {
			delete(slots, id)
			continue
		}
		// Arguments: a boundary inside a string literal, so that the
		// restored (escaped) original lands in a string.
		si.at = -1
		if si.kind == Arguments {
			acc := ""
			for k, e := range si.events[:len(si.events)-need+1] {
				acc += deltas(t, f, evs[e])[0].text
				if k > 0 && insideString(acc) {
					si.at = k
					break
				}
			}
		} else {
			si.at = (len(si.events) - need + 1) / 2
		}
		if si.at < 0 {
			delete(slots, id)
			continue
		}
		ids = append(ids, id)
	}
	return slots, ids
}

type injected struct {
	evs      []llmapi.Event
	mutated  []bool
	expected map[string]string // restored full text per slot
	raw      map[string]string // full text with placeholders
}

func inject(t *testing.T, f Format, evs []llmapi.Event, slots map[string]*slotInfo, p plan) injected {
	in := injected{evs: append([]llmapi.Event(nil), evs...), mutated: make([]bool, len(evs)),
		expected: map[string]string{}, raw: map[string]string{}}
	jsonMap := map[string]string{}
	for ph, o := range testMap {
		q := appendQuoted(nil, o)
		jsonMap[ph] = string(q[1 : len(q)-1])
	}
	for id, si := range slots {
		texts := make([]string, len(si.events))
		for k, e := range si.events {
			texts[k] = deltas(t, f, evs[e])[0].text
		}
		ph := strings.Join(p.parts, "")
		if si.kind == Arguments {
			// "[NAME_3]" has quotes and a backslash: escaped on the way back.
			ph = "[NAME_3]"
		}
		parts := splitLike(ph, p.parts)
		a := si.at
		texts[a] += parts[0]
		if len(parts) == 2 {
			texts[a+1] = parts[1] + texts[a+1]
		} else {
			texts[a+2] = parts[2] + texts[a+1] + texts[a+2]
			texts[a+1] = parts[1]
		}
		if si.kind != Arguments {
			texts[len(texts)-1] += p.tail
		}
		for k, e := range si.events {
			in.evs[e] = setDelta(t, f, in.evs[e], texts[k])
			in.mutated[e] = true
		}
		full := strings.Join(texts, "")
		in.raw[id] = full
		if si.kind == Arguments {
			in.expected[id] = naive(jsonMap, full)
			if !json.Valid([]byte(in.expected[id])) {
				t.Fatalf("%s: test made invalid arguments %s", id, in.expected[id])
			}
		} else {
			in.expected[id] = naive(testMap, full)
		}
	}
	if f == Responses {
		for i := range in.evs {
			if setWhole(t, &in.evs[i], in.raw) {
				in.mutated[i] = true
			}
		}
	}
	return in
}

// splitLike splits ph at the same offsets as parts split their join.
func splitLike(ph string, parts []string) []string {
	out := make([]string, len(parts))
	at := 0
	for k, p := range parts {
		end := min(at+len(p), len(ph))
		if k == len(parts)-1 {
			end = len(ph)
		}
		out[k] = ph[at:end]
		at = end
	}
	return out
}

// check runs the injected stream with every variant and verifies the
// client's view.
func check(t *testing.T, f Format, in injected, label string) {
	t.Helper()
	for _, v := range variants {
		checkOut(t, f, in, label+" "+v.name, runVariant(t, v, f, in.evs))
	}
}

func checkOut(t *testing.T, f Format, in injected, label string, out []llmapi.Event) {
	t.Helper()
	allowed := map[string]map[string]bool{}
	emptyIn := 0
	for _, ev := range in.evs {
		if !json.Valid(ev.Data) {
			continue
		}
		m := decodeMap(t, ev.Data)
		k := shapeKey(f, m)
		if allowed[k] == nil {
			allowed[k] = map[string]bool{}
		}
		skeleton(m, "", allowed[k])
		for _, st := range deltas(t, f, ev) {
			if st.text == "" {
				emptyIn++
			}
		}
	}
	got := map[string]string{}
	open := map[string]bool{}
	closed := map[string]bool{}
	emptyOut := 0
	var seqs []int
	for i, ev := range out {
		if !json.Valid(ev.Data) {
			if !ev.IsDone() {
				t.Fatalf("%s: event %d is not JSON: %s", label, i, ev.Data)
			}
		} else {
			m := decodeMap(t, ev.Data)
			paths := map[string]bool{}
			skeleton(m, "", paths)
			for p := range paths {
				if !allowed[shapeKey(f, m)][p] {
					t.Fatalf("%s: event %d has %s, which no input event of its type has: %s", label, i, p, ev.Data)
				}
			}
			if f != Chat && ev.Name != "" && ev.Name != m["type"] {
				t.Fatalf("%s: event name %q for type %v", label, ev.Name, m["type"])
			}
			if sq, ok := m["sequence_number"]; ok {
				seqs = append(seqs, num(sq))
			}
		}
		for _, st := range deltas(t, f, ev) {
			if closed[st.id] {
				t.Fatalf("%s: delta for %s after it closed", label, st.id)
			}
			if st.text == "" {
				emptyOut++
			}
			got[st.id] += st.text
			open[st.id] = true
		}
		for _, id := range closes(t, f, ev, open) {
			if want, ok := in.expected[id]; ok && got[id] != want {
				t.Fatalf("%s: %s closed with %q sent, want %q", label, id, got[id], want)
			}
			closed[id] = true
			delete(open, id)
		}
		if f == Responses && json.Valid(ev.Data) {
			for id, s := range wholeTexts(t, ev, in.expected) {
				if s != in.expected[id] {
					t.Fatalf("%s: whole text of %s in %s = %q, want %q", label, id, ev.Name, s, in.expected[id])
				}
			}
		}
	}
	for id, want := range in.expected {
		if got[id] != want {
			t.Fatalf("%s: slot %s reassembled %q, want %q", label, id, got[id], want)
		}
		if !closed[id] {
			t.Fatalf("%s: slot %s never closed", label, id)
		}
	}
	if emptyOut > emptyIn {
		t.Fatalf("%s: %d empty deltas out, %d in: emptied deltas must be dropped", label, emptyOut, emptyIn)
	}
	// Events the injection did not touch, other than deltas, reach the
	// client byte for byte (Responses: up to sequence_number).
	var keep, sent []llmapi.Event
	for i, ev := range in.evs {
		if !in.mutated[i] && len(deltas(t, f, ev)) == 0 {
			keep = append(keep, ev)
		}
	}
	for _, ev := range out {
		if len(deltas(t, f, ev)) == 0 && !(f == Responses && isWholeOf(t, ev, in.expected)) {
			sent = append(sent, ev)
		}
	}
	if len(keep) != len(sent) {
		t.Fatalf("%s: %d untouched events in, %d out", label, len(keep), len(sent))
	}
	for i := range keep {
		if !sameModuloSeq(t, keep[i].Data, sent[i].Data) || keep[i].Name != sent[i].Name {
			t.Fatalf("%s: untouched event changed:\n in %s\nout %s", label, keep[i].Data, sent[i].Data)
		}
	}
	if f == Responses {
		for i, n := range seqs {
			if n != i {
				t.Fatalf("%s: sequence numbers %v", label, seqs)
			}
		}
	}
}

func isWholeOf(t *testing.T, ev llmapi.Event, expected map[string]string) bool {
	return json.Valid(ev.Data) && len(wholeTexts(t, ev, expected)) > 0 ||
		json.Valid(ev.Data) && decodeMap(t, ev.Data)["type"] == "response.content_part.done"
}

func sameModuloSeq(t *testing.T, a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if !json.Valid(a) || !json.Valid(b) {
		return false
	}
	ma, mb := decodeMap(t, a), decodeMap(t, b)
	if _, ok := ma["sequence_number"]; !ok {
		return false
	}
	delete(ma, "sequence_number")
	delete(mb, "sequence_number")
	return reflect.DeepEqual(ma, mb)
}

var streamFixtures = []string{
	"openai-chat-stream.sse", "openai-chat-stream-tools.sse",
	"anthropic-stream.sse", "anthropic-stream-text-tools.sse", "anthropic-stream-tools.sse", "anthropic-stream-thinking.sse",
	"openai-responses-stream.sse", "openai-responses-stream-tools.sse",
}

func TestStreamInjectedTwoWay(t *testing.T) {
	const ph = "[EMAIL_10]"
	for _, name := range streamFixtures {
		f := formatOf(name)
		evs := readEvents(t, name)
		slots, ids := slotsOf(t, f, evs, 2)
		if len(ids) == 0 {
			t.Fatalf("%s: no slot to inject into", name)
		}
		for m := 0; m <= len(ph); m++ {
			in := inject(t, f, evs, slots, plan{parts: []string{ph[:m], ph[m:]}, tail: " [EMAIL_1"})
			check(t, f, in, fmt.Sprintf("%s split %d %v", name, m, ids))
		}
	}
}

func TestStreamInjectedThreeWay(t *testing.T) {
	const ph = "[EMAIL_10]"
	for _, name := range streamFixtures {
		f := formatOf(name)
		evs := readEvents(t, name)
		slots, ids := slotsOf(t, f, evs, 3)
		if len(ids) == 0 {
			if f == Messages {
				continue // a one-delta thinking or text block
			}
			t.Fatalf("%s: no slot to inject into", name)
		}
		for a := 1; a < len(ph); a++ {
			for b := a + 1; b < len(ph); b++ {
				in := inject(t, f, evs, slots, plan{parts: []string{ph[:a], ph[a:b], ph[b:]}, tail: "[EMA"})
				check(t, f, in, fmt.Sprintf("%s split %d,%d %v", name, a, b, ids))
			}
		}
	}
}

// ---- focused cases ----

func collectStream(t *testing.T, f Format, datas ...string) []string {
	t.Helper()
	var evs []llmapi.Event
	for _, d := range datas {
		name := ""
		if f != Chat && f != Completions && json.Valid([]byte(d)) {
			name, _ = decodeMap(t, []byte(d))["type"].(string)
		}
		evs = append(evs, llmapi.Event{Name: name, Data: []byte(d)})
	}
	var first []string
	for k, v := range variants {
		var out []string
		for _, ev := range runVariant(t, v, f, evs) {
			out = append(out, string(ev.Data))
		}
		if k == 0 {
			first = out
		} else if !reflect.DeepEqual(out, first) {
			t.Fatalf("%s differs from %s:\n%s\n%s", v.name, variants[0].name, strings.Join(out, "\n"), strings.Join(first, "\n"))
		}
	}
	return first
}

func TestStreamChatHeldFlushedBeforeFinish(t *testing.T) {
	got := collectStream(t, Chat,
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hi [EMA"},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"IL_1"},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"total_tokens":3}}`,
		`[DONE]`)
	want := []string{
		// role chunk kept, its content cut to what is safe
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hi "},"finish_reason":null}]}`,
		// "IL_1" chunk dropped: all held. Held text first, then the finish chunk.
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"[EMAIL_1"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"total_tokens":3}}`,
		`[DONE]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The finish chunk carrying text itself gets the held text appended.
	got = collectStream(t, Chat,
		`{"choices":[{"index":0,"delta":{"content":"a [PHONE_"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"2] b [EM"},"finish_reason":"length"}]}`)
	want = []string{
		`{"choices":[{"index":0,"delta":{"content":"a "}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"+1 555 0100 b [EM"},"finish_reason":"length"}]}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamChatDoneAndFinish(t *testing.T) {
	// No finish_reason: [DONE] flushes, with the last chunk's shape.
	got := collectStream(t, Chat,
		`{"id":"y","choices":[{"index":1,"delta":{"content":"x[NAME"}},{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":"{\"a\":\"[NAME_"}}]}}]}`,
		`[DONE]`)
	want := []string{
		`{"id":"y","choices":[{"index":1,"delta":{"content":"x"}},{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":"{\"a\":\""}}]}}]}`,
		`{"id":"y","choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":"[NAME_"}}]},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"content":"[NAME"},"logprobs":null,"finish_reason":null}]}`,
		`[DONE]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Upstream cut off: Finish flushes.
	got = collectStream(t, Chat, `{"choices":[{"index":0,"delta":{"reasoning_content":"r [EMAIL_1","content":"c [EMAIL_1"}}]}`)
	want = []string{
		`{"choices":[{"index":0,"delta":{"reasoning_content":"r ","content":"c "}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"[EMAIL_1","reasoning_content":"[EMAIL_1"},"logprobs":null,"finish_reason":null}]}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamCompletions(t *testing.T) {
	got := collectStream(t, Completions,
		`{"id":"c","object":"text_completion","choices":[{"text":"to [EMAIL","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":"_1]!","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":" [PH","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]}`,
		`[DONE]`)
	want := []string{
		`{"id":"c","object":"text_completion","choices":[{"text":"to ","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":"alice@example.com!","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":" ","index":0,"logprobs":null,"finish_reason":null}]}`,
		`{"id":"c","object":"text_completion","choices":[{"text":"[PH","index":0,"logprobs":null,"finish_reason":"stop"}]}`,
		`[DONE]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamMessagesFlushAndDrop(t *testing.T) {
	got := collectStream(t, Messages,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Mail [EM"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"AIL_1"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"0] or [EMAIL_1"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"[PHONE_2"}}`,
	)
	want := []string{
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Mail "}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"bob@example.org or "}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"[EMAIL_1"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"[PHONE_2"}}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Whole texts outside deltas: message_start, content_block_start, citations.
	got = collectStream(t, Messages,
		`{"type":"message_start","message":{"content":[{"type":"text","text":"hi [NAME_3]"}]}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"cited_text":"[EMAIL_1]"}}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","input":{"to":"[EMAIL_1]"}}}`)
	want = []string{
		`{"type":"message_start","message":{"content":[{"type":"text","text":"hi Zoë \"Z\" O'Neil \\ co"}]}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"cited_text":"alice@example.com"}}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","input":{"to":"alice@example.com"}}}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamResponsesRenumber(t *testing.T) {
	got := collectStream(t, Responses,
		`{"type":"response.output_text.delta","sequence_number":7,"item_id":"m","output_index":0,"content_index":0,"delta":"a [EM","logprobs":[]}`,
		`{"type":"response.output_text.delta","sequence_number":8,"item_id":"m","output_index":0,"content_index":0,"delta":"AIL","logprobs":[]}`,
		`{"type":"response.output_text.delta","sequence_number":9,"item_id":"m","output_index":0,"content_index":0,"delta":"_1","logprobs":[]}`,
		`{"type":"response.output_text.done","sequence_number":10,"item_id":"m","output_index":0,"content_index":0,"text":"a [EMAIL_1","logprobs":[]}`,
		`{"type":"response.reasoning_summary_text.delta","sequence_number":11,"item_id":"r","output_index":1,"summary_index":0,"delta":"[PHONE_2]"}`,
		`{"type":"response.function_call_arguments.delta","sequence_number":12,"item_id":"f","output_index":2,"delta":"{\"n\":\"[NAME_"}`,
		`{"type":"response.completed","sequence_number":13,"response":{"output":[{"type":"function_call","arguments":"{\"n\":\"[NAME_3]\"}"}]}}`)
	want := []string{
		`{"type":"response.output_text.delta","sequence_number":7,"item_id":"m","output_index":0,"content_index":0,"delta":"a ","logprobs":[]}`,
		`{"type":"response.output_text.delta","sequence_number":8,"item_id":"m","output_index":0,"content_index":0,"delta":"[EMAIL_1","logprobs":[]}`,
		`{"type":"response.output_text.done","sequence_number":9,"item_id":"m","output_index":0,"content_index":0,"text":"a [EMAIL_1","logprobs":[]}`,
		`{"type":"response.reasoning_summary_text.delta","sequence_number":10,"item_id":"r","output_index":1,"summary_index":0,"delta":"+1 555 0100"}`,
		`{"type":"response.function_call_arguments.delta","sequence_number":11,"item_id":"f","output_index":2,"delta":"{\"n\":\""}`,
		`{"type":"response.function_call_arguments.delta","sequence_number":12,"item_id":"f","output_index":2,"delta":"[NAME_"}`,
		`{"type":"response.completed","sequence_number":13,"response":{"output":[{"type":"function_call","arguments":"{\"n\":\"Zoë \\\"Z\\\" O'Neil \\\\ co\"}"}]}}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var args string
	var item struct {
		Response struct{ Output []struct{ Arguments string } }
	}
	_ = json.Unmarshal([]byte(got[len(got)-1]), &item)
	var v map[string]string
	if args = item.Response.Output[0].Arguments; json.Unmarshal([]byte(args), &v) != nil || v["n"] != testMap["[NAME_3]"] {
		t.Fatalf("restored arguments %s", args)
	}
}

func TestStreamMalformedAndForeign(t *testing.T) {
	for _, f := range []Format{Chat, Messages, Responses, Completions} {
		for _, d := range []string{`{"choices":[{"delta":{"content":"[EMA`, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"[E`,
			`{"type":"response.output_text.delta","delta":"[E","output_index":`, `not json [EMAIL_1]`, ``, `[1,2]`, `{"error":{"message":"[x"}}`} {
			ev := llmapi.Event{Data: []byte(d)}
			var out []llmapi.Event
			s := NewStream(f, func() Transformer { return NewRestorer(testMap) })
			if err := s.Event(ev, func(e llmapi.Event) error { out = append(out, e); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || !sameSlice(out[0].Data, ev.Data) && len(d) > 0 {
				t.Fatalf("%v %q: %q", f, d, out)
			}
		}
	}
}

func TestStreamEmitError(t *testing.T) {
	boom := errors.New("boom")
	s := NewStream(Messages, func() Transformer { return NewRestorer(testMap) })
	ok := func(llmapi.Event) error { return nil }
	_ = s.Event(llmapi.Event{Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"[EMA"}}`)}, ok)
	err := s.Event(llmapi.Event{Data: []byte(`{"type":"content_block_stop","index":0}`)}, func(llmapi.Event) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

// TestStreamKinds: NewStreamKinds sees each slot's kind, and a plain
// Restorer given for Arguments is made JSON-escaping.
func TestStreamKinds(t *testing.T) {
	var kinds []Kind
	base := NewRestorer(testMap)
	s := NewStreamKinds(Chat, func(k Kind) Transformer { kinds = append(kinds, k); return base.Fork() })
	var out []string
	emit := func(ev llmapi.Event) error { out = append(out, string(ev.Data)); return nil }
	for _, d := range []string{
		`{"choices":[{"index":0,"delta":{"content":"[NAME_3]","reasoning_content":"[EMAIL_1]","tool_calls":[{"index":0,"function":{"arguments":"\"[NAME_3]\""}}]}}]}`,
	} {
		if err := s.Event(llmapi.Event{Data: []byte(d)}, emit); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	if !reflect.DeepEqual(kinds, []Kind{Text, Text, Reasoning, Reasoning, Arguments, Arguments}) {
		t.Fatalf("kinds %v", kinds) // a probe and a slot per kind
	}
	want := `{"choices":[{"index":0,"delta":{"content":"Zoë \"Z\" O'Neil \\ co","reasoning_content":"alice@example.com","tool_calls":[{"index":0,"function":{"arguments":"\"Zoë \\\"Z\\\" O'Neil \\\\ co\""}}]}}]}`
	if len(out) != 1 || out[0] != want {
		t.Fatalf("got %s\nwant %s", out, want)
	}
}

// TestStreamQuickEventTricky: texts the whole-event fast path must not take
// for JSON structure.
func TestStreamQuickEventTricky(t *testing.T) {
	got := collectStream(t, Chat,
		`{"choices":[{"index":0,"delta":{"content":":[EMAIL_1]"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"a\":[EMAIL_1]"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"\u005bEMAIL_1]"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"x" , "refusal" :  [1]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"[EMAIL_1]"}}]}`)
	want := []string{
		`{"choices":[{"index":0,"delta":{"content":":alice@example.com"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"a\":alice@example.com"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"alice@example.com"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"x" , "refusal" :  [1]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"alice@example.com"}}]}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzStreamEvent: no event body makes a Stream panic or loop, and what it
// emits for a JSON event is JSON.
func FuzzStreamEvent(f *testing.F) {
	for _, name := range streamFixtures {
		for _, ev := range readEvents(f, name) {
			f.Add(uint8(formatOf(name)), ev.Data)
		}
	}
	f.Add(uint8(Chat), []byte(`{"choices":[{"index":0,"delta":{"content":"[EMA","tool_calls":[{"index":1,"function":{"arguments":"[NAME_"}}]}}]}`))
	f.Add(uint8(Completions), []byte(`{"choices":[{"text":"[EMAIL_1","index":0,"finish_reason":"stop"}]}`))
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		base := NewRestorer(testMap)
		s := NewStream(Format(format%4), func() Transformer { return base.Fork() })
		emit := func(ev llmapi.Event) error {
			if json.Valid(data) && !json.Valid(ev.Data) {
				t.Fatalf("JSON in, not JSON out: %s", ev.Data)
			}
			return nil
		}
		// Twice: the second time slots exist and may hold text.
		for range 2 {
			if err := s.Event(llmapi.Event{Data: data}, emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(func(ev llmapi.Event) error {
			if !json.Valid(ev.Data) {
				t.Fatalf("Finish emitted %s", ev.Data)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}
