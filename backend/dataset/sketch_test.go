package dataset

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKLLAccuracy(t *testing.T) {
	for _, n := range []int{10, 1000, 100_000, 3_000_000} {
		s := newKLL()
		r := rand.New(rand.NewPCG(1, uint64(n)))
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = r.NormFloat64()*10 + 50
			s.Add(vals[i])
		}
		sort.Float64s(vals)
		for _, q := range []float64{0.01, 0.25, 0.5, 0.75, 0.99} {
			got := s.Quantile(q)
			// rank of got in the true data
			rank := float64(sort.SearchFloat64s(vals, got)) / float64(n)
			assert.InDelta(t, q, rank, 0.02+1.0/float64(n), "n=%d q=%v", n, q)
		}
		assert.EqualValues(t, n, s.N)
		assert.Less(t, s.size(), 4000, "the sketch stays small")
	}
}

func TestKLLMerge(t *testing.T) {
	a, b := newKLL(), newKLL()
	for i := 0; i < 200_000; i++ {
		a.Add(float64(i))
		b.Add(float64(i + 200_000))
	}
	a.Merge(b)
	assert.InDelta(t, 200_000, a.Quantile(0.5), 8000)
	assert.InDelta(t, 0.25, a.CDF(100_000), 0.02)
}

func TestHLL(t *testing.T) {
	for _, n := range []int{1, 100, 10_000, 1_000_000} {
		h := newHLL()
		for i := 0; i < n; i++ {
			h.Add(hashFloat(float64(i)))
			h.Add(hashFloat(float64(i))) // duplicates do not count
		}
		assert.InEpsilon(t, float64(n), h.Estimate(), 0.05, "n=%d", n)
	}
}

func TestHistogramOfUniformIsFlat(t *testing.T) {
	s := newKLL()
	for i := 0; i < 1_300_000; i++ {
		s.Add(float64(i))
	}
	h := histogramFromSketch(s, 0, 1_299_999, false)
	total := 0.0
	for _, c := range h.Counts {
		total += c
		assert.InEpsilon(t, 1_300_000/30.0, c, 0.08, "bins of a uniform column are within 8%% of each other: %v", h.Counts)
	}
	assert.InEpsilon(t, 1_300_000, total, 0.001)
}
