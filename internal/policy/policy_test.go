package policy

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// 2025-01-15 is a Wednesday, 2025-01-18 a Saturday.
func at(day, hour, min int) time.Time {
	return time.Date(2025, 1, day, hour, min, 0, 0, time.UTC)
}

func mustCompile(t testing.TB, rules ...Rule) *Set {
	t.Helper()
	s, err := Compile(rules, "policy.yaml")
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if s.Len() != len(rules) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(rules))
	}
	return s
}

func mustEval(t testing.TB, s *Set, in Input) Decision {
	t.Helper()
	d, err := s.Eval(in)
	if err != nil {
		t.Fatalf("Eval: %v", err)
	}
	return d
}

func checkDecision(t *testing.T, got, want Decision) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decision\n got %+v\nwant %+v", got, want)
	}
}

var eveningDowngrade = Rule{
	Name:  "evening-downgrade",
	When:  `key == "intern" && hour >= 20 && weekday <= 5 && model.startsWith("gpt-5")`,
	Route: "gpt-5-mini",
}

func TestEveningDowngrade(t *testing.T) {
	s := mustCompile(t, eveningDowngrade)
	routed := Decision{Kind: Route, Rule: "evening-downgrade", Model: "gpt-5-mini", Matched: []string{"evening-downgrade"}}
	for _, tc := range []struct {
		name string
		in   Input
		want Decision
	}{
		{"wednesday 20:30", Input{Key: "intern", Model: "gpt-5", Time: at(15, 20, 30)}, routed},
		{"friday 20:00", Input{Key: "intern", Model: "gpt-5.1", Time: at(17, 20, 0)}, routed},
		{"wednesday 23:59", Input{Key: "intern", Model: "gpt-5", Time: at(15, 23, 59)}, routed},
		{"wednesday 19:59", Input{Key: "intern", Model: "gpt-5", Time: at(15, 19, 59)}, Decision{}},
		{"saturday 21:00", Input{Key: "intern", Model: "gpt-5", Time: at(18, 21, 0)}, Decision{}},
		{"sunday 21:00", Input{Key: "intern", Model: "gpt-5", Time: at(19, 21, 0)}, Decision{}},
		{"another key", Input{Key: "staff", Model: "gpt-5", Time: at(15, 20, 30)}, Decision{}},
		{"another model", Input{Key: "intern", Model: "gpt-4o", Time: at(15, 20, 30)}, Decision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkDecision(t, mustEval(t, s, tc.in), tc.want)
		})
	}
}

func TestWeekdayIsISO(t *testing.T) {
	// Go numbers Sunday 0; ISO numbers Monday 1 … Sunday 7.
	for day, want := range map[int]string{13: "1", 15: "3", 18: "6", 19: "7"} {
		s2 := mustCompile(t, Rule{Name: "wd", When: "weekday == " + want, Deny: "d"})
		if d := mustEval(t, s2, Input{Time: at(day, 12, 0)}); d.Kind != Deny {
			t.Errorf("2025-01-%d: weekday != %s", day, want)
		}
	}
}

func TestDeny(t *testing.T) {
	s := mustCompile(t,
		Rule{Name: "no-big-prompts", When: "tokens > 100000", Deny: "prompt too large for this key"},
		Rule{Name: "never", When: "false", Deny: "unreachable"},
	)
	checkDecision(t, mustEval(t, s, Input{Tokens: 100001}), Decision{
		Kind: Deny, Rule: "no-big-prompts", Message: "prompt too large for this key", Matched: []string{"no-big-prompts"},
	})
	checkDecision(t, mustEval(t, s, Input{Tokens: 100000}), Decision{})
}

func TestRequireAccumulates(t *testing.T) {
	s := mustCompile(t,
		Rule{Name: "pii-for-interns", When: `key == "intern"`, Require: []string{"pii"}},
		Rule{Name: "external", When: `provider != "local"`, Require: []string{"toxicity", "pii"}},
		Rule{Name: "secrets-for-embeddings", When: `endpoint == "embeddings"`, Require: []string{"secrets"}},
		Rule{Name: "audit", When: "true", Require: []string{"audit", "toxicity"}},
	)
	checkDecision(t, mustEval(t, s, Input{Key: "intern", Provider: "openai", Endpoint: "chat"}), Decision{
		Kind:    Require,
		Rule:    "pii-for-interns",
		Require: []string{"pii", "toxicity", "audit"},
		Matched: []string{"pii-for-interns", "external", "audit"},
	})
	checkDecision(t, mustEval(t, s, Input{Key: "staff", Provider: "local", Endpoint: "embeddings"}), Decision{
		Kind:    Require,
		Rule:    "secrets-for-embeddings",
		Require: []string{"secrets", "audit", "toxicity"},
		Matched: []string{"secrets-for-embeddings", "audit"},
	})
}

