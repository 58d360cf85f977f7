package session

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// Test items carry explicit Tokens so that budgets are plain arithmetic.

func fitMsg(role, text string, tokens int) contextdoc.Item {
	return contextdoc.Item{Type: contextdoc.TypeMessage, Role: role, Content: []contextdoc.Part{contextdoc.TextPart(text)}, Tokens: tokens}
}

func fitUser(text string, tokens int) contextdoc.Item { return fitMsg("user", text, tokens) }
func fitAsst(text string, tokens int) contextdoc.Item { return fitMsg("assistant", text, tokens) }

func fitCall(id, name, args string, tokens int) contextdoc.Item {
	return contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: id, Name: name, Arguments: args, Tokens: tokens}
}

func fitOutput(id, text string, tokens int) contextdoc.Item {
	return contextdoc.Item{Type: contextdoc.TypeFunctionCallOutput, CallID: id, Content: []contextdoc.Part{contextdoc.TextPart(text)}, Tokens: tokens}
}

// The invariants test classifies items on its own, not with Fit's code.
func fitTestIsSystem(it *contextdoc.Item) bool {
	return it.Type == contextdoc.TypeMessage && (it.Role == "system" || it.Role == "developer")
}

func fitTestIsUser(it *contextdoc.Item) bool {
	return it.Type == contextdoc.TypeMessage && it.Role == "user"
}

// fitSpan returns the ints [from, to).
func fitSpan(from, to int) []int {
	s := make([]int, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func fitJoin(parts ...[]int) []int { return slices.Concat(parts...) }

// fitHistory is nine question/answer turns of 200 tokens and a current
// question of 100: "q<k>" and "a<k>" at items 2k and 2k+1, the current
// one at 18.
func fitHistory() []contextdoc.Item {
	var items []contextdoc.Item
	for k := range 9 {
		items = append(items, fitUser(fmt.Sprintf("q%d", k), 100), fitAsst(fmt.Sprintf("a%d", k), 100))
	}
	return append(items, fitUser("q9", 100))
}

// With Window 1000 the budget is 1000 − 64 (the minimum margin) = 936.
const fitTestWindow, fitTestBudget = 1000, 936

func TestFitPolicies(t *testing.T) {
	topical := []contextdoc.Item{
		fitUser("How do I configure the nginx ingress controller on kubernetes?", 100),
		fitAsst("Annotate the ingress with the nginx ingress class and expose the controller service.", 100),
	}
	for _, q := range []string{
		"What is a good recipe for pasta carbonara?",
		"Will it rain tomorrow in Paris?",
		"Recommend a science fiction novel.",
		"How long should I boil an egg?",
		"What is the capital of Australia?",
		"Translate good morning into Italian.",
		"Which houseplants need little light?",
		"Explain the offside rule in football.",
	} {
		topical = append(topical, fitUser(q, 100), fitAsst("Here is an answer about that.", 100))
	}
	topical = append(topical, fitUser("Back to the nginx ingress: which class annotation did we set?", 100))

	bigTurn5 := fitHistory()
	bigTurn5[10].Tokens = 300 // turn 5 is 400 tokens

	cases := []struct {
		name   string
		items  []contextdoc.Item
		policy Policy
		query  string
		fixed  int
		keep   []int
		tokens int
	}{
		// room = 936 − 100 (Fixed) − 100 (current) = 736: three whole turns.
		{name: "window keeps the newest suffix", items: fitHistory(), policy: PolicyWindow, fixed: 100,
			keep: fitSpan(12, 19), tokens: 100 + 700},
		{name: "summarize fits like window", items: fitHistory(), policy: PolicySummarize, fixed: 100,
			keep: fitSpan(12, 19), tokens: 800},
		{name: "unknown policy fits like window", items: fitHistory(), policy: "", fixed: 100,
			keep: fitSpan(12, 19), tokens: 800},
		{name: "a turn that does not fit stops window", items: bigTurn5, policy: PolicyWindow, fixed: 0,
			// room 836: turns 8, 7, 6 fit (600, 236 left); turn 5 (400)
			// does not, so turn 4 (200) is not kept though it would fit.
			keep: fitSpan(12, 19), tokens: 700},
		{name: "relevance does not stop at a misfit", items: bigTurn5, policy: PolicyRelevance, fixed: 0,
			// room 836: turns 8, 7 (400), then by recency (no query word
			// matches) 6 (200), 5 no, 4 (200).
			query: "zebra", keep: fitJoin(fitSpan(8, 10), fitSpan(12, 19)), tokens: 900},
		{name: "window with less room", items: fitHistory(), policy: PolicyWindow, fixed: 300,
			// room 536: two turns.
			keep: fitSpan(14, 19), tokens: 300 + 500},
		{name: "relevance with no matching word ties on recency", items: fitHistory(), policy: PolicyRelevance,
			query: "zebra", fixed: 100, keep: fitSpan(12, 19), tokens: 800},
		{name: "window drops the topical turn", items: topical, policy: PolicyWindow, fixed: 100,
			keep: fitSpan(12, 19), tokens: 800},
		{name: "relevance keeps the topical turn over a newer irrelevant one", items: topical, policy: PolicyRelevance,
			query: "Back to the nginx ingress: which class annotation did we set?", fixed: 100,
			keep: fitJoin([]int{0, 1}, fitSpan(14, 19)), tokens: 800},
		{name: "relevance falls back to the current items' text", items: topical, policy: PolicyRelevance,
			fixed: 100, keep: fitJoin([]int{0, 1}, fitSpan(14, 19)), tokens: 800},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := FitInput{Items: c.items, Fixed: c.fixed, Current: 1, Window: fitTestWindow, Policy: c.policy, Query: c.query}
			res := Fit(in)
			if !slices.Equal(res.Keep, c.keep) {
				t.Errorf("Keep = %v, want %v", res.Keep, c.keep)
			}
			if want := fitComplement(len(c.items), c.keep); !slices.Equal(res.Dropped, want) {
				t.Errorf("Dropped = %v, want %v", res.Dropped, want)
			}
			if res.Tokens != c.tokens || !res.Fits || res.Budget != fitTestBudget {
				t.Errorf("Tokens, Fits, Budget = %d, %v, %d; want %d, true, %d", res.Tokens, res.Fits, res.Budget, c.tokens, fitTestBudget)
			}
		})
	}
}

