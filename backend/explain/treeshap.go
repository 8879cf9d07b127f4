package explain

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tern-studio/tern/backend/core"
)

// Links name the function from margin to model output.
const (
	LinkIdentity = "identity"
	LinkLogit    = "logit"   // probability = 1/(1+exp(-margin))
	LinkSoftmax  = "softmax" // class probabilities = softmax(margins)
	LinkLog      = "log"     // prediction = exp(margin)
)

// Tree is one regression tree in parallel node arrays; node 0 is the root.
// A node with Left < 0 is a leaf holding Value. Cover is the training
// weight that reached each node (row counts for LightGBM and the built-in
// GBDT, hessian sums for XGBoost): path-dependent TreeSHAP takes the
// expectation over an absent feature as the cover-weighted mean of the
// subtrees, exactly as shap's TreeExplainer (tree_path_dependent) does.
type Tree struct {
	Left, Right []int32
	Feature     []int32
	Value       []float64
	Cover       []float64
	// Output is the output (class) whose margin the tree adds to.
	Output int
	// GoesLeft says whether row x goes to the left child of internal node
	// n. It is the model's own decision rule (thresholds, comparison,
	// missing-value direction), so explanations follow the predictions.
	GoesLeft func(n int32, x []float64) bool
}

// Ensemble is a sum of trees plus a per-output offset, in margin space.
type Ensemble struct {
	Trees []Tree
	// Base is the margin each output starts from (XGBoost's base_score as a
	// margin, the built-in GBDT's baseline, 0 for LightGBM).
	Base     []float64
	Features int
	// Names are the feature names, when the model knows them.
	Names []string
	Link  string

	// prepared caches what every explanation of the ensemble needs (its
	// depth, its expected value), computed on first use; the trees must not
	// change after that.
	prepared atomic.Pointer[prepared]
}

type prepared struct {
	depth    int
	expected []float64
	err      error
}

// prepare validates the ensemble once and caches its depth and expected
// value, so a served model's per-request explanation does neither again.
func (e *Ensemble) prepare() *prepared {
	if p := e.prepared.Load(); p != nil {
		return p
	}
	if err := e.Validate(); err != nil {
		p := &prepared{err: err}
		e.prepared.Store(p)
		return p
	}
	p := &prepared{expected: append([]float64(nil), e.Base...)}
	for i := range e.Trees {
		t := &e.Trees[i]
		p.depth = max(p.depth, t.depth(0))
		p.expected[t.Output] += t.expectation(0)
	}
	e.prepared.Store(p)
	return p
}

// Outputs is the number of margins the ensemble produces.
func (e *Ensemble) Outputs() int { return len(e.Base) }

// Validate checks the node arrays, so explaining never indexes out of
// range or loops on a damaged model.
func (e *Ensemble) Validate() error {
	if len(e.Base) == 0 || e.Features <= 0 {
		return core.Errorf(core.Invalid, "The model has no outputs or no features to explain.")
	}
	for i := range e.Trees {
		if err := e.Trees[i].validate(e.Features, len(e.Base)); err != nil {
			return core.Errorf(core.Invalid, "The model cannot be explained: tree %d %s.", i, err)
		}
	}
	return nil
}

func (t *Tree) validate(features, outputs int) error {
	m := len(t.Left)
	if m == 0 || len(t.Right) != m || len(t.Feature) != m || len(t.Value) != m || len(t.Cover) != m {
		return fmt.Errorf("has inconsistent node arrays")
	}
	if t.Output < 0 || t.Output >= outputs {
		return fmt.Errorf("adds to output %d of %d", t.Output, outputs)
	}
	if t.GoesLeft == nil && m > 1 {
		return fmt.Errorf("has no decision rule")
	}
	for i := 0; i < m; i++ {
		if t.Left[i] < 0 {
			continue
		}
		l, r := t.Left[i], t.Right[i]
		// Children after their parent rules out cycles.
		if l <= int32(i) || r <= int32(i) || int(l) >= m || int(r) >= m {
			return fmt.Errorf("has a child out of order at node %d", i)
		}
		if t.Feature[i] < 0 || int(t.Feature[i]) >= features {
			return fmt.Errorf("splits on feature %d of %d", t.Feature[i], features)
		}
		if !(t.Cover[i] > 0) || math.IsInf(t.Cover[i], 0) || !(t.Cover[l] >= 0) || !(t.Cover[r] >= 0) || math.IsInf(t.Cover[l]+t.Cover[r], 0) {
			return fmt.Errorf("has no usable cover at node %d (the model was saved without node statistics)", i)
		}
	}
	return nil
}

