// Package policy owns credflow's dynamic request policy: an ordered list of
// rules whose conditions are CEL expressions, compiled once (Compile) and
// evaluated per request (Set.Eval) to allow a request, deny it with a
// message, route it to another model, or require named guardrails on it.
// Parsing the YAML and acting on a Decision belong to the gateway; this
// package only compiles, reports errors with file positions, and decides.
//
// # Variables
//
// A rule's `when` sees exactly these variables (see Input):
//
//	key          string     virtual key name
//	model        string     model as requested
//	provider     string     provider the request routes to ("" if unknown)
//	endpoint     string     "chat", "completions", "responses", "messages", "embeddings", ...
//	hour         int        0-23, in the location of Input.Time
//	minute       int        0-59, likewise
//	weekday      int        ISO: 1 = Monday … 7 = Sunday, likewise
//	tokens       int        estimated prompt tokens
//	spend        double     the key's spend today, USD
//	spend_month  double     the key's spend this month, USD
//	session      string     session id, "" if none
//	headers      map(string, string), lower-cased names
//	now          timestamp  Input.Time; CEL's accessors (now.getHours()) read
//	                        it in UTC unless given a zone (now.getHours("Europe/Paris")),
//	                        so prefer hour/minute/weekday for local time
//
// Indexing a map with an absent key is an evaluation error, so test first:
// `"x-team" in headers && headers["x-team"] == "ml"`, or use the optional
// form `headers[?"x-team"].orValue("") == "ml"`. CEL's string extensions
// (lowerAscii, split, ...) are available, and ints and doubles compare with
// each other (`spend > 5`).
//
// # Evaluation
//
// Rules are evaluated in order; each has exactly one action:
//
//   - require: the rule's guardrails are added (deduplicated, in rule
//     order) and evaluation continues.
//   - route: the first matching route wins; later route rules are shadowed
//     (not listed in Decision.Matched). Evaluation continues, so a later
//     deny still applies and overrides the route.
//   - deny: evaluation stops; the request is denied with the rule's message.
//   - allow: evaluation stops; later rules are skipped, but the route and
//     guardrails collected so far are kept.
//
// Decision.Kind is Deny if a deny rule matched; else Route if a route rule
// matched; else Require if any guardrail is required; else Allow (no rule
// matched, or only allow rules). Decision.Rule names the rule that decided
// the Kind: the deny rule, the winning route rule, the first require rule,
// or, for Allow, the allow rule that stopped evaluation ("" if none).
// A denied Decision still carries the route and guardrails collected before
// the deny, for logs and `policy test` output.
//
// An evaluation error (absent map key, cost limit exceeded, ...) stops
// evaluation and Eval returns an *EvalError naming the rule; the gateway
// must then fail the request rather than skip the rule, since skipping a
// deny rule would fail open. Each expression's evaluation is bounded by
// CostLimit so that a pathological expression cannot stall a request.
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// CostLimit bounds the CEL cost of one rule's evaluation. Typical rules
// cost under 20; the limit only stops runaway comprehensions (a rule that
// hits it has run for a few milliseconds). Rules whose static cost
// estimate is within the limit are not tracked at run time, since they
// cannot exceed it.
const CostLimit = 100_000

// Rule is one policy as configured.
type Rule struct {
	Name    string
	When    string   // CEL expression, must be bool
	Deny    string   // message; exactly one of Deny, Route, Require, Allow is set
	Route   string   // model to route to instead
	Require []string // guardrail names that must run on this request
	Allow   bool     // explicit allow: stops evaluation (later rules are skipped)

	// Where `when` sits in the config file, for errors: the line and column
	// of the first character of the expression text (inside quotes if
	// quoted; for a YAML block scalar, the first line of content). Zero
	// when unknown.
	Line, Col int

	// Indent is added to CEL's column for errors on the second and later
	// lines of a multi-line expression. Multi-line expressions come from
	// YAML literal block scalars (`when: |`), whose content lines all lose
	// the same indentation; set Indent to that indentation (normally
	// Col-1) so later lines map to the right file column. Zero means the
	// expression's later lines start in file column 1.
	Indent int
}

