package dataset

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkParse measures the one-pass parse+profile (no blob write) on a
// numeric CSV like the one bench/datasets generates.
func BenchmarkParse(b *testing.B) {
	data, _ := io.ReadAll(&genCSV{left: 64 << 20})
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parseStream(b.Context(), bytes.NewReader(data), io.Discard, nil, "b.csv", Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCorrRow(b *testing.B) {
	cols := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	c := newCorrAcc(cols)
	vals := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	present := make([]bool, 10)
	for i := range present {
		present[i] = true
	}
	for i := 0; i < b.N; i++ {
		vals[0] = float64(i)
		c.addRow(vals, present)
	}
}
