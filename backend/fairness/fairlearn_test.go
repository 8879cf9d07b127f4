package fairness

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// refCase is one case for testdata/fairlearn_reference.py.
type refCase struct {
	Name       string              `json:"name"`
	Order      []string            `json:"order"`
	Columns    map[string][]string `json:"columns"`
	YTrue      []int               `json:"y_true,omitempty"`
	YPred      []int               `json:"y_pred,omitempty"`
	LabelsTrue []string            `json:"labels_true,omitempty"`
	LabelsPred []string            `json:"labels_pred,omitempty"`
	Regression bool                `json:"regression,omitempty"`
	ValueTrue  []float64           `json:"value_true,omitempty"`
	ValuePred  []float64           `json:"value_pred,omitempty"`
	outcomes   Outcomes
}

type refMethod struct {
	Difference map[string]*float64 `json:"difference"`
	Ratio      map[string]*float64 `json:"ratio"`
	DPD        *float64            `json:"demographic_parity_difference"`
	DPR        *float64            `json:"demographic_parity_ratio"`
	EOD        *float64            `json:"equalized_odds_difference"`
	EOR        *float64            `json:"equalized_odds_ratio"`
	EOppD      *float64            `json:"equal_opportunity_difference"`
	EOppR      *float64            `json:"equal_opportunity_ratio"`
}

type refResult struct {
	ByGroup       map[string]map[string]*float64 `json:"by_group"`
	Overall       map[string]*float64            `json:"overall"`
	BetweenGroups refMethod                      `json:"between_groups"`
	ToOverall     refMethod                      `json:"to_overall"`
}

// binaryCase draws n rows: each protected column's value from its levels
// (weights skew the sizes), the truth with a base rate per first-column
// group, and the prediction agreeing with the truth with probability hit.
func binaryCase(name string, r *rand.Rand, n int, cols map[string][]string, order []string, base map[string]float64, hit float64) refCase {
	c := refCase{Name: name, Order: order, Columns: map[string][]string{}}
	for _, col := range order {
		levels := cols[col]
		vals := make([]string, n)
		for i := range vals {
			// Squared draws skew group sizes, so some groups are small.
			vals[i] = levels[int(math.Floor(math.Pow(r.Float64(), 1.6)*float64(len(levels))))]
		}
		c.Columns[col] = vals
	}
	for i := 0; i < n; i++ {
		p := base[c.Columns[order[0]][i]]
		yt := 0
		if r.Float64() < p {
			yt = 1
		}
		yp := yt
		if r.Float64() > hit {
			yp = 1 - yt
		}
		c.YTrue, c.YPred = append(c.YTrue, yt), append(c.YPred, yp)
	}
	return c
}

func (c *refCase) fill() {
	if c.Regression {
		c.outcomes = Outcomes{ActualValue: c.ValueTrue, PredictedValue: c.ValuePred}
		return
	}
	o := Outcomes{}
	for i := range c.YTrue {
		o.Actual = append(o.Actual, c.YTrue[i] == 1)
		o.Predicted = append(o.Predicted, c.YPred[i] == 1)
		if c.LabelsTrue != nil {
			o.Correct = append(o.Correct, c.LabelsTrue[i] == c.LabelsPred[i])
		}
	}
	c.outcomes = o
}

func referenceCases() []refCase {
	r := rand.New(rand.NewPCG(12, 2026))
	var cases []refCase
	// Four groups, one of them the missing values, one (X) with no actual
	// positive at all: its TPR is 0 by convention and drives the equal
	// opportunity difference, exactly as fairlearn does it.
	cases = append(cases, binaryCase("four_groups_empty_positive", r, 600,
		map[string][]string{"sex": {"F", "M", Missing, "X"}}, []string{"sex"},
		map[string]float64{"F": 0.4, "M": 0.55, Missing: 0.3, "X": 0}, 0.8))
	// One group where everybody is a positive and predicted so (one class,
	// FPR over no negatives), and ties between groups.
	c := binaryCase("one_class_and_ties", r, 300,
		map[string][]string{"region": {"north", "south", "east"}}, []string{"region"},
		map[string]float64{"north": 1, "south": 0.5, "east": 0.5}, 1)
	cases = append(cases, c)
	// Intersections of two protected columns, one combination never seen.
	c = binaryCase("pair_with_empty_combination", r, 800,
		map[string][]string{"sex": {"F", "M", Missing}, "age": {"18-30", "30-50", "50+", "<18"}}, []string{"sex", "age"},
		map[string]float64{"F": 0.35, "M": 0.5, Missing: 0.2}, 0.75)
	for i := range c.YTrue { // no row is M and under 18
		if c.Columns["sex"][i] == "M" && c.Columns["age"][i] == "<18" {
			c.Columns["age"][i] = "50+"
		}
	}
	cases = append(cases, c)
	// Nobody selected: every selection rate is 0, so the ratios are 0/0.
	c = binaryCase("nobody_selected", r, 200,
		map[string][]string{"g": {"a", "b"}}, []string{"g"}, map[string]float64{"a": 0.3, "b": 0.6}, 0.5)
	for i := range c.YPred {
		c.YPred[i] = 0
	}
	cases = append(cases, c)
	// A single group: nothing to compare.
	cases = append(cases, binaryCase("single_group", r, 50,
		map[string][]string{"g": {"only"}}, []string{"g"}, map[string]float64{"only": 0.5}, 0.7))
	// Three classes, "b" positive: accuracy counts exact label hits.
	c = binaryCase("three_classes", r, 500,
		map[string][]string{"g": {"p", "q", "r"}}, []string{"g"}, map[string]float64{}, 1)
	classes := []string{"a", "b", "c"}
	for i := range c.YTrue {
		lt := classes[r.IntN(3)]
		lp := lt
		if r.Float64() < 0.35 {
			lp = classes[r.IntN(3)]
		}
		c.LabelsTrue, c.LabelsPred = append(c.LabelsTrue, lt), append(c.LabelsPred, lp)
		c.YTrue[i], c.YPred[i] = b2i(lt == "b"), b2i(lp == "b")
	}
	cases = append(cases, c)
	// Regression over a pair.
	reg := refCase{Name: "regression_pair", Order: []string{"sex", "band"}, Regression: true, Columns: map[string][]string{}}
	for i := 0; i < 700; i++ {
		sex := []string{"F", "M", Missing}[r.IntN(3)]
		band := []string{"low", "mid", "high"}[r.IntN(3)]
		reg.Columns["sex"] = append(reg.Columns["sex"], sex)
		reg.Columns["band"] = append(reg.Columns["band"], band)
		y := r.NormFloat64()*30 + 100
		noise := r.NormFloat64() * 5
		if sex == "F" {
			noise *= 2
		}
		reg.ValueTrue, reg.ValuePred = append(reg.ValueTrue, y), append(reg.ValuePred, y+noise)
	}
	cases = append(cases, reg)
	for i := range cases {
		cases[i].fill()
	}
	return cases
}

