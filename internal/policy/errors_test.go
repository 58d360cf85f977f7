package policy

import (
	"errors"
	"strings"
	"testing"
)

func compileErr(t *testing.T, file string, rules ...Rule) string {
	t.Helper()
	s, err := Compile(rules, file)
	if err == nil {
		t.Fatalf("Compile succeeded (%d rules), want an error", s.Len())
	}
	if s != nil {
		t.Errorf("Compile returned a Set with an error")
	}
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error is %T, want Errors", err)
	}
	return err.Error()
}

func TestCELErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule Rule
		want string
	}{
		{
			"syntax error",
			Rule{Name: "broken", When: `key == `, Deny: "x", Line: 4, Col: 11},
			`policy.yaml:4:18: policy "broken": syntax error: unexpected end of expression, expecting an operand`,
		},
		{
			"undeclared variable",
			Rule{Name: "typo", When: `key == "a" && modle == "x"`, Deny: "x", Line: 9, Col: 12},
			`policy.yaml:9:26: policy "typo": unknown variable 'modle' (did you mean 'model'?)`,
		},
		{
			"non-bool",
			Rule{Name: "sum", When: `hour + 1`, Deny: "x", Line: 3, Col: 11},
			`policy.yaml:3:11: policy "sum": when must be a condition (bool), but this expression is int`,
		},
		{
			"later line of a block scalar",
			Rule{Name: "multi", When: "key == \"a\" &&\n  hoor > 3", Deny: "x", Line: 10, Col: 7, Indent: 6},
			`policy.yaml:11:9: policy "multi": unknown variable 'hoor' (did you mean 'hour'?)`,
		},
		{
			"later line without indent",
			Rule{Name: "multi", When: "key == \"a\" &&\n  hoor > 3", Deny: "x", Line: 10, Col: 7},
			`policy.yaml:11:3: policy "multi": unknown variable 'hoor' (did you mean 'hour'?)`,
		},
		{
			"single = ",
			Rule{Name: "assign", When: `key = "a"`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:13: policy "assign": syntax error: unexpected '=' (use == to compare)`,
		},
		{
			"and instead of &&",
			Rule{Name: "words", When: `key == "a" and hour > 3`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:20: policy "words": syntax error: unexpected 'and', expecting end of expression (use && and || for and, or)`,
		},
		{
			"single &",
			Rule{Name: "amp", When: `key == "a" & hour > 3`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:20: policy "amp": syntax error: unexpected '&' (use && and || for and, or)`,
		},
		{
			"header with dash",
			Rule{Name: "hdr", When: `headers.x-team == "ml"`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:19: policy "hdr": unknown variable 'team' (a header name with '-' is written headers["x-team"])`,
		},
		{
			"type mismatch",
			Rule{Name: "types", When: `hour == "20"`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:14: policy "types": found no matching overload for '==' applied to '(int, string)'`,
		},
		{
			"unknown function",
			Rule{Name: "fn", When: `key.shout()`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:18: policy "fn": unknown function 'shout'`,
		},
		{
			"unterminated string",
			Rule{Name: "str", When: `key == "a`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:16: policy "str": syntax error: unterminated string`,
		},
		{
			"unknown variable, no suggestion",
			Rule{Name: "zz", When: `zzz > 3`, Deny: "x", Line: 2, Col: 9},
			`policy.yaml:2:9: policy "zz": unknown variable 'zzz' (variables: key, model, provider, endpoint, hour, minute, weekday, tokens, spend, spend_month, session, headers, now)`,
		},
		{
			"bad regex constant",
			Rule{Name: "re", When: `model.matches("[")`, Deny: "x", Line: 2, Col: 9},
			"policy.yaml:2:9: policy \"re\": error parsing regexp: missing closing ]: `[`",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := compileErr(t, "policy.yaml", tc.rule); got != tc.want {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestErrorPositionUnknown(t *testing.T) {
	// No file: no FILE: prefix. No position: the expression position is
	// given inside the message.
	r := Rule{Name: "broken", When: `key == `, Deny: "x"}
	if got, want := compileErr(t, "", r), `policy "broken": when:1:8: syntax error: unexpected end of expression, expecting an operand`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := compileErr(t, "p.yaml", r), `p.yaml: policy "broken": when:1:8: syntax error: unexpected end of expression, expecting an operand`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	r.Line, r.Col = 5, 9
	if got, want := compileErr(t, "", r), `5:16: policy "broken": syntax error: unexpected end of expression, expecting an operand`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStructuralErrors(t *testing.T) {
	rules := []Rule{
		{Name: "ok", When: "true", Allow: true, Line: 3, Col: 11},
		{Name: "", When: "true", Deny: "x", Line: 6, Col: 11},
		{Name: "ok", When: "true", Deny: "x", Line: 9, Col: 11},
		{Name: "no-when", When: "  ", Deny: "x", Line: 12, Col: 11},
		{Name: "no-action", When: "true", Line: 15, Col: 11},
		{Name: "two-actions", When: "true", Deny: "x", Route: "m", Line: 18, Col: 11},
		{Name: "blank-route", When: "true", Route: " ", Line: 21, Col: 11},
		{Name: "empty-require", When: "true", Require: []string{}, Line: 24, Col: 11},
		{Name: "blank-guardrail", When: "true", Require: []string{"pii", ""}, Line: 27, Col: 11},
		{Name: "blank-deny", When: "true", Deny: "  ", Line: 30, Col: 11},
		{Name: "both-bad", When: "key ==", Line: 33, Col: 11},
	}
	want := strings.Join([]string{
		`policy.yaml:6:11: policy #2: name is empty`,
		`policy.yaml:9:11: policy "ok": duplicate name (policy #1 at policy.yaml:3:11 has it too)`,
		`policy.yaml:12:11: policy "no-when": when is empty (use when: "true" to match every request)`,
		`policy.yaml:15:11: policy "no-action": no action: set one of deny, route, require or allow`,
		`policy.yaml:18:11: policy "two-actions": more than one action (deny, route): set exactly one`,
		`policy.yaml:21:11: policy "blank-route": route to an empty model: name the model to route to`,
		`policy.yaml:24:11: policy "empty-require": require lists no guardrails: name at least one`,
		`policy.yaml:27:11: policy "blank-guardrail": require has an empty guardrail name`,
		`policy.yaml:30:11: policy "blank-deny": deny message is blank: say why the request is denied`,
		`policy.yaml:33:11: policy "both-bad": no action: set one of deny, route, require or allow`,
		`policy.yaml:33:17: policy "both-bad": syntax error: unexpected end of expression, expecting an operand`,
	}, "\n")
	got := compileErr(t, "policy.yaml", rules...)
	if got != want {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", got, want)
	}
	var es Errors
	errors.As(func() error { _, err := Compile(rules, "policy.yaml"); return err }(), &es)
	if len(es) != 11 || es[0].Index != 2 || es[0].Line != 6 || es[1].Rule != "ok" || es[1].Index != 3 {
		t.Errorf("structured errors: %d, %+v", len(es), *es[0])
	}
}

func TestStructuralErrorWithoutPosition(t *testing.T) {
	got := compileErr(t, "", Rule{Name: "r", When: "true"})
	if want := `policy "r": no action: set one of deny, route, require or allow`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
