package policy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"cel.dev/cel-go/cel"
)

// Error is one compile problem. Its text is
//
//	FILE:LINE:COL: policy "NAME": MESSAGE
//
// with FILE omitted when unknown, LINE:COL omitted when unknown (the message
// then starts with when:LINE:COL for a position inside the expression), and
// `policy #N` (1-based) in place of the name when the name is empty.
type Error struct {
	File      string
	Line, Col int    // in the file, 1-based; zero when unknown
	Rule      string // the policy's name, may be empty
	Index     int    // 1-based position of the policy in the list
	Msg       string
}

func (e *Error) Error() string {
	who := fmt.Sprintf("policy %q", e.Rule)
	if strings.TrimSpace(e.Rule) == "" {
		who = fmt.Sprintf("policy #%d", e.Index)
	}
	return posPrefix(e.File, e.Line, e.Col) + who + ": " + e.Msg
}

// Errors lists every problem found by Compile, one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// posPrefix renders "FILE:LINE:COL: ", dropping the parts that are unknown.
func posPrefix(file string, line, col int) string {
	var parts []string
	if file != "" {
		parts = append(parts, file)
	}
	if line > 0 {
		parts = append(parts, fmt.Sprint(line))
		if col > 0 {
			parts = append(parts, fmt.Sprint(col))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ":") + ": "
}

// posSuffix renders " at FILE:LINE:COL" for a reference to another place.
func posSuffix(file string, line, col int) string {
	p := strings.TrimSuffix(posPrefix(file, line, col), ": ")
	if p == "" {
		return ""
	}
	return " at " + p
}

// problem is a CEL error at a 1-based line and column of the expression.
type problem struct {
	line, col int
	msg       string
}

// celProblems turns CEL's errors into problems. Only the first syntax error
// is kept since ANTLR's later ones are mostly consequences of it, and type
// errors about an operand that already failed (!error!) are dropped.
func celProblems(expr string, errs []*cel.Error) []problem {
	var out []problem
	syntax := false
	for _, e := range errs {
		msg := e.Message
		if strings.HasPrefix(msg, "Syntax error: ") {
			if syntax {
				continue
			}
			syntax = true
		}
		if strings.Contains(msg, "!error!") && len(errs) > 1 {
			continue
		}
		line, col := e.Location.Line(), e.Location.Column()+1
		if line < 1 {
			line, col = 1, 1
		}
		out = append(out, problem{line, col, humanize(expr, line, col, msg)})
	}
	if len(out) == 0 && len(errs) > 0 {
		// Everything was filtered as a consequence; keep the first.
		e := errs[0]
		out = append(out, problem{max(e.Location.Line(), 1), e.Location.Column() + 1, humanize(expr, e.Location.Line(), e.Location.Column()+1, e.Message)})
	}
	return out
}

// anyOperand is ANTLR's way of saying "expecting an operand".
const anyOperand = "{'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"

// humanize rewrites CEL's parser jargon and adds a hint for common slips.
func humanize(expr string, line, col int, msg string) string {
	msg = strings.TrimSuffix(msg, " (in container '')")
	if rest, ok := strings.CutPrefix(msg, "Syntax error: "); ok {
		hint := ""
		switch {
		case strings.HasPrefix(rest, "token recognition error at: '="):
			rest, hint = "unexpected '='", "use == to compare"
		case strings.HasPrefix(rest, "token recognition error at: '\""),
			strings.HasPrefix(rest, "token recognition error at: '''"):
			rest = "unterminated string"
		case strings.HasPrefix(rest, "token recognition error at: '&"),
			strings.HasPrefix(rest, "token recognition error at: '|"):
			rest, hint = "unexpected '"+rest[len("token recognition error at: '"):][:1]+"'", "use && and || for and, or"
		case strings.HasPrefix(rest, "token recognition error at: "):
			rest = "unexpected " + strings.TrimPrefix(rest, "token recognition error at: ")
		case strings.HasPrefix(rest, "mismatched input 'and'"), strings.HasPrefix(rest, "mismatched input 'or'"),
			strings.HasPrefix(rest, "extraneous input 'and'"), strings.HasPrefix(rest, "extraneous input 'or'"):
			hint = "use && and || for and, or"
		}
		rest = strings.Replace(rest, "mismatched input ", "unexpected ", 1)
		rest = strings.Replace(rest, "extraneous input ", "unexpected ", 1)
		rest = strings.Replace(rest, " expecting ", ", expecting ", 1)
		rest = strings.ReplaceAll(rest, anyOperand, "an operand")
		rest = strings.ReplaceAll(rest, "'<EOF>'", "end of expression")
		rest = strings.ReplaceAll(rest, "<EOF>", "end of expression")
		msg = "syntax error: " + rest
		if hint != "" {
			msg += " (" + hint + ")"
		}
		return msg
	}
	if rest, ok := strings.CutPrefix(msg, "undeclared reference to '"); ok {
		name, suggestion, _ := strings.Cut(rest, "'")
		switch {
		case calledAt(expr, line, col):
			return fmt.Sprintf("unknown function '%s'", name)
		case headerDash(expr, line, col) != "":
			return fmt.Sprintf("unknown variable '%s' (a header name with '-' is written headers[%q])", name, headerDash(expr, line, col))
		case strings.Contains(suggestion, "did you mean"):
			return fmt.Sprintf("unknown variable '%s'%s", name, suggestion)
		}
		return fmt.Sprintf("unknown variable '%s' (variables: %s)", name, strings.Join(varNames[:], ", "))
	}
	// CEL names operators by their internal function names: '_==_' is '=='.
	return operatorName.ReplaceAllString(msg, "'$1'")
}

var operatorName = regexp.MustCompile(`'_([^'_]+)_'`)

// exprLine returns line (1-based) of expr as runes, or nil.
func exprLine(expr string, line int) []rune {
	lines := strings.Split(expr, "\n")
	if line < 1 || line > len(lines) {
		return nil
	}
	return []rune(lines[line-1])
}

func isIdentRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// headerDash returns the header name when the identifier at line:col is
// the tail of `headers.x-team`, which CEL reads as headers.x - team.
func headerDash(expr string, line, col int) string {
	rs := exprLine(expr, line)
	i := col - 1
	if i < 1 || i > len(rs) || rs[i-1] != '-' {
		return ""
	}
	start := i
	for start > 0 && (isIdentRune(rs[start-1]) || rs[start-1] == '-') {
		start--
	}
	if !strings.HasSuffix(string(rs[:start]), "headers.") {
		return ""
	}
	end := i
	for end < len(rs) && (isIdentRune(rs[end]) || rs[end] == '-') {
		end++
	}
	return string(rs[start:end])
}

// calledAt reports whether the identifier at line:col (1-based, in runes)
// of expr is followed by "(", i.e. names a function rather than a variable.
func calledAt(expr string, line, col int) bool {
	rs := exprLine(expr, line)
	i := col - 1
	if i < 0 || i > len(rs) {
		return false
	}
	for i < len(rs) && isIdentRune(rs[i]) {
		i++
	}
	for i < len(rs) && unicode.IsSpace(rs[i]) {
		i++
	}
	return i < len(rs) && rs[i] == '('
}
