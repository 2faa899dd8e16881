package main

import "runtime/debug"

// version is set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise it comes from the module's
// build information.
var version string

// versionString returns the version of this binary: the -ldflags value,
// the module version of a `go install`ed build, "dev-<commit>" for a build
// from a checkout, or "dev".
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}
