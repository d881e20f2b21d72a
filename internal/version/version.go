// Package version says which build of trustledger is running, from the
// module and VCS information Go records in every binary
// (runtime/debug.ReadBuildInfo).
package version

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Info is the running binary's module version ("(devel)" when built from
// a checkout), VCS revision (with "+dirty" when the tree had changes) and
// Go version, read once (every audit event carries the version).
func Info() (version, revision, goVersion string) {
	b := build()
	return b[0], b[1], b[2]
}

var build = sync.OnceValue(func() [3]string {
	v, rev, gov := readInfo()
	return [3]string{v, rev, gov}
})

func readInfo() (version, revision, goVersion string) {
	version, revision, goVersion = "(devel)", "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision, goVersion
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	goVersion = bi.GoVersion
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "unknown" {
		revision += "+dirty"
	}
	return version, revision, goVersion
}

// String is the line --version prints: "trustd (devel) 1a2b3c4… go1.26.8".
func String(program string) string {
	v, rev, gov := Info()
	return fmt.Sprintf("%s %s %s %s", program, v, rev, gov)
}
