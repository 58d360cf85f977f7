package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/config"
)

const day = 24 * time.Hour

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string // substring; empty means success
	}{
		{in: "90d", want: 90 * day},
		{in: "2w", want: 14 * day},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1w2d", want: 9 * day},
		{in: "30m", want: 30 * time.Minute},
		{in: "12h", want: 12 * time.Hour},
		{in: " 7d ", want: 7 * day},
		{in: "0", want: 0},
		{in: "", wantErr: "empty duration"},
		{in: "   ", wantErr: "empty duration"},
		{in: "-1h", wantErr: "must not be negative"},
		{in: "-1d", wantErr: "invalid duration"},
		{in: "5x", wantErr: "invalid duration \"5x\""},
		{in: "d", wantErr: "invalid duration \"d\""},
		{in: "w", wantErr: "invalid duration"},
		{in: "1.5d", wantErr: "invalid duration"},
		{in: "2d1w", wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		got, err := config.ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %s; want error containing %q", tt.in, got, tt.wantErr)
			} else if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) error %q; want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tt.in, err)
		} else if got != tt.want {
			t.Errorf("ParseDuration(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{90 * day, "90d"},
		{day, "1d"},
		{14 * day, "14d"},
		{36 * time.Hour, "36h0m0s"},
		{12 * time.Hour, "12h0m0s"},
		{30 * time.Minute, "30m0s"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := config.Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%s).String() = %q; want %q", tt.d, got, tt.want)
		}
		// What String writes, ParseDuration reads back.
		if back, err := config.ParseDuration(config.Duration(tt.d).String()); err != nil || back != tt.d {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", config.Duration(tt.d).String(), back, err, tt.d)
		}
	}
}

func TestDefault(t *testing.T) {
	c := config.Default()
	if c.Vault.Backend != "keychain" {
		t.Errorf("backend %q; want keychain", c.Vault.Backend)
	}
	if c.Vault.Grace.Std() != 24*time.Hour {
		t.Errorf("grace %s; want 24h", c.Vault.Grace)
	}
	if c.Vault.KeepRetired == nil || *c.Vault.KeepRetired != 3 {
		t.Errorf("keep_retired %v; want 3", c.Vault.KeepRetired)
	}
	if c.Vault.RotationPeriod.Std() != 90*day {
		t.Errorf("rotation_period %s; want 90d", c.Vault.RotationPeriod)
	}
	if p, ok := c.Providers["mock"]; !ok || p.Type != "mock" {
		t.Errorf("providers[mock] = %+v, %v; want a mock provider", p, ok)
	}
	if c.Path != "" {
		t.Errorf("Path %q; want empty for embedded defaults", c.Path)
	}
}

func TestDefaultFileParsesAndValidates(t *testing.T) {
	data := config.DefaultFile()
	if len(data) == 0 {
		t.Fatal("DefaultFile is empty")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, true)
	if err != nil {
		t.Fatalf("the file 'credflow init' writes does not load: %v", err)
	}
	if c.Path != path {
		t.Errorf("Path %q; want %q", c.Path, path)
	}
	d := config.Default()
	if c.Vault.Backend != d.Vault.Backend || c.Vault.Grace != d.Vault.Grace ||
		c.Vault.RotationPeriod != d.Vault.RotationPeriod || *c.Vault.KeepRetired != *d.Vault.KeepRetired {
		t.Errorf("loaded default file %+v differs from Default() %+v", c.Vault, d.Vault)
	}
	// DefaultFile hands out a copy.
	data[0] ^= 0xff
	if config.DefaultFile()[0] == data[0] {
		t.Error("DefaultFile returns the embedded slice itself; a caller can corrupt it")
	}
}

func TestLoadMissingDefaultPath(t *testing.T) {
	c, err := config.Load(filepath.Join(t.TempDir(), "nope", "config.yaml"), false)
	if err != nil {
		t.Fatalf("Load of a missing default path: %v", err)
	}
	if c.Vault.Backend != "keychain" || c.Vault.Grace.Std() != 24*time.Hour {
		t.Errorf("got %+v; want the defaults", c.Vault)
	}
}

func TestLoadMissingExplicitPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(path, true)
	if !errors.Is(err, config.ErrNotExist) {
		t.Fatalf("Load of a missing explicit path: error %v; want ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func problems(t *testing.T, path string) []config.Problem {
	t.Helper()
	_, err := config.Load(path, true)
	if err == nil {
		t.Fatal("Load succeeded; want a validation error")
	}
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T %v; want *config.ValidationError", err, err)
	}
	if ve.Path != path {
		t.Errorf("ValidationError.Path %q; want %q", ve.Path, path)
	}
	return ve.Problems
}

func TestValidationProblemLines(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		line     int
		field    string
		contains string
	}{
		{
			name: "bad max_tokens_field",
			yaml: "providers:\n" +
				"  local:\n" +
				"    type: openai-compatible\n" +
				"    base_url: http://127.0.0.1:11434/v1\n" +
				"    max_tokens_field: n_predict\n",
			line: 5, field: "providers.local.max_tokens_field", contains: `"n_predict" is not a field name; use max_tokens or max_completion_tokens`,
		},
		{
			name: "bad http_server",
			yaml: "server:\n" +
				"  listen: 127.0.0.1:6767\n" +
				"  http_server: fasthttp\n",
			line: 3, field: "server.http_server", contains: `unknown HTTP server "fasthttp"; use "lean" or "net/http"`,
		},
		{
			name: "bad backend",
			yaml: "# comment\n" +
				"vault:\n" +
				"  grace: 1h\n" +
				"  backend: cloud\n",
			line: 4, field: "vault.backend", contains: `unknown backend "cloud"`,
		},
		{
			name: "negative keep_retired",
			yaml: "vault:\n" +
				"  backend: file\n" +
				"\n" +
				"  keep_retired: -1\n",
			line: 4, field: "vault.keep_retired", contains: "must be 0 or more",
		},
		{
			name: "bad env var name in a profile",
			yaml: "profiles:\n" +
				"  dev:\n" +
				"    OPENAI_API_KEY: openai\n" +
				"    BAD-NAME: anthropic\n",
			line: 4, field: "profiles.dev.BAD-NAME", contains: `"BAD-NAME" is not a valid environment variable name`,
		},
		{
			name: "bad secret name in a profile",
			yaml: "profiles:\n" +
				"  dev:\n" +
				"    OPENAI_API_KEY: 'no spaces'\n",
			line: 3, field: "profiles.dev.OPENAI_API_KEY", contains: `"no spaces" is not a valid secret name`,
		},
		{
			name: "unknown provider type",
			yaml: "providers:\n" +
				"  mock:\n" +
				"    type: mock\n" +
				"  weird:\n" +
				"    type: telepathy\n",
			line: 5, field: "providers.weird.type", contains: `unknown provider type "telepathy"`,
		},
		{
			name: "openai-compatible without base_url",
			yaml: "providers:\n" +
				"  mock:\n" +
				"    type: mock\n" +
				"  local:\n" +
				"    type: openai-compatible\n",
			line: 4, field: "providers.local", contains: "needs base_url",
		},
		{
			name: "unknown field",
			yaml: "vault:\n" +
				"  backend: file\n" +
				"  colour: blue\n",
			line: 3, contains: `unknown setting "colour"`,
		},
		{
			name: "bad duration",
			yaml: "vault:\n" +
				"  grace: soon\n",
			line: 2, contains: `invalid duration "soon"`,
		},
		{
			name: "unknown translate mode",
			yaml: "providers:\n" +
				"  mock: {type: mock}\n" +
				"routes:\n" +
				"  - model: mock*\n" +
				"    targets: [mock]\n" +
				"  - model: gpt-*\n" +
				"    targets: [mock]\n" +
				"    translate: lenient\n",
			line: 8, field: "routes[1].translate", contains: `unknown translate mode "lenient"; use "strict"`,
		},
		{
			name: "reasoning not a boolean",
			yaml: "prices:\n" +
				"  ollama/qwen3:\n" +
				"    input: \"0\"\n" +
				"    reasoning: sometimes\n",
			line: 4, contains: "sometimes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := problems(t, writeConfig(t, tt.yaml))
			if len(probs) != 1 {
				t.Fatalf("got %d problems %+v; want 1", len(probs), probs)
			}
			p := probs[0]
			if p.Line != tt.line {
				t.Errorf("line %d; want %d (%+v)", p.Line, tt.line, p)
			}
			if tt.field != "" && p.Field != tt.field {
				t.Errorf("field %q; want %q", p.Field, tt.field)
			}
			if !strings.Contains(p.Msg, tt.contains) {
				t.Errorf("message %q; want it to contain %q", p.Msg, tt.contains)
			}
		})
	}
}

