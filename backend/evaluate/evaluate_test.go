package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/testenv"
)

// fixed is a model answering given probabilities of class "1" (or values).
func fixed(label, task string, out []float64) *Model {
	m := &Model{Label: label, Task: task}
	if task == ml.Classification {
		m.Classes = []string{"0", "1"}
	}
	m.score = func(f *ml.Frame) ([]float64, error) {
		if task == ml.Regression {
			return out, nil
		}
		p := make([]float64, 2*len(out))
		for i, v := range out {
			p[2*i], p[2*i+1] = 1-v, v
		}
		return p, nil
	}
	return m
}

func labels(ys ...any) Holdout {
	f := &ml.Frame{Columns: []string{"y"}}
	for _, y := range ys {
		f.Rows = append(f.Rows, []any{y})
	}
	return Holdout{Frame: f, Target: "y", Description: "ten rows"}
}

func ptr(v float64) *float64 { return &v }

// TestExactMetrics checks the point figures against values worked by hand.
func TestExactMetrics(t *testing.T) {
	h := labels(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0)
	// Candidate: positives 0.9 0.8 0.7 0.6 0.4, negatives 0.1 0.2 0.3 0.5 0.35.
	cand := fixed("cand", ml.Classification, []float64{0.1, 0.2, 0.3, 0.5, 0.35, 0.9, 0.8, 0.7, 0.6, 0.4})
	// Champion: a coin flip on every row.
	champ := fixed("champ", ml.Classification, []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5})
	rep, err := Compare(t.Context(), cand, champ, h, Options{Replicates: 200}, nil)
	require.NoError(t, err)
	require.Equal(t, 10, rep.Rows)

	auc, _ := rep.Metric("roc_auc")
	// Pairs (pos, neg) where pos > neg: 0.4 beats 0.1, 0.2, 0.3, 0.35 (4 of 5);
	// 0.6..0.9 beat all 5: 4·5 + 4 = 24 of 25.
	assert.InDelta(t, 24.0/25, auc.Candidate, 1e-15)
	assert.InDelta(t, 0.5, auc.Champion, 1e-15)
	assert.InDelta(t, 24.0/25-0.5, auc.Difference, 1e-15)

	acc, _ := rep.Metric("accuracy")
	// Predicted 1 when p > 0.5: negatives right 5 of 5 (0.5 ties go to
	// class 0, the first), positives 0.9 0.8 0.7 0.6 right, 0.4 wrong.
	assert.InDelta(t, 0.9, acc.Candidate, 1e-15)
	assert.InDelta(t, 0.5, acc.Champion, 1e-15)

	f1, _ := rep.Metric("f1")
	// TP 4, FP 0, FN 1: precision 1, recall 0.8, F1 = 2·0.8/1.8.
	assert.InDelta(t, 2*0.8/1.8, f1.Candidate, 1e-15)
	assert.InDelta(t, 0.0, f1.Champion, 1e-15, "the champion never predicts 1")

	ll, _ := rep.Metric("log_loss")
	var want float64
	for _, p := range []float64{0.9, 0.8, 0.7, 0.6, 0.4, 0.9, 0.8, 0.7, 0.5, 0.65} {
		want -= math.Log(p)
	}
	assert.InDelta(t, want/10, ll.Candidate, 1e-15)
	assert.InDelta(t, math.Log(2), ll.Champion, 1e-15)
	assert.False(t, ll.HigherIsBetter)

	rh := labels(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
	rc := fixed("cand", ml.Regression, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 12})
	rp := fixed("champ", ml.Regression, []float64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	rep, err = Compare(t.Context(), rc, rp, rh, Options{Replicates: 200}, nil)
	require.NoError(t, err)
	rmse, _ := rep.Metric("rmse")
	mae, _ := rep.Metric("mae")
	r2, _ := rep.Metric("r2")
	assert.InDelta(t, math.Sqrt(4.0/10), rmse.Candidate, 1e-15)
	assert.InDelta(t, 1.0, rmse.Champion, 1e-15)
	assert.InDelta(t, 0.2, mae.Candidate, 1e-15)
	assert.InDelta(t, 1.0, mae.Champion, 1e-15)
	// Total sum of squares of 1..10 around 5.5 is 82.5.
	assert.InDelta(t, 1-4/82.5, r2.Candidate, 1e-15)
	assert.InDelta(t, 1-10/82.5, r2.Champion, 1e-15)
	assert.InDelta(t, math.Sqrt(0.4)-1, rmse.Difference, 1e-15)
}

