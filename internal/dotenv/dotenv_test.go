package dotenv_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/credflow/credflow/internal/dotenv"
)

func show(es []dotenv.Entry) string {
	if es == nil {
		return "nil"
	}
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%d:%q=%q", e.Line, e.Key, e.Value))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []dotenv.Entry
	}{
		{"plain", "FOO=bar\n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"no trailing newline", "FOO=bar", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"export", "export FOO=bar\n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"export with spaces", "  export   FOO = bar  \n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"spaces around =", "FOO = bar\n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"underscore dot digits", "_A.b_9=x\n", []dotenv.Entry{{"_A.b_9", "x", 1}}},
		{"single quotes are literal", `FOO='a # b $HOME \n "q"'`, []dotenv.Entry{{"FOO", `a # b $HOME \n "q"`, 1}}},
		{"single quotes keep spaces", `FOO='  padded  '`, []dotenv.Entry{{"FOO", "  padded  ", 1}}},
		{"empty single quotes", `FOO=''`, []dotenv.Entry{{"FOO", "", 1}}},
		{"double quote escapes", `FOO="a\nb\tc\"d\\e\rf"`, []dotenv.Entry{{"FOO", "a\nb\tc\"d\\e\rf", 1}}},
		{"double quotes other escape", `FOO="\$x\q"`, []dotenv.Entry{{"FOO", "$xq", 1}}},
		{"double quotes keep # and $", `FOO="a # b $HOME"`, []dotenv.Entry{{"FOO", "a # b $HOME", 1}}},
		{"double quotes keep spaces", `FOO="  x  "`, []dotenv.Entry{{"FOO", "  x  ", 1}}},
		{"empty double quotes", `FOO=""`, []dotenv.Entry{{"FOO", "", 1}}},
		{"unquoted comment", "FOO=bar # the bar\n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"unquoted comment, spaces before", "FOO=bar    # the bar\n", []dotenv.Entry{{"FOO", "bar", 1}}},
		{"unquoted # without space is data", "FOO=bar#baz\n", []dotenv.Entry{{"FOO", "bar#baz", 1}}},
		{"unquoted inner spaces", "FOO=a b  c\n", []dotenv.Entry{{"FOO", "a b  c", 1}}},
		{"= inside value", "URL=postgres://u:p@h/db?sslmode=require&x=1\n", []dotenv.Entry{{"URL", "postgres://u:p@h/db?sslmode=require&x=1", 1}}},
		{"= inside quoted value", `B64="YWJj=="`, []dotenv.Entry{{"B64", "YWJj==", 1}}},
		{"empty value", "FOO=\n", []dotenv.Entry{{"FOO", "", 1}}},
		{"CRLF", "A=1\r\nB='two'\r\nC=\"3\"\r\n", []dotenv.Entry{{"A", "1", 1}, {"B", "two", 2}, {"C", "3", 3}}},
		{"blank and comment lines count", "# header\n\n   \nA=1\n  # indented\n\tB=2\n", []dotenv.Entry{{"A", "1", 4}, {"B", "2", 6}}},
		{"comments only", "# a\n# b\n", nil},
		{"empty input", "", nil},
		{"order kept", "Z=1\nA=2\nM=3\n", []dotenv.Entry{{"Z", "1", 1}, {"A", "2", 2}, {"M", "3", 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dotenv.Parse(strings.NewReader(tt.in), ".env")
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tt.in, show(got), show(tt.want))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings; the first is the name:line: prefix
	}{
		{"no =", "A=1\n\nJUSTAWORD\n", []string{"app.env:3: ", "no '='"}},
		{"export without =", "export FOO\n", []string{"app.env:1: ", "no '='"}},
		{"key starts with digit", "# c\n1FOO=x\n", []string{"app.env:2: ", `"1FOO" is not a valid variable name`}},
		{"key with dash", "MY-KEY=x\n", []string{"app.env:1: ", `"MY-KEY" is not a valid variable name`}},
		{"empty key", "=x\n", []string{"app.env:1: ", `"" is not a valid variable name`}},
		{"key with space", "MY KEY=x\n", []string{"app.env:1: ", `"MY KEY" is not a valid variable name`}},
		{"duplicate key", "A=1\nB=2\n\nA=3\n", []string{"app.env:4: ", "A is already set on line 1"}},
		{"duplicate via export", "export A=1\nA=2\n", []string{"app.env:2: ", "A is already set on line 1"}},
		{"unterminated single quote", "A=1\nB='abc\n", []string{"app.env:2: ", "B: ", "unterminated single quote"}},
		{"unterminated double quote", "B=\"abc\n", []string{"app.env:1: ", "B: ", "unterminated double quote"}},
		{"escaped closing quote", `B="abc\"`, []string{"app.env:1: ", "unterminated double quote"}},
		{"trailing backslash", `B="abc\`, []string{"app.env:1: ", "unterminated double quote"}},
		{"multi-line value", "B=\"line1\nline2\"\n", []string{"app.env:1: ", "unterminated double quote"}},
		{"line too long", "A=1\nB=" + strings.Repeat("x", 1<<20+10) + "\n", []string{"app.env:2: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dotenv.Parse(strings.NewReader(tt.in), "app.env")
			if err == nil {
				t.Fatalf("Parse succeeded with %s; want an error", show(got))
			}
			if got != nil {
				t.Errorf("Parse returned entries %s along with an error", show(got))
			}
			if !strings.HasPrefix(err.Error(), tt.want[0]) {
				t.Errorf("error %q; want prefix %q", err, tt.want[0])
			}
			for _, w := range tt.want[1:] {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

var validKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// quote writes v so that Parse reads it back unchanged.
func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FOO=bar\n",
		"export FOO='a # $b'\nBAR=\"x\\ny\\t\\\"z\\\\\"\n",
		"A=1 # c\r\nB=\r\n# c\n\n",
		"URL=a=b=c\n",
		"A=1\nA=2\n",
		"A='x\nB=\"y\\",
		"1A=x\n",
		"export\n",
		"=\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := dotenv.Parse(strings.NewReader(in), "fuzz.env")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.env:") {
				t.Errorf("error %q lacks the name:line: prefix", err)
			}
			if entries != nil {
				t.Errorf("entries %s returned along with error %v", show(entries), err)
			}
			return
		}
		seen := map[string]bool{}
		lastLine := 0
		var b strings.Builder
		for _, e := range entries {
			if !validKey.MatchString(e.Key) {
				t.Errorf("entry with invalid key %q", e.Key)
			}
			if seen[e.Key] {
				t.Errorf("key %q returned twice", e.Key)
			}
			seen[e.Key] = true
			if e.Line <= lastLine {
				t.Errorf("line %d after line %d", e.Line, lastLine)
			}
			lastLine = e.Line
			fmt.Fprintf(&b, "%s=%s\n", e.Key, quote(e.Value))
		}
		// What Parse returned, written back double-quoted, parses the same.
		again, err := dotenv.Parse(strings.NewReader(b.String()), "again.env")
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("re-parse gave %d entries; want %d", len(again), len(entries))
		}
		for i := range again {
			if again[i].Key != entries[i].Key || again[i].Value != entries[i].Value {
				t.Errorf("re-parse entry %d = %q=%q; want %q=%q", i, again[i].Key, again[i].Value, entries[i].Key, entries[i].Value)
			}
		}
	})
}
