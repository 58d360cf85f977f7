package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdata = "../../testdata/templates"

// TestRenderGolden renders each testdata/templates/render/*.txtar: a
// template file, variables as JSON, and the exact chat request body
// (indented) or the error.
func TestRenderGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdata, "render", "*.txtar"))
	if len(files) < 5 {
		t.Fatalf("found %d render cases; the testdata is missing", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := map[string][]byte{}
			for _, f := range ar.Files {
				parts[f.Name] = f.Data
			}
			name := "t"
			if n, ok := parts["name"]; ok {
				name = strings.TrimSpace(string(n))
			}
			tpl, err := ParseNamed(parts["template.yaml"], "template.yaml", name)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var vars map[string]string
			if err := json.Unmarshal(parts["vars.json"], &vars); err != nil {
				t.Fatal(err)
			}
			r, err := tpl.Render(vars)
			if want, ok := parts["error"]; ok {
				if err == nil {
					t.Fatalf("rendered; want error %q", want)
				}
				if got := err.Error(); got != strings.TrimSpace(string(want)) {
					t.Errorf("error:\n got %s\nwant %s", got, want)
				}
				var ve *VarError
				if !errors.As(err, &ve) || ve.Variable == "" {
					t.Errorf("error %v is not a VarError naming the variable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := r.ChatRequest("", false)
			var ind bytes.Buffer
			if err := json.Indent(&ind, body, "", "  "); err != nil {
				t.Fatalf("request is not JSON: %v\n%s", err, body)
			}
			ind.WriteByte('\n')
			if *update {
				for i := range ar.Files {
					if ar.Files[i].Name == "want.json" {
						ar.Files[i].Data = ind.Bytes()
					}
				}
				os.WriteFile(file, txtar.Format(ar), 0o644)
				return
			}
			if got, want := ind.String(), string(parts["want.json"]); got != want {
				t.Errorf("request:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestChatRequestStreamAndModelOverride(t *testing.T) {
	tpl := mustParse(t, "model: a\nprompt: hi {{x}}\nvariables: {x: {default: there}}\n")
	r, err := tpl.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(r.ChatRequest("b", true))
	want := `{"model":"b","messages":[{"role":"user","content":"hi there"}],"stream":true}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func mustParse(t *testing.T, src string) *Template {
	t.Helper()
	tpl, err := ParseNamed([]byte(src), "t.yaml", "t")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestParseErrors checks that each bad file is refused with the line and
// a sentence that says what to do.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty", "", "t.yaml:1: the file is empty; a template needs at least model: and prompt:"},
		{"not a mapping", "- a\n- b\n", "t.yaml:1: a template file is a mapping (model:, prompt:, ...), not a list"},
		{"broken yaml", "model: a\nprompt: [\n", "t.yaml:2: not valid YAML: did not find expected node content"},
		{"unknown field", "model: a\nprompt: hi\ntemperature: 1\n", `t.yaml:3: temperature: unknown setting (known settings: name, description, model, system, prompt, params, variables, schema)`},
		{"llm field", "model: a\nprompt: hi\ndefaults: {}\n", "this looks like an llm template file; import it with 'credflow templates import'"},
		{"no model", "prompt: hi\n", "t.yaml:1: model: missing; name the model"},
		{"no prompt", "model: a\n", "t.yaml:1: prompt: missing; write the user prompt"},
		{"undeclared", "model: a\nprompt: |\n  hi\n  {{who}}\n", `t.yaml:2: prompt: line 2 of the text uses {{who}}, which is not declared; add it under variables: (e.g. "who: {}" for a required text variable)`},
		{"expression", "model: a\nprompt: 'hi {{ env.HOME }}'\n", `t.yaml:2: prompt: line 1 of the text, column 4: "{{ env.HOME }}" is not a placeholder: only {{name}} with a variable name is allowed`},
		{"function", "model: a\nprompt: '{{ readFile(\"/etc/passwd\") }}'\n", `is not a placeholder: only {{name}}`},
		{"unclosed", "model: a\nprompt: 'hi {{name'\nvariables: {name: {}}\n", `line 1 of the text, column 4: "{{" is not closed by "}}" on the same line; write \{{ for a literal "{{"`},
		{"unused", "model: a\nprompt: hi\nvariables:\n  x: {}\n", "t.yaml:4: variables.x: declared but not used in system or prompt"},
		{"bad type", "model: a\nprompt: '{{x}}'\nvariables:\n  x: {type: date}\n", `t.yaml:4: variables.x.type: "date" is not a type; use string, integer, number or boolean`},
		{"bad default", "model: a\nprompt: '{{x}}'\nvariables:\n  x: {type: integer, default: many}\n", `t.yaml:4: variables.x.default: "many" is not an integer`},
		{"default not in enum", "model: a\nprompt: '{{x}}'\nvariables:\n  x: {enum: [a, b], default: c}\n", `variables.x.default: "c" is not one of the allowed values: a, b`},
		{"required and default", "model: a\nprompt: '{{x}}'\nvariables:\n  x: {required: true, default: c}\n", "is required and has a default"},
		{"reserved param", "model: a\nprompt: hi\nparams: {stream: true}\n", "t.yaml:3: params.stream: set by credflow, not by a template; remove it"},
		{"response_format and schema", "model: a\nprompt: hi\nparams: {response_format: {type: json_object}}\nschema: {type: object}\n", "t.yaml:3: params.response_format: conflicts with schema:"},
		{"schema not object", "model: a\nprompt: hi\nschema: [1]\n", "t.yaml:3: schema: must be a JSON schema object"},
		{"name mismatch", "name: other\nmodel: a\nprompt: hi\n", `t.yaml:1: name: the file names template "other", but the command names "t"`},
		{"duplicate key", "model: a\nmodel: b\nprompt: hi\n", "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNamed([]byte(tc.src), "t.yaml", "t")
			if err == nil {
				t.Fatalf("parsed; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid")
			}
		})
	}
}

// TestYAMLRoundTrip exports templates and reads them back unchanged.
func TestYAMLRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdata, "render", "*.txtar"))
	for _, file := range files {
		ar, _ := txtar.ParseFile(file)
		var src []byte
		for _, f := range ar.Files {
			if f.Name == "template.yaml" {
				src = f.Data
			}
		}
		tpl, _, err := decode(src, "template.yaml")
		if err == nil {
			if tpl.Name == "" {
				tpl.Name = "t"
			}
			err = tpl.Validate()
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := tpl.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseNamed(out, "export.yaml", tpl.Name)
		if err != nil {
			t.Fatalf("%s: export does not parse: %v\n%s", file, err, out)
		}
		if !Equal(tpl, back) {
			a, _ := json.Marshal(tpl)
			b, _ := json.Marshal(back)
			t.Errorf("%s: round trip changed the template:\n%s\n%s\nexport:\n%s", file, a, b, out)
		}
	}
}

// TestImportLLM converts the llm template files in testdata and compares
// with the .credflow.yaml goldens; the bad ones must be refused.
func TestImportLLM(t *testing.T) {
	dir := filepath.Join(testdata, "llm")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".credflow.yaml") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, _ := os.ReadFile(file)
			tpl, notes, err := ImportLLM(data, filepath.Base(file), name)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tpl.MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			for _, n := range notes {
				b.WriteString("# import note: " + n + "\n")
			}
			b.Write(out)
			golden := strings.TrimSuffix(file, ".yaml") + ".credflow.yaml"
			if *update {
				os.WriteFile(golden, b.Bytes(), 0o644)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden (run with -update): %v", err)
			}
			if b.String() != string(want) {
				t.Errorf("import:\n%s\nwant:\n%s", b.String(), want)
			}
			// The converted template is a valid credflow file.
			if _, err := ParseNamed(out, "export", name); err != nil {
				t.Errorf("converted template does not parse: %v", err)
			}
		})
	}
	if n < 8 {
		t.Fatalf("found %d llm files; the testdata is missing", n)
	}
	bad, _ := filepath.Glob(filepath.Join(dir, "bad", "*.yaml"))
	for _, file := range bad {
		t.Run("bad/"+filepath.Base(file), func(t *testing.T) {
			data, _ := os.ReadFile(file)
			want, _ := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".err")
			_, _, err := ImportLLM(data, filepath.Base(file), "x")
			if err == nil {
				t.Fatalf("imported; want %s", want)
			}
			if err.Error() != strings.TrimSpace(string(want)) {
				t.Errorf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
}

// TestImportLLMRendersLikeLLM checks the converted templates send what llm
// would: input appended when the prompt lacks $input, the input as the
// prompt for system-only templates, $$ as $, defaults applied.
func TestImportLLMRendersLikeLLM(t *testing.T) {
	for _, tc := range []struct {
		file         string
		vars         map[string]string
		system, user string
	}{
		{"summarize.yaml", map[string]string{"input": "TEXT"}, "", "Summarize this: TEXT"},
		{"glados.yaml", map[string]string{"input": "TEXT"}, "Summarize this text in the voice of GlaDOS", "TEXT"},
		{"glados.yaml", map[string]string{"input": "TEXT", "voice": "Yoda"}, "Summarize this text in the voice of Yoda", "TEXT"},
		{"estimate.yaml", map[string]string{"input": "a boat"}, "Estimate the cost in $ of this: a boat", "a boat"},
		{"dog.yaml", nil, "", "invent a dog\n"},
		{"dog.yaml", map[string]string{"input": "a small one"}, "", "invent a dog\na small one"},
		{"recipe.yaml", map[string]string{"ingredients": "sausages, milk", "country": "Germany"}, "",
			"Suggest a recipe using ingredients: sausages, milk\n\nIt should be based on cuisine from this country: Germany\n"},
	} {
		data, _ := os.ReadFile(filepath.Join(testdata, "llm", tc.file))
		tpl, _, err := ImportLLM(data, tc.file, "x")
		if err != nil {
			t.Fatal(err)
		}
		r, err := tpl.Render(tc.vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.System != tc.system || r.Prompt != tc.user {
			t.Errorf("%s %v: system %q user %q; want %q %q", tc.file, tc.vars, r.System, r.Prompt, tc.system, tc.user)
		}
	}
}

// FuzzRender: any text either fails to parse or renders without panics,
// and text without "{{" or backslashes renders to itself.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"hi {{x}}", `\{{x}}`, `\\{{x}}`, "{{", "}}{{ x }}", "{{x}", "a\nb{{x}}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := parse(s)
		if err != nil {
			return
		}
		values := map[string]string{}
		for _, sg := range segs {
			if sg.variable != "" {
				values[sg.variable] = "V"
			}
		}
		out, err := fill(s, values)
		if err != nil {
			t.Fatalf("fill after a good parse: %v", err)
		}
		if !strings.Contains(s, "{{") && !strings.Contains(s, `\`) && out != s {
			t.Fatalf("plain text changed: %q -> %q", s, out)
		}
	})
}
