package explain

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTreeSHAP explains one row of 100 random trees of depth 6 over 30
// features (the shape of the served-model latency goal), on one goroutine.
func BenchmarkTreeSHAP(b *testing.B) {
	e := randomEnsemble(7, 30, 100, 6, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 30)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.SHAP(b.Context(), x, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
}
