package translate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// randomHistory makes a history of every kind of item the hand encoders
// take, with awkward text.
func randomHistory(r *rand.Rand, n int) []contextdoc.Item {
	texts := []string{"plain", "quote \" and \\ backslash", "new\nline\ttab", "<html>&amp;", "héllo 世界", "", "\u2028sep", "bad \xff utf8"}
	var items []contextdoc.Item
	call := 0
	for len(items) < n {
		t := func() string { return texts[r.IntN(len(texts))] }
		switch r.IntN(7) {
		case 0:
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: "user", Content: []contextdoc.Part{contextdoc.TextPart(t())}})
		case 1:
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: "user", Content: []contextdoc.Part{contextdoc.TextPart(t()), contextdoc.TextPart(t())}})
		case 2:
			parts := []contextdoc.Part{contextdoc.TextPart(t())}
			if r.IntN(3) == 0 {
				parts = append(parts, contextdoc.Part{Type: contextdoc.PartRefusal, Text: t()})
			}
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: "assistant", Content: parts})
		case 3:
			for k := 0; k <= r.IntN(3); k++ {
				call++
				items = append(items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, CallID: fmt.Sprintf("c%d", call), Name: "f", Arguments: `{"q":"` + "x" + `"}`})
			}
		case 4:
			items = append(items, contextdoc.Item{Type: contextdoc.TypeFunctionCallOutput, CallID: fmt.Sprintf("c%d", call), IsError: r.IntN(2) == 0,
				Content: []contextdoc.Part{contextdoc.TextPart(t())}})
		case 5:
			items = append(items, contextdoc.Item{Type: contextdoc.TypeReasoning, Origin: contextdoc.OriginAnthropic, Signature: "sig",
				Content: []contextdoc.Part{contextdoc.TextPart(t())}})
		case 6:
			items = append(items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: "user", Content: []contextdoc.Part{
				{Type: contextdoc.PartImage, MediaType: "image/png", Data: "aGk="}, contextdoc.TextPart(t())}})
		}
	}
	return items
}

// The hand encoders write what the encoding/json path writes, decoded.
func TestFastHistoryMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		items := randomHistory(r, 1+r.IntN(12))
		want, err := ItemsToChatMessages(items)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := AppendChatHistory(nil, items)
		if err != nil {
			t.Fatal(err)
		}
		got := []llmapi.ChatMessage{}
		if err := json.Unmarshal(append(append([]byte("["), fast...), ']'), &got); err != nil {
			t.Fatalf("chat: invalid JSON %s: %v", fast, err)
		}
		if a, b := normal(t, marshal(want)), string(marshal(got)); a != b {
			t.Fatalf("chat differs:\nreflect %s\nfast    %s", a, b)
		}
		wsys, wmsgs, err := ItemsToMessages(items)
		if err != nil {
			t.Fatal(err)
		}
		fastM, gsys, err := AppendMessagesHistory(nil, items)
		if err != nil {
			t.Fatal(err)
		}
		gmsgs := []llmapi.MessageParam{}
		if err := json.Unmarshal(append(append([]byte("["), fastM...), ']'), &gmsgs); err != nil {
			t.Fatalf("messages: invalid JSON %s: %v", fastM, err)
		}
		if a, b := normalM(t, marshal(wmsgs)), string(marshal(gmsgs)); a != b || len(wsys) != len(gsys) {
			t.Fatalf("messages differ:\nreflect %s\nfast    %s", a, b)
		}
	}
}

// normal re-reads encoded chat messages, as the fast path's are, so both
// sides compare after the same decoding (invalid UTF-8 becomes U+FFFD).
func normal(t *testing.T, b []byte) string {
	m := []llmapi.ChatMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		m = []llmapi.ChatMessage{}
	}
	return string(marshal(m))
}

func normalM(t *testing.T, b []byte) string {
	m := []llmapi.MessageParam{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		m = []llmapi.MessageParam{}
	}
	return string(marshal(m))
}
