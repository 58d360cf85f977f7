package translate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/pkg/llmapi"
)

// DefaultMaxTokens is the max_tokens written into an Anthropic request
// (which requires one) when the OpenAI client set none and
// Options.DefaultMaxTokens is 0.
const DefaultMaxTokens = 4096

// Options configure a request translation.
type Options struct {
	// Model is the upstream model name to write into the request; empty
	// keeps the client's.
	Model string
	// DefaultMaxTokens is the Anthropic max_tokens for an OpenAI request
	// that sets neither max_completion_tokens nor max_tokens; 0 means
	// DefaultMaxTokens (4096). Unused towards OpenAI, where the limit is
	// optional.
	DefaultMaxTokens int
	// MaxTokensField names the output cap in a request written for an
	// OpenAI-format upstream: "max_tokens", or "max_completion_tokens"
	// (also for ""; what OpenAI's reasoning models require).
	MaxTokensField string
	// Strict refuses every field that cannot be translated, the hints
	// that are otherwise dropped included (a route's "translate: strict").
	Strict bool
	// Reasoning says the target model reasons (the model catalogue's
	// word): reasoning settings are translated only then, since models
	// that do not reason refuse them.
	Reasoning bool
	// Dropped, when set, receives the request paths of the hint fields
	// the translation left out, for the x-credflow-dropped header and the
	// request log.
	Dropped *[]string
}

// drop records a hint left out, or refuses it under Strict.
func (o *Options) drop(path, to, why string) error {
	if o.Strict {
		return untranslatable(path, to, why+" (this route translates strictly: remove the field, or drop \"translate: strict\" from the route)")
	}
	if o.Dropped != nil {
		*o.Dropped = append(*o.Dropped, path)
	}
	return nil
}

const (
	toAnthropic = "Anthropic Messages"
	toOpenAI    = "OpenAI Chat Completions"
)

// openAIRequestFields are the top-level fields of a chat completion
// request that credflow knows; the unsupported ones are checked by value.
var openAIRequestFields = map[string]bool{
	"model": true, "messages": true, "max_completion_tokens": true, "max_tokens": true,
	"temperature": true, "top_p": true, "stop": true, "n": true, "stream": true,
	"stream_options": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"response_format": true, "reasoning_effort": true, "verbosity": true, "user": true,
	"safety_identifier": true, "prompt_cache_key": true, "prompt_cache_retention": true,
	"metadata": true, "store": true, "service_tier": true, "seed": true,
	"frequency_penalty": true, "presence_penalty": true, "logit_bias": true, "logprobs": true,
	"top_logprobs": true, "modalities": true, "audio": true, "prediction": true,
	"web_search_options": true, "functions": true, "function_call": true,
}

// OpenAIRequestToAnthropic translates a chat completion request body into
// a Messages API request body. A field Anthropic cannot express returns an
// *Error with status 400 that names it; see the package documentation for
// every mapping.
func OpenAIRequestToAnthropic(body []byte, opt Options) ([]byte, error) {
	if err := checkFields(body, openAIRequestFields, nil, toAnthropic); err != nil {
		return nil, err
	}
	var req llmapi.ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, decodeError(err)
	}
	if err := refuseOpenAIOnly(&req); err != nil {
		return nil, err
	}
	if err := openAIHints(&req, &opt); err != nil {
		return nil, err
	}
	out := llmapi.MessagesRequest{Model: req.Model, Stream: req.Stream, TopP: req.TopP}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
	case opt.DefaultMaxTokens > 0:
		out.MaxTokens = opt.DefaultMaxTokens
	default:
		out.MaxTokens = DefaultMaxTokens
	}
	if t := req.Temperature; t != nil {
		if *t > 1 {
			return nil, untranslatable("temperature", toAnthropic, fmt.Sprintf("%g is above Anthropic's maximum of 1 (OpenAI's range is 0 to 2, and there is no exact conversion)", *t))
		}
		out.Temperature = t
	}
	if len(req.Stop) > 0 {
		out.StopSequences = req.Stop
	}
	if id := firstNonEmpty(req.SafetyIdentifier, req.User); id != "" {
		out.Metadata = &llmapi.MessagesMetadata{UserID: id}
	}

	b := anthropicBuilder{opt: &opt}
	for i := range req.Messages {
		if err := b.message(&req.Messages[i], fmt.Sprintf("messages[%d]", i)); err != nil {
			return nil, err
		}
	}
	switch {
	case len(b.system) == 1 && b.system[0].CacheControl == nil:
		out.System = &llmapi.MessageContent{Text: b.system[0].Text}
	case len(b.system) > 0:
		out.System = &llmapi.MessageContent{Blocks: b.system}
	}
	out.Messages = b.finish()

	if err := openAIToolsToAnthropic(&req, &out); err != nil {
		return nil, err
	}
	if err := openAIOutputToAnthropic(&req, &out); err != nil {
		return nil, err
	}
	return marshal(out), nil
}

