package config

import (
	"strings"
	"testing"
)

const guardBase = `
providers:
  mock: {type: mock}
routes:
  - model: "*"
    targets: [mock]
`

// Bad guardrails and policies are config errors at their line, with a
// fix; nothing half-configured is returned.
func TestGuardConfigErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown detector", `
guardrails:
  - name: pii
    detect: [emial]
    action: mask
`, `f.yaml:10: guardrails[pii]: detect: `},
		{"bad regex", `
guardrails:
  - name: custom
    detect: [{regex: 'a(b'}]
    action: block
`, "f.yaml:10: guardrails[custom]: detect: "},
		{"bad action", `
guardrails:
  - name: pii
    detect: [email]
    action: shred
`, `f.yaml:9: guardrails[pii]: unknown action "shred"; use block, mask, tokenize or log`},
		{"moderation route", `
guardrails:
  - name: mod
    moderation: {model: omni-moderation-latest}
    action: block
`, ""},
		{"bad CEL", `
policies:
  - name: late
    when: 'hour >= 20 &&'
    route: small
`, "f.yaml:10: policies[late]: column "},
		{"require unknown", `
guardrails: []
policies:
  - name: needs
    when: 'true'
    require: [nothing]
`, `guardrail "nothing" is not defined`},
		{"tokenize secrets", `
guardrails:
  - name: t
    detect: [vault_secrets]
    action: tokenize
`, "cannot be tokenized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := guardBase + c.text
			if c.name == "moderation route" {
				text = strings.Replace(text, `"*"`, `"gpt-*"`, 1)
				c.want = `moderation model "omni-moderation-latest" matches no route`
			}
			cfg, err := Parse([]byte(text), "f.yaml")
			if err == nil || cfg != nil {
				t.Fatalf("accepted: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, c.want)
			}
		})
	}
	// Unknown detector names suggest the right one.
	_, err := Parse([]byte(guardBase+"guardrails:\n  - name: pii\n    detect: [emial]\n    action: mask\n"), "f.yaml")
	if err == nil || !strings.Contains(err.Error(), `"email"`) {
		t.Fatalf("no suggestion: %v", err)
	}
}

// No guardrails section means the credentials rule; an empty one, none.
func TestGuardDefaults(t *testing.T) {
	cfg, err := Parse([]byte(guardBase), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Guardrails) != 1 || cfg.Guardrails[0].Name != "credentials" || !cfg.Guardrails[0].VaultSecrets || !cfg.Guardrails[0].VirtualKeys || cfg.Guardrails[0].Action != ActionBlock {
		t.Fatalf("defaults: %+v", cfg.Guardrails)
	}
	cfg, err = Parse([]byte(guardBase+"guardrails: []\n"), "f.yaml")
	if err != nil || len(cfg.Guardrails) != 0 {
		t.Fatalf("guardrails: [] gave %v %v", cfg.Guardrails, err)
	}
	cfg, err = Parse([]byte(guardBase+"guardrails:\n  - name: pii\n    detect: [email, {words: [acme], label: client}]\n    action: tokenize\n    keys: [intern]\n"), "f.yaml")
	if err != nil || cfg.Guardrails[0].Compiled == nil || !cfg.Guardrails[0].ScansRequest() || cfg.Guardrails[0].ScansReply() {
		t.Fatalf("a tokenize rule: %+v %v", cfg.Guardrails, err)
	}
}
