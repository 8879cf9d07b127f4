package deployment

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// Reference values from scipy 1.17.1: scipy.stats.fisher_exact(
// [[a, na-a], [b, nb-b]], alternative="greater").pvalue.
func TestFisherGreaterMatchesScipy(t *testing.T) {
	for _, c := range []struct {
		a, na, b, nb int
		p            float64
	}{
		{0, 100, 0, 1900, 1},                      // no failures at all
		{5, 100, 10, 1900, 0.0005692018548707801}, // candidate worse
		{3, 10, 0, 10, 0.10526315789473684},       // tiny samples
		{10, 200, 2, 2000, 1.7533319345947622e-09},
		{1, 1, 0, 1, 0.5},
		{0, 5, 3, 5, 1}, // candidate better
		{50, 1000, 40, 1000, 0.16584464059121443},
		{7, 40, 1, 400, 2.3053611466713234e-07},
		{1, 20, 0, 200, 0.09090909090909091},
	} {
		got := FisherGreater(c.a, c.na, c.b, c.nb)
		assert.InEpsilon(t, c.p, got, 1e-9, "%d/%d vs %d/%d", c.a, c.na, c.b, c.nb)
	}
	assert.Equal(t, 1.0, FisherGreater(0, 0, 0, 10), "no candidate requests: no evidence")
}

// Wilson bounds from scipy 1.17.1 binomtest(k, n).proportion_ci(0.95, "wilson").
func TestWilsonMatchesScipy(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 100, 0, 0.03699349820698568},
		{5, 100, 0.021543679154367973, 0.11175046923191914},
		{56, 70, 0.6918335550374693, 0.8769526075163704},
		{0, 1, 0, 0.7934506856227626},
		{1, 1, 0.20654931437723745, 1},
	} {
		lo, hi := Wilson(c.k, c.n, 1.959963984540054)
		assert.InDelta(t, c.lo, lo, 1e-12, "%d/%d", c.k, c.n)
		assert.InDelta(t, c.hi, hi, 1e-12, "%d/%d", c.k, c.n)
	}
}

// Newcombe's hybrid score interval: the first two rows are examples (a)
// and (b) of Newcombe (1998), Table II, method 10; all values are
// statsmodels 0.15.0 confint_proportions_2indep(method="newcomb") at
// alpha 0.05 (z 1.96) and 0.10 (z 1.645, the watch's one-sided 5 %).
func TestNewcombeMatchesStatsmodels(t *testing.T) {
	for _, c := range []struct {
		a, na, b, nb           int
		lo95, hi95, lo90, hi90 float64
	}{
		{56, 70, 48, 80, 0.05243147240236498, 0.33387265403690614, 0.07656419154407207, 0.31364458358294384},
		{9, 10, 3, 10, 0.1705227239345029, 0.809017973535488, 0.24211240088494457, 0.7896235073721287},
		{5, 56, 0, 29, -0.038137147903536936, 0.19256001385511165, -0.007255069182513882, 0.17229044004724364},
		{5, 100, 10, 1900, 0.015942620554106345, 0.10653400273612657, 0.01904179441331613, 0.09394336802333653},
		{0, 100, 0, 1900, -0.002017740922121562, 0.03699349820698569, -0.0014219454310223324, 0.026342720783174345},
	} {
		_, lo, hi := NewcombeDiff(c.a, c.na, c.b, c.nb, 1.959963984540054)
		assert.InDelta(t, c.lo95, lo, 1e-9)
		assert.InDelta(t, c.hi95, hi, 1e-9)
		_, lo, hi = NewcombeDiff(c.a, c.na, c.b, c.nb, zOneSided(0.05))
		assert.InDelta(t, c.lo90, lo, 1e-9)
		assert.InDelta(t, c.hi90, hi, 1e-9)
	}
}

