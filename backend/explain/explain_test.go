package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomTree grows a random tree over features (features repeat along paths
// on purpose: that is the case the unwind step exists for) and takes its
// covers from routing a random sample, as training would.
func randomTree(rng *rand.Rand, features, depth int, output int) Tree {
	t := Tree{Output: output}
	var thr []float64
	var add func(d int) int32
	add = func(d int) int32 {
		i := int32(len(t.Left))
		t.Left = append(t.Left, -1)
		t.Right = append(t.Right, -1)
		t.Feature = append(t.Feature, -1)
		t.Value = append(t.Value, 0)
		t.Cover = append(t.Cover, 0)
		thr = append(thr, 0)
		if d < depth && rng.Float64() < 0.85 {
			t.Feature[i] = int32(rng.IntN(features))
			thr[i] = rng.NormFloat64() * 0.7
			l := add(d + 1)
			r := add(d + 1)
			t.Left[i], t.Right[i] = l, r
		} else {
			t.Value[i] = rng.NormFloat64()
		}
		return i
	}
	add(0)
	t.GoesLeft = func(n int32, x []float64) bool {
		v := x[t.Feature[n]]
		return math.IsNaN(v) || v <= thr[n]
	}
	for s := 0; s < 400; s++ {
		x := make([]float64, features)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		n := int32(0)
		t.Cover[n]++
		for t.Left[n] >= 0 {
			if t.GoesLeft(n, x) {
				n = t.Left[n]
			} else {
				n = t.Right[n]
			}
			t.Cover[n]++
		}
	}
	// A node no sample reached gets a small cover so fractions stay defined
	// (real models never keep an empty child); parents are re-summed.
	for i := len(t.Left) - 1; i >= 0; i-- {
		if t.Left[i] >= 0 {
			t.Cover[i] = t.Cover[t.Left[i]] + t.Cover[t.Right[i]]
		} else if t.Cover[i] == 0 {
			t.Cover[i] = 0.5
		}
	}
	return t
}

// condExpect is the path-dependent value of the tree when only the
// features in present follow x: absent splits average the children by
// cover. This is the definition TreeSHAP computes the Shapley values of.
func condExpect(t *Tree, n int32, x []float64, present uint) float64 {
	if t.Left[n] < 0 {
		return t.Value[n]
	}
	if present&(1<<uint(t.Feature[n])) != 0 {
		if t.GoesLeft(n, x) {
			return condExpect(t, t.Left[n], x, present)
		}
		return condExpect(t, t.Right[n], x, present)
	}
	l, r := t.Left[n], t.Right[n]
	return (t.Cover[l]*condExpect(t, l, x, present) + t.Cover[r]*condExpect(t, r, x, present)) / t.Cover[n]
}

// bruteShapley is the Shapley formula over all 2^M subsets.
func bruteShapley(e *Ensemble, x []float64) []float64 {
	m := e.Features
	k := len(e.Base)
	v := func(o int, s uint) float64 {
		sum := e.Base[o]
		for i := range e.Trees {
			if e.Trees[i].Output == o {
				sum += condExpect(&e.Trees[i], 0, x, s)
			}
		}
		return sum
	}
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	phi := make([]float64, k*m)
	for o := 0; o < k; o++ {
		for j := 0; j < m; j++ {
			for s := uint(0); s < 1<<uint(m); s++ {
				if s&(1<<uint(j)) != 0 {
					continue
				}
				size := 0
				for b := s; b != 0; b &= b - 1 {
					size++
				}
				w := fact(size) * fact(m-size-1) / fact(m)
				phi[o*m+j] += w * (v(o, s|1<<uint(j)) - v(o, s))
			}
		}
	}
	return phi
}

func randomEnsemble(seed uint64, features, trees, depth, outputs int) *Ensemble {
	rng := rand.New(rand.NewPCG(seed, 1))
	e := &Ensemble{Features: features, Base: make([]float64, outputs), Link: LinkIdentity}
	for o := range e.Base {
		e.Base[o] = rng.NormFloat64()
	}
	for i := 0; i < trees; i++ {
		e.Trees = append(e.Trees, randomTree(rng, features, depth, i%outputs))
	}
	return e
}

func TestTreeSHAPEqualsBruteForceShapley(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		e := randomEnsemble(seed, 5, 4, 1+int(seed%6), 1+int(seed%3))
		rng := rand.New(rand.NewPCG(seed, 2))
		n := 6
		X := make([]float64, n*e.Features)
		for i := range X {
			X[i] = rng.NormFloat64()
		}
		X[3] = math.NaN() // missing values follow the decision rule
		got, err := e.SHAP(t.Context(), X, n, 2)
		require.NoError(t, err)
		for r := 0; r < n; r++ {
			x := X[r*e.Features : (r+1)*e.Features]
			want := bruteShapley(e, x)
			margin := e.Margin(x)
			for o := 0; o < len(e.Base); o++ {
				phi := got.Row(r, o)
				require.InDeltaSlice(t, want[o*e.Features:(o+1)*e.Features], phi, 1e-12, "seed %d row %d output %d", seed, r, o)
				sum := got.Base[o]
				for _, v := range phi {
					sum += v
				}
				require.InDelta(t, margin[o], sum, 1e-9, "additivity, seed %d row %d", seed, r)
			}
		}
	}
}

