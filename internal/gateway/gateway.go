// Package gateway owns `credflow serve`: the HTTP server that speaks the
// OpenAI and Anthropic APIs to clients, its request path (auth, minimal
// parse, route, translate, forward, stream back, account), the admin API
// on a Unix socket, config/secret reload, and graceful shutdown.
//
// The live configuration is an immutable *state swapped atomically on
// reload (caddy-style: build and validate the new one fully, swap, keep the
// old one if the new one fails), so the hot path takes no locks.
//
// The data file is not held open: the daemon opens it for each admin
// operation and reload, so `credflow secrets …` and other commands keep
// working while it runs (see README "Design notes").
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credflow/credflow/internal/buildinfo"
	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/guard"
	"github.com/credflow/credflow/internal/h1"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/limits"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/internal/provider"
	"github.com/credflow/credflow/internal/redact"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/templates"
	"github.com/credflow/credflow/internal/vault"
	"github.com/credflow/credflow/pkg/adminapi"
)

// Options are what a Server needs from its caller.
type Options struct {
	// LoadConfig reads and validates the config (at start and on reload).
	LoadConfig func() (*config.Config, error)
	// OpenVault opens the vault for a reload; the func releases it.
	OpenVault func(ctx context.Context) (*vault.Vault, func(), error)
	// OpenStore opens the data file for one operation.
	OpenStore func() (*store.DB, error)
	DataDir   string
	// Listen overrides server.listen; AllowRemote overrides server.allow_remote.
	Listen      string
	AllowRemote bool
	Logger      *slog.Logger
	// Listener, when set, is used instead of listening on Listen (tests).
	Listener net.Listener
	// Transport is the upstream transport; nil builds the default.
	Transport http.RoundTripper
	Now       func() time.Time
	// Location is the time zone policies see (hour, weekday); nil is
	// the machine's.
	Location *time.Location
}

func (o *Options) location() *time.Location {
	if o.Location != nil {
		return o.Location
	}
	return time.Local
}

// state is one immutable generation of configuration.
type state struct {
	cfg       *config.Config
	routes    *route.Table
	providers map[string]provider.Provider
	status    []adminapi.ProviderStatus
	prices    *pricing.Table
	// priceIDs maps a provider name to its price-table provider id.
	priceIDs map[string]string
	// redact masks the provider keys this state holds (and virtual keys)
	// in error bodies that reach clients.
	redact *redact.Redactor
	// guard is the guardrail engine; nil when no rule is configured.
	guard *guard.Engine
	// usesMonthSpend is set when a policy reads spend_month (a ledger
	// read, cached for a minute).
	usesMonthSpend bool
	// priceCache memoises lookups (a struct key: no allocation per lookup).
	priceMu    sync.RWMutex
	priceCache map[priceKey]cachedPrice
}

type priceKey struct{ provider, model string }

const maxPriceCache = 4096

type cachedPrice struct {
	p  pricing.Price
	ok bool
}

// price finds the price of an upstream model, once per state.
func (st *state) price(prov, model string) (pricing.Price, bool) {
	k := priceKey{prov, model}
	st.priceMu.RLock()
	c, ok := st.priceCache[k]
	st.priceMu.RUnlock()
	if ok {
		return c.p, c.ok
	}
	p, ok := st.prices.Lookup(st.priceIDs[prov], model)
	if !ok && st.cfg.Providers[prov].Type == "mock" {
		// The built-in mock bills nothing: a known zero, not an unknown.
		p = pricing.Price{HasInput: true, HasOutput: true, HasCacheRead: true, HasCacheWrite: true, Model: model}
		ok = true
	}
	st.priceMu.Lock()
	if st.priceCache == nil {
		st.priceCache = map[priceKey]cachedPrice{}
	}
	// Glob routes pass any model name through: keep the cache bounded.
	if len(st.priceCache) < maxPriceCache {
		st.priceCache[k] = cachedPrice{p, ok}
	}
	st.priceMu.Unlock()
	return p, ok
}

