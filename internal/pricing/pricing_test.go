package pricing

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseUSDExact(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Micros
	}{
		{"0.075", 75_000}, // 0.075 × 1e6 is 74999.99999999999 in float64
		{"0.1", 100_000},
		{"0.0375", 37_500},
		{"0.0028", 2_800},
		{"0.003625", 3_625},
		{"15", 15_000_000},
		{"15.0", 15_000_000},
		{"2.5", 2_500_000},
		{"0.15", 150_000},
		{"0.29", 290_000},  // 0.29 × 1e6 = 289999.99999999994 in float64
		{"0.57", 570_000},  // 569999.9999999999
		{"1.1", 1_100_000}, // 1100000.0000000002
		{"0.000001", 1},
		{"0.0000010", 1},
		{"1e-6", 1},
		{"2.5e-1", 250_000},
		{"1.25E2", 125_000_000},
		{"1e+2", 100_000_000},
		{"0", 0},
		{"0.0", 0},
		{"0e-99", 0},
		{"00.50", 500_000},
		{".5", 500_000},
		{"5.", 5_000_000},
		{"+3", 3_000_000},
		{"5usd", 5_000_000},
		{"5 USD", 5_000_000},
		{" $0.50 ", 500_000},
		{"$5usd", 5_000_000},
		{"9223372036854.775807", math.MaxInt64},
	} {
		got, err := ParseUSD(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseUSDErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{"1e-7", errPrecision}, // finer than a micro-dollar: not silently zero
		{"0.0000001", errPrecision},
		{"0.0000005", errPrecision},
		{"0.09999999999999999", errPrecision}, // float noise: the generator rounds it, ParseUSD does not
		{"1e-99999", errPrecision},
		{"-1", errNegative},
		{"-0.5usd", errNegative},
		{"9223372036854.775808", errRange},
		{"1e99999", errRange},
		{"", errSyntax},
		{"usd", errSyntax},
		{".", errSyntax},
		{"1.2.3", errSyntax},
		{"1e", errSyntax},
		{"1e+", errSyntax},
		{"1_000", errSyntax},
		{"1,5", errSyntax},
		{"5 eur", errSyntax},
		{"NaN", errSyntax},
		{"Inf", errSyntax},
		{"0x10", errSyntax},
		{"--1", errSyntax},
	} {
		got, err := ParseUSD(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("ParseUSD(%q) = %d, %v; want error %v", c.in, got, err, c.want)
		}
	}
}

func TestMicrosString(t *testing.T) {
	for _, c := range []struct {
		m          Micros
		str, plain string
	}{
		{0, "$0.00", "0"},
		{1, "$0.000001", "0.000001"},
		{1234, "$0.001234", "0.001234"},
		{3085, "$0.003085", "0.003085"},
		{75_000, "$0.075", "0.075"},
		{100_000, "$0.10", "0.1"},
		{2_500_000, "$2.50", "2.5"},
		{15_000_000, "$15.00", "15"},
		{1_234_567_891, "$1234.567891", "1234.567891"},
		{-1_200_000, "-$1.20", "-1.2"},
		{math.MaxInt64, "$9223372036854.775807", "9223372036854.775807"},
		{math.MinInt64, "-$9223372036854.775808", "-9223372036854.775808"},
	} {
		if got := c.m.String(); got != c.str {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(c.m), got, c.str)
		}
		if got := c.m.Decimal(); got != c.plain {
			t.Errorf("Micros(%d).Decimal() = %q, want %q", int64(c.m), got, c.plain)
		}
		if c.m >= 0 {
			if back, err := ParseUSD(c.str); err != nil || back != c.m {
				t.Errorf("ParseUSD(%q) = %d, %v; want %d", c.str, back, err, int64(c.m))
			}
		}
	}
}