// refuseOpenAIOnly rejects the fields with no Anthropic equivalent, unless
// their value is neutral.
func refuseOpenAIOnly(r *llmapi.ChatRequest) error {
	refuse := func(param, why string) error { return untranslatable(param, toAnthropic, why) }
	nonZero := func(f *float64) bool { return f != nil && *f != 0 }
	switch {
	case r.N != nil && *r.N != 1:
		return refuse("n", "Anthropic returns a single choice per request")
	case r.Logprobs != nil && *r.Logprobs:
		return refuse("logprobs", "Anthropic does not return token log probabilities")
	case r.TopLogprobs != nil && *r.TopLogprobs != 0:
		return refuse("top_logprobs", "Anthropic does not return token log probabilities")
	case !isNull(r.LogitBias) && !isEmptyObject(r.LogitBias):
		return refuse("logit_bias", "Anthropic has no token biasing")
	case nonZero(r.FrequencyPenalty):
		return refuse("frequency_penalty", "Anthropic has no repetition penalties")
	case nonZero(r.PresencePenalty):
		return refuse("presence_penalty", "Anthropic has no repetition penalties")
	case r.Seed != nil:
		return refuse("seed", "Anthropic has no seeded sampling")
	case !isNull(r.Audio):
		return refuse("audio", "Anthropic models do not generate audio")
	case !isNull(r.Prediction):
		return refuse("prediction", "Anthropic has no predicted outputs")
	case !isNull(r.WebSearchOptions):
		return refuse("web_search_options", "credflow does not map OpenAI's built-in web search to Anthropic's web search tool")
	case r.Store != nil && *r.Store:
		return refuse("store", "Anthropic does not store completions for later retrieval")
	case r.ServiceTier != "" && r.ServiceTier != "auto" && r.ServiceTier != "default":
		return refuse("service_tier", fmt.Sprintf("Anthropic has no %q tier to ask for per request", r.ServiceTier))
	case r.Verbosity != "" && r.Verbosity != "medium":
		return refuse("verbosity", "Anthropic has no verbosity setting")
	case !isNull(r.Functions):
		return refuse("functions", "the deprecated functions parameter is not translated; send tools")
	case !isNull(r.FunctionCall):
		return refuse("function_call", "the deprecated function_call parameter is not translated; send tool_choice")
	}
	for _, m := range r.Modalities {
		if m != "text" {
			return refuse("modalities", fmt.Sprintf("Anthropic models generate text only, not %q", m))
		}
	}
	return nil
}

