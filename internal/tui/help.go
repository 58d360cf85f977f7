package tui

import (
	"fmt"
	"strings"
)

// helpView lists the key bindings.
func helpView(keys keyMap, width int) string {
	var b strings.Builder
	b.WriteString(styles.title.Render("keys"))
	for _, k := range keys.all() {
		h := k.Help()
		b.WriteString(fmt.Sprintf("\n  %-7s %s", h.Key, h.Desc))
	}
	b.WriteString("\n\n  " + styles.faint.Render("COST ending in +? includes requests without a known price; ? is no known price."))
	b.WriteString("\n  " + styles.faint.Render("esc or ? closes this help."))
	return clip(b.String(), width)
}
