package drift

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tern-studio/tern/backend/core"
)

// Test names a statistical test or distance.
type Test string

const (
	TestKS            Test = "ks"
	TestChiSquare     Test = "chisquare"
	TestZ             Test = "z"
	TestWasserstein   Test = "wasserstein"
	TestJensenShannon Test = "jensenshannon"
	TestPSI           Test = "psi"
	TestKL            Test = "kl"
	TestHellinger     Test = "hellinger"
)

// Tests lists every test an override may name.
var Tests = []Test{TestKS, TestChiSquare, TestZ, TestWasserstein, TestJensenShannon, TestPSI, TestKL, TestHellinger}

// PValued reports whether the test's verdict is a p-value (drift when
// p ≤ threshold) rather than a distance (drift when distance ≥ threshold).
func (t Test) PValued() bool { return t == TestKS || t == TestChiSquare || t == TestZ }

// DefaultThreshold is Evidently's default for the test.
func (t Test) DefaultThreshold() float64 {
	if t.PValued() {
		return 0.05
	}
	return 0.1
}

// Valid reports whether t is a known test.
func (t Test) Valid() bool { return slices.Contains(Tests, t) }

// Evidently's automatic choice: the row count up to which p-value tests
// are used, and the distinct-value counts that make a column "numeric" and
// "binary" for that choice.
const (
	smallReference     = 1000
	numericMinDistinct = 5
	binaryMaxDistinct  = 2
)

// Effect-size guard: a p-value test that fires while the effect is below
// these is "significant but small" and does not count as drift. They are
// the distances Evidently itself uses on large samples (and Cohen's "small"
// for two proportions), so a column drifts on a small reference only when
// the same change would also count on a large one.
const (
	minEffectWasserstein = 0.1
	minEffectJS          = 0.1
	minEffectCohenH      = 0.2
)

// Options tune a comparison. The zero value is Evidently's defaults.
type Options struct {
	Columns       map[string]ColumnOptions `json:"columns,omitempty"`
	DriftShare    float64                  `json:"driftShare,omitempty"` // dataset drifts when share of drifted columns ≥ this; 0 means 0.5
	MinCount      int                      `json:"minCount,omitempty"`   // fewer present values on either side is "insufficient data"; 0 means 2
	NoEffectGuard bool                     `json:"noEffectGuard,omitempty"`
	// CountTarget counts the target column in the data-drift share too;
	// by default its drift is target drift, reported apart.
	CountTarget bool `json:"countTarget,omitempty"`
}

// ColumnOptions override the automatic choice for one column.
type ColumnOptions struct {
	Test      Test    `json:"test,omitempty"`
	Threshold float64 `json:"threshold,omitempty"` // 0 means the test's default
	Skip      bool    `json:"skip,omitempty"`
}

// Status says whether a verdict holds a test result.
type Status string

const (
	StatusOK           Status = "ok"
	StatusInsufficient Status = "insufficient_data"
	StatusSkipped      Status = "skipped"
)

// Num is a float that survives JSON: NaN is null, ±Inf are "+Inf"/"-Inf".
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	switch {
	case math.IsNaN(f):
		return []byte("null"), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(f)
}

func (n *Num) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		*n = Num(math.NaN())
		return nil
	case `"+Inf"`:
		*n = Num(math.Inf(1))
		return nil
	case `"-Inf"`:
		*n = Num(math.Inf(-1))
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = Num(f)
	return err
}

// Effect is the effect size checked by the guard.
type Effect struct {
	Name  string `json:"name"`
	Value Num    `json:"value"`
	Min   Num    `json:"min"`
}

// Overlay is what a reference-vs-current chart needs: shares per bin or per
// category. Aggregates only.
type Overlay struct {
	Kind   Kind      `json:"kind"`
	Edges  []float64 `json:"edges,omitempty"`  // numeric: bin edges; Ref/Cur hold below, bins, above
	Labels []string  `json:"labels,omitempty"` // categorical: category per share
	Ref    []float64 `json:"ref"`
	Cur    []float64 `json:"cur"`
}

