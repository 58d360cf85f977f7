package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/provider"
)

// captured is what an upstream saw of one request.
type captured struct {
	Method, Path, RawQuery, URL string
	Header                      http.Header
	Body                        []byte
}

// upstream is an httptest server that records every request and answers
// with a small JSON body.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("upstream: reading body: %v", err)
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, captured{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			URL: r.URL.String(), Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last(t *testing.T) captured {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// newTransport returns the real shared transport, closed after the test.
func newTransport(t *testing.T) *provider.Transport {
	tr := provider.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func mustNew(t *testing.T, name string, c config.Provider, key string, tr http.RoundTripper) provider.Provider {
	t.Helper()
	p, err := provider.New(name, c, key, tr)
	if err != nil {
		t.Fatalf("provider.New(%q): %v", name, err)
	}
	return p
}

// send performs one call and returns the upstream's body, failing on any
// error or non-200 status.
func send(t *testing.T, p provider.Provider, r *provider.Request) []byte {
	t.Helper()
	resp, err := p.Send(context.Background(), r)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return body
}

// recorder is a RoundTripper that records requests instead of using the
// network.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rt *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, r)
	rt.mu.Unlock()
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
}

func (rt *recorder) lastURL(t *testing.T) string {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.reqs) == 0 {
		t.Fatal("transport saw no request")
	}
	return rt.reqs[len(rt.reqs)-1].URL.String()
}

func TestOpenAIRequest(t *testing.T) {
	u := newUpstream(t)
	p := mustNew(t, "oa", config.Provider{Type: "openai", BaseURL: u.srv.URL + "/v1", Secret: "openai-key"}, "sk-real", newTransport(t))
	if p.Name() != "oa" || p.Type() != "openai" || p.Format() != provider.FormatOpenAI {
		t.Errorf("Name/Type/Format = %q/%q/%v", p.Name(), p.Type(), p.Format())
	}
	// Odd spacing, key order and unicode: the body must arrive untouched.
	body := []byte("{ \"model\":\"gpt-4o\",  \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \u2603\"}],\"x\":1.50}\n")
	clientHdr := http.Header{
		"Authorization": {"Bearer client-virtual-key"},
		"Openai-Beta":   {"assistants=v2"},
		"Cookie":        {"session=1"},
	}
	got := send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Model: "gpt-4o", Body: body, Header: clientHdr})
	if string(got) != `{"ok":true}` {
		t.Errorf("response body = %q", got)
	}
	c := u.last(t)
	if c.Method != http.MethodPost || c.Path != "/v1/chat/completions" || c.RawQuery != "" {
		t.Errorf("request = %s %s?%s, want POST /v1/chat/completions", c.Method, c.Path, c.RawQuery)
	}
	if a := c.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer sk-real" {
		t.Errorf("Authorization = %q, want exactly [Bearer sk-real]", a)
	}
	if v := c.Header.Get("Content-Type"); v != "application/json" {
		t.Errorf("Content-Type = %q", v)
	}
	if v := c.Header.Get("Accept"); v != "application/json" {
		t.Errorf("Accept (not streaming) = %q, want application/json", v)
	}
	if v := c.Header.Get("Openai-Beta"); v != "assistants=v2" {
		t.Errorf("OpenAI-Beta = %q, want forwarded", v)
	}
	if v := c.Header.Get("Cookie"); v != "" {
		t.Errorf("Cookie forwarded: %q", v)
	}
	if !bytes.Equal(c.Body, body) {
		t.Errorf("body changed in transit:\n got %q\nwant %q", c.Body, body)
	}
	// The caller's header must not be modified.
	if clientHdr.Get("Authorization") != "Bearer client-virtual-key" {
		t.Errorf("caller's header modified: %v", clientHdr)
	}

	// Streaming asks for an event stream.
	send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Model: "gpt-4o", Body: body, Stream: true})
	if v := u.last(t).Header.Get("Accept"); v != "text/event-stream" {
		t.Errorf("Accept (streaming) = %q, want text/event-stream", v)
	}

	for _, e := range []struct {
		ep   provider.Endpoint
		path string
	}{
		{provider.Embeddings, "/v1/embeddings"},
		{provider.Completions, "/v1/completions"},
		{provider.Responses, "/v1/responses"},
		{provider.ChatCompletions, "/v1/chat/completions"},
	} {
		send(t, p, &provider.Request{Endpoint: e.ep, Model: "gpt-4o", Body: []byte(`{}`)})
		if got := u.last(t).Path; got != e.path {
			t.Errorf("%s: path = %q, want %q", e.ep, got, e.path)
		}
	}
	for _, e := range []provider.Endpoint{provider.ChatCompletions, provider.Completions, provider.Embeddings, provider.Responses} {
		if !p.Supports(e) {
			t.Errorf("openai: Supports(%s) = false", e)
		}
	}
	for _, e := range []provider.Endpoint{provider.Messages, provider.CountTokens} {
		if p.Supports(e) {
			t.Errorf("openai: Supports(%s) = true", e)
		}
	}
}

