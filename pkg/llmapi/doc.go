// Package llmapi is credflow's public model of the two LLM wire formats the
// gateway speaks: the OpenAI Chat Completions API (types prefixed Chat) and
// the Anthropic Messages API (types prefixed Messages, plus the content
// blocks they carry), together with the Server-Sent Events reader and writer
// that both APIs' streaming responses use.
//
// The types cover what credflow reads or writes when it translates between
// the two formats: requests, responses, stream chunks and events, usage and
// error bodies. They are not a full SDK: fields credflow has no use for are
// left out, and decoding a body into these types and encoding it again is
// not a byte-exact round trip. Fields whose JSON shape varies (string or
// array, string or object) have types with their own JSON methods; fields
// credflow only passes through or rejects are json.RawMessage.
//
// Optional scalar fields are pointers so that "absent" and "zero" stay
// distinct: a request with "temperature": 0 is not one without temperature.
package llmapi
