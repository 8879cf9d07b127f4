package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
)

// Holdout is the rows both models are scored on and the column that holds
// the truth.
type Holdout struct {
	Frame  *ml.Frame
	Target string
	// Description says which rows these are, in words; it goes into the
	// report.
	Description string
}

// Options shape the bootstrap. Zero values take the defaults.
type Options struct {
	// Replicates is the number of bootstrap resamples (default 1000,
	// at most 100 000).
	Replicates int `json:"replicates"`
	// Confidence is the interval's coverage (default 0.95; 0.5–0.999).
	Confidence float64 `json:"confidence"`
	// Seed seeds the resampling (default 1), so a comparison repeats
	// exactly.
	Seed uint64 `json:"seed"`
}

// WithDefaults fills unset fields, or says which one is out of range.
func (o Options) WithDefaults() (Options, error) {
	if o.Replicates == 0 {
		o.Replicates = 1000
	}
	if o.Confidence == 0 {
		o.Confidence = 0.95
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Replicates < 100 || o.Replicates > 100000 {
		return o, core.Errorf(core.Invalid, "Replicates must be between 100 and 100 000 (got %d).", o.Replicates)
	}
	if !(o.Confidence >= 0.5 && o.Confidence <= 0.999) {
		return o, core.Errorf(core.Invalid, "Confidence must be between 0.5 and 0.999 (got %v).", o.Confidence)
	}
	return o, nil
}

// Interval is a percentile bootstrap interval of candidate − champion.
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Replicates is how many resamples counted (those where the metric
	// was defined for both models).
	Replicates int `json:"replicates"`
}

// Metric is one metric of the comparison. Champion, Difference and
// Interval are zero when the report has no champion.
type Metric struct {
	Name string `json:"name"`
	// HigherIsBetter is false for losses and errors (log_loss, rmse, mae).
	HigherIsBetter bool     `json:"higherIsBetter"`
	Champion       float64  `json:"champion"`
	Candidate      float64  `json:"candidate"`
	Difference     float64  `json:"difference"`
	Interval       Interval `json:"interval"`
}

// Report is a comparison's result.
type Report struct {
	Task      string `json:"task"`
	Rows      int    `json:"rows"`
	Holdout   string `json:"holdout"`
	Target    string `json:"target"`
	Candidate string `json:"candidate"`
	// Champion is "" when there was none to compare with.
	Champion string   `json:"champion"`
	Metrics  []Metric `json:"metrics"`
	Options  Options  `json:"options"`
	// Notes warn about what weakens the comparison (a model that has seen
	// the holdout rows).
	Notes []string `json:"notes"`
}

// Metric returns the named metric, false if the report has none.
func (r *Report) Metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Metric names per task, in report order.
var (
	classificationMetrics = []string{"roc_auc", "accuracy", "log_loss", "f1"}
	regressionMetrics     = []string{"rmse", "mae", "r2"}
	lowerIsBetter         = map[string]bool{"log_loss": true, "rmse": true, "mae": true}
)

// Progress is called with the replicates done so far and the total.
type Progress func(done, total int)

// minHoldoutRows is the fewest rows a comparison accepts: below it no
// interval means anything.
const minHoldoutRows = 10

// Compare scores candidate and champion (nil: none yet, the report then
// has the candidate's figures alone) on the holdout, and bootstraps the
// difference of every metric (see the package comment). It checks ctx
// between replicates and calls progress about every 1 % of them.
func Compare(ctx context.Context, candidate, champion *Model, h Holdout, opt Options, progress Progress) (*Report, error) {
	opt, err := opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	if candidate == nil {
		return nil, core.Errorf(core.Invalid, "There is no candidate model to evaluate.")
	}
	if champion != nil && champion.Task != candidate.Task {
		return nil, core.Errorf(core.Invalid, "%s is a %s model and %s a %s one; they cannot be compared.", candidate.Label, candidate.Task, champion.Label, champion.Task)
	}
	if h.Frame == nil || h.Frame.Len() < minHoldoutRows {
		n := 0
		if h.Frame != nil {
			n = h.Frame.Len()
		}
		return nil, core.Errorf(core.Invalid, "The holdout has %d rows; a comparison needs at least %d.", n, minHoldoutRows)
	}
	ti := h.Frame.Column(h.Target)
	if ti < 0 {
		return nil, core.Errorf(core.Invalid, "The holdout has no column %q to compare predictions with.", h.Target)
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	models := []*Model{candidate}
	if champion != nil {
		models = append(models, champion)
	}
	rep := &Report{Task: candidate.Task, Rows: h.Frame.Len(), Holdout: h.Description, Target: h.Target, Candidate: candidate.Label, Options: opt, Notes: []string{}}
	if champion != nil {
		rep.Champion = champion.Label
	}
	var sc []scorer
	if candidate.Task == ml.Classification {
		sc, err = classifierScorers(h, ti, models)
	} else {
		sc, err = regressorScorers(h, ti, models)
	}
	if err != nil {
		return nil, err
	}
	names := regressionMetrics
	if candidate.Task == ml.Classification {
		names = classificationMetrics
	}

	n := h.Frame.Len()
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	point := make([]map[string]float64, len(sc))
	for i, s := range sc {
		point[i] = s(all)
	}
	for _, name := range names {
		m := Metric{Name: name, HigherIsBetter: !lowerIsBetter[name], Candidate: point[0][name]}
		if champion != nil {
			m.Champion = point[1][name]
			m.Difference = m.Candidate - m.Champion
		}
		rep.Metrics = append(rep.Metrics, m)
	}
	if champion == nil {
		return rep, nil
	}

	diffs := make([][]float64, len(names))
	idx := make([]int, n)
	for b, next := range Resamples(n, opt) {
		if err := ctx.Err(); err != nil {
			return nil, core.Errorf(core.Invalid, "The comparison was cancelled after %d of %d resamples.", b, opt.Replicates)
		}
		copy(idx, next)
		cand, champ := sc[0](idx), sc[1](idx)
		for j, name := range names {
			d := cand[name] - champ[name]
			if !math.IsNaN(d) {
				diffs[j] = append(diffs[j], d)
			}
		}
		if step := max(opt.Replicates/100, 1); (b+1)%step == 0 || b+1 == opt.Replicates {
			progress(b+1, opt.Replicates)
		}
	}
	for j := range names {
		rep.Metrics[j].Interval = percentile(diffs[j], opt.Confidence)
	}
	return rep, nil
}

// Resamples yields the bootstrap's row indices, replicate by replicate:
// n draws with replacement from a PCG seeded by opt.Seed. Both models are
// scored on each; the slice is reused between replicates. It is exported
// so tests (and anyone checking a report) can recompute the interval
// with another tool on the same resamples.
func Resamples(n int, opt Options) func(yield func(int, []int) bool) {
	return func(yield func(int, []int) bool) {
		r := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5851f42d4c957f2d))
		idx := make([]int, n)
		for b := 0; b < opt.Replicates; b++ {
			for i := range idx {
				idx[i] = r.IntN(n)
			}
			if !yield(b, idx) {
				return
			}
		}
	}
}

