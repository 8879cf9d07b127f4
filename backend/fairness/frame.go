package fairness

import (
	"math"
	"sort"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// Missing is the group of rows whose protected value is missing. fairlearn
// refuses missing values outright; a person looking at a dataset with
// blanks in a protected column wants to see how those rows fare too.
const Missing = "(missing)"

// MaxGroups bounds the groups of one analysis (a column, or the
// combinations of a pair): a table of thousands of groups says nothing a
// person can act on, and an ID marked protected by mistake would make one.
const MaxGroups = 500

// Outcomes are a model's predictions next to the truth, one entry per row.
// A classifier fills Actual and Predicted (is the label the positive
// class?) and, with more than two classes, Correct (is the predicted label
// the true one?); Score, when known, is the predicted probability of the
// positive class. A regressor fills ActualValue and PredictedValue.
type Outcomes struct {
	Actual, Predicted []bool
	Correct           []bool
	Score             []float64
	ActualValue       []float64
	PredictedValue    []float64
}

// Regression says the outcomes are numbers, not classes.
func (o Outcomes) Regression() bool { return o.ActualValue != nil }

// Len is the number of rows.
func (o Outcomes) Len() int {
	if o.Regression() {
		return len(o.ActualValue)
	}
	return len(o.Actual)
}

func (o Outcomes) correct(i int) bool {
	if o.Correct != nil {
		return o.Correct[i]
	}
	return o.Actual[i] == o.Predicted[i]
}

// Rate is a proportion with its denominator and a 95% Wilson score
// interval. Of = 0 means there was nothing to count: Value is then 0, as
// scikit-learn's normalised confusion matrix (and so fairlearn) makes it,
// and the interval is [0, 1].
type Rate struct {
	Value float64 `json:"value"`
	Of    int     `json:"of"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// z95 is the standard normal quantile of 0.975.
const z95 = 1.959963984540054

func rate(k, n int) *Rate {
	if n == 0 {
		return &Rate{Value: 0, Of: 0, Low: 0, High: 1}
	}
	p, fn := float64(k)/float64(n), float64(n)
	z2 := z95 * z95
	den := 1 + z2/fn
	centre := (p + z2/(2*fn)) / den
	half := z95 / den * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	return &Rate{Value: p, Of: n, Low: math.Max(0, centre-half), High: math.Min(1, centre+half)}
}

// Figures are the metrics of one group (or of all rows). Classifier
// figures are rates; regressor figures are errors. Absent fields do not
// apply to the model's task.
type Figures struct {
	Count int `json:"count"`
	// SelectionRate is the share predicted positive (fairlearn's
	// selection_rate); BaseRate the share actually positive.
	SelectionRate *Rate `json:"selectionRate,omitempty"`
	BaseRate      *Rate `json:"baseRate,omitempty"`
	Accuracy      *Rate `json:"accuracy,omitempty"`
	// TruePositiveRate (recall) is over the actual positives,
	// FalsePositiveRate over the actual negatives, Precision over the
	// predicted positives.
	TruePositiveRate  *Rate `json:"truePositiveRate,omitempty"`
	FalsePositiveRate *Rate `json:"falsePositiveRate,omitempty"`
	Precision         *Rate `json:"precision,omitempty"`
	// MeanScore is the mean predicted probability of the positive class:
	// beside BaseRate it shows the group's calibration.
	MeanScore *float64 `json:"meanScore,omitempty"`
	MAE       *float64 `json:"mae,omitempty"`
	RMSE      *float64 `json:"rmse,omitempty"`
	// MeanPrediction and MeanActual (regression) show a bias by group.
	MeanPrediction *float64 `json:"meanPrediction,omitempty"`
	MeanActual     *float64 `json:"meanActual,omitempty"`
}

// Metric names a per-group figure, by fairlearn's (scikit-learn's) name.
type Metric string

const (
	SelectionRate     Metric = "selection_rate"
	TruePositiveRate  Metric = "true_positive_rate"
	FalsePositiveRate Metric = "false_positive_rate"
	Accuracy          Metric = "accuracy_score"
	Precision         Metric = "precision_score"
	MAE               Metric = "mean_absolute_error"
	RMSE              Metric = "root_mean_squared_error"
)

// Value is the figure for m, NaN when it does not apply.
func (f *Figures) Value(m Metric) float64 {
	if f == nil {
		return math.NaN()
	}
	r := map[Metric]*Rate{SelectionRate: f.SelectionRate, TruePositiveRate: f.TruePositiveRate,
		FalsePositiveRate: f.FalsePositiveRate, Accuracy: f.Accuracy, Precision: f.Precision}[m]
	if r != nil {
		return r.Value
	}
	switch {
	case m == MAE && f.MAE != nil:
		return *f.MAE
	case m == RMSE && f.RMSE != nil:
		return *f.RMSE
	}
	return math.NaN()
}

func figures(o Outcomes, rows []int) *Figures {
	f := &Figures{Count: len(rows)}
	if o.Regression() {
		var abs, sq, sp, sa float64
		for _, i := range rows {
			d := o.PredictedValue[i] - o.ActualValue[i]
			abs += math.Abs(d)
			sq += d * d
			sp += o.PredictedValue[i]
			sa += o.ActualValue[i]
		}
		n := float64(len(rows))
		mae, rmse, mp, ma := abs/n, math.Sqrt(sq/n), sp/n, sa/n
		f.MAE, f.RMSE, f.MeanPrediction, f.MeanActual = &mae, &rmse, &mp, &ma
		return f
	}
	var tp, fp, fn, tn, hits int
	var score float64
	for _, i := range rows {
		switch a, p := o.Actual[i], o.Predicted[i]; {
		case a && p:
			tp++
		case !a && p:
			fp++
		case a && !p:
			fn++
		default:
			tn++
		}
		if o.correct(i) {
			hits++
		}
		if o.Score != nil {
			score += o.Score[i]
		}
	}
	n := len(rows)
	f.SelectionRate = rate(tp+fp, n)
	f.BaseRate = rate(tp+fn, n)
	f.Accuracy = rate(hits, n)
	f.TruePositiveRate = rate(tp, tp+fn)
	f.FalsePositiveRate = rate(fp, fp+tn)
	f.Precision = rate(tp, tp+fp)
	if o.Score != nil {
		m := score / float64(n)
		f.MeanScore = &m
	}
	return f
}

// Group is one group of rows: a value of each column of the analysis.
// Figures is nil for a combination of values no row has.
type Group struct {
	Values []string `json:"values"`
	Count  int      `json:"count"`
	// TooFew marks a group below the minimum group size: its figures are
	// shown as "too few rows" and it takes no part in the disparities.
	TooFew  bool     `json:"tooFew,omitempty"`
	Figures *Figures `json:"figures,omitempty"`
}

// Name is the group as a person reads it: "F", or "F × 40-60".
func (g Group) Name() string { return strings.Join(g.Values, " × ") }

// counts is whether the group takes part in disparities.
func (g Group) counts() bool { return g.Figures != nil && !g.TooFew }

// Frame is fairlearn's MetricFrame for a fixed set of metrics: the figures
// of every group of one protected column, or of every combination of the
// values of several, and of all rows together.
type Frame struct {
	Columns []string `json:"columns"`
	Groups  []Group  `json:"groups"`
	Overall *Figures `json:"overall"`
}

// NewFrame groups the rows by the values of the protected columns
// (values[c][i] is column c's value for row i) and computes every group's
// figures. Groups are ordered as pandas' groupby orders them (by value,
// then by the next column's value), and several columns make a group for
// every combination of their values, as MetricFrame does. Groups with
// fewer than minGroup rows are marked TooFew.
func NewFrame(columns []string, values [][]string, o Outcomes, minGroup int) (*Frame, error) {
	n := o.Len()
	if len(columns) == 0 || len(values) != len(columns) {
		return nil, core.Errorf(core.Invalid, "Fairness figures need at least one protected column.")
	}
	if n == 0 {
		return nil, core.Errorf(core.Invalid, "There are no rows to compute fairness figures on.")
	}
	levels := make([][]string, len(columns))
	index := make([]map[string]int, len(columns))
	size := 1
	for c, vals := range values {
		if len(vals) != n {
			return nil, core.Errorf(core.Internal, "Column %q has %d values for %d rows.", columns[c], len(vals), n)
		}
		index[c] = map[string]int{}
		for _, v := range vals {
			if _, ok := index[c][v]; !ok {
				index[c][v] = 0
				levels[c] = append(levels[c], v)
				if len(levels[c]) > MaxGroups {
					return nil, core.Errorf(core.Invalid, "Column %q has more than %d distinct values; group figures need a column of groups (bin it, or unmark it as protected).", columns[c], MaxGroups)
				}
			}
		}
		sort.Strings(levels[c])
		for k, v := range levels[c] {
			index[c][v] = k
		}
		size *= len(levels[c])
		if size > MaxGroups {
			return nil, core.Errorf(core.Invalid, "The combinations of %s make more than %d groups; compare those columns one at a time.", strings.Join(columns, " and "), MaxGroups)
		}
	}
	rows := make([][]int, size)
	for i := 0; i < n; i++ {
		k := 0
		for c := range columns {
			k = k*len(levels[c]) + index[c][values[c][i]]
		}
		rows[k] = append(rows[k], i)
	}
	f := &Frame{Columns: columns, Groups: make([]Group, size)}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	f.Overall = figures(o, all)
	for k := range rows {
		g := Group{Values: make([]string, len(columns)), Count: len(rows[k])}
		for c, r := len(columns)-1, k; c >= 0; c-- {
			g.Values[c] = levels[c][r%len(levels[c])]
			r /= len(levels[c])
		}
		if g.Count > 0 {
			g.Figures = figures(o, rows[k])
			g.TooFew = g.Count < minGroup
		}
		f.Groups[k] = g
	}
	return f, nil
}

// Method says what each group is compared with: the other groups
// (between_groups), or all rows (to_overall), as in MetricFrame.
type Method string

const (
	BetweenGroups Method = "between_groups"
	ToOverall     Method = "to_overall"
)

// counted are the values of m for the groups that take part.
func (f *Frame) counted(m Metric) []float64 {
	var out []float64
	for _, g := range f.Groups {
		if g.counts() {
			if v := g.Figures.Value(m); !math.IsNaN(v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// Difference is MetricFrame.difference(method) for m: the largest
// absolute gap between a group and the smallest group (between_groups) or
// all rows (to_overall). NaN when no group takes part.
func (f *Frame) Difference(m Metric, method Method) float64 {
	vals := f.counted(m)
	if len(vals) == 0 {
		return math.NaN()
	}
	ref := f.Overall.Value(m)
	if method == BetweenGroups {
		ref = minOf(vals)
	}
	worst := math.NaN()
	for _, v := range vals {
		if d := math.Abs(v - ref); math.IsNaN(worst) || d > worst {
			worst = d
		}
	}
	return worst
}

// Ratio is MetricFrame.ratio(method) for m: the smallest group's value
// over the largest's (between_groups), or the smallest of each group's
// value over the overall value, inverted when above 1 (to_overall). As in
// pandas, 0/0 is NaN and x/0 is +Inf (which to_overall inverts to 0).
func (f *Frame) Ratio(m Metric, method Method) float64 {
	vals := f.counted(m)
	if len(vals) == 0 {
		return math.NaN()
	}
	if method == BetweenGroups {
		return divide(minOf(vals), maxOf(vals))
	}
	ref, worst := f.Overall.Value(m), math.NaN()
	for _, v := range vals {
		r := divide(v, ref)
		if r > 1 {
			r = 1 / r
		}
		if !math.IsNaN(r) && (math.IsNaN(worst) || r < worst) {
			worst = r
		}
	}
	return worst
}

// divide is IEEE division as numpy does it: 0/0 is NaN, x/0 is ±Inf.
func divide(a, b float64) float64 { return a / b }

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Max(m, x)
	}
	return m
}

// pyMax and pyMin are Python's built-in max and min of two values, which
// fairlearn's equalized odds uses over its [tpr, fpr] pair: a NaN first
// value wins, a NaN second value loses.
func pyMax(a, b float64) float64 {
	if b > a {
		return b
	}
	return a
}

func pyMin(a, b float64) float64 {
	if b < a {
		return b
	}
	return a
}

// DemographicParityDifference is fairlearn's demographic_parity_difference.
func (f *Frame) DemographicParityDifference(m Method) float64 {
	return f.Difference(SelectionRate, m)
}

// DemographicParityRatio is fairlearn's demographic_parity_ratio.
func (f *Frame) DemographicParityRatio(m Method) float64 { return f.Ratio(SelectionRate, m) }

// EqualizedOddsDifference is fairlearn's equalized_odds_difference with
// agg="worst_case": the larger of the TPR and FPR differences.
func (f *Frame) EqualizedOddsDifference(m Method) float64 {
	return pyMax(f.Difference(TruePositiveRate, m), f.Difference(FalsePositiveRate, m))
}

// EqualizedOddsRatio is fairlearn's equalized_odds_ratio (worst_case):
// the smaller of the TPR and FPR ratios.
func (f *Frame) EqualizedOddsRatio(m Method) float64 {
	return pyMin(f.Ratio(TruePositiveRate, m), f.Ratio(FalsePositiveRate, m))
}

// EqualOpportunityDifference is fairlearn's equal_opportunity_difference.
func (f *Frame) EqualOpportunityDifference(m Method) float64 {
	return f.Difference(TruePositiveRate, m)
}

// EqualOpportunityRatio is fairlearn's equal_opportunity_ratio.
func (f *Frame) EqualOpportunityRatio(m Method) float64 { return f.Ratio(TruePositiveRate, m) }
