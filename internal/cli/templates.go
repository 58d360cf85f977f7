package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/credflow/credflow/internal/templates"
	"github.com/credflow/credflow/pkg/llmapi"
	"github.com/spf13/cobra"
)

func newTemplatesCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "templates",
		Aliases: []string{"template", "tpl"},
		Short:   "Keep prompt templates: versioned, rendered, run here or served by the gateway",
		Long: `A prompt template is a named, versioned prompt: a system and a user prompt
with {{variable}} placeholders, a model, request options, declared variables
(required, or with a default, a type and allowed values) and an optional JSON
schema for structured output. Templates live in credflow's data file with
their whole history.

Run one from the terminal ('templates run'), or let a program call it through
the gateway: POST /v1/templates/NAME with {"variables": {...}, "stream": false}
returns an OpenAI chat completion. 'keys create --templates NAME' makes a key
that may run that template and nothing else.

Placeholder syntax: {{name}} (spaces inside allowed) is the value of variable
name; nothing else is evaluated (no environment, files or functions). Write
\{{ for a literal "{{"; single braces are plain text. Variable "input" is
filled from standard input when it is piped.`,
	}
	cmd.AddCommand(
		newTemplatesAddCmd(f),
		newTemplatesEditCmd(f),
		newTemplatesListCmd(f),
		newTemplatesShowCmd(f),
		newTemplatesExportCmd(f),
		newTemplatesHistoryCmd(f),
		newTemplatesDiffCmd(f),
		newTemplatesRollbackCmd(f),
		newTemplatesRmCmd(f),
		newTemplatesImportCmd(f),
		newTemplatesRenderCmd(f),
		newTemplatesRunCmd(f),
	)
	return cmd
}

// withTemplates runs fn with the template service over the data file and
// closes the file before returning, so a daemon asked to reload next can
// open it.
func withTemplates(f *Factory, fn func(*templates.Service) error) error {
	db, err := f.OpenStore()
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(templates.NewService(db, templates.Options{Now: f.Now, Process: f.Process}))
}

func getTemplate(f *Factory, name string) (*templates.Record, error) {
	var r *templates.Record
	err := withTemplates(f, func(s *templates.Service) (err error) {
		r, err = s.Get(name)
		return err
	})
	return r, templateError(err)
}

// templateError gives template errors their exit codes.
func templateError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, templates.ErrNotFound), errors.Is(err, templates.ErrNoVersion):
		return &exitError{code: ExitNotFound, err: err}
	case errors.Is(err, templates.ErrExists):
		return &exitError{code: ExitConflict, err: err}
	case errors.Is(err, templates.ErrInvalid), errors.Is(err, templates.ErrInvalidName):
		return &exitError{code: ExitUsage, noHint: true, err: err}
	}
	return err
}

// templateChanged tells a running gateway to serve the new templates.
func templateChanged(ctx context.Context, f *Factory) {
	if reached, err := f.notifyDaemon(ctx); err != nil {
		fmt.Fprintf(f.IO.ErrOut, "The running credflow daemon did not reload (%v); restart it to serve the change.\n", err)
	} else if reached {
		fmt.Fprintln(f.IO.ErrOut, "The running credflow daemon now serves it.")
	}
}

func savedMessage(f *Factory, v *templates.Version) {
	info(f.IO.ErrOut, "saved template %q version %d", v.Template.Name, v.Version)
}

// readFileArg reads FILE, or standard input for "-".
func readFileArg(f *Factory, path string) ([]byte, string, error) {
	if path == "-" {
		data, err := io.ReadAll(f.IO.In)
		return data, "<stdin>", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, path, &exitError{code: ExitNotFound, err: fmt.Errorf("read template file: %w", err)}
	}
	return data, path, nil
}

