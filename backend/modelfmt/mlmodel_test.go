package modelfmt

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/testenv"
)

// trained fits a built-in model on rows with a numeric column, a
// categorical one and a missing value in row 0.
func trained(t *testing.T, algo string) (*ml.Model, *ml.Frame) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 1))
	f := &ml.Frame{Columns: []string{"x1", "x2", "colour", "y"}}
	colours := []string{"red", "green", "blue"}
	for i := 0; i < 1000; i++ {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		c := r.IntN(3)
		y := "no"
		if x1+0.5*x2+float64(c)*0.3 > 0.2 {
			y = "yes"
		}
		var v1 any = fmt.Sprint(x1)
		if i%17 == 0 {
			v1 = nil
		}
		f.Rows = append(f.Rows, []any{v1, x2, colours[c], y})
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "y", Model: algo}, nil)
	require.NoError(t, err)
	return m, f
}

func TestLoadGBDTFlavors(t *testing.T) {
	sig := DefaultSignature([]string{"a", "b", "c", "d", "e", "f"}, 6)
	xdir := testenv.Dir(t, map[string]string{"model.json": testenv.GBDTModel(t, "xgb_binary.json")})
	require.NoError(t, WriteImported(xdir, FlavorXGBoost, "model.json", sig, json.RawMessage(`{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[1,2,3,4,5,6]]}}`)))
	m, err := Load(xdir)
	require.NoError(t, err)
	assert.Equal(t, FlavorXGBoost, m.Flavor)
	assert.Equal(t, sig.Inputs, m.Signature.Inputs)
	assert.JSONEq(t, `{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[1,2,3,4,5,6]]}}`, string(m.Example))
	assert.NotNil(t, m.GBDT)
	assert.False(t, m.Labels)

	// No signature: names come from the model file (LightGBM Column_i).
	ldir := testenv.Dir(t, map[string]string{
		"MLmodel":   "flavors:\n  lightgbm:\n    data: model.lgb\n    lgb_version: 4.7.0\n",
		"model.lgb": testenv.GBDTModel(t, "lgb_multi.txt"),
	})
	m, err = Load(ldir)
	require.NoError(t, err)
	assert.Equal(t, "Column_0", m.Signature.Inputs[0].Name)
	assert.Equal(t, 3, m.GBDT.Outputs)
}

// The descriptor Tern writes is the YAML MLflow writes: two-space indent,
// the signature as single-quoted JSON strings.
func TestWriteImportedLooksLikeMLflow(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteImported(dir, FlavorXGBoost, "model.ubj", DefaultSignature([]string{"it's"}, 1), nil))
	b, err := os.ReadFile(filepath.Join(dir, MLmodelFile))
	require.NoError(t, err)
	assert.Equal(t, `artifact_path: model
flavors:
  python_function:
    data: model.ubj
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
  xgboost:
    data: model.ubj
    model_format: ubj
signature:
  inputs: '[{"type":"double","name":"it''s","required":true}]'
  params: null
`, string(b))
	mm, err := ParseMLmodel(b)
	require.NoError(t, err)
	cols, err := mm.InputSignature()
	require.NoError(t, err)
	assert.Equal(t, []Column{{Name: "it's", Type: "double"}}, cols)
	assert.NoFileExists(t, filepath.Join(dir, InputExampleFile))
	req, err := os.ReadFile(filepath.Join(dir, "requirements.txt"))
	require.NoError(t, err)
	assert.Equal(t, "mlflow\nxgboost\n", string(req))
}

func TestLoadRefusals(t *testing.T) {
	bomb := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for i, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = n
		_ = i
	}
	bomb += "flavors:\n  lightgbm: {data: *i}\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"pickle", map[string]string{"MLmodel": "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n", "model.pkl": "\x80\x04"}, "never unpickles"},
		{"unknown flavor", map[string]string{"MLmodel": "flavors:\n  onnx:\n    data: m.onnx\n"}, "serves tern, xgboost and lightgbm"},
		{"no flavors", map[string]string{"MLmodel": "artifact_path: model\n"}, "lists no flavors"},
		{"no MLmodel", map[string]string{"model.json": "{}"}, "no file MLmodel"},
		{"escape", map[string]string{"MLmodel": "flavors:\n  lightgbm:\n    data: ../../etc/passwd\n"}, "cannot be opened"},
		{"missing data", map[string]string{"MLmodel": "flavors:\n  xgboost:\n    data: model.json\n"}, "no file model.json"},
		{"not a model", map[string]string{"MLmodel": "flavors:\n  xgboost:\n    data: model.json\n", "model.json": "{\"x\":1}"}, "Unsupported model format/version"},
		{"huge MLmodel", map[string]string{"MLmodel": "flavors:\n  xgboost: {}\n#" + strings.Repeat("x", 2<<20)}, "larger than"},
		{"bad yaml", map[string]string{"MLmodel": "flavors: [\n"}, "not valid YAML"},
		{"alias bomb", map[string]string{"MLmodel": bomb}, "not valid YAML"},
		{"signature mismatch", map[string]string{"MLmodel": "flavors:\n  lightgbm:\n    data: m.lgb\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x\"}]'\n", "m.lgb": testenv.GBDTModel(t, "lgb_binary.txt")}, "names 1 inputs but the lightgbm model reads 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(testenv.Dir(t, tc.files))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzParseMLmodel(f *testing.F) {
	f.Add([]byte("flavors:\n  xgboost:\n    data: model.json\nsignature:\n  inputs: '[]'\n"))
	f.Add([]byte("a: &a [1,2]\nb: [*a,*a]\nflavors: {tern: {}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMLmodel(data)
		if err == nil {
			_, _ = m.Flavor()
			_, _ = m.InputSignature()
		}
	})
}

