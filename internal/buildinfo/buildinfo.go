// Package buildinfo holds the version, commit and date stamped into the
// binary by the linker (-X), with the module version as a fallback for
// 'go install' builds.
package buildinfo

import "runtime/debug"

// Set with -ldflags "-X github.com/credflow/credflow/internal/buildinfo.Version=...".
var (
	Version = "dev"
	Commit  = "none"
	Date    = "unknown"
)

// Info is the build description.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go"`
}

// Get returns the build description.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		i.GoVersion = bi.GoVersion
		if i.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
	}
	return i
}