func newTemplatesAddCmd(f *Factory) *cobra.Command {
	var file, note string
	var newVersion bool
	cmd := &cobra.Command{
		Use:   "add NAME -f FILE",
		Short: "Add a template from a YAML file (or save a new version with --new-version)",
		Long: `Add template NAME from a YAML file ('-' reads standard input). The file:

  description: Summarize text
  model: gpt-4o-mini
  system: You are concise.
  prompt: |
    Summarize in {{words}} words:
    {{input}}
  params: {temperature: 0.2, max_tokens: 300}
  variables:
    input: {}                      # no default: required
    words: {type: integer, default: 50, enum: [25, 50, 100]}
  schema: {type: object, properties: {summary: {type: string}}}

Every placeholder must be declared under variables:. The file is checked
whole before anything is saved.`,
		Example: `  credflow templates add summarize -f summarize.yaml
  credflow templates add summarize -f summarize.yaml --new-version -m "shorter"`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErrorf("give the template file with -f FILE ('-' for standard input), or write one with 'credflow templates edit %s'", args[0])
			}
			if err := templates.CheckName(args[0]); err != nil {
				return templateError(err)
			}
			data, src, err := readFileArg(f, file)
			if err != nil {
				return err
			}
			tpl, err := templates.ParseNamed(data, src, args[0])
			if err != nil {
				return templateError(err)
			}
			var v *templates.Version
			err = withTemplates(f, func(s *templates.Service) error {
				if newVersion {
					v, err = s.Save(tpl, note)
				} else {
					v, err = s.Add(tpl, note)
				}
				return err
			})
			if errors.Is(err, templates.ErrUnchanged) {
				info(f.IO.ErrOut, "%v; nothing saved", err)
				return nil
			}
			if err != nil {
				return templateError(err)
			}
			savedMessage(f, v)
			templateChanged(cmd.Context(), f)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "template `FILE` (YAML; '-' for standard input)")
	cmd.Flags().BoolVar(&newVersion, "new-version", false, "save as a new version of an existing template")
	cmd.Flags().StringVarP(&note, "message", "m", "", "a `NOTE` for the version history")
	return cmd
}

// skeleton is what 'edit' opens for a template that does not exist yet.
const skeleton = `description: What this template is for
model: gpt-4o-mini
system: You are a helpful assistant.
prompt: |
  {{input}}
variables:
  input: {}
`

// editorCommand is the user's editor: $VISUAL, then $EDITOR, then vi
// (notepad on Windows).
func editorCommand(f *Factory) string {
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if e := strings.TrimSpace(f.Getenv(v)); e != "" {
			return e
		}
	}
	if runtime.GOOS == "windows" {
		return "notepad"
	}
	return "vi"
}

func runEditor(f *Factory, editor, path string) error {
	var c *exec.Cmd
	if runtime.GOOS == "windows" {
		parts := strings.Fields(editor)
		c = exec.Command(parts[0], append(parts[1:], path)...)
	} else {
		// Through the shell, as git does, so EDITOR="code -w" works.
		c = exec.Command("/bin/sh", "-c", editor+` "$1"`, "sh", path)
	}
	c.Stdin, c.Stdout, c.Stderr = f.IO.In, f.IO.Out, f.IO.ErrOut
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %q failed: %w", editor, err)
	}
	return nil
}