// TestIntervalMatchesNumpy recomputes every replicate on the same resamples
// with scikit-learn's metrics and the interval with numpy.percentile.
func TestIntervalMatchesNumpy(t *testing.T) {
	py := testenv.Python(t, "numpy", "scipy", "sklearn")
	r := rand.New(rand.NewPCG(7, 7))
	n := 60
	var ys []any
	var pc, ph []float64
	var yi []int
	for i := 0; i < n; i++ {
		y := r.IntN(2)
		yi = append(yi, y)
		ys = append(ys, float64(y))
		pc = append(pc, clamp(0.5+0.3*float64(2*y-1)+0.25*r.NormFloat64()))
		ph = append(ph, clamp(0.5+0.15*float64(2*y-1)+0.25*r.NormFloat64()))
	}
	opt := Options{Replicates: 300, Confidence: 0.9, Seed: 11}
	rep, err := Compare(t.Context(), fixed("cand", ml.Classification, pc), fixed("champ", ml.Classification, ph), labels(ys...), opt, nil)
	require.NoError(t, err)

	var resamples [][]int
	for _, idx := range Resamples(n, opt) {
		resamples = append(resamples, append([]int(nil), idx...))
	}
	in, err := json.Marshal(map[string]any{"y": yi, "cand": pc, "champ": ph, "resamples": resamples, "conf": opt.Confidence})
	require.NoError(t, err)
	script := `
import json, sys, numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, accuracy_score, log_loss, f1_score
d = json.load(sys.stdin)
y = np.array(d["y"]); pc = np.array(d["cand"]); ph = np.array(d["champ"])
R = np.array(d["resamples"])  # replicates x n row indices

def per_replicate(p):
    # Every replicate at once, with numpy: AUC as the Mann-Whitney U over
    # average ranks, the others from their definitions.
    yy, pp = y[R], p[R]
    pred = (pp > 0.5).astype(int)
    npos = yy.sum(axis=1); nneg = yy.shape[1] - npos
    ranks = np.apply_along_axis(rankdata, 1, pp)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * yy).sum(axis=1) - npos * (npos + 1) / 2) / (npos * nneg)
    tp = ((pred == 1) & (yy == 1)).sum(axis=1)
    fp = ((pred == 1) & (yy == 0)).sum(axis=1)
    fn = ((pred == 0) & (yy == 1)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    ll = -np.mean(np.where(yy == 1, np.log(pp), np.log(1 - pp)), axis=1)
    return {"roc_auc": auc, "accuracy": (pred == yy).mean(axis=1), "log_loss": ll, "f1": f1}

# The full-sample figures from scikit-learn itself.
full = {"roc_auc": lambda p: roc_auc_score(y, p), "accuracy": lambda p: accuracy_score(y, p > 0.5),
        "log_loss": lambda p: log_loss(y, np.column_stack([1 - p, p]), labels=[0, 1]),
        "f1": lambda p: f1_score(y, p > 0.5, zero_division=0)}
c, h = per_replicate(pc), per_replicate(ph)
out = {}
for name in ["roc_auc", "accuracy", "log_loss", "f1"]:
    diffs = c[name] - h[name]
    diffs = diffs[~np.isnan(diffs)]
    a = (1 - d["conf"]) / 2
    lo, hi = np.percentile(diffs, [100 * a, 100 * (1 - a)])
    out[name] = {"low": lo, "high": hi, "n": int(len(diffs)), "cand": full[name](pc), "champ": full[name](ph)}
json.dump(out, sys.stdout)
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	require.NoError(t, err)
	var want map[string]struct {
		Low, High, Cand, Champ float64
		N                      int
	}
	require.NoError(t, json.Unmarshal(b, &want))
	for name, w := range want {
		m, ok := rep.Metric(name)
		require.True(t, ok, name)
		assert.InDelta(t, w.Cand, m.Candidate, 1e-12, name)
		assert.InDelta(t, w.Champ, m.Champion, 1e-12, name)
		assert.InDelta(t, w.Low, m.Interval.Low, 1e-12, name)
		assert.InDelta(t, w.High, m.Interval.High, 1e-12, name)
		assert.Equal(t, w.N, m.Interval.Replicates, name)
		assert.Less(t, m.Interval.Low, m.Interval.High, name)
	}
}

func clamp(p float64) float64 { return math.Min(math.Max(p, 0.02), 0.98) }

// synth is a classification frame whose label depends on x1 and x2.
func synth(n int, seed uint64) *ml.Frame {
	r := rand.New(rand.NewPCG(seed, 3))
	f := &ml.Frame{Columns: []string{"x1", "x2", "x3", "y"}}
	for i := 0; i < n; i++ {
		x1, x2, x3 := r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
		y := 0.0
		if x1+0.7*x2+0.6*r.NormFloat64() > 0 {
			y = 1
		}
		f.Rows = append(f.Rows, []any{x1, x2, x3, y})
	}
	return f
}

func train(t *testing.T, f *ml.Frame, p ml.Params) *ml.Model {
	t.Helper()
	m, _, err := ml.Train(t.Context(), f, p, nil)
	require.NoError(t, err)
	return m
}

// TestGate: a candidate trained on shuffled labels fails the gate against
// a sound champion; a sound candidate passes against a weak champion.
func TestGate(t *testing.T) {
	f := synth(1500, 1)
	p := ml.Params{Target: "y", Model: ml.AlgoLogistic, Seed: 5}
	holdout, task, err := ml.Holdout(f, p)
	require.NoError(t, err)
	require.Equal(t, ml.Classification, task)
	h := Holdout{Frame: holdout, Target: "y", Description: "the 20 % held out"}

	sound := FromML(train(t, f, p), "sound")
	shuffled := &ml.Frame{Columns: f.Columns}
	r := rand.New(rand.NewPCG(9, 9))
	perm := r.Perm(f.Len())
	for i, row := range f.Rows {
		shuffled.Rows = append(shuffled.Rows, []any{row[0], row[1], row[2], f.Rows[perm[i]][3]})
	}
	worse := FromML(train(t, shuffled, p), "shuffled")
	// Weak: sees only the noise column x3.
	weak := FromML(train(t, f, ml.Params{Target: "y", Model: ml.AlgoLogistic, Seed: 5, Features: []string{"x3"}}), "weak")

	rules := []Rule{{Metric: "roc_auc", DiffAbove: ptr(-0.005)}, {Metric: "log_loss", DiffBelow: ptr(0.01)}}
	var seen []int
	rep, err := Compare(t.Context(), worse, sound, h, Options{}, func(done, total int) { seen = append(seen, done) })
	require.NoError(t, err)
	assert.Equal(t, 1000, seen[len(seen)-1], "progress reaches the total")
	assert.Len(t, seen, 100)
	v, err := Gate(rep, rules)
	require.NoError(t, err)
	assert.False(t, v.Pass, v.Sentence)
	assert.Contains(t, v.Sentence, "Failed: The 95 % interval of candidate − champion AUC, [−")
	assert.Contains(t, v.Sentence, "does not lie above −0.005")
	auc, _ := rep.Metric("roc_auc")
	assert.Less(t, auc.Interval.High, -0.2, "shuffled labels lose a lot of AUC")

	rep, err = Compare(t.Context(), sound, weak, h, Options{}, nil)
	require.NoError(t, err)
	v, err = Gate(rep, append(rules, Rule{Metric: "roc_auc", MinCandidate: ptr(0.8)}))
	require.NoError(t, err)
	assert.True(t, v.Pass, v.Sentence)
	assert.True(t, strings.HasPrefix(v.Sentence, "Passed: The 95 % interval of candidate − champion AUC, ["), v.Sentence)
	assert.Contains(t, v.Sentence, "Candidate AUC 0.")
	assert.Len(t, v.Checks, 3)

	// No champion: the candidate alone; difference rules do not apply.
	rep, err = Compare(t.Context(), sound, nil, h, Options{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "", rep.Champion)
	v, err = Gate(rep, rules)
	require.NoError(t, err)
	assert.True(t, v.Pass)
	assert.Contains(t, v.Sentence, "No champion to compare AUC with")

	// Same seed, same report: the comparison repeats exactly.
	a, err := Compare(t.Context(), sound, weak, h, Options{Seed: 3, Replicates: 200}, nil)
	require.NoError(t, err)
	b, err := Compare(t.Context(), sound, weak, h, Options{Seed: 3, Replicates: 200}, nil)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

// TestHoldoutIsTheRunsTestSplit: a model scored on ml.Holdout reproduces
// the evaluation Train reported, so the rows are the run's held-out rows.
func TestHoldoutIsTheRunsTestSplit(t *testing.T) {
	f := synth(400, 2)
	for _, p := range []ml.Params{
		{Target: "y", Model: ml.AlgoGBDT, Seed: 8, TestFraction: 0.3, MaxIter: 20},
		{Target: "x1", Model: ml.AlgoLinear, Seed: 4},
	} {
		m, ev, err := ml.Train(t.Context(), f, p, nil)
		require.NoError(t, err)
		hf, _, err := ml.Holdout(f, p)
		require.NoError(t, err)
		rep, err := Compare(t.Context(), FromML(m, "m"), nil, Holdout{Frame: hf, Target: p.Target}, Options{}, nil)
		require.NoError(t, err)
		assert.Equal(t, ev.Rows, rep.Rows)
		for _, mm := range rep.Metrics {
			assert.Equal(t, ev.Metrics[mm.Name], mm.Candidate, mm.Name)
		}
	}
}

// TestImportedGBDT compares an XGBoost and a LightGBM model from the gbdt
// test corpus, scored in-process.
func TestImportedGBDT(t *testing.T) {
	xgb, err := gbdt.ReadXGBoost([]byte(testenv.GBDTModel(t, "xgb_binary.json")))
	require.NoError(t, err)
	lgb, err := gbdt.ReadLightGBM([]byte(testenv.GBDTModel(t, "lgb_binary.txt")))
	require.NoError(t, err)
	require.Equal(t, xgb.Features, lgb.Features)
	names := make([]string, xgb.Features)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	a, err := FromGBDT(xgb, names, "xgb v1")
	require.NoError(t, err)
	b, err := FromGBDT(lgb, names, "lgb v1")
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	f := &ml.Frame{Columns: append(append([]string(nil), names...), "label")}
	for i := 0; i < 200; i++ {
		row := make([]any, len(names)+1)
		x := make([]float64, len(names))
		for j := range names {
			x[j] = r.NormFloat64()
			row[j] = x[j]
		}
		// The truth is the xgb model's own call, so it must win on accuracy.
		out := xgb.Predict(x, 1)
		row[len(names)] = 0.0
		if out[0] > 0.5 {
			row[len(names)] = 1.0
		}
		f.Rows = append(f.Rows, row)
	}
	rep, err := Compare(t.Context(), a, b, Holdout{Frame: f, Target: "label"}, Options{Replicates: 100}, nil)
	require.NoError(t, err)
	acc, _ := rep.Metric("accuracy")
	assert.Equal(t, 1.0, acc.Candidate)

	f.Rows[3][0] = "abc"
	_, err = Compare(t.Context(), a, b, Holdout{Frame: f, Target: "label"}, Options{Replicates: 100}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Row 4, column "f0": "abc" is not a number`)
}

