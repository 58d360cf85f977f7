// Provider and cloud token shapes in this file follow the rules of gitleaks
// (https://github.com/gitleaks/gitleaks, config/gitleaks.toml: rules
// openai-api-key, anthropic-api-key, anthropic-admin-api-key,
// aws-access-token, github-pat, github-oauth, github-app-token,
// github-refresh-token, github-fine-grained-pat, slack-*, gcp-api-key,
// stripe-access-token, jwt, private-key), re-expressed as hand-written
// matchers. Where this code departs from a rule it says so. gitleaks is
// distributed under the MIT License:
//
//	MIT License
//
//	Copyright (c) 2019 Zachary Rice
//
//	Permission is hereby granted, free of charge, to any person obtaining a copy
//	of this software and associated documentation files (the "Software"), to deal
//	in the Software without restriction, including without limitation the rights
//	to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
//	copies of the Software, and to permit persons to whom the Software is
//	furnished to do so, subject to the following conditions:
//
//	The above copyright notice and this permission notice shall be included in all
//	copies or substantial portions of the Software.
//
//	THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
//	IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
//	FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
//	AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
//	LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
//	OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
//	SOFTWARE.

package detect

import (
	"bytes"
	"encoding/base64"
)

// Every matcher here is called at a word start, which is gitleaks' leading
// \b; each checks its own trailing boundary. They return the end of the
// token, or 0.
//
// Tokens made of base64url characters must also not follow one
// (afterToken): '-' ends a word, so "x-sk-…" has a word start at "sk",
// and without this rule input such as "sk-sk-sk-…" would rescan the same
// run from every start, quadratic in its length.

// afterToken reports whether t[i] follows a base64url character.
func afterToken(t []byte, i int) bool { return i > 0 && class[t[i-1]]&cB64URL != 0 }

// openAIMarker is "OpenAI" in base64, which OpenAI embeds in its keys.
var openAIMarker = []byte("T3BlbkFJ")

// matchOpenAI: "sk-" then a run of [A-Za-z0-9_-] of 40 or more characters
// that holds the T3BlbkFJ marker. This covers gitleaks' two forms, legacy
// sk-{20}T3BlbkFJ{20} and sk-(proj|svcacct|admin)-{58|74}T3BlbkFJ{58|74},
// and tolerates other lengths and project prefixes (sk-None-, …): the
// marker alone makes a chance match negligible. Entropy ≥ 3 as in gitleaks.
func matchOpenAI(t []byte, i int) int {
	if !hasPrefixAt(t, i, "sk-") || afterToken(t, i) {
		return 0
	}
	j := i + 3
	e := j + runLen(t, j, cB64URL)
	if e-j < 40 || !bytes.Contains(t[j:e], openAIMarker) || entropy(t[i:e]) < 3 {
		return 0
	}
	return e
}

// matchAnthropic: "sk-ant-" kind digits "-" and 32+ characters of
// [A-Za-z0-9_-]. gitleaks pins api03/admin01 and 93 characters + "AA";
// this accepts any kind and version (sk-ant-oat01-, …) and length, since
// the prefix is unambiguous; entropy ≥ 3 drops placeholders.
func matchAnthropic(t []byte, i int) int {
	if !hasPrefixAt(t, i, "sk-ant-") || afterToken(t, i) {
		return 0
	}
	n := len(t)
	k := i + 7
	kind := runLen(t, k, cLower)
	if kind == 0 || kind > 10 {
		return 0
	}
	k += kind
	if n-k < 3 || !isDigit(t[k]) || !isDigit(t[k+1]) || t[k+2] != '-' {
		return 0
	}
	k += 3
	e := k + runLen(t, k, cB64URL)
	if e-k < 32 || entropy(t[k:e]) < 3 {
		return 0
	}
	return e
}