// Server is a running gateway.
type Server struct {
	opt     Options
	log     *slog.Logger
	state   atomic.Pointer[state]
	auth    *keys.Authenticator
	bus     *Bus
	metrics *metrics
	limits  *limits.Limiter
	ledger  *ledger.Writer
	tr      http.RoundTripper
	started time.Time
	// reloaded is the time of the last successful reload, as unix nanos.
	reloaded atomic.Int64
	reloadMu sync.Mutex

	// templates are the current prompt templates, by name (templates.go).
	templates atomic.Pointer[map[string]*templates.Template]
	// today is the UTC day's spend for the admin status (dayspend.go).
	today *daySpend
	// month caches this month's spend per key for policies.
	month monthSpend
	// ctx is the context engine's file, opened on first use (context.go).
	ctx contextEngine

	requests atomic.Uint64
	inflight atomic.Int64
	// pending counts requests still being accounted in the background.
	pending sync.WaitGroup
	seq     atomic.Uint64

	ln      net.Listener
	adminLn net.Listener
	http    *http.Server
	// front serves the client API: the lean HTTP/1.1 loop in front of
	// http, or http itself (server.http_server).
	front frontServer
	admin *http.Server
}

// New builds the first state and binds the listeners; Run serves.
func New(ctx context.Context, opt Options) (*Server, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s := &Server{opt: opt, log: opt.Logger, bus: NewBus(), auth: keys.NewAuthenticator(opt.Now), started: opt.Now()}
	s.metrics = newMetrics(s)
	s.limits = limits.New(opt.Now)
	s.tr = opt.Transport
	if s.tr == nil {
		s.tr = provider.NewTransport()
	}
	cfg, err := opt.LoadConfig()
	if err != nil {
		return nil, err
	}
	st, err := s.build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.openLedger(cfg); err != nil {
		return nil, err
	}
	if err := s.loadKeys(); err != nil {
		return nil, err
	}
	s.state.Store(st)
	s.reloaded.Store(s.opt.Now().UnixNano())

	listen := cfg.Server.Listen
	if opt.Listen != "" {
		listen = opt.Listen
	}
	allowRemote := cfg.Server.AllowRemote || opt.AllowRemote
	if opt.Listener != nil {
		s.ln = opt.Listener
	} else {
		if err := checkLoopback(listen, allowRemote); err != nil {
			return nil, err
		}
		s.ln, err = net.Listen("tcp", listen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w; is another credflow (or another program) using that port? Choose another with --listen", listen, err)
		}
	}
	if !isLoopback(s.ln.Addr()) {
		s.log.Warn("listening on a non-loopback address: anyone who can reach it and holds a virtual key can spend your provider credits", "addr", s.ln.Addr().String())
	}
	s.adminLn, err = listenAdmin(opt.DataDir)
	if err != nil {
		s.ln.Close()
		return nil, err
	}
	mux := s.clientMux()
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	// A request body has server.body_timeout to arrive (set per request
	// in the handler: net/http's ReadTimeout would also cut long streams).
	idle := cfg.Server.IdleTimeout.Std()
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idle, ErrorLog: errLog}
	s.front = s.http
	if cfg.Server.HTTPServer == "lean" {
		s.front = &h1.Server{Handler: mux, Fallback: s.http, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idle, ErrorLog: errLog}
	}
	s.today = s.newDaySpend()
	s.admin = &http.Server{Handler: s.adminMux(), ReadHeaderTimeout: 30 * time.Second}
	return s, nil
}

// readHeaderTimeout bounds the time from a request's first byte to the
// end of its head.
const readHeaderTimeout = 30 * time.Second

// frontServer is what *http.Server and *h1.Server share.
type frontServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Addr is the client API's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AdminSocket is the admin socket's path.
func (s *Server) AdminSocket() string { return adminapi.SocketPath(s.opt.DataDir) }

// Bus is the per-request event stream.
func (s *Server) Bus() *Bus { return s.bus }

