package deployment

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// The statistics a ramp's watch uses to compare a candidate with the
// champion on live traffic. Each answers one question with a test that
// holds for the data a router sees: counts of failed requests (small,
// often zero) and latencies (skewed, heavy-tailed, never normal).

// FisherGreater is the one-sided p-value of Fisher's exact test that the
// first group's failure rate is higher than the second's: the chance,
// with the margins fixed, of seeing at least failA failures in group A.
// It is exact for any counts, zero and tiny ones included, where the
// two-proportion z-test's normal approximation is not.
// It equals scipy.stats.fisher_exact([[failA, nA-failA], [failB, nB-failB]],
// alternative="greater").
func FisherGreater(failA, nA, failB, nB int) float64 {
	if nA <= 0 || nB <= 0 {
		return 1
	}
	k := failA + failB // failures in all
	n := nA + nB
	hi := min(nA, k)
	lo := max(0, k-nB)
	if failA <= lo {
		return 1
	}
	// Hypergeometric pmf in log space: C(k,x) C(n-k,nA-x) / C(n,nA).
	logC := func(a, b int) float64 {
		la, _ := math.Lgamma(float64(a + 1))
		lb, _ := math.Lgamma(float64(b + 1))
		lab, _ := math.Lgamma(float64(a - b + 1))
		return la - lb - lab
	}
	den := logC(n, nA)
	// Sum from the far tail in, so tiny terms are not lost to rounding.
	p := 0.0
	for x := hi; x >= failA; x-- {
		p += math.Exp(logC(k, x) + logC(n-k, nA-x) - den)
	}
	return math.Min(1, p)
}

// Wilson is the Wilson score interval for a proportion of fail in n at
// normal quantile z (two-sided 95 % is z = 1.96): unlike the Wald
// interval it stays inside [0, 1] and is not a point when fail is 0.
// It equals statsmodels' proportion_confint(method="wilson") and scipy's
// binomtest(...).proportion_ci(method="wilson").
func Wilson(fail, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(fail) / nf
	z2 := z * z
	centre := (p + z2/(2*nf)) / (1 + z2/nf)
	half := z / (1 + z2/nf) * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// NewcombeDiff is the interval for pA - pB from the two Wilson intervals
// (Newcombe 1998, method 10, the "hybrid score" interval): it keeps the
// Wilson interval's good coverage for rates near zero, which a failure
// rate always is.
func NewcombeDiff(failA, nA, failB, nB int, z float64) (diff, lo, hi float64) {
	pA := float64(failA) / math.Max(1, float64(nA))
	pB := float64(failB) / math.Max(1, float64(nB))
	lA, uA := Wilson(failA, nA, z)
	lB, uB := Wilson(failB, nB, z)
	diff = pA - pB
	lo = diff - math.Sqrt((pA-lA)*(pA-lA)+(uB-pB)*(uB-pB))
	hi = diff + math.Sqrt((uA-pA)*(uA-pA)+(pB-lB)*(pB-lB))
	return diff, lo, hi
}

// zOneSided is the normal quantile for a one-sided level alpha.
func zOneSided(alpha float64) float64 {
	return distuv.UnitNormal.Quantile(1 - alpha)
}

// Quantile is the q-quantile of sorted values by linear interpolation
// between order statistics (Hyndman and Fan's type 7, numpy.percentile's
// default), so the p95 Tern shows is the one numpy would print.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	h := q * float64(n-1)
	i := int(h)
	if i >= n-1 {
		return sorted[n-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// QuantileDiffCI is a percentile-bootstrap interval for the difference of
// the q-quantiles of a and b (q-quantile of a minus that of b): both
// samples are resampled with replacement B times and the alpha and
// 1-alpha quantiles of the B differences are the bounds (each one-sided
// at alpha). A tail quantile such as p95 has no usable closed-form
// standard error and latencies are far from normal; the bootstrap needs
// neither, and it answers the question a latency objective asks (is the
// candidate's p95 worse by more than the margin?) where a rank test
// (Mann-Whitney) answers another (is a typical request slower?) and
// misses a slowdown that only shows in the tail.
// The random source is seeded, so one set of samples always gives the
// same verdict.
func QuantileDiffCI(a, b []float64, q, alpha float64, B int, seed uint64) (diff, lo, hi float64) {
	sa := append([]float64(nil), a...)
	sb := append([]float64(nil), b...)
	sort.Float64s(sa)
	sort.Float64s(sb)
	diff = Quantile(sa, q) - Quantile(sb, q)
	rng := rand.New(rand.NewPCG(seed, 0x7465726e))
	ca := make([]int32, len(sa))
	cb := make([]int32, len(sb))
	diffs := make([]float64, B)
	for i := range diffs {
		diffs[i] = resampledQuantile(sa, ca, q, rng) - resampledQuantile(sb, cb, q, rng)
	}
	sort.Float64s(diffs)
	return diff, Quantile(diffs, alpha), Quantile(diffs, 1-alpha)
}

// resampledQuantile draws len(sorted) values with replacement and returns
// their type-7 q-quantile. Because the base sample is sorted, the
// resample's order statistics come from counts per position, with no
// sort: O(n) per resample instead of O(n log n).
func resampledQuantile(sorted []float64, counts []int32, q float64, rng *rand.Rand) float64 {
	n := len(sorted)
	clear(counts)
	for range n {
		counts[rng.IntN(n)]++
	}
	h := q * float64(n-1)
	k := int(h) // 0-based rank of the lower order statistic
	frac := h - float64(k)
	seen := 0
	lower := math.NaN()
	for i, c := range counts {
		if c == 0 {
			continue
		}
		seen += int(c)
		if math.IsNaN(lower) && seen > k {
			lower = sorted[i]
			if frac == 0 || seen > k+1 {
				return lower + frac*(sorted[i]-lower)
			}
			continue
		}
		if !math.IsNaN(lower) {
			return lower + frac*(sorted[i]-lower)
		}
	}
	return lower
}
