package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/credflow/credflow/internal/jsonx"
	"github.com/credflow/credflow/pkg/contextdoc"
	"github.com/credflow/credflow/pkg/llmapi"
)

// toTarget names the API a Responses request is translated to in
// errors: Chat Completions or Messages, whichever the model's provider
// speaks.
const toTarget = "model's provider's"

// responsesFields are the top-level fields of a Responses request credflow
// translates, drops as hints, or refuses by value.
var responsesFields = map[string]bool{
	"model": true, "input": true, "instructions": true, "tools": true, "tool_choice": true,
	"parallel_tool_calls": true, "max_tool_calls": true, "max_output_tokens": true,
	"temperature": true, "top_p": true, "top_logprobs": true, "text": true, "reasoning": true,
	"stream": true, "stream_options": true, "store": true, "previous_response_id": true,
	"conversation": true, "include": true, "truncation": true, "metadata": true, "user": true,
	"safety_identifier": true, "prompt_cache_key": true, "prompt_cache_retention": true,
	"service_tier": true, "background": true, "prompt": true, "context_management": true,
	"client_metadata": true,
}

// ResponseMeta is what a Responses API response object echoes of its
// request, as the client sent it, and how the response is built.
type ResponseMeta struct {
	// ID is the response's id (resp_…); Model the name the client asked for.
	ID        string
	Model     string
	CreatedAt int64

	Instructions, Tools, ToolChoice, Text, Reasoning json.RawMessage
	Temperature, TopP                                *float64
	MaxOutputTokens, MaxToolCalls                    *int
	ParallelToolCalls                                bool
	PreviousResponseID, Conversation                 string
	Store                                            bool
	Truncation                                       string
	User                                             string
	Metadata                                         map[string]string
	// IncludeEncrypted: the client asked for reasoning items'
	// encrypted_content (include: ["reasoning.encrypted_content"]).
	IncludeEncrypted bool
	// Namespaces maps a function tool offered inside a namespace tool to
	// the namespace, which its calls name.
	Namespaces map[string]string
}

// ResponsesRequestToConv reads a Responses API request into the neutral
// form, with what its response must echo. opt.Model replaces the model;
// opt.Strict and opt.Dropped apply to the hint fields (see the package
// documentation). Fields no target can serve (built-in tools, stored
// prompts, background mode, unknown item types) are an *Error (400)
// naming them. previous_response_id and conversation are left to the
// caller: they need conversation state, which is the gateway's.
func ResponsesRequestToConv(body []byte, opt Options) (*Conv, *ResponseMeta, error) {
	meta := &ResponseMeta{ParallelToolCalls: true, Store: true, Truncation: "disabled", Metadata: map[string]string{}}
	var bad error
	err := jsonx.Fields(body, func(key string, raw []byte) bool {
		switch key {
		case "instructions":
			meta.Instructions = raw
		case "tools":
			meta.Tools = raw
		case "tool_choice":
			meta.ToolChoice = raw
		case "text":
			meta.Text = raw
		case "reasoning":
			meta.Reasoning = raw
		}
		if responsesFields[key] || isNull(raw) {
			return true
		}
		bad = untranslatable(key, toTarget, "credflow does not know this Responses API field, so it cannot tell whether dropping it would change the result")
		return false
	})
	if err != nil {
		return nil, nil, invalid("", "request body is not a JSON object: "+err.Error())
	}
	if bad != nil {
		return nil, nil, bad
	}
	var req llmapi.ResponsesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, decodeError(err)
	}
	c := &Conv{Model: req.Model, Stream: req.Stream, Temperature: req.Temperature, TopP: req.TopP,
		ParallelToolCalls: req.ParallelToolCalls, User: firstNonEmpty(req.SafetyIdentifier, req.User)}
	if opt.Model != "" {
		c.Model = opt.Model
	}
	if err := responsesSettings(&req, c, meta, &opt); err != nil {
		return nil, nil, err
	}
	if len(meta.Instructions) > 0 && !isNull(meta.Instructions) {
		if err := json.Unmarshal(meta.Instructions, &c.Instructions); err != nil {
			return nil, nil, invalid("instructions", "instructions must be a string")
		}
	}
	if req.Input.IsItems {
		for i := range req.Input.Items {
			if err := responsesItem(&req.Input.Items[i], fmt.Sprintf("input[%d]", i), c, &opt); err != nil {
				return nil, nil, err
			}
		}
	} else if req.Input.Text != "" {
		c.Items = append(c.Items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: contextdoc.RoleUser, Content: []contextdoc.Part{contextdoc.TextPart(req.Input.Text)}})
	}
	if err := responsesTools(&req, c, meta); err != nil {
		return nil, nil, err
	}
	return c, meta, nil
}

