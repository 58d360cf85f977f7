package provider

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// httpProvider speaks to a real upstream over HTTP.
type httpProvider struct {
	name, typ  string
	format     Format
	base       string
	key        string
	needsKey   bool
	apiVersion string
	// responses: an openai-compatible server that speaks the Responses API.
	responses bool
	headers   map[string]string
	client    *http.Client
	timeout   time.Duration
	// lean, when set, sends calls through the Transport's lean client.
	lean *leanTarget
}

func (p *httpProvider) Name() string        { return p.name }
func (p *httpProvider) Type() string        { return p.typ }
func (p *httpProvider) Format() Format      { return p.format }
func (p *httpProvider) HasCredential() bool { return !p.needsKey || p.key != "" }

func (p *httpProvider) Supports(e Endpoint) bool {
	switch p.typ {
	case "anthropic":
		return e == Messages || e == CountTokens
	case "azure-openai":
		return e == ChatCompletions || e == Completions || e == Embeddings || e == Responses
	case "openai-compatible":
		// Few compatible servers have the Responses API: only those the
		// config says do get it as it is; the rest get it translated.
		return e.Format() == FormatOpenAI && (e != Responses || p.responses)
	}
	return e.Format() == FormatOpenAI
}

func (p *httpProvider) url(r *Request) string {
	base := strings.TrimRight(p.base, "/")
	switch p.typ {
	case "anthropic":
		return base + "/v1/" + string(r.Endpoint)
	case "azure-openai":
		if r.Endpoint == Responses || strings.HasPrefix(string(r.Endpoint), "responses/") {
			// Azure serves the Responses API only on its v1 surface, with
			// the deployment in the body's model.
			return base + "/openai/v1/" + string(r.Endpoint)
		}
		return base + "/openai/deployments/" + url.PathEscape(r.Model) + "/" + string(r.Endpoint) + "?api-version=" + url.QueryEscape(p.apiVersion)
	}
	return base + "/" + string(r.Endpoint)
}

// Send implements Provider. The timeout covers the wait for response
// headers only: a long stream may run as long as it keeps sending.
func (p *httpProvider) Send(ctx context.Context, r *Request) (*http.Response, error) {
	if p.lean != nil && !p.lean.pool.h2.Load() && (r.Method == "" || r.Method == http.MethodPost) {
		resp, err := p.sendLean(ctx, r)
		if err != errFallback {
			return resp, err
		}
	}
	return p.sendHTTP(ctx, r)
}

// sendHTTP sends a call through net/http.
func (p *httpProvider) sendHTTP(ctx context.Context, r *Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url(r), bytes.NewReader(r.Body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.ContentLength = int64(len(r.Body))
	req.Header.Set("Content-Type", "application/json")
	if r.Stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	for _, h := range ForwardedHeaders {
		if v := r.Header.Values(h); len(v) > 0 && ForwardsHeader(h, p.format) {
			req.Header[h] = v
		}
	}
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	switch p.typ {
	case "anthropic":
		if req.Header.Get("Anthropic-Version") == "" {
			req.Header.Set("Anthropic-Version", p.apiVersion)
		}
		if p.key != "" {
			req.Header.Set("X-Api-Key", p.key)
		}
	case "azure-openai":
		if p.key != "" {
			req.Header.Set("Api-Key", p.key)
		}
	default:
		if p.key != "" {
			req.Header.Set("Authorization", "Bearer "+p.key)
		}
	}
	timer := time.AfterFunc(p.timeout, cancel)
	resp, err := p.client.Do(req)
	if !timer.Stop() {
		// The timer fired: even headers that arrived in the same instant
		// belong to a cancelled request whose body cannot be read.
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, &TimeoutError{Provider: p.name, After: p.timeout}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// TimeoutError reports an upstream that sent no response headers in time.
type TimeoutError struct {
	Provider string
	After    time.Duration
}

func (e *TimeoutError) Error() string {
	return "provider " + e.Provider + " did not answer within " + e.After.String() + " (providers.<name>.timeout)"
}

// cancelBody releases the request context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
