package evaluate

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Model is a model ready to be scored on a holdout, in-process.
type Model struct {
	// Label names the model in sentences ("churn v3").
	Label string
	// Task is ml.Classification or ml.Regression.
	Task string
	// Classes are a classifier's labels, in the order of its probabilities.
	Classes []string
	// Refit says the model was fitted again on all rows of its training
	// data after its evaluation (ml.Params.Refit), so it has seen its own
	// held-out rows.
	Refit bool
	// score returns n×len(Classes) probabilities (row-major) for a
	// classifier, n values for a regressor.
	score func(f *ml.Frame) ([]float64, error)
}

// FromML wraps a built-in model.
func FromML(m *ml.Model, label string) *Model {
	out := &Model{Label: label, Task: m.Task, Classes: m.Classes, Refit: m.Params.Refit}
	out.score = func(f *ml.Frame) ([]float64, error) {
		preds, err := m.PredictFrame(f)
		if err != nil {
			return nil, err
		}
		w := 1
		if m.Task == ml.Classification {
			w = len(m.Classes)
		}
		vals := make([]float64, len(preds)*w)
		for i, p := range preds {
			if w == 1 {
				vals[i] = p.Value
			} else {
				copy(vals[i*w:(i+1)*w], p.Probabilities)
			}
		}
		return vals, nil
	}
	return out
}

// FromGBDT wraps an XGBoost or LightGBM model reading the named input
// columns in order. Its task follows its objective: binary and multi-class
// probability objectives are classifiers over the classes 0..k−1 (what
// their training labels were), regression objectives regressors; objectives
// that give no probability (multi:softmax, hinge, raw margins, ranking) are
// refused, since AUC and log loss need one.
func FromGBDT(g *gbdt.Model, inputs []string, label string) (*Model, error) {
	if len(inputs) != g.Features {
		return nil, core.Errorf(core.Invalid, "%s reads %d features but its signature names %d columns.", label, g.Features, len(inputs))
	}
	out := &Model{Label: label}
	obj := strings.SplitN(g.Objective, " ", 2)[0]
	switch {
	case obj == "binary:logistic" || obj == "reg:logistic" && g.Outputs == 1 || obj == "binary" || obj == "cross_entropy" || obj == "xentropy":
		out.Task, out.Classes = ml.Classification, []string{"0", "1"}
	case (obj == "multi:softprob" || obj == "multiclass" || obj == "softmax" || obj == "multiclassova" || obj == "multiclass_ova" || obj == "ova" || obj == "ovr") && g.Outputs > 1:
		out.Task = ml.Classification
		for c := 0; c < g.Outputs; c++ {
			out.Classes = append(out.Classes, strconv.Itoa(c))
		}
	case strings.HasPrefix(obj, "reg:") || strings.HasPrefix(obj, "regression") || obj == "huber" || obj == "fair" ||
		obj == "poisson" || obj == "gamma" || obj == "tweedie" || obj == "quantile" || obj == "mape" || obj == "count:poisson":
		out.Task = ml.Regression
	default:
		return nil, core.Errorf(core.Invalid, "%s (%s objective %q) gives no probabilities or values to compare; Tern compares classifiers with probability objectives and regressors.", label, g.Kind, g.Objective)
	}
	out.score = func(f *ml.Frame) ([]float64, error) {
		idx := make([]int, len(inputs))
		for j, name := range inputs {
			if idx[j] = f.Column(name); idx[j] < 0 {
				return nil, core.Errorf(core.Invalid, "The holdout has no column %q, which %s reads.", name, label)
			}
		}
		n, nf := f.Len(), g.Features
		x := make([]float64, n*nf)
		for r, row := range f.Rows {
			for j, k := range idx {
				v, err := number(row[k])
				if err != nil {
					return nil, core.Errorf(core.Invalid, "Row %d, column %q: %s, and %s reads numbers only.", r+1, inputs[j], err.Error(), label)
				}
				x[r*nf+j] = v
			}
		}
		pred := g.Predict(x, n)
		if out.Task == ml.Classification && g.Outputs == 1 {
			proba := make([]float64, 2*n)
			for r := 0; r < n; r++ {
				proba[2*r], proba[2*r+1] = 1-pred[r], pred[r]
			}
			return proba, nil
		}
		return pred, nil
	}
	return out, nil
}

// number reads a frame value as a tree model's feature: missing is NaN.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		return x, nil
	case json.Number:
		return x.Float64()
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return math.NaN(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, core.Errorf(core.Invalid, "%q is not a number", clip(s))
		}
		return f, nil
	}
	return 0, core.Errorf(core.Invalid, "a %T is not a number", v)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Load reads a model directory (a registered version's) for scoring. A
// pickled Python model is refused in words: Tern never unpickles.
func Load(dir, label string) (*Model, error) {
	m, err := modelfmt.Inspect(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Pickle:
		return nil, core.Errorf(core.Invalid, "%s is a pickled Python model (%s flavor); Tern does not run Python, so it cannot score it for a comparison. Save it as XGBoost JSON or LightGBM text, or train it with a built-in model.", label, m.Flavor)
	case m.ML != nil:
		return FromML(m.ML, label), nil
	case m.GBDT != nil:
		names := make([]string, len(m.Signature.Inputs))
		for i, c := range m.Signature.Inputs {
			names[i] = c.Name
		}
		return FromGBDT(m.GBDT, names, label)
	}
	return nil, core.Errorf(core.Invalid, "%s has no model Tern can score.", label)
}

// classIndex maps a holdout label onto one of classes: the same string,
// or the same number ("1" and "1.0", 1 and "1").
func classIndex(classes []string, v string) int {
	for i, c := range classes {
		if c == v {
			return i
		}
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return -1
	}
	for i, c := range classes {
		if y, err := strconv.ParseFloat(c, 64); err == nil && y == x {
			return i
		}
	}
	return -1
}
