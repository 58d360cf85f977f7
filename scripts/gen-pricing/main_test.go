package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/pricing"
)

// The snapshot lives outside the repository (../shared/data from the repo
// root): the tests that need it skip when it is absent.
const snapshot = "../../../shared/data/models-dev.json"

func readSnapshot(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(snapshot)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent (it is outside the repository)", snapshot)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPricesUpToDate(t *testing.T) {
	data := readSnapshot(t)
	res, err := generate(data, defaultProviders, "models-dev.json")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../internal/pricing/prices.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.out, have) {
		t.Fatalf("internal/pricing/prices.json is not what the generator makes of %s: run scripts/gen-pricing.sh", snapshot)
	}
	again, err := generate(data, defaultProviders, "models-dev.json")
	if err != nil || !bytes.Equal(again.out, res.out) {
		t.Fatal("two runs on the same input differ")
	}
	lic, err := os.ReadFile("../../internal/pricing/models-dev.LICENSE")
	if err != nil || !bytes.Contains(lic, []byte("MIT License")) {
		t.Fatalf("internal/pricing/models-dev.LICENSE must sit next to prices.json: %v", err)
	}
}

// Every provider of the snapshot converts and parses, not only the ones
// kept: a refresh with -providers must not produce a table credflow rejects.
func TestWholeSnapshotParses(t *testing.T) {
	data := readSnapshot(t)
	var top struct {
		Providers map[string]json.RawMessage `json:"providers"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	var all []string
	for id := range top.Providers {
		all = append(all, id)
	}
	res, err := generate(data, all, "models-dev.json")
	if err != nil {
		t.Fatal(err)
	}
	tab, err := pricing.Parse(res.out)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Providers()) != len(all) {
		t.Errorf("%d providers, want %d", len(tab.Providers()), len(all))
	}
	// Float noise in the snapshot comes back as the intended decimal.
	if !strings.Contains(strings.Join(res.notes, "\n"), "rounded") {
		t.Error("expected rounded prices in the whole snapshot")
	}
}

const sample = `{
 "source": "test catalogue",
 "providers": {
  "acme": {
   "name": "Acme",
   "api": "https://api.acme.example/v1",
   "models": {
    "noisy": {"cost": {"input": 0.30000000000000004, "output": 0.09999999999999999, "cache_read": 1e-06, "cache_write": 5e-7}},
    "tiny": {"cost": {"input": 0.00000049, "output": 2.5e-1}},
    "tiered": {"cost": {"input": 2.5, "output": 15.0, "cache_read": 0.25,
       "tiers": [{"input": 10, "output": 45, "tier": {"size": 512000, "type": "context"}},
                 {"input": 5.0, "output": 22.5, "cache_read": 0.5, "tier": {"size": 272000}}]},
     "limit": {"context": 1050000, "input": 922000, "output": 128000}},
    "old-style": {"cost": {"input": 3, "output": 15, "context_over_200k": {"input": 6, "output": 22.5}}},
    "spelt": {"cost": {"input": 0.6, "output": 3.6, "cached_input": 0.35, "reasoning": 3.6, "input_audio": 1}},
    "limits-only": {"limit": {"context": 8192, "output": 0}},
    "nothing": {"limit": {"context": 0, "output": 0}},
    "free": {"cost": {"input": 0, "output": 0}, "limit": {"context": 4096.0, "output": 1024}}
   }
  },
  "other": {"name": "Other", "models": {"x": {"cost": {"input": 1, "output": 2}}}}
 }
}`

func TestGenerateSample(t *testing.T) {
	res, err := generate([]byte(sample), []string{"acme", "missing"}, "sample.json")
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.out)
	for _, want := range []string{
		`"source": "test catalogue"`,
		`"api": "https://api.acme.example/v1"`,
		`"noisy": {"cost":{"input":0.3,"output":0.1,"cache_read":0.000001,"cache_write":0.000001}}`,
		`"tiny": {"cost":{"input":0,"output":0.25}}`,
		`"tiered": {"cost":{"input":2.5,"output":15,"cache_read":0.25,"tiers":[{"above":272000,"input":5,"output":22.5,"cache_read":0.5},{"above":512000,"input":10,"output":45}]},"limit":{"context":1050000,"input":922000,"output":128000}}`,
		`"old-style": {"cost":{"input":3,"output":15,"tiers":[{"above":200000,"input":6,"output":22.5}]}}`,
		`"spelt": {"cost":{"input":0.6,"output":3.6,"cache_read":0.35}}`,
		`"limits-only": {"limit":{"context":8192}}`,
		`"free": {"cost":{"input":0,"output":0},"limit":{"context":4096,"output":1024}}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s\n%s", want, out)
		}
	}
	if strings.Contains(out, `"nothing"`) || strings.Contains(out, `"other"`) {
		t.Errorf("unexpected entries:\n%s", out)
	}
	notes := strings.Join(res.notes, "\n")
	for _, want := range []string{`provider "missing" is not in the input`, "4 prices rounded", "input_audio (1), reasoning (1)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	tab, err := pricing.Parse(res.out)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tab.Lookup("acme", "tiered")
	if !ok || len(p.Tiers) != 2 || p.Tiers[1].Input != 10_000_000 {
		t.Errorf("tiered = %+v", p)
	}
	if got := tab.ProviderFor("openai-compatible", "https://api.acme.example/v1"); got != "acme" {
		t.Errorf("host of the api URL: %q", got)
	}
}

