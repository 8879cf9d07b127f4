package sweep

import (
	"math"
	"sort"
)

// Early stopping uses the median rule (Optuna's MedianPruner, the "median
// stopping rule" of Google Vizier): past WarmupSteps, once StartupTrials
// trials have completed, a running trial is stopped when the best value of
// its curve so far is worse than the median of the completed trials'
// values at the same step. A completed trial whose curve ended before that
// step (the GBDT's own early stopping) counts with its last value.
//
// Why not successive halving: trials here are separate jobs started
// whenever a slot frees, their curves end at different rounds, and a
// 20-trial budget at halving's usual reduction factor of 3 would carry
// only two or three trials to the end. The median rule judges each trial
// alone against what has finished, with nothing to tune; its cost is that
// nothing is pruned before StartupTrials trials complete.

// curve is a validation curve: steps ascending.
type curve struct {
	steps  []int64
	values []float64
}

func (c *curve) add(step int64, v float64) {
	if math.IsNaN(v) {
		return
	}
	i := sort.Search(len(c.steps), func(i int) bool { return c.steps[i] >= step })
	if i < len(c.steps) && c.steps[i] == step {
		c.values[i] = v
		return
	}
	c.steps = append(c.steps, 0)
	c.values = append(c.values, 0)
	copy(c.steps[i+1:], c.steps[i:])
	copy(c.values[i+1:], c.values[i:])
	c.steps[i], c.values[i] = step, v
}

// at is the value at step, or the last one before it; ok is false before
// the curve's first step.
func (c *curve) at(step int64) (float64, bool) {
	i := sort.Search(len(c.steps), func(i int) bool { return c.steps[i] > step })
	if i == 0 {
		return 0, false
	}
	return c.values[i-1], true
}

func (c *curve) last() (int64, float64, bool) {
	if len(c.steps) == 0 {
		return 0, 0, false
	}
	return c.steps[len(c.steps)-1], c.values[len(c.values)-1], true
}

func (c *curve) best() float64 {
	b := math.Inf(1)
	for _, v := range c.values {
		b = math.Min(b, v)
	}
	return b
}

func (p Pruning) withDefaults() Pruning {
	if p.Metric == "" {
		p.Metric = "val_loss"
	}
	if p.StartupTrials <= 0 {
		p.StartupTrials = 5
	}
	if p.WarmupSteps < 0 {
		p.WarmupSteps = 0
	} else if p.WarmupSteps == 0 {
		p.WarmupSteps = 10
	}
	return p
}

// medianVerdict says whether the running curve c should stop, against the
// completed trials' curves, and the median it was compared with.
func medianVerdict(p Pruning, c *curve, completed []*curve) (prune bool, med float64, step int64) {
	step, _, ok := c.last()
	if !ok || step <= int64(p.WarmupSteps) || len(completed) < p.StartupTrials {
		return false, math.NaN(), step
	}
	var vals []float64
	for _, d := range completed {
		if v, ok := d.at(step); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) < p.StartupTrials {
		return false, math.NaN(), step
	}
	med = median(vals)
	return c.best() > med, med, step
}
