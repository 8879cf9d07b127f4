package ml

import (
	"context"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// Reporter receives live training metrics (key, value, step).
type Reporter func(key string, value float64, step int)

// minRows is the fewest labelled rows Train accepts: below it a held-out
// split says nothing.
const minRows = 10

// Train fits the model params asks for on f, holding out a stratified test
// split for evaluation. The preprocessing is fitted on the training rows
// only and saved inside the model. With params.Refit the model returned is
// fitted again on every labelled row once the evaluation is done; the
// evaluation is still the split model's, the only honest figure.
func Train(ctx context.Context, f *Frame, params Params, report Reporter) (*Model, *Evaluation, error) {
	return trainSplit(ctx, f, nil, params, report)
}

// TrainWithTest trains on every row of train and evaluates on test (same
// columns), for comparisons that must use one fixed split.
func TrainWithTest(ctx context.Context, train, test *Frame, params Params, report Reporter) (*Model, *Evaluation, error) {
	if test == nil || test.Len() == 0 {
		return nil, nil, core.Errorf(core.Invalid, "The test file has no rows.")
	}
	return trainSplit(ctx, train, test, params, report)
}

// Holdout returns the rows Train holds out of f for params — the same rows,
// picked by the same seeded, class-stratified split — with f's columns, so
// another model can be scored on exactly what a run was tested on. The task
// Train would infer is returned beside them.
func Holdout(f *Frame, params Params) (*Frame, string, error) {
	p, err := params.WithDefaults()
	if err != nil {
		return nil, "", err
	}
	d, err := labelRows(f, nil, p)
	if err != nil {
		return nil, "", err
	}
	_, testRows := d.split(p)
	out := &Frame{Columns: f.Columns, Kinds: f.Kinds, Rows: make([][]any, len(testRows))}
	for i, r := range testRows {
		out.Rows[i] = d.rows.Rows[r]
	}
	return out, d.task, nil
}

// labelled is f's rows that have a target, with the target coded: class
// indices (yi) for classification, numbers (yf) for regression.
type labelled struct {
	rows     *Frame
	nTrain   int // rows before nTrain come from the training file, after it from the test file
	features []string
	task     string
	classes  []string
	numeric  bool
	yi       []int
	yf       []float64
}

// labelRows checks the target and features, drops rows without a target,
// appends test's rows when given, infers the task and codes the target.
func labelRows(f, test *Frame, p Params) (*labelled, error) {
	ti := f.Column(p.Target)
	if ti < 0 {
		return nil, core.Errorf(core.Invalid, "The data has no column %q to predict (columns: %v).", p.Target, f.Columns)
	}
	features := p.Features
	if len(features) == 0 {
		for _, c := range f.Columns {
			if c != p.Target {
				features = append(features, c)
			}
		}
	}
	for _, c := range features {
		if c == p.Target {
			return nil, core.Errorf(core.Invalid, "The target %q cannot also be a feature.", c)
		}
		if f.Column(c) < 0 {
			return nil, core.Errorf(core.Invalid, "The data has no feature column %q.", c)
		}
	}
	// Rows without a target cannot teach anything; drop them.
	rows := &Frame{Columns: f.Columns, Kinds: f.Kinds}
	for _, row := range f.Rows {
		if ti < len(row) && !f.missing(row[ti]) {
			rows.Rows = append(rows.Rows, row)
		}
	}
	d := &labelled{rows: rows, nTrain: len(rows.Rows), features: features, task: p.Task}
	if test != nil {
		// Test rows follow the training rows, their columns put in the
		// training file's order.
		idx := make([]int, len(f.Columns))
		for j, c := range f.Columns {
			if idx[j] = test.Column(c); idx[j] < 0 {
				return nil, core.Errorf(core.Invalid, "The test file has no column %q.", c)
			}
		}
		for _, row := range test.Rows {
			r := make([]any, len(idx))
			for j, k := range idx {
				r[j] = row[k]
			}
			if !test.missing(r[ti]) {
				rows.Rows = append(rows.Rows, r)
			}
		}
	}
	n := len(rows.Rows)
	if n < minRows {
		return nil, core.Errorf(core.Invalid, "Only %d rows have a value in %q; training needs at least %d.", n, p.Target, minRows)
	}

	// A target the schema calls categorical is classes even when its
	// values are digits.
	numericTarget := f.kind(ti) != Categorical
	distinct := map[string]bool{}
	for _, row := range rows.Rows {
		s := asString(row[ti])
		distinct[s] = true
		if _, ok := asFloat(row[ti]); !ok {
			numericTarget = false
		}
	}
	if d.task == "" {
		d.task = InferTask(p.Model, numericTarget, distinct)
	}

	if d.task == Classification {
		if len(distinct) < 2 {
			return nil, core.Errorf(core.Invalid, "Column %q has a single value; a classifier needs at least two classes.", p.Target)
		}
		if len(distinct) > 100 {
			return nil, core.Errorf(core.Invalid, "Column %q has %d distinct values, too many classes; choose regression or another target.", p.Target, len(distinct))
		}
		d.numeric = numericTarget
		for c := range distinct {
			d.classes = append(d.classes, c)
		}
		sort.Slice(d.classes, func(a, b int) bool {
			if numericTarget {
				x, _ := strconv.ParseFloat(d.classes[a], 64)
				y, _ := strconv.ParseFloat(d.classes[b], 64)
				return x < y
			}
			return d.classes[a] < d.classes[b]
		})
		code := map[string]int{}
		for i, c := range d.classes {
			code[c] = i
		}
		d.yi = make([]int, n)
		for i, row := range rows.Rows {
			d.yi[i] = code[asString(row[ti])]
		}
	} else {
		if !numericTarget {
			return nil, core.Errorf(core.Invalid, "Column %q is not numeric, so it cannot be a regression target.", p.Target)
		}
		d.yf = make([]float64, n)
		for i, row := range rows.Rows {
			d.yf[i], _ = asFloat(row[ti])
			if math.IsInf(d.yf[i], 0) {
				return nil, core.Errorf(core.Invalid, "Row %d: the target %q is infinite.", i+1, p.Target)
			}
		}
	}
	return d, nil
}

// InferTask is the task Train picks when none is given: the model decides
// when it does only one; otherwise a non-numeric target, or a numeric one
// with at most 10 distinct whole values (0/1 included), is classification.
func InferTask(model string, numericTarget bool, distinct map[string]bool) string {
	switch {
	case model == AlgoLogistic:
		return Classification
	case model == AlgoLinear:
		return Regression
	case !numericTarget || (len(distinct) <= 10 && allIntegers(distinct)):
		return Classification
	}
	return Regression
}

// split is the training and test row indices: the test file's rows when
// one was given, else a seeded split stratified by class.
func (d *labelled) split(p Params) (trainRows, testRows []int32) {
	all := make([]int32, len(d.rows.Rows))
	for i := range all {
		all[i] = int32(i)
	}
	if d.nTrain < len(all) {
		return all[:d.nTrain], all[d.nTrain:]
	}
	var strata []int
	if d.task == Classification {
		strata = d.yi
	}
	return splitRows(all, p.TestFraction, strata, p.Seed)
}

func trainSplit(ctx context.Context, f, test *Frame, params Params, report Reporter) (*Model, *Evaluation, error) {
	if report == nil {
		report = func(string, float64, int) {}
	}
	p, err := params.WithDefaults()
	if err != nil {
		return nil, nil, err
	}
	d, err := labelRows(f, test, p)
	if err != nil {
		return nil, nil, err
	}
	trainRows, testRows := d.split(p)
	m, X, err := d.fit(ctx, p, trainRows, report)
	if err != nil {
		return nil, nil, err
	}
	width := m.Prep.Width()
	xs := subsetRows(X, width, testRows)
	var ev *Evaluation
	if m.Task == Classification {
		ev = EvaluateClassifier(m.Classes, d.classesOf(testRows), m.predictProba(xs, len(testRows), width))
	} else {
		ev = EvaluateRegressor(d.valuesOf(testRows), m.predictValues(xs, len(testRows), width))
	}
	if p.Refit && test == nil {
		// Refit: the same recipe on every labelled row, so the model that
		// is deployed has also learned from the held-out rows. Its curves
		// are not reported: they would overwrite the split model's.
		all := append(append([]int32(nil), trainRows...), testRows...)
		sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
		m, _, err = d.fit(ctx, p, all, nil)
		if err != nil {
			return nil, nil, err
		}
		report("refit_rows", float64(len(all)), 0)
	}
	return m, ev, nil
}

func (d *labelled) classesOf(rows []int32) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = d.yi[r]
	}
	return out
}

