package templates

import (
	"fmt"
	"slices"
	"strings"
)

// The placeholder syntax, the whole of it:
//
//	{{name}} or {{ name }}  the value of variable name
//	\{{                     a literal "{{" (as in Handlebars)
//	\\{{name}}              a literal backslash, then the value of name
//
// Anything else is text, including single braces, so JSON examples in a
// prompt need no escaping. A "{{" that does not close with a variable name
// and "}}" on the same line is an error, never silently kept.

// segment is a run of text or one placeholder.
type segment struct {
	text     string
	variable string
	line     int
}

// SyntaxError points at a bad placeholder.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d of the text, column %d: %s", e.Line, e.Column, e.Msg)
}

func parse(text string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	line, lineStart := 1, 0
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{text: lit.String(), line: line})
			lit.Reset()
		}
	}
	for i := 0; i < len(text); {
		switch {
		case strings.HasPrefix(text[i:], `\\{{`):
			lit.WriteByte('\\')
			i += 2 // the "{{" that follows is a placeholder
		case strings.HasPrefix(text[i:], `\{{`):
			lit.WriteString("{{")
			i += 3
		case strings.HasPrefix(text[i:], "{{"):
			col := i - lineStart + 1
			end := strings.Index(text[i:], "}}")
			nl := strings.IndexByte(text[i:], '\n')
			if end < 0 || (nl >= 0 && nl < end) {
				return nil, &SyntaxError{Line: line, Column: col, Msg: `"{{" is not closed by "}}" on the same line; write \{{ for a literal "{{"`}
			}
			inner := strings.TrimSpace(text[i+2 : i+end])
			if !identRE.MatchString(inner) {
				return nil, &SyntaxError{Line: line, Column: col, Msg: fmt.Sprintf(`%q is not a placeholder: only {{name}} with a variable name is allowed (no expressions, functions, files or environment); write \{{ for a literal "{{"`, text[i:i+end+2])}
			}
			flush()
			segs = append(segs, segment{variable: inner, line: line})
			i += end + 2
		default:
			if text[i] == '\n' {
				lit.WriteByte('\n')
				flush()
				line++
				lineStart = i + 1
				i++
				continue
			}
			lit.WriteByte(text[i])
			i++
		}
	}
	flush()
	return segs, nil
}

// VarError is a problem with one variable of a render: missing, not
// declared, or a value of the wrong type.
type VarError struct {
	Template string
	Variable string
	Msg      string
}

func (e *VarError) Error() string {
	return fmt.Sprintf("template %q: variable %q: %s", e.Template, e.Variable, e.Msg)
}

// Rendered is a template with its variables filled in.
type Rendered struct {
	Template string
	Model    string
	System   string
	Prompt   string
	Params   map[string]any
	Schema   []byte
}

// Render fills the template's placeholders with vars and the declared
// defaults. Every name in vars must be declared and every required
// variable given; values are checked against the declared type and
// allowed values.
func (t *Template) Render(vars map[string]string) (*Rendered, error) {
	for _, name := range sortedKeys(vars) {
		if _, ok := t.Variable(name); !ok {
			declared := make([]string, 0, len(t.Variables))
			for _, v := range t.Variables {
				declared = append(declared, v.Name)
			}
			list := "none"
			if len(declared) > 0 {
				list = strings.Join(declared, ", ")
			}
			return nil, &VarError{Template: t.Name, Variable: name, Msg: "not declared by the template (it declares: " + list + ")"}
		}
	}
	values := make(map[string]string, len(t.Variables))
	var missing []string
	for _, v := range t.Variables {
		val, ok := vars[v.Name]
		switch {
		case ok:
			if err := checkValue(v, val); err != nil {
				return nil, &VarError{Template: t.Name, Variable: v.Name, Msg: err.Error()}
			}
		case v.Default != nil:
			val = *v.Default
		default:
			missing = append(missing, v.Name)
			continue
		}
		values[v.Name] = val
	}
	if len(missing) > 0 {
		how := "give it with -p " + missing[0] + "=VALUE"
		if missing[0] == InputVariable {
			how = "pipe it on standard input or give it with -p input=VALUE"
		}
		msg := "required but not given; " + how
		if len(missing) > 1 {
			msg = fmt.Sprintf("required but not given (also missing: %s); %s", strings.Join(missing[1:], ", "), how)
		}
		return nil, &VarError{Template: t.Name, Variable: missing[0], Msg: msg}
	}
	r := &Rendered{Template: t.Name, Model: t.Model, Params: t.Params, Schema: slices.Clip(t.Schema)}
	var err error
	if r.System, err = fill(t.System, values); err != nil {
		return nil, err
	}
	if r.Prompt, err = fill(t.Prompt, values); err != nil {
		return nil, err
	}
	return r, nil
}

func fill(text string, values map[string]string) (string, error) {
	segs, err := parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range segs {
		if s.variable != "" {
			v, ok := values[s.variable]
			if !ok {
				return "", fmt.Errorf("line %d uses {{%s}}, which the template does not declare", s.line, s.variable)
			}
			b.WriteString(v)
		} else {
			b.WriteString(s.text)
		}
	}
	return b.String(), nil
}
