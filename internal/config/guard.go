package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/credflow/credflow/internal/glob"
	"github.com/credflow/credflow/internal/guard/detect"
	"github.com/credflow/credflow/internal/policy"
	"go.yaml.in/yaml/v3"
)

// Guardrail is one scanning rule: what to look for, what to do on a hit,
// and which requests it applies to. See the guardrails section of the file
// `credflow init` writes.
type Guardrail struct {
	Name string `yaml:"name"`
	// Detect lists built-in detectors by name, vault_secrets and
	// virtual_keys, and custom ones: {regex: RE, label: NAME} or
	// {words: [...], label: NAME}.
	Detect []DetectItem `yaml:"detect"`
	// Action is block, mask, tokenize or log.
	Action string `yaml:"action"`
	// On says which side is scanned: request (the default), reply or
	// both. Scanning a streamed reply holds back its last 256 bytes until
	// more arrive, so it is opt-in. A tokenize rule scans requests; its
	// placeholders are restored in replies whatever On says.
	On []string `yaml:"on"`
	// Keys and Models are globs over virtual key names and requested
	// models; empty means all.
	Keys   []string `yaml:"keys"`
	Models []string `yaml:"models"`
	// Moderation, when set, makes the rule call a moderation model (in
	// OpenAI's /v1/moderations format) instead of running detectors.
	Moderation *Moderation `yaml:"moderation"`
	// OnError is what a failed moderation call does: block (the
	// default) or allow.
	OnError string `yaml:"on_error"`
	// Optional rules run only when a policy requires them.
	Optional bool `yaml:"optional"`

	// Line is where the rule starts in the file.
	Line int `yaml:"-"`
	// Compiled is the rule's detector set (nil for a moderation rule).
	Compiled *detect.Set `yaml:"-"`
	// VaultSecrets and VirtualKeys are set when Detect names them: the
	// gateway supplies their values.
	VaultSecrets, VirtualKeys bool `yaml:"-"`
}

// Moderation configures a guardrail's moderation call.
type Moderation struct {
	// Model is routed like any model (e.g. omni-moderation-latest).
	Model string `yaml:"model"`
	// Thresholds maps a category (e.g. "violence", "harassment/threatening")
	// to the score from which it counts as a hit; with none, the model's
	// own "flagged" decides.
	Thresholds map[string]float64 `yaml:"thresholds"`
}

// DetectItem is one entry of a guardrail's detect list.
type DetectItem struct {
	Builtin string
	Regex   string
	Words   []string
	Label   string
	Line    int
}

