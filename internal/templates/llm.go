package templates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// llm (https://llm.datasette.io) keeps templates as YAML files with these
// fields; placeholders are Python string.Template ones: $name, ${name},
// and $$ for a literal dollar.
var llmFields = []string{"name", "prompt", "system", "model", "defaults", "options", "schema_object",
	"extract", "extract_last", "fragments", "system_fragments", "tools", "functions", "attachments", "attachment_types"}

// llmUnsupported are llm features that run in llm's own process (tools,
// Python functions, fragments loaded from files or URLs, attachments,
// code extraction from the answer): credflow cannot carry them over.
var llmUnsupported = map[string]string{
	"extract":          "extracts the first fenced code block from the answer on the client",
	"extract_last":     "extracts the last fenced code block from the answer on the client",
	"fragments":        "loads prompt fragments from files or URLs",
	"system_fragments": "loads system prompt fragments from files or URLs",
	"tools":            "runs llm tool plugins",
	"functions":        "runs Python functions",
	"attachments":      "attaches files",
	"attachment_types": "attaches files",
}

// DefaultModel is the model an imported llm template gets when it names
// none (llm would use its own configured default).
const DefaultModel = "gpt-4o-mini"

// ImportLLM converts an llm template file into a credflow template called
// name. It returns notes on what the conversion decided (to show the
// user), or an error naming each field or placeholder it cannot carry.
//
// Conversion: $var and ${var} become {{var}}, $$ becomes $, and a literal
// "{{" becomes "\{{". Every placeholder becomes a declared variable, with
// its default from defaults:. options: become params (llm's json_object
// option becomes response_format json_object), schema_object becomes
// schema. As llm does, a template with a system prompt and no prompt
// sends the input as the prompt, and a prompt without $input gets the
// input appended when one is given.
func ImportLLM(data []byte, source, name string) (*Template, []string, error) {
	var root yaml.Node
	fail := func(ln int, field, format string, a ...any) (*Template, []string, error) {
		return nil, nil, &ValidationError{Source: source, Problems: []Problem{{Line: ln, Field: field, Msg: fmt.Sprintf(format, a...)}}}
	}
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fail(1, "", "not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return fail(1, "", "the file is empty")
	}
	m := root.Content[0]
	if m.Kind == yaml.ScalarNode {
		// llm also accepts a file that is just the prompt text.
		m = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode("prompt"), m}}
	}
	if m.Kind != yaml.MappingNode {
		return fail(m.Line, "", "an llm template file is a mapping (prompt:, system:, model:, ...), not a %s", kindName(m))
	}
	t := &Template{Name: name}
	var notes []string
	var probs []Problem
	add := func(n *yaml.Node, field, format string, a ...any) {
		probs = append(probs, Problem{Line: n.Line, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	defaults := map[string]string{}
	var order []string // placeholders in order of appearance
	conv := func(field string, n *yaml.Node) string {
		if n.Kind != yaml.ScalarNode {
			add(n, field, "must be text, not a %s", kindName(n))
			return ""
		}
		if n.Tag == "!!null" {
			return ""
		}
		out, vars, err := convertDollar(n.Value)
		if err != nil {
			add(n, field, "%v", err)
		}
		for _, v := range vars {
			if !slices.Contains(order, v) {
				order = append(order, v)
			}
		}
		return out
	}
	var promptNode *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch k.Value {
		case "name":
			// llm's own name for it; the import's NAME wins.
		case "prompt":
			promptNode = v
			t.Prompt = conv("prompt", v)
		case "system":
			t.System = conv("system", v)
		case "model":
			t.Model = v.Value
		case "defaults":
			if v.Kind != yaml.MappingNode {
				if v.Tag != "!!null" {
					add(v, "defaults", "must be a mapping of variable defaults")
				}
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				dv := v.Content[j+1]
				if dv.Kind != yaml.ScalarNode {
					add(dv, "defaults."+v.Content[j].Value, "must be a single value")
					continue
				}
				defaults[v.Content[j].Value] = dv.Value
			}
		case "options":
			if v.Tag == "!!null" {
				continue
			}
			raw, err := nodeJSON(v)
			if err == nil && v.Kind != yaml.MappingNode {
				err = fmt.Errorf("must be a mapping of model options")
			}
			if err != nil {
				add(v, "options", "%v", err)
				continue
			}
			var opts map[string]any
			_ = json.Unmarshal(raw, &opts)
			if jo, ok := opts["json_object"]; ok {
				delete(opts, "json_object")
				if jo == true {
					opts["response_format"] = map[string]any{"type": "json_object"}
					notes = append(notes, "option json_object became response_format {type: json_object}")
				}
			}
			if len(opts) > 0 {
				t.Params = opts
			}
		case "schema_object":
			if v.Tag == "!!null" {
				continue
			}
			raw, err := nodeJSON(v)
			if err != nil {
				add(v, "schema_object", "%v", err)
				continue
			}
			t.Schema = raw
		default:
			if why, ok := llmUnsupported[k.Value]; ok {
				if isEmpty(v) {
					continue
				}
				add(k, k.Value, "credflow cannot import this: in llm it %s, which happens inside llm itself; remove it from the file and import again", why)
				continue
			}
			add(k, k.Value, "not an llm template field (llm knows: %s)", strings.Join(llmFields, ", "))
		}
	}
	if len(probs) > 0 {
		return nil, nil, &ValidationError{Source: source, Problems: probs}
	}
	// llm's input rules.
	switch {
	case t.Prompt == "":
		t.Prompt = "{{input}}"
		if !slices.Contains(order, InputVariable) {
			order = append(order, InputVariable)
		}
		notes = append(notes, "no prompt: the input is the prompt, as llm does")
	case !slices.Contains(order, InputVariable):
		sep := "\n"
		if strings.HasSuffix(t.Prompt, "\n") {
			sep = ""
		}
		t.Prompt += sep + "{{input}}"
		order = append(order, InputVariable)
		empty := ""
		defaults[InputVariable] = empty
		notes = append(notes, "the prompt has no $input: input given at run time is appended to it, as llm does (input is optional)")
	}
	for _, v := range order {
		vr := Variable{Name: v}
		if d, ok := defaults[v]; ok {
			vr.Default = &d
		}
		t.Variables = append(t.Variables, vr)
	}
	for _, d := range sortedKeys(defaults) {
		if !slices.Contains(order, d) {
			notes = append(notes, fmt.Sprintf("default for %q dropped: no placeholder uses it", d))
		}
	}
	if t.Model == "" {
		t.Model = DefaultModel
		notes = append(notes, fmt.Sprintf("no model: set to %s; change it with 'credflow templates edit %s'", DefaultModel, name))
	}
	if err := t.Validate(); err != nil {
		if ve, ok := err.(*ValidationError); ok {
			ve.Source = source
			if promptNode != nil {
				for i := range ve.Problems {
					ve.Problems[i].Line = line(m, strings.Split(ve.Problems[i].Field, ".")[0])
				}
			}
		}
		return nil, nil, err
	}
	return t, notes, nil
}

func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Tag == "!!null" || n.Value == "" || n.Value == "false"
	case yaml.SequenceNode, yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}

