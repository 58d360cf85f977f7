// Package detect owns finding sensitive values in text for guardrails: the
// built-in detectors (personal data such as emails, cards and IBANs;
// provider and cloud tokens; private keys; prompt-injection heuristics),
// user-defined regex and word-list detectors compiled into a Set, exact
// matching of the vault's secret values without holding them (Exact), and
// matching of credflow virtual keys (VirtualKeys).
//
// The gateway calls a scanner on every JSON string of a request, so speed
// is part of the contract: built-ins never run a regexp over the text.
// Tokens and numbers start at a word start, which one pass finds eight
// bytes at a time; a per-Set table of first-byte pairs ("sk", "AK", "gh",
// a digit, …) sends only plausible starts to hand-written verifiers
// (lengths, boundaries, checksums, entropy). Emails, PEM blocks, IPv6
// addresses and invisible Unicode are found from vectorized
// bytes.IndexByte/bytes.Index triggers ('@', "-----BEGIN", ':', UTF-8 lead
// bytes). A scan that finds nothing makes no allocation.
//
// Every Scanner reports hits in increasing Start order without overlaps, so
// a caller can mask them left to right. What to do with a hit (mask, block,
// log) and placeholder numbering belong to the guardrails that use this
// package; detect only finds.
package detect
