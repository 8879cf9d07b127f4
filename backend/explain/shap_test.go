package explain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/testenv"
)

type shapModel struct {
	Name       string      `json:"name"`
	Kind       string      `json:"kind"`
	File       string      `json:"file,omitempty"`
	Trees      []shapTree  `json:"trees,omitempty"`
	BaseOffset []float64   `json:"base_offset,omitempty"`
	Coef       [][]float64 `json:"coef,omitempty"`
	Intercept  []float64   `json:"intercept,omitempty"`
	Background [][]float64 `json:"background,omitempty"`
	X          [][]float64 `json:"x,omitempty"`
	ensemble   *explain.Ensemble
}

type shapTree struct {
	Left      []int32   `json:"children_left"`
	Right     []int32   `json:"children_right"`
	Features  []int32   `json:"features"`
	Threshold []float64 `json:"thresholds"`
	Values    []float64 `json:"values"`
	Weight    []float64 `json:"node_sample_weight"`
}

type shapResult struct {
	Expected []float64     `json:"expected_value"`
	Values   [][][]float64 `json:"values"` // row, feature, output
}

// runShap computes shap.TreeExplainer's values for the models on rows x
// (nil = missing) in a Python subprocess.
func runShap(t *testing.T, x [][]*float64, models []shapModel) map[string]shapResult {
	t.Helper()
	py := testenv.Python(t, "shap", "xgboost", "lightgbm", "numpy")
	req, err := json.Marshal(map[string]any{"x": x, "models": models})
	require.NoError(t, err)
	cmd := exec.Command(py, filepath.Join("testdata", "shap_reference.py"))
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var resp struct {
		Versions map[string]string     `json:"versions"`
		Results  map[string]shapResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out, &resp))
	t.Logf("reference: %v", resp.Versions)
	return resp.Results
}

func rowsMatrix(x [][]*float64, features int) []float64 {
	X := make([]float64, 0, len(x)*features)
	for _, row := range x {
		for _, v := range row {
			if v == nil {
				X = append(X, math.NaN())
			} else {
				X = append(X, *v)
			}
		}
	}
	return X
}

// compare checks Tern's values against shap's to tol per value and
// additivity against Tern's own margin to 1e-9, and returns the worst
// difference.
func compare(t *testing.T, name string, e *explain.Ensemble, X []float64, n int, want shapResult, tol float64) float64 {
	t.Helper()
	got, err := e.SHAP(t.Context(), X, n, 0)
	require.NoError(t, err)
	require.Len(t, want.Expected, got.Outputs, name)
	worst := 0.0
	for o := 0; o < got.Outputs; o++ {
		require.InDelta(t, want.Expected[o], got.Base[o], tol, "%s expected value, output %d", name, o)
	}
	for r := 0; r < n; r++ {
		x := X[r*e.Features : (r+1)*e.Features]
		margin := e.Margin(x)
		for o := 0; o < got.Outputs; o++ {
			phi := got.Row(r, o)
			sum := got.Base[o]
			for j, v := range phi {
				w := want.Values[r][j][o]
				worst = math.Max(worst, math.Abs(w-v))
				require.InDelta(t, w, v, tol, "%s row %d feature %d output %d", name, r, j, o)
				sum += v
			}
			require.InDelta(t, margin[o], sum, 1e-9, "%s additivity row %d output %d", name, r, o)
		}
	}
	return worst
}

