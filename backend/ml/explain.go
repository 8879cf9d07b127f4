package ml

import (
	"context"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
)

// link names how the model maps its margin to its output.
func (m *Model) link() string {
	if m.Task == Regression {
		return explain.LinkIdentity
	}
	if len(m.Classes) == 2 {
		return explain.LinkLogit // margin = log-odds of Classes[1]
	}
	return explain.LinkSoftmax
}

// Ensemble returns the built-in GBDT as a backend/explain ensemble over the
// model's input columns (trees split on ordinal codes of categorical
// columns, so each column is one feature).
func (g *GBDT) ensemble(features int, link string) (*explain.Ensemble, error) {
	e := &explain.Ensemble{Base: append([]float64(nil), g.Baseline...), Features: features, Link: link}
	for _, it := range g.Trees {
		for k := range it {
			t := &it[k]
			if len(t.Cover) != len(t.Feature) {
				return nil, core.Errorf(core.Invalid, "This model was trained before Tern kept node statistics, so it cannot be explained; train it again to explain it.")
			}
			left := make([]int32, len(t.Left))
			for i := range left {
				left[i] = t.Left[i]
				if t.Feature[i] < 0 {
					left[i] = -1
				}
			}
			e.Trees = append(e.Trees, explain.Tree{
				Left: left, Right: t.Right, Feature: t.Feature, Value: t.Value, Cover: t.Cover, Output: k,
				GoesLeft: func(n int32, x []float64) bool { return x[t.Feature[n]] <= t.Threshold[n] },
			})
		}
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// TreeEnsemble returns the built-in GBDT as a backend/explain ensemble over
// the columns Prep.Transform gives, with the model's link and input names;
// a model that is not a GBDT has none. Build it once and keep it: the
// serving endpoint explains each request with the same ensemble.
func (m *Model) TreeEnsemble() (*explain.Ensemble, error) {
	if m.GBDT == nil {
		return nil, core.Errorf(core.Invalid, "This model is not a tree ensemble.")
	}
	e, err := m.GBDT.ensemble(m.Prep.Width(), m.link())
	if err != nil {
		return nil, err
	}
	e.Names = m.InputNames()
	return e, nil
}

// Explain gives the SHAP values of f's rows per input column, in margin
// space: path-dependent TreeSHAP for the GBDT, interventional linear SHAP
// for logistic and linear models with background's column means (of the
// fitted preprocessing's output) as the expected value — pass the training
// rows, as shap's LinearExplainer is given them. One-hot indicator columns
// are summed back into their source column.
func (m *Model) Explain(ctx context.Context, f, background *Frame) (*explain.Explanation, error) {
	X, err := m.Prep.Transform(f)
	if err != nil {
		return nil, err
	}
	names := m.InputNames()
	n := len(f.Rows)
	if m.GBDT != nil {
		e, err := m.TreeEnsemble()
		if err != nil {
			return nil, err
		}
		return e.SHAP(ctx, X, n, 0)
	}
	l, err := m.linearExplainer(background)
	if err != nil {
		return nil, err
	}
	out, err := l.SHAP(X, n)
	if err != nil {
		return nil, err
	}
	out.Names = names
	return out, nil
}

func (m *Model) linearExplainer(background *Frame) (*explain.Linear, error) {
	if m.Linear == nil {
		return nil, core.Errorf(core.Invalid, "This model has no estimator Tern can explain.")
	}
	if background == nil || len(background.Rows) == 0 {
		return nil, core.Errorf(core.Invalid, "Explaining a linear model needs background rows (the training data) for its expected value.")
	}
	B, err := m.Prep.Transform(background)
	if err != nil {
		return nil, err
	}
	w, nb := m.Prep.Width(), len(background.Rows)
	means := make([]float64, w)
	for r := 0; r < nb; r++ {
		for j := 0; j < w; j++ {
			means[j] += B[r*w+j]
		}
	}
	for j := range means {
		means[j] /= float64(nb)
	}
	group := make([]int, 0, w)
	for i, ft := range m.Prep.Features {
		k := 1
		if ft.Kind == Categorical && m.Prep.OneHot {
			k = len(ft.Categories)
		}
		for ; k > 0; k-- {
			group = append(group, i)
		}
	}
	return &explain.Linear{Weights: m.Linear.Weights, Bias: m.Linear.Bias, Means: means, Group: group, Columns: len(m.Prep.Features), Link: m.link()}, nil
}

// Margins returns the model's raw scores of f's rows (n × outputs): what
// Explain's base value plus contributions add up to.
func (m *Model) Margins(f *Frame) ([]float64, error) {
	X, err := m.Prep.Transform(f)
	if err != nil {
		return nil, err
	}
	n, p := len(f.Rows), m.Prep.Width()
	if m.GBDT != nil {
		return m.GBDT.raw(X, n, p), nil
	}
	return m.Linear.scores(X, n, p), nil
}
