// Package translate converts between the OpenAI Chat Completions API and
// the Anthropic Messages API, in both directions: requests, non-streaming
// responses, streams (event by event, see StreamTranslator) and error
// bodies. It owns every decision about what maps to what; the wire types
// are in pkg/llmapi.
//
// # Nothing is dropped silently
//
// A request field that has no equivalent on the other side, and whose
// value would change the result, makes the translation fail with an
// *Error (status 400) naming the field and saying why. Neutral values are
// accepted: null, false, 0 penalties, n: 1 and the like. Unknown
// top-level fields are refused too, since they are most likely parameters
// the upstream would not honour. Unknown fields inside messages and
// blocks are ignored: they are response metadata that clients send back
// with their history (Anthropic's "caller", OpenAI's "annotations").
//
// Fields that are only hints, where the other side has nothing to carry
// them, are dropped, and their request paths appended to
// Options.Dropped (the gateway names them in the x-credflow-dropped
// response header and the request log; SummarizeDropped writes
// system[1].cache_control and system[2].cache_control as
// system[*].cache_control). With Options.Strict (a route's "translate:
// strict") each of them is refused like any other untranslatable field.
// They are, by request path:
//
//   - OpenAI → Anthropic: messages[i].content[j].image_url.detail (low or
//     high; auto is the default), prompt_cache_key,
//     prompt_cache_retention, metadata (only meaningful with store),
//     stream_options.include_obfuscation (include_usage is honoured: the
//     gateway writes the usage chunk itself), service_tier "auto" or
//     "default", verbosity "medium" (the default), and messages[i].name.
//     Anthropic has no participant names, and the name is not written
//     into the text: that would change the prompt, and the model would
//     imitate the prefix; a client that needs attribution puts it in the
//     content.
//   - Anthropic → OpenAI: cache_control wherever it is (system blocks,
//     message blocks, blocks inside tool_result, tools; OpenAI caches
//     prefixes by itself), context_management (its edits, such as Claude
//     Code's clear_thinking, trim the history on Anthropic's side; the
//     history goes as sent), tools[i].defer_loading (OpenAI chat has no
//     tool search, so the definition is sent up front), service_tier,
//     metadata members other than user_id, thinking.display (OpenAI chat
//     returns no reasoning text), and, for a model that does not reason
//     (Options.Reasoning false), thinking and output_config.effort.
//
// Thinking blocks in an assistant history are left out without a report:
// they are the model's earlier output, which OpenAI chat cannot take
// back, not something the client asked for.
//
// # OpenAI request → Anthropic request
//
//   - system and developer messages, wherever they appear, become the
//     top-level system (Anthropic has no system role), in order.
//   - Consecutive messages that end up with the same role are merged,
//     since Anthropic wants user and assistant to alternate; tool
//     messages become tool_result blocks of a user message, placed before
//     any other block of that message, as Anthropic requires.
//   - tools → name/description/input_schema (an absent schema becomes an
//     empty object schema); tool_choice auto/none/required/function →
//     auto/none/any/tool; parallel_tool_calls: false →
//     disable_parallel_tool_use.
//   - assistant tool_calls → tool_use blocks, the arguments string parsed
//     into the input object ("" becomes {}); a refusal becomes text.
//   - image_url: data: URLs → base64 sources, http(s) URLs → url sources.
//     file parts with inline PDF or plain-text data → document blocks.
//   - cache_control on content parts, an extension of OpenAI's format that
//     LiteLLM and OpenRouter clients send, is kept on the block it marks,
//     so those clients get Anthropic prompt caching.
//   - stop → stop_sequences; max_completion_tokens (else max_tokens, else
//     Options.DefaultMaxTokens, else 4096) → max_tokens; temperature
//     (Anthropic's range is 0–1, so above 1 is refused), top_p, stream;
//     safety_identifier (else user) → metadata.user_id.
//   - response_format json_schema → output_config.format (Anthropic
//     structured outputs, Claude 4.5 models and later); json_object has
//     no equivalent and is refused.
//   - reasoning_effort → output_config.effort (minimal → low; "none" is
//     the same as not setting it). Anthropic's effort shapes all output
//     tokens rather than turning thinking on: OpenAI chat has no way to
//     carry thinking blocks back into the next request, which Anthropic
//     requires once thinking is on in a tool loop.
//   - Refused (400): n > 1, logprobs, top_logprobs, logit_bias,
//     presence_penalty and frequency_penalty other than 0, seed,
//     temperature above 1, audio and the audio modality, input_audio
//     parts, assistant audio, file_id files and files other than PDF or
//     plain text, prediction, web_search_options, store: true,
//     service_tier other than auto/default, verbosity other than medium,
//     custom tools and tool calls, allowed_tools tool choices, the
//     deprecated functions/function_call and function role, the
//     json_object response format.
//
// # Anthropic request → OpenAI request
//
//   - system → a first system message (text blocks joined by a blank
//     line); a message with role "system" inside messages (not in the
//     Messages API, but Claude Code sends one for model names it does not
//     know) → a system message in place, its text blocks joined the same
//     way; each message's tool_result blocks → tool messages right
//     after the assistant turn (their text blocks joined the same way;
//     is_error results get an "Error: " prefix, since OpenAI has no such
//     flag), the rest of a user message → a user message; assistant text
//     → content, tool_use → tool_calls.
//   - images: base64 → data: URLs, url → URLs; PDF documents → file
//     parts; plain-text documents → text.
//   - stop_sequences → stop; max_tokens → max_completion_tokens (the name
//     reasoning models require), or max_tokens when Options.MaxTokensField
//     says so (most OpenAI-compatible servers); stream also sets
//     stream_options.include_usage, because message_delta needs usage.
//   - metadata.user_id → user.
//   - thinking enabled → reasoning_effort by budget (< 4096 low, < 16384
//     medium, else high); adaptive and disabled set nothing; an explicit
//     output_config.effort wins (max → xhigh). Only when the model reasons
//     (Options.Reasoning, from the model catalogue): models that do not
//     reason refuse reasoning_effort, so for them thinking and
//     output_config.effort are dropped hints (see above).
//   - output_config.format json_schema → response_format json_schema,
//     strict, named "response".
//   - Refused (400): top_k, server tools and their blocks
//     (server_tool_use, web search results, ...), search_result blocks,
//     images or documents inside tool_result (OpenAI tool messages carry
//     text only), Files API sources, url document sources, documents with
//     citations enabled, container, mcp_servers, inference_geo.
//
// # Responses and usage
//
// Ids are kept as the upstream sent them. The model reported is the one
// passed in (the name the client asked for), else the upstream's.
//
// Anthropic → OpenAI: text blocks are concatenated into content (null
// when the model only called tools); tool_use → tool_calls with the input
// re-serialized as the arguments string; thinking and redacted_thinking
// are dropped (OpenAI chat has no field for them). Usage: OpenAI's
// prompt_tokens includes cached tokens while Anthropic's input_tokens
// excludes cache reads and writes, so
//
//	prompt_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
//	prompt_tokens_details.cached_tokens = cache_read_input_tokens
//	prompt_tokens_details.cache_write_tokens = cache_creation_input_tokens
//	completion_tokens = output_tokens
//	total_tokens = prompt_tokens + completion_tokens
//
// OpenAI → Anthropic is the inverse: input_tokens = prompt_tokens −
// cached_tokens − cache_write_tokens. OpenAI does not say which stop
// sequence matched, so stop_sequence is always null.
package translate