func TestOpenAIBaseURLTrailingSlash(t *testing.T) {
	rt := &recorder{}
	p := mustNew(t, "oa", config.Provider{Type: "openai", BaseURL: "https://example.test/v1/"}, "k", rt)
	send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
	if got := rt.lastURL(t); got != "https://example.test/v1/chat/completions" {
		t.Errorf("URL = %q", got)
	}
}

func TestDefaultBaseURLs(t *testing.T) {
	rt := &recorder{}
	oa := mustNew(t, "oa", config.Provider{Type: "openai", Secret: "s"}, "k", rt)
	send(t, oa, &provider.Request{Endpoint: provider.ChatCompletions, Model: "gpt-4o", Body: []byte(`{}`)})
	if got := rt.lastURL(t); got != "https://api.openai.com/v1/chat/completions" {
		t.Errorf("openai default URL = %q", got)
	}
	an := mustNew(t, "an", config.Provider{Type: "anthropic", Secret: "s"}, "k", rt)
	send(t, an, &provider.Request{Endpoint: provider.Messages, Model: "claude", Body: []byte(`{}`)})
	if got := rt.lastURL(t); got != "https://api.anthropic.com/v1/messages" {
		t.Errorf("anthropic default URL = %q", got)
	}
}

func TestOpenAICompatible(t *testing.T) {
	u := newUpstream(t)
	tr := newTransport(t)

	// No secret: no Authorization at all, even if the client sent one.
	p := mustNew(t, "local", config.Provider{Type: "openai-compatible", BaseURL: u.srv.URL + "/v1"}, "", tr)
	if !p.HasCredential() {
		t.Error("openai-compatible without a secret: HasCredential = false, want true")
	}
	send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`),
		Header: http.Header{"Authorization": {"Bearer client"}}})
	c := u.last(t)
	if _, ok := c.Header["Authorization"]; ok {
		t.Errorf("Authorization sent without a key: %q", c.Header.Values("Authorization"))
	}
	if c.Path != "/v1/chat/completions" {
		t.Errorf("path = %q", c.Path)
	}

	// Config headers are set.
	p = mustNew(t, "local", config.Provider{Type: "openai-compatible", BaseURL: u.srv.URL,
		Headers: map[string]string{"X-Org": "acme", "HTTP-Referer": "https://credflow.test"}}, "", tr)
	send(t, p, &provider.Request{Endpoint: provider.Embeddings, Body: []byte(`{}`)})
	c = u.last(t)
	if c.Header.Get("X-Org") != "acme" || c.Header.Get("Http-Referer") != "https://credflow.test" {
		t.Errorf("config headers not set: %v", c.Header)
	}
	if c.Path != "/embeddings" {
		t.Errorf("path = %q", c.Path)
	}

	// With a key: Bearer.
	p = mustNew(t, "local", config.Provider{Type: "openai-compatible", BaseURL: u.srv.URL, Secret: "s"}, "abc", tr)
	send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
	if got := u.last(t).Header.Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestAzureOpenAI(t *testing.T) {
	u := newUpstream(t)
	p := mustNew(t, "az", config.Provider{Type: "azure-openai", BaseURL: u.srv.URL + "/", Secret: "az", APIVersion: "2024-10-21"},
		"azure-key", newTransport(t))
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	send(t, p, &provider.Request{Endpoint: provider.ChatCompletions, Model: "my deploy/x", Body: body,
		Header: http.Header{"Authorization": {"Bearer client"}, "Api-Key": {"client-key"}}})
	c := u.last(t)
	if want := "/openai/deployments/my%20deploy%2Fx/chat/completions?api-version=2024-10-21"; c.URL != want {
		t.Errorf("URL = %q, want %q", c.URL, want)
	}
	if got := c.Header.Values("Api-Key"); len(got) != 1 || got[0] != "azure-key" {
		t.Errorf("api-key = %q, want [azure-key]", got)
	}
	if _, ok := c.Header["Authorization"]; ok {
		t.Errorf("Authorization sent to azure: %q", c.Header.Values("Authorization"))
	}
	if !bytes.Equal(c.Body, body) {
		t.Errorf("body = %q", c.Body)
	}

	send(t, p, &provider.Request{Endpoint: provider.Embeddings, Model: "emb", Body: []byte(`{}`)})
	if want := "/openai/deployments/emb/embeddings?api-version=2024-10-21"; u.last(t).URL != want {
		t.Errorf("URL = %q, want %q", u.last(t).URL, want)
	}

	// The Responses API lives on Azure's v1 surface, the deployment in the
	// body.
	send(t, p, &provider.Request{Endpoint: provider.Responses, Model: "dep", Body: []byte(`{"model":"dep"}`)})
	if want := "/openai/v1/responses"; u.last(t).URL != want {
		t.Errorf("URL = %q, want %q", u.last(t).URL, want)
	}

	for e, want := range map[provider.Endpoint]bool{
		provider.ChatCompletions: true, provider.Completions: true, provider.Embeddings: true,
		provider.Messages: false, provider.CountTokens: false, provider.Responses: true,
	} {
		if got := p.Supports(e); got != want {
			t.Errorf("azure: Supports(%s) = %v, want %v", e, got, want)
		}
	}
}

// An OpenAI-compatible server gets Responses API requests as they are
// only when the config says it speaks the API.
func TestCompatibleResponses(t *testing.T) {
	for _, declared := range []bool{false, true} {
		p := mustNew(t, "c", config.Provider{Type: "openai-compatible", BaseURL: "http://127.0.0.1:1/v1", Responses: declared}, "", nil)
		if got := p.Supports(provider.Responses); got != declared {
			t.Errorf("responses: %v: Supports(responses) = %v", declared, got)
		}
		if !p.Supports(provider.ChatCompletions) {
			t.Error("chat completions not supported")
		}
	}
}

func TestAnthropic(t *testing.T) {
	u := newUpstream(t)
	tr := newTransport(t)
	p := mustNew(t, "an", config.Provider{Type: "anthropic", BaseURL: u.srv.URL, Secret: "an"}, "sk-ant", tr)
	if p.Format() != provider.FormatAnthropic {
		t.Errorf("Format = %v", p.Format())
	}
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)

	// Client sent no version: the default.
	send(t, p, &provider.Request{Endpoint: provider.Messages, Model: "claude-sonnet-4-5", Body: body, Stream: true,
		Header: http.Header{"Authorization": {"Bearer client"}, "X-Api-Key": {"client-key"}}})
	c := u.last(t)
	if c.Path != "/v1/messages" {
		t.Errorf("path = %q", c.Path)
	}
	if got := c.Header.Values("X-Api-Key"); len(got) != 1 || got[0] != "sk-ant" {
		t.Errorf("x-api-key = %q, want [sk-ant]", got)
	}
	if _, ok := c.Header["Authorization"]; ok {
		t.Errorf("client Authorization forwarded: %q", c.Header.Values("Authorization"))
	}
	if got := c.Header.Get("Anthropic-Version"); got != "2023-06-01" {
		t.Errorf("anthropic-version = %q, want default 2023-06-01", got)
	}
	if got := c.Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	if !bytes.Equal(c.Body, body) {
		t.Errorf("body = %q", c.Body)
	}

	// Client's version and betas are forwarded (all values).
	send(t, p, &provider.Request{Endpoint: provider.CountTokens, Model: "claude-sonnet-4-5", Body: body,
		Header: http.Header{"Anthropic-Version": {"2099-01-01"}, "Anthropic-Beta": {"beta-a", "beta-b"}}})
	c = u.last(t)
	if c.Path != "/v1/messages/count_tokens" {
		t.Errorf("path = %q", c.Path)
	}
	if got := c.Header.Values("Anthropic-Version"); len(got) != 1 || got[0] != "2099-01-01" {
		t.Errorf("anthropic-version = %q, want client's [2099-01-01]", got)
	}
	if got := c.Header.Values("Anthropic-Beta"); len(got) != 2 || got[0] != "beta-a" || got[1] != "beta-b" {
		t.Errorf("anthropic-beta = %q", got)
	}

	// A configured api_version replaces the default.
	p2 := mustNew(t, "an", config.Provider{Type: "anthropic", BaseURL: u.srv.URL, APIVersion: "2024-01-01"}, "", tr)
	send(t, p2, &provider.Request{Endpoint: provider.Messages, Body: body})
	c = u.last(t)
	if got := c.Header.Get("Anthropic-Version"); got != "2024-01-01" {
		t.Errorf("anthropic-version = %q, want configured", got)
	}
	if _, ok := c.Header["X-Api-Key"]; ok {
		t.Errorf("x-api-key sent without a key: %q", c.Header.Values("X-Api-Key"))
	}

	for e, want := range map[provider.Endpoint]bool{
		provider.Messages: true, provider.CountTokens: true,
		provider.ChatCompletions: false, provider.Embeddings: false, provider.Completions: false, provider.Responses: false,
	} {
		if got := p.Supports(e); got != want {
			t.Errorf("anthropic: Supports(%s) = %v, want %v", e, got, want)
		}
	}
}

func TestHasCredential(t *testing.T) {
	rt := &recorder{}
	for _, c := range []struct {
		cfg  config.Provider
		key  string
		want bool
	}{
		{config.Provider{Type: "openai", Secret: "s"}, "", false},
		{config.Provider{Type: "openai", Secret: "s"}, "k", true},
		{config.Provider{Type: "anthropic", Secret: "s"}, "", false},
		{config.Provider{Type: "azure-openai", BaseURL: "https://x", Secret: "s"}, "", false},
		{config.Provider{Type: "openai-compatible", BaseURL: "http://x", Secret: "s"}, "", false},
		{config.Provider{Type: "openai-compatible", BaseURL: "http://x"}, "", true},
		{config.Provider{Type: "mock"}, "", true},
	} {
		p := mustNew(t, "p", c.cfg, c.key, rt)
		if got := p.HasCredential(); got != c.want {
			t.Errorf("%s secret=%q key=%q: HasCredential = %v, want %v", c.cfg.Type, c.cfg.Secret, c.key, got, c.want)
		}
	}
}

func TestNewTypes(t *testing.T) {
	if _, err := provider.New("x", config.Provider{Type: "bogus"}, "", &recorder{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown type: err = %v", err)
	}
	p, err := provider.New("m", config.Provider{Type: "mock", Mock: config.MockOptions{Reply: "fixed"}}, "", &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*provider.Mock); !ok || p.Name() != "m" || p.Type() != "mock" || p.Format() != provider.FormatAny {
		t.Errorf("mock: %T %q %q %v", p, p.Name(), p.Type(), p.Format())
	}
}

func TestTimeoutWaitingForHeaders(t *testing.T) {
	const timeout = 100 * time.Millisecond
	const attempts = 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Far longer than the timeout: the call ends when the client
		// gives up and hangs up.
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	p := mustNew(t, "slowpoke", config.Provider{Type: "openai-compatible", BaseURL: srv.URL, Timeout: config.Duration(timeout)}, "", newTransport(t))
	// The call cannot give up sooner than the timeout. That it gives up
	// about then can only be timed, and a loaded machine may stall this
	// process for a second or more: a call over the bound is timed again,
	// and a timeout that really is that late fails every attempt.
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, err := p.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
		elapsed := time.Since(start)
		if err == nil {
			resp.Body.Close()
			t.Fatal("Send succeeded against an upstream slower than the timeout")
		}
		var te *provider.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err = %T %v, want *provider.TimeoutError", err, err)
		}
		if te.Provider != "slowpoke" || te.After != timeout {
			t.Errorf("TimeoutError = %+v", te)
		}
		if !strings.Contains(err.Error(), "slowpoke") {
			t.Errorf("error %q does not name the provider", err)
		}
		switch {
		case elapsed < timeout:
			t.Fatalf("gave up after %v, before the %v timeout", elapsed, timeout)
		case elapsed <= time.Second:
			return
		case attempt == attempts:
			t.Fatalf("gave up after %v in each of %d calls, want about %v", elapsed, attempts, timeout)
		}
		t.Logf("gave up after %v, want about %v (a loaded machine?); again", elapsed, timeout)
	}
}

func TestTimeoutDoesNotCutSlowStream(t *testing.T) {
	const timeout = 100 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := range 5 {
			select {
			case <-time.After(timeout / 2):
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	p := mustNew(t, "s", config.Provider{Type: "openai", BaseURL: srv.URL, Timeout: config.Duration(timeout)}, "k", newTransport(t))
	start := time.Now()
	resp, err := p.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`), Stream: true})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("stream cut after %v: %v", elapsed, err)
	}
	if want := "data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\ndata: e\n\ndata: [DONE]\n\n"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	if elapsed <= timeout {
		t.Errorf("stream took %v, the test needs it to outlast the %v timeout", elapsed, timeout)
	}
}

