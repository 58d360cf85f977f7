// Package templates owns credflow's prompt templates: their shape (system
// and user prompt, model, parameters, declared variables, an optional JSON
// schema), the placeholder syntax and its renderer, the YAML file format,
// the conversion of Simon Willison's llm template files, the OpenAI chat
// request a rendered template becomes, and the versioned records in the
// data file's templates bucket (store.BucketTemplates).
//
// Rendering is deliberately small: a prompt can read only the variables the
// caller gives and the defaults the template declares. There is no access
// to the environment, files or functions, so a template from someone else
// cannot reach anything but its own text.
package templates

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/credflow/credflow/internal/config"
)

// Errors, wrapped in sentences that say what to do; test with errors.Is.
var (
	ErrInvalidName = errors.New("not a valid name")
	ErrInvalid     = errors.New("invalid template")
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrNoVersion   = errors.New("no such template version")
	ErrUnchanged   = errors.New("template unchanged")
)

// Variable types.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
)

// InputVariable is the conventional variable that standard input fills.
const InputVariable = "input"

// Variable is one declared variable. Without a Default it is required.
type Variable struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Type        string   `json:"type,omitempty"` // "" means string
	Default     *string  `json:"default,omitempty"`
	Enum        []string `json:"enum,omitempty"`
}

// Required reports whether a caller must give the variable.
func (v Variable) Required() bool { return v.Default == nil }

// Template is one version of a prompt template.
type Template struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Model is a model name or alias the gateway routes; a run may
	// override it.
	Model  string `json:"model"`
	System string `json:"system,omitempty"`
	Prompt string `json:"prompt"`
	// Params are extra fields of the chat request: temperature,
	// max_tokens, top_p or any provider option.
	Params map[string]any `json:"params,omitempty"`
	// Variables are the declared variables, in the order written.
	Variables []Variable `json:"variables,omitempty"`
	// Schema is a JSON schema the answer must follow (sent as OpenAI's
	// response_format json_schema).
	Schema json.RawMessage `json:"schema,omitempty"`
}

// reservedParams are chat request fields a template cannot set through
// params: the renderer and the caller own them.
var reservedParams = []string{"model", "messages", "stream", "stream_options"}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckName reports whether name can name a template.
func CheckName(name string) error {
	if !config.NameRE.MatchString(name) {
		return fmt.Errorf("template name %q is %w: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name, ErrInvalidName)
	}
	return nil
}

// Variable returns the declared variable called name.
func (t *Template) Variable(name string) (Variable, bool) {
	for _, v := range t.Variables {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// Problem is one thing wrong with a template, at a field.
type Problem struct {
	Field string
	Msg   string
	// Line is the line in the YAML file, when the template came from one.
	Line int
}

// ValidationError lists what is wrong with a template.
type ValidationError struct {
	// Source names the file or template ("summarize.yaml").
	Source   string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		if e.Source != "" {
			b.WriteString(e.Source)
			if p.Line > 0 {
				fmt.Fprintf(&b, ":%d", p.Line)
			}
			b.WriteString(": ")
		}
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validate checks the template as a whole: its name, model, prompts'
// syntax, that every placeholder names a declared variable, the
// variables' types, defaults and allowed values, params and schema.
func (t *Template) Validate() error {
	var probs []Problem
	add := func(field, format string, a ...any) {
		probs = append(probs, Problem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if err := CheckName(t.Name); err != nil {
		add("name", "%v", err)
	}
	if strings.TrimSpace(t.Model) == "" {
		add("model", "missing; name the model (or alias) the template runs on, e.g. model: gpt-4o-mini")
	}
	if strings.TrimSpace(t.Prompt) == "" {
		add("prompt", "missing; write the user prompt, e.g. prompt: \"Summarize: {{input}}\"")
	}
	used := map[string]bool{}
	parsed := true
	for _, part := range []struct{ field, text string }{{"system", t.System}, {"prompt", t.Prompt}} {
		segs, err := parse(part.text)
		if err != nil {
			add(part.field, "%v", err)
			parsed = false
			continue
		}
		for _, s := range segs {
			if s.variable == "" {
				continue
			}
			used[s.variable] = true
			if _, ok := t.Variable(s.variable); !ok {
				add(part.field, "line %d of the text uses {{%s}}, which is not declared; add it under variables: (e.g. \"%s: {}\" for a required text variable)", s.line, s.variable, s.variable)
			}
		}
	}
	seen := map[string]bool{}
	for _, v := range t.Variables {
		field := "variables." + v.Name
		if !identRE.MatchString(v.Name) {
			add(field, "%q is not a variable name: use letters, digits and '_', starting with a letter or '_'", v.Name)
		}
		if seen[v.Name] {
			add(field, "declared twice")
		}
		seen[v.Name] = true
		switch v.Type {
		case "", TypeString, TypeInteger, TypeNumber, TypeBoolean:
		default:
			add(field+".type", "%q is not a type; use string, integer, number or boolean", v.Type)
			continue
		}
		for _, e := range v.Enum {
			if err := checkType(v, e); err != nil {
				add(field+".enum", "%v", err)
			}
		}
		if v.Default != nil {
			if err := checkValue(v, *v.Default); err != nil {
				add(field+".default", "%v", err)
			}
		}
		// After a syntax error the uses are not all known.
		if parsed && !used[v.Name] {
			add(field, "declared but not used in system or prompt; use it as {{%s}} or remove it", v.Name)
		}
	}
	for _, k := range sortedKeys(t.Params) {
		if slices.Contains(reservedParams, k) {
			add("params."+k, "set by credflow, not by a template; remove it")
		}
	}
	if _, ok := t.Params["response_format"]; ok && len(t.Schema) > 0 {
		add("params.response_format", "conflicts with schema:, which credflow sends as response_format; keep one of them")
	}
	if len(t.Schema) > 0 {
		var m map[string]any
		if err := json.Unmarshal(t.Schema, &m); err != nil {
			add("schema", "must be a JSON schema object (a mapping), e.g. {type: object, properties: {...}}")
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Source: t.Name, Problems: probs}
	}
	return nil
}

func checkType(v Variable, val string) error {
	switch v.Type {
	case TypeInteger:
		if _, err := strconv.ParseInt(val, 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", val)
		}
	case TypeNumber:
		if _, err := strconv.ParseFloat(val, 64); err != nil {
			return fmt.Errorf("%q is not a number", val)
		}
	case TypeBoolean:
		if val != "true" && val != "false" {
			return fmt.Errorf("%q is not a boolean; use true or false", val)
		}
	}
	return nil
}

// checkValue checks a value against the variable's type and allowed values.
func checkValue(v Variable, val string) error {
	if err := checkType(v, val); err != nil {
		return err
	}
	if len(v.Enum) > 0 && !slices.Contains(v.Enum, val) {
		return fmt.Errorf("%q is not one of the allowed values: %s", val, strings.Join(v.Enum, ", "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