func fitComplement(n int, keep []int) []int {
	var out []int
	for i := range n {
		if !slices.Contains(keep, i) {
			out = append(out, i)
		}
	}
	return out
}

func TestFitRelevanceRanking(t *testing.T) {
	items := []contextdoc.Item{
		fitUser("Our invoice numbering scheme: year, then a counter.", 100), fitAsst("Noted.", 100), // 0 1: invoice once
		fitUser("Invoice totals must include VAT; invoice PDFs go to billing.", 100), fitAsst("Understood, invoice VAT.", 100), // 2 3: invoice often
		fitUser("Lunch ideas?", 100), fitAsst("Soup.", 100), // 4 5
		fitUser("Dinner ideas?", 100), fitAsst("Stew.", 100), // 6 7: newest two, kept anyway
		fitUser("Dessert ideas?", 100), fitAsst("Cake.", 100), // 8 9
		fitUser("Draft the invoice email.", 100), // 10: current
	}
	in := FitInput{Items: items, Current: 1, Window: fitTestWindow, Policy: PolicyRelevance, Query: "Draft the invoice email."}
	// room 836 − 400 (newest two) = 436: two more turns; the invoice turns
	// rank above lunch, the one saying it more first.
	in.Fixed = 0
	if got, want := Fit(in).Keep, fitJoin(fitSpan(0, 4), fitSpan(6, 11)); !slices.Equal(got, want) {
		t.Errorf("room for two: Keep = %v, want %v", got, want)
	}
	// Room for one more turn only (836 − 200 − 400 = 236): the more
	// relevant.
	in.Fixed = 200
	if got, want := Fit(in).Keep, fitJoin([]int{2, 3}, fitSpan(6, 11)); !slices.Equal(got, want) {
		t.Errorf("room for one: Keep = %v, want %v", got, want)
	}
	// A newest turn too big to fit is skipped, and the room goes to
	// others: relevance never stops at the first misfit.
	items[8].Tokens = 1000
	in.Fixed = 0
	if got, want := Fit(in).Keep, fitJoin(fitSpan(0, 8), []int{10}); !slices.Equal(got, want) {
		t.Errorf("big newest turn: Keep = %v, want %v", got, want)
	}
}