// Moved from backend/ml (TestSaveLoadPredictsTheSame) with the writer.
func TestSaveLoadMLPredictsTheSame(t *testing.T) {
	for _, algo := range []string{ml.AlgoGBDT, ml.AlgoLogistic} {
		m, f := trained(t, algo)
		dir := filepath.Join(t.TempDir(), "model")
		require.NoError(t, SaveML(dir, m, &ml.Frame{Columns: f.Columns, Rows: f.Rows[:3]}))
		loaded, err := LoadML(dir)
		require.NoError(t, err)
		want, err := m.PredictFrame(f)
		require.NoError(t, err)
		got, err := loaded.PredictFrame(f)
		require.NoError(t, err)
		assert.Equal(t, want, got)

		mlm, err := os.ReadFile(filepath.Join(dir, MLmodelFile))
		require.NoError(t, err)
		assert.Contains(t, string(mlm), "\n  tern:\n    algorithm: "+algo)
		assert.Contains(t, string(mlm), "flavors:\n  python_function:\n    code: code\n    data: model.json\n")
		assert.Contains(t, string(mlm), "loader_module: tern_pyfunc_v1\n")
		assert.Contains(t, string(mlm), `params: '[{"name": "predict_method"`)
		loader, err := os.ReadFile(filepath.Join(dir, "code", "tern_pyfunc_v1.py"))
		require.NoError(t, err)
		assert.Contains(t, string(loader), "def _load_pyfunc(path):")
		assert.Contains(t, string(mlm), `"name":"colour","type":"string"`)
		var ex ml.Frame
		b, err := os.ReadFile(filepath.Join(dir, InputExampleFile))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &ex))
		assert.Equal(t, []string{"x1", "x2", "colour"}, ex.Columns)
		assert.Len(t, ex.Rows, 3)
		assert.Nil(t, ex.Rows[0][0], "row 0 has a missing x1")

		// The same rows as records give the same answers.
		recs := []map[string]any{{"x1": 2.0, "x2": 1.0, "colour": "red", "extra": "ignored"}, {"x1": -2.0, "x2": -1.0, "colour": "never-seen"}}
		preds, err := loaded.PredictRows(recs)
		require.NoError(t, err)
		assert.Equal(t, "yes", preds[0].Label)
		assert.Equal(t, "no", preds[1].Label)
		assert.InDelta(t, 1, preds[0].Probabilities[0]+preds[0].Probabilities[1], 1e-9)

		// Load (any flavor) reads the same directory with the serving view
		// of the signature: every input required (values may be null).
		all, err := Load(dir)
		require.NoError(t, err)
		assert.Equal(t, FlavorTern, all.Flavor)
		assert.Equal(t, SignatureOf(m), all.Signature)
		assert.False(t, all.Signature.Inputs[0].Optional)
		assert.Equal(t, Column{Name: "prediction", Type: "string"}, all.Signature.Outputs[0])
		assert.JSONEq(t, string(b), string(all.Example))
	}
}

// Moved from backend/ml (TestLoadRejects) with the reader; the missing
// MLmodel case now reads "no file MLmodel", the one wording of the one
// bounded reader.
func TestLoadMLRejects(t *testing.T) {
	m, _ := trained(t, ml.AlgoGBDT)
	good, err := json.Marshal(m)
	require.NoError(t, err)
	cases := []struct {
		name    string
		mlmodel string
		model   []byte
		want    string
	}{
		{"truncated", "flavors:\n  tern:\n    x: 1\n", good[:len(good)/2], "Unsupported model format/version"},
		{"wrong format", "flavors:\n  tern: {}\n", []byte(`{"format":"onnx","version":1}`), "Unsupported model format/version"},
		{"future version", "flavors:\n  tern: {}\n", []byte(strings.Replace(string(good), `"version":1`, `"version":99`, 1)), "v99"},
		{"pickle flavor", "flavors:\n  sklearn:\n    pickled_model: model.pkl\n", good, `no "tern" flavor`},
		{"no MLmodel", "", good, "no file MLmodel"},
		{"bad child", "flavors:\n  tern: {}\n", []byte(strings.Replace(string(good), `"l":[1`, `"l":[0`, 1)), "damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.mlmodel != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, MLmodelFile), []byte(c.mlmodel), 0o644))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, TernModelFile), c.model, 0o644))
			_, err := LoadML(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err = LoadML(filepath.Join(t.TempDir(), "absent"))
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestXGBoostClassifierClass(t *testing.T) {
	for class, want := range map[string]bool{
		"xgboost.sklearn.XGBClassifier": true, "xgboost.sklearn.XGBRFClassifier": true,
		"xgboost.core.Booster": false, "": false, "mine.XGBClassifier": false,
	} {
		dir := testenv.Dir(t, map[string]string{
			"MLmodel":   "flavors:\n  xgboost:\n    data: model.bin\n    model_class: " + class + "\n",
			"model.bin": testenv.GBDTModel(t, "xgb_binary.ubj"),
		})
		m, err := Load(dir)
		require.NoError(t, err, class)
		assert.Equal(t, want, m.Labels, class)
	}
}
