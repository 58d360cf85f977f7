// Package guard owns the guardrail stage of the request path: which rules
// apply to a request, scanning every string of a request or reply body
// with their detectors (internal/guard/detect), and what a hit does —
// block, mask, tokenize (placeholders restored in the reply, streams
// included, via internal/guard/textflow) or log. It counts hits per rule
// and never keeps or reports the matched text.
package guard

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/glob"
	"github.com/credflow/credflow/internal/guard/detect"
	"github.com/credflow/credflow/internal/guard/textflow"
)

// Side is where a hit was found.
type Side string

const (
	Request Side = "request"
	Reply   Side = "reply"
)

// Hit is what the ledger, the audit log and metrics learn of a rule's
// findings in one request: never the text.
type Hit struct {
	Rule      string `json:"rule"`
	Action    string `json:"action"`
	Side      Side   `json:"side"`
	Detector  string `json:"detector,omitempty"`
	Count     int    `json:"count"`
	Moderated bool   `json:"-"`
}

// Block is a refusal: the rule and the detector that fired.
type Block struct {
	Rule     string
	Detector string
	Side     Side
	// Reason explains a moderation block or failure.
	Reason string
}

func (b *Block) Error() string {
	what := "a value its detector " + strconv.Quote(b.Detector) + " flags"
	if b.Detector == "" {
		what = b.Reason
	}
	if b.Side == Reply {
		return fmt.Sprintf("the reply was blocked by guardrail %q: it contained %s", b.Rule, what)
	}
	return fmt.Sprintf("request blocked by guardrail %q: it contains %s; remove it and retry (the rule is in the guardrails section of credflow's config)", b.Rule, what)
}

// Moderator calls a moderation model on texts and returns, per category,
// the highest score, and whether the model flagged any text.
type Moderator func(ctx context.Context, model string, texts []string) (scores map[string]float64, flagged bool, err error)

// Options are the values the gateway supplies.
type Options struct {
	// Secrets are the vault's secret values; they are hashed at once
	// (detect.Exact) and the caller should drop them.
	Secrets [][]byte
	// VerifyVirtualKey confirms a well-shaped "cf-…" is a live key.
	VerifyVirtualKey func([]byte) bool
	Moderate         Moderator
	// OnModerationError is told of a failed moderation call and what the
	// rule did about it (the gateway logs it).
	OnModerationError func(rule string, blocked bool, err error)
}

// Engine is a compiled list of rules; safe for concurrent use.
type Engine struct {
	rules []*rule
	opt   Options
}

type rule struct {
	cfg     config.Guardrail
	scanner detect.Scanner
}

// New builds the engine for rules (config-validated).
func New(rules []config.Guardrail, opt Options) *Engine {
	e := &Engine{opt: opt}
	var secrets *detect.Exact
	var vkeys *detect.VirtualKeys
	for _, g := range rules {
		var list []detect.Scanner
		if g.Compiled != nil {
			list = append(list, g.Compiled)
		}
		if g.VaultSecrets {
			if secrets == nil {
				secrets = detect.NewExact("vault_secret", opt.Secrets)
			}
			list = append(list, secrets)
		}
		if g.VirtualKeys {
			if vkeys == nil {
				vkeys = detect.NewVirtualKeys(opt.VerifyVirtualKey)
			}
			list = append(list, vkeys)
		}
		r := &rule{cfg: g}
		switch len(list) {
		case 0:
		case 1:
			r.scanner = list[0]
		default:
			r.scanner = detect.Join(list...)
		}
		e.rules = append(e.rules, r)
	}
	return e
}

// Len is the number of rules.
func (e *Engine) Len() int {
	if e == nil {
		return 0
	}
	return len(e.rules)
}

// Names lists the rules.
func (e *Engine) Names() []string {
	var out []string
	for _, r := range e.rules {
		out = append(out, r.cfg.Name)
	}
	return out
}

func (r *rule) applies(key, model string, require []string) bool {
	for _, n := range require {
		if n == r.cfg.Name {
			return true
		}
	}
	if r.cfg.Optional {
		return false
	}
	return matchAny(r.cfg.Keys, key) && matchAny(r.cfg.Models, model)
}

func matchAny(globs []string, s string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if glob.Match(g, s) {
			return true
		}
	}
	return false
}

