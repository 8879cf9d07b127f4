package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir writes files (name → contents; names may hold slashes) into a new
// temporary directory, removed after the test, and returns its path.
func Dir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// GBDTModel returns a file of backend/gbdt/testdata: XGBoost and LightGBM
// models saved by those libraries themselves, and the predictions they
// made.
func GBDTModel(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "backend", "gbdt", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