func TestAllowStops(t *testing.T) {
	s := mustCompile(t,
		Rule{Name: "pii", When: "true", Require: []string{"pii"}},
		Rule{Name: "vip", When: `key == "vip"`, Allow: true},
		Rule{Name: "block-all", When: "true", Deny: "closed"},
	)
	// Guardrails collected before the allow are kept; the deny is skipped.
	checkDecision(t, mustEval(t, s, Input{Key: "vip"}), Decision{
		Kind: Require, Rule: "pii", Require: []string{"pii"}, Matched: []string{"pii", "vip"},
	})
	checkDecision(t, mustEval(t, s, Input{Key: "other"}), Decision{
		Kind: Deny, Rule: "block-all", Message: "closed", Require: []string{"pii"}, Matched: []string{"pii", "block-all"},
	})

	// A bare allow decides Allow and names itself.
	s = mustCompile(t,
		Rule{Name: "vip", When: `key == "vip"`, Allow: true},
		Rule{Name: "block-all", When: "true", Deny: "closed"},
	)
	checkDecision(t, mustEval(t, s, Input{Key: "vip"}), Decision{Kind: Allow, Rule: "vip", Matched: []string{"vip"}})

	// A route before the allow is kept.
	s = mustCompile(t,
		Rule{Name: "cheap", When: "true", Route: "small"},
		Rule{Name: "vip", When: `key == "vip"`, Allow: true},
		Rule{Name: "block-all", When: "true", Deny: "closed"},
	)
	checkDecision(t, mustEval(t, s, Input{Key: "vip"}), Decision{
		Kind: Route, Rule: "cheap", Model: "small", Matched: []string{"cheap", "vip"},
	})
}

func TestDenyAfterRouteOverrides(t *testing.T) {
	s := mustCompile(t,
		eveningDowngrade,
		Rule{Name: "second-route", When: "true", Route: "other"},
		Rule{Name: "over-budget", When: "spend > 5", Deny: "daily budget for policies reached"},
	)
	in := Input{Key: "intern", Model: "gpt-5", Time: at(15, 20, 30), SpendMicros: 5_000_001}
	checkDecision(t, mustEval(t, s, in), Decision{
		Kind: Deny, Rule: "over-budget", Message: "daily budget for policies reached", Model: "gpt-5-mini",
		Matched: []string{"evening-downgrade", "over-budget"},
	})
	// Under budget the first route wins and the second takes no effect.
	in.SpendMicros = 5_000_000
	checkDecision(t, mustEval(t, s, in), Decision{
		Kind: Route, Rule: "evening-downgrade", Model: "gpt-5-mini", Matched: []string{"evening-downgrade"},
	})
	in.Key = "staff"
	checkDecision(t, mustEval(t, s, in), Decision{
		Kind: Route, Rule: "second-route", Model: "other", Matched: []string{"second-route"},
	})
}

func TestTimeZone(t *testing.T) {
	// 20:30 on Wednesday in UTC-5 is 01:30 on Thursday in UTC.
	nyc := time.FixedZone("EST", -5*3600)
	local := time.Date(2025, 1, 15, 20, 30, 0, 0, nyc)
	s := mustCompile(t, eveningDowngrade)
	if d := mustEval(t, s, Input{Key: "intern", Model: "gpt-5", Time: local}); d.Kind != Route {
		t.Errorf("local 20:30 Wednesday: got %v, want route", d.Kind)
	}
	if d := mustEval(t, s, Input{Key: "intern", Model: "gpt-5", Time: local.UTC()}); d.Kind != Allow {
		t.Errorf("same instant in UTC (01:30): got %v, want allow", d.Kind)
	}
	s = mustCompile(t, Rule{Name: "clock", When: "hour == 20 && minute == 30 && weekday == 3 && now.getHours() == 1 && now.getDayOfWeek() == 4", Deny: "x"})
	if d := mustEval(t, s, Input{Time: local}); d.Kind != Deny {
		t.Errorf("hour/minute/weekday are local, now is UTC: got %v", d.Kind)
	}
	s = mustCompile(t, Rule{Name: "ts", When: `now == timestamp("2025-01-16T01:30:00Z")`, Deny: "x"})
	if d := mustEval(t, s, Input{Time: local}); d.Kind != Deny {
		t.Errorf("now is not Input.Time: got %v", d.Kind)
	}
}