func (d *labelled) valuesOf(rows []int32) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = d.yf[r]
	}
	return out
}

// fit fits the preprocessing and the estimator on trainRows and returns
// the model with every labelled row transformed (for scoring the rest).
func (d *labelled) fit(ctx context.Context, p Params, trainRows []int32, report Reporter) (*Model, []float64, error) {
	if report == nil {
		report = func(string, float64, int) {}
	}
	m := &Model{Format: FormatName, Version: FormatVersion, Algorithm: p.Model, Target: p.Target, CreatedAt: time.Now().UTC(),
		Task: d.task, Classes: d.classes, NumericClasses: d.numeric}
	trainFrame := &Frame{Columns: d.rows.Columns, Kinds: d.rows.Kinds, Rows: make([][]any, len(trainRows))}
	for i, r := range trainRows {
		trainFrame.Rows[i] = d.rows.Rows[r]
	}
	var err error
	linear := p.Model != AlgoGBDT
	m.Prep, err = FitPreprocessor(trainFrame, d.features, linear, linear)
	if err != nil {
		return nil, nil, err
	}
	X, err := m.Prep.Transform(d.rows)
	if err != nil {
		return nil, nil, err
	}
	width := m.Prep.Width()
	n := len(d.rows.Rows)
	xs := subsetRows(X, width, trainRows)

	switch p.Model {
	case AlgoLogistic:
		m.Linear, err = fitLogistic(ctx, xs, d.classesOf(trainRows), len(trainRows), width, len(m.Classes), p.C, p.MaxIter,
			func(step int, loss float64) { report("train_loss", loss, step) })
	case AlgoLinear:
		yr := d.valuesOf(trainRows)
		m.Linear, err = fitRidge(xs, yr, len(trainRows), width, p.Alpha)
		if err == nil {
			pred := m.Linear.values(xs, len(trainRows), width)
			report("train_rmse", EvaluateRegressor(yr, pred).Metrics["rmse"], 1)
		}
	case AlgoGBDT:
		var strata []int
		if d.task == Classification {
			strata = d.yi
		}
		fitRows, valRows := append([]int32(nil), trainRows...), []int32(nil)
		early := p.EarlyStopping == "on" || (p.EarlyStopping == "auto" && len(trainRows) > 10000)
		if early {
			fitRows, valRows = splitRows(trainRows, p.ValidationFraction, strata, p.Seed+1)
		}
		cfg := gbdtConfig{
			LearningRate: p.LearningRate, MaxIter: p.MaxIter, MaxLeafNodes: p.MaxLeafNodes, MaxDepth: p.MaxDepth,
			MinSamplesLeaf: p.MinSamplesLeaf, L2: p.L2Regularization, MaxBins: p.MaxBins,
			EarlyStopping: early, NIterNoChange: p.NIterNoChange, Tol: 1e-7,
		}
		bt := boostTarget{task: m.Task, classes: len(m.Classes), yi: d.yi, yf: d.yf}
		m.GBDT, err = fitGBDT(ctx, X, n, width, bt, fitRows, valRows, cfg, p.Seed, func(step int, tr, val float64) {
			report("train_loss", tr, step)
			if !math.IsNaN(val) {
				report("val_loss", val, step)
			}
		})
		if err == nil {
			report("n_iter", float64(len(m.GBDT.Trees)), 0)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	m.Params = p
	return m, X, nil
}

func allIntegers(vals map[string]bool) bool {
	for v := range vals {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x != math.Trunc(x) {
			return false
		}
	}
	return true
}