func TestFitToolCallNotSplit(t *testing.T) {
	// A user message came between a call and its output: two turns by
	// the rule, one group in fact.
	items := []contextdoc.Item{
		fitUser("Look up the weather.", 100),                 // 0 turn A
		fitCall("c1", "weather", `{"city":"Oslo"}`, 100),     // 1
		fitUser("Also, hurry.", 100),                         // 2 turn B
		fitOutput("c1", "Snow, -3C.", 100),                   // 3
		fitAsst("It is snowing in Oslo.", 100),               // 4
		fitUser("Thanks. Anything else I should know?", 100), // 5 current
	}
	for _, p := range []Policy{PolicyWindow, PolicySummarize, PolicyRelevance} {
		t.Run(string(p), func(t *testing.T) {
			// Window 500: budget 436, room 336. Turn B (300) alone would
			// fit, but with its call's turn (500) it does not: both go.
			res := Fit(FitInput{Items: items, Current: 1, Window: 500, Policy: p, Query: "weather"})
			if !slices.Equal(res.Keep, []int{5}) || !res.Fits {
				t.Errorf("window 500: Keep = %v, Fits %v; want [5], true", res.Keep, res.Fits)
			}
			res = Fit(FitInput{Items: items, Current: 1, Window: 1000, Policy: p, Query: "weather"})
			if !slices.Equal(res.Keep, fitSpan(0, 6)) {
				t.Errorf("window 1000: Keep = %v, want all", res.Keep)
			}
		})
	}
	// The current item is the output of a call made before a user
	// message: the call's turn becomes part of the current one.
	cur := []contextdoc.Item{
		fitUser("old", 100), fitAsst("old", 100), // 0 1
		fitUser("Run it.", 100), fitCall("c2", "run", `{}`, 100), // 2 3
		fitUser("Still there?", 100), fitOutput("c2", "ok", 100), // 4 5: current
	}
	res := Fit(FitInput{Items: cur, Current: 2, Window: 600, Policy: PolicyWindow}) // budget 536
	if !slices.Equal(res.Keep, fitSpan(2, 6)) || !res.Fits || res.Tokens != 400 {
		t.Errorf("Keep = %v, Fits %v, Tokens %d; want [2 3 4 5], true, 400", res.Keep, res.Fits, res.Tokens)
	}
	res = Fit(FitInput{Items: cur, Current: 2, Window: 400, Policy: PolicyWindow}) // budget 336
	if !slices.Equal(res.Keep, fitSpan(2, 6)) || res.Fits {
		t.Errorf("too small: Keep = %v, Fits %v; want [2 3 4 5], false", res.Keep, res.Fits)
	}
}

func TestFitSystemMessagesKept(t *testing.T) {
	items := []contextdoc.Item{fitMsg("system", "You are terse.", 50)}  // 0
	items = append(items, fitHistory()[:6]...)                          // 1..6: three turns
	items = append(items, fitMsg("developer", "Answer in French.", 50)) // 7: in the third turn
	items = append(items, fitUser("q9", 100))                           // 8: current
	for _, p := range []Policy{PolicyWindow, PolicyRelevance} {
		// Budget 936, Fixed 600: room 936 − 600 − 100 (system) − 100 = 136,
		// no turn fits; the system and developer messages stay.
		res := Fit(FitInput{Items: items, Fixed: 600, Current: 1, Window: fitTestWindow, Policy: p})
		if !slices.Equal(res.Keep, []int{0, 7, 8}) || !res.Fits || res.Tokens != 600+50+50+100 {
			t.Errorf("%s: Keep = %v, Fits %v, Tokens %d; want [0 7 8], true, 800", p, res.Keep, res.Fits, res.Tokens)
		}
		if !slices.Equal(res.Dropped, fitSpan(1, 7)) {
			t.Errorf("%s: Dropped = %v", p, res.Dropped)
		}
	}
}

