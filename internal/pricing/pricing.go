// Package pricing owns credflow's embedded model price and context-window
// table and the money arithmetic used to account the cost of every request.
//
// # The table
//
// prices.json is generated from a models.dev snapshot (MIT License, see
// models-dev.LICENSE next to it) by scripts/gen-pricing.sh, trimmed to the
// providers credflow routes to. It is embedded at build time and never
// fetched at run time; to refresh it, run scripts/gen-pricing.sh with a newer
// models.dev file. Users override any price or context window in config
// (Table.With).
//
// The table also says whether a model reasons (Price.Reasoning), which
// decides whether a translated request may carry a reasoning effort:
// models that do not reason refuse one.
//
// A model the table does not know has an unknown price, never a zero price:
// Lookup and Cost return ok=false and callers report "unknown". A zero price
// that the table does state (free models such as OpenRouter's ":free"
// variants) is a real, known zero.
//
// # Money
//
// Money is integer: Micros are micro-dollars (1e-6 USD). Prices are Micros
// per million tokens (USD per 1M tokens × 1e6: $2.50/1M is 2_500_000), which
// represents every price with up to six decimals exactly. Decimal prices are
// parsed from their text (ParseUSD, json.Number), never through float64, so
// "0.075" is exactly 75_000. No floating point takes part in the arithmetic.
//
// # Rounding
//
// Price.Cost multiplies tokens by prices in Micros per 1M tokens, which is
// an exact amount in pico-dollars (1e-12 USD, held in 64 bits with overflow
// checks); it adds up every part of the request (input, output, cache reads
// and writes) exactly and rounds the total once, half up, to Micros. Micros
// are the ledger unit, so a request has to land on one; rounding once keeps
// the error under half a micro-dollar per request (at worst $0.50 per
// million requests, and about zero on average since the discarded fractions
// are spread evenly), where rounding each part or truncating would bias
// small requests one way. A request cheaper than half a micro-dollar costs
// 0: a known cost, not an unknown one.
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed prices.json
var embedded []byte

// Micros is an amount of money in micro-dollars (1e-6 USD). Prices are
// Micros per million tokens.
type Micros int64

// MicrosPerUSD is one dollar.
const MicrosPerUSD Micros = 1_000_000

// TokensPerPrice is the number of tokens a price is for (prices are per
// million tokens).
const TokensPerPrice = 1_000_000

// String formats m as dollars with as many decimals as it needs (at least
// two, at most six): "$2.50", "$0.003085", "$0.000001", "-$1.20".
func (m Micros) String() string {
	s := m.format(2)
	if strings.HasPrefix(s, "-") {
		return "-$" + s[1:]
	}
	return "$" + s
}

// Decimal formats m as a plain decimal number of dollars with no trailing
// zeros: "2.5", "0.075", "15", "0". It is the form prices are written in
// prices.json and parsed back exactly by ParseUSD.
func (m Micros) Decimal() string { return m.format(0) }

func (m Micros) format(minFrac int) string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u // two's complement: correct for math.MinInt64 too
	}
	whole, frac := u/1_000_000, u%1_000_000
	fs := strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	for len(fs) < minFrac {
		fs += "0"
	}
	s := strconv.FormatUint(whole, 10)
	if fs != "" {
		s += "." + fs
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseUSD parses an amount of dollars written as a decimal: "5", "0.50",
// "$5", "5usd", "5 USD", "2.5e-1". The value must be non-negative and
// exact to the micro-dollar: "0.0000001" is an error rather than a silently
// rounded zero. It is used for budgets and for prices in USD per 1M tokens
// (which it turns into Micros per 1M tokens).
func ParseUSD(s string) (Micros, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimPrefix(t, "$"))
	if n := len(t); n >= 3 && strings.EqualFold(t[n-3:], "usd") {
		t = strings.TrimSpace(t[:n-3])
	}
	m, err := parseDecimal(t)
	if err != nil {
		return 0, fmt.Errorf("invalid amount %q: %w", s, err)
	}
	return m, nil
}

