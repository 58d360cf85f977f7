//go:build linux

package readme

// The README walk (TestREADMEWalk) follows README.md in order, as a new
// user on a fresh machine would, and fails when an example does not work.
//
// How the README's fenced code blocks are read:
//
//	```sh    runnable examples. Every command in the block runs, in README
//	         order, in one bash session (so KEY=$(...) and eval "$(...)"
//	         carry over, as in a terminal; pipefail is on), and must exit 0
//	         unless the steps table says otherwise. A line ending in \
//	         continues on the next; a <<EOF here-document runs to its
//	         terminator; blank lines, whole-line comments and trailing
//	         comments are fine.
//	```text  syntax summaries, never run: [optional] parts, a | b
//	         alternatives, CAPITAL placeholders (credflow serve [--listen
//	         ADDR], templates list | show NAME). A summary left in an sh
//	         block fails the walk, since it does not run.
//	```yaml  configuration or files: every yaml block needs an entry in
//	         yamlBlocks saying what the walk does with it (merge it into the
//	         config file, or write it to a file), applied at its place in
//	         the README.
//	```toml, ```json
//	         other programs' configuration (Codex CLI's config.toml, an
//	         editor's settings), shown for the reader to copy; never run.
//	```      (no language) program output, never run.
//
// Any other fence language fails the walk.
//
// A command that cannot run here as written (an interactive prompt, a
// program that is not installed, a macOS path, something that would leave
// the test environment) needs an entry in steps: a substitute that
// exercises the same credflow feature, or a skip with its reason. Every
// other command runs exactly as written, so a command added to the README
// that does not work fails the walk until it works or gets an entry. So
// does a command that hangs (20s), one that makes credflow print a help
// page instead of running (an unknown subcommand exits 0), and a table
// entry that no longer matches a README command.
//
// The walk is hermetic: a fresh HOME and XDG directories under t.TempDir,
// no OS keychain (a D-Bus address that does not answer, so 'credflow init'
// behaves as on a headless machine and the README's 'credflow init
// --backend file' is what sets the vault up), CREDFLOW_VAULT_PASSPHRASE for
// the file vault, a proxy that refuses every connection to anything not on
// loopback (no request leaves the machine: traffic goes to the mock
// provider only; providers that need keys get dummy secrets), and a random
// free port for the gateway: every ':6767' in a command, a yaml block or an
// expected output becomes that port. A 'credflow serve' command (or a
// substitute that is one) starts the gateway in the background, as the
// reader's other terminal, and the walk waits until it answers; it is
// stopped at the end. After a yaml block goes into the config file the walk
// validates the file, reloads a running gateway and checks that a request
// for the mock model still gets an answer (with a key of its own,
// readme-walk-probe, which therefore shows in later listings). The files
// and variables a reader brings along (a .env file, new.txt, article.txt,
// GROQ_API_KEY, llm templates) are in workFiles, homeFiles and readerEnv.
//
// CREDFLOW_TEST_README=FILE walks FILE instead of the repository's README;
// CREDFLOW_TEST_README_DEBUG=1 logs every command's output.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
	"go.yaml.in/yaml/v3"
)

// step says how the walk runs one README command. Commands are matched by
// their text without trailing comments, line continuations joined and runs
// of spaces counted as one.
type step struct {
	readme string
	// run replaces the command. Empty: the command runs as written.
	run string
	// skip, when set, is why the command is not run at all.
	skip string
	// why the substitute is needed.
	why string
	// code is the exit status the command must have (default 0).
	code int
	// stdout and stderr are regular expressions the command's output must
	// match (multi-line mode; ':6767' becomes the walk's port).
	stdout, stderr string
}

