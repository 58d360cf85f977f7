// Package config owns credflow's configuration: where the config file and
// the data directory live (XDG, overridable), the typed settings with their
// defaults, the commented file `credflow init` writes, and validation that
// points at file:line with a fix.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/policy"
	"github.com/credflow/credflow/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Config is the whole file. Zero values are replaced by defaults in Load.
type Config struct {
	Server   Server                       `yaml:"server"`
	Ledger   Ledger                       `yaml:"ledger"`
	Context  Context                      `yaml:"context"`
	Vault    Vault                        `yaml:"vault"`
	Profiles map[string]map[string]string `yaml:"profiles"`
	// Providers are the upstreams the gateway routes to (see `credflow serve`).
	Providers map[string]Provider `yaml:"providers"`
	// Routes map requested model names to provider targets, first match wins.
	Routes []Route `yaml:"routes"`
	// Prices override the embedded price table for local or negotiated
	// models: keys are "model" or "provider/model".
	Prices map[string]PriceOverride `yaml:"prices"`
	// Guardrails scan requests and replies (nil: DefaultGuardrails; an
	// empty list turns scanning off).
	Guardrails []Guardrail `yaml:"guardrails"`
	// Policies are CEL rules run on every request (internal/policy).
	Policies []Policy `yaml:"policies"`
	// PolicySet is Policies compiled; nil when there are none.
	PolicySet *policy.Set `yaml:"-"`

	// Path is where the config was read from; empty for embedded defaults.
	Path string `yaml:"-"`
	root *yaml.Node
}

// Vault configures secret storage.
type Vault struct {
	// Backend is "keychain" (the OS keychain) or "file" (an age-encrypted file).
	Backend string `yaml:"backend"`
	// KeychainService is the service name items are stored under.
	KeychainService string `yaml:"keychain_service"`
	// File is the encrypted file for the file backend; relative to the data dir.
	File string `yaml:"file"`
	// Timeout bounds every keychain call; a locked keyring can block forever.
	Timeout Duration `yaml:"timeout"`
	// RotationPeriod marks secrets older than this as due in `secrets list`.
	RotationPeriod Duration `yaml:"rotation_period"`
	// Grace is how long a rotated-out version stays usable.
	Grace Duration `yaml:"grace"`
	// KeepRetired is how many retired versions are kept for rollback.
	KeepRetired *int `yaml:"keep_retired"`
}

// Server configures `credflow serve`.
type Server struct {
	// Listen is the client API address; loopback unless AllowRemote.
	Listen string `yaml:"listen"`
	// AllowRemote permits a non-loopback Listen address.
	AllowRemote bool `yaml:"allow_remote"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds the drain of in-flight requests and streams.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// LogFormat is "text" or "json"; LogLevel "debug", "info", "warn", "error".
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	// DefaultMaxTokens is sent to Anthropic when an OpenAI-format client
	// sets none (Anthropic requires max_tokens).
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// BodyTimeout bounds the time a client takes to send a request's
	// body once its head has arrived; a slower one is disconnected.
	BodyTimeout Duration `yaml:"body_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no new
	// request for this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// HTTPServer is "lean" (the gateway's own HTTP/1.1 loop for common
	// requests, net/http for the rest) or "net/http" (net/http for all).
	HTTPServer string `yaml:"http_server"`
}

// Context configures the context engine: the conversations the gateway
// keeps (Responses API state, Conversations, sessions).
type Context struct {
	// Retention deletes a stored conversation not updated for this long;
	// 0 keeps them forever; absent is DefaultContextRetention.
	Retention *Duration `yaml:"retention"`
	// KeyRetention overrides Retention for some virtual keys, by name.
	KeyRetention map[string]Duration `yaml:"key_retention"`
	// Policy fits a session into a model's context window: window,
	// summarize or relevance.
	Policy string `yaml:"policy"`
	// Summarizer is the model (routed like any) that writes the running
	// summaries of the summarize policy.
	Summarizer string `yaml:"summarizer"`
	// CacheMB bounds the decrypted conversations kept in memory.
	CacheMB int `yaml:"cache_mb"`
}

