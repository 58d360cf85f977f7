package detect

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Hit is one finding: the detector's name and the byte range in the scanned text.
type Hit struct {
	Detector   string // e.g. "email", "openai_key", "vault_secret", or a custom label
	Start, End int
}

// Info describes a built-in detector (for docs, config errors, `credflow policy test`).
type Info struct{ Name, Description, Placeholder string } // Placeholder e.g. "EMAIL", used for masks like [EMAIL]

// Scanner is what Set, Exact and VirtualKeys (and Join of them) have in
// common. Scan calls hit for each finding in increasing Start order, with no
// two hits overlapping, and stops early when hit returns false. text is
// only read during the call.
type Scanner interface {
	Scan(text []byte, hit func(Hit) bool)
}

// builtinID indexes the built-in detectors; the order is only internal.
type builtinID uint8

const (
	idEmail builtinID = iota
	idPhone
	idCard
	idIBAN
	idSSN
	idIP
	idJWT
	idPrivateKey
	idOpenAI
	idAnthropic
	idAWS
	idGitHub
	idSlack
	idGoogle
	idStripe
	idInjection
	numBuiltins
)

func bit(id builtinID) uint32 { return 1 << id }

var builtinInfo = [numBuiltins]Info{
	idEmail:      {"email", "email address (name@domain.tld; a bare host such as user@localhost is not one)", "EMAIL"},
	idPhone:      {"phone", "phone number: +CC international (8-15 digits) or North American with separators", "PHONE"},
	idCard:       {"card", "payment card number: 13-19 digits, optionally grouped, Luhn-valid, known issuer prefix", "CARD"},
	idIBAN:       {"iban", "IBAN: country code, check digits and BBAN of the country's length, mod-97 valid", "IBAN"},
	idSSN:        {"ssn", "US Social Security number ddd-dd-dddd with the SSA's area/group/serial rules", "SSN"},
	idIP:         {"ip", "IPv4 or IPv6 address, validated with net/netip (not the unspecified 0.0.0.0 or ::, nor a quad right after the word \"version\")", "IP"},
	idJWT:        {"jwt", "JSON Web Token: base64url segments whose header decodes to JSON with \"alg\"", "JWT"},
	idPrivateKey: {"private_key", "PEM private key block, BEGIN line through END line (or the end of a cut text)", "PRIVATE_KEY"},
	idOpenAI:     {"openai_key", "OpenAI API key (sk-, sk-proj-, sk-svcacct-, sk-admin- with the T3BlbkFJ marker)", "OPENAI_KEY"},
	idAnthropic:  {"anthropic_key", "Anthropic API key (sk-ant-api03-…, sk-ant-admin01-…)", "ANTHROPIC_KEY"},
	idAWS:        {"aws_key", "AWS access key ID (AKIA/ASIA/ABIA/ACCA/A3T… and 16 characters)", "AWS_KEY"},
	idGitHub:     {"github_token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)", "GITHUB_TOKEN"},
	idSlack:      {"slack_token", "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-) or webhook URL", "SLACK_TOKEN"},
	idGoogle:     {"google_api_key", "Google API key (AIza and 35 characters)", "GOOGLE_API_KEY"},
	idStripe:     {"stripe_key", "Stripe key (sk_/rk_ live, test or prod; pk_live_/pk_test_)", "STRIPE_KEY"},
	idInjection:  {"injection", "prompt-injection heuristics: instruction-override phrases, invisible Unicode tag, zero-width and bidi control characters", "INJECTION"},
}

// builtinsSorted holds the built-ins by name, for Builtins and error text.
var builtinsSorted = func() []Info {
	s := append([]Info(nil), builtinInfo[:]...)
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}()

// Builtins returns the built-in detectors, sorted by name.
func Builtins() []Info { return slices.Clone(builtinsSorted) }

// Lookup returns the built-in detector called name.
func Lookup(name string) (Info, bool) {
	if id, ok := builtinByName(name); ok {
		return builtinInfo[id], true
	}
	return Info{}, false
}

func builtinByName(name string) (builtinID, bool) {
	for id := range numBuiltins {
		if builtinInfo[id].Name == name {
			return id, true
		}
	}
	return 0, false
}

// VirtualKeyDetector names the hits of VirtualKeys.
const VirtualKeyDetector = "virtual_key"

