package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// The YAML file format (templates add -f, export, edit):
//
//	name: summarize            # optional in a file; the command's NAME wins
//	description: Summarize text in a few words
//	model: gpt-4o-mini
//	system: You are concise.
//	prompt: |
//	  Summarize in {{words}} words:
//	  {{input}}
//	params:                    # any chat request option
//	  temperature: 0.2
//	  max_tokens: 300
//	variables:                 # every placeholder must be declared here
//	  input: {}                # no default: required
//	  words:
//	    type: integer          # string (default), integer, number, boolean
//	    default: 50
//	    enum: [25, 50, 100]    # allowed values
//	    description: How long the summary is
//	schema:                    # optional JSON schema for structured output
//	  type: object
//	  properties: {summary: {type: string}}

var fileFields = []string{"name", "description", "model", "system", "prompt", "params", "variables", "schema"}
var varFields = []string{"description", "type", "default", "enum", "required"}

// Parse reads a template from YAML. source names the file in errors. A
// name in the file is kept; callers that name the template themselves
// check or replace it. The template is validated.
func Parse(data []byte, source string) (*Template, error) {
	t, root, err := decode(data, source)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, withLines(err, root, source)
	}
	return t, nil
}

// ParseNamed reads a template file for the template called name: a name in
// the file must agree.
func ParseNamed(data []byte, source, name string) (*Template, error) {
	t, root, err := decode(data, source)
	if err != nil {
		return nil, err
	}
	if t.Name != "" && t.Name != name {
		return nil, &ValidationError{Source: source, Problems: []Problem{{Line: line(root, "name"), Field: "name",
			Msg: fmt.Sprintf("the file names template %q, but the command names %q; make them agree or remove the name: line", t.Name, name)}}}
	}
	t.Name = name
	if err := t.Validate(); err != nil {
		return nil, withLines(err, root, source)
	}
	return t, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func decode(data []byte, source string) (*Template, *yaml.Node, error) {
	fail := func(ln int, field, format string, a ...any) (*Template, *yaml.Node, error) {
		return nil, nil, &ValidationError{Source: source, Problems: []Problem{{Line: ln, Field: field, Msg: fmt.Sprintf(format, a...)}}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(1, "", "the file is empty; a template needs at least model: and prompt:")
		}
		msg, ln := err.Error(), 1
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			ln, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return fail(ln, "", "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fail(root.Line, "", "a template file is a mapping (model:, prompt:, ...), not a %s", kindName(root))
	}
	t := &Template{}
	var probs []Problem
	add := func(n *yaml.Node, field, format string, a ...any) {
		probs = append(probs, Problem{Line: n.Line, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	str := func(k, v *yaml.Node) string {
		switch {
		case v.Kind != yaml.ScalarNode:
			add(v, k.Value, "must be text, not a %s", kindName(v))
			return ""
		case v.Tag == "!!null":
			return ""
		}
		return v.Value
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			add(k, k.Value, "set twice; keep one")
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "name":
			t.Name = str(k, v)
		case "description":
			t.Description = str(k, v)
		case "model":
			t.Model = str(k, v)
		case "system":
			t.System = str(k, v)
		case "prompt":
			t.Prompt = str(k, v)
		case "params":
			if v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				add(v, "params", "must be a mapping of request options, e.g. {temperature: 0.2, max_tokens: 300}")
				continue
			}
			raw, err := nodeJSON(v)
			if err != nil {
				add(v, "params", "%v", err)
				continue
			}
			if err := json.Unmarshal(raw, &t.Params); err != nil {
				add(v, "params", "%v", err)
			}
		case "variables":
			t.Variables, probs = decodeVariables(v, probs)
		case "schema":
			if v.Tag == "!!null" {
				continue
			}
			raw, err := nodeJSON(v)
			if err != nil {
				add(v, "schema", "%v", err)
				continue
			}
			t.Schema = raw
		default:
			hint := "known settings: " + strings.Join(fileFields, ", ")
			if slices.Contains([]string{"defaults", "options", "schema_object", "extract", "fragments"}, k.Value) {
				hint = "this looks like an llm template file; import it with 'credflow templates import'"
			}
			add(k, k.Value, "unknown setting (%s)", hint)
		}
	}
	if len(probs) > 0 {
		return nil, nil, &ValidationError{Source: source, Problems: probs}
	}
	return t, root, nil
}

func decodeVariables(v *yaml.Node, probs []Problem) ([]Variable, []Problem) {
	add := func(n *yaml.Node, field, format string, a ...any) {
		probs = append(probs, Problem{Line: n.Line, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if v.Tag == "!!null" {
		return nil, probs
	}
	if v.Kind != yaml.MappingNode {
		add(v, "variables", "must be a mapping of variable names, e.g. {input: {}, words: {default: 50}}")
		return nil, probs
	}
	var out []Variable
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, body := v.Content[i], v.Content[i+1]
		field := "variables." + k.Value
		vr := Variable{Name: k.Value}
		if body.Tag == "!!null" {
			out = append(out, vr)
			continue
		}
		if body.Kind != yaml.MappingNode {
			add(body, field, "must be a mapping (use {} for a required text variable), e.g. %s: {default: hello}", k.Value)
			continue
		}
		required := (*bool)(nil)
		for j := 0; j+1 < len(body.Content); j += 2 {
			fk, fv := body.Content[j], body.Content[j+1]
			ff := field + "." + fk.Value
			switch fk.Value {
			case "description":
				vr.Description = fv.Value
			case "type":
				vr.Type = fv.Value
			case "default":
				if fv.Kind != yaml.ScalarNode || fv.Tag == "!!null" {
					add(fv, ff, "must be a single value (text, number or boolean)")
					continue
				}
				d := fv.Value
				vr.Default = &d
			case "enum":
				if fv.Kind != yaml.SequenceNode {
					add(fv, ff, "must be a list of allowed values, e.g. [short, long]")
					continue
				}
				for _, e := range fv.Content {
					if e.Kind != yaml.ScalarNode {
						add(e, ff, "each allowed value must be a single value")
						continue
					}
					vr.Enum = append(vr.Enum, e.Value)
				}
			case "required":
				var b bool
				if fv.Decode(&b) != nil {
					add(fv, ff, "must be true or false")
					continue
				}
				required = &b
			default:
				add(fk, ff, "unknown setting (known: %s)", strings.Join(varFields, ", "))
			}
		}
		if required != nil {
			switch {
			case *required && vr.Default != nil:
				add(body, field, "is required and has a default; a default makes it optional, so remove one of them")
			case !*required && vr.Default == nil:
				// An optional variable without a default is empty.
				empty := ""
				vr.Default = &empty
			}
		}
		out = append(out, vr)
	}
	return out, probs
}

// withLines adds file lines to a validation error's problems.
func withLines(err error, root *yaml.Node, source string) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &ValidationError{Source: source}
	for _, p := range ve.Problems {
		p.Line = line(root, strings.Split(p.Field, ".")...)
		out.Problems = append(out.Problems, p)
	}
	slices.SortStableFunc(out.Problems, func(a, b Problem) int { return a.Line - b.Line })
	return out
}

// line finds the line of a field path in the file, or of the closest
// parent that exists.
func line(root *yaml.Node, path ...string) int {
	if root.Line == 0 {
		return 1
	}
	return yamlx.Line(root, path...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "single value"
}

// nodeJSON converts a YAML node to JSON, keeping mapping order (a
// schema's property order matters to some models).
func nodeJSON(n *yaml.Node) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeNode(&b, n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeNode(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return writeNode(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: mapping keys must be text", k.Line)
			}
			writeJSON(b, k.Value)
			b.WriteByte(':')
			if err := writeNode(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeNode(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		switch v.(type) {
		case nil, bool, int, int64, uint64, float64, string:
			enc, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("line %d: %q cannot be expressed in JSON", n.Line, n.Value)
			}
			b.Write(enc)
		default:
			// Timestamps and other YAML-only scalars stay text.
			writeJSON(b, n.Value)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML", n.Line)
	}
	return nil
}

// jsonNode converts JSON to a YAML node, keeping object key order.
func jsonNode(raw []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return readJSONNode(dec)
}

func readJSONNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := readJSONNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, strNode(kt.(string)), v)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for dec.More() {
			v, err := readJSONNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		_, err := dec.Token()
		return n, err
	case string:
		return strNode(t), nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(t.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
}

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// scalarNode writes a variable's default or allowed value: unquoted when
// YAML reads it back as the same text, quoted otherwise.
func scalarNode(s string, typ string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	switch typ {
	case TypeInteger:
		n.Tag = "!!int"
	case TypeNumber:
		n.Tag = "!!float"
	case TypeBoolean:
		n.Tag = "!!bool"
	default:
		n.Tag = "!!str"
		if strings.Contains(s, "\n") {
			n.Style = yaml.LiteralStyle
		}
	}
	return n
}

// MarshalYAML writes the template in the file format, fields in the
// documented order.
func (t *Template) MarshalYAML() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	put := func(k string, v *yaml.Node) { root.Content = append(root.Content, strNode(k), v) }
	put("name", strNode(t.Name))
	if t.Description != "" {
		put("description", strNode(t.Description))
	}
	put("model", strNode(t.Model))
	if t.System != "" {
		put("system", strNode(t.System))
	}
	put("prompt", strNode(t.Prompt))
	if len(t.Params) > 0 {
		raw, err := json.Marshal(t.Params)
		if err != nil {
			return nil, err
		}
		n, err := jsonNode(raw)
		if err != nil {
			return nil, err
		}
		put("params", n)
	}
	if len(t.Variables) > 0 {
		vars := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, v := range t.Variables {
			body := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if v.Description != "" {
				body.Content = append(body.Content, strNode("description"), strNode(v.Description))
			}
			if v.Type != "" && v.Type != TypeString {
				body.Content = append(body.Content, strNode("type"), strNode(v.Type))
			}
			if v.Default != nil {
				body.Content = append(body.Content, strNode("default"), scalarNode(*v.Default, v.Type))
			}
			if len(v.Enum) > 0 {
				seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
				for _, e := range v.Enum {
					seq.Content = append(seq.Content, scalarNode(e, v.Type))
				}
				body.Content = append(body.Content, strNode("enum"), seq)
			}
			if len(body.Content) == 0 {
				body.Style = yaml.FlowStyle
			}
			vars.Content = append(vars.Content, strNode(v.Name), body)
		}
		put("variables", vars)
	}
	if len(t.Schema) > 0 {
		n, err := jsonNode(t.Schema)
		if err != nil {
			return nil, err
		}
		put("schema", n)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	enc.Close()
	return b.Bytes(), nil
}
