package sweep

import (
	"math"
	"math/rand/v2"
	"sort"
)

// TPE is a Tree-structured Parzen Estimator sampler in the shape of
// Optuna's TPESampler with its defaults (univariate, consider_prior,
// prior_weight 1, consider_magic_clip, no endpoints):
//
//   - the first StartupTrials trials are random;
//   - then the finished trials are split by gamma(n) = min(ceil(0.1·n), 25)
//     into the best ("below", l) and the rest ("above", g);
//   - each parameter gets two Parzen estimators, mixtures of one truncated
//     Gaussian per observation plus a prior (centre of the range, width of
//     the range), each observation's width being the larger gap to its
//     neighbours, clipped to [range/min(100, 1+n), range] (the "magic
//     clip"); categorical ones are per-observation one-hot kernels smoothed
//     by the prior weight;
//   - mixture weights follow Optuna's default_weights: equal below 25
//     observations, older ones ramped down from 1/n beyond that;
//   - EICandidates values are drawn from l and the one with the largest
//     log l(x) − log g(x) is kept.
//
// Simplified from Optuna: ints are a continuous range widened by half a
// step and rounded (Optuna keeps a discrete truncated normal off a log
// scale); pruned trials are all "above" (Optuna ranks them by the last step
// they reached); there is no multivariate or constant-liar mode, so trials
// proposed while others still run do not know of each other.
type TPE struct {
	Seed          uint64
	StartupTrials int
	EICandidates  int
	PriorWeight   float64
}

// NewTPE returns TPE with Optuna's defaults.
func NewTPE(seed uint64) TPE {
	return TPE{Seed: seed, StartupTrials: 10, EICandidates: 24, PriorWeight: 1}
}

func tpeGamma(n int) int { return min(int(math.Ceil(0.1*float64(n))), 25) }

// tpeWeights are default_weights(n): flat under 25, else a ramp from 1/n
// for the oldest to 1, then 25 ones for the newest.
func tpeWeights(n int) []float64 {
	w := make([]float64, n)
	if n < 25 {
		for i := range w {
			w[i] = 1
		}
		return w
	}
	ramp := n - 25
	for i := 0; i < ramp; i++ {
		if ramp == 1 {
			w[i] = 1.0 / float64(n)
		} else {
			w[i] = 1.0/float64(n) + (1-1.0/float64(n))*float64(i)/float64(ramp-1)
		}
	}
	for i := ramp; i < n; i++ {
		w[i] = 1
	}
	return w
}

func (t TPE) Sample(space Space, done []Observation, n int) Assignment {
	if len(done) < t.StartupTrials {
		return Random{Seed: t.Seed}.Sample(space, done, n)
	}
	rng := rngFor(t.Seed, n)
	// Best first; pruned after every complete one; ties by trial number so
	// the split never depends on the order trials finished in.
	obs := append([]Observation(nil), done...)
	sort.SliceStable(obs, func(i, j int) bool {
		if obs[i].Pruned != obs[j].Pruned {
			return !obs[i].Pruned
		}
		if obs[i].Score != obs[j].Score && !math.IsNaN(obs[i].Score) && !math.IsNaN(obs[j].Score) {
			return obs[i].Score < obs[j].Score
		}
		return obs[i].Number < obs[j].Number
	})
	nb := tpeGamma(len(obs))
	below, above := obs[:nb], obs[nb:]
	byNumber := func(o []Observation) []Observation {
		c := append([]Observation(nil), o...)
		sort.Slice(c, func(i, j int) bool { return c[i].Number < c[j].Number })
		return c
	}
	below, above = byNumber(below), byNumber(above)
	k := max(t.EICandidates, 1)
	a := Assignment{}
	for _, p := range space {
		l := t.parzen(p, below)
		g := t.parzen(p, above)
		best, bestScore := 0.0, math.Inf(-1)
		for c := 0; c < k; c++ {
			x := l.sample(rng)
			s := l.logPDF(x) - g.logPDF(x)
			if s > bestScore {
				best, bestScore = x, s
			}
		}
		if p.Kind == Categorical {
			a[p.Name] = p.Choices[int(best)]
		} else {
			a[p.Name] = p.fromInternal(best)
		}
	}
	return a
}

// parzen is a one-dimensional mixture: truncated Gaussians on [lo, hi]
// for numbers, or category weight vectors.
type parzen struct {
	weights []float64
	// numeric
	mus, sigmas []float64
	lo, hi      float64
	// categorical: probs[i][c]
	probs [][]float64
}