// percentile is the percentile interval of draws at coverage conf, with
// numpy.percentile's default (linear) interpolation.
func percentile(draws []float64, conf float64) Interval {
	if len(draws) == 0 {
		return Interval{} // Replicates 0 says "unknown"; NaN would not survive JSON
	}
	s := slices.Clone(draws)
	slices.Sort(s)
	q := func(p float64) float64 {
		h := p * float64(len(s)-1)
		lo := math.Floor(h)
		i := int(lo)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (h-lo)*(s[i+1]-s[i])
	}
	a := (1 - conf) / 2
	return Interval{Low: q(a), High: q(1 - a), Replicates: len(draws)}
}

// scorer computes every metric of one model on the holdout rows idx.
type scorer func(idx []int) map[string]float64

func classifierScorers(h Holdout, ti int, models []*Model) ([]scorer, error) {
	classes := models[0].Classes
	for _, m := range models[1:] {
		if !sameClasses(classes, m.Classes) {
			return nil, core.Errorf(core.Invalid, "%s predicts the classes %s and %s the classes %s; they do not predict the same thing.",
				models[0].Label, strings.Join(classes, ", "), m.Label, strings.Join(m.Classes, ", "))
		}
	}
	k := len(classes)
	n := h.Frame.Len()
	y := make([]int, n)
	seen := make([]bool, k)
	for r, row := range h.Frame.Rows {
		v := label(row[ti])
		if v == "" {
			return nil, core.Errorf(core.Invalid, "Row %d of the holdout has no value in %q.", r+1, h.Target)
		}
		if y[r] = classIndex(classes, v); y[r] < 0 {
			return nil, core.Errorf(core.Invalid, "Row %d of the holdout is of class %q, which %s does not know (it knows %s).", r+1, clip(v), models[0].Label, strings.Join(classes, ", "))
		}
		seen[y[r]] = true
	}
	present := 0
	for _, s := range seen {
		if s {
			present++
		}
	}
	if present < 2 {
		return nil, core.Errorf(core.Invalid, "Every holdout row is of class %q; AUC and the other metrics need at least two classes.", classes[y[0]])
	}
	var out []scorer
	for _, m := range models {
		proba, err := m.score(h.Frame)
		if err != nil {
			return nil, err
		}
		// Align the model's columns to the candidate's class order.
		order := make([]int, k)
		for c, name := range classes {
			order[c] = classIndex(m.Classes, name)
		}
		mk := len(m.Classes)
		aligned := make([]float64, n*k)
		for r := 0; r < n; r++ {
			for c := range order {
				aligned[r*k+c] = proba[r*mk+order[c]]
			}
		}
		out = append(out, func(idx []int) map[string]float64 {
			ys := make([]int, len(idx))
			ps := make([]float64, len(idx)*k)
			for i, r := range idx {
				ys[i] = y[r]
				copy(ps[i*k:(i+1)*k], aligned[r*k:(r+1)*k])
			}
			return ml.ScoreClassifier(k, ys, ps)
		})
	}
	return out, nil
}

func sameClasses(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range b {
		if classIndex(a, c) < 0 {
			return false
		}
	}
	return true
}

func regressorScorers(h Holdout, ti int, models []*Model) ([]scorer, error) {
	n := h.Frame.Len()
	y := make([]float64, n)
	for r, row := range h.Frame.Rows {
		v, err := number(row[ti])
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, core.Errorf(core.Invalid, "Row %d of the holdout has no number in %q (%q).", r+1, h.Target, clip(label(row[ti])))
		}
		y[r] = v
	}
	var out []scorer
	for _, m := range models {
		pred, err := m.score(h.Frame)
		if err != nil {
			return nil, err
		}
		out = append(out, func(idx []int) map[string]float64 {
			ys := make([]float64, len(idx))
			ps := make([]float64, len(idx))
			for i, r := range idx {
				ys[i], ps[i] = y[r], pred[r]
			}
			return ml.EvaluateRegressor(ys, ps).Metrics
		})
	}
	return out, nil
}

// label renders a target value as the class it names ("" when missing).
func label(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}