func TestFitCurrentAlwaysKept(t *testing.T) {
	// A tool loop: the request sends the output of the call the model
	// just made; its turn starts at the user message before.
	items := append(fitHistory()[:4],
		fitUser("What is in /tmp?", 100),            // 4
		fitCall("c1", "ls", `{"path":"/tmp"}`, 100), // 5
		fitOutput("c1", "a.txt b.txt", 100),         // 6: current
	)
	res := Fit(FitInput{Items: items, Current: 1, Window: 400, Policy: PolicyWindow}) // budget 336
	if !slices.Equal(res.Keep, []int{4, 5, 6}) || !res.Fits || res.Tokens != 300 {
		t.Errorf("Keep = %v, Fits %v, Tokens %d; want [4 5 6], true, 300", res.Keep, res.Fits, res.Tokens)
	}
	// Current larger than the items is all of them.
	res = Fit(FitInput{Items: items, Current: 99, Window: 400})
	if !slices.Equal(res.Keep, fitSpan(0, 7)) || res.Fits {
		t.Errorf("Current 99: Keep = %v, Fits %v; want all, false", res.Keep, res.Fits)
	}
	// Current 0: the newest turn is taken as current.
	res = Fit(FitInput{Items: items, Current: 0, Window: 400})
	if !slices.Equal(res.Keep, []int{4, 5, 6}) {
		t.Errorf("Current 0: Keep = %v, want [4 5 6]", res.Keep)
	}
}

func TestFitDoesNotFit(t *testing.T) {
	items := []contextdoc.Item{fitMsg("system", "Be brief.", 50)}
	items = append(items, fitHistory()[:6]...)
	items = append(items, fitUser("a very long paste", 5000))
	res := Fit(FitInput{Items: items, Fixed: 100, Current: 1, Window: fitTestWindow, Policy: PolicyWindow})
	if res.Fits || !slices.Equal(res.Keep, []int{0, 7}) || !slices.Equal(res.Dropped, fitSpan(1, 7)) ||
		res.Tokens != 100+50+5000 || res.Budget != fitTestBudget {
		t.Errorf("got %+v; want Keep [0 7], Dropped 1..6, Tokens 5150, Fits false", res)
	}
	// An output cap as big as the window leaves nothing.
	res = Fit(FitInput{Items: fitHistory(), Current: 1, Window: 1000, Output: 1000})
	if res.Fits || !slices.Equal(res.Keep, []int{18}) {
		t.Errorf("Output = Window: Keep = %v, Fits %v; want [18], false", res.Keep, res.Fits)
	}
}

func TestFitUnknownWindow(t *testing.T) {
	items := fitHistory()
	items[0].Tokens = 1_000_000
	res := Fit(FitInput{Items: items, Fixed: 7, Current: 1, Policy: PolicyRelevance, Query: "q1"})
	if !res.Fits || !slices.Equal(res.Keep, fitSpan(0, 19)) || len(res.Dropped) != 0 ||
		res.Tokens != 7+1_000_000+1800 || res.Budget != 0 {
		t.Errorf("got %+v; want everything kept", res)
	}
}