// Run serves until ctx is cancelled, then stops accepting, lets in-flight
// requests and streams finish for up to server.shutdown_timeout, and
// closes whatever is left.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	defer stopPrune()
	go s.pruneContext(pruneCtx)
	// frontDone closes when the client server's Serve has returned (and
	// with it released the listener), so a restart can bind the address.
	frontDone := make(chan struct{})
	go func() { errc <- s.front.Serve(s.ln); close(frontDone) }()
	go func() { errc <- s.admin.Serve(s.adminLn) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	defer func() {
		select {
		case <-frontDone:
		case <-time.After(5 * time.Second):
		}
	}()
	timeout := s.state.Load().cfg.Server.ShutdownTimeout.Std()
	s.log.Info("shutting down: draining in-flight requests", "in_flight", s.inflight.Load(), "deadline", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The admin API goes first so nobody reloads a stopping daemon; its
	// event streams would hold Shutdown open, so it is closed outright.
	s.admin.Close()
	s.bus.Close()
	if serr := s.front.Shutdown(sctx); serr != nil {
		s.log.Warn("drain deadline passed; closing remaining connections", "in_flight", s.inflight.Load())
		s.front.Close()
	}
	s.pending.Wait()
	s.closeContext()
	// Everything accounted is written before the process ends.
	if s.ledger != nil {
		if lerr := s.ledger.Close(sctx); lerr != nil {
			s.log.Error("could not write the last usage records", "err", lerr)
		}
	}
	os.Remove(s.AdminSocket())
	s.log.Info("stopped")
	return err
}

// Reload rebuilds the state from the config file and the vault and swaps
// it in; on any error the running state stays and the error is returned.
func (s *Server) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := s.opt.LoadConfig()
	if err != nil {
		s.log.Error("reload failed; keeping the running configuration", "err", err)
		return err
	}
	old := s.state.Load()
	if cfg.Server.Listen != old.cfg.Server.Listen && s.opt.Listen == "" {
		s.log.Warn("server.listen changed; restart credflow serve to move the listener", "listening", s.Addr(), "configured", cfg.Server.Listen)
	}
	st, err := s.build(ctx, cfg)
	if err != nil {
		s.log.Error("reload failed; keeping the running configuration", "err", err)
		return err
	}
	if err := s.loadKeys(); err != nil {
		s.log.Error("reload failed; keeping the running configuration", "err", err)
		return err
	}
	s.state.Store(st)
	s.reloaded.Store(s.opt.Now().UnixNano())
	s.log.Info("reloaded configuration and secrets", "providers", len(st.providers), "keys", s.auth.Len())
	return nil
}

// build makes a new state: routes, and providers with their credentials
// read from the vault once (never per request).
func (s *Server) build(ctx context.Context, cfg *config.Config) (*state, error) {
	routes, err := route.New(cfg.Routes, cfg.Providers)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range cfg.Providers {
		if p.Secret != "" {
			names = append(names, p.Secret)
		}
	}
	values := map[string]string{}
	missing := map[string]error{}
	var secrets [][]byte
	if len(names) > 0 || needsSecrets(cfg) {
		v, closeFn, err := s.opt.OpenVault(ctx)
		if err != nil && len(names) > 0 {
			return nil, fmt.Errorf("read provider keys: %w", err)
		}
		if err == nil {
			if len(names) > 0 {
				values, missing, err = v.LoadActive(ctx, names, "credflow serve")
			}
			if err == nil && needsSecrets(cfg) {
				secrets, err = guardSecrets(ctx, v, values)
				if err != nil {
					// The gateway still serves: what it cannot read it
					// cannot leak through a provider key either.
					s.log.Warn("guardrails cannot read the vault's secrets; the vault_secrets detector matches provider keys only", "err", err)
					secrets, err = guardSecrets(ctx, nil, values)
				}
			}
			closeFn()
			if err != nil {
				return nil, fmt.Errorf("read provider keys: %w", err)
			}
		} else {
			s.log.Warn("guardrails cannot open the vault; the vault_secrets detector has no values", "err", err)
		}
	}
	st := &state{cfg: cfg, routes: routes, providers: map[string]provider.Provider{}, prices: PriceTable(cfg), priceIDs: map[string]string{}}
	held := make([]string, 0, len(values))
	for _, v := range values {
		held = append(held, v)
	}
	st.redact = redact.New(held)
	s.buildGuard(st, secrets)
	pnames := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		pnames = append(pnames, n)
	}
	sort.Strings(pnames)
	for _, name := range pnames {
		pc := cfg.Providers[name]
		p, err := provider.New(name, pc, values[pc.Secret], s.tr)
		if err != nil {
			return nil, err
		}
		st.providers[name] = p
		st.priceIDs[name] = PricingProvider(st.prices, pc)
		ps := adminapi.ProviderStatus{Name: name, Type: pc.Type, Format: p.Format().String(), Secret: pc.Secret, SecretPresent: p.HasCredential()}
		if e, ok := missing[pc.Secret]; ok {
			ps.Problem = e.Error()
			s.log.Warn("provider has no key; requests routed to it will fail until you store it and reload", "provider", name, "secret", pc.Secret, "fix", "credflow secrets set "+pc.Secret)
		}
		st.status = append(st.status, ps)
	}
	return st, nil
}