// Verdict is one column's drift result: the test, why it was chosen, what
// it measured and against which threshold.
type Verdict struct {
	Column      string   `json:"column"`
	Kind        Kind     `json:"kind"`
	Role        string   `json:"role,omitempty"` // RoleTarget for the target
	Status      Status   `json:"status"`
	Test        Test     `json:"test,omitempty"`
	Reason      string   `json:"reason"`
	Method      string   `json:"method,omitempty"` // KS: exact or asymptotic
	Statistic   Num      `json:"statistic"`
	PValue      Num      `json:"pValue"`   // null for distances
	Distance    Num      `json:"distance"` // null for p-value tests
	Threshold   Num      `json:"threshold"`
	Rule        string   `json:"rule,omitempty"`
	Significant bool     `json:"significant"` // the test alone says drift
	Drift       bool     `json:"drift"`       // after the effect-size guard
	Effect      *Effect  `json:"effect,omitempty"`
	SmallEffect bool     `json:"smallEffect,omitempty"` // significant but small
	Approximate bool     `json:"approximate,omitempty"`
	ErrorBound  Num      `json:"errorBound,omitempty"`
	RefCount    int      `json:"refCount"`
	CurCount    int      `json:"curCount"`
	RefMissing  int      `json:"refMissing"`
	CurMissing  int      `json:"curMissing"`
	Unseen      []string `json:"unseen,omitempty"` // current categories the reference never saw (first 10)
	UnseenCount int      `json:"unseenCount,omitempty"`
	Note        string   `json:"note,omitempty"`
	Overlay     *Overlay `json:"overlay,omitempty"`
}

// Result is a whole comparison.
type Result struct {
	Columns    []Verdict `json:"columns"`
	Evaluated  int       `json:"evaluated"`
	Drifted    int       `json:"drifted"`
	Share      float64   `json:"share"`
	DriftShare float64   `json:"driftShare"`
	Drift      bool      `json:"drift"`
	// TargetDrift says the target column drifted (label drift). It is
	// reported apart and, unless Options.CountTarget, not in Share.
	TargetDrift bool `json:"targetDrift,omitempty"`
	RefRows     int  `json:"refRows"`
	CurRows     int  `json:"curRows"`
}

// CompareColumns compares two raw samples, both kept exactly (the path the
// exactness tests and the Evidently benchmark use).
func CompareColumns(ref, cur []Column, opt Options) (*Result, error) {
	exact := ProfileOptions{SketchSize: -1}
	return Compare(BuildProfile(ref, exact), BuildProfile(cur, ProfileOptions{SketchSize: -1, NoHistogram: true}), opt)
}

// CompareWindow compares a frozen reference profile with raw current
// columns; its cost grows with the window, not with the reference.
func CompareWindow(ref *Profile, cur []Column, opt Options) (*Result, error) {
	return Compare(ref, BuildProfile(cur, ProfileOptions{SketchSize: -1, NoHistogram: true}), opt)
}

// Compare tests every reference column against the current profile's column
// of the same name. cur should be exact (SketchSize < 0); ref may be a
// sketch. Invalid overrides are an error; bad data never is.
func Compare(ref, cur *Profile, opt Options) (*Result, error) {
	for name, co := range opt.Columns {
		if co.Test != "" && !co.Test.Valid() {
			return nil, core.Errorf(core.Invalid, "Column %q: unknown drift test %q (use one of %v).", name, co.Test, Tests)
		}
		if co.Threshold < 0 || math.IsNaN(co.Threshold) || math.IsInf(co.Threshold, 0) {
			return nil, core.Errorf(core.Invalid, "Column %q: the threshold must be a finite number ≥ 0.", name)
		}
	}
	share := opt.DriftShare
	if share <= 0 {
		share = 0.5
	}
	res := &Result{Columns: make([]Verdict, len(ref.Columns)), DriftShare: share, RefRows: ref.Rows, CurRows: cur.Rows}
	parallel(len(ref.Columns), func(i int) {
		r := &ref.Columns[i]
		res.Columns[i] = compareColumn(r, cur.Column(r.Name), opt)
	})
	for _, v := range res.Columns {
		if v.Status != StatusOK {
			continue
		}
		if v.Role == RoleTarget {
			res.TargetDrift = res.TargetDrift || v.Drift
			if !opt.CountTarget {
				continue
			}
		}
		res.Evaluated++
		if v.Drift {
			res.Drifted++
		}
	}
	if res.Evaluated > 0 {
		res.Share = float64(res.Drifted) / float64(res.Evaluated)
		res.Drift = res.Share >= share
	}
	return res, nil
}

