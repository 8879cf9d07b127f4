// Package testenv finds the outside parts some tests need — a Docker engine,
// a Python with given packages — and decides what happens when one is
// missing: on a developer's machine the test is skipped with the reason; in
// CI (CI=true) it fails, because a skipped test there proves nothing. It
// also holds the few fixtures tests of several packages share: a directory
// of files, the GBDT model files saved by XGBoost and LightGBM themselves,
// the table reader's fuzz seeds and a Parquet file, golden files.
package testenv

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// InCI reports whether tests run under CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

func missing(tb testing.TB, what string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s is required in CI (make deps-test installs it)", what)
	}
	tb.Skipf("skipping: %s not available here (CI installs it)", what)
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Python returns a python interpreter that can import every module named,
// preferring TERN_PYTHON, then the repo's .venv.
func Python(tb testing.TB, modules ...string) string {
	tb.Helper()
	candidates := []string{os.Getenv("TERN_PYTHON"), filepath.Join(RepoRoot(), ".venv", "bin", "python")}
	for _, py := range candidates {
		if py == "" {
			continue
		}
		if _, err := os.Stat(py); err != nil {
			continue
		}
		args := []string{"-c", "import " + strings.Join(append([]string{"sys"}, modules...), ", ")}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := exec.CommandContext(ctx, py, args...).Run()
		cancel()
		if err == nil {
			return py
		}
	}
	missing(tb, "a Python with "+strings.Join(modules, ", "))
	return ""
}

// Docker ensures a Docker engine answers `docker version`; tests then use
// the SDK with client.FromEnv.
func Docker(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run(); err != nil {
		missing(tb, "a running Docker engine")
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata instead of comparing with them")

// Golden compares got with the file at path (under the package's testdata),
// or writes it there when the test runs with -update — go/printer's way.
// Look at a rewritten file before committing it.
func Golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v: run the test with -update to create it", err)
	}
	assert.Equal(tb, string(want), string(got), "%s differs from the golden file; if the change is intended, run with -update and look at the result", path)
}