func runFairlearn(t *testing.T, cases []refCase) map[string]refResult {
	t.Helper()
	py := testenv.Python(t, "fairlearn", "pandas", "sklearn")
	body, err := json.Marshal(cases)
	require.NoError(t, err)
	cmd := exec.Command(py, filepath.Join("testdata", "fairlearn_reference.py"))
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var res map[string]refResult
	require.NoError(t, json.Unmarshal(out, &res))
	return res
}

// same checks a figure against fairlearn's (nil = NaN) to 1e-12.
func same(t *testing.T, what string, ours float64, ref *float64) {
	t.Helper()
	if ref == nil {
		require.Truef(t, math.IsNaN(ours), "%s: fairlearn has NaN, Tern %v", what, ours)
		return
	}
	require.Falsef(t, math.IsNaN(ours), "%s: fairlearn has %v, Tern NaN", what, *ref)
	require.InDeltaf(t, *ref, ours, 1e-12, "%s", what)
}

// TestMatchesFairlearn compares every figure with pip fairlearn's
// MetricFrame and disparity functions on cases with an empty-positive
// group, one-class groups, ties, missing protected values (as Tern's
// "(missing)" group), an unseen combination of two columns, nobody
// selected, a single group, three classes and a regressor.
func TestMatchesFairlearn(t *testing.T) {
	cases := referenceCases()
	ref := runFairlearn(t, cases)
	compared := 0
	for _, c := range cases {
		want, ok := ref[c.Name]
		require.True(t, ok, c.Name)
		vals := make([][]string, len(c.Order))
		for i, col := range c.Order {
			vals[i] = c.Columns[col]
		}
		f, err := NewFrame(c.Order, vals, c.outcomes, 0)
		require.NoError(t, err, c.Name)
		metrics := []Metric{SelectionRate, TruePositiveRate, FalsePositiveRate, Precision, Accuracy}
		if c.Regression {
			metrics = []Metric{MAE, RMSE}
		}
		require.Len(t, f.Groups, len(want.ByGroup["count"]), c.Name)
		for _, g := range f.Groups {
			k := strings.Join(g.Values, "\x1f")
			cnt, ok := want.ByGroup["count"][k]
			require.Truef(t, ok, "%s: fairlearn has no group %q", c.Name, k)
			if cnt == nil {
				require.Zero(t, g.Count, "%s %s", c.Name, k)
				require.Nil(t, g.Figures)
				continue
			}
			require.Equal(t, int(*cnt), g.Count, "%s %s", c.Name, k)
			for _, m := range metrics {
				same(t, c.Name+" "+k+" "+string(m), g.Figures.Value(m), want.ByGroup[string(m)][k])
				compared++
			}
		}
		for _, m := range metrics {
			same(t, c.Name+" overall "+string(m), f.Overall.Value(m), want.Overall[string(m)])
			for _, pair := range []struct {
				method Method
				ref    refMethod
			}{{BetweenGroups, want.BetweenGroups}, {ToOverall, want.ToOverall}} {
				same(t, c.Name+" difference "+string(pair.method)+" "+string(m), f.Difference(m, pair.method), pair.ref.Difference[string(m)])
				same(t, c.Name+" ratio "+string(pair.method)+" "+string(m), f.Ratio(m, pair.method), pair.ref.Ratio[string(m)])
				compared += 2
			}
		}
		if c.Regression {
			continue
		}
		for _, pair := range []struct {
			method Method
			ref    refMethod
		}{{BetweenGroups, want.BetweenGroups}, {ToOverall, want.ToOverall}} {
			p, m := pair.ref, pair.method
			same(t, c.Name+" demographic_parity_difference "+string(m), f.DemographicParityDifference(m), p.DPD)
			same(t, c.Name+" demographic_parity_ratio "+string(m), f.DemographicParityRatio(m), p.DPR)
			same(t, c.Name+" equalized_odds_difference "+string(m), f.EqualizedOddsDifference(m), p.EOD)
			same(t, c.Name+" equalized_odds_ratio "+string(m), f.EqualizedOddsRatio(m), p.EOR)
			same(t, c.Name+" equal_opportunity_difference "+string(m), f.EqualOpportunityDifference(m), p.EOppD)
			same(t, c.Name+" equal_opportunity_ratio "+string(m), f.EqualOpportunityRatio(m), p.EOppR)
			compared += 6
		}
	}
	t.Logf("%d figures equal to fairlearn's to 1e-12 over %d cases", compared, len(cases))
}
