package drift

import (
	"math"
	"slices"
)

// Kind says which family of tests a column gets.
type Kind string

const (
	Numeric     Kind = "numeric"
	Categorical Kind = "categorical"
)

// Column is one column of a sample. Numeric values that are NaN or ±Inf,
// and categorical values that are "", are missing: they are counted, then
// left out of every test (Evidently does the same).
type Column struct {
	Name string    `json:"name"`
	Kind Kind      `json:"kind"`
	Num  []float64 `json:"num,omitempty"`
	Cat  []string  `json:"cat,omitempty"`
	// Role is RoleTarget for the column a model predicts: it is tested,
	// but its drift is target drift, not counted in the data-drift share.
	Role string `json:"role,omitempty"`
	// Skip, when set, says why the column is not compared (an ID, a date);
	// it carries no values and its verdict is "skipped" with that reason.
	Skip string `json:"skip,omitempty"`
}

// RoleTarget marks the target column (Column.Role, Verdict.Role).
const RoleTarget = "target"

// DefaultSketchSize is how many points a numeric reference keeps once it has
// more distinct values than that: equal-mass buckets, each represented by
// its median. Below it the reference is kept exactly (distinct values with
// counts).
const DefaultSketchSize = 10000

// histBins is the number of equal-width bins over the reference's range used
// by the binned distances (JS, PSI, KL, Hellinger) on numeric columns, as in
// Evidently; two more bins catch current values below and above the range.
const histBins = 30