func flat(in, out string) Price {
	p := Price{}
	var err error
	if in != "" {
		p.Input, err = ParseUSD(in)
		p.HasInput = err == nil
	}
	if out != "" {
		p.Output, err = ParseUSD(out)
		p.HasOutput = err == nil
	}
	return p
}

func TestCostArithmetic(t *testing.T) {
	gpt4o := Price{Input: 2_500_000, Output: 10_000_000, CacheRead: 1_250_000, HasInput: true, HasOutput: true, HasCacheRead: true}
	for _, c := range []struct {
		name string
		p    Price
		u    Usage
		want Micros
	}{
		{"1234 input at $2.50/1M", gpt4o, Usage{Input: 1234}, 3085},
		{"1M input at $2.50/1M", gpt4o, Usage{Input: 1_000_000}, 2_500_000},
		{"output at $10/1M", gpt4o, Usage{Output: 777}, 7770},
		{"cache reads at cache price", gpt4o, Usage{CacheRead: 1000}, 1250},
		{"cache writes without a cache-write price at input price", gpt4o, Usage{CacheWrite: 1000}, 2500},
		{"all parts", gpt4o, Usage{Input: 1234, Output: 777, CacheRead: 1000, CacheWrite: 1000}, 3085 + 7770 + 1250 + 2500},
		{"cache reads without a cache price at input price", flat("0.15", "0.6"), Usage{CacheRead: 10_000}, 1500},
		// Rounding: the exact total is rounded once, half up.
		{"0.15 µ$ rounds down to 0", flat("0.15", "0.6"), Usage{Input: 1}, 0},
		{"0.45 µ$ rounds down", flat("0.15", "0.6"), Usage{Input: 3}, 0},
		{"0.6 µ$ rounds up", flat("0.15", "0.6"), Usage{Input: 4}, 1},
		{"exactly half rounds up", flat("0.5", "0.5"), Usage{Input: 1}, 1},
		{"2.5 µ$ rounds up to 3", flat("0.5", "0.5"), Usage{Input: 5}, 3},
		{"just under half rounds down", flat("0.499999", "1"), Usage{Input: 1}, 0},
		{"parts summed before rounding", flat("0.3", "0.3"), Usage{Input: 1, Output: 1}, 1}, // 0.3+0.3, not 0+0
		// 1e-12 USD per token: parts add up exactly before rounding.
		{"sub-micro prices add up exactly", flat("0.000001", "0.000001"), Usage{Input: 999_999, Output: 1}, 1},
		{"0.5 µ$ from sub-micro prices", flat("1", "0.000001"), Usage{Output: 500_000}, 1},
		{"0.499999 µ$ from sub-micro prices", flat("1", "0.000001"), Usage{Output: 499_999}, 0},
		{"known zero price", flat("0", "0"), Usage{Input: 1_000_000, Output: 1_000_000}, 0},
		{"no usage", gpt4o, Usage{}, 0},
		{"$1M of tokens", flat("1000", "1000"), Usage{Input: 1_000_000_000}, 1_000_000 * MicrosPerUSD},
		{"near the int64 limit", flat("1000", "1000"), Usage{Input: 9_000_000_000, Output: 9_000_000_000}, 18_000_000 * MicrosPerUSD},
	} {
		got, ok := c.p.Cost(c.u)
		if !ok || got != c.want {
			t.Errorf("%s: Cost(%+v) = %d, %v; want %d", c.name, c.u, got, ok, c.want)
		}
	}
}