func TestZeroTimeIsNow(t *testing.T) {
	s := mustCompile(t, Rule{Name: "recent", When: `now > timestamp("2025-01-01T00:00:00Z")`, Deny: "x"})
	if d := mustEval(t, s, Input{}); d.Kind != Deny {
		t.Errorf("zero Time should read the clock, got %v", d.Kind)
	}
}

func TestVariables(t *testing.T) {
	for _, tc := range []struct {
		when    string
		yes, no Input
	}{
		{`spend > 5`, Input{SpendMicros: 5_000_001}, Input{SpendMicros: 5_000_000}},
		{`spend == 1.25`, Input{SpendMicros: 1_250_000}, Input{SpendMicros: 1_250_001}},
		{`spend_month >= 100.5`, Input{MonthSpendMicros: 100_500_000}, Input{MonthSpendMicros: 100_499_999, SpendMicros: 200_000_000}},
		{`tokens > 1000`, Input{Tokens: 1001}, Input{Tokens: 1000}},
		{`tokens > 1000.5`, Input{Tokens: 1001}, Input{Tokens: 1000}},
		{`session != ""`, Input{Session: "s-1"}, Input{}},
		{`session.startsWith("ci-")`, Input{Session: "ci-42"}, Input{Session: "dev-42"}},
		{`endpoint == "embeddings"`, Input{Endpoint: "embeddings"}, Input{Endpoint: "chat"}},
		{`provider == "anthropic"`, Input{Provider: "anthropic"}, Input{Provider: ""}},
		{`model.lowerAscii() == "gpt-5"`, Input{Model: "GPT-5"}, Input{Model: "gpt-4o"}},
		{`"x-team" in headers && headers["x-team"] == "ml"`, Input{Headers: map[string]string{"x-team": "ml"}}, Input{}},
		{`headers["x-team"] == "ml"`, Input{Headers: map[string]string{"X-Team": "ml"}}, Input{Headers: map[string]string{"x-team": "web"}}},
		{`headers[?"x-team"].orValue("none") == "none"`, Input{}, Input{Headers: map[string]string{"x-team": "ml"}}},
		{`headers.size() == 0`, Input{}, Input{Headers: map[string]string{"a": "b"}}},
		{`minute == 7`, Input{Time: at(15, 3, 7)}, Input{Time: at(15, 7, 3)}},
		{`key in ["a", "b"]`, Input{Key: "b"}, Input{Key: "c"}},
	} {
		t.Run(tc.when, func(t *testing.T) {
			s := mustCompile(t, Rule{Name: "r", When: tc.when, Deny: "no"})
			if d := mustEval(t, s, tc.yes); d.Kind != Deny {
				t.Errorf("%+v: did not match", tc.yes)
			}
			if d := mustEval(t, s, tc.no); d.Kind != Allow {
				t.Errorf("%+v: matched", tc.no)
			}
		})
	}
}

func TestHeadersNotMutated(t *testing.T) {
	h := map[string]string{"X-Team": "ml"}
	s := mustCompile(t, Rule{Name: "r", When: `headers["x-team"] == "ml"`, Deny: "no"})
	mustEval(t, s, Input{Headers: h})
	if _, ok := h["X-Team"]; !ok || len(h) != 1 {
		t.Errorf("caller's headers changed: %v", h)
	}
}