// Ledger configures usage accounting in the data file.
type Ledger struct {
	// FlushInterval is how often the gateway writes its batch of request
	// records; it bounds what a crash (kill -9) can lose.
	FlushInterval Duration `yaml:"flush_interval"`
	// Retention is how long raw request records are kept; hourly and daily
	// rollups are kept for good. 0 keeps records forever.
	Retention Duration `yaml:"retention"`
	// Disable turns the ledger off: no request records, no usage reports,
	// and budgets count only what this run of the daemon saw.
	Disable bool `yaml:"disable"`
}

// Provider is one upstream LLM API.
type Provider struct {
	Type    string            `yaml:"type"`
	BaseURL string            `yaml:"base_url"`
	Secret  string            `yaml:"secret"`
	Headers map[string]string `yaml:"headers"`
	Timeout Duration          `yaml:"timeout"`
	// APIVersion is azure-openai's api-version query parameter, or the
	// anthropic-version header sent when the client sends none.
	APIVersion string `yaml:"api_version"`
	// MaxTokensField is the name an OpenAI-format upstream gets the
	// output cap under when credflow translates an Anthropic request:
	// "max_completion_tokens" (what OpenAI's reasoning models require;
	// the default for openai and azure-openai) or "max_tokens" (what most
	// OpenAI-compatible servers read; their default).
	MaxTokensField string `yaml:"max_tokens_field"`
	// Responses declares that an openai-compatible server speaks the
	// OpenAI Responses API, so Responses requests pass through to it;
	// otherwise credflow translates them to Chat Completions.
	Responses bool `yaml:"responses"`
	// Mock configures the built-in mock provider.
	Mock MockOptions `yaml:"mock"`
}

// MockOptions shape the mock provider's replies and faults.
type MockOptions struct {
	// Reply is a fixed reply; empty echoes the last user message.
	Reply string `yaml:"reply"`
	// ChunkSize is the number of tokens per streamed chunk (default 1).
	ChunkSize int `yaml:"chunk_size"`
	// ChunkDelay is the pause between streamed chunks.
	ChunkDelay Duration `yaml:"chunk_delay"`
	// Latency is the pause before the first byte.
	Latency Duration `yaml:"latency"`
	// FailStatus makes every request fail with this HTTP status.
	FailStatus int `yaml:"fail_status"`
	// CutAfter cuts a stream after this many chunks (no final events).
	CutAfter int `yaml:"cut_after"`
}

// PriceOverride is a model's price in USD per 1M tokens (decimal strings,
// "0.15") and its limits in tokens; empty or 0 keeps the table's value.
// Reasoning says whether the model reasons (a translated request carries
// a reasoning effort only then); unset keeps the table's word.
type PriceOverride struct {
	Input      string `yaml:"input"`
	Output     string `yaml:"output"`
	CacheRead  string `yaml:"cache_read"`
	CacheWrite string `yaml:"cache_write"`
	Context    int    `yaml:"context"`
	MaxOutput  int    `yaml:"max_output"`
	Reasoning  *bool  `yaml:"reasoning"`
}

// Route sends a requested model to an ordered list of targets. Model is an
// exact name or a glob ("claude-*"); a target is "provider" (same model
// name upstream) or "provider/upstream-model". Translate "strict" refuses
// every field a translation between the OpenAI and Anthropic formats
// cannot carry, the hints otherwise dropped (and reported) included.
type Route struct {
	Model     string   `yaml:"model"`
	Targets   []string `yaml:"targets"`
	Translate string   `yaml:"translate"`
}

// TranslateStrict is the Route.Translate mode that refuses every field a
// translation would drop.
const TranslateStrict = "strict"