var (
	errSyntax    = errors.New("not a decimal number of dollars")
	errNegative  = errors.New("negative amount")
	errPrecision = errors.New("finer than a micro-dollar ($0.000001)")
	errRange     = errors.New("too large")
)

// parseDecimal turns digits[.digits][e[+-]digits] into Micros exactly, with
// decimal string arithmetic: the mantissa's digits are shifted by the
// exponent, never multiplied as a float.
func parseDecimal(s string) (Micros, error) {
	if strings.HasPrefix(s, "-") {
		if _, err := parseDecimal(s[1:]); err == nil {
			return 0, errNegative
		}
		return 0, errSyntax
	}
	s = strings.TrimPrefix(s, "+")
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
		if exp == "" {
			return 0, errSyntax
		}
	}
	intPart, fracPart, _ := strings.Cut(mant, ".")
	if intPart == "" && fracPart == "" || !allDigits(intPart) || !allDigits(fracPart) {
		return 0, errSyntax
	}
	e := 0
	if exp != "" {
		sign := 1
		switch exp[0] {
		case '+':
			exp = exp[1:]
		case '-':
			sign, exp = -1, exp[1:]
		}
		if exp == "" || !allDigits(exp) {
			return 0, errSyntax
		}
		if len(exp) > 4 {
			exp = "9999" // absurd exponents: range or precision error below
		}
		n, _ := strconv.Atoi(exp)
		e = sign * n
	}
	digits := strings.TrimLeft(intPart+fracPart, "0")
	if digits == "" {
		return 0, nil
	}
	// value = digits × 10^(e - len(fracPart)); in Micros, × 10^6 more.
	shift := e - len(fracPart) + 6
	if shift < 0 {
		cut := len(digits) + shift
		var tail string
		if cut <= 0 {
			tail, digits = digits, ""
		} else {
			tail, digits = digits[cut:], digits[:cut]
		}
		if strings.Trim(tail, "0") != "" {
			return 0, errPrecision
		}
		if digits == "" {
			return 0, nil
		}
	} else {
		if len(digits)+shift > 19 {
			return 0, errRange
		}
		digits += strings.Repeat("0", shift)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, errRange
	}
	return Micros(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Usage is the token count of one request, split by how each part is
// priced. The parts are disjoint:
//
//   - Input is the uncached prompt tokens only: it EXCLUDES cache reads and
//     cache writes. OpenAI's prompt_tokens includes its cached tokens, so the
//     caller passes prompt_tokens - prompt_tokens_details.cached_tokens as
//     Input and cached_tokens as CacheRead. Anthropic's input_tokens already
//     excludes cache_read_input_tokens and cache_creation_input_tokens, which
//     map to CacheRead and CacheWrite.
//   - Output is every generated token, reasoning tokens included (OpenAI's
//     completion_tokens already counts reasoning_tokens; do not add them
//     again).
type Usage struct {
	Input, Output, CacheRead, CacheWrite int64
}

// Prompt is the whole prompt size, Input + CacheRead + CacheWrite, which
// selects a long-context tier (saturating instead of overflowing).
func (u Usage) Prompt() int64 {
	var s int64
	for _, v := range []int64{u.Input, u.CacheRead, u.CacheWrite} {
		if v > 0 {
			if s > math.MaxInt64-v {
				return math.MaxInt64
			}
			s += v
		}
	}
	return s
}

// Price is what a model costs and how much it reads and writes. Prices are
// Micros per million tokens; a Has field says whether the matching price is
// known (a known price may be zero: free models). Limits are tokens, 0 when
// unknown.
type Price struct {
	Input, Output, CacheRead, CacheWrite             Micros // per 1M tokens
	HasInput, HasOutput, HasCacheRead, HasCacheWrite bool

	// Tiers are long-context prices, ascending by Above: when a request's
	// prompt (Usage.Prompt) is larger than a tier's Above, that tier's
	// known prices replace the base ones for the whole request.
	Tiers []Tier

	// Context is the context window, MaxInput the largest prompt where the
	// provider states one apart from the window, MaxOutput the largest
	// completion.
	Context, MaxInput, MaxOutput int

	// Reasoning says the model reasons (takes a reasoning effort, or
	// thinking), as the catalogue or a user override states it;
	// ReasoningKnown whether either says. A model nobody describes does
	// not reason as far as credflow is concerned.
	Reasoning, ReasoningKnown bool

	// Provider and Model name the table entry that matched (the models.dev
	// provider id and model id), e.g. "openai", "gpt-4o" for a request for
	// gpt-4o-2099-01-01. Model is the requested id when only an override
	// matched.
	Provider, Model string
	// Overridden is set when a user override changed any field.
	Overridden bool
}

// Tier is a long-context price: it applies when the prompt is larger than
// Above tokens. A price the tier does not state stays the base price.
type Tier struct {
	Above                                            int
	Input, Output, CacheRead, CacheWrite             Micros // per 1M tokens
	HasInput, HasOutput, HasCacheRead, HasCacheWrite bool
}

// Priced reports whether any price is known (an entry may hold only limits).
func (p Price) Priced() bool {
	return p.HasInput || p.HasOutput || p.HasCacheRead || p.HasCacheWrite
}

// Cost is the cost of one request, rounded half up to Micros once from the
// exact total (see the package doc). ok is false, and the cost unknown,
// when a part of the usage that is not zero has no known price, when p
// knows no price at all, when a count is negative, or on overflow.
//
// Cache reads are priced at CacheRead and cache writes at CacheWrite; when
// the table has no cache price for the model they fall back to the Input
// price (a provider without prompt-caching prices bills those tokens as
// ordinary input). The prompt size (Usage.Prompt) selects a long-context
// tier first.
func (p Price) Cost(u Usage) (cost Micros, ok bool) {
	if u.Input < 0 || u.Output < 0 || u.CacheRead < 0 || u.CacheWrite < 0 || !p.Priced() {
		return 0, false
	}
	in, out := rate{p.Input, p.HasInput}, rate{p.Output, p.HasOutput}
	cr, cw := rate{p.CacheRead, p.HasCacheRead}, rate{p.CacheWrite, p.HasCacheWrite}
	prompt := u.Prompt()
	for _, t := range p.Tiers {
		if prompt <= int64(t.Above) {
			continue
		}
		in = in.or(rate{t.Input, t.HasInput})
		out = out.or(rate{t.Output, t.HasOutput})
		cr = cr.or(rate{t.CacheRead, t.HasCacheRead})
		cw = cw.or(rate{t.CacheWrite, t.HasCacheWrite})
	}
	if !cr.ok {
		cr = in
	}
	if !cw.ok {
		cw = in
	}
	var pico uint64 // exact total in 1e-12 USD: tokens × Micros per 1M tokens
	for _, part := range [...]struct {
		n int64
		r rate
	}{{u.Input, in}, {u.Output, out}, {u.CacheRead, cr}, {u.CacheWrite, cw}} {
		if part.n == 0 {
			continue
		}
		if !part.r.ok || part.r.v < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(uint64(part.n), uint64(part.r.v))
		var carry uint64
		pico, carry = bits.Add64(pico, lo, 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
	}
	q := pico / TokensPerPrice
	if pico%TokensPerPrice >= TokensPerPrice/2 {
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	return Micros(q), true
}

type rate struct {
	v  Micros
	ok bool
}

func (r rate) or(t rate) rate {
	if t.ok {
		return t
	}
	return r
}

// Table is a price table: the embedded one (Default), one parsed from a
// generated file (Parse), either with user overrides (With). A Table is
// immutable and safe for concurrent use.
type Table struct {
	source    string
	providers map[string]*provTable
	order     []string        // search order when the provider is unknown
	hosts     []hostRule      // base-URL host → provider id
	spec      map[string]*ovr // "provider-id/model" (lower case) → override
	generic   map[string]*ovr // "model" (lower case) → override
}

type provTable struct {
	name   string
	models map[string]*Price   // exact id
	lower  map[string]*Price   // lower-case id; ids differing only in case dropped
	base   map[string][]*Price // lower-case part after the last "/" of ids with one
}

var (
	defaultOnce  sync.Once
	defaultTable *Table
)

// Default is the table embedded in the binary (prices.json). It panics if
// the embedded file is invalid, which the package's tests rule out.
func Default() *Table {
	defaultOnce.Do(func() {
		t, err := Parse(embedded)
		if err != nil {
			panic("pricing: embedded prices.json: " + err.Error())
		}
		defaultTable = t
	})
	return defaultTable
}

// The prices.json format, written by scripts/gen-pricing. Prices are
// decimal USD per 1M tokens (JSON numbers, read as text), limits tokens.
type (
	fileTable struct {
		About     string                  `json:"about"`
		License   string                  `json:"license"`
		Source    string                  `json:"source"`
		Units     map[string]string       `json:"units"`
		Providers map[string]fileProvider `json:"providers"`
	}
	fileProvider struct {
		Name   string               `json:"name"`
		API    string               `json:"api,omitempty"`
		Models map[string]fileModel `json:"models"`
	}
	fileModel struct {
		Cost      *fileCost  `json:"cost,omitempty"`
		Limit     *fileLimit `json:"limit,omitempty"`
		Reasoning *bool      `json:"reasoning,omitempty"`
	}
	fileCost struct {
		Input      json.Number `json:"input,omitempty"`
		Output     json.Number `json:"output,omitempty"`
		CacheRead  json.Number `json:"cache_read,omitempty"`
		CacheWrite json.Number `json:"cache_write,omitempty"`
		Tiers      []fileTier  `json:"tiers,omitempty"`
	}
	fileTier struct {
		Above      int         `json:"above"`
		Input      json.Number `json:"input,omitempty"`
		Output     json.Number `json:"output,omitempty"`
		CacheRead  json.Number `json:"cache_read,omitempty"`
		CacheWrite json.Number `json:"cache_write,omitempty"`
	}
	fileLimit struct {
		Context int `json:"context,omitempty"`
		Input   int `json:"input,omitempty"`
		Output  int `json:"output,omitempty"`
	}
)

// Parse reads a table in the prices.json format written by
// scripts/gen-pricing. Prices must be exact to the micro-dollar per 1M
// tokens.
func Parse(data []byte) (*Table, error) {
	var f fileTable
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the table")
	}
	t := &Table{source: f.Source, providers: map[string]*provTable{}}
	for pid, fp := range f.Providers {
		if pid == "" || pid != strings.ToLower(pid) || strings.Contains(pid, "/") {
			return nil, fmt.Errorf("provider id %q: want a lower-case id without '/'", pid)
		}
		pt := &provTable{name: fp.Name, models: map[string]*Price{}, lower: map[string]*Price{}, base: map[string][]*Price{}}
		for mid, fm := range fp.Models {
			p, err := fm.price(pid, mid)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", pid, mid, err)
			}
			pt.models[mid] = p
		}
		pt.index()
		t.providers[pid] = pt
		if h := apiHost(fp.API); h != "" {
			t.hosts = append(t.hosts, hostRule{h, pid})
		}
	}
	sort.Slice(t.hosts, func(i, j int) bool { return t.hosts[i].provider < t.hosts[j].provider })
	t.hosts = append(slices.Clone(builtinHosts), t.hosts...)
	for _, id := range searchOrder {
		if t.providers[id] != nil {
			t.order = append(t.order, id)
		}
	}
	for _, id := range t.Providers() {
		if !slices.Contains(t.order, id) {
			t.order = append(t.order, id)
		}
	}
	return t, nil
}

func (fm fileModel) price(pid, mid string) (*Price, error) {
	p := &Price{Provider: pid, Model: mid}
	if c := fm.Cost; c != nil {
		var err error
		set := func(dst *Micros, has *bool, n json.Number, what string) {
			if n == "" || err != nil {
				return
			}
			*dst, err = ParseUSD(string(n))
			if err != nil {
				err = fmt.Errorf("cost %s: %w", what, err)
			}
			*has = true
		}
		set(&p.Input, &p.HasInput, c.Input, "input")
		set(&p.Output, &p.HasOutput, c.Output, "output")
		set(&p.CacheRead, &p.HasCacheRead, c.CacheRead, "cache_read")
		set(&p.CacheWrite, &p.HasCacheWrite, c.CacheWrite, "cache_write")
		for _, ft := range c.Tiers {
			if ft.Above <= 0 {
				return nil, fmt.Errorf("tier above %d tokens", ft.Above)
			}
			if len(p.Tiers) > 0 && ft.Above <= p.Tiers[len(p.Tiers)-1].Above {
				return nil, errors.New("tiers not in ascending order")
			}
			tr := Tier{Above: ft.Above}
			set(&tr.Input, &tr.HasInput, ft.Input, "tier input")
			set(&tr.Output, &tr.HasOutput, ft.Output, "tier output")
			set(&tr.CacheRead, &tr.HasCacheRead, ft.CacheRead, "tier cache_read")
			set(&tr.CacheWrite, &tr.HasCacheWrite, ft.CacheWrite, "tier cache_write")
			p.Tiers = append(p.Tiers, tr)
		}
		if err != nil {
			return nil, err
		}
	}
	if l := fm.Limit; l != nil {
		if l.Context < 0 || l.Input < 0 || l.Output < 0 {
			return nil, errors.New("negative limit")
		}
		p.Context, p.MaxInput, p.MaxOutput = l.Context, l.Input, l.Output
	}
	if fm.Reasoning != nil {
		p.Reasoning, p.ReasoningKnown = *fm.Reasoning, true
	}
	return p, nil
}

func (pt *provTable) index() {
	count := map[string]int{}
	for id := range pt.models {
		count[strings.ToLower(id)]++
	}
	for id, p := range pt.models {
		l := strings.ToLower(id)
		if count[l] == 1 {
			pt.lower[l] = p
		}
		if i := strings.LastIndexByte(l, '/'); i >= 0 && i < len(l)-1 {
			pt.base[l[i+1:]] = append(pt.base[l[i+1:]], p)
		}
	}
}

// find is the provider's entry for a model id: exact, then case-insensitive.
func (pt *provTable) find(model string) *Price {
	if pt == nil {
		return nil
	}
	if p := pt.models[model]; p != nil {
		return p
	}
	return pt.lower[strings.ToLower(model)]
}

// Source describes where the table's data comes from (the models.dev
// snapshot it was generated from).
func (t *Table) Source() string { return t.source }

// Providers lists the table's provider ids (models.dev ids), sorted.
func (t *Table) Providers() []string {
	ids := make([]string, 0, len(t.providers))
	for id := range t.providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Models lists a provider's model ids, sorted (nil for an unknown provider).
func (t *Table) Models(provider string) []string {
	pt := t.providers[provider]
	if pt == nil {
		return nil
	}
	ids := make([]string, 0, len(pt.models))
	for id := range pt.models {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// searchOrder is the order providers are searched in when the provider is
// unknown: model makers first (their list price), then hosts, then
// aggregators and Azure. Providers not listed follow, sorted.
var searchOrder = []string{
	"openai", "anthropic", "google", "mistral", "deepseek", "xai", "cohere",
	"moonshotai", "zai", "perplexity", "groq", "cerebras", "togetherai",
	"fireworks-ai", "deepinfra", "openrouter", "azure",
}

// aliases maps credflow provider types and common names to models.dev ids.
var aliases = map[string]string{
	"azure-openai":  "azure",
	"gemini":        "google",
	"google-gemini": "google",
	"together":      "togetherai",
	"together-ai":   "togetherai",
	"fireworks":     "fireworks-ai",
	"x-ai":          "xai",
	"grok":          "xai",
	"mistralai":     "mistral",
	"moonshot":      "moonshotai",
	"z-ai":          "zai",
	"deepseek-ai":   "deepseek",
}

type hostRule struct{ host, provider string }

// builtinHosts maps API hosts (and their subdomains) to models.dev ids;
// hosts of the "api" URLs in the table follow.
var builtinHosts = []hostRule{
	{"api.openai.com", "openai"},
	{"api.anthropic.com", "anthropic"},
	{"openai.azure.com", "azure"},
	{"cognitiveservices.azure.com", "azure"},
	{"services.ai.azure.com", "azure"},
	{"generativelanguage.googleapis.com", "google"},
	{"api.groq.com", "groq"},
	{"api.mistral.ai", "mistral"},
	{"api.deepseek.com", "deepseek"},
	{"openrouter.ai", "openrouter"},
	{"api.together.xyz", "togetherai"},
	{"api.together.ai", "togetherai"},
	{"api.x.ai", "xai"},
	{"api.fireworks.ai", "fireworks-ai"},
	{"api.cerebras.ai", "cerebras"},
	{"api.cohere.ai", "cohere"},
	{"api.cohere.com", "cohere"},
	{"api.deepinfra.com", "deepinfra"},
	{"api.moonshot.ai", "moonshotai"},
	{"api.perplexity.ai", "perplexity"},
	{"api.z.ai", "zai"},
}

// Local is what ProviderFor returns for an openai-compatible provider on a
// loopback or private address (a local server): no table price applies,
// only overrides.
const Local = "local"

func apiHost(raw string) string {
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
}

// ProviderFor maps a configured provider (credflow type and base URL) to
// the provider id to pass to Lookup:
//
//   - a base URL on a known API host names its provider, whatever the type
//     (an "openai" provider pointed at api.groq.com is groq);
//   - otherwise "openai" is openai, "azure-openai" azure, "anthropic"
//     anthropic, and a models.dev id or alias (groq, together, gemini…)
//     itself;
//   - "openai-compatible" on a loopback or private address is Local (no
//     table price), on any other host "" (search every provider for the
//     model id);
//   - anything else (mock) is returned as is and matches no table entry.
func (t *Table) ProviderFor(kind, baseURL string) string {
	if h := apiHost(baseURL); h != "" {
		for _, r := range t.hosts {
			if h == r.host || strings.HasSuffix(h, "."+r.host) {
				return r.provider
			}
		}
	}
	k := strings.ToLower(strings.TrimSpace(kind))
	switch k {
	case "openai-compatible", "":
		if h := apiHost(baseURL); h != "" && isLocal(h) {
			return Local
		}
		return ""
	}
	if a, ok := aliases[k]; ok {
		return a
	}
	return k
}

func isLocal(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal") || !strings.Contains(host, ".") && !strings.Contains(host, ":") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
}

// resolve turns Lookup's provider argument into a provider id; all is set
// when every provider is to be searched.
func (t *Table) resolve(provider string) (id string, all bool) {
	p := strings.ToLower(strings.TrimSpace(provider))
	if strings.Contains(p, "://") {
		p = t.ProviderFor("openai-compatible", provider)
	}
	if p == "" || p == "openai-compatible" {
		return "", true
	}
	if a, ok := aliases[p]; ok && t.providers[p] == nil {
		return a, false
	}
	return p, false
}

// Lookup finds a model's price. provider is a models.dev id (openai,
// anthropic, azure, groq, …), a credflow provider type or alias
// (azure-openai, gemini, together, …), a base URL (its host names the
// provider), what ProviderFor returned, or "" / "openai-compatible" to
// search every provider. For one provider, Lookup tries in turn:
//
//  1. the model id, exactly then ignoring case;
//  2. the id without a date suffix ("gpt-4o-2024-08-06" → "gpt-4o",
//     "claude-sonnet-4-5-20250929" and "…@20250929" → "claude-sonnet-4-5"),
//     only when the dated id itself is absent;
//  3. the provider's unique id ending in "/" + model ("gpt-4o" on
//     openrouter is "openai/gpt-4o");
//  4. for a "vendor/model" id whose vendor is a provider in the table, the
//     model at that provider ("anthropic/claude-sonnet-4-5" → anthropic).
//
// A provider the table does not have (Local, mock) matches overrides only.
//
// When every provider is searched, steps 1 and 2 scan providers makers
// first (openai, anthropic, google, …, then hosts and aggregators), then 4.
// Overrides (With) take part at steps 1 and 2 and beat the table there.
//
// ok is false when the model is unknown or has no known price: the price is
// then unknown, never zero. Find returns entries without a price too.
func (t *Table) Lookup(provider, model string) (Price, bool) {
	p, ok := t.Find(provider, model)
	if !ok || !p.Priced() {
		return Price{}, false
	}
	return p, true
}

// Find is Lookup without the price requirement: the entry may hold only
// limits (context windows) and no price. Use it for context windows; use
// Lookup for money.
func (t *Table) Find(provider, model string) (Price, bool) {
	model = strings.TrimSpace(model)
	if model == "" {
		return Price{}, false
	}
	id, all := t.resolve(provider)
	var p Price
	var ok bool
	if all {
		p, ok = t.findAll(model)
	} else {
		p, ok = t.findIn(id, model, true)
	}
	if ok {
		p.Tiers = slices.Clone(p.Tiers)
	}
	return p, ok
}

// dateSuffix matches a snapshot date at the end of a model id:
// -2024-08-06, -20250929, @20250929.
var dateSuffix = regexp.MustCompile(`(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8})$`)

func names(model string) []string {
	if loc := dateSuffix.FindStringIndex(model); loc != nil && loc[0] > 0 {
		return []string{model, model[:loc[0]]}
	}
	return []string{model}
}

func (t *Table) findIn(id, model string, vendorSplit bool) (Price, bool) {
	pt := t.providers[id]
	ns := names(model)
	for _, n := range ns {
		if p, ok := t.hit(id, pt.find(n), n); ok {
			return p, true
		}
	}
	if pt != nil {
		for _, n := range ns {
			if l := strings.ToLower(n); !strings.Contains(l, "/") {
				if c := pt.base[l]; len(c) == 1 {
					return t.hit(id, c[0], c[0].Model)
				}
			}
		}
	}
	if vendorSplit && pt != nil {
		if v, rest, ok := strings.Cut(model, "/"); ok && rest != "" {
			vid, _ := t.resolve(v)
			if t.providers[vid] != nil {
				return t.findIn(vid, rest, false)
			}
		}
	}
	return Price{}, false
}

func (t *Table) findAll(model string) (Price, bool) {
	for _, n := range names(model) {
		for _, id := range t.order {
			if e := t.providers[id].find(n); e != nil {
				return t.hit(id, e, n)
			}
		}
		if o := t.generic[strings.ToLower(n)]; o != nil {
			return o.apply(Price{Model: n}), true
		}
	}
	if v, rest, ok := strings.Cut(model, "/"); ok && rest != "" {
		vid, _ := t.resolve(v)
		if t.providers[vid] != nil {
			return t.findIn(vid, rest, false)
		}
	}
	return Price{}, false
}

// hit merges the overrides for (provider id, model name) over the table
// entry e (nil when the table has none); ok is false when neither exists.
func (t *Table) hit(id string, e *Price, name string) (Price, bool) {
	l := strings.ToLower(name)
	g, s := t.generic[l], t.spec[id+"/"+l]
	if e == nil && g == nil && s == nil {
		return Price{}, false
	}
	p := Price{Provider: id, Model: name}
	if e != nil {
		p = *e
	}
	if g != nil {
		p = g.apply(p)
	}
	if s != nil {
		p = s.apply(p)
	}
	return p, true
}

// Override is a user's price, limits or capabilities for one model, from
// config. Prices are USD per 1M tokens as decimal strings ("0.15",
// "$2.50"), parsed exactly (ParseUSD); "" keeps the table's value. Limits
// are tokens; 0 keeps the table's value. Reasoning, when set, says whether
// the model reasons (nil keeps the table's word).
type Override struct {
	Input, Output, CacheRead, CacheWrite string
	Context, MaxOutput                   int
	Reasoning                            *bool
}

// Validate reports the first field that does not parse. With does not fail
// on such a field: it makes the model's price unknown. Check overrides with
// Validate when loading config.
func (o Override) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"input", o.Input}, {"output", o.Output}, {"cache_read", o.CacheRead}, {"cache_write", o.CacheWrite},
	} {
		if f.v == "" {
			continue
		}
		if _, err := ParseUSD(f.v); err != nil {
			return fmt.Errorf("%s price: %w", f.name, err)
		}
	}
	if o.Context < 0 || o.MaxOutput < 0 {
		return errors.New("negative context or max_output")
	}
	return nil
}

type ovr struct {
	fields             [4]ovrField // input, output, cache_read, cache_write
	context, maxOutput int
	reasoning          *bool
	bad                bool // a price did not parse
}

type ovrField struct {
	set bool
	v   Micros
}

func parseOverride(o Override) *ovr {
	r := &ovr{context: max(o.Context, 0), maxOutput: max(o.MaxOutput, 0), reasoning: o.Reasoning}
	for i, s := range []string{o.Input, o.Output, o.CacheRead, o.CacheWrite} {
		if strings.TrimSpace(s) == "" {
			continue
		}
		v, err := ParseUSD(s)
		if err != nil {
			r.bad = true
			continue
		}
		r.fields[i] = ovrField{set: true, v: v}
	}
	return r
}

func (o *ovr) apply(p Price) Price {
	if o.bad {
		// A price the user wrote but that does not parse: the model's price
		// is unknown, neither the table's nor zero.
		limits := Price{Context: p.Context, MaxInput: p.MaxInput, MaxOutput: p.MaxOutput,
			Reasoning: p.Reasoning, ReasoningKnown: p.ReasoningKnown,
			Provider: p.Provider, Model: p.Model, Overridden: true}
		p = limits
	}
	dst := [4]struct {
		v   *Micros
		has *bool
	}{{&p.Input, &p.HasInput}, {&p.Output, &p.HasOutput}, {&p.CacheRead, &p.HasCacheRead}, {&p.CacheWrite, &p.HasCacheWrite}}
	for i, f := range o.fields {
		if !f.set {
			continue
		}
		*dst[i].v, *dst[i].has = f.v, true
		p.Tiers = nil // an overridden price is flat: the table's tiers no longer apply
		p.Overridden = true
	}
	if o.context > 0 {
		p.Context, p.Overridden = o.context, true
	}
	if o.maxOutput > 0 {
		p.MaxOutput, p.Overridden = o.maxOutput, true
	}
	if o.reasoning != nil {
		p.Reasoning, p.ReasoningKnown, p.Overridden = *o.reasoning, true, true
	}
	return p
}

// With returns a table with user overrides applied over t (and over t's
// own overrides); t is unchanged. A key is a model id, which applies to
// that model at every provider, or "provider/model", which applies only at
// that provider (a models.dev id or alias: "groq/llama-3.3-70b-versatile");
// since model ids contain "/" too, such a key also applies to the model id
// "provider/model" as a whole. Keys ignore case. An override merges with
// the table entry field by field, or stands alone for a model the table
// does not know. A provider-specific override beats a general one, which
// beats the table; any overridden price drops the entry's long-context
// tiers. An override with a price that does not parse (see
// Override.Validate) makes the model's price unknown (Lookup ok=false),
// rather than keeping the table's price or using zero.
func (t *Table) With(overrides map[string]Override) *Table {
	n := *t
	n.generic = make(map[string]*ovr, len(t.generic)+len(overrides))
	n.spec = make(map[string]*ovr, len(t.spec)+len(overrides))
	for k, v := range t.generic {
		n.generic[k] = v
	}
	for k, v := range t.spec {
		n.spec[k] = v
	}
	keys := make([]string, 0, len(overrides))
	for key := range overrides {
		keys = append(keys, key)
	}
	sort.Strings(keys) // deterministic when two keys name the same entry
	for _, key := range keys {
		o := overrides[key]
		k := strings.ToLower(strings.TrimSpace(key))
		if k == "" {
			continue
		}
		po := parseOverride(o)
		n.generic[k] = po
		if v, rest, ok := strings.Cut(k, "/"); ok && rest != "" {
			if vid, all := t.resolve(v); !all {
				n.spec[vid+"/"+rest] = po
			}
		}
	}
	return &n
}
