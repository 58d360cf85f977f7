package translate

import (
	"strings"

	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// The context engine splices a stored history into every request of a
// session, often hundreds of messages: these write them straight into a
// byte slice (text, tool calls, tool results and thinking by hand, the
// rare image or document through encoding/json), which costs a small
// fraction of reflection.

// AppendChatHistory appends items as chat messages, comma-separated (no
// brackets), to dst: what ItemsToChatMessages returns, encoded.
func AppendChatHistory(dst []byte, items []contextdoc.Item) ([]byte, error) {
	first := len(dst)
	sep := func() {
		if len(dst) > first {
			dst = append(dst, ',')
		}
	}
	for i := 0; i < len(items); i++ {
		it := &items[i]
		switch it.Type {
		case contextdoc.TypeMessage:
			if !textOnlyParts(it.Content) {
				msgs, err := ItemsToChatMessages(items[i : i+1])
				if err != nil {
					return nil, err
				}
				for _, m := range msgs {
					sep()
					dst = append(dst, marshal(m)...)
				}
				continue
			}
			sep()
			dst = append(dst, `{"role":`...)
			dst = appendJSONString(dst, it.Role)
			if it.Role != contextdoc.RoleAssistant {
				dst = append(dst, `,"content":`...)
				dst = appendChatTextContent(dst, it.Content)
				dst = append(dst, '}')
				continue
			}
			var text, refusal strings.Builder
			for _, p := range it.Content {
				if p.Type == contextdoc.PartRefusal {
					refusal.WriteString(p.Text)
				} else {
					text.WriteString(p.Text)
				}
			}
			if text.Len() > 0 || refusal.Len() == 0 {
				dst = append(dst, `,"content":`...)
				dst = appendJSONString(dst, text.String())
			}
			if refusal.Len() > 0 {
				dst = append(dst, `,"refusal":`...)
				dst = appendJSONString(dst, refusal.String())
			}
			// Function calls right after an assistant message are its.
			dst, i = appendToolCalls(dst, items, i+1)
			dst = append(dst, '}')
		case contextdoc.TypeFunctionCall:
			sep()
			dst = append(dst, `{"role":"assistant"`...)
			dst, i = appendToolCalls(dst, items, i)
			dst = append(dst, '}')
		case contextdoc.TypeFunctionCallOutput:
			if !textOnlyParts(it.Content) {
				if _, err := ItemsToChatMessages(items[i : i+1]); err != nil {
					return nil, err
				}
			}
			s := it.Text()
			if it.IsError {
				s = strings.TrimSpace("Error: " + s)
			}
			sep()
			dst = append(dst, `{"role":"tool","tool_call_id":`...)
			dst = appendJSONString(dst, it.CallID)
			dst = append(dst, `,"content":`...)
			dst = appendJSONString(dst, s)
			dst = append(dst, '}')
		}
		// Reasoning: Chat Completions cannot take it back.
	}
	return dst, nil
}

// appendToolCalls writes the function calls from items[i] on as a
// message's tool_calls (nothing when there are none) and returns the
// index of the last item written.
func appendToolCalls(dst []byte, items []contextdoc.Item, i int) ([]byte, int) {
	// Reasoning between them is left out, as ItemsToChatMessages does.
	j, calls := i, 0
	for j < len(items) && (items[j].Type == contextdoc.TypeFunctionCall || items[j].Type == contextdoc.TypeReasoning) {
		if items[j].Type == contextdoc.TypeFunctionCall {
			calls++
		}
		j++
	}
	if calls == 0 {
		return dst, i - 1
	}
	dst = append(dst, `,"tool_calls":[`...)
	n := 0
	for k := i; k < j; k++ {
		if items[k].Type != contextdoc.TypeFunctionCall {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"id":`...)
		dst = appendJSONString(dst, items[k].CallID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = appendJSONString(dst, items[k].Name)
		dst = append(dst, `,"arguments":`...)
		dst = appendJSONString(dst, items[k].Arguments)
		dst = append(dst, "}}"...)
	}
	return append(dst, ']'), j - 1
}

func textOnlyParts(parts []contextdoc.Part) bool {
	for _, p := range parts {
		if p.Type != contextdoc.PartText && p.Type != contextdoc.PartRefusal {
			return false
		}
	}
	return true
}

// appendChatTextContent writes text content: a string for one part, an
// array of text parts for several.
func appendChatTextContent(dst []byte, parts []contextdoc.Part) []byte {
	if len(parts) == 1 {
		return appendJSONString(dst, parts[0].Text)
	}
	if len(parts) == 0 {
		return append(dst, `""`...)
	}
	dst = append(dst, '[')
	for k, p := range parts {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = appendJSONString(dst, p.Text)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// AppendMessagesHistory appends items as Anthropic messages,
// comma-separated (no brackets), to dst, and returns the system text of
// the system and developer items among them: what ItemsToMessages
// returns, encoded.
func AppendMessagesHistory(dst []byte, items []contextdoc.Item) ([]byte, []string, error) {
	sys, msgs, err := ItemsToMessages(items)
	if err != nil {
		return nil, nil, err
	}
	for k := range msgs {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendMessageParam(dst, &msgs[k])
	}
	return dst, sys, nil
}

func appendMessageParam(dst []byte, m *llmapi.MessageParam) []byte {
	dst = append(dst, `{"role":`...)
	dst = appendJSONString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	if !m.Content.IsBlocks() {
		dst = appendJSONString(dst, m.Content.Text)
		return append(dst, '}')
	}
	dst = appendBlocks(dst, m.Content.Blocks)
	return append(dst, '}')
}

func appendBlocks(dst []byte, blocks []llmapi.ContentBlock) []byte {
	dst = append(dst, '[')
	for k := range blocks {
		if k > 0 {
			dst = append(dst, ',')
		}
		bl := &blocks[k]
		switch {
		case bl.Type == "text" && bl.CacheControl == nil && bl.Citations == nil:
			dst = append(dst, `{"type":"text","text":`...)
			dst = appendJSONString(dst, bl.Text)
			dst = append(dst, '}')
		case bl.Type == "tool_use" && bl.CacheControl == nil && bl.Caller == nil:
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = appendJSONString(dst, bl.ID)
			dst = append(dst, `,"name":`...)
			dst = appendJSONString(dst, bl.Name)
			dst = append(dst, `,"input":`...)
			if len(bl.Input) == 0 {
				dst = append(dst, "{}"...)
			} else {
				dst = append(dst, bl.Input...)
			}
			dst = append(dst, '}')
		case bl.Type == "tool_result" && bl.CacheControl == nil:
			dst = append(dst, `{"type":"tool_result","tool_use_id":`...)
			dst = appendJSONString(dst, bl.ToolUseID)
			if c := bl.Content; c != nil {
				dst = append(dst, `,"content":`...)
				if c.IsBlocks() {
					dst = appendBlocks(dst, c.Blocks)
				} else {
					dst = appendJSONString(dst, c.Text)
				}
			}
			if bl.IsError {
				dst = append(dst, `,"is_error":true`...)
			}
			dst = append(dst, '}')
		case bl.Type == "thinking":
			dst = append(dst, `{"type":"thinking","thinking":`...)
			dst = appendJSONString(dst, bl.Thinking)
			dst = append(dst, `,"signature":`...)
			dst = appendJSONString(dst, bl.Signature)
			dst = append(dst, '}')
		default:
			dst = append(dst, marshal(bl)...)
		}
	}
	return append(dst, ']')
}