// parallel runs fn(0..n-1) on every core, each worker taking the next index.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func nan() Num { return Num(math.NaN()) }

func compareColumn(ref, cur *ColumnProfile, opt Options) Verdict {
	v := Verdict{Column: ref.Name, Kind: ref.Kind, Status: StatusOK, Statistic: nan(), PValue: nan(), Distance: nan(), Threshold: nan(), ErrorBound: 0,
		RefCount: ref.Count, RefMissing: ref.Missing}
	v.Role = ref.Role
	co := opt.Columns[ref.Name]
	if co.Skip {
		v.Status, v.Reason = StatusSkipped, "skipped by a per-column override"
		return v
	}
	if ref.Skip != "" {
		v.Status, v.Reason = StatusSkipped, ref.Skip
		return v
	}
	if cur == nil {
		v.Status, v.Reason = StatusInsufficient, "the current data has no column of this name"
		return v
	}
	v.CurCount, v.CurMissing = cur.Count, cur.Missing
	if cur.Kind != ref.Kind {
		v.Status, v.Reason = StatusInsufficient, fmt.Sprintf("the column is %s in the reference but %s in the current data", ref.Kind, cur.Kind)
		return v
	}
	minCount := opt.MinCount
	if minCount <= 0 {
		minCount = 2
	}
	if ref.Count < minCount || cur.Count < minCount {
		v.Status = StatusInsufficient
		v.Reason = fmt.Sprintf("insufficient data: %d present value(s) in the reference and %d in the current window; at least %d needed on each side (NaN, ±Inf and empty values are left out)", ref.Count, cur.Count, minCount)
		return v
	}

	nValues := unionDistinct(ref, cur)
	test, reason := co.Test, "chosen by a per-column override"
	if test == "" {
		test, reason = autoTest(ref, nValues)
	}
	v.Test, v.Reason = test, reason
	thr := co.Threshold
	if thr == 0 {
		thr = test.DefaultThreshold()
	}
	v.Threshold = Num(thr)
	if test.PValued() {
		v.Rule = "drift when p ≤ " + strconv.FormatFloat(thr, 'g', -1, 64)
	} else {
		v.Rule = "drift when distance ≥ " + strconv.FormatFloat(thr, 'g', -1, 64)
	}
	if cur.Count < 30 || ref.Count < 30 {
		v.Note = "small sample (fewer than 30 values on one side): the test has little power"
	}

	labels, rc, cc, binned := pairCounts(ref, cur)
	numericLike := ref.Kind == Numeric && nValues > numericMinDistinct

	switch test {
	case TestKS:
		if ref.Kind != Numeric {
			return invalidFor(v, "KS needs a numeric column")
		}
		d := ksStatistic(ref.Values, ref.Weights, float64(ref.Count), cur.Values, cur.Weights, float64(cur.Count))
		d, p, m := ksPValue(d, ref.Count, cur.Count)
		v.Statistic, v.PValue, v.Method = Num(d), Num(p), m
		if !ref.Exact {
			v.Approximate = true
			v.Note = joinNote(v.Note, "reference is a quantile sketch: D is approximate")
		}
	case TestChiSquare:
		k := float64(cur.Count) / float64(ref.Count)
		exp := make([]float64, len(rc))
		for i := range rc {
			exp[i] = rc[i] * k
		}
		s, p := ChiSquare(cc, exp)
		v.Statistic, v.PValue = Num(s), Num(p)
		if len(rc) < 2 {
			v.PValue = 1
			v.Note = joinNote(v.Note, "a single category on both sides: nothing to test, no drift")
		}
	case TestZ:
		if len(rc) > 2 {
			return invalidFor(v, fmt.Sprintf("the z-test needs at most 2 distinct values, this column has %d", len(rc)))
		}
		k1, k2 := rc[0], cc[0]
		z, p := ZProportions(float64(ref.Count)-k1, float64(ref.Count), float64(cur.Count)-k2, float64(cur.Count))
		v.Statistic, v.PValue = Num(z), Num(p)
	case TestWasserstein:
		if ref.Kind != Numeric {
			return invalidFor(v, "Wasserstein needs a numeric column")
		}
		w, norm := normedWasserstein(ref, cur)
		v.Statistic, v.Distance = Num(w), Num(w)
		if ref.Std < 0.001 {
			v.Note = joinNote(v.Note, "reference is (nearly) constant: distance normed by 0.001 instead of its standard deviation")
		}
		if !ref.Exact {
			v.Approximate, v.ErrorBound = true, Num(finite(ref.SketchError/norm))
		}
	default: // binned distances
		rs, cs := shares(rc, float64(ref.Count)), shares(cc, float64(cur.Count))
		var d float64
		switch test {
		case TestJensenShannon:
			d = JensenShannon(rs, cs)
		case TestPSI:
			rf, cf := fillZeros(rs), fillZeros(cs)
			d = PSI(rf, cf)
		case TestKL:
			rf, cf := fillZeros(rs), fillZeros(cs)
			d = KL(rf, cf)
		case TestHellinger:
			d = Hellinger(rs, cs)
		}
		v.Statistic, v.Distance = Num(d), Num(d)
		if binned {
			v.Note = joinNote(v.Note, fmt.Sprintf("numeric values binned into %d equal-width bins over the reference range, plus one bin each side", histBins))
		}
	}

	if test.PValued() {
		v.Significant = float64(v.PValue) <= thr
	} else {
		v.Significant = float64(v.Distance) >= thr
	}
	v.Drift = v.Significant

	if test.PValued() {
		switch {
		case numericLike:
			w, _ := normedWasserstein(ref, cur)
			v.Effect = &Effect{Name: "normed Wasserstein", Value: Num(w), Min: minEffectWasserstein}
		case len(rc) <= binaryMaxDistinct && len(rc) > 0:
			p1, p2 := rc[0]/float64(ref.Count), cc[0]/float64(cur.Count)
			v.Effect = &Effect{Name: "Cohen's h", Value: Num(CohenH(p1, p2)), Min: minEffectCohenH}
		default:
			v.Effect = &Effect{Name: "Jensen–Shannon distance", Value: Num(JensenShannon(rc, cc)), Min: minEffectJS}
		}
		if v.Significant && float64(v.Effect.Value) < float64(v.Effect.Min) {
			v.SmallEffect = true
			if !opt.NoEffectGuard {
				v.Drift = false
			}
			v.Note = joinNote(v.Note, fmt.Sprintf("significant but small: %s %.3g < %g", v.Effect.Name, float64(v.Effect.Value), float64(v.Effect.Min)))
		}
	}

	if ref.Kind == Categorical {
		for i, l := range labels {
			if rc[i] == 0 && cc[i] > 0 {
				if len(v.Unseen) < 10 && cc[i] >= minShownCount {
					v.Unseen = append(v.Unseen, l)
				}
				v.UnseenCount++
			}
		}
		if v.UnseenCount > 0 {
			v.Note = joinNote(v.Note, fmt.Sprintf("%d categor%s in the current data never seen in the reference", v.UnseenCount, plural(v.UnseenCount, "y", "ies")))
		}
	}
	v.Overlay = overlay(ref, cur, labels, rc, cc, binned)
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func invalidFor(v Verdict, why string) Verdict {
	v.Status = StatusInsufficient
	v.Reason = "cannot run " + string(v.Test) + ": " + why
	return v
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// normedWasserstein is W1(ref, cur) / max(std(ref), 0.001), Evidently's
// numeric drift distance, and the norm used. Values near the largest double
// are handled by scaling; a distance that is truly beyond float64 saturates
// at math.MaxFloat64 so it stays finite.
func normedWasserstein(ref, cur *ColumnProfile) (float64, float64) {
	norm := math.Max(ref.Std, 0.001)
	if len(ref.Values) == 0 || len(cur.Values) == 0 {
		return 0, norm
	}
	sc := pow2Scale(ref.Values[0], ref.Values[len(ref.Values)-1], cur.Values[0], cur.Values[len(cur.Values)-1])
	w := wasserstein(ref.Values, ref.Weights, float64(ref.Count), cur.Values, cur.Weights, float64(cur.Count), sc)
	return finite(w * (sc / norm)), norm
}

func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// autoTest is Evidently's default choice.
func autoTest(ref *ColumnProfile, nValues int) (Test, string) {
	numeric := ref.Kind == Numeric && nValues > numericMinDistinct
	small := ref.Count <= smallReference
	what := "categorical"
	if ref.Kind == Numeric {
		what = fmt.Sprintf("numeric with %d distinct values", nValues)
		if nValues > 20 {
			what = "numeric with more than 20 distinct values"
		}
		if !numeric {
			what = fmt.Sprintf("numeric with only %d distinct values (≤ %d), so treated as categorical", nValues, numericMinDistinct)
		}
	}
	size := fmt.Sprintf("%d reference values (≤ %d)", ref.Count, smallReference)
	if !small {
		size = fmt.Sprintf("%d reference values (> %d)", ref.Count, smallReference)
	}
	switch {
	case small && numeric:
		return TestKS, "Kolmogorov–Smirnov: " + what + ", " + size
	case small && nValues > binaryMaxDistinct:
		return TestChiSquare, "chi-square: " + what + ", " + size
	case small:
		return TestZ, fmt.Sprintf("two-proportion z-test: binary (%d distinct values), %s", nValues, size)
	case numeric:
		return TestWasserstein, "Wasserstein distance normed by the reference standard deviation: " + what + ", " + size
	}
	return TestJensenShannon, "Jensen–Shannon distance: " + what + ", " + size
}

// unionDistinct counts the distinct present values on either side, the
// count Evidently's choice is based on. A sketched reference has more than
// DefaultSketchSize distinct values already, more than any cut-off here.
func unionDistinct(ref, cur *ColumnProfile) int {
	if ref.Kind == Categorical {
		n := len(ref.Categories)
		for _, c := range cur.Categories {
			if _, ok := slices.BinarySearch(ref.Categories, c); !ok {
				n++
			}
		}
		return n
	}
	if !ref.Exact || ref.Distinct > 20 || cur.Distinct > 20 {
		// Far above every cut-off: a lower bound is as good and needs no merge.
		return max(ref.Distinct, cur.Distinct)
	}
	n, i, j := 0, 0, 0
	for i < len(ref.Values) || j < len(cur.Values) {
		switch {
		case j >= len(cur.Values) || (i < len(ref.Values) && ref.Values[i] < cur.Values[j]):
			i++
		case i >= len(ref.Values) || cur.Values[j] < ref.Values[i]:
			j++
		default:
			i++
			j++
		}
		n++
	}
	return n
}

// pairCounts aligns the two sides as counts over shared cells: categories
// (sorted), the distinct values of a numeric column with at most 20 of them
// in the reference (as Evidently), or the reference's histogram bins.
func pairCounts(ref, cur *ColumnProfile) (labels []string, rc, cc []float64, binned bool) {
	if ref.Kind == Categorical {
		return mergeCounts(ref.Categories, ref.CatCounts, cur.Categories, cur.CatCounts)
	}
	if ref.Exact && ref.Distinct <= 20 {
		rl := make([]string, len(ref.Values))
		for i, x := range ref.Values {
			rl[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		// Merge by value, not by label, so the cells follow numeric order.
		i, j := 0, 0
		for i < len(ref.Values) || j < len(cur.Values) {
			switch {
			case j >= len(cur.Values) || (i < len(ref.Values) && ref.Values[i] < cur.Values[j]):
				labels, rc, cc = append(labels, rl[i]), append(rc, weight(ref.Weights, i)), append(cc, 0)
				i++
			case i >= len(ref.Values) || cur.Values[j] < ref.Values[i]:
				labels, rc, cc = append(labels, strconv.FormatFloat(cur.Values[j], 'g', -1, 64)), append(rc, 0), append(cc, weight(cur.Weights, j))
				j++
			default:
				labels, rc, cc = append(labels, rl[i]), append(rc, weight(ref.Weights, i)), append(cc, weight(cur.Weights, j))
				i++
				j++
			}
		}
		return labels, rc, cc, false
	}
	h := binCounts(cur.Values, cur.Weights, ref.Edges)
	labels = binLabels(ref.Edges)
	rc = append([]float64(nil), ref.Hist...)
	// Drop the outer bins when neither side uses them, so the cells match
	// the reference histogram Evidently would build.
	lo, hi := 0, len(rc)
	if rc[0] == 0 && h[0] == 0 {
		lo = 1
	}
	if rc[len(rc)-1] == 0 && h[len(h)-1] == 0 {
		hi--
	}
	return labels[lo:hi], rc[lo:hi], h[lo:hi], true
}

func binLabels(edges []float64) []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	l := []string{"< " + f(edges[0])}
	for i := 1; i < len(edges); i++ {
		l = append(l, "["+f(edges[i-1])+", "+f(edges[i])+")")
	}
	return append(l, "> "+f(edges[len(edges)-1]))
}

// binCounts counts sorted values (weighted by wts; nil weighs 1) into the
// bins edges make: below the first edge, [edges[i-1], edges[i]) for i in
// 1..len(edges)-1, and above the last. The bin index only moves forward,
// so one pass over sorted values suffices.
func binCounts(sorted, wts, edges []float64) []float64 {
	h := make([]float64, len(edges)+1)
	if len(edges) == 0 {
		return h
	}
	last := len(edges)
	b := 0
	for i, x := range sorted {
		switch {
		case x < edges[0]:
			b = 0
		case x > edges[len(edges)-1]:
			b = last
		default:
			if b == 0 {
				b = 1
			}
			for b < last-1 && x >= edges[b] {
				b++
			}
		}
		h[b] += weight(wts, i)
	}
	return h
}

func mergeCounts(ak []string, av []float64, bk []string, bv []float64) (labels []string, a, b []float64, binned bool) {
	i, j := 0, 0
	for i < len(ak) || j < len(bk) {
		switch {
		case j >= len(bk) || (i < len(ak) && ak[i] < bk[j]):
			labels, a, b = append(labels, ak[i]), append(a, av[i]), append(b, 0)
			i++
		case i >= len(ak) || bk[j] < ak[i]:
			labels, a, b = append(labels, bk[j]), append(a, 0), append(b, bv[j])
			j++
		default:
			labels, a, b = append(labels, ak[i]), append(a, av[i]), append(b, bv[j])
			i++
			j++
		}
	}
	return labels, a, b, false
}

func shares(c []float64, n float64) []float64 {
	out := make([]float64, len(c))
	for i, x := range c {
		out[i] = x / n
	}
	return out
}

// maxOverlayCategories caps a categorical overlay; the rest is "other".
const maxOverlayCategories = 20

// minShownCount is the fewest rows a category needs on one side before its
// name appears in an overlay or the unseen list: rarer ones are pooled, so a
// report never names a value that identifies a single row (an ID column).
const minShownCount = 5

func overlay(ref, cur *ColumnProfile, labels []string, rc, cc []float64, binned bool) *Overlay {
	rs, cs := shares(rc, float64(ref.Count)), shares(cc, float64(cur.Count))
	if binned {
		h := binCounts(cur.Values, cur.Weights, ref.Edges)
		return &Overlay{Kind: Numeric, Edges: ref.Edges, Ref: shares(ref.Hist, float64(ref.Count)), Cur: shares(h, float64(cur.Count))}
	}
	o := &Overlay{Kind: Categorical}
	idx := make([]int, len(labels))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) > maxOverlayCategories+1 {
		sort.SliceStable(idx, func(a, b int) bool {
			return math.Max(rs[idx[a]], cs[idx[a]]) > math.Max(rs[idx[b]], cs[idx[b]])
		})
	}
	var restR, restC, rareR, rareC float64
	rare, shown, rest := 0, 0, 0
	for _, i := range idx {
		if rc[i] < minShownCount && cc[i] < minShownCount {
			rareR += rs[i]
			rareC += cs[i]
			rare++
			continue
		}
		if shown >= maxOverlayCategories {
			restR += rs[i]
			restC += cs[i]
			rest++
			continue
		}
		shown++
		o.Labels = append(o.Labels, labels[i])
		o.Ref = append(o.Ref, rs[i])
		o.Cur = append(o.Cur, cs[i])
	}
	if rest > 0 {
		o.Labels = append(o.Labels, fmt.Sprintf("other (%d)", rest))
		o.Ref = append(o.Ref, restR)
		o.Cur = append(o.Cur, restC)
	}
	if rare > 0 {
		o.Labels = append(o.Labels, fmt.Sprintf("rare, < %d rows each (%d)", minShownCount, rare))
		o.Ref = append(o.Ref, rareR)
		o.Cur = append(o.Cur, rareC)
	}
	return o
}
