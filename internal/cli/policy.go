package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/glob"
	"github.com/credflow/credflow/internal/guard"
	"github.com/credflow/credflow/internal/guard/detect"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/policy"
	"github.com/credflow/credflow/internal/route"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

func newPolicyCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "policy",
		Aliases: []string{"policies"},
		Short:   "Check and try out the gateway's guardrails and CEL policies",
		Long: `The config file's guardrails: section lists scanning rules (detectors and what
a hit does: block, mask, tokenize or log); its policies: section lists CEL
rules that allow, deny, route or require guardrails per request. Without a
guardrails: section one rule applies: "credentials" blocks vault secrets and
virtual keys pasted into any request.

'policy check' shows what the config sets up, 'policy test' shows what the
gateway would do with one request (nothing is sent to a provider), and
'policy detectors' lists the detectors a rule can name.`,
	}
	cmd.AddCommand(
		newPolicyCheckCmd(f),
		newPolicyTestCmd(f),
		newPolicyDetectorsCmd(f),
	)
	return cmd
}

// ---- policy check ----

// guardrailRow is one guardrail as 'policy check' shows it.
type guardrailRow struct {
	Name       string   `json:"name"`
	Action     string   `json:"action"`
	On         []string `json:"on"`
	Detect     []string `json:"detect,omitempty"`
	Moderation string   `json:"moderation_model,omitempty"`
	Keys       []string `json:"keys,omitempty"`
	Models     []string `json:"models,omitempty"`
	Optional   bool     `json:"optional,omitempty"`
	Line       int      `json:"line,omitempty"`
}

// policyRow is one policy as 'policy check' shows it.
type policyRow struct {
	Name    string   `json:"name"`
	Action  string   `json:"action"`
	Route   string   `json:"route,omitempty"`
	Deny    string   `json:"deny,omitempty"`
	Require []string `json:"require,omitempty"`
	When    string   `json:"when"`
	Line    int      `json:"line,omitempty"`
}

type problemRow struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

type policyCheckResult struct {
	// Config is the file read; "" when none exists and the built-in
	// defaults apply.
	Config string `json:"config"`
	Valid  bool   `json:"valid"`
	// DefaultGuardrails is true when the file has no guardrails section.
	DefaultGuardrails bool           `json:"default_guardrails"`
	Guardrails        []guardrailRow `json:"guardrails"`
	Policies          []policyRow    `json:"policies"`
	Problems          []problemRow   `json:"problems,omitempty"`
}

type policyCheckOptions struct {
	JSON bool
}