func newTemplatesEditCmd(f *Factory) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "edit NAME",
		Short: "Edit a template in $EDITOR; it is checked before it is saved as a new version",
		Long: `Open template NAME as YAML in $VISUAL or $EDITOR (default vi); a template
that does not exist yet starts from a skeleton. When the editor exits the file
is checked: a valid template is saved as a new version; an invalid one is
shown with its errors and you can reopen the editor to fix it or abort.
Nothing is ever half saved, and an aborted edit stays in its file.`,
		Example: `  credflow templates edit summarize
  EDITOR="code -w" credflow templates edit summarize`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := templates.CheckName(name); err != nil {
				return templateError(err)
			}
			start := []byte(skeleton)
			header := fmt.Sprintf("# New template %q. Save and quit to store it; exit without saving to abort.\n", name)
			r, err := getTemplate(f, name)
			switch {
			case err == nil:
				if start, err = r.Current().Template.MarshalYAML(); err != nil {
					return err
				}
				header = fmt.Sprintf("# Template %q, version %d. Save and quit to store a new version; exit without saving to abort.\n", name, r.Current().Version)
			case !errors.Is(err, templates.ErrNotFound):
				return err
			}
			original := append([]byte(header), start...)
			tmp, err := os.CreateTemp("", "credflow-template-"+name+"-*.yaml")
			if err != nil {
				return err
			}
			path := tmp.Name()
			tmp.Write(original)
			tmp.Close()
			keep := func(format string, a ...any) error {
				return &exitError{code: ExitError, err: fmt.Errorf(format+"; your edit is kept in %s", append(a, path)...)}
			}
			answers := bufio.NewReader(f.IO.In)
			editor := editorCommand(f)
			for {
				if err := runEditor(f, editor, path); err != nil {
					return keep("%v; nothing saved", err)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if bytes.Equal(data, original) {
					os.Remove(path)
					info(f.IO.ErrOut, "no changes; template %q not saved", name)
					return nil
				}
				tpl, perr := templates.ParseNamed(data, filepath.Base(path), name)
				if perr == nil {
					var v *templates.Version
					err := withTemplates(f, func(s *templates.Service) (err error) {
						v, err = s.Save(tpl, note)
						return err
					})
					if errors.Is(err, templates.ErrUnchanged) {
						os.Remove(path)
						info(f.IO.ErrOut, "%v; nothing saved", err)
						return nil
					}
					if err != nil {
						return keep("%v", err)
					}
					os.Remove(path)
					savedMessage(f, v)
					templateChanged(cmd.Context(), f)
					return nil
				}
				fmt.Fprintf(f.IO.ErrOut, "credflow: the template is not valid:\n%v\n", perr)
				fmt.Fprint(f.IO.ErrOut, "Reopen the editor to fix it? [Y/n] ")
				line, rerr := answers.ReadString('\n')
				if !f.IO.IsStdinTTY() {
					fmt.Fprintln(f.IO.ErrOut) // a terminal would have echoed it
				}
				a := strings.ToLower(strings.TrimSpace(line))
				if rerr != nil && line == "" || a == "n" || a == "no" {
					return keep("template %q not saved", name)
				}
			}
		},
	}
	cmd.Flags().StringVarP(&note, "message", "m", "", "a `NOTE` for the version history")
	return cmd
}