// matchAWS: (AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9]) and 16 of [A-Z0-9], whole
// word. gitleaks takes [A-Z2-7] (base32); this takes [A-Z0-9]. Like
// gitleaks it skips keys ending in EXAMPLE (AWS's documentation key) and
// needs entropy ≥ 3.
func matchAWS(t []byte, i int) int {
	if len(t)-i < 20 {
		return 0
	}
	switch string(t[i : i+4]) {
	case "AKIA", "ASIA", "ABIA", "ACCA":
	default:
		if !hasPrefixAt(t, i, "A3T") || class[t[i+3]]&(cUpper|cDigit) == 0 {
			return 0
		}
	}
	e := i + 20
	for _, c := range t[i+4 : e] {
		if class[c]&(cUpper|cDigit) == 0 {
			return 0
		}
	}
	if e < len(t) && isWord(t[e]) || bytes.HasSuffix(t[i:e], []byte("EXAMPLE")) || entropy(t[i:e]) < 3 {
		return 0
	}
	return e
}

// matchGitHub: gh[pousr]_ and 36 of [A-Za-z0-9], or github_pat_ and 82 of
// [A-Za-z0-9_], not followed by more of them; entropy ≥ 3.
func matchGitHub(t []byte, i int) int {
	var e int
	if hasPrefixAt(t, i, "github_pat_") {
		j := i + 11
		if runLen(t, j, cWord) != 82 {
			return 0
		}
		e = j + 82
	} else {
		if len(t)-i < 40 || t[i+1] != 'h' || t[i+3] != '_' {
			return 0
		}
		switch t[i+2] {
		case 'p', 'o', 'u', 's', 'r':
		default:
			return 0
		}
		j := i + 4
		if runLen(t, j, cAlnum) != 36 {
			return 0
		}
		e = j + 36
		if e < len(t) && isWord(t[e]) {
			return 0
		}
	}
	if entropy(t[i:e]) < 3 {
		return 0
	}
	return e
}

// matchGoogle: AIza and 35 of [A-Za-z0-9_-], not followed by more;
// entropy ≥ 4 as in gitleaks.
func matchGoogle(t []byte, i int) int {
	if !hasPrefixAt(t, i, "AIza") || afterToken(t, i) || runLen(t, i+4, cB64URL) != 35 {
		return 0
	}
	e := i + 39
	if entropy(t[i:e]) < 4 {
		return 0
	}
	return e
}

// matchStripe: (sk|rk)_(test|live|prod)_ as in gitleaks, plus the
// publishable pk_(test|live)_ the brief asks for, then 10 or more of
// [A-Za-z0-9] (gitleaks caps at 99; newer keys are longer), whole word;
// entropy ≥ 2.
func matchStripe(t []byte, i int) int {
	if len(t)-i < 18 || t[i+1] != 'k' || t[i+2] != '_' {
		return 0
	}
	env := string(t[i+3 : i+8])
	switch t[i] {
	case 's', 'r':
		if env != "test_" && env != "live_" && env != "prod_" {
			return 0
		}
	case 'p':
		if env != "test_" && env != "live_" {
			return 0
		}
	default:
		return 0
	}
	j := i + 8
	r := runLen(t, j, cAlnum)
	e := j + r
	if r < 10 || r > 255 || (e < len(t) && isWord(t[e])) || entropy(t[i:e]) < 2 {
		return 0
	}
	return e
}

func alnumDashRun(t []byte, i int) int {
	j := i
	for j < len(t) && (class[t[j]]&cAlnum != 0 || t[j] == '-') {
		j++
	}
	return j - i
}