// PlaceholderFor returns the mask word for hits of detector: a built-in's
// Placeholder, "VIRTUAL_KEY" for virtual keys, else the label upper-cased
// with every character outside [A-Z0-9] turned into '_' ("vault_secret" →
// "VAULT_SECRET"), so custom labels mask consistently too.
func PlaceholderFor(detector string) string {
	if info, ok := Lookup(detector); ok {
		return info.Placeholder
	}
	b := []byte(strings.ToUpper(detector))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "REDACTED"
	}
	return string(b)
}

// Spec is one detector of a rule: exactly one of Builtin, Regex, Words is set.
// Label names a Regex/Words detector in hits (default "regex"/"words"); on a
// Builtin it renames that built-in's hits.
type Spec struct {
	Builtin string
	Regex   string
	Words   []string // matched case-insensitively, on word boundaries
	Label   string
}

// SpecError is Compile's error: which spec (0-based index into the slice
// given to Compile) and what is wrong with it. Err is the regexp error for
// an invalid regex.
type SpecError struct {
	Index int
	Spec  Spec
	Msg   string
	Err   error
}

func (e *SpecError) Error() string {
	name := ""
	if e.Spec.Label != "" {
		name = fmt.Sprintf(" (label %q)", e.Spec.Label)
	}
	return fmt.Sprintf("detect: spec %d%s: %s", e.Index, name, e.Msg)
}

func (e *SpecError) Unwrap() error { return e.Err }

// Set is a compiled list of detectors; safe for concurrent use.
type Set struct {
	mask    uint32 // enabled built-ins
	names   [numBuiltins]string
	pairs   *pairTable // word starts the word pass hands on
	regexes []*regexDetector
	words   []*wordsDetector
}

// Compile returns an error naming the bad spec: unknown builtin (listing
// the known names and a "did you mean" suggestion by edit distance),
// invalid regex (with Go's regexp error text), empty words list, spec with
// zero or two kinds set. A built-in listed twice runs once.
func Compile(specs []Spec) (*Set, error) {
	s := &Set{}
	for id := range numBuiltins {
		s.names[id] = builtinInfo[id].Name
	}
	for i, sp := range specs {
		fail := func(format string, args ...any) error {
			return &SpecError{Index: i, Spec: sp, Msg: fmt.Sprintf(format, args...)}
		}
		var kinds []string
		if sp.Builtin != "" {
			kinds = append(kinds, "builtin")
		}
		if sp.Regex != "" {
			kinds = append(kinds, "regex")
		}
		if sp.Words != nil {
			kinds = append(kinds, "words")
		}
		switch len(kinds) {
		case 0:
			return nil, fail("sets no detector: set exactly one of builtin, regex or words")
		case 1:
		default:
			return nil, fail("sets %s: set exactly one of builtin, regex or words", strings.Join(kinds, " and "))
		}
		switch {
		case sp.Builtin != "":
			id, ok := builtinByName(sp.Builtin)
			if !ok {
				return nil, fail("%s", unknownBuiltin(sp.Builtin))
			}
			s.mask |= bit(id)
			if sp.Label != "" {
				s.names[id] = sp.Label
			}
		case sp.Regex != "":
			re, err := regexp.Compile(sp.Regex)
			if err != nil {
				return nil, &SpecError{Index: i, Spec: sp, Msg: fmt.Sprintf("invalid regex %q: %v", sp.Regex, err), Err: err}
			}
			s.regexes = append(s.regexes, newRegexDetector(labelOr(sp.Label, "regex"), re))
		default:
			if len(sp.Words) == 0 {
				return nil, fail("words list is empty: give at least one word")
			}
			for k, w := range sp.Words {
				if strings.TrimSpace(w) == "" {
					return nil, fail("words[%d] is empty", k)
				}
			}
			s.words = append(s.words, newWordsDetector(labelOr(sp.Label, "words"), sp.Words))
		}
	}
	if s.mask&wordMask != 0 {
		s.pairs = newPairTable(s.mask)
	}
	return s, nil
}

func labelOr(label, def string) string {
	if label != "" {
		return label
	}
	return def
}

// unknownBuiltin words the error for a name no built-in has.
func unknownBuiltin(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown builtin %q", name)
	if s := suggest(name); s != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", s)
	}
	b.WriteString("; known builtins: ")
	for i, info := range builtinsSorted {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(info.Name)
	}
	return b.String()
}

