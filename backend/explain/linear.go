package explain

import (
	"github.com/tern-studio/tern/backend/core"
)

// Linear is a linear model on a transformed matrix (one-hot indicators,
// standardised numbers), explained per source column.
//
// Its SHAP values are interventional, as shap's LinearExplainer computes
// them with a background data set and feature_perturbation="interventional":
// the contribution of matrix column j is w_j·(z_j − mean_j), with Means the
// background's column means (Tern passes the training rows; shap given a
// bare array keeps a sample of 100 of them, given a masker with max_samples
// every one, which is what the exactness test does), and the base
// value is b + Σ w_j·mean_j. Group[j] names the source column matrix column
// j came from, so the indicator columns of a one-hot group are summed back
// into one contribution for their column (exact: SHAP values of a group are
// the sum of its members' for an additive model).
type Linear struct {
	// Weights[o] are output o's weights over the matrix columns; Bias[o]
	// its intercept.
	Weights [][]float64
	Bias    []float64
	Means   []float64
	Group   []int
	// Columns is the number of source columns.
	Columns int
	Link    string
}

// Validate checks the shapes.
func (l *Linear) Validate() error {
	w := len(l.Means)
	if len(l.Weights) == 0 || len(l.Bias) != len(l.Weights) || len(l.Group) != w || l.Columns <= 0 {
		return core.Errorf(core.Invalid, "The linear model cannot be explained: its weights, means and column groups do not match.")
	}
	for _, ws := range l.Weights {
		if len(ws) != w {
			return core.Errorf(core.Invalid, "The linear model cannot be explained: it has %d weights for %d matrix columns.", len(ws), w)
		}
	}
	for _, g := range l.Group {
		if g < 0 || g >= l.Columns {
			return core.Errorf(core.Invalid, "The linear model cannot be explained: a matrix column belongs to column %d of %d.", g, l.Columns)
		}
	}
	return nil
}

// ExpectedValue is b + Σ w·mean per output.
func (l *Linear) ExpectedValue() []float64 {
	out := make([]float64, len(l.Weights))
	for o, ws := range l.Weights {
		out[o] = l.Bias[o]
		for j, w := range ws {
			out[o] += w * l.Means[j]
		}
	}
	return out
}

// SHAP explains n rows of the transformed matrix Z (row-major, len(Means)
// columns each).
func (l *Linear) SHAP(Z []float64, n int) (*Explanation, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	w := len(l.Means)
	if len(Z) != n*w {
		return nil, core.Errorf(core.Invalid, "The rows to explain have %d values, expected %d rows × %d columns.", len(Z), n, w)
	}
	k, f := len(l.Weights), l.Columns
	out := &Explanation{Base: l.ExpectedValue(), Values: make([]float64, n*k*f), Rows: n, Outputs: k, Features: f, Link: l.Link}
	for r := 0; r < n; r++ {
		z := Z[r*w : (r+1)*w]
		for o, ws := range l.Weights {
			phi := out.Row(r, o)
			for j, wj := range ws {
				phi[l.Group[j]] += wj * (z[j] - l.Means[j])
			}
		}
	}
	return out, nil
}

// Margin is b + w·z per output for one transformed row.
func (l *Linear) Margin(z []float64) []float64 {
	out := make([]float64, len(l.Weights))
	for o, ws := range l.Weights {
		out[o] = l.Bias[o]
		for j, w := range ws {
			out[o] += w * z[j]
		}
	}
	return out
}