func TestCostUnknown(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Price
		u    Usage
	}{
		{"zero Price", Price{}, Usage{Input: 1}},
		{"zero Price, no usage", Price{}, Usage{}},
		{"output price unknown", flat("1", ""), Usage{Input: 1, Output: 1}},
		{"input price unknown", flat("", "1"), Usage{Input: 1}},
		{"cache without cache or input price", flat("", "1"), Usage{CacheRead: 1}},
		{"negative count", flat("1", "1"), Usage{Input: -1}},
		{"overflow in a product", flat("1000", "1000"), Usage{Input: math.MaxInt64}},
		{"overflow in the sum", flat("1000", "1000"), Usage{Input: 10_000_000_000, Output: 10_000_000_000}},
	} {
		if got, ok := c.p.Cost(c.u); ok {
			t.Errorf("%s: Cost(%+v) = %d, true; want unknown", c.name, c.u, got)
		}
	}
	// Only the parts used need a price.
	if got, ok := flat("1", "").Cost(Usage{Input: 1000}); !ok || got != 1000 {
		t.Errorf("input-only price: %d, %v", got, ok)
	}
}

func TestCostTiers(t *testing.T) {
	p := Price{
		Input: 2_500_000, Output: 15_000_000, CacheRead: 250_000, HasInput: true, HasOutput: true, HasCacheRead: true,
		Tiers: []Tier{{Above: 272_000, Input: 5_000_000, Output: 22_500_000, HasInput: true, HasOutput: true}},
	}
	for _, c := range []struct {
		u    Usage
		want Micros
	}{
		{Usage{Input: 272_000, Output: 1000}, 680_000 + 15_000},
		// One token more and the whole request is at the tier's prices;
		// the tier states no cache price, so the base one stays.
		{Usage{Input: 272_001, Output: 1000}, 1_360_005 + 22_500},
		{Usage{Input: 1, CacheRead: 272_000, Output: 1000}, 5 + 68_000 + 22_500},
	} {
		if got, ok := p.Cost(c.u); !ok || got != c.want {
			t.Errorf("Cost(%+v) = %d, %v; want %d", c.u, got, ok, c.want)
		}
	}
}

func TestEmbeddedTable(t *testing.T) {
	tab := Default()
	if len(embedded) > 400<<10 {
		t.Errorf("prices.json is %d bytes; keep it under 400 KB", len(embedded))
	}
	if !strings.Contains(tab.Source(), "models.dev") {
		t.Errorf("Source() = %q", tab.Source())
	}
	want := []string{"anthropic", "azure", "deepseek", "fireworks-ai", "google", "groq", "mistral", "openai", "openrouter", "togetherai", "xai"}
	have := map[string]bool{}
	for _, p := range tab.Providers() {
		have[p] = true
		if len(tab.Models(p)) == 0 {
			t.Errorf("provider %s has no models", p)
		}
	}
	for _, p := range want {
		if !have[p] {
			t.Errorf("provider %s missing from the table (have %v)", p, tab.Providers())
		}
	}
	if tab.Models("nope") != nil {
		t.Error("Models of an unknown provider")
	}
}

