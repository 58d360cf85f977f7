package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/iostreams"
	"github.com/credflow/credflow/internal/keys"
	"github.com/credflow/credflow/internal/pricing"
	"github.com/credflow/credflow/internal/session"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/spf13/cobra"
)

func newSessionsCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sessions",
		Aliases: []string{"session"},
		Short:   "See and manage the conversations the gateway keeps: sessions, conversations, stored responses",
		Long: `The gateway keeps conversations for clients that ask it to, encrypted in
context.db in the data directory under a key kept in your vault:

  session        named per virtual key, for Chat Completions and Messages
                 clients that send the header X-Credflow-Session: NAME; each
                 has a profile, data, pinned documents, a time zone and a
                 fitting policy you can set
  conversation   OpenAI Conversations API conversations (ids conv_...)
  response       stored OpenAI Responses API responses (ids resp_...)

Each belongs to one virtual key. --kind picks the kind (default session);
--key names the key, which a session needs (two keys may each have a
session "work"); a conversation's or response's id is unique, so its key
is found when not given.

While 'credflow serve' runs these commands go through its admin socket;
otherwise they open context.db themselves (which needs the vault).
'export' writes a credflow.context/v1 document that 'import' reads back,
here or on another machine.`,
	}
	cmd.AddCommand(
		newSessionsListCmd(f),
		newSessionsShowCmd(f),
		newSessionsExportCmd(f),
		newSessionsImportCmd(f),
		newSessionsForkCmd(f),
		newSessionsRmCmd(f),
		newSessionsPruneCmd(f),
		newSessionsSetCmd(f),
	)
	return cmd
}

// sessionManager is what the sessions commands need. daemonSessions goes
// through a running daemon's admin API; fileSessions opens context.db
// when none runs; noSessions stands for a vault that holds no context
// data key yet (so nothing was ever stored).
type sessionManager interface {
	List(ctx context.Context, kind, key string) (*adminapi.SessionList, error)
	Get(ctx context.Context, kind, key, id string) (*contextdoc.Document, error)
	Import(ctx context.Context, key string, d *contextdoc.Document, replace bool) (*adminapi.SessionInfo, error)
	Delete(ctx context.Context, kind, key, id string) (*adminapi.SessionInfo, error)
	Update(ctx context.Context, kind, key, id string, r adminapi.UpdateSessionRequest) (*adminapi.SessionInfo, error)
	Fork(ctx context.Context, kind, key, id string, r adminapi.ForkSessionRequest) (*adminapi.SessionInfo, error)
	Prune(ctx context.Context, olderThan *time.Duration) (int, error)
}

type daemonSessions struct{ c *adminapi.Client }

func (d daemonSessions) List(ctx context.Context, kind, key string) (*adminapi.SessionList, error) {
	return d.c.ListSessions(ctx, kind, key)
}

func (d daemonSessions) Get(ctx context.Context, kind, key, id string) (*contextdoc.Document, error) {
	return d.c.GetSession(ctx, kind, key, id)
}

func (d daemonSessions) Import(ctx context.Context, key string, doc *contextdoc.Document, replace bool) (*adminapi.SessionInfo, error) {
	return d.c.ImportSession(ctx, key, doc, replace)
}

func (d daemonSessions) Delete(ctx context.Context, kind, key, id string) (*adminapi.SessionInfo, error) {
	return d.c.DeleteSession(ctx, kind, key, id)
}

func (d daemonSessions) Update(ctx context.Context, kind, key, id string, r adminapi.UpdateSessionRequest) (*adminapi.SessionInfo, error) {
	return d.c.UpdateSession(ctx, kind, key, id, r)
}

func (d daemonSessions) Fork(ctx context.Context, kind, key, id string, r adminapi.ForkSessionRequest) (*adminapi.SessionInfo, error) {
	return d.c.ForkSession(ctx, kind, key, id, r)
}

func (d daemonSessions) Prune(ctx context.Context, olderThan *time.Duration) (int, error) {
	var req adminapi.PruneSessionsRequest
	if olderThan != nil {
		s := secondsOf(*olderThan)
		req.OlderThanSeconds = &s
	}
	res, err := d.c.PruneSessions(ctx, req)
	if err != nil {
		return 0, err
	}
	return res.Deleted, nil
}

type fileSessions struct{ m *session.Manager }

func (s fileSessions) List(_ context.Context, kind, key string) (*adminapi.SessionList, error) {
	return s.m.List(session.Kind(kind), key)
}

func (s fileSessions) Get(_ context.Context, kind, key, id string) (*contextdoc.Document, error) {
	return s.m.Get(session.Kind(kind), key, id)
}

