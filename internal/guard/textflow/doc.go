// Package textflow owns the mechanics of rewriting text inside what the
// gateway relays, for guardrails that mask or restore sensitive values:
//
//   - Strings and Rewrite visit, and replace, every string value of a JSON
//     body while keeping every other byte as it was, so that a request
//     whose strings need no change is relayed byte for byte.
//   - Restorer is a Transformer that puts originals back in place of
//     placeholders ("[EMAIL_1]" → "alice@example.com"), also when the text
//     arrives in pieces and a placeholder is split across them.
//   - Stream runs the text deltas of an SSE stream (Chat Completions,
//     Messages, Responses, legacy Completions) through one Transformer per
//     text slot, emitting held-back text before the event that closes the
//     slot and leaving every event it did not need to change untouched.
//
// Deciding what is sensitive, and the placeholder scheme, belong to the
// guardrails that use this package; textflow only moves text.
package textflow