var steps = []step{
	// Quick start.
	{readme: "go run ./cmd/credflow serve", run: "credflow serve",
		why: "go run compiles the same binary into a temporary directory; the walk runs the one it built (in the background, on its port)"},
	{readme: "scripts/test.sh", skip: "the test suite this walk is part of"},
	{readme: "go build -o credflow ./cmd/credflow", run: `cp "$(command -v credflow)" credflow`,
		why: "the walk's working directory is not the clone; the binary was built from the clone with this go build already"},
	{readme: `curl -s http://127.0.0.1:6767/v1/chat/completions -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"model":"mock","messages":[{"role":"user","content":"hello credflow"}]}'`,
		stdout: `"content":"hello credflow"`},
	{readme: "./credflow status", stdout: `Listening: +http://127\.0\.0\.1:6767`},

	// Install.
	{readme: "go install ./cmd/credflow",
		run: `(cd "$README_WALK_CLONE" && go install ./cmd/credflow) && "$HOME/go/bin/credflow" version`,
		why: "runs in the clone (the walk works elsewhere) and checks the binary landed in ~/go/bin, as the README says"},

	// Walkthrough: set up.
	{readme: "credflow init", code: 4, stderr: `credflow init --backend file`,
		why: "no OS keychain answers in the walk, as on a headless machine: init stops and says so, and the next line chooses the file vault"},
	{readme: "credflow init --backend file", stderr: `created encrypted vault`},

	// Secrets.
	{readme: "credflow secrets set openai --provider openai",
		run: "echo sk-walk-openai-1 | credflow secrets set openai --provider openai --stdin",
		why: "the value is typed at a hidden prompt, and the walk has no terminal"},
	{readme: "pbpaste | credflow secrets set anthropic --stdin",
		run: "echo sk-ant-walk | credflow secrets set anthropic --stdin",
		why: "pbpaste is macOS's clipboard"},
	{readme: "credflow secrets list", stdout: `^groq +v1 `},
	{readme: "credflow secrets get openai --reveal", stdout: `sk-walk-openai-1`},
	{readme: "credflow secrets rotate openai",
		run: "echo sk-walk-openai-2 | credflow secrets rotate openai --stdin",
		why: "the value is typed at a hidden prompt, and the walk has no terminal"},
	{readme: "credflow secrets rm webhook-token", run: "credflow secrets rm webhook-token --yes",
		why: "rm asks for confirmation on the terminal"},
	{readme: "credflow secrets import --env-file .env", stdout: `MISTRAL_API_KEY: mistral-api-key`},

	// Running programs with secrets.
	{readme: "credflow exec --env OPENAI_API_KEY=openai -- python app.py",
		run:    `credflow exec --env OPENAI_API_KEY=openai -- sh -c 'echo "app sees $OPENAI_API_KEY"'`,
		why:    "no app.py here; a child that prints the variable shows it is injected (and masked)",
		stdout: `app sees <concealed by credflow>`},
	{readme: "credflow exec --profile dev -- npm run dev",
		run:    `credflow exec --profile dev -- sh -c 'echo "$OPENAI_API_KEY $ANTHROPIC_API_KEY"'`,
		why:    "no npm project here; a child that prints the profile's variables",
		stdout: `<concealed by credflow> <concealed by credflow>`},

	// The gateway.
	{readme: "credflow status", stdout: `Listening: +http://127\.0\.0\.1:6767`},

	// Virtual keys.
	{readme: "credflow keys create agent --models 'claude-*' --models 'gpt-4o*' --expires 30d", stdout: `^cf-`},
	{readme: "credflow exec --key agent -- claude",
		run:    `credflow exec --key agent -- sh -c 'curl -sSf "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H "anthropic-version: 2023-06-01" -H "content-type: application/json" -d "{\"model\":\"mock\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hello from the agent\"}]}"'`,
		why:    "Claude Code is not installed here; curl makes the call it would, with the variables exec --key sets, to the mock model",
		stdout: `hello from the agent`},

	// Prompt templates.
	{readme: "credflow templates render summarize -p words=20 < article.txt", stdout: `at most 20 words`},
	{readme: "credflow templates run summarize --key me < article.txt",
		run:    "credflow templates run summarize --key me --model mock < article.txt",
		why:    "the template's gpt-4o-mini would go to OpenAI with a dummy key: the walk sends traffic to the mock provider only",
		stdout: `at most 50 words`},
	{readme: `credflow templates import ~/Library/Application\ Support/io.datasette.llm/templates/*.yaml`,
		run: "credflow templates import ~/.config/io.datasette.llm/templates/*.yaml",
		why: "a macOS path; on Linux llm keeps its templates under ~/.config/io.datasette.llm (the walk puts one there)"},

	// Guardrails and policies.
	{readme: `curl -sS http://127.0.0.1:6767/v1/chat/completions -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"model":"mock","messages":[{"role":"user","content":"deploy with whk-7d1f0c9a2b8e4f61"}]}'`,
		stdout: `"code":"guardrail_blocked"`},
	{readme: "credflow policy check", stdout: `pii`},
	{readme: "credflow policy test --key intern --model gpt-5 --time 2026-12-02T20:30:00Z --text 'mail me at ada@example.com'",
		stdout: `(?s)route gpt-5-mini.*evening-downgrade.*pii.*email`},
	{readme: "credflow policy test --key intern --model gpt-5 --text 'the token is whk-7d1f0c9a2b8e4f61'", code: 1,
		stdout: `credentials`},

	// Usage reports.
	{readme: "credflow usage --by key --by model --since 30d", stdout: `^agent +mock `},
	{readme: "credflow logs -f --key agent",
		run:    "timeout 2 credflow logs -f --key agent; test $? -eq 124",
		why:    "follows until interrupted: the walk interrupts it after 2s",
		stdout: `agent +mock`},
}