func TestValidationReportsAllProblemsSortedByLine(t *testing.T) {
	body := "" +
		"providers:\n" + // 1
		"  zeta:\n" + // 2
		"    type: telepathy\n" + // 3
		"  alpha:\n" + // 4
		"    type: openai-compatible\n" + // 5
		"profiles:\n" + // 6
		"  zz:\n" + // 7
		"    BAD-ONE: openai\n" + // 8
		"  aa:\n" + // 9
		"    9BAD: openai\n" + // 10
		"vault:\n" + // 11
		"  keep_retired: -2\n" + // 12
		"  backend: cloud\n" // 13
	path := writeConfig(t, body)
	wantLines := []int{3, 4, 8, 10, 12, 13}
	// Maps are iterated in random order; the output must not be.
	for range 20 {
		probs := problems(t, path)
		var lines []int
		for _, p := range probs {
			lines = append(lines, p.Line)
		}
		if len(lines) != len(wantLines) {
			t.Fatalf("problems %+v; want lines %v", probs, wantLines)
		}
		for i := range lines {
			if lines[i] != wantLines[i] {
				t.Fatalf("problem lines %v; want %v", lines, wantLines)
			}
		}
	}
	_, err := config.Load(path, true)
	msg := err.Error()
	if n := strings.Count(msg, "\n") + 1; n != len(wantLines) {
		t.Errorf("error has %d lines; want %d:\n%s", n, len(wantLines), msg)
	}
	if !strings.HasPrefix(msg, path+":3: providers.zeta.type: ") {
		t.Errorf("error does not start with file:line: field: ...\n%s", msg)
	}
	if !strings.Contains(msg, path+":13: vault.backend: unknown backend") {
		t.Errorf("error lacks the backend problem at line 13:\n%s", msg)
	}
}

func TestCommentsOnlyFileIsValid(t *testing.T) {
	for name, body := range map[string]string{
		"comments": "# nothing here yet\n\n   # indented comment\n",
		"empty":    "",
		"blank":    "\n\n  \n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := config.Load(writeConfig(t, body), true)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Vault.Backend != "keychain" || c.Vault.KeepRetired == nil || *c.Vault.KeepRetired != 3 {
				t.Errorf("got %+v; want defaults applied", c.Vault)
			}
		})
	}
}