// models.dev's own api.json has the providers at the top level.
func TestGenerateAPIJSON(t *testing.T) {
	in := `{"acme": {"id": "acme", "name": "Acme", "models": {"m": {"id": "m", "cost": {"input": 1, "output": 2}}}}}`
	res, err := generate([]byte(in), []string{"acme"}, "api.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.out), `"source": "models.dev catalogue (api.json)"`) ||
		!strings.Contains(string(res.out), `"m": {"cost":{"input":1,"output":2}}`) {
		t.Errorf("output:\n%s", res.out)
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, c := range []struct{ name, in string }{
		{"not JSON", `{`},
		{"no selected provider", `{"providers": {"other": {"name": "O", "models": {}}}}`},
		{"negative price", `{"providers": {"acme": {"models": {"m": {"cost": {"input": -1, "output": 1}}}}}}`},
		{"price not a number", `{"providers": {"acme": {"models": {"m": {"cost": {"input": "cheap", "output": 1}}}}}}`},
		{"bad tier size", `{"providers": {"acme": {"models": {"m": {"cost": {"input": 1, "output": 1, "tiers": [{"input": 2, "tier": {"size": 0}}]}}}}}}`},
		{"fractional limit", `{"providers": {"acme": {"models": {"m": {"limit": {"context": 1.5}}}}}}`},
	} {
		if res, err := generate([]byte(c.in), []string{"acme"}, "x.json"); err == nil {
			t.Errorf("%s: no error; output:\n%s", c.name, res.out)
		}
	}
}

func TestPerMillion(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  pricing.Micros
		exact bool
	}{
		{"0.075", 75_000, true},
		{"0.1", 100_000, true},
		{"0.0375", 37_500, true},
		{"15", 15_000_000, true},
		{"15.0", 15_000_000, true},
		{"1e-7", 0, false},
		{"5e-7", 1, false}, // half rounds up
		{"4.99999e-7", 0, false},
		{"0.09999999999999999", 100_000, false},
		{"0.30000000000000004", 300_000, false},
		{"0.08333333333333334", 83_333, false},
	} {
		got, exact, err := perMillion(c.in)
		if err != nil || got != c.want || exact != c.exact {
			t.Errorf("perMillion(%q) = %d, %v, %v; want %d, %v", c.in, got, exact, err, c.want, c.exact)
		}
	}
}

// The reasoning flag is kept as stated; an entry without one takes it
// from the same model at another kept provider when they agree.
func TestGenerateReasoning(t *testing.T) {
	in := `{"providers": {
  "acme": {"name": "Acme", "models": {
    "thinker": {"cost": {"input": 1, "output": 2}, "reasoning": true},
    "plain": {"cost": {"input": 1, "output": 2}, "reasoning": false},
    "unsaid": {"cost": {"input": 1, "output": 2}},
    "disputed": {"cost": {"input": 1, "output": 2}},
    "elsewhere": {"cost": {"input": 1, "output": 2}}
  }},
  "hub": {"name": "Hub", "models": {
    "acme/unsaid": {"cost": {"input": 1, "output": 2}, "reasoning": true},
    "a/disputed": {"cost": {"input": 1, "output": 2}, "reasoning": true},
    "b/disputed": {"cost": {"input": 1, "output": 2}, "reasoning": false}
  }},
  "unkept": {"name": "U", "models": {"elsewhere": {"cost": {"input": 1, "output": 2}, "reasoning": true}}}
}}`
	res, err := generate([]byte(in), []string{"acme", "hub"}, "x.json")
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.out)
	for _, want := range []string{
		`"thinker": {"cost":{"input":1,"output":2},"reasoning":true}`,
		`"plain": {"cost":{"input":1,"output":2},"reasoning":false}`,
		`"unsaid": {"cost":{"input":1,"output":2},"reasoning":true}`,
		`"disputed": {"cost":{"input":1,"output":2}}`,
		`"elsewhere": {"cost":{"input":1,"output":2}}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s\n%s", want, out)
		}
	}
	if notes := strings.Join(res.notes, "\n"); !strings.Contains(notes, "1 models without a reasoning flag took it") {
		t.Errorf("notes: %s", notes)
	}
	tab, err := pricing.Parse(res.out)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Lookup("acme", "unsaid"); !p.Reasoning || !p.ReasoningKnown {
		t.Errorf("acme/unsaid = %+v", p)
	}
	if p, _ := tab.Lookup("acme", "disputed"); p.ReasoningKnown {
		t.Errorf("acme/disputed = %+v", p)
	}
}