// TestRefusals: bad input is refused with a sentence.
func TestRefusals(t *testing.T) {
	cls := fixed("cand", ml.Classification, make([]float64, 10))
	reg := fixed("champ", ml.Regression, make([]float64, 10))
	ten := labels(0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0)
	cases := []struct {
		name     string
		cand, ch *Model
		h        Holdout
		opt      Options
		want     string
	}{
		{"tasks", cls, reg, ten, Options{}, "cand is a classification model and champ a regression one"},
		{"few rows", cls, nil, labels(0.0, 1.0), Options{}, "The holdout has 2 rows; a comparison needs at least 10."},
		{"no target", cls, nil, Holdout{Frame: ten.Frame, Target: "label"}, Options{}, `The holdout has no column "label"`},
		{"unknown class", cls, nil, labels(0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0), Options{}, `Row 3 of the holdout is of class "2", which cand does not know (it knows 0, 1).`},
		{"one class", cls, nil, labels(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), Options{}, `Every holdout row is of class "1"`},
		{"missing label", cls, nil, labels(0.0, nil, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0), Options{}, `Row 2 of the holdout has no value in "y".`},
		{"text target", reg, nil, labels(0.0, "a", 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0), Options{}, `Row 2 of the holdout has no number in "y" ("a").`},
		{"replicates", cls, nil, ten, Options{Replicates: 5}, "Replicates must be between 100 and 100 000 (got 5)."},
		{"confidence", cls, nil, ten, Options{Confidence: 1.5}, "Confidence must be between 0.5 and 0.999"},
		{"no candidate", nil, nil, ten, Options{}, "There is no candidate model to evaluate."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compare(t.Context(), c.cand, c.ch, c.h, c.opt, nil)
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			assert.Contains(t, err.Error(), c.want)
		})
	}
	three := &Model{Label: "abc", Task: ml.Classification, Classes: []string{"0", "1", "2"}}
	_, err := Compare(t.Context(), cls, three, ten, Options{}, nil)
	assert.ErrorContains(t, err, "cand predicts the classes 0, 1 and abc the classes 0, 1, 2; they do not predict the same thing.")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Compare(ctx, cls, fixed("c2", ml.Classification, make([]float64, 10)), ten, Options{}, nil)
	assert.ErrorContains(t, err, "The comparison was cancelled after 0 of 1000 resamples.")

	rep, err := Compare(t.Context(), cls, nil, ten, Options{}, nil)
	require.NoError(t, err)
	for _, c := range []struct {
		rules []Rule
		want  string
	}{
		{nil, "The gate has no rules"},
		{[]Rule{{Metric: "rmse", MaxCandidate: ptr(1)}}, `Gate rule 1 names metric "rmse", which a classification comparison does not report (it reports roc_auc, accuracy, log_loss, f1).`},
		{[]Rule{{Metric: "f1"}}, "Gate rule 1 on f1 sets no bound"},
		{[]Rule{{Metric: "f1", DiffAbove: ptr(math.NaN())}}, "not a finite number"},
	} {
		_, err := Gate(rep, c.rules)
		assert.ErrorContains(t, err, c.want)
	}
}

// TestLoadRefusesPickles: a pickled Python model is described, never
// scored.
func TestLoadRefusesPickles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "MLmodel"), []byte("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n"), 0o644))
	_, err := Load(dir, "churn v2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "churn v2 is a pickled Python model (sklearn flavor); Tern does not run Python")

	_, err = Load(t.TempDir(), "churn v3")
	assert.Error(t, err)
}
