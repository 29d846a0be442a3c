package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it the module version from the build information is used.
var version = ""

// build is what a binary knows about how it was built.
type build struct {
	// Version is -X main.version, else the main module's version (a tag
	// or pseudo-version that `go build` and `go install pkg@v` stamp), else
	// "dev".
	Version string
	Module  string
	// Revision, Time and Modified come from the VCS stamp (`go build` in a
	// checkout, unless -buildvcs=false); Revision is "" without one.
	Revision, Time string
	Modified       bool
	Go, Platform   string
}

// readBuild reads how the running binary was built.
func readBuild() build {
	bi, _ := debug.ReadBuildInfo()
	return buildOf(version, bi)
}

// buildOf interprets build information (bi may be nil) and the version
// set at link time ("" when none).
func buildOf(linked string, bi *debug.BuildInfo) build {
	b := build{Version: linked, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	b.Module = bi.Main.Path
	if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line version: "v1.2.0", or "dev (a1b2c3d4e5f6,
// modified)" for a build of a checkout.
func (b build) String() string {
	if b.Revision == "" || b.Version != "dev" {
		return b.Version
	}
	rev := b.Revision[:min(12, len(b.Revision))]
	if b.Modified {
		rev += ", modified"
	}
	return b.Version + " (" + rev + ")"
}

func (b build) write(w io.Writer) {
	fmt.Fprintf(w, "penny %s\n", b.Version)
	if b.Module != "" {
		fmt.Fprintf(w, "  module:   %s\n", b.Module)
	}
	switch {
	case b.Revision != "":
		rev := b.Revision
		if b.Time != "" {
			rev += " (" + b.Time + ")"
		}
		if b.Modified {
			rev += ", with uncommitted changes"
		}
		fmt.Fprintf(w, "  revision: %s\n", rev)
	default:
		fmt.Fprintln(w, "  revision: unknown (built without VCS information: go run, go test or -buildvcs=false)")
	}
	fmt.Fprintf(w, "  go:       %s %s\n", b.Go, b.Platform)
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Penny's version, VCS revision and Go version",
		Long: `Print the version of this binary: the version set at link time or the module
version Go stamped (a tag, or a pseudo-version for a build of a checkout; "dev"
when there is none, as under go run), the VCS revision it was built from and
whether the checkout had uncommitted changes, and the Go version and platform.`,
		Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			readBuild().write(cmd.OutOrStdout())
		},
	}
}
