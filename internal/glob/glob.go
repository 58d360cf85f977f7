// Package glob owns the one pattern syntax credflow uses for model names,
// in routes and in virtual-key model limits: '*' matches any run of
// characters, '/' included, and '?' exactly one character.
package glob

// Match reports whether model matches pattern. '*' matches any run of
// characters, '/' included (so "openrouter/*" matches
// "openrouter/anthropic/claude-sonnet-4"); '?' matches exactly one
// character; every other character matches itself, case-sensitively. The
// whole model must match. It does not allocate.
func Match(pattern, model string) bool {
	// The iterative algorithm with one backtrack point: on a mismatch,
	// let the last '*' swallow one more character and retry.
	px, mx := 0, 0
	starPx, starMx := -1, 0
	for px < len(pattern) || mx < len(model) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starMx = px, mx+1
				px++
				continue
			case '?':
				if mx < len(model) {
					px++
					mx++
					continue
				}
			default:
				if mx < len(model) && model[mx] == c {
					px++
					mx++
					continue
				}
			}
		}
		if starPx >= 0 && starMx <= len(model) {
			px, mx = starPx+1, starMx
			starMx++
			continue
		}
		return false
	}
	return true
}