// Values copied from ../shared/data/models-dev.json (snapshot 2026-07-02).
func TestKnownPrices(t *testing.T) {
	tab := Default()
	for _, c := range []struct {
		provider, model                string
		in, out, cacheRead, cacheWrite Micros // -1: unknown
		context, maxOutput             int
	}{
		{"openai", "gpt-4o", 2_500_000, 10_000_000, 1_250_000, -1, 128_000, 16_384},
		{"openai", "gpt-4o-mini", 150_000, 600_000, 75_000, -1, 128_000, 16_384},
		{"openai", "gpt-4.1-nano", 100_000, 400_000, 25_000, -1, 1_047_576, 32_768},
		{"openai", "o1-pro", 150_000_000, 600_000_000, -1, -1, 200_000, 100_000},
		{"openai", "text-embedding-3-small", 20_000, 0, -1, -1, 8191, 1536},
		{"anthropic", "claude-sonnet-4-5", 3_000_000, 15_000_000, 300_000, 3_750_000, 200_000, 64_000},
		{"anthropic", "claude-haiku-4-5", 1_000_000, 5_000_000, 100_000, 1_250_000, 200_000, 64_000},
		{"anthropic", "claude-opus-4-1", 15_000_000, 75_000_000, 1_500_000, 18_750_000, 200_000, 32_000},
		{"google", "gemini-2.0-flash-lite", 75_000, 300_000, -1, -1, 1_048_576, 8192},
		{"deepseek", "deepseek-v4-pro", 435_000, 870_000, 3_625, -1, 1_000_000, 384_000},
		{"deepseek", "deepseek-chat", 140_000, 280_000, 2_800, -1, 1_000_000, 384_000},
		{"groq", "openai/gpt-oss-20b", 75_000, 300_000, 37_500, -1, 131_072, 65_536},
		{"groq", "llama-3.3-70b-versatile", 590_000, 790_000, -1, -1, 131_072, 32_768},
		{"togetherai", "Qwen/Qwen3.7-Max", 1_250_000, 3_750_000, 130_000, -1, 0, 0}, // cache price spelt cached_input upstream
		{"zai", "glm-4.5-flash", 0, 0, 0, 0, 131_072, 98_304},                       // free: a known zero
	} {
		p, ok := tab.Lookup(c.provider, c.model)
		if !ok {
			t.Errorf("%s/%s: not found", c.provider, c.model)
			continue
		}
		check := func(what string, got Micros, has bool, want Micros) {
			if want < 0 {
				if has {
					t.Errorf("%s/%s %s = %d, want unknown", c.provider, c.model, what, got)
				}
			} else if !has || got != want {
				t.Errorf("%s/%s %s = %d (known %v), want %d", c.provider, c.model, what, got, has, want)
			}
		}
		check("input", p.Input, p.HasInput, c.in)
		check("output", p.Output, p.HasOutput, c.out)
		check("cache_read", p.CacheRead, p.HasCacheRead, c.cacheRead)
		check("cache_write", p.CacheWrite, p.HasCacheWrite, c.cacheWrite)
		if c.context != 0 && (p.Context != c.context || p.MaxOutput != c.maxOutput) {
			t.Errorf("%s/%s limits = %d/%d, want %d/%d", c.provider, c.model, p.Context, p.MaxOutput, c.context, c.maxOutput)
		}
		if p.Provider != c.provider || p.Model != c.model || p.Overridden {
			t.Errorf("%s/%s matched %s/%s (overridden %v)", c.provider, c.model, p.Provider, p.Model, p.Overridden)
		}
	}

	p, _ := tab.Lookup("openai", "gpt-5.4")
	if len(p.Tiers) != 1 || p.Tiers[0].Above != 272_000 || p.Tiers[0].Input != 5_000_000 || p.Tiers[0].Output != 22_500_000 ||
		p.Tiers[0].CacheRead != 500_000 || p.MaxInput != 922_000 || p.Context != 1_050_000 {
		t.Errorf("gpt-5.4 = %+v", p)
	}
	// A real request: 1234 uncached + 2000 cached prompt tokens, 500 output.
	p, _ = tab.Lookup("openai", "gpt-4o")
	if got, ok := p.Cost(Usage{Input: 1234, CacheRead: 2000, Output: 500}); !ok || got != 3085+2500+5000 {
		t.Errorf("gpt-4o cost = %d, %v", got, ok)
	}
	p, _ = tab.Lookup("anthropic", "claude-sonnet-4-5")
	if got, ok := p.Cost(Usage{Input: 10, CacheWrite: 20_000, CacheRead: 30_000, Output: 1000}); !ok || got != 30+75_000+9_000+15_000 {
		t.Errorf("claude-sonnet-4-5 cost = %d, %v", got, ok)
	}
}