func (t TPE) parzen(p Param, obs []Observation) parzen {
	prior := t.PriorWeight
	if prior <= 0 {
		prior = 1
	}
	w := append(tpeWeights(len(obs)), prior)
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	for i := range w {
		w[i] /= sum
	}
	if p.Kind == Categorical {
		nc := len(p.Choices)
		pz := parzen{weights: w}
		for _, o := range obs {
			row := make([]float64, nc)
			for c := range row {
				row[c] = prior / float64(len(obs)+1)
			}
			s, _ := o.Values[p.Name].(string)
			for c, name := range p.Choices {
				if name == s {
					row[c]++
				}
			}
			pz.probs = append(pz.probs, normalise(row))
		}
		uniform := make([]float64, nc)
		for c := range uniform {
			uniform[c] = 1 / float64(nc)
		}
		pz.probs = append(pz.probs, uniform)
		return pz
	}
	lo, hi := bounds(p)
	mus := make([]float64, 0, len(obs)+1)
	for _, o := range obs {
		v, _ := o.Values[p.Name].(float64)
		mus = append(mus, p.toInternal(v))
	}
	priorMu := 0.5 * (lo + hi)
	// Each observation's width: the larger gap to its neighbours among the
	// observations and the prior's centre, with the range's ends as outer
	// neighbours (consider_endpoints=False takes the inner gap at the ends).
	all := append(append([]float64(nil), mus...), priorMu)
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return all[order[i]] < all[order[j]] })
	sorted := make([]float64, 0, len(all)+2)
	sorted = append(sorted, lo)
	for _, i := range order {
		sorted = append(sorted, all[i])
	}
	sorted = append(sorted, hi)
	sig := make([]float64, len(all))
	for r, i := range order {
		s := math.Max(sorted[r+1]-sorted[r], sorted[r+2]-sorted[r+1])
		if len(sorted) >= 4 {
			if r == 0 {
				s = sorted[2] - sorted[1]
			} else if r == len(order)-1 {
				s = sorted[len(sorted)-2] - sorted[len(sorted)-3]
			}
		}
		sig[i] = s
	}
	span := hi - lo
	minSig := span / math.Min(100, 1+float64(len(obs))+1)
	pz := parzen{weights: w, lo: lo, hi: hi}
	for i := range mus {
		pz.mus = append(pz.mus, mus[i])
		pz.sigmas = append(pz.sigmas, math.Min(math.Max(sig[i], minSig), span))
	}
	pz.mus = append(pz.mus, priorMu)
	pz.sigmas = append(pz.sigmas, span)
	if span == 0 {
		for i := range pz.sigmas {
			pz.sigmas[i] = 1
		}
	}
	return pz
}

func normalise(v []float64) []float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	for i := range v {
		v[i] /= s
	}
	return v
}

func (pz parzen) pick(rng *rand.Rand) int {
	u := rng.Float64()
	for i, w := range pz.weights {
		u -= w
		if u < 0 {
			return i
		}
	}
	return len(pz.weights) - 1
}

func (pz parzen) sample(rng *rand.Rand) float64 {
	i := pz.pick(rng)
	if pz.probs != nil {
		u := rng.Float64()
		for c, p := range pz.probs[i] {
			u -= p
			if u < 0 {
				return float64(c)
			}
		}
		return float64(len(pz.probs[i]) - 1)
	}
	if pz.lo == pz.hi {
		return pz.lo
	}
	mu, s := pz.mus[i], pz.sigmas[i]
	a, b := normCDF((pz.lo-mu)/s), normCDF((pz.hi-mu)/s)
	u := a + rng.Float64()*(b-a)
	x := mu + s*normQuantile(u)
	return math.Min(math.Max(x, pz.lo), pz.hi)
}

func (pz parzen) logPDF(x float64) float64 {
	if pz.probs != nil {
		c := int(x)
		p := 0.0
		for i, w := range pz.weights {
			p += w * pz.probs[i][c]
		}
		return math.Log(p)
	}
	if pz.lo == pz.hi {
		return 0
	}
	p := 0.0
	for i, w := range pz.weights {
		mu, s := pz.mus[i], pz.sigmas[i]
		z := normCDF((pz.hi-mu)/s) - normCDF((pz.lo-mu)/s)
		if z <= 0 {
			continue
		}
		d := (x - mu) / s
		p += w * math.Exp(-0.5*d*d) / (s * math.Sqrt(2*math.Pi) * z)
	}
	if p <= 0 {
		return -1e300
	}
	return math.Log(p)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func normQuantile(p float64) float64 {
	p = math.Min(math.Max(p, 1e-300), 1-1e-16)
	return -math.Sqrt2 * math.Erfcinv(2*p)
}
