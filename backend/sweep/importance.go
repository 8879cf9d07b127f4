package sweep

import (
	"math"
	"sort"
)

// Importance is how much of the objective's spread one parameter explains.
type Importance struct {
	Param string `json:"param"`
	// Share is the correlation ratio η²: the variance of the objective
	// between the parameter's bins over its total variance, 0–1.
	Share float64 `json:"share"`
}

// MinTrialsForImportance is the fewest complete trials Importances works
// from; below it the shares are noise.
const MinTrialsForImportance = 6

// Importances ranks the space's parameters by η² (the correlation
// ratio, one-way ANOVA's effect size) over the complete trials: numeric
// values are cut into up to four equal-count bins on the parameter's scale
// (log when searched on a log scale), categorical ones grouped by choice.
// It is marginal: each parameter alone, no interactions (fANOVA fits a
// forest and splits the variance into main and interaction effects; this
// is its first-order part measured without a model), and with a sampler
// that concentrates trials (TPE) the bins are uneven. Nil below
// MinTrialsForImportance complete trials.
func Importances(space Space, trials []Trial) []Importance {
	type obs struct {
		v float64
		a Assignment
	}
	var done []obs
	for _, t := range trials {
		if t.State == TrialComplete && t.Value != nil && !math.IsNaN(*t.Value) && !math.IsInf(*t.Value, 0) {
			done = append(done, obs{*t.Value, t.Values})
		}
	}
	if len(done) < MinTrialsForImportance {
		return nil
	}
	mean := 0.0
	for _, o := range done {
		mean += o.v
	}
	mean /= float64(len(done))
	total := 0.0
	for _, o := range done {
		total += (o.v - mean) * (o.v - mean)
	}
	out := make([]Importance, 0, len(space))
	for _, p := range space {
		groups := map[string][]float64{}
		if p.Kind == Categorical {
			for _, o := range done {
				s, _ := o.a[p.Name].(string)
				groups[s] = append(groups[s], o.v)
			}
		} else {
			idx := make([]int, len(done))
			for i := range idx {
				idx[i] = i
			}
			x := func(i int) float64 { v, _ := done[i].a[p.Name].(float64); return p.toInternal(v) }
			sort.SliceStable(idx, func(i, j int) bool { return x(idx[i]) < x(idx[j]) })
			bins := min(4, len(done)/3)
			prev := 0
			for r, i := range idx {
				b := r * bins / len(idx)
				// Equal values share a bin, whatever their rank.
				if r > 0 && x(i) == x(idx[r-1]) {
					b = prev
				}
				prev = b
				key := string(rune('0' + b))
				groups[key] = append(groups[key], done[i].v)
			}
		}
		between := 0.0
		for _, g := range groups {
			m := 0.0
			for _, v := range g {
				m += v
			}
			m /= float64(len(g))
			between += float64(len(g)) * (m - mean) * (m - mean)
		}
		share := 0.0
		if total > 0 {
			share = between / total
		}
		out = append(out, Importance{Param: p.Name, Share: share})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Share > out[j].Share })
	return out
}
