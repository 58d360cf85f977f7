package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/gateway"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Real provider keys the fake upstreams expect; tests assert they never
// reach a client.
const (
	upstreamOpenAIKey    = "sk-upstream-openai-0123456789"
	upstreamAnthropicKey = "sk-ant-upstream-0123456789"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wire", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seen is what a fake upstream received.
type seen struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	paths   []string
}

func (s *seen) add(r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, body)
	s.headers = append(s.headers, r.Header.Clone())
	s.paths = append(s.paths, r.URL.RequestURI())
}

func (s *seen) last(t *testing.T) (map[string]any, http.Header, string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		t.Fatal("upstream received no request")
	}
	var m map[string]any
	if err := json.Unmarshal(s.bodies[len(s.bodies)-1], &m); err != nil {
		t.Fatalf("upstream got invalid JSON: %v", err)
	}
	return m, s.headers[len(s.headers)-1], s.paths[len(s.paths)-1]
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// writeSSE replays a recorded stream, flushing after every event.
func writeSSE(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	for _, ev := range strings.SplitAfter(string(data), "\n\n") {
		io.WriteString(w, ev)
		fl.Flush()
	}
}

// fakeOpenAI serves recorded OpenAI bodies, checking the injected key.
func fakeOpenAI(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.add(r, body)
		if r.Header.Get("Authorization") != "Bearer "+upstreamOpenAIKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return
		}
		var req struct {
			Model  string          `json:"model"`
			Stream bool            `json:"stream"`
			Tools  json.RawMessage `json:"tools"`
		}
		json.Unmarshal(body, &req)
		switch {
		case req.Model == "rate-limited":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`)
		case req.Model == "broken-upstream":
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`)
		case r.URL.Path == "/v1/embeddings":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}`)
		case req.Stream && len(req.Tools) > 0:
			writeSSE(w, fixture(t, "openai-chat-stream-tools.sse"))
		case req.Stream:
			writeSSE(w, fixture(t, "openai-chat-stream.sse"))
		case len(req.Tools) > 0:
			w.Header().Set("Content-Type", "application/json")
			w.Write(fixture(t, "openai-chat-tools.json"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req_upstream_1")
			w.Write(fixture(t, "openai-chat.json"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// fakeAnthropic serves recorded Anthropic bodies, checking the injected key.
func fakeAnthropic(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.add(r, body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Api-Key") != upstreamAnthropicKey {
			w.WriteHeader(401)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		var req struct {
			Model  string          `json:"model"`
			Stream bool            `json:"stream"`
			Tools  json.RawMessage `json:"tools"`
		}
		json.Unmarshal(body, &req)
		switch {
		case r.URL.Path == "/v1/messages/count_tokens":
			io.WriteString(w, `{"input_tokens":14}`)
		case req.Model == "claude-overloaded":
			w.WriteHeader(529)
			io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		case req.Stream && len(req.Tools) > 0:
			writeSSE(w, fixture(t, "anthropic-stream-tools.sse"))
		case req.Stream:
			writeSSE(w, fixture(t, "anthropic-stream.sse"))
		case len(req.Tools) > 0:
			w.Write(fixture(t, "anthropic-messages-tools.json"))
		default:
			w.Write(fixture(t, "anthropic-messages.json"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// env is a running gateway over a temporary data directory.
type env struct {
	t       *testing.T
	opts    gateway.Options
	srv     *gateway.Server
	base    string // http://127.0.0.1:PORT
	key     string // a virtual key allowed every model
	dataDir string
	cfgText string
	mu      sync.Mutex
	events  []adminapi.Event
	logs    *logBuffer // what the gateway logged
	done    chan error
	cancel  context.CancelFunc
}

const baseConfig = `
providers:
  openai:
    type: openai
    base_url: {{OPENAI}}/v1
    secret: openai
  anthropic:
    type: anthropic
    base_url: {{ANTHROPIC}}
    secret: anthropic
  mock:
    type: mock
routes:
  - model: "claude-*"
    targets: [anthropic]
  - model: "gpt-*"
    targets: [openai]
  - model: fast
    targets: [openai/gpt-4o-mini]
  - model: "mock*"
    targets: [mock]
  - model: rate-limited
    targets: [openai]
  - model: broken-upstream
    targets: [openai]
