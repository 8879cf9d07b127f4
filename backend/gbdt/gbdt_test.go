package gbdt

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

type cases struct {
	Versions map[string]string `json:"versions"`
	X        [][]*float64      `json:"x"`
	Cases    map[string]struct {
		File        string      `json:"file"`
		Kind        string      `json:"kind"`
		Predictions [][]float64 `json:"predictions"`
	} `json:"cases"`
}

// checkDir loads every model in dir and compares its predictions with the
// ones the Python package made, to 1e-6.
func checkDir(t *testing.T, dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	require.NoError(t, err)
	var c cases
	require.NoError(t, json.Unmarshal(raw, &c))
	require.NotEmpty(t, c.Cases)
	t.Logf("models from xgboost %s, lightgbm %s", c.Versions["xgboost"], c.Versions["lightgbm"])
	for name, tc := range c.Cases {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.File))
			require.NoError(t, err)
			m, err := Read(data)
			require.NoError(t, err)
			assert.Equal(t, tc.Kind, m.Kind)
			assert.Equal(t, 6, m.Features)
			require.Equal(t, len(tc.Predictions[0]), m.Outputs)
			out := make([]float64, m.Outputs)
			x := make([]float64, m.Features)
			worst := 0.0
			for r, row := range c.X {
				for i, v := range row {
					x[i] = math.NaN()
					if v != nil {
						x[i] = *v
					}
				}
				m.PredictRow(x, out)
				for k, want := range tc.Predictions[r] {
					d := math.Abs(out[k] - want)
					worst = math.Max(worst, d)
					require.InDelta(t, want, out[k], 1e-6, "row %d output %d", r, k)
				}
			}
			t.Logf("%s: %d trees, worst difference %.2g", name, m.Trees, worst)
		})
	}
}

func TestReadersMatchLibraryPredictions(t *testing.T) {
	checkDir(t, "testdata")
}

// TestReadersAgainstCurrentPackages regenerates the models with the pinned
// pip packages (.ci/python-test.txt) and checks them, so a new release of
// either library that changes its format is caught.
func TestReadersAgainstCurrentPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	py := testenv.Python(t, "xgboost", "lightgbm", "numpy")
	dir := t.TempDir()
	cmd := exec.Command(py, filepath.Join("testdata", "generate.py"), dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	checkDir(t, dir)
}

func TestBadModelFiles(t *testing.T) {
	good, err := os.ReadFile("testdata/lgb_binary.txt")
	require.NoError(t, err)
	goodX, err := os.ReadFile("testdata/xgb_binary.json")
	require.NoError(t, err)
	cases := map[string][]byte{
		"empty":             nil,
		"text":              []byte("hello world"),
		"pickle":            {0x80, 0x04, 0x95},
		"truncated lgb":     good[:len(good)/3],
		"lgb v9":            []byte(strings.Replace(string(good), "version=v4", "version=v9", 1)),
		"lgb no trees":      []byte("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\nobjective=regression\n\nend of trees\n"),
		"lgb bad objective": []byte(strings.Replace(string(good), "objective=binary sigmoid:1", "objective=weird", 1)),
		"lgb linear":        []byte(strings.Replace(string(good), "is_linear=0", "is_linear=1", 1)),
		"lgb cycle":         []byte(strings.Replace(string(good), "left_child=2 4 3 -1 5 -2", "left_child=0 4 3 -1 5 -2", 1)),
		"lgb bad feature":   []byte(strings.Replace(string(good), "split_feature=0 1 1 0 3 0", "split_feature=0 1 1 0 99 0", 1)),
		"truncated xgb":     goodX[:len(goodX)/2],
		"xgb ubjson":        []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner"),
		"xgb gblinear":      []byte(strings.Replace(string(goodX), `"name":"gbtree"`, `"name":"gblinear"`, 1)),
		"xgb version 9":     []byte(strings.Replace(string(goodX), `"version":[3`, `"version":[9`, 1)),
		"xgb objective":     []byte(strings.Replace(string(goodX), `"name":"binary:logistic"`, `"name":"rank:weird"`, 1)),
		"xgb other json":    []byte(`{"a":1}`),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Read(data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Unsupported model format/version")
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"testdata/lgb_binary.txt", "testdata/xgb_regression.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4000)])
	}
	f.Add([]byte("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\nobjective=regression\nTree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\nend of trees\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(data)
		if err != nil {
			return
		}
		// Whatever parsed must score without panicking or looping.
		x := make([]float64, m.Features)
		for i := range x {
			x[i] = float64(i) - 1
		}
		out := make([]float64, m.Outputs)
		m.PredictRow(x, out)
		x[0] = math.NaN()
		m.PredictRow(x, out)
		// And explain without panicking, when its node statistics pass.
		if e, err := m.Ensemble(); err == nil {
			_, err := e.SHAP(t.Context(), x, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A model saved without node statistics still predicts, but explaining it
// is refused in words rather than producing NaNs.
func TestEnsembleNeedsCovers(t *testing.T) {
	for _, c := range []struct{ file, drop, as string }{
		// encoding/json matches keys case-insensitively, so rename it.
		{"testdata/xgb_regression.json", `"sum_hessian"`, `"sum_hessian_gone"`},
		{"testdata/lgb_regression.txt", "internal_count=", "internal_count_gone="},
	} {
		body, err := os.ReadFile(c.file)
		require.NoError(t, err)
		good, err := Read(body)
		require.NoError(t, err)
		e, err := good.Ensemble()
		require.NoError(t, err)
		require.Equal(t, good.Trees, len(e.Trees))
		broken := bytes.ReplaceAll(body, []byte(c.drop), []byte(c.as))
		m, err := Read(broken)
		require.NoError(t, err, c.file)
		_, err = m.Ensemble()
		require.ErrorContains(t, err, "node statistics", c.file)
	}
}

func BenchmarkPredictRow(b *testing.B) {
	for _, name := range []string{"xgb_regression.json", "lgb_regression.txt"} {
		data, _ := os.ReadFile("testdata/" + name)
		m, err := Read(data)
		if err != nil {
			b.Fatal(err)
		}
		x := []float64{0.1, -0.3, 1.2, 0.5, -1, 0}
		out := make([]float64, m.Outputs)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				m.PredictRow(x, out)
			}
		})
	}
}
