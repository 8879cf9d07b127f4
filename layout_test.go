package main

// The import rules that keep Tern's shape (DESIGN.md, "Layout"). They are
// checked on the real package graph that `go list` reports, and each rule is
// also fed a graph that breaks it, so a rule that can no longer fail is
// caught too.

import (
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/tern-studio/tern"

// faces are the packages that speak HTTP to the outside; every other backend
// package is domain (or plumbing such as core and store) and must not know them.
var faces = map[string]bool{
	module + "/backend/httpapi":   true,
	module + "/backend/mlflowapi": true,
}

// runtimeForbidden are modules the in-container binary must not link: it
// runs FROM scratch, reads one model directory and serves it.
var runtimeForbidden = []string{
	"github.com/dgraph-io/badger",
	"github.com/docker/docker",
	"github.com/moby/moby",
	"github.com/wailsapp/",
}

// pkg is one package as `go list` sees it: what it imports directly and
// everything it links.
type pkg struct {
	imports []string
	deps    []string
}

// checkLayout returns one sentence per broken rule, sorted.
func checkLayout(g map[string]pkg) []string {
	var bad []string
	for name, p := range g {
		if !strings.HasPrefix(name, module+"/backend/") {
			continue
		}
		domain := !faces[name] && !strings.HasPrefix(name, module+"/backend/cmd/") && name != module+"/backend/testenv"
		for _, d := range p.deps {
			switch {
			case strings.HasPrefix(d, "github.com/wailsapp/"):
				bad = append(bad, name+" links Wails ("+d+"): only app/ may")
			case d == module+"/app" || d == module:
				bad = append(bad, name+" imports "+d+": the backend must not know the shell")
			case domain && faces[d]:
				bad = append(bad, name+" imports the HTTP face "+d+": the face calls the domain, not the other way")
			}
		}
		if name == module+"/backend/cmd/tern-runtime" {
			for _, f := range runtimeForbidden {
				for _, d := range p.deps {
					if strings.HasPrefix(d, f) {
						bad = append(bad, "tern-runtime links "+d+": the in-container binary must stay free of "+f)
						break // one example per module is enough to act on
					}
				}
			}
		}
	}
	bad = append(bad, cycles(g)...)
	sort.Strings(bad)
	return compact(bad)
}

// cycles finds import cycles among the module's own packages. The Go
// compiler refuses them too; this names them in the same words as the rest.
func cycles(g map[string]pkg) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var bad []string
	var stack []string
	var visit func(string)
	visit = func(n string) {
		state[n] = open
		stack = append(stack, n)
		for _, m := range g[n].imports {
			if _, ours := g[m]; !ours {
				continue
			}
			switch state[m] {
			case unseen:
				visit(m)
			case open:
				i := len(stack) - 1
				for stack[i] != m {
					i--
				}
				bad = append(bad, "import cycle: "+strings.Join(append(append([]string{}, stack[i:]...), m), " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if state[n] == unseen {
			visit(n)
		}
	}
	return bad
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// listPackages asks the go command for the module's real package graph
// (non-test code, default build tags, plus ternembed which adds the
// embedded runtime).
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	g := map[string]pkg{}
	for _, tags := range []string{"", "ternembed"} {
		cmd := exec.Command("go", "list", "-e", "-tags", tags, "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", "./...")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "\t")
			require.Len(t, f, 3, line)
			p := g[f[0]]
			p.imports = append(p.imports, strings.Fields(f[1])...)
			p.deps = append(p.deps, strings.Fields(f[2])...)
			g[f[0]] = p
		}
	}
	return g
}

func TestLayoutRules(t *testing.T) {
	g := listPackages(t)
	require.Contains(t, g, module+"/backend/cmd/tern-runtime", "go list must see the runtime")
	require.Contains(t, g, module+"/app")
	assert.Empty(t, checkLayout(g), "the import rules in DESIGN.md")
}

// Each rule, broken on purpose in a small graph, must be reported.
func TestLayoutRulesCatchBreaks(t *testing.T) {
	ok := map[string]pkg{
		module + "/app":                       {imports: []string{module + "/backend/dataset", "github.com/wailsapp/wails/v2/pkg/runtime"}, deps: []string{module + "/backend/dataset", "github.com/wailsapp/wails/v2/pkg/runtime"}},
		module + "/backend/dataset":           {imports: []string{module + "/backend/store"}, deps: []string{module + "/backend/store", "github.com/dgraph-io/badger/v4"}},
		module + "/backend/store":             {deps: []string{"github.com/dgraph-io/badger/v4"}},
		module + "/backend/httpapi":           {imports: []string{module + "/backend/dataset"}, deps: []string{module + "/backend/dataset"}},
		module + "/backend/mlflowapi":         {imports: []string{module + "/backend/httpapi"}, deps: []string{module + "/backend/httpapi"}},
		module + "/backend/cmd/tern-runtime":  {imports: []string{module + "/backend/modelserver"}, deps: []string{module + "/backend/modelserver"}},
		module + "/backend/modelserver":       {},
		module + "/backend/testenv":           {},
		module + "/backend/cmd/tern-runtime2": {},
	}
	require.Empty(t, checkLayout(ok), "a graph that keeps the rules")

	cases := []struct {
		name   string
		break_ func(g map[string]pkg)
		want   string
	}{
		{"domain links Wails", func(g map[string]pkg) {
			addDep(g, module+"/backend/dataset", "github.com/wailsapp/wails/v2/pkg/runtime")
		}, "backend/dataset links Wails"},
		{"domain imports the HTTP face", func(g map[string]pkg) {
			addDep(g, module+"/backend/store", module+"/backend/httpapi")
		}, "backend/store imports the HTTP face"},
		{"domain imports the MLflow face", func(g map[string]pkg) {
			addDep(g, module+"/backend/modelserver", module+"/backend/mlflowapi")
		}, "backend/modelserver imports the HTTP face"},
		{"backend imports app", func(g map[string]pkg) {
			addDep(g, module+"/backend/httpapi", module+"/app")
		}, "the backend must not know the shell"},
		{"runtime links Badger", func(g map[string]pkg) {
			addDep(g, module+"/backend/cmd/tern-runtime", "github.com/dgraph-io/badger/v4/table")
		}, "tern-runtime links github.com/dgraph-io/badger/v4/table"},
		{"runtime links the Docker SDK", func(g map[string]pkg) {
			addDep(g, module+"/backend/cmd/tern-runtime", "github.com/moby/moby/client")
		}, "tern-runtime links github.com/moby/moby/client"},
		{"cycle", func(g map[string]pkg) {
			addDep(g, module+"/backend/store", module+"/backend/dataset")
		}, "import cycle: " + module + "/backend/dataset -> " + module + "/backend/store -> " + module + "/backend/dataset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := map[string]pkg{}
			for k, v := range ok {
				g[k] = pkg{imports: append([]string{}, v.imports...), deps: append([]string{}, v.deps...)}
			}
			c.break_(g)
			got := strings.Join(checkLayout(g), "\n")
			assert.Contains(t, got, c.want)
		})
	}
}

func addDep(g map[string]pkg, from, to string) {
	p := g[from]
	p.imports = append(p.imports, to)
	p.deps = append(p.deps, to)
	g[from] = p
}