// matchSlack covers gitleaks' slack-bot-token, slack-legacy-bot-token,
// slack-user-token, slack-legacy-workspace-token, slack-legacy-token,
// slack-config-access-token, slack-config-refresh-token, slack-app-token
// and slack-webhook-url. A hit spans the whole token, entropy ≥ 2.
func matchSlack(t []byte, i int) int {
	if t[i] == 'h' {
		return matchSlackWebhook(t, i)
	}
	if afterToken(t, i) {
		return 0
	}
	if hasPrefixAt(t, i, "xapp-") || hasPrefixAt(t, i, "XAPP-") {
		return matchSlackApp(t, i)
	}
	n := len(t)
	if n-i < 13 || !hasPrefixAt(t, i, "xox") {
		return 0
	}
	kind := t[i+3]
	var e int
	if kind == 'e' && t[i+4] == '.' {
		// xoxe.xox[bp]-\d-[A-Z0-9]{163,166}
		if !hasPrefixAt(t, i+5, "xoxb-") && !hasPrefixAt(t, i+5, "xoxp-") {
			return 0
		}
		j := i + 10
		if n-j < 2 || !isDigit(t[j]) || t[j+1] != '-' {
			return 0
		}
		j += 2
		r := runLen(t, j, cAlnum)
		if r < 163 {
			return 0
		}
		e = j + r
	} else {
		if t[i+4] != '-' {
			return 0
		}
		j := i + 5
		e = j + alnumDashRun(t, j)
		tok := t[j:e]
		var ok bool
		switch kind {
		case 'b':
			ok = slackBot(tok)
		case 'p':
			ok = slackUser(tok)
		case 'e':
			ok = slackUser(tok) || (len(tok) > 2 && isDigit(tok[0]) && tok[1] == '-' && runLen(tok, 2, cAlnum) >= 146)
		case 'a', 'r':
			ok = runLen(tok, 0, cAlnum) >= 8 || (len(tok) > 2 && isDigit(tok[0]) && tok[1] == '-' && runLen(tok, 2, cAlnum) >= 8)
		case 'o', 's':
			ok = slackLegacy(tok)
		}
		if !ok {
			return 0
		}
	}
	if e < n && isWord(t[e]) || entropy(t[i:e]) < 2 {
		return 0
	}
	return e
}

// slackBot: [0-9]{10,13}-[0-9]{10,13}… or legacy [0-9]{8,14}-[a-zA-Z0-9]{18,26}.
func slackBot(tok []byte) bool {
	d1 := digitRun(tok, 0)
	if d1 >= len(tok) || tok[d1] != '-' {
		return false
	}
	if d1 >= 10 && d1 <= 13 && digitRun(tok, d1+1) >= 10 {
		return true
	}
	return d1 >= 8 && d1 <= 14 && runLen(tok, d1+1, cAlnum) >= 18
}

// slackUser: (-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}, after the "xoxp".
func slackUser(tok []byte) bool {
	k := 0
	for range 3 {
		d := digitRun(tok, k)
		if d < 10 || d > 13 || k+d >= len(tok) || tok[k+d] != '-' {
			return false
		}
		k += d + 1
	}
	return len(tok)-k >= 28
}

// slackLegacy: \d+-\d+-\d+-[a-fA-F\d]+, after the "xox[os]-".
func slackLegacy(tok []byte) bool {
	k := 0
	for range 3 {
		d := digitRun(tok, k)
		if d == 0 || k+d >= len(tok) || tok[k+d] != '-' {
			return false
		}
		k += d + 1
	}
	return runLen(tok, k, cHex) > 0
}

// matchSlackApp: (?i)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+.
func matchSlackApp(t []byte, i int) int {
	n := len(t)
	j := i + 5
	if n-j < 2 || !isDigit(t[j]) || t[j+1] != '-' {
		return 0
	}
	j += 2
	r := runLen(t, j, cAlnum)
	if r == 0 || j+r >= n || t[j+r] != '-' {
		return 0
	}
	j += r + 1
	d := digitRun(t, j)
	if d == 0 || j+d >= n || t[j+d] != '-' {
		return 0
	}
	j += d + 1
	r = runLen(t, j, cAlnum)
	e := j + r
	if r == 0 || (e < n && isWord(t[e])) || entropy(t[i:e]) < 2 {
		return 0
	}
	return e
}

// matchSlackWebhook: (https?://)?hooks.slack.com/(services|workflows|triggers)/
// and 43 or more of [A-Za-z0-9+/].
func matchSlackWebhook(t []byte, i int) int {
	j := i
	if hasPrefixAt(t, j, "https://") {
		j += 8
	} else if hasPrefixAt(t, j, "http://") {
		j += 7
	}
	if !hasPrefixAt(t, j, "hooks.slack.com/") {
		return 0
	}
	j += 16
	switch {
	case hasPrefixAt(t, j, "services/"), hasPrefixAt(t, j, "triggers/"):
		j += 9
	case hasPrefixAt(t, j, "workflows/"):
		j += 10
	default:
		return 0
	}
	k := j
	for k < len(t) && (class[t[k]]&cAlnum != 0 || t[k] == '+' || t[k] == '/') {
		k++
	}
	if k-j < 43 {
		return 0
	}
	return k
}

