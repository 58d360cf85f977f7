// Package dotenv parses .env files the way docker compose, direnv and
// python-dotenv users write them, with line-precise errors.
package dotenv

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Entry is one KEY=VALUE line.
type Entry struct {
	Key   string
	Value string
	Line  int
}

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// Parse reads a .env file: KEY=VALUE lines, optional "export ", comments
// starting with #, blank lines, single quotes (literal), double quotes
// (with \n, \t, \" and \\ escapes) and unquoted values with trailing
// " # comments". name is used in error messages.
func Parse(r io.Reader, name string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	seen := map[string]int{}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE, found no '='", name, n)
		}
		key := strings.TrimSpace(line[:eq])
		if !keyRE.MatchString(key) {
			return nil, fmt.Errorf("%s:%d: %q is not a valid variable name (letters, digits and '_', not starting with a digit)", name, n, key)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s is already set on line %d; keep one of them", name, n, key, prev)
		}
		seen[key] = n
		val, err := value(strings.TrimSpace(line[eq+1:]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %v", name, n, key, err)
		}
		out = append(out, Entry{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return out, nil
}

func value(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch v[0] {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote (multi-line values are not supported)")
		}
		return v[1 : 1+end], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '"':
				return b.String(), nil
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated double quote (multi-line values are not supported)")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}
