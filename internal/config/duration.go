package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that also accepts days and weeks ("90d",
// "2w"), the units people use for rotation periods and retention.
type Duration time.Duration

// ParseDuration accepts Go durations plus a whole-number "d" or "w" suffix,
// alone or in front of a Go duration ("1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(rest, u.suffix); i > 0 {
			n, err := strconv.Atoi(rest[:i])
			if err != nil || n < 0 {
				return 0, fmt.Errorf("invalid duration %q: use forms like 90d, 2w, 12h or 30m", s)
			}
			total += time.Duration(n) * u.unit
			rest = rest[i+1:]
		}
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use forms like 90d, 2w, 12h or 30m", s)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return total, nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String renders whole days as "Nd" so messages read like the config.
func (d Duration) String() string {
	t := time.Duration(d)
	if t >= 24*time.Hour && t%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", t/(24*time.Hour))
	}
	return t.String()
}