// yamlUse says what the walk does with a yaml block, matched by the block's
// first line.
type yamlUse struct {
	first string
	// config: the block goes into the config file, its top-level keys
	// replacing the file's (as a reader pastes it over the section
	// 'credflow init' wrote). The walk then runs 'credflow config
	// validate', reloads a running gateway and checks that a request for
	// the mock model still gets an answer.
	config bool
	// file: the block is written to this file in the working directory.
	file string
}

var yamlBlocks = []yamlUse{
	// "Running programs with secrets": the dev profile, used by exec --profile dev.
	{first: "profiles:", config: true},
	// "The gateway": providers and routes, pasted over init's; the mock
	// route must survive it.
	{first: "providers:", config: true},
	// "Models and prices": price overrides.
	{first: "prices:", config: true},
	// "Sessions and stored conversations": the context engine's settings.
	{first: "context:", config: true},
	// "Guardrails and policies": rules and CEL policies.
	{first: "guardrails:", config: true},
	// "Prompt templates": summarize.yaml, which 'templates add' reads.
	{first: "description: Summarize text", file: "summarize.yaml"},
}

// The files and variables a reader brings along: the walk provides them.
var (
	workFiles = map[string]string{
		"new.txt":     "sk-walk-openai-3\n",
		".env":        "MISTRAL_API_KEY=walk-mistral-key\n",
		"article.txt": "credflow keeps provider keys in the OS keychain and runs a local gateway that accounts for every token.\n",
	}
	homeFiles = map[string]string{
		".config/io.datasette.llm/templates/steampunk.yaml": "system: Reply in the style of a Victorian steampunk inventor.\nprompt: $input\n",
	}
	readerEnv = []string{"GROQ_API_KEY=gsk-walk-groq"}
)

// TestREADMEWalk walks README.md as the comment at the top of this file
// describes.
func TestREADMEWalk(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "timeout", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README walk needs %s: %v", tool, err)
		}
	}
	clone, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(clone, "README.md")
	if f := os.Getenv("CREDFLOW_TEST_README"); f != "" {
		readme = f
	}
	src, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks(string(src))
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	w := newWalk(t, clone)
	t.Logf("built credflow in %v", time.Since(start).Round(time.Millisecond))

	used := make(map[string]bool)
	usedYAML := make(map[string]bool)
	for _, b := range blocks {
		switch b.lang {
		case "sh":
			cmds, err := parseCommands(b)
			if err != nil {
				t.Errorf("README.md:%d: %v", b.line, err)
				continue
			}
			for _, c := range cmds {
				used[c.key] = true
				if !w.command(c) {
					if w.broken {
						t.FailNow()
					}
				}
			}
		case "yaml":
			first := firstLine(b.body)
			usedYAML[first] = true
			w.yaml(b, first)
		case "text", "", "toml", "json":
		default:
			t.Errorf("README.md:%d: a ```%s block: the walk knows sh (runnable), text (syntax summaries), yaml, toml and json (other programs' files) and unmarked output blocks", b.line, b.lang)
		}
	}
	for _, s := range steps {
		if s.run != "" && s.why == "" {
			t.Errorf("steps table: %q has a substitute but no why", s.readme)
		}
		if !used[normalize(s.readme)] {
			t.Errorf("steps table: %q matches no command in the README's sh blocks; remove or update the entry", s.readme)
		}
	}
	for _, y := range yamlBlocks {
		if !usedYAML[y.first] {
			t.Errorf("yamlBlocks table: no yaml block in the README starts with %q; remove or update the entry", y.first)
		}
	}
	t.Logf("walked %d commands and %d yaml blocks in %v, the build included", w.ran, len(usedYAML), time.Since(start).Round(time.Millisecond))
}