// Profile is a frozen summary of a sample: everything a drift test needs
// from the reference side, and nothing that grows with the number of rows
// beyond a fixed sketch size. It holds aggregates only, never a row.
type Profile struct {
	Rows    int             `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
}

// ColumnProfile summarises one column.
type ColumnProfile struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Role    string `json:"role,omitempty"` // see Column.Role
	Skip    string `json:"skip,omitempty"` // see Column.Skip
	Count   int    `json:"count"`          // present (finite / non-empty) values
	Missing int    `json:"missing"`        // NaN, ±Inf or ""

	// Numeric. Values ascend; Weights[i] rows sit at Values[i]. When Exact,
	// Values are the distinct values and Weights their counts, so every test
	// is exact; otherwise they are an equal-mass sketch and SketchError is
	// the Wasserstein distance between the sample and its sketch, a bound on
	// how far any Wasserstein figure computed from the sketch can be off.
	Exact       bool      `json:"exact,omitempty"`
	Values      []float64 `json:"values,omitempty"`
	Weights     []float64 `json:"weights,omitempty"`
	SketchError float64   `json:"sketchError,omitempty"`
	Distinct    int       `json:"distinct,omitempty"` // exact when Exact, else a lower bound
	Mean        float64   `json:"mean,omitempty"`
	Std         float64   `json:"std,omitempty"` // population (ddof 0), as numpy
	Min         float64   `json:"min,omitempty"`
	Max         float64   `json:"max,omitempty"`
	Edges       []float64 `json:"edges,omitempty"` // histBins+1 equal-width edges over [Min, Max]
	Hist        []float64 `json:"hist,omitempty"`  // below, histBins bins, above

	// Categorical: categories in ascending order with their counts.
	Categories []string  `json:"categories,omitempty"`
	CatCounts  []float64 `json:"catCounts,omitempty"`
}

// ProfileOptions tune BuildProfile.
type ProfileOptions struct {
	// SketchSize caps the points kept per numeric column; 0 means
	// DefaultSketchSize, a negative value keeps every distinct value.
	SketchSize int
	// NoHistogram skips the numeric histogram, for a current window, which
	// is binned on the reference's edges instead.
	NoHistogram bool
}

// BuildProfile summarises columns. Columns are profiled concurrently.
func BuildProfile(cols []Column, opt ProfileOptions) *Profile {
	p := &Profile{Columns: make([]ColumnProfile, len(cols))}
	parallel(len(cols), func(i int) { p.Columns[i] = profileColumn(cols[i], opt) })
	for _, c := range cols {
		p.Rows = max(p.Rows, len(c.Num), len(c.Cat))
	}
	return p
}

// Column returns the profile of the named column, or nil.
func (p *Profile) Column(name string) *ColumnProfile {
	for i := range p.Columns {
		if p.Columns[i].Name == name {
			return &p.Columns[i]
		}
	}
	return nil
}

func profileColumn(c Column, opt ProfileOptions) ColumnProfile {
	if c.Skip != "" {
		return ColumnProfile{Name: c.Name, Kind: c.Kind, Skip: c.Skip}
	}
	var p ColumnProfile
	if c.Kind == Categorical || (c.Kind == "" && c.Num == nil && c.Cat != nil) {
		p = profileCategorical(c)
	} else {
		p = profileNumeric(c.Name, c.Num, opt)
	}
	p.Role = c.Role
	return p
}

func profileCategorical(c Column) ColumnProfile {
	counts := map[string]float64{}
	cp := ColumnProfile{Name: c.Name, Kind: Categorical}
	for _, s := range c.Cat {
		if s == "" {
			cp.Missing++
			continue
		}
		counts[s]++
	}
	cp.Categories = make([]string, 0, len(counts))
	for k := range counts {
		cp.Categories = append(cp.Categories, k)
	}
	slices.Sort(cp.Categories)
	cp.CatCounts = make([]float64, len(cp.Categories))
	for i, k := range cp.Categories {
		cp.CatCounts[i] = counts[k]
		cp.Count += int(counts[k])
	}
	cp.Distinct = len(cp.Categories)
	return cp
}

func profileNumeric(name string, raw []float64, opt ProfileOptions) ColumnProfile {
	cp := ColumnProfile{Name: name, Kind: Numeric}
	v := sortedCopy(raw)
	cp.Missing = len(raw) - len(v)
	cp.Count = len(v)
	if len(v) == 0 {
		cp.Exact = true
		return cp
	}
	cp.Min, cp.Max = v[0], v[len(v)-1]
	cp.Mean, cp.Std = meanStd(v)

	// Distinct values with counts; when every value is distinct the sorted
	// sample itself is the profile and the weights are all 1 (nil).
	distinct := 1
	for i := 1; i < len(v); i++ {
		if v[i] != v[i-1] {
			distinct++
		}
	}
	vals, wts := v, []float64(nil)
	if distinct < len(v) {
		vals = make([]float64, 0, distinct)
		wts = make([]float64, 0, distinct)
		for i := 0; i < len(v); {
			j := i + 1
			for j < len(v) && v[j] == v[i] {
				j++
			}
			vals = append(vals, v[i])
			wts = append(wts, float64(j-i))
			i = j
		}
	}
	cp.Distinct = distinct
	k := opt.SketchSize
	if k == 0 {
		k = DefaultSketchSize
	}
	if k < 0 || len(vals) <= k {
		cp.Exact, cp.Values, cp.Weights = true, vals, wts
	} else {
		cp.Values, cp.Weights, cp.SketchError = sketch(v, k)
	}
	if !opt.NoHistogram {
		cp.Edges, cp.Hist = histogram(v, cp.Min, cp.Max)
	}
	return cp
}

// sketch splits sorted v into k equal-mass buckets, each represented by its
// median (the point closest to its bucket in W1), and measures the
// Wasserstein distance between v and the sketch: the monotone coupling of a
// sorted sample to sorted points is optimal in one dimension, so the mean
// absolute distance of each value to its bucket's point is that distance.
func sketch(v []float64, k int) (vals, wts []float64, w1 float64) {
	n := len(v)
	vals = make([]float64, 0, k)
	wts = make([]float64, 0, k)
	for b := 0; b < k; b++ {
		lo, hi := b*n/k, (b+1)*n/k
		if hi <= lo {
			continue
		}
		m := v[lo+(hi-lo)/2]
		for _, x := range v[lo:hi] {
			w1 += math.Abs(x - m)
		}
		if len(vals) > 0 && vals[len(vals)-1] == m {
			wts[len(wts)-1] += float64(hi - lo)
			continue
		}
		vals = append(vals, m)
		wts = append(wts, float64(hi-lo))
	}
	return vals, wts, w1 / float64(n)
}

// meanStd is numpy's mean and std (ddof 0) of sorted v, two-pass, computed
// in units of a power of two so that huge values cannot overflow (exact
// scaling, so ordinary data get the very same rounding).
func meanStd(v []float64) (float64, float64) {
	sc := pow2Scale(v[0], v[len(v)-1])
	s := 0.0
	for _, x := range v {
		s += x / sc
	}
	mean := s / float64(len(v))
	ss := 0.0
	for _, x := range v {
		d := x/sc - mean
		ss += d * d
	}
	return mean * sc, finite(math.Sqrt(ss/float64(len(v))) * sc)
}

// histogram counts sorted v into histBins equal-width bins over [lo, hi]
// (the last bin closed), plus one bin below lo and one above hi.
func histogram(v []float64, lo, hi float64) ([]float64, []float64) {
	edges := make([]float64, histBins+1)
	span := hi - lo
	for i := range edges {
		if span > math.MaxFloat64/histBins { // span·i would overflow: step in 30ths
			edges[i] = lo + (hi/histBins-lo/histBins)*float64(i)
		} else {
			edges[i] = lo + span*float64(i)/histBins
		}
	}
	edges[histBins] = hi
	return edges, binCounts(v, nil, edges)
}