func TestEstimateTokens(t *testing.T) {
	text := func(s string) contextdoc.Item { return fitMsg("user", s, 0) }
	cases := []struct {
		name string
		it   contextdoc.Item
		want int
	}{
		{"empty", contextdoc.Item{Type: contextdoc.TypeMessage, Role: "user"}, 4},
		{"12 bytes", text("hello world!"), 3 + 4},
		{"13 bytes rounds up", text("hello, world!"), 4 + 4},
		{"Tokens wins", contextdoc.Item{Type: contextdoc.TypeMessage, Content: []contextdoc.Part{contextdoc.TextPart(strings.Repeat("x", 4000))}, Tokens: 7}, 7},
		{"image", contextdoc.Item{Type: contextdoc.TypeMessage, Content: []contextdoc.Part{{Type: contextdoc.PartImage, URL: "https://x/y.png"}, contextdoc.TextPart("abcd")}}, 1000 + 1 + 4},
		{"small file counts as an image", contextdoc.Item{Type: contextdoc.TypeMessage, Content: []contextdoc.Part{{Type: contextdoc.PartFile, Data: "aGVsbG8="}}}, 1000 + 4},
		{"big file by its decoded size", contextdoc.Item{Type: contextdoc.TypeMessage, Content: []contextdoc.Part{{Type: contextdoc.PartFile, Data: strings.Repeat("A", 8000)}}}, 1500 + 4},
		{"call: name and arguments", fitCall("c", "get", `{"a":1}`, 0), 3 + 4}, // 10 bytes
		{"output", fitOutput("c", strings.Repeat("y", 400), 0), 100 + 4},
		{"reasoning: opaque data not counted", contextdoc.Item{Type: contextdoc.TypeReasoning, Signature: strings.Repeat("s", 4000), Content: []contextdoc.Part{contextdoc.TextPart("abcdefgh")}}, 2 + 4},
		{"refusal", contextdoc.Item{Type: contextdoc.TypeMessage, Content: []contextdoc.Part{{Type: contextdoc.PartRefusal, Text: "no"}}}, 1 + 4},
	}
	for _, c := range cases {
		if got := EstimateTokens(&c.it); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestFitUsesItemTokens(t *testing.T) {
	// A turn with 40 kB of text: about 10,000 tokens estimated, but
	// recorded as 10 (the provider's count wins).
	items := []contextdoc.Item{
		fitUser(strings.Repeat("word ", 8000), 10), fitAsst("ok", 10),
		fitUser("next", 10),
	}
	in := FitInput{Items: items, Current: 1, Window: fitTestWindow}
	if res := Fit(in); !slices.Equal(res.Keep, []int{0, 1, 2}) || res.Tokens != 30 {
		t.Errorf("recorded: Keep = %v, Tokens %d; want all, 30", res.Keep, res.Tokens)
	}
	items[0].Tokens = 0
	if res := Fit(in); !slices.Equal(res.Keep, []int{2}) || res.Tokens != 10 {
		t.Errorf("estimated: Keep = %v, Tokens %d; want [2], 10", res.Keep, res.Tokens)
	}
}

func TestSummaryPlan(t *testing.T) {
	items := append([]contextdoc.Item{fitMsg("system", "sys", 50)}, fitHistory()...)
	// Budget 936 − 100 (Fixed) − 50 (system) − 100 (current) = 686: three
	// turns (items 13..18) stay, 1..12 are dropped.
	in := FitInput{Items: items, Fixed: 100, Current: 1, Window: fitTestWindow, Policy: PolicyRelevance}
	for _, c := range []struct {
		through int
		want    []int
	}{
		{0, fitSpan(1, 13)}, // the system message is never dropped
		{1, fitSpan(1, 13)},
		{7, fitSpan(7, 13)},
		{12, []int{12}},
		{13, nil},
		{20, nil},
	} {
		if got := SummaryPlan(in, c.through); !slices.Equal(got, c.want) {
			t.Errorf("through %d: %v, want %v", c.through, got, c.want)
		}
	}
	// Two more turns later, with the summary through 13: exactly the
	// items newly fallen out of the window.
	in.Items = append(items[:len(items):len(items)], fitAsst("a9", 100), fitUser("q10", 100), fitAsst("a10", 100), fitUser("q11", 100))
	if got, want := SummaryPlan(in, 13), fitSpan(13, 17); !slices.Equal(got, want) {
		t.Errorf("incremental: %v, want %v", got, want)
	}
}

func TestSummaryPrompt(t *testing.T) {
	items := []contextdoc.Item{
		fitUser("What's the weather in Paris?", 0),
		{Type: contextdoc.TypeReasoning, Content: []contextdoc.Part{contextdoc.TextPart("SECRET-THOUGHT")}},
		fitCall("c1", "get_weather", `{"city":"Paris"}`, 0),
		fitOutput("c1", "sunny, 21C", 0),
		{Type: contextdoc.TypeFunctionCallOutput, CallID: "c2", IsError: true, Content: []contextdoc.Part{contextdoc.TextPart("timeout")}},
		{Type: contextdoc.TypeMessage, Role: "user", Content: []contextdoc.Part{contextdoc.TextPart("and this?"), {Type: contextdoc.PartImage, URL: "https://x/y.png"}}},
		fitAsst("It is sunny, 21C.", 0),
	}
	got := SummaryPrompt("The user plans a trip to France.", items)
	want := []string{
		"running summary",
		"decisions",
		"Previous summary:\nThe user plans a trip to France.",
		"\nuser: What's the weather in Paris?\n",
		"\ntool call get_weather({\"city\":\"Paris\"})\n",
		"\ntool result: sunny, 21C\n",
		"\ntool result (error): timeout\n",
		"\nuser: and this? [image]\n",
		"\nassistant: It is sunny, 21C.\n",
	}
	last := 0
	for _, w := range want {
		k := strings.Index(got[last:], w)
		if k < 0 {
			t.Fatalf("prompt lacks %q (in order) in:\n%s", w, got)
		}
		last += k + len(w) - 1
	}
	if strings.Contains(got, "SECRET-THOUGHT") {
		t.Error("reasoning rendered")
	}
	if got := SummaryPrompt("  ", nil); !strings.Contains(got, "Previous summary:\n(none)") {
		t.Errorf("no previous summary: %q", got)
	}
}

func TestFitWords(t *testing.T) {
	var got []string
	fitWords("Hello, WORLD! naïve Ünïcode 東京 a y2 nginx-ingress", nil, func(w []byte) { got = append(got, string(w)) })
	want := []string{"hello", "world", "naïve", "ünïcode", "東", "京", "y2", "nginx", "ingress"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestFitDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	items := fitRandomHistory(r, 60)
	in := FitInput{Items: items, Fixed: 500, Current: 2, Window: 8000, Output: 1000, Policy: PolicyRelevance, Query: "nginx budget deploy"}
	first := Fit(in)
	for range 5 {
		if again := Fit(in); !reflect.DeepEqual(again, first) {
			t.Fatalf("Fit differs between calls:\n%+v\n%+v", first, again)
		}
	}
}

var fitVocab = strings.Fields("nginx ingress pasta weather paris golang deploy budget invoice tax the and of is kubernetes recipe train schedule")

func fitRandomText(r *rand.Rand) string {
	w := make([]string, 1+r.IntN(12))
	for i := range w {
		w[i] = fitVocab[r.IntN(len(fitVocab))]
	}
	return strings.Join(w, " ")
}

// fitRandomHistory makes a history of about turns turns with everything
// Fit must cope with: leading items before any user message, system and
// developer messages anywhere, reasoning, parallel tool calls whose
// outputs come back in any order, sometimes after a user message, and
// items both with and without recorded Tokens.
func fitRandomHistory(r *rand.Rand, turns int) []contextdoc.Item {
	var items []contextdoc.Item
	tok := func() int {
		if r.IntN(3) == 0 {
			return 0 // estimated
		}
		return 1 + r.IntN(400)
	}
	calls := 0
	if r.IntN(3) == 0 {
		items = append(items, fitMsg("system", "You are helpful.", tok()))
	}
	if r.IntN(4) == 0 {
		items = append(items, fitAsst(fitRandomText(r), tok()))
	}
	for range turns {
		items = append(items, fitUser(fitRandomText(r), tok()))
		for s := r.IntN(5); s > 0; s-- {
			switch r.IntN(7) {
			case 0:
				items = append(items, contextdoc.Item{Type: contextdoc.TypeReasoning, Content: []contextdoc.Part{contextdoc.TextPart(fitRandomText(r))}, Tokens: tok()})
			case 1:
				role := "system"
				if r.IntN(2) == 0 {
					role = "developer"
				}
				items = append(items, fitMsg(role, fitRandomText(r), tok()))
			case 2, 3:
				var ids []string
				for range 1 + r.IntN(3) {
					calls++
					id := fmt.Sprintf("call_%d", calls)
					ids = append(ids, id)
					items = append(items, fitCall(id, "tool", `{"q":"`+fitRandomText(r)+`"}`, tok()))
				}
				if r.IntN(5) == 0 {
					items = append(items, fitUser("interjection "+fitRandomText(r), tok()))
				}
				r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				for _, id := range ids {
					items = append(items, fitOutput(id, fitRandomText(r), tok()))
				}
			default:
				items = append(items, fitAsst(fitRandomText(r), tok()))
			}
		}
	}
	return items
}

// TestFitInvariants checks what must hold for any history.
func TestFitInvariants(t *testing.T) {
	policies := []Policy{PolicyWindow, PolicySummarize, PolicyRelevance, ""}
	// What the random cases covered, so the test cannot pass vacuously.
	var dropping, relevanceDropping, notFitting, unknown, splitCalls int
	defer func() {
		if t.Failed() {
			return
		}
		t.Logf("cases: %d fit with drops (%d by relevance), %d do not fit, %d unknown window, %d with a call and output in different turns",
			dropping, relevanceDropping, notFitting, unknown, splitCalls)
		if dropping < 200 || relevanceDropping < 50 || notFitting < 50 || unknown < 50 || splitCalls < 50 {
			t.Error("the random histories do not cover enough cases")
		}
	}()
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		items := fitRandomHistory(r, r.IntN(25))
		n := len(items)
		in := FitInput{
			Items:   items,
			Fixed:   r.IntN(2000),
			Current: r.IntN(min(n, 5) + 1),
			Policy:  policies[r.IntN(len(policies))],
			Query:   fitRandomText(r),
		}
		if r.IntN(10) > 0 {
			in.Window = 500 + r.IntN(20000)
			in.Output = r.IntN(in.Window / 4)
		}
		res := Fit(in)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (%d items, policy %q, current %d, window %d, output %d, fixed %d): %s\nKeep %v\nDropped %v",
				seed, n, in.Policy, in.Current, in.Window, in.Output, in.Fixed, fmt.Sprintf(format, args...), res.Keep, res.Dropped)
		}

		// Keep and Dropped are ascending and partition the indexes.
		if !slices.IsSorted(res.Keep) || !slices.IsSorted(res.Dropped) {
			fail("not ascending")
		}
		kept := make([]bool, n)
		for _, i := range res.Keep {
			kept[i] = true
		}
		if all := slices.Sorted(slices.Values(slices.Concat(res.Keep, res.Dropped))); !slices.Equal(all, fitSpan(0, n)) {
			fail("Keep and Dropped do not partition 0..%d", n-1)
		}
		for _, i := range res.Dropped {
			if kept[i] {
				fail("%d both kept and dropped", i)
			}
		}

		// Tokens are what is kept plus Fixed, and within budget when Fits.
		sum := in.Fixed
		for _, i := range res.Keep {
			sum += EstimateTokens(&items[i])
		}
		if res.Tokens != sum {
			fail("Tokens %d, kept items and Fixed sum to %d", res.Tokens, sum)
		}
		if in.Window <= 0 {
			unknown++
			if !res.Fits || len(res.Keep) != n {
				fail("unknown window: not everything kept")
			}
			continue
		}
		budget := in.Window - in.Output - max(in.Window*2/100, 64)
		if res.Budget != budget {
			fail("Budget %d, want %d", res.Budget, budget)
		}
		if res.Fits && res.Tokens > budget {
			fail("fits but Tokens %d > budget %d", res.Tokens, budget)
		}
		if !res.Fits && res.Tokens <= budget {
			fail("does not fit but Tokens %d ≤ budget %d", res.Tokens, budget)
		}
		switch {
		case !res.Fits:
			notFitting++
		case len(res.Dropped) > 0:
			dropping++
			if in.Policy == PolicyRelevance {
				relevanceDropping++
			}
		}

		// The current items and system messages are kept.
		for i := n - in.Current; i < n; i++ {
			if !kept[i] {
				fail("current item %d dropped", i)
			}
		}
		for i := range items {
			if fitTestIsSystem(&items[i]) && !kept[i] {
				fail("system message %d dropped", i)
			}
		}

		// A call is kept exactly when its output is.
		callKept, callTurn, split := map[string]bool{}, map[string]int{}, false
		turn := 0
		for i := range items {
			if i > 0 && fitTestIsUser(&items[i]) {
				turn++
			}
			switch it := &items[i]; it.Type {
			case contextdoc.TypeFunctionCall:
				callKept[it.CallID], callTurn[it.CallID] = kept[i], turn
			case contextdoc.TypeFunctionCallOutput:
				if callKept[it.CallID] != kept[i] {
					fail("call %s kept %v, its output (item %d) kept %v", it.CallID, callKept[it.CallID], i, kept[i])
				}
				split = split || callTurn[it.CallID] != turn
			}
		}
		if split {
			splitCalls++
		}

		// Whole turns only: within a turn, all items but system messages
		// share one fate.
		turnKept := map[int]bool{}
		turn = 0
		for i := range items {
			if i > 0 && fitTestIsUser(&items[i]) {
				turn++
			}
			if fitTestIsSystem(&items[i]) {
				continue
			}
			if k, ok := turnKept[turn]; ok && k != kept[i] {
				fail("turn %d split at item %d", turn, i)
			}
			turnKept[turn] = kept[i]
		}

		// Window-like fitting keeps a newest suffix: never an older item
		// while a newer one is dropped. (So does any policy that does not
		// fit: only the current turn is kept.)
		if in.Policy != PolicyRelevance || !res.Fits {
			droppedNewer := false
			for i := n - 1; i >= 0; i-- {
				if fitTestIsSystem(&items[i]) {
					continue
				}
				if !kept[i] {
					droppedNewer = true
				} else if droppedNewer {
					fail("item %d kept while a newer one is dropped", i)
				}
			}
		}

		// The summary plan is the dropped items past the summary.
		through := r.IntN(n + 1)
		var want []int
		if in.Policy != PolicyRelevance {
			for _, i := range res.Dropped {
				if i >= through {
					want = append(want, i)
				}
			}
			if got := SummaryPlan(in, through); !slices.Equal(got, want) {
				fail("SummaryPlan(%d) = %v, want %v", through, got, want)
			}
		}

		if again := Fit(in); !reflect.DeepEqual(again, res) {
			fail("not deterministic")
		}
	}
}

