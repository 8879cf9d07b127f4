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
// only and saved inside the model.
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

func trainSplit(ctx context.Context, f, test *Frame, params Params, report Reporter) (*Model, *Evaluation, error) {
	if report == nil {
		report = func(string, float64, int) {}
	}
	p, err := params.WithDefaults()
	if err != nil {
		return nil, nil, err
	}
	ti := f.Column(p.Target)
	if ti < 0 {
		return nil, nil, core.Errorf(core.Invalid, "The data has no column %q to predict (columns: %v).", p.Target, f.Columns)
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
			return nil, nil, core.Errorf(core.Invalid, "The target %q cannot also be a feature.", c)
		}
		if f.Column(c) < 0 {
			return nil, nil, core.Errorf(core.Invalid, "The data has no feature column %q.", c)
		}
	}
	// Rows without a target cannot teach anything; drop them.
	labelled := &Frame{Columns: f.Columns, Kinds: f.Kinds}
	for _, row := range f.Rows {
		if ti < len(row) && !f.missing(row[ti]) {
			labelled.Rows = append(labelled.Rows, row)
		}
	}
	nTrain := len(labelled.Rows)
	if test != nil {
		// Test rows follow the training rows, their columns put in the
		// training file's order.
		idx := make([]int, len(f.Columns))
		for j, c := range f.Columns {
			if idx[j] = test.Column(c); idx[j] < 0 {
				return nil, nil, core.Errorf(core.Invalid, "The test file has no column %q.", c)
			}
		}
		for _, row := range test.Rows {
			r := make([]any, len(idx))
			for j, k := range idx {
				r[j] = row[k]
			}
			if !test.missing(r[ti]) {
				labelled.Rows = append(labelled.Rows, r)
			}
		}
	}
	n := len(labelled.Rows)
	if n < minRows {
		return nil, nil, core.Errorf(core.Invalid, "Only %d rows have a value in %q; training needs at least %d.", n, p.Target, minRows)
	}

	m := &Model{Format: FormatName, Version: FormatVersion, Algorithm: p.Model, Target: p.Target, CreatedAt: time.Now().UTC()}
	m.Task = p.Task
	// A target the schema calls categorical is classes even when its
	// values are digits.
	numericTarget := f.kind(ti) != Categorical
	distinct := map[string]bool{}
	for _, row := range labelled.Rows {
		s := asString(row[ti])
		distinct[s] = true
		if _, ok := asFloat(row[ti]); !ok {
			numericTarget = false
		}
	}
	if m.Task == "" {
		switch {
		case p.Model == AlgoLogistic:
			m.Task = Classification
		case p.Model == AlgoLinear:
			m.Task = Regression
		case !numericTarget || (len(distinct) <= 10 && allIntegers(distinct)):
			m.Task = Classification
		default:
			m.Task = Regression
		}
	}

	var yi []int
	var yf []float64
	var strata []int
	if m.Task == Classification {
		if len(distinct) < 2 {
			return nil, nil, core.Errorf(core.Invalid, "Column %q has a single value; a classifier needs at least two classes.", p.Target)
		}
		if len(distinct) > 100 {
			return nil, nil, core.Errorf(core.Invalid, "Column %q has %d distinct values, too many classes; choose regression or another target.", p.Target, len(distinct))
		}
		m.NumericClasses = numericTarget
		for c := range distinct {
			m.Classes = append(m.Classes, c)
		}
		sort.Slice(m.Classes, func(a, b int) bool {
			if numericTarget {
				x, _ := strconv.ParseFloat(m.Classes[a], 64)
				y, _ := strconv.ParseFloat(m.Classes[b], 64)
				return x < y
			}
			return m.Classes[a] < m.Classes[b]
		})
		code := map[string]int{}
		for i, c := range m.Classes {
			code[c] = i
		}
		yi = make([]int, n)
		for i, row := range labelled.Rows {
			yi[i] = code[asString(row[ti])]
		}
		strata = yi
	} else {
		if !numericTarget {
			return nil, nil, core.Errorf(core.Invalid, "Column %q is not numeric, so it cannot be a regression target.", p.Target)
		}
		yf = make([]float64, n)
		for i, row := range labelled.Rows {
			yf[i], _ = asFloat(row[ti])
			if math.IsInf(yf[i], 0) {
				return nil, nil, core.Errorf(core.Invalid, "Row %d: the target %q is infinite.", i+1, p.Target)
			}
		}
	}

	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}
	trainRows, testRows := all[:nTrain], all[nTrain:]
	if test == nil {
		trainRows, testRows = splitRows(all, p.TestFraction, strata, p.Seed)
	}
	trainFrame := &Frame{Columns: labelled.Columns, Kinds: labelled.Kinds, Rows: make([][]any, len(trainRows))}
	for i, r := range trainRows {
		trainFrame.Rows[i] = labelled.Rows[r]
	}
	linear := p.Model != AlgoGBDT
	m.Prep, err = FitPreprocessor(trainFrame, features, linear, linear)
	if err != nil {
		return nil, nil, err
	}
	X, err := m.Prep.Transform(labelled)
	if err != nil {
		return nil, nil, err
	}
	width := m.Prep.Width()
	sub := func(rows []int32) ([]float64, []int, []float64) {
		xs := subsetRows(X, width, rows)
		var ys []int
		var yr []float64
		for _, r := range rows {
			if yi != nil {
				ys = append(ys, yi[r])
			} else {
				yr = append(yr, yf[r])
			}
		}
		return xs, ys, yr
	}

	switch p.Model {
	case AlgoLogistic:
		xs, ys, _ := sub(trainRows)
		m.Linear, err = fitLogistic(ctx, xs, ys, len(trainRows), width, len(m.Classes), p.C, p.MaxIter,
			func(step int, loss float64) { report("train_loss", loss, step) })
	case AlgoLinear:
		xs, _, yr := sub(trainRows)
		m.Linear, err = fitRidge(xs, yr, len(trainRows), width, p.Alpha)
		if err == nil {
			pred := m.Linear.values(xs, len(trainRows), width)
			report("train_rmse", EvaluateRegressor(yr, pred).Metrics["rmse"], 1)
		}
	case AlgoGBDT:
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
		bt := boostTarget{task: m.Task, classes: len(m.Classes), yi: yi, yf: yf}
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

	xs, ys, yr := sub(testRows)
	var ev *Evaluation
	if m.Task == Classification {
		ev = EvaluateClassifier(m.Classes, ys, m.predictProba(xs, len(testRows), width))
	} else {
		ev = EvaluateRegressor(yr, m.predictValues(xs, len(testRows), width))
	}
	return m, ev, nil
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