func TestQuantileIsNumpysDefault(t *testing.T) {
	// numpy.percentile([1,2,3,4,10], 95) = 8.799999999999999
	assert.InDelta(t, 8.8, Quantile([]float64{1, 2, 3, 4, 10}, 0.95), 1e-12)
	assert.Equal(t, 7.0, Quantile([]float64{7}, 0.95))
	assert.True(t, math.IsNaN(Quantile(nil, 0.95)))
}

// The counting resample gives the same quantile as sorting the resample.
func TestResampledQuantileMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 20, 101} {
		base := make([]float64, n)
		for i := range base {
			base[i] = math.Floor(rng.ExpFloat64() * 10) // ties on purpose
		}
		sortCopy := append([]float64(nil), base...)
		sort.Float64s(sortCopy)
		counts := make([]int32, n)
		for range 50 {
			seed := rng.Uint64()
			got := resampledQuantile(sortCopy, counts, 0.95, rand.New(rand.NewPCG(seed, 0)))
			r2 := rand.New(rand.NewPCG(seed, 0))
			re := make([]float64, n)
			for i := range re {
				re[i] = sortCopy[r2.IntN(n)]
			}
			sort.Float64s(re)
			assert.InDelta(t, Quantile(re, 0.95), got, 1e-9, "n=%d", n)
		}
	}
}

// A slowdown in the tail only: the bootstrap of the p95 difference sees
// it (the interval clears 40 ms) though most requests are as fast.
func TestQuantileDiffSeesATailSlowdown(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := make([]float64, 600), make([]float64, 600)
	for i := range a {
		a[i] = 2 + rng.ExpFloat64()
		b[i] = 2 + rng.ExpFloat64()
		if i%10 == 0 {
			a[i] += 80 // one request in ten is slow
		}
	}
	d, lo, hi := QuantileDiffCI(a, b, 0.95, 0.05, 1000, 9)
	assert.Greater(t, lo, 40.0)
	assert.GreaterOrEqual(t, hi, d)
	d, lo, hi = QuantileDiffCI(b, b, 0.95, 0.05, 1000, 9)
	assert.Zero(t, d)
	assert.LessOrEqual(t, lo, 0.0)
	assert.GreaterOrEqual(t, hi, 0.0)
}

// The bootstrap interval agrees with scipy.stats.bootstrap (percentile
// method) on the same samples, to Monte Carlo error.
func TestQuantileDiffMatchesScipyBootstrap(t *testing.T) {
	py := testenv.Python(t, "scipy")
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := make([]float64, 400), make([]float64, 300)
	for i := range a {
		a[i] = math.Exp(rng.NormFloat64()*0.6) * 3
	}
	for i := range b {
		b[i] = math.Exp(rng.NormFloat64()*0.5) * 2.5
	}
	data, _ := json.Marshal(map[string][]float64{"a": a, "b": b})
	in := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(in, data, 0o600))
	script := `
import json, sys, numpy as np
from scipy.stats import bootstrap
d = json.load(open(sys.argv[1]))
a, b = np.array(d["a"]), np.array(d["b"])
stat = lambda x, y, axis=-1: np.percentile(x, 95, axis=axis) - np.percentile(y, 95, axis=axis)
r = bootstrap((a, b), stat, n_resamples=5000, confidence_level=0.90, method="percentile", rng=np.random.default_rng(1))
print(json.dumps([float(stat(a, b)), r.confidence_interval.low, r.confidence_interval.high]))
`
	out, err := exec.Command(py, "-c", script, in).Output()
	require.NoError(t, err)
	var want [3]float64
	require.NoError(t, json.Unmarshal(out, &want))
	d, lo, hi := QuantileDiffCI(a, b, 0.95, 0.05, 5000, 1)
	assert.InDelta(t, want[0], d, 1e-9, "the point estimate is numpy's")
	width := want[2] - want[1]
	assert.InDelta(t, want[1], lo, 0.05*width, "low bound")
	assert.InDelta(t, want[2], hi, 0.05*width, "high bound")
	t.Logf("scipy %.4f [%.4f, %.4f]; tern %.4f [%.4f, %.4f]", want[0], want[1], want[2], d, lo, hi)
}
