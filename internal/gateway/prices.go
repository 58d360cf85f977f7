package gateway

import (
	"strings"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/pricing"
)

// PriceTable is the embedded price table with the config's overrides.
func PriceTable(cfg *config.Config) *pricing.Table {
	t := pricing.Default()
	if len(cfg.Prices) == 0 {
		return t
	}
	o := make(map[string]pricing.Override, len(cfg.Prices))
	for k, v := range cfg.Prices {
		// "ollama/llama3.1" names a configured provider; the table knows
		// providers by their price-table id ("local" for a loopback server).
		if prov, model, ok := strings.Cut(k, "/"); ok {
			if pc, known := cfg.Providers[prov]; known {
				k = t.ProviderFor(pc.Type, pc.BaseURL) + "/" + model
			}
		}
		o[k] = pricing.Override{Input: v.Input, Output: v.Output, CacheRead: v.CacheRead, CacheWrite: v.CacheWrite, Context: v.Context, MaxOutput: v.MaxOutput,
			Reasoning: v.Reasoning}
	}
	return t.With(o)
}

// PricingProvider names the price-table provider for a configured provider.
func PricingProvider(t *pricing.Table, p config.Provider) string {
	return t.ProviderFor(p.Type, p.BaseURL)
}