func TestExplicitZeroKeepRetiredIsKept(t *testing.T) {
	c, err := config.Load(writeConfig(t, "vault:\n  keep_retired: 0\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Vault.KeepRetired != 0 {
		t.Errorf("keep_retired %d; want the explicit 0, not the default", *c.Vault.KeepRetired)
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolvePaths(t *testing.T) {
	tests := []struct {
		name                 string
		configFlag, dataFlag string
		env                  map[string]string
		config, dataDir      string
		explicit             bool
	}{
		{
			name:       "flags win",
			configFlag: "/flag/config.yaml", dataFlag: "/flag/data",
			env: map[string]string{
				"CREDFLOW_CONFIG": "/env/config.yaml", "CREDFLOW_DATA_DIR": "/env/data",
				"XDG_CONFIG_HOME": "/xdg/config", "XDG_DATA_HOME": "/xdg/data", "HOME": "/home/u",
			},
			config: "/flag/config.yaml", dataDir: "/flag/data", explicit: true,
		},
		{
			name: "CREDFLOW_ env beats XDG",
			env: map[string]string{
				"CREDFLOW_CONFIG": "/env/config.yaml", "CREDFLOW_DATA_DIR": "/env/data",
				"XDG_CONFIG_HOME": "/xdg/config", "XDG_DATA_HOME": "/xdg/data", "HOME": "/home/u",
			},
			config: "/env/config.yaml", dataDir: "/env/data", explicit: true,
		},
		{
			name: "XDG beats HOME",
			env: map[string]string{
				"XDG_CONFIG_HOME": "/xdg/config", "XDG_DATA_HOME": "/xdg/data", "HOME": "/home/u",
			},
			config: "/xdg/config/credflow/config.yaml", dataDir: "/xdg/data/credflow",
		},
		{
			name:   "HOME last",
			env:    map[string]string{"HOME": "/home/u"},
			config: "/home/u/.config/credflow/config.yaml", dataDir: "/home/u/.local/share/credflow",
		},
		{
			name:       "config flag with data from env",
			configFlag: "/flag/config.yaml",
			env:        map[string]string{"CREDFLOW_DATA_DIR": "/env/data", "HOME": "/home/u"},
			config:     "/flag/config.yaml", dataDir: "/env/data", explicit: true,
		},
		{
			name:     "data flag, config from HOME",
			dataFlag: "/flag/data",
			env:      map[string]string{"HOME": "/home/u"},
			config:   "/home/u/.config/credflow/config.yaml", dataDir: "/flag/data",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := config.ResolvePaths(tt.configFlag, tt.dataFlag, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if p.Config != tt.config || p.DataDir != tt.dataDir || p.ConfigExplicit != tt.explicit {
				t.Errorf("got %+v; want Config %q, DataDir %q, ConfigExplicit %v", p, tt.config, tt.dataDir, tt.explicit)
			}
		})
	}
}

func TestResolvePathsRelativeFlagsBecomeAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.ResolvePaths("c.yaml", "data", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Config != filepath.Join(wd, "c.yaml") || p.DataDir != filepath.Join(wd, "data") {
		t.Errorf("got %+v; want paths under %s", p, wd)
	}
}

func TestResolvePathsWithoutHome(t *testing.T) {
	if _, err := config.ResolvePaths("", "", env(nil)); err == nil || !strings.Contains(err.Error(), "home directory") {
		t.Errorf("error %v; want one about the home directory", err)
	}
	// With both flags no home directory is needed.
	if _, err := config.ResolvePaths("/c.yaml", "/d", env(nil)); err != nil {
		t.Errorf("with both flags: %v", err)
	}
}

func TestEnsureDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "credflow")
	if err := config.EnsureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new data dir: %v, %v; want a directory with mode 0700", fi.Mode(), err)
	}

	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := config.EnsureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing 0755 data dir now has mode %#o; want 0700", fi.Mode().Perm())
	}
}

func TestVaultFilePath(t *testing.T) {
	c := config.Default()
	if got := c.VaultFilePath("/data"); got != filepath.Join("/data", "vault.age") {
		t.Errorf("relative: %q", got)
	}
	c.Vault.File = "/elsewhere/v.age"
	if got := c.VaultFilePath("/data"); got != "/elsewhere/v.age" {
		t.Errorf("absolute: %q", got)
	}
}

// A route's translate mode and a price's reasoning flag parse.
func TestTranslateAndReasoningParse(t *testing.T) {
	cfg, err := config.Parse([]byte("providers:\n  mock: {type: mock}\nroutes:\n  - model: gpt-*\n    targets: [mock]\n    translate: strict\n"+
		"prices:\n  ollama/qwen3: {reasoning: true}\n  gpt-4o: {input: \"1\"}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var r *config.Route
	for i := range cfg.Routes {
		if cfg.Routes[i].Model == "gpt-*" {
			r = &cfg.Routes[i]
		}
	}
	if r == nil || r.Translate != config.TranslateStrict {
		t.Errorf("routes = %+v", cfg.Routes)
	}
	if q := cfg.Prices["ollama/qwen3"].Reasoning; q == nil || !*q {
		t.Errorf("ollama/qwen3 reasoning = %v", q)
	}
	if q := cfg.Prices["gpt-4o"].Reasoning; q != nil {
		t.Errorf("gpt-4o reasoning = %v, want unset", *q)
	}
}
