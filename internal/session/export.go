package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// Document returns a thread as a credflow.context/v1 document.
func Document(th *Thread, items []contextdoc.Item) *contextdoc.Document {
	d := &contextdoc.Document{
		Version: contextdoc.Version, Kind: string(th.Kind), ID: th.ID, Key: th.Owner,
		Created: th.Created, Updated: th.Updated, Model: th.Model, Policy: th.Policy,
		Profile: th.Profile, Data: th.Data, Documents: th.Documents, Environment: th.Environment,
		Metadata: th.Metadata, Previous: th.Previous, Summary: th.Summary,
		Items: append([]contextdoc.Item{}, items...),
	}
	if d.Items == nil {
		d.Items = []contextdoc.Item{}
	}
	return d
}

// Export returns one thread of owner as a document.
func (s *Store) Export(kind Kind, owner, id string) (*contextdoc.Document, error) {
	th, items, err := s.Get(kind, owner, id)
	if err != nil {
		return nil, err
	}
	return Document(th, items), nil
}

// Import stores a document as a thread of owner (the document's own key
// is ignored: importing gives it to owner), replacing a thread of the
// same kind and id when replace is set (ErrExists otherwise).
func (s *Store) Import(ctx context.Context, owner string, d *contextdoc.Document, replace bool) error {
	if err := d.Validate(); err != nil {
		return err
	}
	kind := Kind(d.Kind)
	return s.Commit(ctx, Change{Kind: kind, Owner: owner, ID: d.ID, Create: !replace, Replace: true,
		Append: d.Items, Update: func(th *Thread) {
			created := d.Created
			if created.IsZero() {
				created = s.now().UTC()
			}
			*th = Thread{Kind: kind, ID: d.ID, Owner: owner, Created: created, NextSeq: th.NextSeq,
				Model: d.Model, Policy: d.Policy, Profile: d.Profile, Data: d.Data, Documents: d.Documents,
				Environment: d.Environment, Metadata: d.Metadata, Previous: d.Previous, Summary: d.Summary}
			countTurns(th, d.Items)
		}})
}

// countTurns fills a thread's totals from items' recorded usage.
func countTurns(th *Thread, items []contextdoc.Item) {
	for _, it := range items {
		if u := it.Usage; u != nil {
			th.Turns++
			th.Input += u.InputTokens
			th.Output += u.OutputTokens
			if u.CostMicros != nil {
				th.Cost += *u.CostMicros
			}
		}
	}
}

// Markdown renders a document as a readable transcript, with each
// turn's tokens and cost.
func Markdown(d *contextdoc.Document) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", d.Kind, d.ID)
	if d.Key != "" {
		fmt.Fprintf(&b, "- key: %s\n", d.Key)
	}
	fmt.Fprintf(&b, "- created: %s, updated: %s\n", d.Created.UTC().Format(time.RFC3339), d.Updated.UTC().Format(time.RFC3339))
	if d.Model != "" {
		fmt.Fprintf(&b, "- model: %s\n", d.Model)
	}
	if d.Policy != "" {
		fmt.Fprintf(&b, "- policy: %s\n", d.Policy)
	}
	for k, v := range d.Profile {
		fmt.Fprintf(&b, "- profile %s: %s\n", k, v)
	}
	if s := d.Summary; s != nil {
		fmt.Fprintf(&b, "\n## Summary of the first %d items\n\n%s\n", s.Through, s.Text)
	}
	b.WriteString("\n")
	for _, it := range d.Items {
		b.WriteString(ItemMarkdown(&it))
	}
	return b.String()
}

// ItemMarkdown renders one item of a transcript.
func ItemMarkdown(it *contextdoc.Item) string {
	var b strings.Builder
	switch it.Type {
	case contextdoc.TypeMessage:
		fmt.Fprintf(&b, "**%s**", it.Role)
	case contextdoc.TypeFunctionCall:
		fmt.Fprintf(&b, "**tool call** `%s(%s)`", it.Name, it.Arguments)
	case contextdoc.TypeFunctionCallOutput:
		b.WriteString("**tool result**")
	case contextdoc.TypeReasoning:
		b.WriteString("**reasoning**")
	}
	if it.Model != "" {
		fmt.Fprintf(&b, " (%s)", it.Model)
	}
	if u := it.Usage; u != nil {
		fmt.Fprintf(&b, " — %d in, %d out", u.InputTokens, u.OutputTokens)
		if u.CostMicros != nil {
			fmt.Fprintf(&b, ", $%.6f", float64(*u.CostMicros)/1e6)
		}
	}
	b.WriteString("\n\n")
	for _, p := range it.Content {
		switch p.Type {
		case contextdoc.PartImage:
			b.WriteString("[image]\n\n")
		case contextdoc.PartFile:
			fmt.Fprintf(&b, "[file %s]\n\n", p.Filename)
		default:
			if p.Text != "" {
				b.WriteString(p.Text)
				b.WriteString("\n\n")
			}
		}
	}
	return b.String()
}