func TestLookupFallbacks(t *testing.T) {
	tab := Default()
	for _, c := range []struct {
		provider, model     string
		wantProv, wantModel string
		wantIn              Micros
	}{
		// A dated id in the table is used as is, even when it differs.
		{"openai", "gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13", 5_000_000},
		{"openai", "gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06", 2_500_000},
		// Absent dated ids fall back to the undated one.
		{"openai", "gpt-4o-2099-01-01", "openai", "gpt-4o", 2_500_000},
		{"anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929", 3_000_000},
		{"anthropic", "claude-sonnet-4-5-20991231", "anthropic", "claude-sonnet-4-5", 3_000_000},
		{"anthropic", "claude-sonnet-4-5@20250929", "anthropic", "claude-sonnet-4-5", 3_000_000},
		{"anthropic", "Claude-Sonnet-4-5", "anthropic", "claude-sonnet-4-5", 3_000_000},
		// Provider aliases and credflow types.
		{"azure-openai", "gpt-4o", "azure", "gpt-4o", 2_500_000},
		{"gemini", "gemini-2.0-flash-lite", "google", "gemini-2.0-flash-lite", 75_000},
		{"together", "openai/gpt-oss-20b", "togetherai", "openai/gpt-oss-20b", 0},
		{"OpenAI", "gpt-4o", "openai", "gpt-4o", 2_500_000},
		// A base URL names the provider by its host.
		{"https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", 590_000},
		// provider/model ids.
		{"openai", "openai/gpt-4o", "openai", "gpt-4o", 2_500_000},
		{"openrouter", "anthropic/claude-sonnet-4.5", "openrouter", "anthropic/claude-sonnet-4.5", 3_000_000},
		{"openrouter", "anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", 3_000_000},
		{"openrouter", "gpt-4o-mini", "openrouter", "openai/gpt-4o-mini", 150_000},
		{"fireworks", "gpt-oss-120b", "fireworks-ai", "accounts/fireworks/models/gpt-oss-120b", 0},
		// Unknown provider: search every provider, makers first.
		{"", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", 3_000_000},
		{"openai-compatible", "gpt-4o-2099-01-01", "openai", "gpt-4o", 2_500_000},
		{"", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", 590_000},
		{"", "anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5", 1_000_000},
		{"https://llm.example.com/v1", "deepseek-chat", "deepseek", "deepseek-chat", 140_000},
	} {
		p, ok := tab.Lookup(c.provider, c.model)
		if !ok {
			t.Errorf("Lookup(%q, %q): not found", c.provider, c.model)
			continue
		}
		if p.Provider != c.wantProv || p.Model != c.wantModel {
			t.Errorf("Lookup(%q, %q) matched %s/%s, want %s/%s", c.provider, c.model, p.Provider, p.Model, c.wantProv, c.wantModel)
		}
		if c.wantIn != 0 && p.Input != c.wantIn {
			t.Errorf("Lookup(%q, %q).Input = %d, want %d", c.provider, c.model, p.Input, c.wantIn)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	tab := Default()
	for _, c := range []struct{ provider, model string }{
		{"openai", "gpt-7-ultra"},
		{"openai", ""},
		{"", "no-such-model"},
		{"anthropic", "gpt-4o"}, // known elsewhere, not at this provider
		{"mock", "mock-echo"},   // the built-in mock: no price
		{"mock", "gpt-4o"},      // not even for a real model name
		{Local, "gpt-4o"},       // a local server
		{"http://127.0.0.1:11434/v1", "gpt-4o"},
		{"http://localhost:8080/v1", "openai/gpt-oss-20b"},
		{"groq", "groq/compound"},     // listed with limits but no price
		{"openai", "gpt-4o-2024"},     // not a date suffix
		{"xai", "grok-imagine-video"}, // no price
	} {
		if p, ok := tab.Lookup(c.provider, c.model); ok {
			t.Errorf("Lookup(%q, %q) = %+v; want unknown", c.provider, c.model, p)
		}
	}
	// Find still returns an entry that has limits only.
	p, ok := tab.Find("groq", "groq/compound")
	if !ok || p.Priced() || p.Context != 131_072 {
		t.Errorf("Find(groq, groq/compound) = %+v, %v", p, ok)
	}
	if _, ok := p.Cost(Usage{Input: 1}); ok {
		t.Error("an entry without price has a cost")
	}
}

func TestProviderFor(t *testing.T) {
	tab := Default()
	for _, c := range []struct{ kind, url, want string }{
		{"openai", "", "openai"},
		{"openai", "https://api.openai.com/v1", "openai"},
		{"openai", "https://api.groq.com/openai/v1", "groq"},
		{"openai", "https://proxy.corp.example/v1", "openai"},
		{"azure-openai", "https://myres.openai.azure.com", "azure"},
		{"openai-compatible", "https://myres.openai.azure.com/openai/v1", "azure"},
		{"anthropic", "", "anthropic"},
		{"openai-compatible", "https://api.groq.com/openai/v1", "groq"},
		{"openai-compatible", "https://api.together.xyz/v1", "togetherai"},
		{"openai-compatible", "https://api.fireworks.ai/inference/v1", "fireworks-ai"},
		{"openai-compatible", "https://openrouter.ai/api/v1", "openrouter"},
		{"openai-compatible", "https://api.deepseek.com", "deepseek"},
		{"openai-compatible", "https://API.X.AI/v1", "xai"},
		{"openai-compatible", "https://generativelanguage.googleapis.com/v1beta/openai", "google"},
		{"openai-compatible", "https://api.mistral.ai/v1", "mistral"},
		{"openai-compatible", "https://api.moonshot.ai/v1", "moonshotai"},
		{"openai-compatible", "https://llm.example.com/v1", ""},
		{"openai-compatible", "", ""},
		{"openai-compatible", "http://localhost:11434/v1", Local},
		{"openai-compatible", "http://127.0.0.1:8000/v1", Local},
		{"openai-compatible", "http://[::1]:8000/v1", Local},
		{"openai-compatible", "http://192.168.1.20:8000/v1", Local},
		{"openai-compatible", "http://ollama:11434/v1", Local},
		{"mock", "", "mock"},
		{"groq", "", "groq"},
		{"together", "", "togetherai"},
	} {
		if got := tab.ProviderFor(c.kind, c.url); got != c.want {
			t.Errorf("ProviderFor(%q, %q) = %q, want %q", c.kind, c.url, got, c.want)
		}
	}
}

func TestOverrides(t *testing.T) {
	base := Default()
	tab := base.With(map[string]Override{
		"gpt-4o":                       {Input: "0.15"},
		"GPT-4O-MINI":                  {Input: "$1", Output: "2usd", CacheRead: "0.0375", CacheWrite: "0.075", Context: 1000, MaxOutput: 10},
		"my-local-model":               {Input: "0", Output: "0"},
		"groq/llama-3.3-70b-versatile": {Output: "9"},
		"local/qwen3":                  {Input: "0.1", Output: "0.2"},
		"gpt-5.4":                      {Input: "1"},
		"claude-sonnet-4-5":            {CacheWrite: "not a price"},
		"gpt-4o-2024-08-06":            {Output: "11"},
	})
	// Overrides beat the table, field by field.
	p, ok := tab.Lookup("openai", "gpt-4o")
	if !ok || p.Input != 150_000 || p.Output != 10_000_000 || p.CacheRead != 1_250_000 || !p.Overridden || p.Context != 128_000 {
		t.Errorf("gpt-4o = %+v", p)
	}
	// The table itself is unchanged.
	if p, _ := base.Lookup("openai", "gpt-4o"); p.Input != 2_500_000 || p.Overridden {
		t.Errorf("base table changed: %+v", p)
	}
	// Keys ignore case; every field, limits included.
	p, _ = tab.Lookup("openai", "gpt-4o-mini")
	if p.Input != 1_000_000 || p.Output != 2_000_000 || p.CacheRead != 37_500 || p.CacheWrite != 75_000 || !p.HasCacheWrite ||
		p.Context != 1000 || p.MaxOutput != 10 {
		t.Errorf("gpt-4o-mini = %+v", p)
	}
	// A plain key applies at every provider.
	if p, _ := tab.Lookup("azure", "gpt-4o"); p.Input != 150_000 {
		t.Errorf("azure gpt-4o = %+v", p)
	}
	// A model the table does not know, at any provider (a known zero).
	for _, prov := range []string{"", Local, "mock", "openai-compatible", "http://localhost:11434/v1"} {
		p, ok := tab.Lookup(prov, "my-local-model")
		if c, cok := p.Cost(Usage{Input: 10, Output: 10}); !ok || !cok || c != 0 {
			t.Errorf("Lookup(%q, my-local-model) = %+v, %v; cost %d, %v", prov, p, ok, c, cok)
		}
	}
	// A provider/model key applies at that provider only.
	if p, _ := tab.Lookup("groq", "llama-3.3-70b-versatile"); p.Output != 9_000_000 || p.Input != 590_000 {
		t.Errorf("groq llama = %+v", p)
	}
	if p, _ := tab.Lookup("", "llama-3.3-70b-versatile"); p.Output == 9_000_000 && p.Provider != "groq" {
		t.Errorf("provider override leaked: %+v", p)
	}
	if p, ok := tab.Lookup("http://127.0.0.1:8080/v1", "qwen3"); !ok || p.Input != 100_000 {
		t.Errorf("local qwen3 = %+v, %v", p, ok)
	}
	if _, ok := tab.Lookup("groq", "qwen3"); ok {
		t.Error("local/qwen3 applied at groq")
	}
	// An overridden price drops the long-context tiers.
	if p, _ := tab.Lookup("openai", "gpt-5.4"); p.Tiers != nil || p.Input != 1_000_000 || p.Output != 15_000_000 {
		t.Errorf("gpt-5.4 = %+v", p)
	}
	// A price that does not parse makes the price unknown, neither zero
	// nor the table's; Find still has the limits.
	if p, ok := tab.Lookup("anthropic", "claude-sonnet-4-5"); ok {
		t.Errorf("claude-sonnet-4-5 with an invalid override = %+v", p)
	}
	if p, ok := tab.Find("anthropic", "claude-sonnet-4-5"); !ok || p.Priced() || p.Context != 200_000 {
		t.Errorf("Find claude-sonnet-4-5 = %+v, %v", p, ok)
	}
	if err := (Override{CacheWrite: "not a price"}).Validate(); err == nil {
		t.Error("Validate accepted an invalid price")
	}
	if err := (Override{Input: "0.15", Output: "$2", Context: 8}).Validate(); err != nil {
		t.Error(err)
	}
	// The most specific id wins: the dated id's own override, and an
	// override of the undated id does not replace a dated table entry.
	if p, _ := tab.Lookup("openai", "gpt-4o-2024-08-06"); p.Output != 11_000_000 || p.Input != 2_500_000 {
		t.Errorf("gpt-4o-2024-08-06 = %+v", p)
	}
	if p, _ := tab.Lookup("openai", "gpt-4o-2024-11-20"); p.Input != 2_500_000 || p.Overridden {
		t.Errorf("gpt-4o-2024-11-20 = %+v", p)
	}
	if p, _ := tab.Lookup("openai", "gpt-4o-2099-01-01"); p.Input != 150_000 {
		t.Errorf("gpt-4o-2099-01-01 = %+v", p)
	}
	// With stacks.
	tab2 := tab.With(map[string]Override{"gpt-4o": {Output: "1"}})
	if p, _ := tab2.Lookup("openai", "gpt-4o"); p.Input != 2_500_000 || p.Output != 1_000_000 {
		t.Errorf("restacked gpt-4o = %+v", p)
	}
	if p, _ := tab2.Lookup("openai", "gpt-4o-mini"); p.Input != 1_000_000 {
		t.Errorf("restacked gpt-4o-mini = %+v", p)
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	tab := Default()
	p, _ := tab.Lookup("openai", "gpt-5.4")
	p.Tiers[0].Input = 1
	if q, _ := tab.Lookup("openai", "gpt-5.4"); q.Tiers[0].Input != 5_000_000 {
		t.Error("a caller changed the table")
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []string{
		`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":0.0000001,"output":1}}}}}}`,
		`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":-1,"output":1}}}}}}`,
		`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":1,"output":1,"tiers":[{"above":0,"input":2}]}}}}}}`,
		`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":1,"output":1,"tiers":[{"above":9,"input":2},{"above":5,"input":3}]}}}}}}`,
		`{"providers":{"x":{"name":"X","models":{"m":{"limit":{"context":-1}}}}}}`,
		`{"providers":{"X":{"name":"X","models":{}}}}`,
		`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":1,"output":1,"reasoning":2}}}}}}`,
		`{"providers":{}} trailing`,
	} {
		if _, err := Parse([]byte(c)); err == nil {
			t.Errorf("Parse accepted %s", c)
		}
	}
	tab, err := Parse([]byte(`{"source":"test","providers":{"x":{"name":"X","models":{"m":{"cost":{"input":0.075,"output":15}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := tab.Lookup("x", "m"); !ok || p.Input != 75_000 || p.Output != 15_000_000 {
		t.Errorf("x/m = %+v, %v", p, ok)
	}
}

// The table says which models reason; an override may say it for a model
// the table does not know, or correct it. Nobody's word: not reasoning.
func TestReasoning(t *testing.T) {
	tab := Default()
	for _, c := range []struct {
		prov, model   string
		reason, known bool
	}{
		{"openai", "gpt-5.4", true, true},
		{"openai", "gpt-5", true, true}, // stated at azure only in the snapshot
		{"openai", "gpt-4o", false, true},
		{"openai", "gpt-4o-2099-01-01", false, true},
		{"anthropic", "claude-sonnet-4-5", true, true},
		{"deepseek", "deepseek-reasoner", true, true},
		{"deepseek", "deepseek-chat", false, true},
	} {
		p, ok := tab.Lookup(c.prov, c.model)
		if !ok || p.Reasoning != c.reason || p.ReasoningKnown != c.known {
			t.Errorf("%s/%s: reasoning %v known %v (ok %v); want %v %v", c.prov, c.model, p.Reasoning, p.ReasoningKnown, ok, c.reason, c.known)
		}
	}
	yes, no := true, false
	over := tab.With(map[string]Override{
		"local/qwen3": {Input: "0", Output: "0", Reasoning: &yes},
		"gpt-4o":      {Reasoning: &yes},
		"gpt-5.4":     {Input: "1", Reasoning: &no},
		"llama3":      {Input: "0", Output: "0"},
	})
	for _, c := range []struct {
		prov, model   string
		reason, known bool
	}{
		{"http://127.0.0.1:11434/v1", "qwen3", true, true},
		{"openai", "gpt-4o", true, true},
		{"openai", "gpt-5.4", false, true},
		{Local, "llama3", false, false},
	} {
		p, ok := over.Lookup(c.prov, c.model)
		if !ok || p.Reasoning != c.reason || p.ReasoningKnown != c.known || !p.Overridden {
			t.Errorf("override %s/%s: %+v, %v; want reasoning %v known %v", c.prov, c.model, p, ok, c.reason, c.known)
		}
	}
	// A price that does not parse keeps the model's capabilities.
	bad := tab.With(map[string]Override{"gpt-5.4": {Input: "cheap"}})
	if p, _ := bad.Find("openai", "gpt-5.4"); !p.Reasoning || p.Priced() {
		t.Errorf("gpt-5.4 with an invalid price = %+v", p)
	}
	if _, err := Parse([]byte(`{"providers":{"x":{"name":"X","models":{"m":{"cost":{"input":1,"output":1},"reasoning":"yes"}}}}}`)); err == nil {
		t.Error("Parse accepted a reasoning flag that is not a boolean")
	}
}