// Begin selects the rules for one request: those whose keys and models
// match, and those a policy requires. It returns nil when none apply, the
// request then keeps the plain path.
func (e *Engine) Begin(ctx context.Context, key, model string, require []string) *Pass {
	if e == nil {
		return nil
	}
	var p *Pass
	for _, r := range e.rules {
		if !r.applies(key, model, require) {
			continue
		}
		if p == nil {
			p = &Pass{e: e, ctx: ctx}
		}
		if r.cfg.ScansRequest() {
			p.req = append(p.req, r)
		}
		if r.cfg.ScansReply() && r.cfg.Action != config.ActionTokenize {
			p.rep = append(p.rep, r)
		}
	}
	return p
}

// Pass is one request's guardrail state: its rules, its placeholders and
// its hit counts. Not safe for concurrent use.
type Pass struct {
	e        *Engine
	ctx      context.Context
	req, rep []*rule
	// tokens maps placeholder to original and back, for tokenize.
	tokens   map[string]string
	byValue  map[string]string
	counters map[string]int
	hits     []Hit
	restorer *textflow.Restorer
	blocked  *Block
}

// Hits returns the counts so far, one per rule, side and detector.
func (p *Pass) Hits() []Hit {
	if p == nil {
		return nil
	}
	return p.hits
}

// Blocked is the reply-side block, if a rule stopped a streamed reply.
func (p *Pass) Blocked() *Block { return p.blocked }

func (p *Pass) count(r *rule, side Side, detector string, n int) {
	for i := range p.hits {
		h := &p.hits[i]
		if h.Rule == r.cfg.Name && h.Side == side && h.Detector == detector {
			h.Count += n
			return
		}
	}
	p.hits = append(p.hits, Hit{Rule: r.cfg.Name, Action: r.cfg.Action, Side: side, Detector: detector, Count: n})
}

// skip lists members whose strings are identifiers, enums or opaque data,
// not text a person wrote: scanning them finds nothing and masking them
// would break the request.
var skip = map[string]bool{
	"model": true, "role": true, "type": true, "id": true, "tool_call_id": true, "call_id": true,
	"tool_use_id": true, "name": true, "media_type": true, "signature": true, "encrypted_content": true,
	"data": true, "previous_response_id": true, "conversation": true, "status": true, "object": true,
	"finish_reason": true, "stop_reason": true, "system_fingerprint": true, "service_tier": true,
	"reasoning_effort": true, "effort": true, "detail": true, "tool_choice": true, "encoding_format": true,
	"prompt_cache_key": true, "file_id": true,
}

func skipString(key string, text []byte) bool {
	if skip[key] {
		return true
	}
	// Images and files sent inline.
	return len(text) > 5 && string(text[:5]) == "data:"
}

type found struct {
	start, end int
	rule       *rule
	detector   string
}

// scan collects the hits of rules in text, non-overlapping, the earlier
// rule winning a tie.
func scan(rules []*rule, text []byte, buf []found) []found {
	buf = buf[:0]
	for _, r := range rules {
		if r.scanner == nil {
			continue
		}
		r.scanner.Scan(text, func(h detect.Hit) bool {
			buf = append(buf, found{h.Start, h.End, r, h.Detector})
			return true
		})
	}
	if len(buf) < 2 {
		return buf
	}
	sort.SliceStable(buf, func(i, j int) bool { return buf[i].start < buf[j].start })
	out := buf[:1]
	for _, f := range buf[1:] {
		if last := &out[len(out)-1]; f.start < last.end {
			if strength(f.rule.cfg.Action) > strength(last.rule.cfg.Action) {
				*last = f
			}
			continue
		}
		out = append(out, f)
	}
	return out
}

func strength(a string) int {
	switch a {
	case config.ActionBlock:
		return 3
	case config.ActionTokenize:
		return 2
	case config.ActionMask:
		return 1
	}
	return 0
}

// Request scans a request body (any JSON the upstream gets) and returns
// it rewritten, or the block that refuses it. Moderation rules run on
// the request's text too.
func (p *Pass) Request(body []byte) ([]byte, *Block, error) {
	if p == nil || len(p.req) == 0 {
		return body, nil, nil
	}
	var buf []found
	var block *Block
	var texts []string
	moderate := p.moderationRules(p.req)
	out, err := textflow.Rewrite(body, func(key string, text []byte) ([]byte, bool) {
		if block != nil || skipString(key, text) {
			return nil, false
		}
		if len(moderate) > 0 {
			texts = append(texts, string(text))
		}
		buf = scan(p.req, text, buf)
		if len(buf) == 0 {
			return nil, false
		}
		return p.apply(text, buf, Request, &block, true)
	})
	if err != nil {
		return body, nil, fmt.Errorf("guardrails could not read the request body: %w", err)
	}
	if block != nil {
		return body, block, nil
	}
	if b := p.moderate(moderate, texts, Request); b != nil {
		return body, b, nil
	}
	return out, nil, nil
}