func variableNames(t *templates.Template) string {
	var out []string
	for _, v := range t.Variables {
		n := v.Name
		if !v.Required() {
			n += "?"
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func newTemplatesListCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List templates with their current version",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rs []templates.Record
			if err := withTemplates(f, func(s *templates.Service) (err error) {
				rs, err = s.List()
				return err
			}); err != nil {
				return err
			}
			if asJSON {
				type item struct {
					Name     string              `json:"name"`
					Version  int                 `json:"version"`
					Updated  time.Time           `json:"updated"`
					Template *templates.Template `json:"template"`
				}
				out := []item{}
				for i := range rs {
					c := rs[i].Current()
					out = append(out, item{Name: rs[i].Name, Version: c.Version, Updated: c.Created, Template: &c.Template})
				}
				return writeJSON(f.IO.Out, out)
			}
			if len(rs) == 0 {
				info(f.IO.ErrOut, "no templates yet; add one with 'credflow templates add NAME -f FILE', 'templates edit NAME' or 'templates import FILE'")
				return nil
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "NAME\tVERSION\tMODEL\tVARIABLES\tUPDATED\tDESCRIPTION")
			now := f.Now()
			for i := range rs {
				c := rs[i].Current()
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", rs[i].Name, c.Version, c.Template.Model, variableNames(&c.Template), ago(now.Sub(c.Created)), c.Template.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// pickVersion returns version n of r, or the current one for 0.
func pickVersion(r *templates.Record, n int) (*templates.Version, error) {
	if n == 0 {
		return r.Current(), nil
	}
	if n < 0 {
		return nil, usageErrorf("--version %d: versions start at 1", n)
	}
	v, err := r.Version(n)
	return v, templateError(err)
}

func newTemplatesShowCmd(f *Factory) *cobra.Command {
	var version int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a template (the current version, or --version N) as YAML",
		Args:  exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := getTemplate(f, args[0])
			if err != nil {
				return err
			}
			v, err := pickVersion(r, version)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(f.IO.Out, v)
			}
			out, err := v.Template.MarshalYAML()
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "# version %d of %d, saved %s by %s\n", v.Version, r.Current().Version, v.Created.Local().Format(time.DateTime), dash(v.Process))
			_, err = f.IO.Out.Write(out)
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "show version `N`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version record as JSON")
	return cmd
}

func newTemplatesExportCmd(f *Factory) *cobra.Command {
	var version int
	var output string
	cmd := &cobra.Command{
		Use:   "export NAME",
		Short: "Write a template as a YAML file that 'templates add' reads back",
		Example: `  credflow templates export summarize > summarize.yaml
  credflow templates export summarize --version 2 -o old.yaml`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := getTemplate(f, args[0])
			if err != nil {
				return err
			}
			v, err := pickVersion(r, version)
			if err != nil {
				return err
			}
			out, err := v.Template.MarshalYAML()
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = f.IO.Out.Write(out)
				return err
			}
			if err := os.WriteFile(output, out, 0o644); err != nil {
				return err
			}
			info(f.IO.ErrOut, "wrote template %q version %d to %s", args[0], v.Version, output)
			return nil
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "export version `N`")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` instead of standard output")
	return cmd
}

func newTemplatesHistoryCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List a template's versions",
		Args:  exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := getTemplate(f, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(f.IO.Out, r.Versions)
			}
			tw := table(f.IO.Out)
			fmt.Fprintln(tw, "VERSION\tSAVED\tBY\tMODEL\tNOTE")
			for i := len(r.Versions) - 1; i >= 0; i-- {
				v := r.Versions[i]
				cur := ""
				if i == len(r.Versions)-1 {
					cur = " (current)"
				}
				fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\n", v.Version, cur, v.Created.Local().Format(time.DateTime), dash(v.Process), v.Template.Model, v.Note)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newTemplatesDiffCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff NAME [FROM [TO]]",
		Short: "Show what changed between two versions (default: the previous and the current)",
		Example: `  credflow templates diff summarize          # previous -> current
  credflow templates diff summarize 1        # version 1 -> current
  credflow templates diff summarize 1 3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 3 {
				return usageErrorf("%s takes the template's NAME and up to two version numbers", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := getTemplate(f, args[0])
			if err != nil {
				return err
			}
			cur := r.Current().Version
			from, to := cur-1, cur
			for i, a := range args[1:] {
				n, err := strconv.Atoi(a)
				if err != nil || n < 1 {
					return usageErrorf("%q is not a version number; see 'credflow templates history %s'", a, args[0])
				}
				if i == 0 {
					from = n
				} else {
					to = n
				}
			}
			if from < 1 {
				info(f.IO.ErrOut, "template %q has only version 1; nothing to compare", args[0])
				return nil
			}
			a, err := r.Version(from)
			if err != nil {
				return templateError(err)
			}
			b, err := r.Version(to)
			if err != nil {
				return templateError(err)
			}
			ya, _ := a.Template.MarshalYAML()
			yb, _ := b.Template.MarshalYAML()
			d := udiff.Unified(fmt.Sprintf("%s version %d", args[0], from), fmt.Sprintf("%s version %d", args[0], to), string(ya), string(yb))
			if d == "" {
				info(f.IO.ErrOut, "versions %d and %d are the same", from, to)
				return nil
			}
			_, err = io.WriteString(f.IO.Out, d)
			return err
		},
	}
	return cmd
}