// convertDollar turns Python string.Template text into credflow's syntax
// and lists the variables it uses.
func convertDollar(s string) (string, []string, error) {
	var b bytes.Buffer
	var vars []string
	ln := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			ln++
			b.WriteByte(c)
			i++
		case strings.HasPrefix(s[i:], "{{"):
			b.WriteString(`\{{`)
			i += 2
		case c == '\\' && strings.HasPrefix(s[i+1:], "{{"):
			// A backslash before a literal "{{" must stay a backslash.
			b.WriteString(`\\`)
			i++
		case c != '$':
			b.WriteByte(c)
			i++
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		default:
			rest := s[i+1:]
			braced := strings.HasPrefix(rest, "{")
			if braced {
				rest = rest[1:]
			}
			n := 0
			for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || n > 0 && rest[n] >= '0' && rest[n] <= '9') {
				n++
			}
			if n == 0 || braced && !strings.HasPrefix(rest[n:], "}") {
				end := i + 1
				for end < len(s) && end < i+12 && s[end] != ' ' && s[end] != '\n' && s[end] != '\t' {
					end++
				}
				return "", nil, fmt.Errorf("line %d of the text: %q is not an llm placeholder (llm itself would refuse it); write $$ for a literal $", ln, s[i:end])
			}
			name := rest[:n]
			b.WriteString("{{" + name + "}}")
			vars = append(vars, name)
			i += 1 + n
			if braced {
				i += 2
			}
		}
	}
	return b.String(), vars, nil
}