// Defaults.
const (
	DefaultBackend         = "keychain"
	DefaultKeychainService = "credflow"
	DefaultVaultFile       = "vault.age"
	DefaultKeychainTimeout = 10 * time.Second
	DefaultRotationPeriod  = 90 * 24 * time.Hour
	DefaultGrace           = 24 * time.Hour
	DefaultKeepRetired     = 3
	// DefaultListen is credflow serve's stable default address.
	DefaultListen          = "127.0.0.1:6767"
	DefaultMaxBodyBytes    = 32 << 20
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxTokens       = 4096
	DefaultBodyTimeout     = time.Minute
	// DefaultContextRetention is how long a stored conversation lives
	// after its last use.
	DefaultContextRetention = 90 * 24 * time.Hour
	DefaultIdleTimeout      = 2 * time.Minute
)

// ProviderTypes lists the provider kinds the gateway speaks.
var ProviderTypes = []string{"openai", "anthropic", "openai-compatible", "azure-openai", "mock"}

//go:embed default.yaml
var defaultFile []byte

// DefaultFile is the commented config `credflow init` writes.
func DefaultFile() []byte { return bytes.Clone(defaultFile) }

// Default returns the embedded defaults, as if no file existed.
func Default() *Config {
	c, err := parse(defaultFile, "")
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// ErrNotExist reports a config path that does not exist.
var ErrNotExist = errors.New("config file does not exist")

// Load reads and validates the file at path. A missing file at the default
// location yields the embedded defaults; a missing file the user named
// explicitly is an error.
func Load(path string, explicit bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if explicit {
			return nil, fmt.Errorf("%w: %s; run 'credflow init' to create it or fix --config / CREDFLOW_CONFIG", ErrNotExist, path)
		}
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, path)
}

// Problem is one validation error at a place in the file.
type Problem struct {
	Line  int
	Field string
	Msg   string
}

// ValidationError lists every problem found, in file order.
type ValidationError struct {
	Path     string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	name := e.Path
	if name == "" {
		name = "config"
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s:%d: ", name, p.Line)
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func parse(data []byte, path string) (*Config, error) {
	c := &Config{Path: path}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(path, err)
	}
	c.root = &root
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// A file of comments only decodes to io.EOF: that is an empty config.
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(path, err)
		}
	}
	c.applyDefaults()
	if probs := c.validate(); len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, &ValidationError{Path: path, Problems: probs}
	}
	return c, nil
}

// yamlError turns yaml's "yaml: line 3: ..." messages into file:line problems
// with a hint for the commonest mistake.
func yamlError(path string, err error) error {
	ve := &ValidationError{Path: path}
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		p := Problem{Line: 1, Msg: m}
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			fmt.Sscan(sm[1], &p.Line)
			p.Msg = sm[2]
		}
		if strings.Contains(p.Msg, "not found in type") {
			field := p.Msg
			if i := strings.Index(field, "field "); i >= 0 {
				field = field[i+len("field "):]
			}
			if i := strings.Index(field, " not found"); i >= 0 {
				field = field[:i]
			}
			p.Msg = fmt.Sprintf("unknown setting %q; check its spelling and indentation against the file 'credflow init' writes", field)
		}
		ve.Problems = append(ve.Problems, p)
	}
	return ve
}