// openAIHints drops the fields that only steer OpenAI's serving, not the
// answer, and that Anthropic has no place for. Values that are OpenAI's
// defaults are still named: the client set them, and a strict route
// refuses them.
func openAIHints(r *llmapi.ChatRequest, opt *Options) error {
	for _, h := range [...]struct {
		set        bool
		param, why string
	}{
		{r.PromptCacheKey != "", "prompt_cache_key", "Anthropic caches at cache_control breakpoints, not by key"},
		{r.PromptCacheRetention != "", "prompt_cache_retention", "Anthropic caches at cache_control breakpoints, for their own lifetime"},
		{len(r.Metadata) > 0, "metadata", "OpenAI's metadata only describes stored completions"},
		{r.StreamOptions != nil && r.StreamOptions.IncludeObfuscation != nil, "stream_options.include_obfuscation", "Anthropic streams carry no obfuscation padding"},
		{r.ServiceTier != "", "service_tier", "Anthropic picks its capacity tier itself"}, // auto and default only: refuseOpenAIOnly
		{r.Verbosity != "", "verbosity", "Anthropic has no verbosity setting (medium is OpenAI's default)"},
	} {
		if h.set {
			if err := opt.drop(h.param, toAnthropic, h.why); err != nil {
				return err
			}
		}
	}
	return nil
}

// anthropicBuilder collects system text and messages, merging consecutive
// messages of one role as Anthropic wants roles to alternate.
type anthropicBuilder struct {
	opt    *Options
	system []llmapi.ContentBlock
	msgs   []llmapi.MessageParam
}

func (b *anthropicBuilder) add(role string, blocks ...llmapi.ContentBlock) {
	if len(blocks) == 0 {
		return
	}
	n := len(b.msgs)
	if n == 0 || b.msgs[n-1].Role != role {
		b.msgs = append(b.msgs, llmapi.MessageParam{Role: role, Content: llmapi.MessageContent{Blocks: blocks}})
		return
	}
	last := &b.msgs[n-1].Content
	for _, bl := range blocks {
		if bl.Type != "tool_result" {
			last.Blocks = append(last.Blocks, bl)
			continue
		}
		// tool_result blocks must lead a user message.
		at := 0
		for at < len(last.Blocks) && last.Blocks[at].Type == "tool_result" {
			at++
		}
		last.Blocks = append(last.Blocks, llmapi.ContentBlock{})
		copy(last.Blocks[at+1:], last.Blocks[at:])
		last.Blocks[at] = bl
	}
}

// finish returns the messages, a lone text block written as plain string
// content.
func (b *anthropicBuilder) finish() []llmapi.MessageParam {
	if b.msgs == nil {
		return []llmapi.MessageParam{}
	}
	for i := range b.msgs {
		c := &b.msgs[i].Content
		if len(c.Blocks) == 1 && c.Blocks[0].Type == "text" && c.Blocks[0].Text != "" && c.Blocks[0].CacheControl == nil {
			*c = llmapi.MessageContent{Text: c.Blocks[0].Text}
		}
	}
	return b.msgs
}

func (b *anthropicBuilder) message(m *llmapi.ChatMessage, p string) error {
	if m.Name != "" {
		// Dropped rather than written into the text: that would change the
		// prompt, and the model would imitate the prefix in its answer.
		if err := b.opt.drop(p+".name", toAnthropic, "Anthropic messages have no participant names"); err != nil {
			return err
		}
	}
	switch m.Role {
	case "system", "developer":
		texts, err := textOnly(m.Content, p+".content", "a "+m.Role+" message")
		if err != nil {
			return err
		}
		b.system = append(b.system, texts...)
	case "user":
		blocks, err := userBlocks(m.Content, p+".content", b.opt)
		if err != nil {
			return err
		}
		b.add("user", blocks...)
	case "assistant":
		blocks, err := assistantBlocks(m, p)
		if err != nil {
			return err
		}
		b.add("assistant", blocks...)
	case "tool":
		if m.ToolCallID == "" {
			return invalid(p+".tool_call_id", p+".tool_call_id is required for a tool message")
		}
		texts, err := textOnly(m.Content, p+".content", "a tool message")
		if err != nil {
			return err
		}
		res := llmapi.ContentBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
		switch {
		case m.Content != nil && m.Content.IsParts() && len(texts) > 0:
			res.Content = &llmapi.MessageContent{Blocks: texts}
		case len(texts) == 1:
			res.Content = &llmapi.MessageContent{Text: texts[0].Text}
		}
		b.add("user", res)
	case "function":
		return untranslatable(p+".role", toAnthropic, "the deprecated function role is not translated; send tool messages")
	default:
		return invalid(p+".role", fmt.Sprintf("%s.role: unknown role %q", p, m.Role))
	}
	return nil
}