func TestTreeSHAPBaseIsCoverWeightedMean(t *testing.T) {
	// One split at 0 on feature 0, covers 3 and 1: E = (3·1 + 1·5)/4 = 2.
	tr := Tree{
		Left: []int32{1, -1, -1}, Right: []int32{2, -1, -1}, Feature: []int32{0, -1, -1},
		Value: []float64{0, 1, 5}, Cover: []float64{4, 3, 1},
		GoesLeft: func(n int32, x []float64) bool { return x[0] <= 0 },
	}
	e := &Ensemble{Trees: []Tree{tr}, Base: []float64{0.5}, Features: 2}
	got, err := e.SHAP(t.Context(), []float64{1, 7}, 1, 1)
	require.NoError(t, err)
	require.InDelta(t, 2.5, got.Base[0], 1e-15)
	// Row goes right (5): feature 0 carries all of 5-2, feature 1 nothing.
	require.InDeltaSlice(t, []float64{3, 0}, got.Row(0, 0), 1e-15)
}

func TestTreeSHAPRefusesDamage(t *testing.T) {
	e := randomEnsemble(3, 4, 2, 3, 1)
	e.Trees[0].Cover[0] = 0
	_, err := e.SHAP(t.Context(), make([]float64, 4), 1, 1)
	require.ErrorContains(t, err, "cover")
	e = randomEnsemble(3, 4, 2, 3, 1)
	e.Trees[1].Left[0] = 0
	_, err = e.SHAP(t.Context(), make([]float64, 4), 1, 1)
	require.ErrorContains(t, err, "out of order")
	e = randomEnsemble(3, 4, 2, 3, 1)
	_, err = e.SHAP(t.Context(), make([]float64, 5), 1, 1)
	require.ErrorContains(t, err, "expected 1 rows × 4 features")
}

func TestTreeSHAPCancels(t *testing.T) {
	e := randomEnsemble(5, 4, 3, 4, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.SHAP(ctx, make([]float64, 40), 10, 2)
	require.ErrorIs(t, err, context.Canceled)
}

func TestLinearSHAPSumsGroupsAndAdds(t *testing.T) {
	// Columns: x (numeric, matrix col 0) and colour (one-hot, cols 1..3).
	l := &Linear{
		Weights: [][]float64{{2, 0.5, -1, 3}},
		Bias:    []float64{0.25},
		Means:   []float64{0.1, 0.5, 0.3, 0.2},
		Group:   []int{0, 1, 1, 1},
		Columns: 2,
		Link:    LinkLogit,
	}
	Z := []float64{1.1, 0, 1, 0}
	got, err := l.SHAP(Z, 1)
	require.NoError(t, err)
	require.InDelta(t, 0.25+0.2+0.25-0.3+0.6, got.Base[0], 1e-15)
	phi := got.Row(0, 0)
	require.InDelta(t, 2.0, phi[0], 1e-15)
	// colour: 0.5·(0−0.5) + (−1)·(1−0.3) + 3·(0−0.2) = −0.25 −0.7 −0.6
	require.InDelta(t, -1.55, phi[1], 1e-15)
	require.InDelta(t, l.Margin(Z)[0], got.Base[0]+phi[0]+phi[1], 1e-12)
	require.Equal(t, LinkLogit, got.Link)
	_, err = (&Linear{Weights: [][]float64{{1}}, Bias: []float64{0}, Means: []float64{0}, Group: []int{3}, Columns: 1}).SHAP([]float64{1}, 1)
	require.ErrorContains(t, err, "column 3 of 1")
}

func TestPermutationImportance(t *testing.T) {
	// y = 3·a; b is noise. Score = −mean squared error of predicting 3·a.
	rng := rand.New(rand.NewPCG(9, 9))
	n := 200
	rows := make([][]any, n)
	y := make([]float64, n)
	for i := range rows {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		rows[i] = []any{a, b}
		y[i] = 3 * a
	}
	score := func(_ context.Context, rs [][]any) (float64, error) {
		s := 0.0
		for i, r := range rs {
			d := 3*r[0].(float64) - y[i]
			s += d * d
		}
		return -s / float64(len(rs)), nil
	}
	var calls int
	base, imp, err := Permutation(t.Context(), []string{"a", "b"}, rows, score, PermutationOptions{Repeats: 4, Seed: 1, Progress: func(done, total int) { calls++; require.Equal(t, 8, total) }})
	require.NoError(t, err)
	require.Equal(t, 0.0, base)
	require.Equal(t, 8, calls)
	require.Equal(t, "a", imp[0].Column)
	// Shuffling a: E[(3a−3a')²] = 18 for unit normals.
	require.InDelta(t, 18, imp[0].Mean, 6)
	require.Equal(t, 0.0, imp[1].Mean)
	require.Len(t, imp[0].Drops, 4)
	// The caller's rows are untouched.
	require.Equal(t, 3*rows[0][0].(float64), y[0])
	_, again, err := Permutation(t.Context(), []string{"a", "b"}, rows, score, PermutationOptions{Repeats: 4, Seed: 1})
	require.NoError(t, err)
	require.Equal(t, imp[0].Drops, again[0].Drops, "same seed, same shuffles")
	_, _, err = Permutation(t.Context(), []string{"a"}, rows[:1], score, PermutationOptions{})
	require.ErrorContains(t, err, "at least two rows")
}

func TestMeanAbs(t *testing.T) {
	x := &Explanation{Rows: 2, Outputs: 2, Features: 2, Values: []float64{
		1, -2, // row 0, output 0
		0, 4, // row 0, output 1
		-3, 2, // row 1, output 0
		1, -1, // row 1, output 1
	}}
	require.Equal(t, []float64{2, 2, 0.5, 2.5}, x.MeanAbs())
	require.Equal(t, []float64{0, 0}, (&Explanation{Outputs: 1, Features: 2}).MeanAbs())
}