func (c *Config) applyDefaults() {
	sv := &c.Server
	if sv.Listen == "" {
		sv.Listen = DefaultListen
	}
	if sv.MaxBodyBytes == 0 {
		sv.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if sv.ShutdownTimeout == 0 {
		sv.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if sv.LogFormat == "" {
		sv.LogFormat = "text"
	}
	if sv.LogLevel == "" {
		sv.LogLevel = "info"
	}
	if sv.DefaultMaxTokens == 0 {
		sv.DefaultMaxTokens = DefaultMaxTokens
	}
	if sv.HTTPServer == "" {
		sv.HTTPServer = "lean"
	}
	if c.Context.Retention == nil {
		d := Duration(DefaultContextRetention)
		c.Context.Retention = &d
	}
	if c.Context.Policy == "" {
		c.Context.Policy = "window"
	}
	if c.Context.CacheMB == 0 {
		c.Context.CacheMB = 64
	}
	if sv.BodyTimeout == 0 {
		sv.BodyTimeout = Duration(DefaultBodyTimeout)
	}
	if sv.IdleTimeout == 0 {
		sv.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	for name, p := range c.Providers {
		if p.MaxTokensField == "" {
			p.MaxTokensField = "max_completion_tokens"
			if p.Type == "openai-compatible" {
				p.MaxTokensField = "max_tokens"
			}
			c.Providers[name] = p
		}
	}
	if c.Ledger.FlushInterval == 0 {
		c.Ledger.FlushInterval = Duration(250 * time.Millisecond)
	}
	v := &c.Vault
	if v.Backend == "" {
		v.Backend = DefaultBackend
	}
	if v.KeychainService == "" {
		v.KeychainService = DefaultKeychainService
	}
	if v.File == "" {
		v.File = DefaultVaultFile
	}
	if v.Timeout == 0 {
		v.Timeout = Duration(DefaultKeychainTimeout)
	}
	if v.RotationPeriod == 0 {
		v.RotationPeriod = Duration(DefaultRotationPeriod)
	}
	if v.Grace == 0 {
		v.Grace = Duration(DefaultGrace)
	}
	if v.KeepRetired == nil {
		k := DefaultKeepRetired
		v.KeepRetired = &k
	}
}

// NameRE is what a secret, profile or provider name may look like.
var NameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// usdRE is a non-negative decimal amount, optionally with "$" or "usd".
var usdRE = regexp.MustCompile(`^\$?[0-9]+(\.[0-9]{1,6})?(\s*(?i:usd))?$`)

// EnvVarRE is what an environment variable name may look like.
var EnvVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) validate() []Problem {
	var probs []Problem
	add := func(msg string, path ...string) {
		probs = append(probs, Problem{Line: c.Line(path...), Field: strings.Join(path, "."), Msg: msg})
	}
	switch c.Server.LogFormat {
	case "text", "json":
	default:
		add(fmt.Sprintf("unknown log format %q; use \"text\" or \"json\"", c.Server.LogFormat), "server", "log_format")
	}
	switch c.Server.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Sprintf("unknown log level %q; use debug, info, warn or error", c.Server.LogLevel), "server", "log_level")
	}
	if c.Server.MaxBodyBytes < 1024 {
		add("must be at least 1024 bytes", "server", "max_body_bytes")
	}
	if c.Server.DefaultMaxTokens < 1 {
		add("must be at least 1", "server", "default_max_tokens")
	}
	switch c.Context.Policy {
	case "window", "summarize", "relevance":
	default:
		add(fmt.Sprintf("unknown policy %q; use window, summarize or relevance", c.Context.Policy), "context", "policy")
	}
	if c.Context.Policy == "summarize" && c.Context.Summarizer == "" {
		add("the summarize policy needs context.summarizer: the model that writes summaries", "context", "policy")
	}
	if *c.Context.Retention < 0 {
		add("must be 0 (keep forever) or more", "context", "retention")
	}
	for name, d := range c.Context.KeyRetention {
		if d < 0 {
			add("must be 0 (keep forever) or more", "context", "key_retention", name)
		}
	}
	if c.Context.CacheMB < 0 {
		add("must be 0 or more", "context", "cache_mb")
	}
	if c.Server.BodyTimeout < Duration(time.Second) {
		add("must be at least 1s", "server", "body_timeout")
	}
	if c.Server.IdleTimeout < Duration(time.Second) {
		add("must be at least 1s", "server", "idle_timeout")
	}
	switch c.Server.HTTPServer {
	case "lean", "net/http":
	default:
		add(fmt.Sprintf("unknown HTTP server %q; use \"lean\" or \"net/http\"", c.Server.HTTPServer), "server", "http_server")
	}
	switch c.Vault.Backend {
	case "keychain", "file":
	default:
		add(fmt.Sprintf("unknown backend %q; use \"keychain\" (the OS keychain) or \"file\" (an age-encrypted file)", c.Vault.Backend), "vault", "backend")
	}
	if *c.Vault.KeepRetired < 0 {
		add("must be 0 or more", "vault", "keep_retired")
	}
	for name, vars := range c.Profiles {
		if !NameRE.MatchString(name) {
			add("profile names use letters, digits, '.', '_' and '-'", "profiles", name)
		}
		for env, secret := range vars {
			if !EnvVarRE.MatchString(env) {
				add(fmt.Sprintf("%q is not a valid environment variable name", env), "profiles", name, env)
			}
			if !NameRE.MatchString(secret) {
				add(fmt.Sprintf("%q is not a valid secret name", secret), "profiles", name, env)
			}
		}
	}
	for name, p := range c.Providers {
		if !NameRE.MatchString(name) {
			add("provider names use letters, digits, '.', '_' and '-'", "providers", name)
		}
		known := false
		for _, t := range ProviderTypes {
			known = known || p.Type == t
		}
		if !known {
			add(fmt.Sprintf("unknown provider type %q; use one of %s", p.Type, strings.Join(ProviderTypes, ", ")), "providers", name, "type")
		}
		if (p.Type == "openai-compatible" || p.Type == "azure-openai") && p.BaseURL == "" {
			add(fmt.Sprintf("a %s provider needs base_url", p.Type), "providers", name)
		}
		if p.Secret != "" && !NameRE.MatchString(p.Secret) {
			add(fmt.Sprintf("%q is not a valid secret name", p.Secret), "providers", name, "secret")
		}
		if (p.Type == "openai" || p.Type == "anthropic" || p.Type == "azure-openai") && p.Secret == "" {
			add(fmt.Sprintf("a %s provider needs the name of the vault secret holding its key (secret: NAME)", p.Type), "providers", name)
		}
		if p.Type == "azure-openai" && p.APIVersion == "" {
			add("an azure-openai provider needs api_version (e.g. 2024-10-21)", "providers", name)
		}
		if p.MaxTokensField != "max_tokens" && p.MaxTokensField != "max_completion_tokens" {
			add(fmt.Sprintf("%q is not a field name; use max_tokens or max_completion_tokens", p.MaxTokensField), "providers", name, "max_tokens_field")
		}
		if p.Mock.FailStatus != 0 && (p.Mock.FailStatus < 400 || p.Mock.FailStatus > 599) {
			add("must be an HTTP error status from 400 to 599", "providers", name, "mock", "fail_status")
		}
	}
	for model, o := range c.Prices {
		for _, f := range []struct{ name, v string }{{"input", o.Input}, {"output", o.Output}, {"cache_read", o.CacheRead}, {"cache_write", o.CacheWrite}} {
			if f.v != "" && !usdRE.MatchString(strings.TrimSpace(f.v)) {
				add(fmt.Sprintf("%q is not a price: write USD per 1M tokens as a decimal, e.g. \"0.15\"", f.v), "prices", model, f.name)
			}
		}
		if o.Context < 0 || o.MaxOutput < 0 {
			add("context and max_output must not be negative", "prices", model)
		}
	}
	for i, r := range c.Routes {
		line := c.routeLine(i)
		if r.Model == "" {
			probs = append(probs, Problem{Line: line, Field: fmt.Sprintf("routes[%d].model", i), Msg: "missing; name the model (or a glob like \"claude-*\") this route matches"})
		}
		if len(r.Targets) == 0 {
			probs = append(probs, Problem{Line: line, Field: fmt.Sprintf("routes[%d].targets", i), Msg: "missing; list one or more providers, e.g. [openai] or [anthropic/claude-sonnet-4-5]"})
		}
		for _, t := range r.Targets {
			prov, _, _ := strings.Cut(t, "/")
			if _, ok := c.Providers[prov]; !ok {
				probs = append(probs, Problem{Line: line, Field: fmt.Sprintf("routes[%d].targets", i), Msg: fmt.Sprintf("target %q names provider %q, which is not defined under providers:", t, prov)})
			}
		}
		if r.Translate != "" && r.Translate != TranslateStrict {
			probs = append(probs, Problem{Line: c.routeKeyLine(i, "translate"), Field: fmt.Sprintf("routes[%d].translate", i),
				Msg: fmt.Sprintf("unknown translate mode %q; use \"strict\" (refuse every field the other API cannot take, hints included) or leave it out (drop hints and report them in the x-credflow-dropped header)", r.Translate)})
		}
	}
	return append(probs, c.validateGuard()...)
}