func (p *Pass) moderationRules(rules []*rule) []*rule {
	var out []*rule
	for _, r := range rules {
		if r.cfg.Moderation != nil {
			out = append(out, r)
		}
	}
	return out
}

// moderate runs each moderation rule on texts.
func (p *Pass) moderate(rules []*rule, texts []string, side Side) *Block {
	if len(rules) == 0 || len(texts) == 0 {
		return nil
	}
	for _, r := range rules {
		m := r.cfg.Moderation
		if p.e.opt.Moderate == nil {
			continue
		}
		scores, flagged, err := p.e.opt.Moderate(p.ctx, m.Model, texts)
		if err != nil {
			block := r.cfg.OnError != "allow"
			if f := p.e.opt.OnModerationError; f != nil {
				f(r.cfg.Name, block, err)
			}
			if block {
				p.count(r, side, "moderation_error", 1)
				return &Block{Rule: r.cfg.Name, Side: side, Reason: "no moderation verdict: the moderation model " + strconv.Quote(m.Model) + " failed and the rule's on_error is block"}
			}
			continue
		}
		var cats []string
		if len(m.Thresholds) == 0 {
			if flagged {
				cats = append(cats, "flagged")
			}
		} else {
			for c, t := range m.Thresholds {
				if scores[c] >= t {
					cats = append(cats, c)
				}
			}
			sort.Strings(cats)
		}
		if len(cats) == 0 {
			continue
		}
		for _, c := range cats {
			p.count(r, side, "moderation:"+c, 1)
		}
		if r.cfg.Action == config.ActionBlock {
			return &Block{Rule: r.cfg.Name, Side: side, Reason: "content the moderation model rates over the threshold for " + strings.Join(cats, ", ")}
		}
	}
	return nil
}

// apply counts the hits in text and returns text with mask and tokenize
// hits replaced; a block hit sets *block. Without count it only rewrites
// (a text the stream already scanned, sent again whole).
func (p *Pass) apply(text []byte, hits []found, side Side, block **Block, count bool) ([]byte, bool) {
	var out []byte
	last := 0
	for _, h := range hits {
		if count {
			p.count(h.rule, side, h.detector, 1)
		}
		var repl string
		switch h.rule.cfg.Action {
		case config.ActionBlock:
			if count && *block == nil {
				*block = &Block{Rule: h.rule.cfg.Name, Detector: h.detector, Side: side}
			}
			continue
		case config.ActionMask:
			repl = "[" + detect.PlaceholderFor(h.detector) + "]"
		case config.ActionTokenize:
			repl = p.placeholder(h.detector, string(text[h.start:h.end]))
		default:
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(text)+16)
		}
		out = append(out, text[last:h.start]...)
		out = append(out, repl...)
		last = h.end
	}
	if out == nil {
		return nil, false
	}
	return append(out, text[last:]...), true
}

// placeholder returns the value's placeholder, the same for every
// occurrence in the request.
func (p *Pass) placeholder(detector, value string) string {
	if ph, ok := p.byValue[value]; ok {
		return ph
	}
	if p.tokens == nil {
		p.tokens, p.byValue, p.counters = map[string]string{}, map[string]string{}, map[string]int{}
	}
	label := detect.PlaceholderFor(detector)
	p.counters[label]++
	ph := "[" + label + "_" + strconv.Itoa(p.counters[label]) + "]"
	p.tokens[ph], p.byValue[value] = value, ph
	p.restorer = nil
	return ph
}

// Tokenized reports whether the request carries placeholders to restore.
func (p *Pass) Tokenized() bool { return p != nil && len(p.tokens) > 0 }

// ScansReplies reports whether anything happens to the reply.
func (p *Pass) ScansReplies() bool { return p != nil && (len(p.tokens) > 0 || len(p.rep) > 0) }

func (p *Pass) restore() *textflow.Restorer {
	if p.restorer == nil && len(p.tokens) > 0 {
		p.restorer = textflow.NewRestorer(p.tokens)
	}
	return p.restorer
}

// isJSONText names members whose strings hold JSON (tool-call
// arguments): an original restored into them is JSON-escaped.
func isJSONText(key string) bool { return key == "arguments" || key == "partial_json" }

