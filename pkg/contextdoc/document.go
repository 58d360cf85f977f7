package contextdoc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version names this format; a document of another version is refused.
const Version = "credflow.context/v1"

// Kinds of conversation a document holds.
const (
	// KindSession is a named session of a Chat Completions or Messages
	// client (the X-Credflow-Session header).
	KindSession = "session"
	// KindConversation is a Conversations API conversation.
	KindConversation = "conversation"
	// KindResponse is one stored Responses API response: its input and
	// output, chained to earlier ones by Previous.
	KindResponse = "response"
)

// Document is one conversation with everything credflow keeps for it:
// its history, the user's profile, session data, pinned documents, and
// the environment to tell the model about. It is what `credflow sessions
// export` writes and `import` reads; schema.json describes it.
type Document struct {
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// ID is the session's name, or the conversation's or response's id.
	ID string `json:"id"`
	// Key is the virtual key the conversation belongs to.
	Key     string    `json:"key,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Model is the model that answered last.
	Model string `json:"model,omitempty"`
	// Policy is how the history is fitted into a model's context window:
	// window, summarize or relevance.
	Policy string `json:"policy,omitempty"`

	// Profile holds facts about the user (preferences, name, …) that are
	// given to the model with every request.
	Profile map[string]string `json:"profile,omitempty"`
	// Data is the session's state: any JSON values, given to the model
	// with every request.
	Data map[string]json.RawMessage `json:"data,omitempty"`
	// Documents are pinned: always sent, never fitted away.
	Documents []PinnedDocument `json:"documents,omitempty"`
	// Environment, when set, is described to the model at request time
	// (today's date and time in its time zone).
	Environment *Environment `json:"environment,omitempty"`
	// Metadata are a conversation's key/value pairs (Conversations API).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Previous is a response's previous_response_id.
	Previous string `json:"previous,omitempty"`
	// Summary compacts the oldest items (the summarize policy).
	Summary *Summary `json:"summary,omitempty"`

	Items []Item `json:"items"`
}

// PinnedDocument is a text always sent with the conversation.
type PinnedDocument struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Environment describes where the user is, for the model.
type Environment struct {
	// TimeZone is an IANA name ("Europe/Paris"); empty is UTC.
	TimeZone string `json:"time_zone,omitempty"`
}

// Summary is a running summary of the oldest items of a conversation.
type Summary struct {
	Text string `json:"text"`
	// Through is how many of the oldest items it covers.
	Through int       `json:"through"`
	Model   string    `json:"model,omitempty"`
	Tokens  int       `json:"tokens,omitempty"`
	Updated time.Time `json:"updated"`
}

// Validate checks a document read from outside: version, kind, item
// types and the fields each needs. Errors name the bad field's path.
func (d *Document) Validate() error {
	if d.Version != Version {
		return fmt.Errorf("version: %q is not %q", d.Version, Version)
	}
	switch d.Kind {
	case KindSession, KindConversation, KindResponse:
	default:
		return fmt.Errorf("kind: %q is not session, conversation or response", d.Kind)
	}
	if d.ID == "" {
		return errors.New("id: missing")
	}
	for i := range d.Items {
		if err := d.Items[i].Validate(); err != nil {
			return fmt.Errorf("items[%d].%w", i, err)
		}
	}
	if s := d.Summary; s != nil && (s.Through < 0 || s.Through > len(d.Items)) {
		return fmt.Errorf("summary.through: %d is not between 0 and the %d items", s.Through, len(d.Items))
	}
	return nil
}

// pathError is a field error whose message starts with its path.
type pathError struct{ path, msg string }

func (e *pathError) Error() string { return e.path + ": " + e.msg }

// Validate checks an item's type and the fields it needs.
func (it *Item) Validate() error {
	bad := func(path, msg string) error { return &pathError{path, msg} }
	switch it.Type {
	case TypeMessage:
		switch it.Role {
		case RoleSystem, RoleDeveloper, RoleUser, RoleAssistant:
		default:
			return bad("role", fmt.Sprintf("%q is not system, developer, user or assistant", it.Role))
		}
	case TypeFunctionCall:
		if it.CallID == "" || it.Name == "" {
			return bad("call_id", "a function_call needs a call_id and a name")
		}
		if it.Arguments != "" && !json.Valid([]byte(it.Arguments)) {
			return bad("arguments", "not JSON")
		}
	case TypeFunctionCallOutput:
		if it.CallID == "" {
			return bad("call_id", "missing")
		}
	case TypeReasoning:
	default:
		return bad("type", fmt.Sprintf("%q is not message, function_call, function_call_output or reasoning", it.Type))
	}
	for j, p := range it.Content {
		switch p.Type {
		case PartText, PartRefusal, PartImage, PartFile:
		default:
			return bad(fmt.Sprintf("content[%d].type", j), fmt.Sprintf("%q is not text, refusal, image or file", p.Type))
		}
	}
	return nil
}
