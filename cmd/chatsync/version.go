package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with
// -ldflags "-X main.version=v1.2.3" (the Dockerfile does); otherwise it
// comes from the module's build information.
var version = ""

// buildVersion returns the version and, when the build recorded it, the
// VCS revision.
func buildVersion() string {
	v, rev, dirty := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev != "" {
		v += " " + rev[:min(len(rev), 12)]
		if dirty {
			v += "-dirty"
		}
	}
	return v
}

const versionUsage = "Prints the version, the Go version and the platform.\n"

func runVersion(_ context.Context, p *process, args []string) error {
	fs := newFlagSet("version")
	if err := p.parseNoArgs(fs, args, "version", versionUsage); err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "chatsync %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