func (s fileSessions) Import(ctx context.Context, key string, d *contextdoc.Document, replace bool) (*adminapi.SessionInfo, error) {
	in, _, err := s.m.Import(ctx, key, d, replace)
	return in, err
}

func (s fileSessions) Delete(_ context.Context, kind, key, id string) (*adminapi.SessionInfo, error) {
	return s.m.Delete(session.Kind(kind), key, id)
}

func (s fileSessions) Update(ctx context.Context, kind, key, id string, r adminapi.UpdateSessionRequest) (*adminapi.SessionInfo, error) {
	return s.m.Update(ctx, session.Kind(kind), key, id, r)
}

func (s fileSessions) Fork(ctx context.Context, kind, key, id string, r adminapi.ForkSessionRequest) (*adminapi.SessionInfo, error) {
	return s.m.Fork(ctx, session.Kind(kind), key, id, r)
}

func (s fileSessions) Prune(_ context.Context, olderThan *time.Duration) (int, error) {
	return s.m.Prune(olderThan)
}

// noSessions answers for a context file that does not exist yet, or a
// vault without its data key: there is nothing stored.
type noSessions struct{}

func (noSessions) List(context.Context, string, string) (*adminapi.SessionList, error) {
	return &adminapi.SessionList{Sessions: []adminapi.SessionInfo{}}, nil
}

func (noSessions) Get(_ context.Context, kind, key, id string) (*contextdoc.Document, error) {
	return nil, session.NotFoundError(session.Kind(kind), key, id)
}

func (noSessions) Import(context.Context, string, *contextdoc.Document, bool) (*adminapi.SessionInfo, error) {
	return nil, errors.New("internal error: import needs the context file")
}

func (noSessions) Delete(_ context.Context, kind, key, id string) (*adminapi.SessionInfo, error) {
	return nil, session.NotFoundError(session.Kind(kind), key, id)
}

func (noSessions) Update(_ context.Context, kind, key, id string, _ adminapi.UpdateSessionRequest) (*adminapi.SessionInfo, error) {
	return nil, session.NotFoundError(session.Kind(kind), key, id)
}

func (noSessions) Fork(_ context.Context, kind, key, id string, _ adminapi.ForkSessionRequest) (*adminapi.SessionInfo, error) {
	return nil, session.NotFoundError(session.Kind(kind), key, id)
}

func (noSessions) Prune(context.Context, *time.Duration) (int, error) { return 0, nil }

