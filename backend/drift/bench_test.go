package drift

import (
	"fmt"
	"testing"
)

// Speed claims are measured by bench/drift/run.sh (against Evidently); these
// benchmarks let `go test -bench` and benchstat track the same paths.

func benchColumns(rows, cols int, shift float64, seed uint64) []Column {
	out := make([]Column, cols)
	for c := range out {
		out[c] = Column{Name: fmt.Sprintf("c%d", c), Kind: Numeric, Num: normal(seed+uint64(c), rows, shift, 1)}
	}
	return out
}

// BenchmarkCompareWindow: a frozen 1M-row profile against a 100k-row window,
// per column (multiply by the column count for a whole table).
func BenchmarkCompareWindow(b *testing.B) {
	prof := BuildProfile(benchColumns(1_000_000, 2, 0, 1), ProfileOptions{})
	win := benchColumns(100_000, 2, 0.2, 50)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := CompareWindow(prof, win, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e6, "ms/column")
}

// BenchmarkCompareRaw: 356k vs 356k rows, both kept exactly (the Evidently
// comparison's path), Wasserstein forced.
func BenchmarkCompareRaw(b *testing.B) {
	ref, cur := benchColumns(356_000, 2, 0, 1), benchColumns(356_000, 2, 0.2, 50)
	opt := Options{Columns: map[string]ColumnOptions{"c0": {Test: TestWasserstein}, "c1": {Test: TestWasserstein}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := CompareColumns(ref, cur, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e6, "ms/column")
}