// matchJWT: three base64url segments (header.payload.signature; the
// signature may be empty, for alg "none") or five (JWE), the header
// starting "eyJ" and decoding to a JSON object with an "alg" member. gitleaks
// checks the shape only; decoding the header is what keeps base64 blobs
// that happen to start "eyJ" out.
func matchJWT(t []byte, i int) int {
	if !hasPrefixAt(t, i, "eyJ") || afterToken(t, i) {
		return 0
	}
	n := len(t)
	h := runLen(t, i, cB64URL)
	if h < 10 || h > 1024 {
		return 0
	}
	var lens [5]int
	lens[0] = h
	e, segs := i+h, 1
	for segs < 5 && e < n && t[e] == '.' {
		r := runLen(t, e+1, cB64URL)
		if r == 0 && segs > 2 { // a sentence's full stop, not a segment
			break
		}
		lens[segs] = r
		e += 1 + r
		segs++
	}
	switch {
	case segs == 3 && lens[1] >= 10: // JWS: payload present, signature may be empty
	case segs == 5 && lens[3] > 0: // JWE: ciphertext present, key may be empty
	default:
		return 0
	}
	if e+1 < n && t[e] == '.' && class[t[e+1]]&cB64URL != 0 {
		return 0
	}
	if !jwtHeaderOK(t[i : i+h]) {
		return 0
	}
	return e
}

var algMember = []byte(`"alg"`)

// jwtHeaderOK decodes a JWT header (into a stack buffer: no allocation)
// and checks it is a JSON object naming "alg".
func jwtHeaderOK(seg []byte) bool {
	var buf [768]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], seg)
	if err != nil {
		return false
	}
	j := bytes.TrimSpace(buf[:n])
	return len(j) >= 2 && j[0] == '{' && j[len(j)-1] == '}' && bytes.Contains(j, algMember)
}

var (
	pemBegin = []byte("-----BEGIN")
	pemEnd   = []byte("-----END")
	pemDash  = []byte("-----")
)

// privateKeys finds "-----BEGIN <label> PRIVATE KEY-----" (label of
// [ A-Z0-9_-], up to 100, as in gitleaks; also "... PRIVATE KEY BLOCK")
// through the END line's closing dashes, or to the end of the text when
// it was cut. The body must hold 24 or more base64 characters, so prose
// that names the markers ("starts with -----BEGIN PRIVATE KEY-----") is
// not a key.
func (sc *scanner) privateKeys() {
	t := sc.text
	n := len(t)
	// nextEnd caches where the next "-----END" is (n: none), so that many
	// BEGIN lines without an END do not each search the rest of the text.
	nextEnd := -1
	for off := 0; off < n; {
		k := bytes.Index(t[off:], pemBegin)
		if k < 0 {
			return
		}
		i := off + k
		off = i + len(pemBegin)
		hdr := 0
		for p := off; p < n && p-off <= 101; p++ {
			if hasPrefixAt(t, p, "PRIVATE KEY-----") {
				hdr = p + 16
				break
			}
			if hasPrefixAt(t, p, "PRIVATE KEY BLOCK-----") {
				hdr = p + 22
				break
			}
			if c := t[p]; c != ' ' && c != '_' && c != '-' && class[c]&(cUpper|cDigit) == 0 {
				break
			}
		}
		if hdr == 0 {
			continue
		}
		if nextEnd < hdr && nextEnd != n {
			if k := bytes.Index(t[hdr:], pemEnd); k >= 0 {
				nextEnd = hdr + k
			} else {
				nextEnd = n
			}
		}
		bodyEnd, e := nextEnd, n
		if bodyEnd < n {
			q := bodyEnd + len(pemEnd)
			if c := bytes.Index(t[q:min(n, q+120)], pemDash); c >= 0 {
				e = q + c + len(pemDash)
			} else if nl := bytes.IndexByte(t[q:], '\n'); nl >= 0 {
				e = q + nl
			}
		}
		b64 := 0
		for _, c := range t[hdr:bodyEnd] {
			if class[c]&cAlnum != 0 || c == '+' || c == '/' {
				if b64++; b64 == 24 {
					break
				}
			}
		}
		if b64 < 24 {
			continue
		}
		sc.add(idPrivateKey, i, e)
		off = e
	}
}
