// tern-bindings writes frontend/src/lib/api/bindings.gen.ts, the
// TypeScript types of every bound method (app.Bindings), from the Go types.
// `make bindings` runs it from the repository root; `make test-frontend`
// runs it and fails when the checked-in file differs.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tern-studio/tern/app"
	"github.com/tern-studio/tern/app/tsbind"
)

const module = "github.com/tern-studio/tern"

func main() {
	out := flag.String("o", "frontend/src/lib/api/bindings.gen.ts", "file to write")
	root := flag.String("root", ".", "the repository root (Go sources are read for parameter names and enums)")
	flag.Parse()
	// Services left nil: only the bound structs' method sets are read.
	ts, err := tsbind.Generate(app.Bindings(app.Services{}), tsbind.ModuleSource(module, *root))
	if err == nil {
		err = os.WriteFile(*out, ts, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tern-bindings:", err)
		os.Exit(1)
	}
}