// suggest returns the built-in name closest to name by edit distance, when
// close enough to be a typo, or one that contains or is contained in name
// ("credit_card" → "card", "openai" → "openai_key").
func suggest(name string) string {
	lower := strings.ToLower(name)
	best, bestD := "", 1<<30
	for _, info := range builtinsSorted {
		d := editDistance(lower, info.Name)
		if d < bestD {
			best, bestD = info.Name, d
		}
	}
	if bestD <= max(2, len(lower)/3) {
		return best
	}
	for _, info := range builtinsSorted {
		if len(lower) >= 3 && (strings.Contains(info.Name, lower) || strings.Contains(lower, info.Name)) {
			return info.Name
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Scan reports every hit in text, in increasing Start order, non-overlapping
// (when two detectors overlap keep the one starting first, then the longer).
// hit returns false to stop early.
func (s *Set) Scan(text []byte, hit func(Hit) bool) {
	scanWith(s, text, hit)
}

// appender is what the package's scanners share: append raw hits (any
// order, overlaps allowed) to dst. It lets Scan and Join collect into one
// pooled buffer without a closure, so the no-hit path does not allocate.
type appender interface {
	appendHits(dst []Hit, text []byte) []Hit
}

func (s *Set) appendHits(dst []Hit, text []byte) []Hit {
	if s == nil {
		return dst
	}
	if s.mask != 0 {
		sc := scanner{text: text, mask: s.mask, names: &s.names, pairs: s.pairs, hits: dst}
		sc.run()
		dst = sc.hits
	}
	for _, r := range s.regexes {
		dst = r.appendHits(dst, text)
	}
	for _, w := range s.words {
		dst = w.appendHits(dst, text)
	}
	return dst
}

// hitBuf is a pooled hit slice, reused across scans.
type hitBuf struct{ h []Hit }

var hitPool = sync.Pool{New: func() any { return &hitBuf{h: make([]Hit, 0, 32)} }}

func scanWith(a appender, text []byte, hit func(Hit) bool) {
	b := hitPool.Get().(*hitBuf)
	b.h = a.appendHits(b.h[:0], text)
	emit(b.h, hit)
	if cap(b.h) <= 4096 { // a huge buffer is not worth keeping
		clear(b.h) // drop detector-name references
		b.h = b.h[:0]
		hitPool.Put(b)
	}
}

// emit sorts hits and passes on those that do not overlap an earlier one:
// the one starting first wins, then the longer; ties keep append order.
func emit(hits []Hit, hit func(Hit) bool) {
	if len(hits) > 1 {
		slices.SortStableFunc(hits, func(a, b Hit) int {
			if a.Start != b.Start {
				return a.Start - b.Start
			}
			return b.End - a.End
		})
	}
	end := 0
	for _, h := range hits {
		if h.Start < end || h.End <= h.Start {
			continue
		}
		if !hit(h) {
			return
		}
		end = h.End
	}
}

// Join returns a Scanner that runs every one of scanners on the text and
// reports their hits merged by the rule of Set.Scan (the hit starting first
// wins an overlap, then the longer). Nil scanners are skipped.
func Join(scanners ...Scanner) Scanner {
	j := &joined{}
	for _, s := range scanners {
		if s != nil {
			j.list = append(j.list, s)
		}
	}
	return j
}

type joined struct{ list []Scanner }

func (j *joined) Scan(text []byte, hit func(Hit) bool) { scanWith(j, text, hit) }

func (j *joined) appendHits(dst []Hit, text []byte) []Hit {
	for _, s := range j.list {
		if a, ok := s.(appender); ok {
			dst = a.appendHits(dst, text)
			continue
		}
		dst = appendForeign(dst, s, text)
	}
	return dst
}

// appendForeign collects the hits of a Scanner from outside the package.
// It is a function of its own so that the closure's capture of dst does
// not move dst to the heap for the package's own scanners.
func appendForeign(dst []Hit, s Scanner, text []byte) []Hit {
	s.Scan(text, func(h Hit) bool { dst = append(dst, h); return true })
	return dst
}

// hasPrefixAt reports whether t[i:] starts with p.
func hasPrefixAt(t []byte, i int, p string) bool {
	return len(t)-i >= len(p) && string(t[i:i+len(p)]) == p
}