func (t *Tree) depth(n int32) int {
	if t.Left[n] < 0 {
		return 0
	}
	return 1 + max(t.depth(t.Left[n]), t.depth(t.Right[n]))
}

func (t *Tree) leaf(x []float64) float64 {
	n := int32(0)
	for t.Left[n] >= 0 {
		if t.GoesLeft(n, x) {
			n = t.Left[n]
		} else {
			n = t.Right[n]
		}
	}
	return t.Value[n]
}

// expectation is the tree's value with every feature absent: the
// cover-weighted mean of its leaves, weighted with the same fractions the
// recursion uses, so base + contributions equals the margin exactly.
func (t *Tree) expectation(n int32) float64 {
	if t.Left[n] < 0 {
		return t.Value[n]
	}
	l, r := t.Left[n], t.Right[n]
	return t.Cover[l]/t.Cover[n]*t.expectation(l) + t.Cover[r]/t.Cover[n]*t.expectation(r)
}

// ExpectedValue is the base value per output: the offset plus each tree's
// cover-weighted expectation (shap's explainer.expected_value for
// tree_path_dependent, in margin space).
func (e *Ensemble) ExpectedValue() ([]float64, error) {
	p := e.prepare()
	if p.err != nil {
		return nil, p.err
	}
	return append([]float64(nil), p.expected...), nil
}

// Margin is the ensemble's raw score of x per output, summed in float64.
func (e *Ensemble) Margin(x []float64) []float64 {
	out := append([]float64(nil), e.Base...)
	for i := range e.Trees {
		out[e.Trees[i].Output] += e.Trees[i].leaf(x)
	}
	return out
}

// pathElem is one feature on the unique path from the root (Lundberg et al.
// 2020, Algorithm 2): the fraction of "zero" (feature absent, follow cover)
// and "one" (feature present, follow x) paths through it, and the
// permutation weight of subsets of that size.
type pathElem struct {
	feature int32
	zero    float64
	one     float64
	weight  float64
}

// shapper holds the per-goroutine scratch space of one explanation run.
type shapper struct {
	e    *Ensemble
	path []pathElem
	inv  []float64 // inv[i] = 1/i
}

func newShapper(e *Ensemble) *shapper {
	maxDepth := e.prepare().depth
	// Each level copies its parent's path (at most depth+1 long) after it.
	d := maxDepth + 2
	inv := make([]float64, d+2)
	for i := 1; i < len(inv); i++ {
		inv[i] = 1 / float64(i)
	}
	return &shapper{e: e, path: make([]pathElem, d*(d+1)/2+d), inv: inv}
}

// row adds the contributions of x to phi (Outputs × Features, row-major).
func (s *shapper) row(x []float64, phi []float64) {
	f := s.e.Features
	for i := range s.e.Trees {
		t := &s.e.Trees[i]
		if len(t.Left) == 1 {
			continue // a single leaf is all expectation
		}
		s.recurse(t, x, phi[t.Output*f:(t.Output+1)*f], 0, 0, 0, 1, 1, -1)
	}
}

// recurse walks node n. The parent's path starts at start in s.path and has
// depth+1 entries after extension; this node's copy goes right after it.
func (s *shapper) recurse(t *Tree, x, phi []float64, n int32, start, depth int, zero, one float64, feature int32) {
	at := start + depth + 1
	path := s.path[at:]
	copy(path[:depth+1], s.path[start:start+depth+1])
	extend(path, depth, zero, one, feature)
	if t.Left[n] < 0 {
		for i := 1; i <= depth; i++ {
			w := unwoundSum(path, depth, i, s.inv)
			el := &path[i]
			phi[el.feature] += w * (el.one - el.zero) * t.Value[n]
		}
		return
	}
	hot, cold := t.Left[n], t.Right[n]
	if !t.GoesLeft(n, x) {
		hot, cold = cold, hot
	}
	w := t.Cover[n]
	hotZero, coldZero := t.Cover[hot]/w, t.Cover[cold]/w
	inZero, inOne := 1.0, 1.0
	split := t.Feature[n]
	// A feature seen before on this path is undone and re-added below with
	// the fractions multiplied, so each feature appears once.
	k := 1
	for ; k <= depth; k++ {
		if path[k].feature == split {
			break
		}
	}
	if k <= depth {
		inZero, inOne = path[k].zero, path[k].one
		unwind(path, depth, k)
		depth--
	}
	s.recurse(t, x, phi, hot, at, depth+1, hotZero*inZero, inOne, split)
	s.recurse(t, x, phi, cold, at, depth+1, coldZero*inZero, 0, split)
}