func TestContextCancelAbortsCall(t *testing.T) {
	entered := make(chan struct{})
	sawDone := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server only watches the connection once the body is read.
		io.Copy(io.Discard, r.Body)
		close(entered)
		select {
		case <-r.Context().Done():
			sawDone <- true
		case <-time.After(3 * time.Second):
			sawDone <- false
		}
	}))
	defer srv.Close()
	p := mustNew(t, "p", config.Provider{Type: "openai-compatible", BaseURL: srv.URL}, "", newTransport(t))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	start := time.Now()
	resp, err := p.Send(ctx, &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
	if err == nil {
		resp.Body.Close()
		t.Fatal("Send succeeded after cancel")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	var te *provider.TimeoutError
	if errors.As(err, &te) {
		t.Errorf("a cancelled call reported as a timeout: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send returned %v after the call started", d)
	}
	if !<-sawDone {
		t.Error("upstream handler never saw its context done")
	}
}

func TestContextCancelAbortsStream(t *testing.T) {
	sawDone := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			sawDone <- true
		case <-time.After(3 * time.Second):
			sawDone <- false
		}
	}))
	defer srv.Close()
	p := mustNew(t, "p", config.Provider{Type: "anthropic", BaseURL: srv.URL}, "k", newTransport(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := p.Send(ctx, &provider.Request{Endpoint: provider.Messages, Body: []byte(`{}`), Stream: true})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading first event: %v", err)
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("stream read ended cleanly after cancel, want an error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stream read still blocked 2s after cancel")
	}
	if !<-sawDone {
		t.Error("upstream handler never saw its context done")
	}
}