// routeLine finds the line of the i-th route.
func (c *Config) routeLine(i int) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 1
	}
	n := c.root.Content[0]
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "routes" {
			seq := n.Content[j+1]
			if seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
				return seq.Content[i].Line
			}
			return n.Content[j].Line
		}
	}
	return 1
}

// routeKeyLine finds the line of key in the i-th route, else the route's.
func (c *Config) routeKeyLine(i int, key string) int {
	line := c.routeLine(i)
	if c.root == nil || len(c.root.Content) == 0 {
		return line
	}
	n := c.root.Content[0]
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value != "routes" {
			continue
		}
		seq := n.Content[j+1]
		if seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
			break
		}
		r := seq.Content[i]
		for k := 0; k+1 < len(r.Content); k += 2 {
			if r.Content[k].Value == key {
				return r.Content[k].Line
			}
		}
	}
	return line
}

// Line finds the line of the node at path (mapping keys), falling back to
// the nearest ancestor that exists, so every problem points somewhere.
func (c *Config) Line(path ...string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 1
	}
	return yamlx.Line(c.root.Content[0], path...)
}

// UnmarshalYAML accepts "90d", "12h" and friends.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the human form back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Paths says where credflow keeps its files.
type Paths struct {
	Config         string
	ConfigExplicit bool
	DataDir        string
}