`

// startGateway runs a gateway with cfg ({{OPENAI}} and {{ANTHROPIC}} are
// replaced by the fake upstreams' URLs) and one virtual key.
func startGateway(t *testing.T, cfg string, oa, an *httptest.Server) *env {
	return startGatewayTB(t, t, cfg, oa, an)
}

// startGatewayB starts a gateway for a benchmark.
func startGatewayB(b *testing.B, _ *testing.T, cfg string) *env {
	return startGatewayTB(b, nil, cfg, nil, nil)
}

func startGatewayTB(t testing.TB, tt *testing.T, cfg string, oa, an *httptest.Server) *env {
	t.Helper()
	dir := t.TempDir()
	// An upstream a test does not use points at the discard port.
	oaURL, anURL := "http://127.0.0.1:9", "http://127.0.0.1:9"
	if oa != nil {
		oaURL = oa.URL
	}
	if an != nil {
		anURL = an.URL
	}
	cfg = strings.ReplaceAll(strings.ReplaceAll(cfg, "{{OPENAI}}", oaURL), "{{ANTHROPIC}}", anURL)
	e := &env{t: tt, dataDir: dir, cfgText: cfg, done: make(chan error, 1), logs: &logBuffer{}}
	openStore := func() (*store.DB, error) {
		return store.Open(filepath.Join(dir, store.FileName), store.Options{Process: "test"})
	}
	be := &vault.File{Path: filepath.Join(dir, "vault.age"), WorkFactor: 10, Passphrase: func(bool) (string, error) { return "pw", nil }}
	openVault := func(ctx context.Context) (*vault.Vault, func(), error) {
		db, err := openStore()
		if err != nil {
			return nil, nil, err
		}
		return vault.New(db, be, vault.Options{Grace: time.Hour, KeepRetired: 3, Process: "test"}), func() { db.Close() }, nil
	}
	v, closeV, err := openVault(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Set(ctx, "openai", upstreamOpenAIKey, vault.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Set(ctx, "anthropic", upstreamAnthropicKey, vault.Meta{}); err != nil {
		t.Fatal(err)
	}
	closeV()
	db, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	e.key, _, err = keys.New(db, keys.Options{}).Create("test", keys.CreateOptions{})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.opts = gateway.Options{
		LoadConfig: func() (*config.Config, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return config.Parse([]byte(e.cfgText), "test.yaml")
		},
		OpenVault: openVault, OpenStore: openStore, DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	opts := e.opts
	opts.Listener = ln
	e.srv, err = gateway.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + e.srv.Addr()
	events, stopEvents := e.srv.Bus().Subscribe(4096)
	go func() {
		for ev := range events {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.srv.Run(runCtx) }()
	t.Cleanup(func() {
		e.cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop within 10s")
		}
		stopEvents()
	})
	return e
}

// lastEvent waits briefly for the event of the most recent request. Events
// reach the harness through the bus, after the request is counted in the
// status; a streamed request's event may even come after the client read
// its last event. So it waits until no request is in flight and every
// counted request's event has arrived (or 2s, then takes what it has).
func (e *env) lastEvent() adminapi.Event {
	e.t.Helper()
	admin := adminapi.NewClient(e.srv.AdminSocket())
	deadline := time.Now().Add(2 * time.Second)
	for {
		caughtUp := false
		if st, err := admin.Status(context.Background()); err == nil {
			caughtUp = st.InFlight == 0 && uint64(e.eventCount()) >= st.Requests
		}
		e.mu.Lock()
		n := len(e.events)
		var ev adminapi.Event
		if n > 0 {
			ev = e.events[n-1]
		}
		e.mu.Unlock()
		if n > 0 && (caughtUp || time.Now().After(deadline)) {
			return ev
		}
		if time.Now().After(deadline) {
			e.t.Fatal("no request event published")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) eventCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// raw posts a body with the test key and returns status and body.
func (e *env) raw(path, body string, headers ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// restart stops the gateway gracefully and starts a new one on the same
// data directory and address, as a user restarting credflow serve would.
func (e *env) restart() {
	e.t.Helper()
	addr := e.srv.Addr()
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.t.Fatal("gateway did not stop")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.t.Fatal(err)
	}
	opts := e.opts
	opts.Listener = ln
	if e.srv, err = gateway.New(context.Background(), opts); err != nil {
		e.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.srv.Run(runCtx) }()
}

// allEvents returns the events seen so far.
func (e *env) allEvents() []adminapi.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]adminapi.Event{}, e.events...)
}

// setConfig replaces the config text and reloads the gateway.
func (e *env) setConfig(text string) {
	e.t.Helper()
	e.mu.Lock()
	e.cfgText = text
	e.mu.Unlock()
	if err := e.srv.Reload(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}
