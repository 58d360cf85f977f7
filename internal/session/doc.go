// Package session is credflow's context engine: the conversations the
// gateway keeps for its clients, and how they are fitted into a model's
// context window.
//
// It owns three kinds of thread, all of provider-neutral items
// (pkg/contextdoc), so any of them can be continued on any model:
//
//   - responses: OpenAI Responses API responses (their input and output),
//     chained by previous_response_id;
//   - conversations: OpenAI Conversations API conversations;
//   - sessions: named, per virtual key, for Chat Completions and Messages
//     clients (the X-Credflow-Session header), with a profile, session
//     data, pinned documents, an environment and a running summary.
//
// Storage is its own bbolt file, context.db in the data directory, which
// the daemon holds while it runs (other commands reach it through the
// admin API). Every record is sealed with XChaCha20-Poly1305 under a data
// key kept in credflow's vault, its place in the file as additional data,
// so the file alone reveals no prompt and a record cannot be moved to
// another thread or owner; session names are stored as keyed hashes. A
// thread belongs to one virtual key: another key's thread is "not found",
// like a missing one. Writes go through one writer that journals whatever
// is queued as one record (journal.go): a turn survives the process when
// Commit returns, and reaches the file, synced, within FlushInterval.
//
// The data key is the vault secret KeySecret (key.go: LoadKey reads it,
// making it only for a writer, so reading an empty vault leaves nothing
// behind). Manager (admin.go) is what people do with stored
// conversations: list, export and import credflow.context/v1 documents,
// change a session's settings, fork, delete and prune. The daemon serves
// it on its admin API (AdminRoutes); `credflow sessions` uses it on the
// file directly when no daemon runs.
//
// Fitting (fit.go) decides which whole turns of a history are sent to a
// model with a given context window, by policy: keep the newest (window),
// replace the oldest with a summary (summarize), or keep the most
// relevant to the current input (relevance). A tool call is never sent
// without its result.
package session