func newPolicyCheckCmd(f *Factory) *cobra.Command {
	var o policyCheckOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the config's guardrails and policies and show what they set up",
		Long: `Load and validate the config file (every section; guardrail detectors and CEL
policies are compiled) and list each guardrail (name, action, the side it
scans, its detectors and which requests it applies to) and each policy (name,
action and condition).

An invalid config is reported as 'credflow config validate' reports it, each
problem with file:line (and the column inside a CEL expression) and a fix,
and the exit code is 5. With --json the problems are also printed on
standard output as {"valid": false, "problems": [...]}.`,
		Example: `  credflow policy check
  credflow --config team.yaml policy check --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyCheck(f, o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

func runPolicyCheck(f *Factory, o policyCheckOptions) error {
	cfg, err := f.Config()
	if err != nil {
		var ve *config.ValidationError
		if o.JSON && errors.As(err, &ve) {
			res := policyCheckResult{Config: ve.Path, Guardrails: []guardrailRow{}, Policies: []policyRow{}}
			for _, p := range ve.Problems {
				res.Problems = append(res.Problems, problemRow{Line: p.Line, Field: p.Field, Message: p.Msg})
			}
			if werr := writeJSON(f.IO.Out, res); werr != nil {
				return werr
			}
		}
		return err
	}
	res := policyCheckResult{
		Config:            cfg.Path,
		Valid:             true,
		DefaultGuardrails: policyDefaultGuardrails(cfg),
		Guardrails:        []guardrailRow{},
		Policies:          []policyRow{},
	}
	for i := range cfg.Guardrails {
		res.Guardrails = append(res.Guardrails, guardrailRowOf(&cfg.Guardrails[i]))
	}
	for _, p := range cfg.Policies {
		res.Policies = append(res.Policies, policyRowOf(p))
	}
	if o.JSON {
		return writeJSON(f.IO.Out, res)
	}

	if cfg.Path == "" {
		p, _ := f.Paths()
		info(f.IO.ErrOut, "no config file at %s; the built-in defaults apply", p.Config)
	} else {
		info(f.IO.ErrOut, "%s is valid: %s, %s", cfg.Path, policyCount(len(cfg.Guardrails), "guardrail", "guardrails"), policyCount(len(cfg.Policies), "policy", "policies"))
	}
	switch {
	case res.DefaultGuardrails:
		info(f.IO.ErrOut, "no guardrails section: the default rule \"credentials\" blocks vault secrets and virtual keys in every request")
	case len(cfg.Guardrails) == 0:
		info(f.IO.ErrOut, "no guardrails: the config turns scanning off (guardrails: [])")
	}
	if len(res.Guardrails) > 0 {
		tw := table(f.IO.Out)
		fmt.Fprintln(tw, "GUARDRAIL\tACTION\tON\tDETECT\tAPPLIES TO")
		for _, g := range res.Guardrails {
			det := strings.Join(g.Detect, ", ")
			if g.Moderation != "" {
				det = "moderation model " + g.Moderation
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Name, g.Action, strings.Join(g.On, ", "), det, policyAppliesTo(g))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(res.Policies) == 0 {
		info(f.IO.ErrOut, "no policies: every request goes to the model it asks for")
		return nil
	}
	if len(res.Guardrails) > 0 {
		fmt.Fprintln(f.IO.Out)
	}
	tw := table(f.IO.Out)
	fmt.Fprintln(tw, "POLICY\tACTION\tWHEN")
	for _, p := range res.Policies {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Action, policyOneLine(p.When))
	}
	return tw.Flush()
}

// policyDefaultGuardrails reports whether cfg's guardrails are the built-in
// default, i.e. the file has no guardrails section.
func policyDefaultGuardrails(cfg *config.Config) bool {
	return len(cfg.Guardrails) == 1 && cfg.Guardrails[0].Line == 0 && cfg.Guardrails[0].Name == config.DefaultGuardrails()[0].Name
}

func guardrailRowOf(g *config.Guardrail) guardrailRow {
	r := guardrailRow{Name: g.Name, Action: g.Action, Keys: g.Keys, Models: g.Models, Optional: g.Optional, Line: g.Line}
	if g.ScansRequest() {
		r.On = append(r.On, "request")
	}
	if g.ScansReply() {
		r.On = append(r.On, "reply")
	}
	if g.Moderation != nil {
		r.Moderation = g.Moderation.Model
	}
	for _, d := range g.Detect {
		switch {
		case d.Builtin != "":
			r.Detect = append(r.Detect, d.Builtin)
		case d.Regex != "":
			r.Detect = append(r.Detect, policyLabelOr(d.Label, "regex")+" (regex)")
		default:
			r.Detect = append(r.Detect, policyLabelOr(d.Label, "words")+" (words)")
		}
	}
	return r
}

func policyLabelOr(label, def string) string {
	if label != "" {
		return label
	}
	return def
}

// policyAppliesTo says which requests a guardrail scans.
func policyAppliesTo(g guardrailRow) string {
	if g.Optional {
		return "requests a policy requires it on"
	}
	var parts []string
	if len(g.Keys) > 0 {
		parts = append(parts, "keys "+strings.Join(g.Keys, ", "))
	}
	if len(g.Models) > 0 {
		parts = append(parts, "models "+strings.Join(g.Models, ", "))
	}
	if len(parts) == 0 {
		return "every request"
	}
	return strings.Join(parts, "; ")
}

func policyRowOf(p config.Policy) policyRow {
	r := policyRow{Name: p.Name, When: p.When, Line: p.Line}
	switch {
	case p.Deny != "":
		r.Action, r.Deny = "deny", p.Deny
	case p.Route != "":
		r.Action, r.Route = "route "+p.Route, p.Route
	case p.Require != nil:
		r.Action, r.Require = "require "+strings.Join(p.Require, ", "), p.Require
	case p.Allow:
		r.Action = "allow"
	}
	return r
}

// policyOneLine folds a multi-line CEL expression for a table cell.
func policyOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func policyCount(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ---- policy detectors ----

type detectorRow struct {
	Name        string `json:"name"`
	Placeholder string `json:"placeholder"`
	Description string `json:"description"`
}

func newPolicyDetectorsCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "detectors",
		Short: "List the detectors a guardrail can name",
		Long: `List the built-in detectors a guardrail's detect: list can name, with the
placeholder a mask rule puts in place of a hit ([EMAIL]; a tokenize rule
numbers them, [EMAIL_1]) and what each matches. vault_secrets and
virtual_keys take their values from the vault and the data file.

A rule can also define its own: {regex: 'TICKET-[0-9]+', label: ticket} or
{words: [project-x, atlas], label: codename}; the label names the hits and
the placeholder ([TICKET]).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rows := []detectorRow{}
			for _, d := range detect.Builtins() {
				rows = append(rows, detectorRow{Name: d.Name, Placeholder: d.Placeholder, Description: d.Description})
			}
			rows = append(rows,
				detectorRow{Name: config.DetectVaultSecrets, Placeholder: detect.PlaceholderFor("vault_secret"),
					Description: "the active value of every secret in credflow's vault, matched exactly (hits are named vault_secret)"},
				detectorRow{Name: config.DetectVirtualKeys, Placeholder: detect.PlaceholderFor(detect.VirtualKeyDetector),
					Description: "a credflow virtual key (cf-...) this gateway issued, revoked and rotated-out ones included (hits are named virtual_key)"},
			)
			if asJSON {
				return writeJSON(f.IO.Out, rows)
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "NAME\tPLACEHOLDER\tDESCRIPTION")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t[%s]\t%s\n", r.Name, r.Placeholder, r.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// ---- policy test ----

type policyTestOptions struct {
	Key        string
	Model      string
	Endpoint   string
	Time       string
	Headers    []string
	Spend      float64
	SpendMonth float64
	Session    string
	Body       string
	Text       string
	textSet    bool
	ShowBody   bool
	JSON       bool
}

// policyEndpoints are the endpoints 'policy test' takes, as policies see
// them.
var policyEndpoints = []string{"chat", "messages", "responses", "completions", "embeddings"}

type policyTestRequest struct {
	Key        string            `json:"key"`
	Model      string            `json:"model"`
	Provider   string            `json:"provider"`
	Endpoint   string            `json:"endpoint"`
	Session    string            `json:"session,omitempty"`
	Time       time.Time         `json:"time"`
	Tokens     int64             `json:"tokens"`
	Spend      float64           `json:"spend"`
	SpendMonth float64           `json:"spend_month"`
	Headers    map[string]string `json:"headers"`
}

type policyTestPolicy struct {
	// Decision is allow, deny, route, require or error.
	Decision string   `json:"decision"`
	Rule     string   `json:"rule,omitempty"`
	Message  string   `json:"message,omitempty"`
	Model    string   `json:"model,omitempty"`
	Require  []string `json:"require,omitempty"`
	Matched  []string `json:"matched"`
	Error    string   `json:"error,omitempty"`
	Rules    int      `json:"rules"`
}

type policyTestBlock struct {
	Rule     string `json:"rule"`
	Detector string `json:"detector,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Message is the error the client would get.
	Message string `json:"message"`
}

type policyTestGuard struct {
	// Rules are the guardrails that scan this request.
	Rules []string `json:"rules"`
	// ReplyRules scan the reply only; with no reply they do nothing here.
	ReplyRules []string `json:"reply_rules,omitempty"`
	// NotCalled are moderation rules: the test calls no model.
	NotCalled []string         `json:"moderation_not_called,omitempty"`
	Hits      []guard.Hit      `json:"hits"`
	Blocked   *policyTestBlock `json:"blocked,omitempty"`
	Tokenized bool             `json:"tokenized"`
}

type policyTestResult struct {
	Request policyTestRequest `json:"request"`
	Policy  policyTestPolicy  `json:"policy"`
	// Guardrails is null when they did not run (the policy denied).
	Guardrails *policyTestGuard `json:"guardrails"`
	// Verdict is forwarded, denied, blocked, refused or error.
	Verdict string `json:"verdict"`
	// Refused says why the gateway would refuse the request before any
	// rule runs on it (the key may not call the model).
	Refused string `json:"refused,omitempty"`
	// Body is what the upstream would get (with --show-body, when forwarded).
	Body json.RawMessage `json:"body,omitempty"`
}

func newPolicyTestCmd(f *Factory) *cobra.Command {
	var o policyTestOptions
	cmd := &cobra.Command{
		Use:   "test --model MODEL [--text TEXT | --body FILE] [flags]",
		Short: "Show what the policies and guardrails would do with a request, without sending it",
		Long: `Run the config's policies and guardrails on a sample request and show what
the gateway would do: the policy decision (allow, deny, route or require),
each guardrail hit (rule, action, side, detector and count; never the
matched text) and the verdict, "forwarded" or why not. Nothing is sent to a
provider and nothing is recorded in the ledger.

The request body is --body FILE ('-' reads standard input; the JSON a client
would send to the endpoint) or --text TEXT, which builds a minimal body for
--endpoint with TEXT as the user's message. With neither, the message is
empty. --model is required unless the --body names the model.

Policies see: key (--key; default "", so a rule on key names sees an empty
name and guardrails limited with keys: do not apply unless a glob matches
it), model, provider (the first target of the model's route), endpoint,
hour, minute and weekday (of --time, in the time's own offset: write the
offset of the zone the gateway runs in; default now, in local time), tokens
(estimated from the body's size, as the gateway does), spend and spend_month
(--spend and --spend-month, USD), session (--session, or an
X-Credflow-Session header) and headers (--header; Authorization, X-Api-Key
and Api-Key are never shown to policies).

vault_secrets matches the active values of the vault's secrets, read as the
gateway reads them (the read is audited); when the vault cannot be opened a
note says so and the test goes on without them. virtual_keys matches the keys
in the data file. Moderation rules are listed but not called.

--show-body prints the body as the upstream would get it (masked or
tokenized) when the request is forwarded; the gateway then also sets the
routed model and translates the body for the provider's API.

Exit status: 0 when the request would be forwarded; 1 when a policy would
deny it, a guardrail would block it or a policy fails to evaluate (the
gateway refuses the request then too); 2 for bad flags; 5 for an invalid
config.`,
		Example: `  credflow policy test --key intern --model gpt-5 --time 2026-12-02T20:30:00+01:00
  credflow policy test --model gpt-4o --text 'mail me at ann@example.com' --show-body
  credflow policy test --endpoint messages --body request.json --json
  credflow policy test --model gpt-4o --header 'X-Team: ml' --spend 4.20`,
		Args: exactArgs(0, "no arguments (the request is given with flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.textSet = cmd.Flags().Changed("text")
			return runPolicyTest(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Key, "key", "", "virtual key `NAME` the request comes with (default \"\": no name)")
	fl.StringVar(&o.Model, "model", "", "the `MODEL` the request asks for (required unless the --body names it)")
	fl.StringVar(&o.Endpoint, "endpoint", "chat", "the `ENDPOINT`: chat, messages, responses, completions or embeddings")
	fl.StringVar(&o.Time, "time", "", "the clock for hour/minute/weekday rules, an RFC 3339 `TIME` such as 2026-12-02T20:30:00+01:00 (default now)")
	fl.StringArrayVar(&o.Headers, "header", nil, "a request header, `'NAME: VALUE'` (repeatable)")
	fl.Float64Var(&o.Spend, "spend", 0, "the key's spend today, `USD`")
	fl.Float64Var(&o.SpendMonth, "spend-month", 0, "the key's spend this month, `USD`")
	fl.StringVar(&o.Session, "session", "", "the session `NAME` (as X-Credflow-Session)")
	fl.StringVar(&o.Body, "body", "", "the request body, JSON, from `FILE` ('-' for standard input)")
	fl.StringVar(&o.Text, "text", "", "build a minimal request for --endpoint with this user `TEXT`")
	fl.BoolVar(&o.ShowBody, "show-body", false, "print the body the upstream would get")
	fl.BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

func runPolicyTest(ctx context.Context, f *Factory, o policyTestOptions) error {
	// Flags first: a mistake there is cheaper to report than a config's.
	if o.Body != "" && o.textSet {
		return usageErrorf("give the request with --body FILE or with --text TEXT, not both")
	}
	if !policyHas(policyEndpoints, o.Endpoint) {
		return usageErrorf("--endpoint %q: use one of %s", o.Endpoint, strings.Join(policyEndpoints, ", "))
	}
	now := f.Now().In(time.Local)
	if o.Time != "" {
		t, err := time.Parse(time.RFC3339, o.Time)
		if err != nil {
			return usageErrorf("--time %q: write an RFC 3339 time with its offset, e.g. 2026-12-02T20:30:00+01:00 or 2026-12-02T19:30:00Z", o.Time)
		}
		now = t
	}
	if o.Spend < 0 || math.IsNaN(o.Spend) || math.IsInf(o.Spend, 0) {
		return usageErrorf("--spend %v: give the key's spend today in USD, 0 or more", o.Spend)
	}
	if o.SpendMonth < 0 || math.IsNaN(o.SpendMonth) || math.IsInf(o.SpendMonth, 0) {
		return usageErrorf("--spend-month %v: give the key's spend this month in USD, 0 or more", o.SpendMonth)
	}
	headers := map[string]string{}
	for _, h := range o.Headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return usageErrorf("--header %q: write 'Name: value'", h)
		}
		switch name {
		case "authorization", "x-api-key", "api-key":
			continue // the gateway never shows credentials to policies
		}
		value = strings.TrimSpace(value)
		if prev, dup := headers[name]; dup {
			value = prev + ", " + value
		}
		headers[name] = value
	}
	session := o.Session
	if session != "" {
		headers["x-credflow-session"] = session
	} else {
		session = headers["x-credflow-session"]
	}

	cfg, err := f.Config()
	if err != nil {
		return err
	}

	body, model, err := policyTestBody(f, o)
	if err != nil {
		return err
	}

	res := policyTestResult{Request: policyTestRequest{
		Key: o.Key, Model: model, Endpoint: o.Endpoint, Session: session, Time: now,
		Tokens: int64((len(body) + 3) / 4), Spend: o.Spend, SpendMonth: o.SpendMonth, Headers: headers,
	}}
	if rt, err := route.New(cfg.Routes, cfg.Providers); err == nil {
		if targets, err := rt.Resolve(model); err == nil && len(targets) > 0 {
			res.Request.Provider = targets[0].Provider
		} else if err != nil {
			info(f.IO.ErrOut, "note: no route serves model %q, so the gateway would answer 404 model_not_found; add one under routes: (here policies see provider \"\")", model)
		}
	}

	// Policies.
	res.Policy = policyTestPolicy{Rules: cfg.PolicySet.Len(), Matched: []string{}}
	d, err := cfg.PolicySet.Eval(policy.Input{
		Key: o.Key, Model: model, Provider: res.Request.Provider, Endpoint: o.Endpoint, Session: session,
		Tokens: res.Request.Tokens, SpendMicros: policyUSDMicros(o.Spend), MonthSpendMicros: policyUSDMicros(o.SpendMonth),
		Headers: headers, Time: now,
	})
	switch {
	case err != nil:
		res.Policy.Decision, res.Policy.Error = "error", err.Error()
		var ee *policy.EvalError
		if errors.As(err, &ee) {
			res.Policy.Rule = ee.Rule
			if ee.File == "" && cfg.Path != "" && ee.Line > 0 {
				// The set is compiled without the file's name.
				res.Policy.Error = fmt.Sprintf("%s:%d:%d: policy %q: %v", cfg.Path, ee.Line, ee.Col, ee.Rule, ee.Err)
			}
		}
		res.Verdict = "error"
	default:
		res.Policy.Decision, res.Policy.Rule, res.Policy.Message = d.Kind.String(), d.Rule, d.Message
		res.Policy.Model, res.Policy.Require = d.Model, d.Require
		if d.Matched != nil {
			res.Policy.Matched = d.Matched
		}
		if d.Kind == policy.Deny {
			res.Verdict = "denied"
		}
	}

	// The key's model list, as the gateway checks it (before policies,
	// and again for a model a policy routes to).
	if res.Verdict == "" && o.Key != "" {
		if k := policyKeyByName(f, o.Key); k != nil {
			for _, m := range []string{model, res.Policy.Model} {
				if m != "" && !k.Allows(m) {
					res.Verdict = "refused"
					res.Refused = fmt.Sprintf("virtual key %q may not call model %q (allowed: %s)", k.Name, m, strings.Join(k.Models, ", "))
					break
				}
			}
		}
	}

	// Guardrails, as the gateway runs them: scoped by key and the
	// requested model, plus those the policies require.
	out := body
	if res.Verdict == "" {
		g, gbody, err := policyTestGuardrails(ctx, f, cfg, o.Key, model, d.Require, body)
		if err != nil {
			return err
		}
		res.Guardrails = g
		out = gbody
		res.Verdict = "forwarded"
		if g.Blocked != nil {
			res.Verdict = "blocked"
		}
	}
	if o.ShowBody && res.Verdict == "forwarded" {
		res.Body = json.RawMessage(out)
	}

	if o.JSON {
		if err := writeJSON(f.IO.Out, res); err != nil {
			return err
		}
	} else if err := printPolicyTest(f.IO.Out, &res, o.ShowBody); err != nil {
		return err
	}
	if res.Verdict != "forwarded" {
		return &exitError{code: ExitError, silent: true}
	}
	return nil
}

func policyUSDMicros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// policyTestBody reads or builds the request body and says which model it
// asks for.
func policyTestBody(f *Factory, o policyTestOptions) ([]byte, string, error) {
	if o.Body == "" {
		if o.Model == "" {
			return nil, "", usageErrorf("give the model the request asks for with --model MODEL")
		}
		body, err := policyMinimalBody(o.Endpoint, o.Model, o.Text)
		return body, o.Model, err
	}
	var data []byte
	var err error
	src := o.Body
	if o.Body == "-" {
		src = "standard input"
		data, err = io.ReadAll(io.LimitReader(f.IO.In, 64<<20))
		if err != nil {
			return nil, "", fmt.Errorf("read standard input: %w", err)
		}
	} else if data, err = os.ReadFile(o.Body); err != nil {
		return nil, "", &exitError{code: ExitNotFound, err: fmt.Errorf("read the request body: %w", err)}
	}
	var fields struct {
		Model *string `json:"model"`
	}
	data = bytes.TrimSpace(data)
	if err := json.Unmarshal(data, &fields); err != nil || len(data) == 0 || data[0] != '{' {
		msg := "it is not a JSON object"
		if err != nil && len(data) > 0 && data[0] == '{' {
			msg = "it is not valid JSON: " + err.Error()
		}
		return nil, "", &exitError{code: ExitUsage, noHint: true,
			err: fmt.Errorf("--body %s: %s; give the JSON request a client would send to the %s endpoint, or use --text", src, msg, o.Endpoint)}
	}
	model := o.Model
	switch {
	case fields.Model != nil && model != "" && *fields.Model != model:
		return nil, "", usageErrorf("--model %q, but the body asks for model %q; give one of them", model, *fields.Model)
	case fields.Model != nil:
		model = *fields.Model
	}
	if model == "" {
		return nil, "", usageErrorf("the body names no model; give it with --model MODEL")
	}
	return data, model, nil
}

// policyMinimalBody builds the smallest request of endpoint with text as the
// user's message.
func policyMinimalBody(endpoint, model, text string) ([]byte, error) {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var v any
	switch endpoint {
	case "chat":
		v = struct {
			Model    string `json:"model"`
			Messages []msg  `json:"messages"`
		}{model, []msg{{"user", text}}}
	case "messages":
		v = struct {
			Model     string `json:"model"`
			MaxTokens int    `json:"max_tokens"`
			Messages  []msg  `json:"messages"`
		}{model, 1024, []msg{{"user", text}}}
	case "completions":
		v = struct {
			Model  string `json:"model"`
			Prompt string `json:"prompt"`
		}{model, text}
	default: // responses, embeddings
		v = struct {
			Model string `json:"model"`
			Input string `json:"input"`
		}{model, text}
	}
	return json.Marshal(v)
}

// policyRuleApplies is guard's rule selection: required by a policy, or not
// optional and in scope by key and requested model.
func policyRuleApplies(g *config.Guardrail, key, model string, require []string) bool {
	if policyHas(require, g.Name) {
		return true
	}
	if g.Optional {
		return false
	}
	return policyGlobAny(g.Keys, key) && policyGlobAny(g.Models, model)
}

func policyGlobAny(globs []string, s string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if glob.Match(g, s) {
			return true
		}
	}
	return false
}

func policyHas(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// policyTestGuardrails runs the guardrails on body and returns what they
// found and the body as the upstream would get it.
func policyTestGuardrails(ctx context.Context, f *Factory, cfg *config.Config, key, model string, require []string, body []byte) (*policyTestGuard, []byte, error) {
	g := &policyTestGuard{Rules: []string{}, Hits: []guard.Hit{}}
	needSecrets, needKeys := false, false
	for i := range cfg.Guardrails {
		r := &cfg.Guardrails[i]
		if !policyRuleApplies(r, key, model, require) {
			continue
		}
		if !r.ScansRequest() {
			if r.ScansReply() && r.Action != config.ActionTokenize {
				g.ReplyRules = append(g.ReplyRules, r.Name)
			}
			continue
		}
		g.Rules = append(g.Rules, r.Name)
		if r.Moderation != nil {
			g.NotCalled = append(g.NotCalled, r.Name)
		}
		needSecrets = needSecrets || r.VaultSecrets
		needKeys = needKeys || r.VirtualKeys
	}
	if len(g.Rules) == 0 {
		return g, body, nil
	}
	opt := guard.Options{}
	if needKeys {
		opt.VerifyVirtualKey = policyKeyVerifier(f)
	}
	if needSecrets {
		opt.Secrets = policyVaultSecrets(ctx, f)
	}
	eng := guard.New(cfg.Guardrails, opt)
	for i := range opt.Secrets {
		clear(opt.Secrets[i])
	}
	pass := eng.Begin(ctx, key, model, require)
	out, blk, err := pass.Request(body)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, noHint: true, err: err}
	}
	if h := pass.Hits(); h != nil {
		g.Hits = h
	}
	g.Tokenized = pass.Tokenized()
	if blk != nil {
		g.Blocked = &policyTestBlock{Rule: blk.Rule, Detector: blk.Detector, Reason: blk.Reason, Message: blk.Error()}
		return g, body, nil
	}
	return g, out, nil
}

// policyVaultSecrets reads the active value of every vault secret, as the
// gateway does for the vault_secrets detector. A vault that cannot be
// opened gives none, with a note.
func policyVaultSecrets(ctx context.Context, f *Factory) [][]byte {
	unavailable := func(err error) [][]byte {
		info(f.IO.ErrOut, "note: vault unavailable; vault_secrets matches nothing in this test (%s)", policyOneLine(err.Error()))
		return nil
	}
	v, closeVault, err := f.OpenVault()
	if err != nil {
		return unavailable(err)
	}
	defer closeVault()
	list, err := v.List(ctx)
	if err != nil {
		return unavailable(err)
	}
	if len(list) == 0 {
		return nil
	}
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	vals, missing, err := v.LoadActive(ctx, names, f.Process+": guardrails")
	if err != nil {
		return unavailable(err)
	}
	if len(missing) > 0 {
		m := make([]string, 0, len(missing))
		for n, err := range missing {
			// A locked or unreachable backend fails every read alike.
			if errors.Is(err, vault.ErrUnavailable) || errors.Is(err, vault.ErrBadPassphrase) {
				return unavailable(err)
			}
			m = append(m, n)
		}
		sort.Strings(m)
		info(f.IO.ErrOut, "note: vault secret(s) %s could not be read; vault_secrets does not match them in this test", strings.Join(m, ", "))
	}
	out := make([][]byte, 0, len(vals))
	for _, val := range vals {
		out = append(out, []byte(val))
	}
	return out
}

// policyKeyVerifier checks a candidate "cf-..." against the data file's
// keys, as the gateway does. Without the data file any well-formed key
// counts, with a note.
func policyKeyVerifier(f *Factory) func([]byte) bool {
	list, err := func() ([]keys.Key, error) {
		db, err := f.OpenStore()
		if err != nil {
			return nil, err
		}
		defer db.Close()
		return keys.New(db, keys.Options{Now: f.Now, Process: f.Process}).List()
	}()
	if err != nil {
		info(f.IO.ErrOut, "note: data file unavailable; virtual_keys matches any well-formed cf- key in this test (%s)", policyOneLine(err.Error()))
		return nil
	}
	auth := keys.NewAuthenticator(f.Now)
	auth.Load(list)
	return func(b []byte) bool { return auth.Known(string(b)) }
}

// policyKeyByName finds a virtual key in the data file; nil when there is
// none of that name (or no data file): then no model list applies.
func policyKeyByName(f *Factory, name string) *keys.Key {
	db, err := f.OpenStore()
	if err != nil {
		return nil
	}
	defer db.Close()
	list, err := keys.New(db, keys.Options{Now: f.Now, Process: f.Process}).List()
	if err != nil {
		return nil
	}
	for i := range list {
		if list[i].Name == name && list[i].RevokedAt.IsZero() {
			return &list[i]
		}
	}
	return nil
}

// printPolicyTest writes the human form of a 'policy test' result.
func printPolicyTest(w io.Writer, res *policyTestResult, showBody bool) error {
	p := res.Policy
	switch p.Decision {
	case "error":
		fmt.Fprintf(w, "policy: error: %s\n", policyOneLine(p.Error))
	case "deny":
		fmt.Fprintf(w, "policy: deny (rule %s): %s\n", p.Rule, p.Message)
	case "route":
		fmt.Fprintf(w, "policy: route %s (rule %s)%s\n", p.Model, p.Rule, policyRequireSuffix(p.Require))
	case "require":
		fmt.Fprintf(w, "policy: require %s (rule %s)\n", strings.Join(p.Require, ", "), p.Rule)
	default:
		switch {
		case p.Rules == 0:
			fmt.Fprintln(w, "policy: allow (no policies)")
		case p.Rule != "":
			fmt.Fprintf(w, "policy: allow (rule %s)\n", p.Rule)
		default:
			fmt.Fprintln(w, "policy: allow (no rule matched)")
		}
	}

	if g := res.Guardrails; g == nil {
		fmt.Fprintln(w, "guardrails: not run (the gateway refuses the request first)")
	} else {
		switch {
		case len(g.Rules) == 0:
			fmt.Fprintln(w, "guardrails: none apply to this request")
		case len(g.Hits) == 0:
			fmt.Fprintf(w, "guardrails: %s: no hits\n", strings.Join(g.Rules, ", "))
		default:
			fmt.Fprintf(w, "guardrails: %s\n", strings.Join(g.Rules, ", "))
			tw := table(w)
			for _, h := range g.Hits {
				fmt.Fprintf(tw, "  rule %s\t%s\t%s\t%s x%d\n", h.Rule, h.Action, h.Side, h.Detector, h.Count)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(g.NotCalled) > 0 {
			fmt.Fprintf(w, "  moderation not called: %s (the test calls no model)\n", strings.Join(g.NotCalled, ", "))
		}
		if len(g.ReplyRules) > 0 {
			fmt.Fprintf(w, "  reply rules: %s (they scan the reply; there is none here)\n", strings.Join(g.ReplyRules, ", "))
		}
		if g.Tokenized && g.Blocked == nil {
			fmt.Fprintln(w, "  tokenized: the reply gets the original values back")
		}
	}

	switch res.Verdict {
	case "denied":
		fmt.Fprintf(w, "denied by policy %q\n", p.Rule)
	case "error":
		fmt.Fprintln(w, "refused: the gateway fails a request whose policies cannot be evaluated")
	case "refused":
		fmt.Fprintf(w, "refused: %s\n", res.Refused)
	case "blocked":
		b := res.Guardrails.Blocked
		what := b.Detector
		if what == "" {
			what = b.Reason
		}
		fmt.Fprintf(w, "blocked by guardrail %q (%s)\n", b.Rule, what)
	default:
		fmt.Fprintln(w, "forwarded")
	}
	if showBody {
		if res.Body == nil {
			fmt.Fprintln(w, "body: not sent")
			return nil
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, res.Body, "", "  "); err != nil {
			buf.Reset()
			buf.Write(res.Body)
		}
		fmt.Fprintf(w, "body:\n%s\n", buf.Bytes())
	}
	return nil
}

func policyRequireSuffix(req []string) string {
	if len(req) == 0 {
		return ""
	}
	return "; requires " + strings.Join(req, ", ")
}
