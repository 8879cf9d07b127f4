package sweep

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
)

// Samplers by name.
const (
	SamplerGrid   = "grid"
	SamplerRandom = "random"
	SamplerTPE    = "tpe"
)

// Observation is a finished trial as a sampler sees it. Score is always
// minimised (a maximised objective is negated before it gets here).
type Observation struct {
	Number int
	Values Assignment
	Score  float64
	// Pruned trials stopped early: their score is not comparable, so TPE
	// counts them among the bad ones.
	Pruned bool
}

// Sampler proposes trial n's values from the trials finished so far. It
// is a pure function of (space, seed, done, n): a sweep resumed after a
// restart proposes what it would have proposed.
type Sampler interface {
	Sample(space Space, done []Observation, n int) Assignment
}

// NewSampler returns the named sampler, seeded.
func NewSampler(name string, seed uint64) (Sampler, error) {
	switch name {
	case SamplerGrid:
		return Grid{Seed: seed, Points: 5}, nil
	case SamplerRandom, "":
		return Random{Seed: seed}, nil
	case SamplerTPE:
		return NewTPE(seed), nil
	}
	return nil, core.Errorf(core.Invalid, "Unknown sampler %q: choose grid, random or tpe.", name)
}

// rngFor gives trial n its own stream, so a trial's draw does not depend
// on how many draws earlier trials made.
func rngFor(seed uint64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(n)*0x9e3779b97f4a7c15+1))
}

// Random draws each parameter independently: uniform, or log-uniform on a
// log scale; ints uniform over their whole numbers.
type Random struct{ Seed uint64 }

func (r Random) Sample(space Space, _ []Observation, n int) Assignment {
	rng := rngFor(r.Seed, n)
	a := Assignment{}
	for _, p := range space {
		a[p.Name] = drawUniform(p, rng)
	}
	return a
}

func drawUniform(p Param, rng *rand.Rand) any {
	if p.Kind == Categorical {
		return p.Choices[rng.IntN(len(p.Choices))]
	}
	lo, hi := bounds(p)
	return p.fromInternal(lo + rng.Float64()*(hi-lo))
}

// bounds are a numeric parameter's range in the space samplers work in:
// log for log scales, widened by half a step for ints so each whole
// number gets an equal share (as Optuna does).
func bounds(p Param) (lo, hi float64) {
	lo, hi = p.Low, p.High
	if p.Kind == Int {
		lo, hi = lo-0.5, hi+0.5
	}
	if p.Log {
		return math.Log(lo), math.Log(hi)
	}
	return lo, hi
}

func (p Param) toInternal(v float64) float64 {
	if p.Log {
		return math.Log(v)
	}
	return v
}

func (p Param) fromInternal(x float64) float64 {
	if p.Log {
		x = math.Exp(x)
	}
	return p.clip(x)
}

// Grid walks the cartesian product of each parameter's points (every
// choice; Points values per numeric range, evenly spaced on its scale;
// every whole number when an int range has no more than Points of them),
// in an order shuffled by the seed, as Optuna's GridSampler picks unvisited
// points at random. Trial n gets point n; the sweep stops at the grid's size.
type Grid struct {
	Seed   uint64
	Points int
}

// MaxGrid bounds a grid's size, so a typo cannot ask for billions.
const MaxGrid = 100000

// Axes lists each parameter's grid values.
func (g Grid) Axes(space Space) [][]any {
	if g.Points < 2 {
		g.Points = 2
	}
	axes := make([][]any, len(space))
	for i, p := range space {
		switch {
		case p.Kind == Categorical:
			for _, c := range p.Choices {
				axes[i] = append(axes[i], c)
			}
		case p.Kind == Int && p.High-p.Low+1 <= float64(g.Points):
			for v := p.Low; v <= p.High; v++ {
				axes[i] = append(axes[i], v)
			}
		case p.Low == p.High:
			axes[i] = []any{p.Low}
		default:
			lo, hi := p.toInternal(p.Low), p.toInternal(p.High)
			for k := 0; k < g.Points; k++ {
				// Twelve significant digits, so a log grid shows 0.01 and
				// not exp(log(0.01)).
				v := p.fromInternal(lo + (hi-lo)*float64(k)/float64(g.Points-1))
				v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
				if !slices.Contains(axes[i], any(v)) {
					axes[i] = append(axes[i], v)
				}
			}
		}
	}
	return axes
}

// Size is the number of grid points (capped at MaxGrid+1).
func (g Grid) Size(space Space) int {
	n := 1
	for _, ax := range g.Axes(space) {
		n *= len(ax)
		if n > MaxGrid {
			return MaxGrid + 1
		}
	}
	return n
}

func (g Grid) Sample(space Space, _ []Observation, n int) Assignment {
	axes := g.Axes(space)
	size := g.Size(space)
	perm := rand.New(rand.NewPCG(g.Seed, 0x67726964)).Perm(size)
	idx := perm[n%size]
	a := Assignment{}
	for i := len(space) - 1; i >= 0; i-- {
		k := len(axes[i])
		a[space[i].Name] = axes[i][idx%k]
		idx /= k
	}
	return a
}