func TestRuntimeErrorNamesRule(t *testing.T) {
	rules := []Rule{
		{Name: "fine", When: "true", Require: []string{"pii"}},
		{Name: "team-only", When: `headers["x-team"] == "ml"`, Deny: "ml only", Line: 7, Col: 12},
	}
	s, err := Compile(rules, "credflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Eval(Input{})
	if err == nil {
		t.Fatalf("no error, decision %+v", d)
	}
	const want = `credflow.yaml:7:12: policy "team-only": no such key: x-team (test for it first, e.g. "x-team" in headers)`
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Rule != "team-only" || ee.CostLimit {
		t.Errorf("EvalError = %+v", ee)
	}
	if !reflect.DeepEqual(d, Decision{}) {
		t.Errorf("decision on error = %+v, want zero", d)
	}
	// The same rule evaluates when the header is there.
	if d := mustEval(t, s, Input{Headers: map[string]string{"x-team": "ml"}}); d.Kind != Deny {
		t.Errorf("got %v", d.Kind)
	}
}

func TestDynNotBoolIsRuntimeError(t *testing.T) {
	s := mustCompile(t, Rule{Name: "dyn", When: `dyn(key)`, Deny: "x"})
	_, err := s.Eval(Input{Key: "k"})
	if err == nil || err.Error() != `policy.yaml: policy "dyn": when returned string, not bool` {
		t.Errorf("err = %v", err)
	}
}

func TestCostLimit(t *testing.T) {
	nums := make([]string, 300)
	for i := range nums {
		nums[i] = fmt.Sprint(i)
	}
	list := "[" + strings.Join(nums, ", ") + "]"
	// 300^3 = 27M iterations unbounded; the limit stops it early.
	when := list + ".all(x, " + list + ".all(y, " + list + `.all(z, key != "never")))`
	s := mustCompile(t, Rule{Name: "slow", When: when, Deny: "x"})
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := s.Eval(Input{Key: "k"})
		done <- err
	}()
	select {
	case err := <-done:
		var ee *EvalError
		if !errors.As(err, &ee) || !ee.CostLimit || ee.Rule != "slow" {
			t.Fatalf("err = %v, want cost limit EvalError", err)
		}
		if !strings.Contains(err.Error(), `policy "slow": evaluation exceeded the cost limit (100000)`) {
			t.Errorf("message: %v", err)
		}
		t.Logf("stopped after %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("evaluation did not stop at the cost limit")
	}
	// A cheap comprehension over the same list is fine.
	s = mustCompile(t, Rule{Name: "ok", When: list + `.exists(x, x == tokens)`, Deny: "x"})
	if d := mustEval(t, s, Input{Tokens: 299}); d.Kind != Deny {
		t.Errorf("got %v", d.Kind)
	}
}

func TestEmptySets(t *testing.T) {
	var nilSet *Set
	if nilSet.Len() != 0 {
		t.Error("nil Len")
	}
	if d, err := nilSet.Eval(Input{}); err != nil || !reflect.DeepEqual(d, Decision{}) {
		t.Errorf("nil Eval = %+v, %v", d, err)
	}
	s, err := Compile(nil, "")
	if err != nil || s.Len() != 0 {
		t.Fatalf("Compile(nil) = %v, %v", s, err)
	}
	if d, err := s.Eval(Input{}); err != nil || d.Kind != Allow {
		t.Errorf("empty Eval = %+v, %v", d, err)
	}
}

func TestCompileCopiesRequire(t *testing.T) {
	req := []string{"pii"}
	s := mustCompile(t, Rule{Name: "r", When: "true", Require: req})
	req[0] = "changed"
	if d := mustEval(t, s, Input{}); !reflect.DeepEqual(d.Require, []string{"pii"}) {
		t.Errorf("Require = %v", d.Require)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Allow: "allow", Deny: "deny", Route: "route", Require: "require", 9: "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", int(k), k.String())
		}
	}
}