func newTemplatesRollbackCmd(f *Factory) *cobra.Command {
	var to int
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Make an earlier version current again (saved as a new version; default: the previous one)",
		Example: `  credflow templates rollback summarize
  credflow templates rollback summarize --to 1`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return usageErrorf("--to %d: versions start at 1", to)
			}
			var v *templates.Version
			err := withTemplates(f, func(s *templates.Service) error {
				n := to
				if n == 0 {
					r, err := s.Get(args[0])
					if err != nil {
						return err
					}
					if len(r.Versions) < 2 {
						return fmt.Errorf("template %q has only one version: %w; nothing to roll back to", args[0], templates.ErrNoVersion)
					}
					n = r.Versions[len(r.Versions)-2].Version
				}
				var err error
				v, err = s.Rollback(args[0], n)
				return err
			})
			if errors.Is(err, templates.ErrUnchanged) {
				return &exitError{code: ExitConflict, err: err}
			}
			if err != nil {
				return templateError(err)
			}
			info(f.IO.ErrOut, "template %q: %s is now version %d", args[0], v.Note, v.Version)
			templateChanged(cmd.Context(), f)
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "version `N` to bring back")
	return cmd
}

func newTemplatesRmCmd(f *Factory) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Delete a template and its history",
		Args:    exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			r, err := getTemplate(f, name)
			if err != nil {
				return err
			}
			what := fmt.Sprintf("template %q and all %d of its versions", name, len(r.Versions))
			if !yes {
				ok, err := f.IO.Confirm("Delete " + what + "? Export it first if you may want it back.")
				if err != nil {
					return usageErrorf("refusing to delete %s without confirmation: no terminal to ask on; add --yes", what)
				}
				if !ok {
					info(f.IO.ErrOut, "nothing deleted")
					return &exitError{code: ExitError, silent: true}
				}
			}
			if err := withTemplates(f, func(s *templates.Service) error {
				_, err := s.Remove(name)
				return err
			}); err != nil {
				return templateError(err)
			}
			info(f.IO.ErrOut, "deleted %s", what)
			templateChanged(cmd.Context(), f)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newTemplatesImportCmd(f *Factory) *cobra.Command {
	var name string
	var newVersion bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import template files of Simon Willison's llm CLI",
		Long: `Import llm template files (YAML with system:, prompt:, model:, defaults:,
options: and schema_object:, and $variable placeholders), converting each to a
credflow template named after its file (or --name for one file).

$var and ${var} become {{var}}, $$ becomes $, defaults become variable
defaults, options become request params, schema_object becomes schema. As in
llm, a template with only a system prompt takes its input as the prompt, and a
prompt without $input gets the input appended when one is given. llm features
that run inside llm (tools, functions, fragments, attachments, extract) cannot
be imported: the error names them. A template without a model gets ` + templates.DefaultModel + `.
llm keeps its templates in the directory 'llm templates path' prints.`,
		Example: `  credflow templates import ~/.config/io.datasette.llm/templates/*.yaml
  credflow templates import steampunk.yaml --name summarize-steampunk`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s takes one or more llm template FILEs", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" && len(args) > 1 {
				return usageErrorf("--name names one template; import one file at a time with it")
			}
			// Convert everything first: one bad file saves nothing.
			type conv struct {
				tpl   *templates.Template
				notes []string
			}
			var convs []conv
			var problems []string
			for _, file := range args {
				n := name
				if n == "" {
					n = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".yaml"), ".yml")
				}
				data, src, err := readFileArg(f, file)
				if err != nil {
					return err
				}
				if err := templates.CheckName(n); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v; choose one with --name", src, err))
					continue
				}
				tpl, notes, err := templates.ImportLLM(data, src, n)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				convs = append(convs, conv{tpl, notes})
			}
			if len(problems) > 0 {
				return &exitError{code: ExitUsage, noHint: true, err: fmt.Errorf("nothing imported:\n%s", strings.Join(problems, "\n"))}
			}
			err := withTemplates(f, func(s *templates.Service) error {
				if !newVersion {
					for _, c := range convs {
						if _, err := s.Get(c.tpl.Name); err == nil {
							return fmt.Errorf("template %q %w; nothing imported. Add --new-version to save the import as its next version, or --name to choose another name", c.tpl.Name, templates.ErrExists)
						}
					}
				}
				for _, c := range convs {
					v, err := s.Save(c.tpl, "imported from an llm template")
					if errors.Is(err, templates.ErrUnchanged) {
						info(f.IO.ErrOut, "%v; not saved again", err)
						continue
					}
					if err != nil {
						return err
					}
					info(f.IO.ErrOut, "imported template %q (version %d)", c.tpl.Name, v.Version)
					for _, n := range c.notes {
						fmt.Fprintf(f.IO.ErrOut, "  note: %s\n", n)
					}
				}
				return nil
			})
			if err != nil {
				return templateError(err)
			}
			templateChanged(cmd.Context(), f)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "template `NAME` (default: the file name without .yaml)")
	cmd.Flags().BoolVar(&newVersion, "new-version", false, "save over existing templates of the same name as new versions")
	return cmd
}