// loadKeys rebuilds the authenticator from the data file and seeds each
// budgeted key's spend in its current periods from the ledger.
func (s *Server) loadKeys() error {
	// Records still in memory would be missing from the ledger's sums.
	if s.ledger != nil {
		s.ledger.Flush()
	}
	db, err := s.opt.OpenStore()
	if err != nil {
		return fmt.Errorf("read virtual keys: %w", err)
	}
	defer db.Close()
	list, err := keys.New(db, keys.Options{Now: s.opt.Now}).List()
	if err != nil {
		return fmt.Errorf("read virtual keys: %w", err)
	}
	if err := s.seedLimits(db, list); err != nil {
		return err
	}
	if err := s.loadTemplates(db); err != nil {
		return err
	}
	s.auth.Load(list)
	return nil
}

// openLedger checks the usage ledger (rebuilding rollups that disagree with
// the records after a crash) and starts its batched writer.
func (s *Server) openLedger(cfg *config.Config) error {
	if cfg.Ledger.Disable {
		s.log.Warn("accounting is off (ledger.disable): requests are not recorded")
		return nil
	}
	db, err := s.opt.OpenStore()
	if err != nil {
		return fmt.Errorf("open the usage ledger: %w", err)
	}
	rebuilt, damage, err := ledger.EnsureConsistent(db)
	db.Close()
	if err != nil {
		return fmt.Errorf("check the usage ledger: %w", err)
	}
	if !damage.Empty() {
		// One bad record must not keep the gateway down: it is left out of
		// the check, and the rollups of its hour and day keep counting it.
		s.log.Warn("usage ledger: skipped "+damage.String()+"; the rest was checked, and usage reports still count them",
			"records", damage.Records, "keys", damage.Keys())
	}
	if rebuilt {
		s.log.Warn("usage rollups did not match the request records (an earlier crash?); rebuilt them")
	}
	s.ledger = ledger.NewWriter(s.opt.OpenStore, ledger.Options{
		FlushInterval: cfg.Ledger.FlushInterval.Std(),
		Retention:     cfg.Ledger.Retention.Std(),
		Now:           s.opt.Now,
		Logger:        s.log,
	})
	return nil
}

// seedLimits loads what budgeted keys already spent in their current
// periods, so a restart does not reset a budget.
func (s *Server) seedLimits(db *store.DB, list []keys.Key) error {
	now := s.opt.Now()
	for _, k := range list {
		for _, b := range k.Policy.Budgets {
			q := ledger.Query{Since: limits.PeriodStart(b.Period, now), Key: k.Name}
			rows, damage, err := ledger.UsageWithDamage(db, q)
			if err != nil {
				return fmt.Errorf("read the spend of virtual key %q: %w", k.Name, err)
			}
			if !damage.Empty() {
				s.log.Warn("usage ledger: skipped "+damage.String()+"; the budget starts from the rest",
					"key", k.Name, "period", b.Period, "keys", damage.Keys())
			}
			var spent limits.Cost
			for _, r := range rows {
				spent.Micros += int64(r.Cost)
				spent.Tokens += r.Input + r.Output
			}
			s.limits.Seed(k.Name, b.Period, spent)
		}
	}
	return nil
}

func (s *Server) status() adminapi.Status {
	st := s.state.Load()
	return adminapi.Status{
		Version: buildinfo.Get().Version, PID: os.Getpid(), Listen: s.Addr(),
		StartedAt: s.started, ReloadedAt: time.Unix(0, s.reloaded.Load()),
		ConfigPath: st.cfg.Path, DataDir: s.opt.DataDir,
		Providers: st.status, Models: st.routes.Models(), Keys: s.auth.Len(),
		Requests: s.requests.Load(), InFlight: s.inflight.Load(),
	}
}

func checkLoopback(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v; use HOST:PORT such as 127.0.0.1:6767", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return nil
	}
	if !allowRemote {
		return fmt.Errorf("listen address %q is not loopback: that would expose the gateway to the network. Pass --allow-remote (or set server.allow_remote: true) if you mean it", addr)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return !ok || ta.IP.IsLoopback()
}