// TestTreeSHAPMatchesShap compares path-dependent TreeSHAP on the XGBoost
// and LightGBM models of backend/gbdt/testdata (made by its generate.py
// with the pinned packages: missing values, zero-as-missing, dart, multi-
// class, count objectives) with pip shap's TreeExplainer, to 1e-6 per value.
func TestTreeSHAPMatchesShap(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "backend", "gbdt", "testdata")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	require.NoError(t, err)
	var cases struct {
		X     [][]*float64 `json:"x"`
		Cases map[string]struct {
			File string `json:"file"`
			Kind string `json:"kind"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &cases))
	var models []shapModel
	for name, c := range cases.Cases {
		if filepath.Ext(c.File) != ".json" && filepath.Ext(c.File) != ".txt" {
			continue // the UBJSON copies hold the same trees
		}
		body, err := os.ReadFile(filepath.Join(dir, c.File))
		require.NoError(t, err)
		m, err := gbdt.Read(body)
		require.NoError(t, err, name)
		e, err := m.Ensemble()
		require.NoError(t, err, name)
		models = append(models, shapModel{Name: name, Kind: c.Kind, File: filepath.Join(dir, c.File), ensemble: e})
	}
	require.GreaterOrEqual(t, len(models), 10)
	ref := runShap(t, cases.X, models)
	for _, m := range models {
		X := rowsMatrix(cases.X, m.ensemble.Features)
		worst := compare(t, m.Name, m.ensemble, X, len(cases.X), ref[m.Name], 1e-6)
		t.Logf("%s: %d trees, link %s, worst difference from shap %.2g", m.Name, len(m.ensemble.Trees), m.ensemble.Link, worst)
	}
}

// TestBuiltinGBDTMatchesShap gives the built-in GBDT's trees to shap in its
// custom-ensemble format (x <= threshold goes left in both) and compares.
// Both sides compute in float64, so the bound is far tighter.
func TestBuiltinGBDTMatchesShap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := &ml.Frame{Columns: []string{"a", "b", "c", "colour", "y"}}
	colours := []string{"red", "green", "blue", "grey"}
	for i := 0; i < 1500; i++ {
		a, b, c := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		k := rng.IntN(4)
		y := "a"
		switch {
		case a+0.5*b*b > 1:
			y = "b"
		case c-float64(k)*0.4 > 0:
			y = "c"
		}
		var av any = a
		if i%13 == 0 {
			av = nil
		}
		f.Rows = append(f.Rows, []any{av, b, c, colours[k], y})
	}
	for _, task := range []string{"multiclass", "binary"} {
		t.Run(task, func(t *testing.T) {
			data := f
			if task == "binary" {
				data = &ml.Frame{Columns: f.Columns}
				for _, r := range f.Rows {
					r = append([]any(nil), r...)
					r[4] = fmt.Sprint(r[4] == "a")
					data.Rows = append(data.Rows, r)
				}
			}
			m, _, err := ml.Train(t.Context(), data, ml.Params{Target: "y", Model: ml.AlgoGBDT, MaxIter: 30}, nil)
			require.NoError(t, err)
			rows := &ml.Frame{Columns: data.Columns, Rows: data.Rows[:80]}
			X, err := m.Prep.Transform(rows)
			require.NoError(t, err)
			k := len(m.GBDT.Baseline)
			sm := shapModel{Name: "builtin", Kind: "tree_dict", BaseOffset: m.GBDT.Baseline}
			for _, it := range m.GBDT.Trees {
				for out, tr := range it {
					sm.Trees = append(sm.Trees, toShapTree(tr, out, k))
				}
			}
			x := make([][]*float64, len(rows.Rows))
			w := m.Prep.Width()
			for r := range x {
				for j := 0; j < w; j++ {
					v := X[r*w+j]
					x[r] = append(x[r], &v)
				}
			}
			ref := runShap(t, x, []shapModel{sm})
			ex, err := m.Explain(t.Context(), rows, nil)
			require.NoError(t, err)
			worst := 0.0
			for r := 0; r < ex.Rows; r++ {
				for o := 0; o < ex.Outputs; o++ {
					for j, v := range ex.Row(r, o) {
						want := ref["builtin"].Values[r][j][o]
						worst = math.Max(worst, math.Abs(want-v))
						require.InDelta(t, want, v, 1e-9, "row %d feature %d output %d", r, j, o)
					}
				}
			}
			require.InDeltaSlice(t, ref["builtin"].Expected, ex.Base, 1e-9)
			t.Logf("%d trees, worst difference from shap %.2g", len(sm.Trees), worst)
		})
	}
}

// toShapTree writes one built-in tree as shap's dict: -1 children at
// leaves, a values column per output (zero but for the tree's own output),
// internal values the cover-weighted mean below them.
func toShapTree(tr ml.Tree, out, k int) shapTree {
	n := len(tr.Feature)
	st := shapTree{Left: make([]int32, n), Right: make([]int32, n), Features: make([]int32, n), Threshold: tr.Threshold, Values: make([]float64, n*k), Weight: tr.Cover}
	val := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		if tr.Feature[i] < 0 {
			st.Left[i], st.Right[i], st.Features[i] = -1, -1, -2
			val[i] = tr.Value[i]
		} else {
			st.Left[i], st.Right[i], st.Features[i] = tr.Left[i], tr.Right[i], tr.Feature[i]
			l, r := tr.Left[i], tr.Right[i]
			val[i] = (tr.Cover[l]*val[l] + tr.Cover[r]*val[r]) / tr.Cover[i]
		}
		st.Values[i*k+out] = val[i]
	}
	return st
}

func matrixRows(Z []float64, w int) [][]float64 {
	var out [][]float64
	for r := 0; r*w < len(Z); r++ {
		out = append(out, Z[r*w:(r+1)*w])
	}
	return out
}

// TestLinearSHAPMatchesShap compares the built-in logistic and linear
// models' explanations with shap.LinearExplainer given the same weights and
// the training rows (both through the fitted preprocessing) as background:
// shap's values per matrix column, summed over each one-hot group, equal
// Tern's per input column.
func TestLinearSHAPMatchesShap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	f := &ml.Frame{Columns: []string{"a", "b", "colour", "y", "v", "k"}}
	colours := []string{"red", "green", "blue", "grey", "pink"}
	for i := 0; i < 600; i++ {
		a, b := rng.NormFloat64()*3+1, rng.NormFloat64()
		c := rng.IntN(5)
		var av any = a
		if i%11 == 0 {
			av = nil // median-imputed: the background mean of a is then not 0
		}
		y := fmt.Sprint(a-b+float64(c)*0.5+rng.NormFloat64() > 1)
		k := []string{"x", "y", "z"}[min(2, max(0, int(a/2+float64(c)/3)))]
		f.Rows = append(f.Rows, []any{av, b, colours[c], y, 2*a - b + float64(c) + rng.NormFloat64(), k})
	}
	type linCase struct {
		name     string
		m        *ml.Model
		rows, bg *ml.Frame
	}
	var lcs []linCase
	var models []shapModel
	for _, c := range []struct{ target, algo string }{{"y", ml.AlgoLogistic}, {"v", ml.AlgoLinear}, {"k", ml.AlgoLogistic}} {
		cols := []string{"a", "b", "colour", c.target}
		data := &ml.Frame{Columns: cols}
		for _, r := range f.Rows {
			data.Rows = append(data.Rows, []any{r[0], r[1], r[2], r[slices.Index(f.Columns, c.target)]})
		}
		m, _, err := ml.Train(t.Context(), data, ml.Params{Target: c.target, Model: c.algo}, nil)
		require.NoError(t, err)
		require.True(t, m.Prep.OneHot)
		rows := &ml.Frame{Columns: cols, Rows: data.Rows[:50]}
		Z, err := m.Prep.Transform(rows)
		require.NoError(t, err)
		B, err := m.Prep.Transform(data)
		require.NoError(t, err)
		w := m.Prep.Width()
		name := c.target + "/" + c.algo
		lcs = append(lcs, linCase{name, m, rows, data})
		models = append(models, shapModel{Name: name, Kind: "linear", Coef: m.Linear.Weights, Intercept: m.Linear.Bias, Background: matrixRows(B, w), X: matrixRows(Z, w)})
	}
	// One Python run for all three: importing shap is the slow part.
	refs := runShap(t, nil, models)
	for _, c := range lcs {
		t.Run(c.name, func(t *testing.T) {
			m, ref := c.m, refs[c.name]
			w := m.Prep.Width()
			ex, err := m.Explain(t.Context(), c.rows, c.bg)
			require.NoError(t, err)
			require.InDeltaSlice(t, ref.Expected, ex.Base, 1e-9)
			group := []int{}
			for i, ft := range m.Prep.Features {
				for range max(1, len(ft.Categories)) {
					group = append(group, i)
				}
			}
			require.Len(t, group, w)
			worst := 0.0
			for r := 0; r < ex.Rows; r++ {
				for o := 0; o < ex.Outputs; o++ {
					want := make([]float64, ex.Features)
					for j := 0; j < w; j++ {
						want[group[j]] += ref.Values[r][j][o]
					}
					for j, v := range ex.Row(r, o) {
						worst = math.Max(worst, math.Abs(want[j]-v))
					}
					require.InDeltaSlice(t, want, ex.Row(r, o), 1e-9, "row %d output %d", r, o)
				}
			}
			t.Logf("%d outputs, %d matrix columns, worst difference from shap %.2g", ex.Outputs, w, worst)
		})
	}
}