// renderOptions are what render and run share.
type renderOptions struct {
	Params []string
	Model  string
}

func (o *renderOptions) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&o.Params, "param", "p", nil, "set variable `NAME=VALUE` (repeat; input is read from standard input when piped)")
	cmd.Flags().StringVar(&o.Model, "model", "", "use `MODEL` instead of the template's")
}

// vars parses -p flags and, when the template declares input and none was
// given, reads it from piped standard input (without its final newlines).
func (o *renderOptions) vars(f *Factory, tpl *templates.Template) (map[string]string, error) {
	vars := map[string]string{}
	for _, p := range o.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("-p %q: write NAME=VALUE", p)
		}
		if _, dup := vars[k]; dup {
			return nil, usageErrorf("-p %s is given twice", k)
		}
		vars[k] = v
	}
	if _, ok := tpl.Variable(templates.InputVariable); ok {
		if _, given := vars[templates.InputVariable]; !given && !f.IO.IsStdinTTY() {
			data, err := io.ReadAll(f.IO.In)
			if err != nil {
				return nil, fmt.Errorf("read input from standard input: %w", err)
			}
			if len(data) > 0 {
				// As shell command substitution does: the final newline of
				// a piped file is not part of the text.
				vars[templates.InputVariable] = strings.TrimRight(string(data), "\r\n")
			}
		}
	}
	return vars, nil
}

// renderTemplate renders the current version of template name with the
// command line's variables, and returns them with the result.
func renderTemplate(f *Factory, name string, o *renderOptions) (map[string]string, *templates.Rendered, error) {
	r, err := getTemplate(f, name)
	if err != nil {
		return nil, nil, err
	}
	tpl := &r.Current().Template
	vars, err := o.vars(f, tpl)
	if err != nil {
		return nil, nil, err
	}
	out, err := tpl.Render(vars)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, noHint: true, err: err}
	}
	return vars, out, nil
}

func newTemplatesRenderCmd(f *Factory) *cobra.Command {
	var o renderOptions
	var stream bool
	cmd := &cobra.Command{
		Use:   "render NAME [-p NAME=VALUE]...",
		Short: "Print the chat request a template sends, exactly, without sending it",
		Long: `Render template NAME with the given variables (and its defaults) and print the
OpenAI chat completions request body it becomes, exactly as 'templates run'
and POST /v1/templates/NAME send it to the gateway. Variable input is read from
standard input when it is piped.`,
		Example: `  credflow templates render summarize -p words=20 < article.txt
  echo "some text" | credflow templates render summarize`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, out, err := renderTemplate(f, args[0], &o)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := json.Indent(&b, out.ChatRequest(o.Model, stream), "", "  "); err != nil {
				return err
			}
			b.WriteByte('\n')
			_, err = f.IO.Out.Write(b.Bytes())
			return err
		},
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&stream, "stream", false, "render the streaming form of the request")
	return cmd
}