// ReplyBody restores placeholders in a whole reply and runs the reply-side
// rules on it.
func (p *Pass) ReplyBody(body []byte) ([]byte, *Block) {
	if !p.ScansReplies() {
		return body, nil
	}
	rs := p.restore()
	var rsJSON *textflow.Restorer
	if rs != nil {
		rsJSON = rs.ForJSON()
	}
	var buf []found
	var block *Block
	var texts []string
	moderate := p.moderationRules(p.rep)
	out, err := textflow.Rewrite(body, func(key string, text []byte) ([]byte, bool) {
		if block != nil || skipString(key, text) {
			return nil, false
		}
		changed := false
		if rs != nil {
			r := rs
			if isJSONText(key) {
				r = rsJSON
			}
			if s := r.Replace(string(text)); s != string(text) {
				text, changed = []byte(s), true
			}
		}
		if len(moderate) > 0 {
			texts = append(texts, string(text))
		}
		if buf = scan(p.rep, text, buf); len(buf) > 0 {
			if t, ok := p.apply(text, buf, Reply, &block, true); ok {
				text, changed = t, true
			}
		}
		return text, changed
	})
	if err != nil {
		return body, nil
	}
	if block != nil {
		return body, block
	}
	if b := p.moderate(moderate, texts, Reply); b != nil {
		return body, b
	}
	return out, nil
}

// StreamFormat says which client API a reply stream is in.
type StreamFormat = textflow.Format

// Stream returns the rewriter for a reply stream in format f, nil when
// the reply needs none. Moderation does not run on streams (a verdict
// would come after the text went out).
func (p *Pass) Stream(f textflow.Format) *textflow.Stream {
	if !p.ScansReplies() {
		return nil
	}
	rs := p.restore()
	var scanRules []*rule
	for _, r := range p.rep {
		if r.scanner != nil {
			scanRules = append(scanRules, r)
		}
	}
	if rs == nil && len(scanRules) == 0 {
		return nil
	}
	return textflow.NewStreamKinds(f, func(k textflow.Kind) textflow.Transformer {
		var chain []textflow.Transformer
		if rs != nil {
			r := rs.Fork()
			if k == textflow.Arguments {
				r = rs.ForJSON().Fork()
			}
			if len(scanRules) == 0 {
				return r
			}
			chain = append(chain, r)
		}
		chain = append(chain, &holdScanner{p: p, rules: scanRules})
		return &chained{list: chain}
	})
}

// holdMargin is how much streamed reply text a reply-side scan holds back:
// a value split across chunks is whole once the text after it arrives.
const holdMargin = 256

// holdScanner runs reply-side rules over a streamed text, holding back the
// last holdMargin bytes (and any hit reaching into them).
type holdScanner struct {
	p     *Pass
	rules []*rule
	held  []byte
	buf   []found
}

func (h *holdScanner) Write(chunk string) string {
	h.held = append(h.held, chunk...)
	if len(h.held) <= holdMargin {
		return ""
	}
	return h.emit(len(h.held) - holdMargin)
}

func (h *holdScanner) Flush() string { return h.emit(len(h.held)) }

// emit releases held[:upTo] (less any hit crossing it), rewritten.
func (h *holdScanner) emit(upTo int) string {
	if h.p.blocked != nil {
		h.held = h.held[:0]
		return ""
	}
	h.buf = scan(h.rules, h.held, h.buf)
	cut := upTo
	var use []found
	for _, f := range h.buf {
		if f.start >= cut {
			break
		}
		if f.end > cut && cut < len(h.held) {
			cut = f.start
			break
		}
		use = append(use, f)
	}
	part := h.held[:cut]
	out := part
	if len(use) > 0 {
		if t, ok := h.p.apply(part, use, Reply, &h.p.blocked, true); ok {
			out = t
		}
		if h.p.blocked != nil {
			h.held = h.held[:0]
			return ""
		}
	}
	s := string(out)
	h.held = append(h.held[:0], h.held[cut:]...)
	return s
}

// Whole rewrites a text the stream sends again whole (a Responses
// ".done" event, a final response object): restored and masked as its
// deltas were, without counting its hits a second time.
func (h *holdScanner) Whole(s string) string {
	if hits := scan(h.rules, []byte(s), nil); len(hits) > 0 {
		var none *Block
		if t, ok := h.p.apply([]byte(s), hits, Reply, &none, false); ok {
			return string(t)
		}
	}
	return s
}

type chained struct{ list []textflow.Transformer }

func (c *chained) Whole(s string) string {
	for _, t := range c.list {
		if w, ok := t.(textflow.Wholer); ok {
			s = w.Whole(s)
		} else {
			s = t.Write(s) + t.Flush()
		}
	}
	return s
}

func (c *chained) Write(s string) string {
	for _, t := range c.list {
		s = t.Write(s)
	}
	return s
}

func (c *chained) Flush() string {
	s := ""
	for _, t := range c.list {
		s = t.Write(s) + t.Flush()
	}
	return s
}
