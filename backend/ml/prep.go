package ml

import (
	"math"
	"sort"

	"github.com/tern-studio/tern/backend/core"
)

// Feature kinds. A column is numeric when every present value parses as a
// number in the training data; otherwise it is categorical.
const (
	Numeric     = "numeric"
	Categorical = "categorical"
)

// maxCategories keeps the most frequent categories of a column; rarer and
// unseen ones share the "other" slot, so a high-cardinality ID column
// cannot blow up the model.
const maxCategories = 64

// Feature is one input column and the transform fitted for it.
type Feature struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Numeric: missing values become Median; scaled with Mean/Std when the
	// preprocessor scales.
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	// Categorical: Categories[i] is code i, most frequent first.
	Categories []string `json:"categories,omitempty"`
}

// Preprocessor turns a raw frame into a dense numeric matrix, exactly the
// same way in training and serving.
type Preprocessor struct {
	Features []Feature `json:"features"`
	// OneHot encodes categories as indicator columns (linear models);
	// otherwise as one ordinal code column (trees).
	OneHot bool `json:"one_hot"`
	// Scale standardises numeric columns (linear models).
	Scale bool `json:"scale"`
}

// FitPreprocessor learns the transform of the named columns of f.
func FitPreprocessor(f *Frame, columns []string, oneHot, scale bool) (*Preprocessor, error) {
	p := &Preprocessor{OneHot: oneHot, Scale: scale}
	for _, name := range columns {
		j := f.Column(name)
		if j < 0 {
			return nil, core.Errorf(core.Invalid, "The data has no column %q.", name)
		}
		p.Features = append(p.Features, fitFeature(f, j, name))
	}
	if len(p.Features) == 0 {
		return nil, core.Errorf(core.Invalid, "There are no feature columns to train on besides the target.")
	}
	return p, nil
}

func fitFeature(f *Frame, j int, name string) Feature {
	numeric := f.kind(j) != Categorical
	var vals []float64
	for _, row := range f.Rows {
		if !numeric {
			break
		}
		v := row[j]
		if f.missing(v) {
			continue
		}
		if x, ok := asFloat(v); ok && !math.IsInf(x, 0) {
			vals = append(vals, x)
		} else {
			numeric = false
			break
		}
	}
	counts := map[string]int{}
	if !numeric {
		for _, row := range f.Rows {
			if v := row[j]; !f.missing(v) {
				counts[asString(v)]++
			}
		}
	}
	if numeric {
		ft := Feature{Name: name, Kind: Numeric, Std: 1}
		if len(vals) > 0 {
			sorted := append([]float64(nil), vals...)
			sort.Float64s(sorted)
			ft.Median = sorted[len(sorted)/2]
			var sum float64
			for _, x := range vals {
				sum += x
			}
			ft.Mean = sum / float64(len(vals))
			var ss float64
			for _, x := range vals {
				ss += (x - ft.Mean) * (x - ft.Mean)
			}
			if sd := math.Sqrt(ss / float64(len(vals))); sd > 1e-12 {
				ft.Std = sd
			}
		}
		return ft
	}
	cats := make([]string, 0, len(counts))
	for c := range counts {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(a, b int) bool {
		if counts[cats[a]] != counts[cats[b]] {
			return counts[cats[a]] > counts[cats[b]]
		}
		return cats[a] < cats[b]
	})
	if len(cats) > maxCategories {
		cats = cats[:maxCategories]
	}
	return Feature{Name: name, Kind: Categorical, Categories: cats}
}

// Width is the number of matrix columns the transform produces.
func (p *Preprocessor) Width() int {
	w := 0
	for _, f := range p.Features {
		if f.Kind == Categorical && p.OneHot {
			w += len(f.Categories)
		} else {
			w++
		}
	}
	return w
}

// OutputNames names the matrix columns ("colour=red" for indicators).
func (p *Preprocessor) OutputNames() []string {
	var names []string
	for _, f := range p.Features {
		if f.Kind == Categorical && p.OneHot {
			for _, c := range f.Categories {
				names = append(names, f.Name+"="+c)
			}
		} else {
			names = append(names, f.Name)
		}
	}
	return names
}

// Transform maps a frame to a row-major matrix of Width() columns. Columns
// are found by name; extra input columns are ignored; a missing one is an
// error naming it.
func (p *Preprocessor) Transform(f *Frame) ([]float64, error) {
	idx := make([]int, len(p.Features))
	for i, ft := range p.Features {
		idx[i] = f.Column(ft.Name)
		if idx[i] < 0 {
			return nil, core.Errorf(core.Invalid, "The input has no column %q, which the model needs.", ft.Name)
		}
	}
	w := p.Width()
	X := make([]float64, len(f.Rows)*w)
	codes := make([]map[string]int, len(p.Features))
	for i, ft := range p.Features {
		if ft.Kind == Categorical {
			m := make(map[string]int, len(ft.Categories))
			for c, name := range ft.Categories {
				m[name] = c
			}
			codes[i] = m
		}
	}
	for r, row := range f.Rows {
		if len(row) != len(f.Columns) {
			return nil, core.Errorf(core.Invalid, "Row %d has %d values but there are %d columns.", r+1, len(row), len(f.Columns))
		}
		out := X[r*w : (r+1)*w]
		k := 0
		for i, ft := range p.Features {
			v := row[idx[i]]
			if ft.Kind == Numeric {
				x := ft.Median
				if !isMissing(v) {
					var ok bool
					x, ok = asFloat(v)
					if !ok || math.IsInf(x, 0) {
						return nil, core.Errorf(core.Invalid, "Row %d, column %q: %q is not a finite number.", r+1, ft.Name, asString(v))
					}
				}
				if p.Scale {
					x = (x - ft.Mean) / ft.Std
				}
				out[k] = x
				k++
				continue
			}
			code, seen := codes[i][asString(v)]
			if p.OneHot {
				if seen {
					out[k+code] = 1
				}
				k += len(ft.Categories)
			} else {
				if !seen {
					code = len(ft.Categories) // unseen and rare categories share one code
				}
				out[k] = float64(code)
				k++
			}
		}
	}
	return X, nil
}
