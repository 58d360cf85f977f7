package tokens

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestEncodingFor(t *testing.T) {
	for model, want := range map[string]string{
		"gpt-4o": O200K, "gpt-4o-mini": O200K, "gpt-5": O200K, "o3-mini": O200K, "o1": O200K, "openai/gpt-4.1": O200K,
		"gpt-4": CL100K, "gpt-3.5-turbo": CL100K, "text-embedding-3-small": CL100K,
		"claude-sonnet-4-5": O200K, "llama3": O200K, "omni-x": O200K,
	} {
		if got := EncodingFor(model); got != want {
			t.Errorf("EncodingFor(%q) = %s, want %s", model, got, want)
		}
	}
}

// Known counts, checked against OpenAI's tiktoken for these encodings.
func TestCount(t *testing.T) {
	cases := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"gpt-4", "tiktoken is great!", 6},
		{"gpt-4o", "", 0},
	}
	for _, c := range cases {
		if got := Count(c.model, c.text); got != c.want {
			t.Errorf("Count(%q, %q) = %d, want %d", c.model, c.text, got, c.want)
		}
	}
	if got := strings.Join(Split("gpt-4", "tiktoken is great!"), "|"); got != "t|ik|token| is| great|!" {
		t.Errorf("Split = %q", got)
	}
}

// TestReferenceCounts checks counts against an independent implementation
// (js-tiktoken; testdata/tokens/README.md).
func TestReferenceCounts(t *testing.T) {
	data, err := os.ReadFile("../../testdata/tokens/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Encoding, Text string
			Tokens         int
		}
	}
	if err := json.Unmarshal(data, &ref); err != nil || len(ref.Cases) < 10 {
		t.Fatalf("reference file: %v", err)
	}
	for _, c := range ref.Cases {
		enc, err := Encoder(c.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(enc.EncodeOrdinary(c.Text)); got != c.Tokens {
			t.Errorf("%s %q: %d tokens, reference %d", c.Encoding, c.Text, got, c.Tokens)
		}
	}
}