func TestBodyCloseReleasesUpstream(t *testing.T) {
	sawDone := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			sawDone <- true
		case <-time.After(3 * time.Second):
			sawDone <- false
		}
	}))
	defer srv.Close()
	p := mustNew(t, "p", config.Provider{Type: "openai", BaseURL: srv.URL}, "k", newTransport(t))
	resp, err := p.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`), Stream: true})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	resp.Body.Close()
	if !<-sawDone {
		t.Error("closing the body did not end the upstream call")
	}
}

func TestUpstreamErrorStatusPassesThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"type":"rate_limit_error"}}`)
	}))
	defer srv.Close()
	p := mustNew(t, "p", config.Provider{Type: "openai", BaseURL: srv.URL}, "k", newTransport(t))
	resp, err := p.Send(context.Background(), &provider.Request{Endpoint: provider.ChatCompletions, Body: []byte(`{}`)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || string(body) != `{"error":{"type":"rate_limit_error"}}` {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

// Each API's own headers reach only an upstream of that API, through the
// lean client and through net/http alike: Claude Code's anthropic-version
// and anthropic-beta do not go to an OpenAI-format server when its
// request is translated, nor openai-beta to Anthropic. Headers the
// provider's config sets are sent regardless.
func TestForwardedHeadersByAPI(t *testing.T) {
	u := newUpstream(t)
	client := http.Header{
		"Anthropic-Version": {"2023-06-01"},
		"Anthropic-Beta":    {"claude-code-20250219,context-management-2025-06-27"},
		"Openai-Beta":       {"assistants=v2"},
	}
	for _, tr := range []http.RoundTripper{newTransport(t), &http.Transport{}} {
		for _, c := range []struct {
			cfg        config.Provider
			ep         provider.Endpoint
			want, gone []string
		}{
			{config.Provider{Type: "openai", BaseURL: u.srv.URL + "/v1"}, provider.ChatCompletions,
				[]string{"Openai-Beta"}, []string{"Anthropic-Version", "Anthropic-Beta"}},
			{config.Provider{Type: "openai-compatible", BaseURL: u.srv.URL + "/v1"}, provider.ChatCompletions,
				[]string{"Openai-Beta"}, []string{"Anthropic-Version", "Anthropic-Beta"}},
			{config.Provider{Type: "azure-openai", BaseURL: u.srv.URL, APIVersion: "2024-10-21"}, provider.ChatCompletions,
				[]string{"Openai-Beta"}, []string{"Anthropic-Version", "Anthropic-Beta"}},
			{config.Provider{Type: "anthropic", BaseURL: u.srv.URL}, provider.Messages,
				[]string{"Anthropic-Version", "Anthropic-Beta"}, []string{"Openai-Beta"}},
			{config.Provider{Type: "openai-compatible", BaseURL: u.srv.URL + "/v1", Headers: map[string]string{"anthropic-beta": "configured"}}, provider.ChatCompletions,
				[]string{"Openai-Beta", "Anthropic-Beta"}, []string{"Anthropic-Version"}},
		} {
			p := mustNew(t, "p", c.cfg, "k", tr)
			send(t, p, &provider.Request{Endpoint: c.ep, Model: "m", Body: []byte(`{}`), Header: client})
			got := u.last(t).Header
			for _, h := range c.want {
				if got.Get(h) == "" {
					t.Errorf("%s (%T): %s not sent", c.cfg.Type, tr, h)
				}
			}
			for _, h := range c.gone {
				if v := got.Get(h); v != "" {
					t.Errorf("%s (%T): %s: %q sent to the other API's upstream", c.cfg.Type, tr, h, v)
				}
			}
			if v := got.Get("Anthropic-Beta"); c.cfg.Headers != nil && v != "configured" {
				t.Errorf("configured anthropic-beta = %q", v)
			}
		}
	}
}
