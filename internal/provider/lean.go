package provider

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// leanTarget is what a provider needs to write its calls itself: the
// connection pool, the request targets, and the header lines that are the
// same for every call. It writes exactly the headers net/http would be
// given by sendHTTP, with the same precedence: configured headers replace
// the defaults and forwarded client headers, the credential replaces a
// configured header of the same name.
type leanTarget struct {
	t    *Transport
	pool *pool
	// targets and urls per endpoint (not for azure-openai, whose path
	// holds the deployment).
	targets map[Endpoint]string
	urls    map[Endpoint]string
	// static holds Host, User-Agent, configured headers and the
	// credential, each line ending in CRLF.
	static []byte
	// cfg holds the configured headers the per-call code writes itself.
	contentType, accept string
	cfgForwarded        map[string]string
}

// hopHeaders are headers the lean client must frame itself; a provider
// configured with one of them is left to net/http.
var hopHeaders = map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true,
	"Connection": true, "Te": true, "Upgrade": true, "Expect": true, "Keep-Alive": true, "Proxy-Connection": true}

// newLeanTarget returns nil when a call to p must go through net/http.
func newLeanTarget(p *httpProvider, t *Transport) *leanTarget {
	if !leanSupported {
		return nil
	}
	base, err := url.Parse(p.url(&Request{Endpoint: ChatCompletions, Model: "m"}))
	if err != nil || base.User != nil || base.Opaque != "" || base.Host == "" || !isASCII(base.Host) {
		return nil
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil
	}
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: base}); proxy != nil || err != nil {
		return nil
	}
	l := &leanTarget{t: t, targets: map[Endpoint]string{}, urls: map[Endpoint]string{}, cfgForwarded: map[string]string{}}
	port := base.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[base.Scheme]
	}
	l.pool = t.pool(poolKey{addr: net.JoinHostPort(base.Hostname(), port), serverName: base.Hostname(), tls: base.Scheme == "https"})
	if p.typ != "azure-openai" {
		for _, e := range []Endpoint{ChatCompletions, Completions, Embeddings, Responses, Messages, CountTokens} {
			full := p.url(&Request{Endpoint: e})
			u, err := url.Parse(full)
			if err != nil || u.Host != base.Host {
				return nil
			}
			l.targets[e], l.urls[e] = u.RequestURI(), full
		}
	}

	authName, authValue := "", ""
	if p.key != "" {
		switch p.typ {
		case "anthropic":
			authName, authValue = "X-Api-Key", p.key
		case "azure-openai":
			authName, authValue = "Api-Key", p.key
		default:
			authName, authValue = "Authorization", "Bearer "+p.key
		}
	}
	cfg := map[string]string{}
	for k, v := range p.headers {
		ck := http.CanonicalHeaderKey(k)
		if !validHeaderName(ck) || !validHeaderValue(v) || hopHeaders[ck] {
			return nil
		}
		cfg[ck] = v
	}
	if authName != "" && !validHeaderValue(authValue) {
		return nil
	}
	l.static = append(l.static, "Host: "+base.Host+"\r\n"...)
	if ua, ok := cfg["User-Agent"]; !ok {
		l.static = append(l.static, "User-Agent: Go-http-client/1.1\r\n"...)
	} else if ua == "" {
		// net/http sends no User-Agent when it is set to "".
		delete(cfg, "User-Agent")
	}
	names := make([]string, 0, len(cfg))
	for k := range cfg {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := cfg[k]
		switch {
		case k == "Content-Type":
			l.contentType = v
		case k == "Accept":
			l.accept = v
		case isForwarded(k):
			l.cfgForwarded[k] = v
		case k == authName:
			// The credential wins.
		default:
			l.static = appendHeader(l.static, k, v)
		}
	}
	if authName != "" {
		l.static = appendHeader(l.static, authName, authValue)
	}
	return l
}

func isForwarded(k string) bool {
	for _, h := range ForwardedHeaders {
		if h == k {
			return true
		}
	}
	return false
}

func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// sendLean sends a call through the lean client; errFallback means the
// upstream turned out to want net/http (it chose HTTP/2).
func (p *httpProvider) sendLean(ctx context.Context, r *Request) (*http.Response, error) {
	l := p.lean
	target, full := l.targets[r.Endpoint], l.urls[r.Endpoint]
	if target == "" {
		full = p.url(r)
		u, err := url.Parse(full)
		if err != nil {
			return nil, err
		}
		target = u.RequestURI()
	}
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], "POST "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	b = append(b, l.static...)
	ct := l.contentType
	if ct == "" {
		ct = "application/json"
	}
	b = appendHeader(b, "Content-Type", ct)
	accept := l.accept
	if accept == "" {
		accept = "application/json"
		if r.Stream {
			accept = "text/event-stream"
		}
	}
	b = appendHeader(b, "Accept", accept)
	for _, h := range ForwardedHeaders {
		anthVersion := h == "Anthropic-Version" && p.typ == "anthropic"
		if v, ok := l.cfgForwarded[h]; ok {
			if anthVersion && v == "" {
				v = p.apiVersion
			}
			b = appendHeader(b, h, v)
			continue
		}
		if !ForwardsHeader(h, p.format) {
			continue // another API's header (a configured one was written above)
		}
		vals := r.Header[h]
		if anthVersion && (len(vals) == 0 || vals[0] == "") {
			b = appendHeader(b, h, p.apiVersion)
			continue
		}
		for _, v := range vals {
			if !validHeaderValue(v) {
				putBuf(bp, b)
				return nil, fmt.Errorf("invalid value for header %s", h)
			}
			b = appendHeader(b, h, v)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.Body)), 10)
	b = append(b, "\r\n\r\n"...)
	body := r.Body
	if len(body) <= maxCopy {
		b = append(b, body...)
		body = nil
	}
	k := call{pool: l.pool, head: b, body: body, timeout: p.timeout, method: "Post", url: full, provider: p.name}
	resp, err := l.t.roundTrip(ctx, &k)
	putBuf(bp, b)
	return resp, err
}

func putBuf(bp *[]byte, b []byte) {
	if cap(b) <= 1<<20 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validHeaderName reports whether k is an HTTP token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || stringsContainsByte(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters (CR and LF above all).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func stringsContainsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