// fitBenchHistory is a realistic history: user questions of about 250
// bytes, answers of about 900, and a tool call with a 1,500-byte result
// every third turn; no recorded Tokens, so everything is estimated.
func fitBenchHistory(turns int) []contextdoc.Item {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the deploy pipeline failed on staging because the nginx ingress certificate expired yesterday and kubernetes kept the old pods alive while our invoice service retried payments against the billing database with golang workers in paris tokyo")
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()
	}
	items := []contextdoc.Item{fitMsg("system", "You are a helpful assistant.", 0)}
	for k := range turns {
		items = append(items, fitUser(text(250), 0))
		if k%3 == 0 {
			id := fmt.Sprintf("call_%d", k)
			items = append(items, fitCall(id, "search", `{"query":"`+text(80)+`"}`, 0), fitOutput(id, text(1500), 0))
		}
		items = append(items, fitAsst(text(900), 0))
	}
	return append(items, fitUser("Which certificate expired on the nginx ingress?", 0))
}

func BenchmarkFit(b *testing.B) {
	for _, turns := range []int{200, 2000} {
		items := fitBenchHistory(turns)
		for _, p := range []Policy{PolicyWindow, PolicyRelevance} {
			b.Run(fmt.Sprintf("turns=%d/%s", turns, p), func(b *testing.B) {
				in := FitInput{Items: items, Fixed: 2000, Current: 1, Window: 64000, Output: 8000, Policy: p,
					Query: "Which certificate expired on the nginx ingress?"}
				b.ReportAllocs()
				var res FitResult
				for b.Loop() {
					res = Fit(in)
				}
				b.ReportMetric(float64(len(res.Keep)), "kept-items")
				b.ReportMetric(float64(len(items)), "items")
			})
		}
	}
}

func TestFitRelevanceReadsItemBeginnings(t *testing.T) {
	// A word past the first fitScanBytes of an item does not count: a
	// long tool result is judged by its beginning.
	items := []contextdoc.Item{
		fitOutput("c", strings.Repeat("filler ", fitScanBytes/7+1)+"nginx", 10),
		fitOutput("d", "nginx", 10),
	}
	info := []fitInfo{{10, fitKindOf(&items[0])}, {10, fitKindOf(&items[1])}}
	groups := []fitGroup{{start: 0, end: 1, tokens: 10, items: 1}, {start: 1, end: 2, tokens: 10, items: 1}}
	score := fitBM25(items, info, groups, []int{0, 1}, "nginx")
	if score[0] != 0 || score[1] <= 0 {
		t.Errorf("scores %v; want 0 for the word past the limit, > 0 for the other", score)
	}
	if fitBM25(items, info, groups, []int{0, 1}, "the and of") != nil {
		t.Error("a query of stopwords scores")
	}
}