func newTemplatesRunCmd(f *Factory) *cobra.Command {
	var o renderOptions
	var asJSON bool
	var key string
	cmd := &cobra.Command{
		Use:   "run NAME [-p NAME=VALUE]... --key KEY",
		Short: "Run a template through the running gateway and stream the answer",
		Long: `Render template NAME and send it through the running gateway (POST
/v1/templates/NAME) with virtual key KEY, so it is routed, limited and
accounted like any request. The answer streams to standard output; --json
waits for it and prints the whole chat completion as JSON. Variable input is
read from standard input when it is piped.

The key is --key, or $CREDFLOW_KEY; its value comes from your vault (where
'credflow keys create' keeps it).`,
		Example: `  credflow templates run summarize --key me < article.txt
  credflow templates run translate -p lang=French -p input="Good morning" --key me
  CREDFLOW_KEY=me credflow templates run summarize --json < notes.md | jq .usage`,
		Args: exactArgs(1, "the template's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				key = f.Getenv("CREDFLOW_KEY")
			}
			if key == "" {
				return usageErrorf("name the virtual key to run the template with: --key NAME or CREDFLOW_KEY=NAME (create one with 'credflow keys create NAME')")
			}
			// Rendered here first, so a missing variable fails before
			// anything is sent; the gateway renders the same version.
			vars, _, err := renderTemplate(f, args[0], &o)
			if err != nil {
				return err
			}
			return runTemplate(cmd.Context(), f, args[0], key, vars, o.Model, asJSON)
		},
	}
	o.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "wait for the whole answer and print the chat completion as JSON")
	cmd.Flags().StringVar(&key, "key", "", "virtual key `NAME` to run with (default $CREDFLOW_KEY)")
	return cmd
}

// runTemplate posts the variables to the gateway's template endpoint and
// prints the answer: streamed text, or the completion as JSON.
func runTemplate(ctx context.Context, f *Factory, name, key string, vars map[string]string, model string, asJSON bool) error {
	addr, running, err := gatewayAddr(ctx, f)
	if err != nil {
		return err
	}
	if !running {
		return &exitError{code: ExitUnavailable, err: errors.New("no credflow daemon is running; start it with 'credflow serve' (templates run goes through the gateway so it is accounted)")}
	}
	env, err := gatewayEnv(ctx, f, key, "templates run "+name)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"variables": vars, "stream": !asJSON, "model": model})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/templates/"+name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+env["OPENAI_API_KEY"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: ExitUnavailable, err: fmt.Errorf("gateway at %s: %w", addr, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		code := ExitError
		switch {
		case resp.StatusCode == http.StatusBadRequest:
			code = ExitUsage
		case resp.StatusCode == http.StatusNotFound:
			code = ExitNotFound
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			code = ExitConflict
		}
		return &exitError{code: code, err: fmt.Errorf("the gateway refused the run (HTTP %d): %s", resp.StatusCode, msg)}
	}
	if asJSON {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := json.Indent(&b, data, "", "  "); err != nil {
			return fmt.Errorf("the gateway's answer is not JSON: %w", err)
		}
		b.WriteByte('\n')
		_, err = f.IO.Out.Write(b.Bytes())
		return err
	}
	rd := llmapi.NewReader(resp.Body)
	endsInNewline := true
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("the answer stream broke off: %w", err)
		}
		if string(ev.Data) == "[DONE]" {
			break
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(ev.Data, &chunk) != nil {
			continue
		}
		if chunk.Error != nil {
			return fmt.Errorf("the provider stopped the answer: %s", chunk.Error.Message)
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content == "" {
				continue
			}
			io.WriteString(f.IO.Out, c.Delta.Content)
			endsInNewline = strings.HasSuffix(c.Delta.Content, "\n")
		}
	}
	if !endsInNewline {
		fmt.Fprintln(f.IO.Out)
	}
	return nil
}
