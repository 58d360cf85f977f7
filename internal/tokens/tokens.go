// Package tokens owns token counting with tiktoken: which encoding a model
// family uses, and building each encoder once, lazily, from encodings
// compiled into the binary (tiktoken-go-loader), so nothing is downloaded
// at run time. Building an encoder takes ~0.3-0.8 s and ~25 MB, so it never
// happens until something actually needs a count.
package tokens

import (
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

func init() {
	// Encodings come from the binary, never from the network.
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
}

// Encoding names.
const (
	O200K  = tiktoken.MODEL_O200K_BASE
	CL100K = tiktoken.MODEL_CL100K_BASE
)

// EncodingFor returns the encoding for a model. tiktoken-go's own map stops
// at gpt-4.5, so newer OpenAI families (o-series, gpt-5, chatgpt-*) are
// mapped here; models of other families (Claude, Llama, Mistral...) have
// tokenizers of their own, and o200k_base is the documented estimate.
func EncodingFor(model string) string {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"), strings.HasPrefix(m, "gpt-4.5"),
		strings.HasPrefix(m, "gpt-5"), strings.HasPrefix(m, "chatgpt-"), strings.HasPrefix(m, "gpt-oss"),
		len(m) > 1 && m[0] == 'o' && m[1] >= '0' && m[1] <= '9':
		return O200K
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "text-embedding-"):
		return CL100K
	}
	return O200K
}

var (
	mu       sync.Mutex
	encoders = map[string]*lazy{}
)

type lazy struct {
	once sync.Once
	enc  *tiktoken.Tiktoken
	err  error
}

// Encoder returns the named encoder, building it on first use.
func Encoder(name string) (*tiktoken.Tiktoken, error) {
	mu.Lock()
	l, ok := encoders[name]
	if !ok {
		l = &lazy{}
		encoders[name] = l
	}
	mu.Unlock()
	l.once.Do(func() { l.enc, l.err = tiktoken.GetEncoding(name) })
	return l.enc, l.err
}

// Warm builds the named encoder in the background, so the first request
// that needs it does not pay for the build.
func Warm(name string) { go Encoder(name) }

// Count returns the number of tokens of text for model.
func Count(model, text string) int {
	enc, err := Encoder(EncodingFor(model))
	if err != nil {
		// Compiled-in encodings cannot fail to load; a rough estimate beats
		// failing a request over accounting.
		return (len(text) + 3) / 4
	}
	return len(enc.EncodeOrdinary(text))
}

// Split cuts text into token-sized pieces for model (used by the mock
// provider to stream one token per chunk).
func Split(model, text string) []string {
	enc, err := Encoder(EncodingFor(model))
	if err != nil {
		return []string{text}
	}
	ids := enc.EncodeOrdinary(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = enc.Decode([]int{id})
	}
	return out
}

// Message is one chat message for CountChat.
type Message struct {
	Role, Name, Content string
}

// CountChat counts a chat prompt the way OpenAI bills it: 3 tokens of
// framing per message, 1 more for a name, and 3 priming the reply (the
// formula OpenAI documents in its cookbook for gpt-3.5/4 and later models).
func CountChat(model string, msgs []Message) int {
	n := 3
	for _, m := range msgs {
		n += 3 + Count(model, m.Role) + Count(model, m.Content)
		if m.Name != "" {
			n += 1 + Count(model, m.Name)
		}
	}
	return n
}