// textOnly returns the non-empty texts of content that may only hold
// text, as text blocks.
func textOnly(c *llmapi.ChatContent, p, what string) ([]llmapi.ContentBlock, error) {
	if c == nil {
		return nil, nil
	}
	if !c.IsParts() {
		if c.Text == "" {
			return nil, nil
		}
		return []llmapi.ContentBlock{{Type: "text", Text: c.Text}}, nil
	}
	var texts []llmapi.ContentBlock
	for j, part := range c.Parts {
		if part.Type != "text" {
			return nil, invalid(fmt.Sprintf("%s[%d].type", p, j), fmt.Sprintf("%s can only hold text parts, not %q", what, part.Type))
		}
		if part.Text != "" {
			texts = append(texts, llmapi.ContentBlock{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
		}
	}
	return texts, nil
}

func userBlocks(c *llmapi.ChatContent, p string, opt *Options) ([]llmapi.ContentBlock, error) {
	if c == nil {
		return nil, nil
	}
	if !c.IsParts() {
		if c.Text == "" {
			return nil, nil
		}
		return []llmapi.ContentBlock{{Type: "text", Text: c.Text}}, nil
	}
	blocks := make([]llmapi.ContentBlock, 0, len(c.Parts))
	for j, part := range c.Parts {
		pp := fmt.Sprintf("%s[%d]", p, j)
		switch part.Type {
		case "text":
			if part.Text != "" {
				blocks = append(blocks, llmapi.ContentBlock{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
			}
		case "image_url":
			if part.ImageURL == nil {
				return nil, invalid(pp+".image_url", pp+".image_url is required")
			}
			if d := part.ImageURL.Detail; d != "" && d != "auto" {
				if err := opt.drop(pp+".image_url.detail", toAnthropic, "Anthropic sizes images itself"); err != nil {
					return nil, err
				}
			}
			src, err := imageSource(part.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, llmapi.ContentBlock{Type: "image", Source: src, CacheControl: part.CacheControl})
		case "file":
			bl, err := fileBlock(part.File, pp+".file")
			if err != nil {
				return nil, err
			}
			bl.CacheControl = part.CacheControl
			blocks = append(blocks, bl)
		case "input_audio":
			return nil, untranslatable(pp, toAnthropic, "Anthropic models do not take audio input")
		default:
			return nil, invalid(pp+".type", fmt.Sprintf("a user message cannot hold a %q part", part.Type))
		}
	}
	return blocks, nil
}

// imageSource maps an image URL: data: URLs carry base64 data, http(s)
// URLs Anthropic fetches itself.
func imageSource(url, p string) (*llmapi.ContentSource, error) {
	if strings.HasPrefix(url, "data:") {
		mediaType, data, ok := parseDataURL(url)
		if !ok {
			return nil, invalid(p, p+" must be a base64 data: URL (data:image/png;base64,...) or an http(s) URL")
		}
		return &llmapi.ContentSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		return &llmapi.ContentSource{Type: "url", URL: url}, nil
	}
	return nil, invalid(p, p+" must be a base64 data: URL or an http(s) URL")
}

// parseDataURL splits "data:<media type>;base64,<data>".
func parseDataURL(u string) (mediaType, data string, ok bool) {
	meta, data, found := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !found {
		return "", "", false
	}
	meta, isB64 := strings.CutSuffix(meta, ";base64")
	if !isB64 {
		return "", "", false
	}
	mediaType, _, _ = strings.Cut(meta, ";") // drop parameters such as charset
	return mediaType, data, true
}

// fileBlock maps an inline file to a document: Anthropic documents are
// PDF (base64) or plain text.
func fileBlock(f *llmapi.ChatFile, p string) (llmapi.ContentBlock, error) {
	if f == nil {
		return llmapi.ContentBlock{}, invalid(p, p+" is required")
	}
	if f.FileID != "" {
		return llmapi.ContentBlock{}, untranslatable(p+".file_id", toAnthropic, "OpenAI file ids mean nothing to Anthropic; send the file inline as file_data")
	}
	mediaType, data, ok := "application/pdf", f.FileData, true
	if strings.HasPrefix(f.FileData, "data:") {
		mediaType, data, ok = parseDataURL(f.FileData)
	}
	if !ok || data == "" {
		return llmapi.ContentBlock{}, invalid(p+".file_data", p+".file_data must be base64 data or a base64 data: URL")
	}
	bl := llmapi.ContentBlock{Type: "document", Title: f.Filename}
	switch mediaType {
	case "application/pdf":
		bl.Source = &llmapi.ContentSource{Type: "base64", MediaType: mediaType, Data: data}
	case "text/plain":
		text, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return llmapi.ContentBlock{}, invalid(p+".file_data", p+".file_data is not valid base64")
		}
		bl.Source = &llmapi.ContentSource{Type: "text", MediaType: mediaType, Data: string(text)}
	default:
		return llmapi.ContentBlock{}, untranslatable(p+".file_data", toAnthropic, fmt.Sprintf("Anthropic documents are PDF or plain text, not %q", mediaType))
	}
	return bl, nil
}

func assistantBlocks(m *llmapi.ChatMessage, p string) ([]llmapi.ContentBlock, error) {
	if !isNull(m.Audio) {
		return nil, untranslatable(p+".audio", toAnthropic, "Anthropic cannot refer to an earlier OpenAI audio response")
	}
	if !isNull(m.FunctionCall) {
		return nil, untranslatable(p+".function_call", toAnthropic, "the deprecated function_call is not translated; send tool_calls")
	}
	var blocks []llmapi.ContentBlock
	text := func(s string) {
		if s != "" {
			blocks = append(blocks, llmapi.ContentBlock{Type: "text", Text: s})
		}
	}
	if c := m.Content; c != nil {
		if !c.IsParts() {
			text(c.Text)
		}
		for j, part := range c.Parts {
			switch part.Type {
			case "text":
				if part.Text != "" {
					blocks = append(blocks, llmapi.ContentBlock{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
				}
			case "refusal":
				text(part.Refusal)
			default:
				return nil, invalid(fmt.Sprintf("%s.content[%d].type", p, j), fmt.Sprintf("an assistant message cannot hold a %q part", part.Type))
			}
		}
	}
	if m.Refusal != nil {
		text(*m.Refusal)
	}
	for k, tc := range m.ToolCalls {
		pp := fmt.Sprintf("%s.tool_calls[%d]", p, k)
		if tc.Type != "" && tc.Type != "function" {
			return nil, untranslatable(pp+".type", toAnthropic, fmt.Sprintf("only function tool calls translate, not %q", tc.Type))
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(pp, pp+" needs an id and a function name")
		}
		input, ok := argumentsObject(tc.Function.Arguments)
		if !ok {
			return nil, invalid(pp+".function.arguments", pp+".function.arguments must be a JSON object")
		}
		blocks = append(blocks, llmapi.ContentBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

func openAIToolsToAnthropic(req *llmapi.ChatRequest, out *llmapi.MessagesRequest) error {
	for j, t := range req.Tools {
		p := fmt.Sprintf("tools[%d]", j)
		if t.Type != "function" {
			return untranslatable(p+".type", toAnthropic, fmt.Sprintf("only function tools translate, not %q", t.Type))
		}
		if t.Function == nil || t.Function.Name == "" {
			return invalid(p+".function", p+".function needs a name")
		}
		schema := t.Function.Parameters
		if isNull(schema) {
			schema = emptyObjectSchema
		}
		tool := llmapi.MessagesTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema}
		if s := t.Function.Strict; s != nil && *s {
			tool.Strict = s
		}
		out.Tools = append(out.Tools, tool)
	}

	var tc *llmapi.MessagesToolChoice
	if c := req.ToolChoice; c != nil {
		switch {
		case c.Mode == "auto":
			tc = &llmapi.MessagesToolChoice{Type: "auto"}
		case c.Mode == "none":
			tc = &llmapi.MessagesToolChoice{Type: "none"}
		case c.Mode == "required":
			tc = &llmapi.MessagesToolChoice{Type: "any"}
		case c.Mode != "":
			return invalid("tool_choice", fmt.Sprintf("tool_choice: unknown mode %q", c.Mode))
		case c.Type == "function" && c.Function != nil:
			tc = &llmapi.MessagesToolChoice{Type: "tool", Name: c.Function.Name}
		case c.Type == "allowed_tools":
			return untranslatable("tool_choice", toAnthropic, "Anthropic cannot limit a request to some of its tools; send only the allowed tools")
		default:
			return untranslatable("tool_choice", toAnthropic, fmt.Sprintf("tool choice type %q has no Anthropic equivalent", c.Type))
		}
	}
	if len(out.Tools) == 0 {
		// Only OpenAI's neutral choices can come without tools; Anthropic
		// would refuse them.
		if tc != nil && (tc.Type == "auto" || tc.Type == "none") {
			tc = nil
		}
	} else if p := req.ParallelToolCalls; p != nil && !*p {
		if tc == nil {
			tc = &llmapi.MessagesToolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	out.ToolChoice = tc
	return nil
}

func openAIOutputToAnthropic(req *llmapi.ChatRequest, out *llmapi.MessagesRequest) error {
	var oc llmapi.OutputConfig
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_schema":
			if rf.JSONSchema == nil || isNull(rf.JSONSchema.Schema) {
				return invalid("response_format.json_schema.schema", "response_format.json_schema.schema is required")
			}
			oc.Format = &llmapi.OutputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}
		case "json_object":
			return untranslatable("response_format", toAnthropic, "Anthropic has no schemaless JSON mode; send a json_schema response format")
		default:
			return invalid("response_format.type", fmt.Sprintf("response_format: unknown type %q", rf.Type))
		}
	}
	switch e := req.ReasoningEffort; e {
	case "", "none":
	case "minimal", "low":
		oc.Effort = "low"
	case "medium", "high", "xhigh":
		oc.Effort = e
	default:
		return invalid("reasoning_effort", fmt.Sprintf("reasoning_effort: unknown value %q", e))
	}
	if oc.Format != nil || oc.Effort != "" {
		out.OutputConfig = &oc
	}
	return nil
}

// checkFields refuses unknown top-level fields (null ones pass), and
// known ones in refused, whose value is the reason.
func checkFields(body []byte, known map[string]bool, refused map[string]string, to string) error {
	var bad error
	err := jsonx.Fields(body, func(key string, raw []byte) bool {
		if known[key] || isNull(raw) {
			return true
		}
		if why, ok := refused[key]; ok {
			bad = untranslatable(key, to, why)
		} else {
			bad = untranslatable(key, to, "credflow does not know this field, so it cannot tell whether dropping it would change the result")
		}
		return false
	})
	if err != nil {
		return invalid("", "request body is not a JSON object: "+err.Error())
	}
	return bad
}

// decodeError turns a JSON decoding error into a 400 naming the field.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalid(te.Field, fmt.Sprintf("%s: expected %s, got a JSON %s", te.Field, te.Type, te.Value))
	}
	return invalid("", "invalid request body: "+err.Error())
}

func isEmptyObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && len(m) == 0
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
