package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "a/b", true}, {"claude-*", "claude-3", true}, {"claude-*", "claud", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*-mini", "gpt-4o-mini", true}, {"*-mini", "gpt-4o", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"exact", "exact", true}, {"exact", "exactly", false},
	} {
		if got := Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