// UnmarshalYAML takes a detector name or a {regex|words, label} mapping.
func (d *DetectItem) UnmarshalYAML(n *yaml.Node) error {
	d.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		d.Builtin = n.Value
		return nil
	}
	var m struct {
		Regex string   `yaml:"regex"`
		Words []string `yaml:"words"`
		Label string   `yaml:"label"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	d.Regex, d.Words, d.Label = m.Regex, m.Words, m.Label
	return nil
}

// UnmarshalYAML keeps the rule's line for error messages.
func (g *Guardrail) UnmarshalYAML(n *yaml.Node) error {
	type plain Guardrail
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*g = Guardrail(p)
	g.Line = n.Line
	return nil
}

// Policy is one dynamic rule in CEL (internal/policy).
type Policy struct {
	Name    string   `yaml:"name"`
	When    string   `yaml:"when"`
	Deny    string   `yaml:"deny"`
	Route   string   `yaml:"route"`
	Require []string `yaml:"require"`
	Allow   bool     `yaml:"allow"`

	// Line and Col locate the first character of the expression.
	Line, Col int `yaml:"-"`
	// Indent is the column offset of a multi-line block scalar's lines.
	Indent int `yaml:"-"`
	// line is where the rule starts.
	line int
}

// UnmarshalYAML records where the expression sits, so a CEL error points
// at the file's line and column.
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	type plain Policy
	var v plain
	if err := n.Decode(&v); err != nil {
		return err
	}
	*p = Policy(v)
	p.line = n.Line
	p.Line, p.Col = n.Line, n.Column
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "when" {
			continue
		}
		w := n.Content[i+1]
		p.Line, p.Col = w.Line, w.Column
		switch w.Style {
		case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
			p.Col++
		case yaml.LiteralStyle, yaml.FoldedStyle:
			// The text starts on the next line, indented deeper than the key.
			p.Line++
			p.Col = n.Content[i].Column + 2
			p.Indent = p.Col - 1
		}
	}
	return nil
}

// Guard actions.
const (
	ActionBlock    = "block"
	ActionMask     = "mask"
	ActionTokenize = "tokenize"
	ActionLog      = "log"
)

// Special detector names whose values the gateway supplies.
const (
	DetectVaultSecrets = "vault_secrets"
	DetectVirtualKeys  = "virtual_keys"
)

// DefaultGuardrails is what applies when the file has no guardrails
// section: a credential pasted into a prompt is the leak credflow exists
// to stop. `guardrails: []` turns every rule off.
func DefaultGuardrails() []Guardrail {
	return []Guardrail{{
		Name:         "credentials",
		Detect:       []DetectItem{{Builtin: DetectVaultSecrets}, {Builtin: DetectVirtualKeys}},
		Action:       ActionBlock,
		On:           []string{"request"},
		VaultSecrets: true,
		VirtualKeys:  true,
		Compiled:     mustCompile(nil),
	}}
}

func mustCompile(specs []detect.Spec) *detect.Set {
	s, err := detect.Compile(specs)
	if err != nil {
		panic(err)
	}
	return s
}

// ScansRequest reports whether the rule looks at requests.
func (g *Guardrail) ScansRequest() bool { return g.side("request") }

// ScansReply reports whether the rule looks at replies.
func (g *Guardrail) ScansReply() bool { return g.side("reply") }

func (g *Guardrail) side(s string) bool {
	if len(g.On) == 0 {
		return s == "request"
	}
	for _, o := range g.On {
		if o == s {
			return true
		}
	}
	return false
}

// validateGuard checks and compiles the guardrails and policies.
func (c *Config) validateGuard() []Problem {
	var probs []Problem
	if c.Guardrails == nil {
		c.Guardrails = DefaultGuardrails()
	}
	names := map[string]bool{}
	for i := range c.Guardrails {
		g := &c.Guardrails[i]
		field := fmt.Sprintf("guardrails[%d]", i)
		if g.Name != "" {
			field = fmt.Sprintf("guardrails[%s]", g.Name)
		}
		add := func(line int, msg string) {
			if line == 0 {
				line = g.Line
			}
			probs = append(probs, Problem{Line: line, Field: field, Msg: msg})
		}
		switch {
		case g.Name == "":
			add(0, "missing name; give the rule a name (it appears in errors, logs and `credflow logs`)")
		case !NameRE.MatchString(g.Name):
			add(0, fmt.Sprintf("name %q: use letters, digits, '.', '_' and '-'", g.Name))
		case names[g.Name]:
			add(0, fmt.Sprintf("name %q is used by an earlier rule; rule names must be unique", g.Name))
		}
		names[g.Name] = true
		switch g.Action {
		case ActionBlock, ActionMask, ActionTokenize, ActionLog:
		case "":
			add(0, "missing action; use block, mask, tokenize or log")
		default:
			add(0, fmt.Sprintf("unknown action %q; use block, mask, tokenize or log", g.Action))
		}
		for _, o := range g.On {
			if o != "request" && o != "reply" {
				add(0, fmt.Sprintf("on: unknown side %q; use request, reply or both", o))
			}
		}
		switch g.OnError {
		case "", "block", "allow":
		default:
			add(0, fmt.Sprintf("on_error: unknown value %q; use block (the default) or allow", g.OnError))
		}
		if g.Moderation != nil {
			if len(g.Detect) > 0 {
				add(0, "a rule has either detect or moderation, not both; split it in two rules")
			}
			if g.Moderation.Model == "" {
				add(0, "moderation needs model: the moderation model to call, routed like any (e.g. omni-moderation-latest)")
			} else if !c.routed(g.Moderation.Model) {
				add(0, fmt.Sprintf("moderation model %q matches no route; add a route for it under routes: (e.g. - model: %s, targets: [openai])", g.Moderation.Model, g.Moderation.Model))
			}
			for cat, t := range g.Moderation.Thresholds {
				if t < 0 || t > 1 {
					add(0, fmt.Sprintf("moderation threshold for %q is %v; use a score from 0 to 1", cat, t))
				}
			}
			if g.Action == ActionMask || g.Action == ActionTokenize {
				add(0, fmt.Sprintf("a moderation rule can block or log, not %s", g.Action))
			}
			continue
		}
		if len(g.Detect) == 0 {
			add(0, "missing detect; list detectors, e.g. [email, phone, card] (see 'credflow policy detectors')")
			continue
		}
		var specs []detect.Spec
		for _, d := range g.Detect {
			switch d.Builtin {
			case DetectVaultSecrets:
				g.VaultSecrets = true
				continue
			case DetectVirtualKeys:
				g.VirtualKeys = true
				continue
			}
			spec := detect.Spec{Builtin: d.Builtin, Regex: d.Regex, Words: d.Words, Label: d.Label}
			if _, err := detect.Compile([]detect.Spec{spec}); err != nil {
				msg := specPrefix.ReplaceAllString(err.Error(), "")
				if d.Builtin != "" {
					msg += "; " + DetectVaultSecrets + " and " + DetectVirtualKeys + " are known too"
				}
				add(d.Line, "detect: "+msg)
				continue
			}
			specs = append(specs, spec)
		}
		set, err := detect.Compile(specs)
		if err != nil {
			add(0, "detect: "+err.Error())
			continue
		}
		g.Compiled = set
	}
	for _, g := range c.Guardrails {
		if g.Action == ActionTokenize && (g.VaultSecrets || g.VirtualKeys) {
			probs = append(probs, Problem{Line: g.Line, Field: "guardrails[" + g.Name + "]",
				Msg: "vault secrets and virtual keys cannot be tokenized (the upstream would get them back in replies); use block or mask"})
		}
	}
	if len(c.Policies) > 0 {
		rules := make([]policy.Rule, len(c.Policies))
		for i, p := range c.Policies {
			rules[i] = policy.Rule{Name: p.Name, When: p.When, Deny: p.Deny, Route: p.Route, Require: p.Require, Allow: p.Allow, Line: p.Line, Col: p.Col, Indent: p.Indent}
			for _, r := range p.Require {
				if !names[r] {
					probs = append(probs, Problem{Line: p.line, Field: "policies[" + p.Name + "].require",
						Msg: fmt.Sprintf("guardrail %q is not defined under guardrails:; known: %s", r, strings.Join(sortedKeys(names), ", "))})
				}
			}
		}
		set, err := policy.Compile(rules, "")
		if err != nil {
			probs = append(probs, policyProblems(err, c.Policies)...)
		}
		c.PolicySet = set
	}
	return probs
}

// policyProblems turns policy.Compile's problems into problems at their
// lines, the column in the message.
func policyProblems(err error, ps []Policy) []Problem {
	var es policy.Errors
	if !errors.As(err, &es) {
		line := 1
		if len(ps) > 0 {
			line = ps[0].line
		}
		return []Problem{{Line: line, Field: "policies", Msg: err.Error()}}
	}
	var out []Problem
	for _, e := range es {
		p := Problem{Line: e.Line, Field: fmt.Sprintf("policies[%s]", e.Rule), Msg: e.Msg}
		if e.Rule == "" {
			p.Field = fmt.Sprintf("policies[%d]", e.Index-1)
		}
		if e.Line == 0 && e.Index > 0 && e.Index <= len(ps) {
			p.Line = ps[e.Index-1].line
		}
		if e.Col > 0 {
			p.Msg = fmt.Sprintf("column %d: %s", e.Col, e.Msg)
		}
		out = append(out, p)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// specPrefix is detect's own "detect: spec N: " (the line says which).
var specPrefix = regexp.MustCompile(`^detect: spec \d+: `)

// routed reports whether some route matches model.
func (c *Config) routed(model string) bool {
	for _, r := range c.Routes {
		if glob.Match(r.Model, model) {
			return true
		}
	}
	return false
}
