package ml

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// wide is n rows of p numeric features with a non-linear binary target.
func wide(n, p int) *Frame {
	r := rand.New(rand.NewPCG(1, 2))
	f := &Frame{}
	for j := 0; j < p; j++ {
		f.Columns = append(f.Columns, fmt.Sprintf("x%d", j))
	}
	f.Columns = append(f.Columns, "y")
	for i := 0; i < n; i++ {
		row := make([]any, p+1)
		var s float64
		for j := 0; j < p; j++ {
			x := r.NormFloat64()
			row[j] = x
			if j < 5 {
				s += x * float64(j%3-1)
			}
		}
		s += r.NormFloat64()
		if s > 0 {
			row[p] = 1.0
		} else {
			row[p] = 0.0
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}

// BenchmarkTrainGBDT trains the default GBDT (100 rounds, no early
// stopping) on 50 000 rows of 20 features.
func BenchmarkTrainGBDT(b *testing.B) {
	f := wide(50000, 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(b.Context(), f, Params{Target: "y", EarlyStopping: "off"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainGBDTRegression is the same on a numeric target.
func BenchmarkTrainGBDTRegression(b *testing.B) {
	f := wide(50000, 20)
	r := rand.New(rand.NewPCG(3, 4))
	for _, row := range f.Rows {
		row[len(row)-1] = row[0].(float64)*2 - row[1].(float64)*row[2].(float64) + r.NormFloat64()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(b.Context(), f, Params{Target: "y", Task: Regression, EarlyStopping: "off"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