func extend(path []pathElem, depth int, zero, one float64, feature int32) {
	path[depth] = pathElem{feature: feature, zero: zero, one: one}
	if depth == 0 {
		path[depth].weight = 1
	}
	d := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		path[i+1].weight += one * path[i].weight * float64(i+1) / d
		path[i].weight = zero * path[i].weight * float64(depth-i) / d
	}
}

func unwind(path []pathElem, depth, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[depth].weight
	d := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].weight
			path[i].weight = next * d / (float64(i+1) * one)
			next = tmp - path[i].weight*zero*float64(depth-i)/d
		} else {
			path[i].weight = path[i].weight * d / (zero * float64(depth-i))
		}
	}
	for i := k; i < depth; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

// unwoundSum is the total permutation weight of the path with element k
// taken out (Algorithm 2's UNWOUND-SUM). It is the innermost loop of
// TreeSHAP, so divisions are replaced by multiplications with inv[i] = 1/i.
func unwoundSum(path []pathElem, depth, k int, inv []float64) float64 {
	one, zero := path[k].one, path[k].zero
	path = path[:depth+1]
	inv = inv[:depth+2]
	d := float64(depth + 1)
	total := 0.0
	if one != 0 {
		next := path[depth].weight
		a := d / one
		b := zero * inv[depth+1] // zero / d
		for i := depth - 1; i >= 0; i-- {
			tmp := next * a * inv[i+1]
			total += tmp
			next = path[i].weight - tmp*b*float64(depth-i)
		}
		return total
	}
	if zero == 0 {
		return 0
	}
	for i := depth - 1; i >= 0; i-- {
		total += path[i].weight * inv[depth-i]
	}
	return total * d / zero
}

// Explanation holds the contributions of n rows: Values[(r*Outputs+o)*
// Features+j] is feature j's contribution to output o's margin for row r;
// Base[o] + Σ_j of a row's values = the row's margin of output o.
type Explanation struct {
	Base     []float64 `json:"base"`
	Values   []float64 `json:"values"`
	Rows     int       `json:"rows"`
	Outputs  int       `json:"outputs"`
	Features int       `json:"features"`
	Link     string    `json:"link"`
	Names    []string  `json:"names,omitempty"`
}

// Row returns row r's contributions to output o.
func (x *Explanation) Row(r, o int) []float64 {
	at := (r*x.Outputs + o) * x.Features
	return x.Values[at : at+x.Features]
}

// SHAP explains n rows of X (row-major, Features values each, NaN =
// missing) with path-dependent TreeSHAP, on up to workers goroutines (0 =
// all CPUs). It stops with ctx's error when cancelled, checked per row.
func (e *Ensemble) SHAP(ctx context.Context, X []float64, n, workers int) (*Explanation, error) {
	base, err := e.ExpectedValue()
	if err != nil {
		return nil, err
	}
	if len(X) != n*e.Features {
		return nil, core.Errorf(core.Invalid, "The rows to explain have %d values, expected %d rows × %d features.", len(X), n, e.Features)
	}
	k, f := len(e.Base), e.Features
	out := &Explanation{Base: base, Values: make([]float64, n*k*f), Rows: n, Outputs: k, Features: f, Link: e.Link, Names: e.Names}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(n, 1))
	if workers == 1 {
		// One row (a request's explanation) or one goroutine: no
		// scheduling in the way.
		s := newShapper(e)
		for r := 0; r < n; r++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s.row(X[r*f:(r+1)*f], out.Values[r*k*f:(r+1)*k*f])
		}
		return out, nil
	}
	var wg sync.WaitGroup
	var next int64
	var mu sync.Mutex
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		r := int(next)
		next++
		return r
	}
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := newShapper(e)
			for r := take(); r < n; r = take() {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				s.row(X[r*f:(r+1)*f], out.Values[r*k*f:(r+1)*k*f])
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MeanAbs is the global importance of each feature: the mean |contribution|
// over the rows, per output (Outputs × Features, row-major), as shap's
// summary bar plot shows it.
func (x *Explanation) MeanAbs() []float64 {
	out := make([]float64, x.Outputs*x.Features)
	if x.Rows == 0 {
		return out
	}
	for r := 0; r < x.Rows; r++ {
		for o := 0; o < x.Outputs; o++ {
			for j, v := range x.Row(r, o) {
				out[o*x.Features+j] += math.Abs(v)
			}
		}
	}
	for i := range out {
		out[i] /= float64(x.Rows)
	}
	return out
}