func TestConcurrentEval(t *testing.T) {
	s := mustCompile(t, benchRules...)
	inputs := benchInputs()
	want := make([]Decision, len(inputs))
	for i, in := range inputs {
		want[i] = mustEval(t, s, in)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; n < 500; n++ {
				i := (g + n) % len(inputs)
				d, err := s.Eval(inputs[i])
				if err != nil || !reflect.DeepEqual(d, want[i]) {
					select {
					case errs <- fmt.Sprintf("input %d: %+v, %v; want %+v", i, d, err, want[i]):
					default:
					}
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// The inputs exercise every kind, so equal decisions mean something.
	kinds := map[Kind]bool{}
	for _, d := range want {
		kinds[d.Kind] = true
	}
	if len(kinds) != 4 {
		t.Errorf("inputs cover kinds %v, want all four", kinds)
	}
}

// benchRules are five typical rules.
var benchRules = []Rule{
	{Name: "block-night-batch", When: `endpoint == "embeddings" && tokens > 200000 && (hour < 6 || hour >= 22)`, Deny: "large embedding batches run by day"},
	{Name: "pii-for-external", When: `provider != "local" && key.startsWith("team-")`, Require: []string{"pii"}},
	eveningDowngrade,
	{Name: "ml-team-header", When: `"x-team" in headers && headers["x-team"] == "ml"`, Require: []string{"secrets", "pii"}},
	{Name: "daily-cap", When: `spend > 20.0 || spend_month > 400.0`, Deny: "spend cap reached"},
}

func benchInputs() []Input {
	return []Input{
		{Key: "team-a", Model: "gpt-5", Provider: "openai", Endpoint: "chat", Tokens: 1200, SpendMicros: 3_000_000, Time: at(15, 14, 0), Headers: map[string]string{"x-team": "ml", "user-agent": "sdk"}},
		{Key: "intern", Model: "gpt-5", Provider: "openai", Endpoint: "chat", Tokens: 800, Time: at(15, 20, 30)},
		{Key: "svc", Model: "text-embedding-3", Provider: "openai", Endpoint: "embeddings", Tokens: 300000, Time: at(15, 23, 0)},
		{Key: "svc", Model: "llama", Provider: "local", Endpoint: "chat", Tokens: 10, Time: at(15, 9, 0)},
		{Key: "team-b", Model: "claude", Provider: "anthropic", Endpoint: "messages", SpendMicros: 25_000_000, Time: at(16, 9, 0)},
	}
}

func BenchmarkEval(b *testing.B) {
	s := mustCompile(b, benchRules...)
	// A request that matches no rule evaluates all five; the gateway's
	// common case.
	in := Input{Key: "team-a", Model: "gpt-4o", Provider: "local", Endpoint: "chat", Tokens: 1200,
		SpendMicros: 3_000_000, MonthSpendMicros: 50_000_000, Time: at(15, 14, 0),
		Headers: map[string]string{"x-team": "web", "user-agent": "sdk"}}
	if d := mustEval(b, s, in); d.Kind != Allow || len(d.Matched) != 0 {
		b.Fatalf("benchmark input matched: %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Eval(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalParallel(b *testing.B) {
	s := mustCompile(b, benchRules...)
	inputs := benchInputs()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Eval(inputs[i%len(inputs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func TestCostTrackingOnlyWhereUnbounded(t *testing.T) {
	for _, tc := range []struct {
		when    string
		tracked bool
	}{
		{eveningDowngrade.When, false},
		{`"x-team" in headers && headers["x-team"] == "ml"`, false},
		{`[1, 2, 3].exists(x, x == tokens)`, false},
		{`headers.exists(k, k.startsWith("x-"))`, true},
		{`key.matches("^team-.*$")`, true},
	} {
		s := mustCompile(t, Rule{Name: "r", When: tc.when, Deny: "x"})
		if got := s.rules[0].tracked; got != tc.tracked {
			t.Errorf("%s: tracked = %v, want %v", tc.when, got, tc.tracked)
		}
	}
}

func TestCostLimitOnInputSizedComprehension(t *testing.T) {
	// Bounded by the number of headers, which the estimator cannot know:
	// 200 headers make 8M iterations.
	s := mustCompile(t, Rule{Name: "headers-cubed", When: `headers.all(a, headers.all(b, headers.all(c, a != "never")))`, Deny: "x"})
	h := map[string]string{}
	for i := range 200 {
		h[fmt.Sprintf("h-%d", i)] = "v"
	}
	_, err := s.Eval(Input{Headers: h})
	var ee *EvalError
	if !errors.As(err, &ee) || !ee.CostLimit {
		t.Fatalf("err = %v, want cost limit", err)
	}
	// With few headers the same rule is well within the limit.
	if d := mustEval(t, s, Input{Headers: map[string]string{"a": "b"}}); d.Kind != Deny {
		t.Errorf("got %v", d.Kind)
	}
}
