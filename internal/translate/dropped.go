package translate

import (
	"strconv"
	"strings"
)

// DroppedHeader is the response header that names the request fields a
// translation dropped (see SummarizeDropped).
const DroppedHeader = "X-Credflow-Dropped"

// maxDropped bounds the entries SummarizeDropped writes.
const maxDropped = 12

// SummarizeDropped writes the request paths in Options.Dropped for the
// x-credflow-dropped header and the request log: comma-separated, in the
// order they were dropped, each once. Paths that differ only in their
// array indexes are written once with [*] (system[1].cache_control and
// system[2].cache_control as system[*].cache_control), a path alone in
// its group as it is. After maxDropped entries the rest is counted
// ("and 3 more"), so the header stays short. "" when nothing was dropped.
func SummarizeDropped(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	type group struct {
		first string
		n     int
	}
	var order []string
	groups := map[string]*group{}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		k := anyIndex(p)
		g := groups[k]
		if g == nil {
			g = &group{first: p}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
	}
	out := make([]string, 0, min(len(order), maxDropped+1))
	for i, k := range order {
		if i == maxDropped {
			out = append(out, "and "+strconv.Itoa(len(order)-i)+" more")
			break
		}
		if g := groups[k]; g.n == 1 {
			out = append(out, g.first)
		} else {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// anyIndex replaces every [N] of a path with [*].
func anyIndex(p string) string {
	if !strings.Contains(p, "[") {
		return p
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '[')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], ']')
		if j < 0 {
			b.WriteString(p)
			return b.String()
		}
		b.WriteString(p[:i])
		if digits(p[i+1 : i+j]) {
			b.WriteString("[*]")
		} else {
			b.WriteString(p[i : i+j+1])
		}
		p = p[i+j+1:]
	}
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