// responsesSettings reads the request's options: what maps, what is a
// hint, what no target offers.
func responsesSettings(req *llmapi.ResponsesRequest, c *Conv, meta *ResponseMeta, opt *Options) error {
	refuse := func(param, why string) error { return untranslatable(param, toTarget, why) }
	if req.MaxOutputTokens != nil {
		c.MaxOutputTokens = *req.MaxOutputTokens
	}
	meta.Temperature, meta.TopP, meta.MaxOutputTokens, meta.MaxToolCalls = req.Temperature, req.TopP, req.MaxOutputTokens, req.MaxToolCalls
	if req.ParallelToolCalls != nil {
		meta.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.Store != nil {
		meta.Store = *req.Store
	}
	meta.PreviousResponseID, meta.User = req.PreviousResponseID, firstNonEmpty(req.User, req.SafetyIdentifier)
	if req.Metadata != nil {
		meta.Metadata = req.Metadata
	}
	switch {
	case req.Background != nil && *req.Background:
		return refuse("background", "credflow answers in the foreground only; send the request without background")
	case !isNull(req.Prompt):
		return refuse("prompt", "stored prompts live at OpenAI; send the prompt's text as instructions and input")
	case req.MaxToolCalls != nil:
		return refuse("max_tool_calls", "other providers cannot cap the number of built-in tool calls")
	case req.TopLogprobs != nil && *req.TopLogprobs != 0:
		return refuse("top_logprobs", "token log probabilities are not translated")
	case req.ServiceTier != "" && req.ServiceTier != "auto" && req.ServiceTier != "default":
		return refuse("service_tier", fmt.Sprintf("other providers have no %q tier to ask for per request", req.ServiceTier))
	}
	for _, inc := range req.Include {
		if inc == "reasoning.encrypted_content" {
			meta.IncludeEncrypted = true
		} else if err := opt.drop("include", toTarget, fmt.Sprintf("%q is only produced by OpenAI's own tools", inc)); err != nil {
			return err
		}
	}
	// Hints: they change how a provider bills, caches or keeps the
	// request, never the answer.
	for _, h := range []struct {
		name string
		set  bool
		why  string
	}{
		{"metadata", len(req.Metadata) > 0, "only OpenAI keeps request metadata"},
		{"stream_options", !isNull(req.StreamOptions), "stream options only change OpenAI's stream framing"},
		{"prompt_cache_key", req.PromptCacheKey != "", "other providers cache prompts their own way"},
		{"prompt_cache_retention", req.PromptCacheRetention != "", "other providers cache prompts their own way"},
		{"service_tier", req.ServiceTier != "", "other providers choose their own tier"},
		{"context_management", !isNull(req.ContextManagement), "OpenAI's server-side compaction has no equivalent"},
		{"client_metadata", !isNull(req.ClientMetadata), "it describes the client to OpenAI"},
	} {
		if h.set {
			if err := opt.drop(h.name, toTarget, h.why); err != nil {
				return err
			}
		}
	}
	if t := req.Text; t != nil {
		if f := t.Format; f != nil {
			switch f.Type {
			case "", "text":
			case "json_schema":
				if isNull(f.Schema) {
					return invalid("text.format.schema", "text.format.schema is required for a json_schema format")
				}
				c.Format = &ConvFormat{Type: "json_schema", Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}
			case "json_object":
				c.Format = &ConvFormat{Type: "json_object"}
			default:
				return invalid("text.format.type", fmt.Sprintf("text.format: unknown type %q; use text, json_schema or json_object", f.Type))
			}
		}
		c.Verbosity = t.Verbosity
	}
	if r := req.Reasoning; r != nil {
		switch r.Effort {
		case "", "none", "minimal", "low", "medium", "high", "xhigh":
			c.Effort = r.Effort
		default:
			return invalid("reasoning.effort", fmt.Sprintf("reasoning.effort: unknown value %q; use none, minimal, low, medium, high or xhigh", r.Effort))
		}
	}
	return nil
}

// builtinTools name the Responses API's hosted tools, which run at
// OpenAI.
var builtinTools = map[string]string{
	"web_search": "web search", "web_search_preview": "web search", "file_search": "file search",
	"computer_use_preview": "computer use", "computer": "computer use", "code_interpreter": "the code interpreter",
	"image_generation": "image generation", "mcp": "remote MCP servers", "local_shell": "the local shell tool",
	"shell": "the shell tool", "custom": "custom (free-form) tools", "apply_patch": "the apply_patch tool",
	"tool_search": "tool search",
}

func responsesTools(req *llmapi.ResponsesRequest, c *Conv, meta *ResponseMeta) error {
	seen := map[string]bool{}
	add := func(t *llmapi.ResponsesTool, p, namespace string) error {
		if t.Name == "" {
			return invalid(p+".name", p+".name is required for a function tool")
		}
		if seen[t.Name] {
			return invalid(p+".name", fmt.Sprintf("%s: two tools are named %q; other providers have no namespaces to tell them apart", p, t.Name))
		}
		seen[t.Name] = true
		if namespace != "" {
			if meta.Namespaces == nil {
				meta.Namespaces = map[string]string{}
			}
			meta.Namespaces[t.Name] = namespace
		}
		c.Tools = append(c.Tools, ConvTool{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict})
		return nil
	}
	for j := range req.Tools {
		t := &req.Tools[j]
		p := fmt.Sprintf("tools[%d]", j)
		if t.Type == "namespace" {
			// A group of function tools: offered one by one, and their
			// calls given the namespace back.
			for k := range t.Tools {
				pp := fmt.Sprintf("%s.tools[%d]", p, k)
				if t.Tools[k].Type != "function" {
					return untranslatable(pp+".type", toTarget, fmt.Sprintf("only function tools translate, not %q", t.Tools[k].Type))
				}
				if err := add(&t.Tools[k], pp, t.Name); err != nil {
					return err
				}
			}
			continue
		}
		if t.Type != "function" {
			what := builtinTools[t.Type]
			if what == "" {
				what = fmt.Sprintf("the %q tool", t.Type)
			}
			hint := "offer it as a function tool instead"
			if t.Type == "web_search" {
				hint += ` (Codex CLI sends it unless ~/.codex/config.toml sets web_search = "disabled")`
			}
			return untranslatable(p+".type", toTarget, fmt.Sprintf("%s is a tool OpenAI runs itself (%q), which credflow cannot serve for this model; %s", what, t.Type, hint))
		}
		if err := add(t, p, ""); err != nil {
			return err
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Mode == "auto" || tc.Mode == "none" || tc.Mode == "required":
			c.ToolChoice = ConvToolChoice{Mode: tc.Mode}
		case tc.Mode != "":
			return invalid("tool_choice", fmt.Sprintf("tool_choice: unknown mode %q; use auto, none or required", tc.Mode))
		case tc.Type == "function" && tc.Name != "":
			c.ToolChoice = ConvToolChoice{Mode: "tool", Name: tc.Name}
		case tc.Type == "function":
			return invalid("tool_choice.name", "tool_choice.name is required with type function")
		default:
			return untranslatable("tool_choice.type", toTarget, fmt.Sprintf("tool choice %q needs OpenAI's own tools", tc.Type))
		}
	}
	return nil
}

// responsesItem reads one input item.
func responsesItem(it *llmapi.ResponsesItem, p string, c *Conv, opt *Options) error {
	switch it.Type {
	case "", "message":
		role := it.Role
		switch role {
		case "user", "system", "developer", "assistant":
		case "":
			return invalid(p+".role", p+".role is required: user, assistant, system or developer")
		default:
			return invalid(p+".role", fmt.Sprintf("%s.role: unknown role %q", p, role))
		}
		if it.Phase != "" {
			if err := opt.drop(p+".phase", toTarget, "the phase of an assistant message is OpenAI's own"); err != nil {
				return err
			}
		}
		if it.Content == nil {
			return invalid(p+".content", p+".content is required")
		}
		parts, err := responsesParts(it.Content, p+".content", role)
		if err != nil {
			return err
		}
		c.Items = append(c.Items, contextdoc.Item{Type: contextdoc.TypeMessage, Role: role, Content: parts})
	case "function_call":
		if it.CallID == "" || it.Name == "" {
			return invalid(p, p+" needs a call_id and a name")
		}
		if _, ok := argumentsObject(it.Arguments); !ok {
			return invalid(p+".arguments", p+".arguments must be a JSON object")
		}
		c.Items = append(c.Items, contextdoc.Item{Type: contextdoc.TypeFunctionCall, ID: it.ID, CallID: it.CallID, Name: it.Name, Arguments: it.Arguments})
	case "function_call_output":
		if it.CallID == "" {
			return invalid(p+".call_id", p+".call_id is required")
		}
		if it.Output == nil {
			return invalid(p+".output", p+".output is required")
		}
		parts, err := responsesParts(it.Output, p+".output", "tool")
		if err != nil {
			return err
		}
		c.Items = append(c.Items, contextdoc.Item{Type: contextdoc.TypeFunctionCallOutput, CallID: it.CallID, Content: parts})
	case "reasoning":
		r := contextdoc.Item{Type: contextdoc.TypeReasoning, ID: it.ID}
		for _, s := range it.Summary {
			if s.Text != "" {
				r.Content = append(r.Content, contextdoc.TextPart(s.Text))
			}
		}
		if r.Content == nil && it.Content != nil {
			for _, s := range it.Content.Parts {
				if s.Text != "" {
					r.Content = append(r.Content, contextdoc.TextPart(s.Text))
				}
			}
		}
		if it.EncryptedContent != nil {
			reasoningFromEncrypted(&r, *it.EncryptedContent)
		}
		c.Items = append(c.Items, r)
	case "item_reference":
		return invalid(p+".type", p+" refers to a stored item by id; credflow keeps no stored items for this model, so send the item itself")
	default:
		return untranslatable(p+".type", toTarget, fmt.Sprintf("a %q item belongs to a tool OpenAI runs itself", it.Type))
	}
	return nil
}

// responsesParts reads message or function output content.
func responsesParts(rc *llmapi.ResponsesContent, p, role string) ([]contextdoc.Part, error) {
	if !rc.IsParts() {
		return []contextdoc.Part{contextdoc.TextPart(rc.Text)}, nil
	}
	parts := make([]contextdoc.Part, 0, len(rc.Parts))
	for j := range rc.Parts {
		part := &rc.Parts[j]
		pp := fmt.Sprintf("%s[%d]", p, j)
		switch part.Type {
		case "input_text", "output_text", "text":
			parts = append(parts, contextdoc.TextPart(part.Text))
		case "refusal":
			parts = append(parts, contextdoc.Part{Type: contextdoc.PartRefusal, Text: part.Refusal})
		case "input_image":
			if role == "assistant" || role == "system" || role == "developer" {
				return nil, invalid(pp+".type", fmt.Sprintf("a %s message cannot hold an image", role))
			}
			if part.FileID != "" {
				return nil, untranslatable(pp+".file_id", toTarget, "OpenAI file ids mean nothing to other providers; send the image inline as a data: URL or as an http(s) URL")
			}
			img, err := imagePartFromURL(part.ImageURL, pp+".image_url")
			if err != nil {
				return nil, err
			}
			img.Detail = part.Detail
			parts = append(parts, img)
		case "input_file":
			if role == "assistant" || role == "system" || role == "developer" {
				return nil, invalid(pp+".type", fmt.Sprintf("a %s message cannot hold a file", role))
			}
			f, err := filePart(part, pp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, f)
		default:
			return nil, invalid(pp+".type", fmt.Sprintf("%s.type: unknown content part %q", pp, part.Type))
		}
	}
	return parts, nil
}

// imagePartFromURL reads an image given as a data: URL or an http(s) URL.
func imagePartFromURL(u, p string) (contextdoc.Part, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		mediaType, data, ok := parseDataURL(u)
		if !ok {
			return contextdoc.Part{}, invalid(p, p+" must be a base64 data: URL (data:image/png;base64,...) or an http(s) URL")
		}
		return contextdoc.Part{Type: contextdoc.PartImage, MediaType: mediaType, Data: data}, nil
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return contextdoc.Part{Type: contextdoc.PartImage, URL: u}, nil
	case u == "":
		return contextdoc.Part{}, invalid(p, p+" is required")
	}
	return contextdoc.Part{}, invalid(p, p+" must be a base64 data: URL or an http(s) URL")
}

// filePart reads an input_file: inline data (a data: URL, or bare base64
// taken as a PDF) or a URL; file ids are OpenAI's alone.
func filePart(part *llmapi.ResponsesPart, p string) (contextdoc.Part, error) {
	switch {
	case part.FileID != "":
		return contextdoc.Part{}, untranslatable(p+".file_id", toTarget, "OpenAI file ids mean nothing to other providers; send the file inline as file_data")
	case part.FileData != "":
		mediaType, data, ok := "application/pdf", part.FileData, true
		if strings.HasPrefix(part.FileData, "data:") {
			mediaType, data, ok = parseDataURL(part.FileData)
		}
		if !ok || data == "" {
			return contextdoc.Part{}, invalid(p+".file_data", p+".file_data must be base64 data or a base64 data: URL")
		}
		return contextdoc.Part{Type: contextdoc.PartFile, MediaType: mediaType, Data: data, Filename: part.Filename}, nil
	case part.FileURL != "":
		return contextdoc.Part{Type: contextdoc.PartFile, URL: part.FileURL, Filename: part.Filename}, nil
	}
	return contextdoc.Part{}, invalid(p, p+" needs file_data or file_url")
}
