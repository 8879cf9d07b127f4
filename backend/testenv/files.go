package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
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

// File writes body to a file called name in a new temporary directory,
// removed after the test, and returns its path.
func File(tb testing.TB, name string, body []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
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

// TableSeeds returns the files of the import's test corpus
// (backend/dataset/testdata/good and malformed) below 64 KB, the seeds of
// the table reader's and the profile's fuzz targets.
func TableSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, sub := range []string{"malformed", "good"} {
		dir := filepath.Join(RepoRoot(), "backend", "dataset", "testdata", sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range ents {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && len(b) < 1<<16 {
				out = append(out, b)
			}
		}
	}
	return out
}

// ScoresRow is a row of ScoresParquet.
type ScoresRow struct {
	ID    int64   `parquet:"id"`
	Score float64 `parquet:"score"`
	Name  string  `parquet:"name"`
}

// ScoresParquet is a Parquet file of rows (id, score, name) as bytes.
func ScoresParquet(tb testing.TB, rows int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[ScoresRow](&buf)
	batch := make([]ScoresRow, rows)
	for i := range batch {
		batch[i] = ScoresRow{ID: int64(i), Score: float64(i) / 2, Name: fmt.Sprintf("n%d", i%7)}
	}
	if _, err := w.Write(batch); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
