package drift

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// KSResult is a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"pValue"`
	Method    string  `json:"method"` // "exact" or "asymptotic"
}

// KS is scipy.stats.ks_2samp(a, b) with method="auto", two-sided. Both
// samples must hold finite values only; callers drop NaN first (see the
// package comment). An empty sample gives NaN results.
func KS(a, b []float64) KSResult {
	if len(a) == 0 || len(b) == 0 {
		return KSResult{Statistic: math.NaN(), PValue: math.NaN()}
	}
	x, y := sortedCopy(a), sortedCopy(b)
	d := ksStatistic(x, nil, float64(len(x)), y, nil, float64(len(y)))
	d, p, m := ksPValue(d, len(x), len(y))
	return KSResult{Statistic: d, PValue: p, Method: m}
}

// Wasserstein is the first Wasserstein (earth mover's) distance between two
// samples, as scipy.stats.wasserstein_distance computes it.
func Wasserstein(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	x, y := sortedCopy(a), sortedCopy(b)
	sc := pow2Scale(x[0], x[len(x)-1], y[0], y[len(y)-1])
	return wasserstein(x, nil, float64(len(x)), y, nil, float64(len(y)), sc) * sc
}

// pow2Scale is a power of two at least as large as every |v|, so values can
// be divided by it exactly (no rounding) and differences never overflow.
func pow2Scale(v ...float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	if m == 0 || math.IsInf(m, 0) || math.IsNaN(m) {
		return 1
	}
	_, e := math.Frexp(m)
	return math.Ldexp(1, e)
}

// wasserstein integrates |F_x − F_y| over the merged support of two
// weighted sorted samples, in units of scale (a power of two, see
// pow2Scale, so that huge values cannot overflow): O(len(xs)+len(ys)).
func wasserstein(xs, xw []float64, nx float64, ys, yw []float64, ny float64, scale float64) float64 {
	var sum float64
	prev, started := 0.0, false
	eachStep(xs, xw, ys, yw, func(v, bx, by, _, _ float64) {
		if started {
			sum += math.Abs(bx/nx-by/ny) * (v/scale - prev/scale)
		}
		prev, started = v, true
	})
	return sum
}

// ChiSquare is Pearson's goodness-of-fit test of observed counts against
// expected counts (scipy.stats.chisquare): the statistic and the p-value
// with len−1 degrees of freedom. A cell expected 0 but observed > 0 makes
// the statistic +Inf and the p-value 0; a cell expected 0 and observed 0
// contributes nothing (callers never send such cells).
func ChiSquare(obs, exp []float64) (stat, p float64) {
	if len(obs) != len(exp) || len(obs) == 0 {
		return math.NaN(), math.NaN()
	}
	for i := range obs {
		d := obs[i] - exp[i]
		switch {
		case exp[i] > 0:
			stat += d * d / exp[i]
		case d != 0:
			stat = math.Inf(1)
		}
	}
	k := float64(len(obs) - 1)
	if k <= 0 {
		return stat, math.NaN()
	}
	if math.IsInf(stat, 1) {
		return stat, 0
	}
	return stat, distuv.ChiSquared{K: k}.Survival(stat)
}

// ZProportions is the two-proportion z-test Evidently uses for binary
// columns: k1 of n1 reference rows and k2 of n2 current rows hold the
// first category. It returns z and the two-sided p-value; when the pooled
// proportion is 0 or 1 both samples hold one and the same value, so there
// is no evidence of drift and p is 1.
func ZProportions(k1, n1, k2, n2 float64) (z, p float64) {
	p1, p2 := k1/n1, k2/n2
	P := (p1*n1 + p2*n2) / (n1 + n2)
	se := math.Sqrt(P * (1 - P) * (1/n1 + 1/n2))
	if se == 0 || math.IsNaN(se) {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

// JensenShannon is the Jensen–Shannon distance (natural log, the square
// root of the divergence) between two histograms, each normalised to sum 1
// first, as scipy.spatial.distance.jensenshannon. Always in [0, √ln2].
func JensenShannon(p, q []float64) float64 {
	sp, sq := sum(p), sum(q)
	if sp <= 0 || sq <= 0 || len(p) != len(q) {
		return math.NaN()
	}
	js := 0.0
	for i := range p {
		a, b := p[i]/sp, q[i]/sq
		m := (a + b) / 2
		js += relEntr(a, m) + relEntr(b, m)
	}
	return math.Sqrt(math.Max(js/2, 0))
}

func relEntr(x, y float64) float64 {
	switch {
	case x > 0 && y > 0:
		return x * math.Log(x/y)
	case x == 0 && y >= 0:
		return 0
	}
	return math.Inf(1)
}

// PSI is the population stability index of two share vectors that hold no
// zeros (see fillZeros).
func PSI(ref, cur []float64) float64 {
	s := 0.0
	for i := range ref {
		s += (ref[i] - cur[i]) * math.Log(ref[i]/cur[i])
	}
	return s
}

// KL is the Kullback–Leibler divergence D(ref‖cur), natural log, of two
// share vectors that hold no zeros, normalised like scipy.stats.entropy.
func KL(ref, cur []float64) float64 {
	sr, sc := sum(ref), sum(cur)
	s := 0.0
	for i := range ref {
		s += relEntr(ref[i]/sr, cur[i]/sc)
	}
	return s
}

// Hellinger is the Hellinger distance of two share vectors, in [0, 1].
func Hellinger(p, q []float64) float64 {
	sp, sq := sum(p), sum(q)
	bc := 0.0
	for i := range p {
		bc += math.Sqrt(math.Max(p[i]/sp, 0) * math.Max(q[i]/sq, 0))
	}
	return math.Sqrt(math.Max(1-bc, 0))
}

// fillZeros replaces empty cells so PSI and KL stay finite, as Evidently
// does: by a millionth of the smallest non-zero share when that share is
// at most 1e-4, else by 1e-4.
func fillZeros(v []float64) []float64 {
	out := append([]float64(nil), v...)
	minNZ := math.Inf(1)
	for _, x := range v {
		if x != 0 && x < minNZ {
			minNZ = x
		}
	}
	if math.IsInf(minNZ, 1) {
		return out
	}
	fill := 0.0001
	if minNZ <= 0.0001 {
		fill = minNZ / 1e6
	}
	for i, x := range out {
		if x == 0 {
			out[i] = fill
		}
	}
	return out
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// CohenH is Cohen's effect size for two proportions.
func CohenH(p1, p2 float64) float64 {
	return math.Abs(2*math.Asin(math.Sqrt(p1)) - 2*math.Asin(math.Sqrt(p2)))
}