// withSessions runs fn against the running daemon, or, when none answers,
// against context.db. write says fn may store a new conversation: only
// then is the file (and its data key in the vault) made when missing. fn
// must do nothing but call the manager: it may run twice.
func withSessions(ctx context.Context, f *Factory, write bool, fn func(sessionManager) error) error {
	p, err := f.Paths()
	if err != nil {
		return err
	}
	err = fn(daemonSessions{adminapi.NewClient(adminapi.SocketPath(p.DataDir))})
	if !errors.Is(err, adminapi.ErrNoDaemon) {
		return sessionsError(err)
	}
	path := filepath.Join(p.DataDir, session.FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !write {
		return sessionsError(fn(noSessions{}))
	}
	key, err := contextKey(ctx, f, write)
	if errors.Is(err, session.ErrNoKey) {
		return sessionsError(fn(noSessions{}))
	}
	if err != nil {
		return err
	}
	timeout, err := f.lockTimeout()
	if err != nil {
		return err
	}
	if write {
		if err := config.EnsureDataDir(p.DataDir); err != nil {
			return err
		}
	}
	st, err := session.Open(path, key, session.Options{Now: f.Now, Process: f.Process, Timeout: timeout})
	if err != nil {
		return err
	}
	defer st.Close()
	m := &session.Manager{Store: st, Now: f.Now,
		KeyExists: func(name string) (bool, error) {
			db, err := f.OpenStore()
			if err != nil {
				return false, err
			}
			defer db.Close()
			_, err = keys.New(db, keys.Options{Now: f.Now, Process: f.Process}).Get(name)
			if errors.Is(err, keys.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
		Retention: func(owner string) time.Duration {
			cfg, err := f.Config()
			if err != nil {
				return 0 // unreachable: the config was read to open the vault
			}
			d := cfg.Context.Retention
			if kd, ok := cfg.Context.KeyRetention[owner]; ok {
				return kd.Std()
			}
			if d == nil {
				return config.DefaultContextRetention
			}
			return d.Std()
		}}
	return sessionsError(fn(fileSessions{m}))
}

// contextKey reads the context file's data key from the vault (making it
// when create is set), and releases the vault's hold on the data file.
func contextKey(ctx context.Context, f *Factory, create bool) ([]byte, error) {
	v, closeFn, err := f.OpenVault()
	if err != nil {
		return nil, err
	}
	defer closeFn()
	key, err := session.LoadKey(ctx, v, f.Process, create)
	if err != nil && !errors.Is(err, session.ErrNoKey) {
		return nil, fmt.Errorf("%w; stored conversations are encrypted with a key in the vault, so they cannot be read without it", err)
	}
	return key, err
}

// sessionsError gives the session package's errors, and the daemon's
// answers, their exit codes. Their messages say what to do, so a usage
// error does not add the --help line.
func sessionsError(err error) error {
	code := 0
	var se *adminapi.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Status == 400:
		code = ExitUsage
	case errors.As(err, &se) && se.Status == 404:
		code = ExitNotFound
	case errors.As(err, &se) && se.Status == 409:
		code = ExitConflict
	case errors.As(err, &se) && se.Status == 503:
		code = ExitUnavailable
	case errors.As(err, &se) && se.Status == 422, errors.Is(err, session.ErrDamaged):
		return &exitError{code: ExitDamaged, noHint: true, err: fmt.Errorf("%w; the others are unaffected: 'credflow sessions export' of this one shows what the error names, and 'credflow sessions rm' deletes it", err)}
	case errors.Is(err, session.ErrInvalid):
		code = ExitUsage
	case errors.Is(err, session.ErrNotFound):
		code = ExitNotFound
	case errors.Is(err, session.ErrExists):
		code = ExitConflict
	default:
		return err
	}
	return &exitError{code: code, noHint: true, err: err}
}

// selection is which conversation a command names.
type selection struct {
	kind string
	key  string
	// sessionOnly: the command has no --kind (only sessions apply).
	sessionOnly bool
}

// addSelection adds --kind and --key.
func (s *selection) add(cmd *cobra.Command, keyHelp string) {
	cmd.Flags().StringVar(&s.kind, "kind", string(session.KindSession), "`KIND` of conversation: session, conversation or response")
	cmd.Flags().StringVar(&s.key, "key", "", keyHelp)
	cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{"session", "conversation", "response"}, cobra.ShellCompDirectiveNoFileComp))
}

// resolve checks the selection for a command that names one conversation:
// a session needs its key; another kind without one is looked up by id.
func (s *selection) resolve(name string) (kind, key string, err error) {
	k, err := session.ParseKind(s.kind)
	if err != nil {
		return "", "", &exitError{code: ExitUsage, err: fmt.Errorf("--kind: %v", err)}
	}
	switch {
	case k == session.KindSession && s.key == "" && !s.sessionOnly && strings.HasPrefix(name, "conv_"):
		return "", "", usageErrorf("%s looks like a conversation's id: add --kind conversation (a session needs its key, --key NAME)", name)
	case k == session.KindSession && s.key == "" && !s.sessionOnly && strings.HasPrefix(name, "resp_"):
		return "", "", usageErrorf("%s looks like a response's id: add --kind response (a session needs its key, --key NAME)", name)
	case k == session.KindSession && s.key == "":
		return "", "", usageErrorf("a session is named per virtual key: give its key with --key NAME (see 'credflow sessions list')")
	case k == session.KindSession:
		if err := session.CheckName(name); err != nil {
			return "", "", sessionsError(err)
		}
	}
	key = s.key
	if key == "" {
		key = adminapi.AnyKey
	} else if err := keys.CheckName(key); err != nil {
		return "", "", keysError(err)
	}
	return string(k), key, nil
}

// what names a conversation in messages.
func what(kind, key, id string) string {
	switch {
	case kind == string(session.KindSession):
		return fmt.Sprintf("session %q of key %q", id, key)
	case key == "" || key == adminapi.AnyKey:
		return kind + " " + id
	}
	return fmt.Sprintf("%s %s of key %q", kind, id, key)
}

func infoWhat(in *adminapi.SessionInfo) string { return what(in.Kind, in.Key, in.ID) }

