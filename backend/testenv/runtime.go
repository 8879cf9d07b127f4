package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var runtimeBuild struct {
	once sync.Once
	path string
	err  error
}

// RuntimeBinary builds the real tern-runtime (static, for Linux, as `make
// runtime` does) once per test binary and returns its path; the tests that
// run it as a process or copy it into a container image all use this one.
func RuntimeBinary(tb testing.TB) string {
	tb.Helper()
	b := &runtimeBuild
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "tern-runtime-test")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "tern-runtime")
		cmd := exec.Command("go", "build", "-trimpath", "-o", b.path, "./backend/cmd/tern-runtime")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building tern-runtime: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}