// ResolvePaths applies flag > environment > XDG default. getenv is injected
// so tests never touch the real home directory.
func ResolvePaths(configFlag, dataDirFlag string, getenv func(string) string) (Paths, error) {
	var p Paths
	switch {
	case configFlag != "":
		p.Config, p.ConfigExplicit = configFlag, true
	case getenv("CREDFLOW_CONFIG") != "":
		p.Config, p.ConfigExplicit = getenv("CREDFLOW_CONFIG"), true
	default:
		base := getenv("XDG_CONFIG_HOME")
		if base == "" {
			home, err := home(getenv)
			if err != nil {
				return p, err
			}
			base = filepath.Join(home, ".config")
		}
		p.Config = filepath.Join(base, "credflow", "config.yaml")
	}
	switch {
	case dataDirFlag != "":
		p.DataDir = dataDirFlag
	case getenv("CREDFLOW_DATA_DIR") != "":
		p.DataDir = getenv("CREDFLOW_DATA_DIR")
	default:
		base := getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := home(getenv)
			if err != nil {
				return p, err
			}
			base = filepath.Join(home, ".local", "share")
		}
		p.DataDir = filepath.Join(base, "credflow")
	}
	var err error
	if p.Config, err = filepath.Abs(p.Config); err != nil {
		return p, err
	}
	p.DataDir, err = filepath.Abs(p.DataDir)
	return p, err
}

func home(getenv func(string) string) (string, error) {
	if h := getenv("HOME"); h != "" {
		return h, nil
	}
	if h := getenv("USERPROFILE"); h != "" {
		return h, nil
	}
	return "", errors.New("cannot find your home directory: set HOME, or pass --config and --data-dir")
}

// EnsureDataDir creates the data directory with mode 0700 and tightens an
// existing one that is wider.
func EnsureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("set permissions on data directory %s: %w", dir, err)
	}
	return nil
}

// VaultFilePath resolves the file backend's path against the data dir.
func (c *Config) VaultFilePath(dataDir string) string {
	if filepath.IsAbs(c.Vault.File) {
		return c.Vault.File
	}
	return filepath.Join(dataDir, c.Vault.File)
}

// Parse reads a config from bytes; path names it in messages.
func Parse(data []byte, path string) (*Config, error) { return parse(data, path) }