// Input is what rules see; see the package doc for the CEL variables.
type Input struct {
	Key, Model, Provider, Endpoint, Session string
	Tokens                                  int64
	SpendMicros, MonthSpendMicros           int64 // USD micro-units; exposed as double dollars
	// Headers should have lower-cased names; Eval lower-cases them (on a
	// copy) if any is not.
	Headers map[string]string
	// Time is the clock, injected; hour/minute/weekday are computed in its
	// location. The zero Time means time.Now().
	Time time.Time
}

// Kind is the outcome of an evaluation.
type Kind int

const (
	Allow   Kind = iota // no rule matched, or an explicit allow
	Deny                // a deny rule matched
	Route               // a route rule matched (and no deny)
	Require             // guardrails are required (and no route or deny)
)

func (k Kind) String() string {
	switch k {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case Route:
		return "route"
	case Require:
		return "require"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Decision is the result of evaluating a Set against one request.
type Decision struct {
	Kind    Kind
	Rule    string   // the deciding rule's name ("" when none matched)
	Message string   // for Deny
	Model   string   // for Route (also set when Kind is Deny and a route matched earlier)
	Require []string // all guardrails required by matching require-rules, in rule order, deduplicated
	Matched []string // names of all rules whose `when` was true and took effect, in order
}

type action int

const (
	actDeny action = iota
	actRoute
	actRequire
	actAllow
)

type compiled struct {
	Rule
	act     action
	prg     cel.Program
	tracked bool // evaluation is cost-limited (see compileExpr)
}

// Set is compiled rules, safe for concurrent Eval. A nil *Set has no rules
// and allows everything.
type Set struct {
	file  string
	rules []compiled
}

// Len returns the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Compile checks and compiles rules. file names the config file in error
// messages ("" to omit it). All problems are reported at once, as an Errors
// value listing one problem per line.
func Compile(rules []Rule, file string) (*Set, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	s := &Set{file: file, rules: make([]compiled, 0, len(rules))}
	var errs Errors
	report := func(i int, r *Rule, line, col int, msg string) {
		errs = append(errs, &Error{File: file, Line: line, Col: col, Rule: r.Name, Index: i + 1, Msg: msg})
	}
	firstAt := make(map[string]int, len(rules))
	for i := range rules {
		r := &rules[i]
		c := compiled{Rule: *r}
		c.Require = append([]string(nil), r.Require...) // the caller's slice stays theirs
		ok := true

		if strings.TrimSpace(r.Name) == "" {
			report(i, r, r.Line, r.Col, "name is empty")
			ok = false
		} else if j, dup := firstAt[r.Name]; dup {
			report(i, r, r.Line, r.Col, fmt.Sprintf("duplicate name (policy #%d%s has it too)", j+1, posSuffix(file, rules[j].Line, rules[j].Col)))
			ok = false
		} else {
			firstAt[r.Name] = i
		}

		if a, msg := ruleAction(r); msg != "" {
			report(i, r, r.Line, r.Col, msg)
			ok = false
		} else {
			c.act = a
		}

		if strings.TrimSpace(r.When) == "" {
			report(i, r, r.Line, r.Col, `when is empty (use when: "true" to match every request)`)
			ok = false
		} else {
			prg, tracked, problems := compileExpr(env, r.When)
			for _, p := range problems {
				line, col := mapPos(r, p.line, p.col)
				msg := p.msg
				if r.Line <= 0 && p.line > 0 {
					// No file position: say where in the expression instead.
					msg = fmt.Sprintf("when:%d:%d: %s", p.line, p.col, msg)
				}
				report(i, r, line, col, msg)
				ok = false
			}
			c.prg, c.tracked = prg, tracked
		}
		if ok {
			s.rules = append(s.rules, c)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// ruleAction returns the rule's single action, or a message saying why it
// has none or several.
func ruleAction(r *Rule) (action, string) {
	var set []string
	var a action
	if r.Deny != "" {
		set, a = append(set, "deny"), actDeny
	}
	if r.Route != "" {
		set, a = append(set, "route"), actRoute
	}
	if r.Require != nil {
		set, a = append(set, "require"), actRequire
	}
	if r.Allow {
		set, a = append(set, "allow"), actAllow
	}
	switch {
	case len(set) == 0:
		return 0, "no action: set one of deny, route, require or allow"
	case len(set) > 1:
		return 0, fmt.Sprintf("more than one action (%s): set exactly one", strings.Join(set, ", "))
	}
	switch a {
	case actDeny:
		if strings.TrimSpace(r.Deny) == "" {
			return 0, "deny message is blank: say why the request is denied"
		}
	case actRoute:
		if strings.TrimSpace(r.Route) == "" {
			return 0, "route to an empty model: name the model to route to"
		}
	case actRequire:
		if len(r.Require) == 0 {
			return 0, "require lists no guardrails: name at least one"
		}
		for _, g := range r.Require {
			if strings.TrimSpace(g) == "" {
				return 0, "require has an empty guardrail name"
			}
		}
	}
	return a, ""
}

// mapPos maps a 1-based position within the expression to the file.
func mapPos(r *Rule, exprLine, exprCol int) (line, col int) {
	if r.Line <= 0 {
		return 0, 0
	}
	if exprLine <= 1 {
		if r.Col <= 0 {
			return r.Line, 0
		}
		return r.Line, r.Col + exprCol - 1
	}
	return r.Line + exprLine - 1, r.Indent + exprCol
}

// Eval evaluates the rules against in; see the package doc for semantics.
func (s *Set) Eval(in Input) (Decision, error) {
	var d Decision
	if s.Len() == 0 {
		return d, nil
	}
	act := newActivation(&in)
	routeRule, requireRule := "", ""
	for i := range s.rules {
		r := &s.rules[i]
		out, _, err := r.prg.Eval(act)
		if err != nil {
			return Decision{}, s.evalError(r, err)
		}
		b, isBool := out.(types.Bool)
		if !isBool {
			return Decision{}, s.evalError(r, fmt.Errorf("when returned %s, not bool", out.Type().TypeName()))
		}
		if !b {
			continue
		}
		switch r.act {
		case actRequire:
			d.Matched = append(d.Matched, r.Name)
			if requireRule == "" {
				requireRule = r.Name
			}
			for _, g := range r.Require {
				if !contains(d.Require, g) {
					d.Require = append(d.Require, g)
				}
			}
		case actRoute:
			if d.Model != "" {
				continue // first route wins; this one takes no effect
			}
			d.Matched = append(d.Matched, r.Name)
			d.Model, routeRule = r.Route, r.Name
		case actDeny:
			d.Matched = append(d.Matched, r.Name)
			d.Kind, d.Rule, d.Message = Deny, r.Name, r.Deny
			return d, nil
		case actAllow:
			d.Matched = append(d.Matched, r.Name)
			d.Rule = r.Name
			return finish(d, routeRule, requireRule), nil
		}
	}
	return finish(d, routeRule, requireRule), nil
}

func finish(d Decision, routeRule, requireRule string) Decision {
	switch {
	case d.Model != "":
		d.Kind, d.Rule = Route, routeRule
	case len(d.Require) > 0:
		d.Kind, d.Rule = Require, requireRule
	default:
		d.Kind = Allow // d.Rule is the stopping allow rule, if any
	}
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// EvalError is an evaluation failure of one rule. The gateway should deny
// the request with a policy error: skipping the rule could fail open.
type EvalError struct {
	File      string
	Line, Col int // of the rule's `when`; zero when unknown
	Rule      string
	// CostLimit is true when the rule exceeded CostLimit.
	CostLimit bool
	Err       error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("%spolicy %q: %v", posPrefix(e.File, e.Line, e.Col), e.Rule, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

func (s *Set) evalError(r *compiled, err error) error {
	e := &EvalError{File: s.file, Line: r.Line, Col: r.Col, Rule: r.Name}
	var cancel interpreter.EvalCancelledError
	switch {
	case errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded:
		e.CostLimit = true
		e.Err = fmt.Errorf("evaluation exceeded the cost limit (%d): simplify the expression", CostLimit)
	case strings.HasPrefix(err.Error(), "no such key: "):
		k := strings.TrimPrefix(err.Error(), "no such key: ")
		e.Err = fmt.Errorf("%w (test for it first, e.g. %q in headers)", err, k)
	default:
		e.Err = err
	}
	return e
}