func newSessionsListCmd(f *Factory) *cobra.Command {
	var sel selection
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stored sessions (or conversations, responses): key, model, turns, tokens, cost",
		Long: `List the stored conversations of one kind (--kind, default session; 'all'
for every kind), of every virtual key or of one (--key), most recently
updated first: turns, items, tokens in and out, cost, the fitting policy
and how many of the oldest items a running summary stands for.`,
		Example: `  credflow sessions list
  credflow sessions list --key agent
  credflow sessions list --kind conversation --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := sel.kind
			if kind == "all" {
				kind = ""
			} else if _, err := session.ParseKind(kind); err != nil {
				return usageErrorf("--kind: %v (or all)", err)
			}
			if sel.key != "" {
				if err := keys.CheckName(sel.key); err != nil {
					return keysError(err)
				}
			}
			var list *adminapi.SessionList
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				list, err = m.List(cmd.Context(), kind, sel.key)
				return err
			}); err != nil {
				return err
			}
			if list.Damaged > 0 {
				info(f.IO.ErrOut, "skipped %d stored record(s) that cannot be read (damaged, or written with another data key)", list.Damaged)
			}
			if asJSON {
				if list.Sessions == nil {
					list.Sessions = []adminapi.SessionInfo{}
				}
				return writeJSON(f.IO.Out, list.Sessions)
			}
			if len(list.Sessions) == 0 {
				info(f.IO.ErrOut, "%s", noneYet(kind, sel.key))
				return nil
			}
			return writeSessionTable(f.IO.Out, list.Sessions, kind == "", f.Now())
		},
	}
	sel.add(cmd, "only the conversations of virtual key `NAME`")
	cmd.Flags().Lookup("kind").Usage = "`KIND` of conversation: session, conversation, response or all"
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func noneYet(kind, key string) string {
	what := map[string]string{"": "stored conversations", "session": "sessions", "conversation": "conversations", "response": "stored responses"}[kind]
	of := ""
	if key != "" {
		of = fmt.Sprintf(" of key %q", key)
	}
	hint := "the gateway keeps them for clients that send the header X-Credflow-Session: NAME, use the Conversations API or store Responses; 'credflow sessions import FILE' adds one"
	return fmt.Sprintf("no %s%s yet; %s", what, of, hint)
}

func writeSessionTable(w io.Writer, ss []adminapi.SessionInfo, withKind bool, now time.Time) error {
	tw := table(w)
	head := "NAME\tKEY\tMODEL\tTURNS\tITEMS\tIN\tOUT\tCOST\tPOLICY\tSUMMARY\tUPDATED"
	if withKind {
		head = "KIND\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, s := range ss {
		summary := "-"
		if s.SummaryItems > 0 {
			summary = fmt.Sprintf("%d items", s.SummaryItems)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s", cell(s.ID), s.Key, dash(s.Model), s.Turns, s.Items,
			s.InputTokens, s.OutputTokens, pricing.Micros(s.CostMicros), dash(s.Policy), summary, ago(now.Sub(s.Updated)))
		if withKind {
			line = s.Kind + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// cell keeps a free-form name on one table line.
func cell(s string) string {
	if strings.ContainsAny(s, "\t\n") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func newSessionsShowCmd(f *Factory) *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a stored conversation as a readable transcript, with tokens and cost per turn",
		Long: `Print a stored conversation: its settings (model, policy, profile, data,
pinned documents, time zone, summary), then every item, each reply with the
turn's tokens in and out and its cost. NAME is a session's name, or with
--kind a conversation's or response's id.`,
		Example: `  credflow sessions show work --key agent
  credflow sessions show conv_68a1... --kind conversation`,
		Args: exactArgs(1, "the session's NAME (or a conversation's or response's id)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, key, err := sel.resolve(args[0])
			if err != nil {
				return err
			}
			var d *contextdoc.Document
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				d, err = m.Get(cmd.Context(), kind, key, args[0])
				return err
			}); err != nil {
				return err
			}
			return writeTranscript(f.IO.Out, d, f.Now())
		},
	}
	sel.add(cmd, "the virtual key `NAME` the session belongs to (needed for a session)")
	return cmd
}

// writeTranscript renders a document for a terminal: a header of its
// settings, then each item under a bracketed label.
func writeTranscript(w io.Writer, d *contextdoc.Document, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", what(d.Kind, d.Key, d.ID))
	when := fmt.Sprintf("created %s, updated %s", keyWhen(d.Created), keyWhen(d.Updated))
	if a := ago(now.Sub(d.Updated)); a != "just now" {
		when += " (" + a + " ago)"
	}
	fmt.Fprintf(&b, "  %s\n", when)
	var turns int
	var in, out, cost int64
	priced := true
	for _, it := range d.Items {
		if u := it.Usage; u != nil {
			turns++
			in += u.InputTokens
			out += u.OutputTokens
			if u.CostMicros != nil {
				cost += *u.CostMicros
			} else {
				priced = false
			}
		}
	}
	total := pricing.Micros(cost).String()
	if !priced {
		total = "≥" + total
	}
	fmt.Fprintf(&b, "  %s, %s, %d tokens in, %d out, %s\n", plural(turns, "turn"), plural(len(d.Items), "item"), in, out, total)
	if d.Model != "" {
		fmt.Fprintf(&b, "  model: %s\n", d.Model)
	}
	if d.Policy != "" {
		fmt.Fprintf(&b, "  policy: %s\n", d.Policy)
	}
	if d.Previous != "" {
		fmt.Fprintf(&b, "  previous response: %s\n", d.Previous)
	}
	for _, k := range sortedMapKeys(d.Profile) {
		fmt.Fprintf(&b, "  profile %s: %s\n", k, d.Profile[k])
	}
	for _, k := range sortedMapKeys(d.Data) {
		fmt.Fprintf(&b, "  data %s: %s\n", k, d.Data[k])
	}
	for _, k := range sortedMapKeys(d.Metadata) {
		fmt.Fprintf(&b, "  metadata %s: %s\n", k, d.Metadata[k])
	}
	for _, doc := range d.Documents {
		fmt.Fprintf(&b, "  pinned document %s: %d bytes\n", doc.Name, len(doc.Text))
	}
	if env := d.Environment; env != nil && env.TimeZone != "" {
		fmt.Fprintf(&b, "  time zone: %s\n", env.TimeZone)
	}
	if s := d.Summary; s != nil {
		by := ""
		if s.Model != "" {
			by = " by " + s.Model
		}
		fmt.Fprintf(&b, "\n[summary of the first %d items%s]\n%s\n", s.Through, by, strings.TrimRight(s.Text, "\n"))
	}
	turn := 0
	for i := range d.Items {
		it := &d.Items[i]
		b.WriteString("\n[")
		switch it.Type {
		case contextdoc.TypeMessage:
			b.WriteString(it.Role)
		case contextdoc.TypeFunctionCall:
			fmt.Fprintf(&b, "tool call %s(%s)", it.Name, it.Arguments)
		case contextdoc.TypeFunctionCallOutput:
			b.WriteString("tool result")
			if it.IsError {
				b.WriteString(", error")
			}
		case contextdoc.TypeReasoning:
			b.WriteString("reasoning")
		default:
			b.WriteString(it.Type)
		}
		if it.Model != "" {
			b.WriteString(" · " + it.Model)
		}
		if u := it.Usage; u != nil {
			turn++
			c := "cost unknown"
			if u.CostMicros != nil {
				c = pricing.Micros(*u.CostMicros).String()
			}
			fmt.Fprintf(&b, " · turn %d: %d in, %d out, %s", turn, u.InputTokens, u.OutputTokens, c)
		}
		b.WriteString("]\n")
		for _, p := range it.Content {
			switch p.Type {
			case contextdoc.PartImage:
				b.WriteString("(image)\n")
			case contextdoc.PartFile:
				fmt.Fprintf(&b, "(file %s)\n", p.Filename)
			case contextdoc.PartRefusal:
				fmt.Fprintf(&b, "(refused) %s\n", strings.TrimRight(p.Text, "\n"))
			default:
				if p.Text != "" {
					b.WriteString(strings.TrimRight(p.Text, "\n") + "\n")
				}
			}
		}
		if it.Type == contextdoc.TypeReasoning && len(it.Content) == 0 && it.Signature != "" {
			fmt.Fprintf(&b, "(hidden, readable by %s only)\n", dash(it.Origin))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plural writes a count and a noun: "1 turn", "2 turns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func newSessionsExportCmd(f *Factory) *cobra.Command {
	var sel selection
	var format string
	cmd := &cobra.Command{
		Use:   "export NAME",
		Short: "Write a stored conversation to standard output: a credflow.context/v1 document, or Markdown",
		Long: `Write a stored conversation to standard output. --format json (the default)
is a credflow.context/v1 document: its items, settings and usage, which
'credflow sessions import' reads back. --format md is a Markdown transcript.
The output holds the conversation in the clear.`,
		Example: `  credflow sessions export work --key agent > work.json
  credflow sessions export work --key agent --format md > work.md`,
		Args: exactArgs(1, "the session's NAME (or a conversation's or response's id)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "md" {
				return usageErrorf("--format %q: use json or md", format)
			}
			kind, key, err := sel.resolve(args[0])
			if err != nil {
				return err
			}
			var d *contextdoc.Document
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				d, err = m.Get(cmd.Context(), kind, key, args[0])
				return err
			}); err != nil {
				return err
			}
			if format == "md" {
				_, err := io.WriteString(f.IO.Out, session.Markdown(d))
				return err
			}
			return writeJSON(f.IO.Out, d)
		},
	}
	sel.add(cmd, "the virtual key `NAME` the session belongs to (needed for a session)")
	cmd.Flags().StringVar(&format, "format", "json", "`FORMAT`: json (a credflow.context/v1 document) or md (Markdown)")
	cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json", "md"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newSessionsImportCmd(f *Factory) *cobra.Command {
	var key string
	var replace bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Store a conversation from a credflow.context/v1 document ('-' reads standard input)",
		Long: `Store the conversation in a credflow.context/v1 document (what 'credflow
sessions export' writes) as a session, conversation or response, as the
document's kind says, under its id. It belongs to the virtual key given
with --key, else to the document's own key; the key must exist.
An existing one of the same kind, key and id is refused unless --replace.`,
		Example: `  credflow sessions import work.json
  credflow sessions import work.json --key agent --replace
  credflow sessions export work --key agent | credflow sessions import - --key other`,
		Args: exactArgs(1, "the document FILE ('-' for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			src := args[0]
			if src == "-" {
				data, err = io.ReadAll(f.IO.In)
				src = "standard input"
			} else if data, err = os.ReadFile(src); err != nil {
				return &exitError{code: ExitNotFound, err: fmt.Errorf("read the document: %w", err)}
			}
			if err != nil {
				return err
			}
			var d contextdoc.Document
			if err := json.Unmarshal(data, &d); err != nil {
				return &exitError{code: ExitUsage, noHint: true, err: fmt.Errorf("%s is not a credflow.context/v1 document: %v", src, err)}
			}
			if err := d.Validate(); err != nil {
				return &exitError{code: ExitUsage, noHint: true, err: fmt.Errorf("%s is not a valid credflow.context/v1 document: %v", src, err)}
			}
			owner := key
			if owner == "" {
				owner = d.Key
			}
			if owner == "" {
				return usageErrorf("the document names no virtual key: give the key it belongs to with --key NAME")
			}
			if err := keys.CheckName(owner); err != nil {
				return keysError(err)
			}
			var in *adminapi.SessionInfo
			if err := withSessions(cmd.Context(), f, true, func(m sessionManager) (err error) {
				in, err = m.Import(cmd.Context(), owner, &d, replace)
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "imported %s: %s, %s", infoWhat(in), plural(in.Items, "item"), plural(in.Turns, "turn"))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "give the conversation to virtual key `NAME` (default: the document's key)")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace an existing conversation of the same kind, key and id")
	return cmd
}

func newSessionsForkCmd(f *Factory) *cobra.Command {
	var sel selection
	var toKey string
	cmd := &cobra.Command{
		Use:   "fork NAME NEWNAME",
		Short: "Copy a stored conversation, its items and settings, to a new session",
		Long: `Copy a stored conversation to a new session NEWNAME, of the same virtual key
or of --to-key: its items, and for a session its profile, data, pinned
documents, time zone, policy and summary. The copy goes its own way: the
two do not share later turns. A response is copied with the responses it
continues (its whole history).`,
		Example: `  credflow sessions fork work work-experiment --key agent
  credflow sessions fork work work --key agent --to-key ci
  credflow sessions fork resp_68a1... from-codex --kind response`,
		Args: exactArgs(2, "the session's NAME and the NEWNAME of the copy"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, key, err := sel.resolve(args[0])
			if err != nil {
				return err
			}
			if err := session.CheckName(args[1]); err != nil {
				return sessionsError(err)
			}
			if toKey != "" {
				if err := keys.CheckName(toKey); err != nil {
					return keysError(err)
				}
			}
			var in *adminapi.SessionInfo
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				in, err = m.Fork(cmd.Context(), kind, key, args[0], adminapi.ForkSessionRequest{To: args[1], Key: toKey})
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "forked %s into %s: %s", what(kind, key, args[0]), infoWhat(in), plural(in.Items, "item"))
			return nil
		},
	}
	sel.add(cmd, "the virtual key `NAME` the session belongs to (needed for a session)")
	cmd.Flags().StringVar(&toKey, "to-key", "", "give the copy to virtual key `NAME` (default: the same key)")
	return cmd
}

func newSessionsRmCmd(f *Factory) *cobra.Command {
	var sel selection
	var yes bool
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a stored conversation and all its items",
		Long: `Delete a stored conversation and all its items. It asks first on a terminal;
elsewhere it needs --yes. Export it first if you may want it back.`,
		Example: `  credflow sessions rm work --key agent
  credflow sessions rm conv_68a1... --kind conversation --yes`,
		Args: exactArgs(1, "the session's NAME (or a conversation's or response's id)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, key, err := sel.resolve(args[0])
			if err != nil {
				return err
			}
			desc := what(kind, key, args[0])
			if !yes {
				// Say what is at stake, and fail on a missing one before asking.
				var d *contextdoc.Document
				err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
					d, err = m.Get(cmd.Context(), kind, key, args[0])
					return err
				})
				var ee *exitError
				switch {
				case err == nil:
					desc = fmt.Sprintf("%s and its %s", what(d.Kind, d.Key, d.ID), plural(len(d.Items), "item"))
				case errors.As(err, &ee) || exitCodeFor(err) != ExitError:
					return err // not found, a bad name, no vault
				}
				// Otherwise it cannot be read (damaged): it can still go.
				ok, err := f.IO.Confirm("Delete " + desc + "? Export it first if you may want it back.")
				if errors.Is(err, iostreams.ErrNoTTY) {
					return usageErrorf("refusing to delete %s without confirmation: no terminal to ask on; add --yes", desc)
				}
				if err != nil {
					return err
				}
				if !ok {
					info(f.IO.ErrOut, "nothing deleted")
					return &exitError{code: ExitError, silent: true}
				}
			}
			var in *adminapi.SessionInfo
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				in, err = m.Delete(cmd.Context(), kind, key, args[0])
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "deleted %s (%s)", infoWhat(in), plural(in.Items, "item"))
			return nil
		},
	}
	sel.add(cmd, "the virtual key `NAME` the session belongs to (needed for a session)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newSessionsPruneCmd(f *Factory) *cobra.Command {
	var olderThan string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete stored conversations past their retention, or not updated for --older-than",
		Long: `Delete every stored conversation (sessions, conversations and responses of
every key) not updated for --older-than, or, without it, past its key's
retention (context.retention, 90d by default, and context.key_retention).
The daemon applies the retention by itself once an hour; this runs it now.`,
		Example: `  credflow sessions prune
  credflow sessions prune --older-than 7d`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var age *time.Duration
			if olderThan != "" {
				d, err := config.ParseDuration(olderThan)
				if err != nil {
					return usageErrorf("--older-than: %v", err)
				}
				if d < time.Second {
					return usageErrorf("--older-than %s: give an age of at least a second, such as 30d", olderThan)
				}
				d = d.Truncate(time.Second) // the admin API counts whole seconds
				age = &d
			}
			var n int
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				n, err = m.Prune(cmd.Context(), age)
				return err
			}); err != nil {
				return err
			}
			rule := "past their retention"
			if age != nil {
				rule = "not updated for " + olderThan
			}
			info(f.IO.ErrOut, "deleted %s %s", plural(n, "stored conversation"), rule)
			return nil
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete those not updated for `AGE` (e.g. 30d, 12h; default: the configured retention)")
	return cmd
}

type sessionsSetOptions struct {
	Profile      []string
	UnsetProfile []string
	Data         []string
	UnsetData    []string
	PinFiles     []string
	Unpin        []string
	TimeZone     string
	Policy       string
}

func newSessionsSetCmd(f *Factory) *cobra.Command {
	var sel selection
	var o sessionsSetOptions
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Set a session's profile, data, pinned documents, time zone or fitting policy",
		Long: `Change what a session gives the model with every request:

  --profile KEY=VALUE    a fact about the user (name, language, preferences)
  --data KEY=JSON        session state, any JSON value (quote strings: 'plan="pro"')
  --pin-file PATH        a document always sent, never fitted away; named after
                         the file (pinning the same name again replaces it)
  --time-zone ZONE       an IANA zone (Europe/Paris): the model is told the date
                         and time there; '' removes it
  --policy POLICY        how a history longer than the model's window is cut:
                         window (keep the newest turns), summarize (replace the
                         oldest with a running summary), relevance (keep the
                         newest and the most related); 'default' goes back to
                         the configured one

--unset-profile, --unset-data and --unpin remove by name. Removals apply
first, then the rest; a name to remove that is not there changes nothing
and fails.`,
		Example: `  credflow sessions set work --key agent --profile name=Ana --profile lang=fr
  credflow sessions set work --key agent --data 'cart={"items":2}' --unset-data draft
  credflow sessions set work --key agent --pin-file STYLE.md --time-zone Europe/Paris
  credflow sessions set work --key agent --policy summarize`,
		Args: exactArgs(1, "the session's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, key, err := sel.resolve(args[0])
			if err != nil {
				return err
			}
			req, changes, err := o.request(cmd)
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				return usageErrorf("nothing to set: give --profile, --unset-profile, --data, --unset-data, --pin-file, --unpin, --time-zone or --policy")
			}
			var in *adminapi.SessionInfo
			if err := withSessions(cmd.Context(), f, false, func(m sessionManager) (err error) {
				in, err = m.Update(cmd.Context(), kind, key, args[0], req)
				return err
			}); err != nil {
				return err
			}
			info(f.IO.ErrOut, "updated %s: %s", infoWhat(in), strings.Join(changes, "; "))
			return nil
		},
	}
	// Only sessions have settings: no --kind.
	sel.kind, sel.sessionOnly = string(session.KindSession), true
	cmd.Flags().StringVar(&sel.key, "key", "", "the virtual key `NAME` the session belongs to (needed)")
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Profile, "profile", nil, "set profile entry `KEY=VALUE` (repeat)")
	fl.StringArrayVar(&o.UnsetProfile, "unset-profile", nil, "remove profile entry `KEY` (repeat)")
	fl.StringArrayVar(&o.Data, "data", nil, "set data `KEY=JSON` (repeat)")
	fl.StringArrayVar(&o.UnsetData, "unset-data", nil, "remove data `KEY` (repeat)")
	fl.StringArrayVar(&o.PinFiles, "pin-file", nil, "pin the text file `PATH` as a document named after it (repeat)")
	fl.StringArrayVar(&o.Unpin, "unpin", nil, "unpin the document `NAME` (repeat)")
	fl.StringVar(&o.TimeZone, "time-zone", "", "tell the model the date and time in `ZONE` (IANA, e.g. Europe/Paris; '' removes it)")
	fl.StringVar(&o.Policy, "policy", "", "fit the history by `POLICY`: window, summarize, relevance, or default")
	cmd.RegisterFlagCompletionFunc("policy", cobra.FixedCompletions([]string{"window", "summarize", "relevance", "default"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// request builds the change and a description of it for the message.
func (o *sessionsSetOptions) request(cmd *cobra.Command) (adminapi.UpdateSessionRequest, []string, error) {
	var r adminapi.UpdateSessionRequest
	var changes []string
	for _, kv := range o.Profile {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return r, nil, usageErrorf("--profile %q: write KEY=VALUE", kv)
		}
		if r.SetProfile == nil {
			r.SetProfile = map[string]string{}
		}
		r.SetProfile[k] = v
		changes = append(changes, "profile "+k+" set")
	}
	for _, k := range o.UnsetProfile {
		r.UnsetProfile = append(r.UnsetProfile, k)
		changes = append(changes, "profile "+k+" removed")
	}
	for _, kv := range o.Data {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return r, nil, usageErrorf("--data %q: write KEY=JSON", kv)
		}
		if !json.Valid([]byte(v)) {
			return r, nil, usageErrorf("--data %s: %q is not JSON; quote a string: --data '%s=\"%s\"'", k, v, k, v)
		}
		if r.SetData == nil {
			r.SetData = map[string]json.RawMessage{}
		}
		r.SetData[k] = json.RawMessage(v)
		changes = append(changes, "data "+k+" set")
	}
	for _, k := range o.UnsetData {
		r.UnsetData = append(r.UnsetData, k)
		changes = append(changes, "data "+k+" removed")
	}
	for _, p := range o.PinFiles {
		text, err := os.ReadFile(p)
		if err != nil {
			return r, nil, &exitError{code: ExitNotFound, err: fmt.Errorf("--pin-file: %w", err)}
		}
		if !utf8.Valid(text) || slices.Contains(text, 0) {
			return r, nil, usageErrorf("--pin-file %s: not a text file (UTF-8); pin documents the model can read as text", p)
		}
		name := filepath.Base(p)
		r.Pin = append(r.Pin, contextdoc.PinnedDocument{Name: name, Text: string(text)})
		changes = append(changes, fmt.Sprintf("document %s pinned (%d bytes)", name, len(text)))
	}
	for _, n := range o.Unpin {
		r.Unpin = append(r.Unpin, n)
		changes = append(changes, "document "+n+" unpinned")
	}
	if cmd.Flags().Changed("time-zone") {
		tz := o.TimeZone
		r.TimeZone = &tz
		if tz == "" {
			changes = append(changes, "time zone removed")
		} else {
			changes = append(changes, "time zone "+tz)
		}
	}
	if cmd.Flags().Changed("policy") {
		p := o.Policy
		switch p {
		case "default":
			p = ""
			changes = append(changes, "policy back to the configured default")
		case string(session.PolicyWindow), string(session.PolicySummarize), string(session.PolicyRelevance):
			changes = append(changes, "policy "+p)
		default:
			return r, nil, usageErrorf("--policy %q: use window, summarize, relevance, or default", o.Policy)
		}
		r.Policy = &p
	}
	return r, changes, nil
}
