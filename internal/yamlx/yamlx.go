// Package yamlx holds what credflow's YAML files (the config, templates)
// share: finding the line of a setting, so every problem names one.
package yamlx

import "go.yaml.in/yaml/v3"

// Line returns the line of the mapping key at path below n, or of the
// nearest ancestor that exists; n's own line when none does.
func Line(n *yaml.Node, path ...string) int {
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}