// A block is a fenced code block of the README.
type block struct {
	lang    string
	line    int // the opening fence's line
	section string
	body    []string
}

func parseBlocks(src string) ([]block, error) {
	var (
		out     []block
		cur     *block
		section string
	)
	indent := "" // of the open block's fence (a block in a list item)
	for i, l := range strings.Split(src, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		switch {
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body = append(cur.body, strings.TrimPrefix(l, indent))
		case strings.HasPrefix(trimmed, "```"):
			indent = l[:len(l)-len(trimmed)]
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1, section: section}
		case strings.HasPrefix(l, "#"):
			section = strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: code block never closed", cur.line)
	}
	return out, nil
}

// A command is one shell command of an sh block.
type command struct {
	text    string // as it runs
	key     string // as the steps table names it
	line    int
	section string
}

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

func parseCommands(b block) ([]command, error) {
	var out []command
	for i := 0; i < len(b.body); i++ {
		l := b.body[i]
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := command{line: b.line + 1 + i, section: b.section}
		lines := []string{l}
		for strings.HasSuffix(stripComment(l), `\`) {
			i++
			if i == len(b.body) {
				return nil, fmt.Errorf("line %d: continued past the end of the block", c.line)
			}
			l = b.body[i]
			lines = append(lines, l)
		}
		key := normalize(strings.Join(lines, "\n"))
		if m := heredocRE.FindStringSubmatch(stripComment(l)); m != nil {
			for {
				i++
				if i == len(b.body) {
					return nil, fmt.Errorf("line %d: here-document %s never ends", c.line, m[1])
				}
				lines = append(lines, b.body[i])
				if strings.TrimSpace(b.body[i]) == m[1] {
					break
				}
			}
		}
		c.text = strings.Join(lines, "\n")
		c.key = key
		out = append(out, c)
	}
	return out, nil
}

// stripComment drops a trailing shell comment: a # at the start or after a
// blank, outside quotes.
func stripComment(l string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		ch := l[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			}
		case ch == '\\':
			i++
		case quote == '"':
			if ch == '"' {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return strings.TrimRight(l[:i], " \t")
		}
	}
	return strings.TrimRight(l, " \t")
}

// normalize is a command's name in the steps table: without trailing
// comments and line continuations, runs of blanks as one space.
func normalize(cmd string) string {
	var parts []string
	for _, l := range strings.Split(cmd, "\n") {
		l = strings.TrimSuffix(stripComment(l), `\`)
		parts = append(parts, l)
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

func firstLine(body []string) string {
	for _, l := range body {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return strings.TrimSpace(stripComment(l))
		}
	}
	return ""
}

// walk is the state of one walk: the shell, the daemon, the directories.
type walk struct {
	t         *testing.T
	port      string
	home      string
	work      string // the working directory the commands run in
	dataDir   string
	cfgPath   string
	sh        *shell
	daemon    int    // pid of the running 'credflow serve', 0 if none
	daemonCmd string // the command that started it
	probeKey  string
	ran       int
	broken    bool // the shell is gone: nothing more can run
}

func newWalk(t *testing.T, clone string) *walk {
	root := t.TempDir()
	w := &walk{t: t, port: freePort(t)}
	w.home = filepath.Join(root, "home")
	w.work = filepath.Join(root, "work")
	bin := filepath.Join(root, "bin")
	meta := filepath.Join(root, "walk")
	for _, d := range []string{w.home, w.work, bin, meta} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "credflow"), "./cmd/credflow")
	build.Dir = clone
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/credflow: %v\n%s", err, out)
	}
	writeFiles(t, w.work, workFiles)
	writeFiles(t, w.home, homeFiles)

	xdgConfig := filepath.Join(w.home, ".config")
	xdgData := filepath.Join(w.home, ".local", "share")
	w.dataDir = filepath.Join(xdgData, "credflow")
	w.cfgPath = filepath.Join(xdgConfig, "credflow", "config.yaml")
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + w.home,
		"USER=walker",
		"LANG=C.UTF-8",
		"TERM=dumb",
		"NO_COLOR=1",
		"TMPDIR=" + meta,
		"XDG_CONFIG_HOME=" + xdgConfig,
		"XDG_DATA_HOME=" + xdgData,
		"XDG_CACHE_HOME=" + filepath.Join(w.home, ".cache"),
		"XDG_STATE_HOME=" + filepath.Join(w.home, ".local", "state"),
		// No OS keychain: a bus address that does not answer (an empty one
		// would make godbus launch a session bus that outlives the walk).
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(meta, "no-session-bus"),
		"CREDFLOW_KEYCHAIN_SERVICE=credflow-readme-walk",
		"CREDFLOW_VAULT_PASSPHRASE=correct horse battery staple",
		// age's default scrypt cost takes ~1s per unlock; tests use less.
		"CREDFLOW_VAULT_SCRYPT_WORK_FACTOR=10",
		// Nothing leaves the machine: a provider other than mock would be
		// reached through this proxy, which refuses every connection.
		"HTTP_PROXY=http://127.0.0.1:9",
		"HTTPS_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost",
		// For the README's 'go install': the host's caches, no downloads.
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GOFLAGS=-mod=readonly",
		"README_WALK_CLONE=" + clone,
	}
	for _, k := range []string{"GOCACHE", "GOMODCACHE"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(out)))
	}
	env = append(env, readerEnv...)
	w.sh = startShell(t, meta, w.work, env)
	t.Cleanup(w.stop)
	return w
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func (w *walk) withPort(s string) string {
	return strings.ReplaceAll(s, ":6767", ":"+w.port)
}

func (w *walk) where(c command) string {
	return fmt.Sprintf("README.md:%d (%s): %s", c.line, c.section, c.key)
}

// command runs one README command; it reports whether it did what it
// should.
func (w *walk) command(c command) bool {
	t := w.t
	var s *step
	for i := range steps {
		if normalize(steps[i].readme) == c.key {
			s = &steps[i]
			break
		}
	}
	if s == nil {
		s = &step{}
	}
	if s.skip != "" {
		t.Logf("skip %s: %s", w.where(c), s.skip)
		return true
	}
	text := c.text
	if s.run != "" {
		text = s.run
	}
	text = w.withPort(text)
	w.ran++
	if isServe(text) {
		return w.serve(c, text)
	}
	res, err := w.sh.run(text, 20*time.Second)
	if err != nil {
		w.broken = true
		t.Errorf("%s: %v", w.where(c), err)
		return false
	}
	t.Logf("%s: exit %d", w.where(c), res.code)
	if os.Getenv("CREDFLOW_TEST_README_DEBUG") != "" {
		t.Logf("%s", res.show())
	}
	ok := true
	if res.code != s.code {
		t.Errorf("%s: exit status %d, want %d%s\n%s\nIf this command cannot run in the walk as written, give it an entry in the steps table of internal/readme/walk_test.go.",
			w.where(c), res.code, s.code, ranAs(s), res.show())
		ok = false
	}
	// A parent command given an unknown subcommand prints its help and
	// exits 0: a README typo must not pass for a working example.
	if helpRE.MatchString(res.stdout+res.stderr) && !askedHelp.MatchString(text) {
		t.Errorf("%s: credflow printed a command's help instead of running it (an unknown subcommand?)%s\n%s", w.where(c), ranAs(s), res.show())
		ok = false
	}
	for _, m := range []struct{ name, re, out string }{{"stdout", s.stdout, res.stdout}, {"stderr", s.stderr, res.stderr}} {
		if m.re == "" {
			continue
		}
		re := regexp.MustCompile("(?m)" + w.withPort(m.re))
		if !re.MatchString(m.out) {
			t.Errorf("%s: %s does not match %q%s\n%s", w.where(c), m.name, re, ranAs(s), res.show())
			ok = false
		}
	}
	return ok
}

var (
	helpRE    = regexp.MustCompile(`(?m)^Use "credflow .*--help" for more information`)
	askedHelp = regexp.MustCompile(`(^|\s)(-h|--help|help)(\s|$)`)
)

func ranAs(s *step) string {
	if s.run == "" {
		return ""
	}
	return "\n  (ran as: " + s.run + ")"
}

var serveRE = regexp.MustCompile(`^(\./)?credflow\s+serve(\s|$)`)

func isServe(cmd string) bool { return serveRE.MatchString(cmd) }

// serve starts the gateway in the background, as the README's reader does
// in another terminal, and waits until it answers. A gateway the walk
// started before is stopped first; if the new one does not start, the
// previous one is started again, as the reader would, so the rest of the
// walk still has a gateway.
func (w *walk) serve(c command, text string) bool {
	text = strings.TrimSuffix(normalize(text), " &")
	if !strings.Contains(text, "--listen") {
		text += " --listen 127.0.0.1:" + w.port
	}
	prev := w.daemonCmd
	w.stopDaemon()
	err := w.startDaemon(text)
	if err == nil {
		w.t.Logf("%s: the gateway (pid %d) listens on 127.0.0.1:%s", w.where(c), w.daemon, w.port)
		return true
	}
	w.t.Errorf("%s: the gateway did not start: %v", w.where(c), err)
	if prev != "" {
		if err := w.startDaemon(prev); err != nil {
			w.t.Errorf("%s: restarting the previous gateway: %v", w.where(c), err)
		}
	}
	return false
}

func (w *walk) startDaemon(text string) error {
	logFile := filepath.Join(w.sh.dir, fmt.Sprintf("serve%03d.log", w.sh.n+1))
	res, err := w.sh.run(fmt.Sprintf("%s >%s 2>&1 &\necho $!", text, shQuote(logFile)), 10*time.Second)
	if err != nil || res.code != 0 {
		w.broken = true
		return fmt.Errorf("%v %s", err, res.show())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(res.stdout))
	if err != nil {
		w.broken = true
		return fmt.Errorf("no pid: %q", res.stdout)
	}
	client := adminapi.NewClient(adminapi.SocketPath(w.dataDir))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := client.Status(ctx)
		cancel()
		if err == nil && strings.HasSuffix(st.Listen, ":"+w.port) {
			w.daemon, w.daemonCmd = pid, text
			return nil
		}
		if syscall.Kill(pid, 0) != nil || time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("%v\n%s", err, tail(string(log), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// yaml applies a yaml block as yamlBlocks says.
func (w *walk) yaml(b block, first string) {
	t := w.t
	var use *yamlUse
	for i := range yamlBlocks {
		if yamlBlocks[i].first == first {
			use = &yamlBlocks[i]
		}
	}
	if use == nil {
		t.Errorf("README.md:%d (%s): a yaml block starting %q has no entry in yamlBlocks (internal/readme/walk_test.go): say whether it goes into the config file or into a file", b.line, b.section, first)
		return
	}
	text := w.withPort(strings.Join(b.body, "\n") + "\n")
	where := fmt.Sprintf("README.md:%d (%s): yaml block %q", b.line, b.section, first)
	if use.file != "" {
		if err := os.WriteFile(filepath.Join(w.work, use.file), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := mergeConfig(w.cfgPath, text); err != nil {
		t.Errorf("%s: into the config file: %v", where, err)
		return
	}
	if w.broken {
		return
	}
	res, err := w.sh.run("credflow config validate", 30*time.Second)
	if err != nil || res.code != 0 {
		t.Errorf("%s: the config file with it does not validate: %v\n%s", where, err, res.show())
		return
	}
	if w.daemon == 0 {
		return
	}
	// The reader's gateway still runs: reload it (as SIGHUP would) and
	// check that the quick start's request still gets an answer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := adminapi.NewClient(adminapi.SocketPath(w.dataDir))
	if r, err := client.Reload(ctx, adminapi.ReloadRequest{Config: true, Secrets: true}); err != nil || !r.OK {
		t.Errorf("%s: the running gateway refuses the config: %v %+v", where, err, r)
		return
	}
	if w.probeKey == "" {
		k, err := client.CreateKey(ctx, adminapi.CreateKeyRequest{Name: "readme-walk-probe"})
		if err != nil {
			t.Errorf("%s: creating the walk's probe key: %v", where, err)
			return
		}
		w.probeKey = k.Value
	}
	body := `{"model":"mock","messages":[{"role":"user","content":"still routed"}]}`
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://127.0.0.1:"+w.port+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.probeKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s: the quick start's request after it: %v", where, err)
		return
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(got, []byte("still routed")) {
		t.Errorf("%s: with it in the config file, the quick start's request for model \"mock\" gets %d: %s", where, resp.StatusCode, got)
	}
}

// mergeConfig puts the block's top-level keys into the config file,
// replacing the keys it has.
func mergeConfig(path, block string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (the README shows this block before a config file exists)", err)
	}
	var doc, add yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(block), &add); err != nil {
		return fmt.Errorf("the block is not YAML: %v", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode ||
		len(add.Content) != 1 || add.Content[0].Kind != yaml.MappingNode {
		return errors.New("the config file and the block must both be mappings")
	}
	root, m := doc.Content[0], add.Content[0]
next:
	for i := 0; i+1 < len(m.Content); i += 2 {
		for j := 0; j+1 < len(root.Content); j += 2 {
			if root.Content[j].Value == m.Content[i].Value {
				root.Content[j+1] = m.Content[i+1]
				continue next
			}
		}
		root.Content = append(root.Content, m.Content[i], m.Content[i+1])
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o600)
}

func (w *walk) stopDaemon() {
	if w.daemon == 0 {
		return
	}
	pid := w.daemon
	w.daemon = 0
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

func (w *walk) stop() {
	w.stopDaemon()
	w.sh.close()
}

// shell is one bash session the commands run in, one after the other.
type shell struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	dir   string // command files and outputs
	n     int
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) show() string {
	var b strings.Builder
	if s := tail(r.stdout, 15); s != "" {
		b.WriteString("  stdout:\n" + s)
	}
	if s := tail(r.stderr, 15); s != "" {
		b.WriteString("  stderr:\n" + s)
	}
	return b.String()
}

func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = append([]string{"    …"}, l[len(l)-n:]...)
	}
	return "    " + strings.Join(l, "\n    ") + "\n"
}

func startShell(t *testing.T, dir, cwd string, env []string) *shell {
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = cwd
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{wr} // fd 3: one status line per command
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errs, &errs
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	s := &shell{cmd: cmd, in: in, lines: make(chan string), dir: dir}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		r.Close()
	}()
	fmt.Fprintln(in, "set -o pipefail")
	return s
}

// run runs script in the session: its stdin is /dev/null, its output goes
// to files; variables and the working directory carry over to the next.
func (s *shell) run(script string, timeout time.Duration) (result, error) {
	s.n++
	base := filepath.Join(s.dir, fmt.Sprintf("cmd%03d", s.n))
	if err := os.WriteFile(base+".sh", []byte(script+"\n"), 0o600); err != nil {
		return result{}, err
	}
	fmt.Fprintf(s.in, "{ . %s; } 3>&- </dev/null >%s 2>%s; echo \"$? %d\" >&3\n",
		shQuote(base+".sh"), shQuote(base+".out"), shQuote(base+".err"), s.n)
	var res result
	select {
	case l, ok := <-s.lines:
		if !ok {
			return res, errors.New("the shell exited (did the command run 'exit'?)")
		}
		var n int
		if _, err := fmt.Sscanf(l, "%d %d", &res.code, &n); err != nil || n != s.n {
			return res, fmt.Errorf("the shell's status line %q is not for command %d", l, s.n)
		}
	case <-time.After(timeout):
		out, _ := os.ReadFile(base + ".out")
		errOut, _ := os.ReadFile(base + ".err")
		res.stdout, res.stderr = string(out), string(errOut)
		return res, fmt.Errorf("still running after %v (waiting for a terminal or a signal?); the walk stops here\n%s", timeout, res.show())
	}
	out, _ := os.ReadFile(base + ".out")
	errOut, _ := os.ReadFile(base + ".err")
	res.stdout, res.stderr = string(out), string(errOut)
	return res, nil
}

func (s *shell) close() {
	s.in.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	// Whatever the commands left running in the background goes too.
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
