package serving

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func testdata(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("..", "gbdt", "testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestLoadDirGBDTFlavors(t *testing.T) {
	sig := Signature{Inputs: []Column{{"a", "double", false}, {"b", "double", false}, {"c", "double", false}, {"d", "double", false}, {"e", "double", false}, {"f", "double", false}}}
	xdir := writeDir(t, map[string]string{
		"MLmodel":            string(WriteMLmodel("xgboost", "model.json", sig, "input_example.json")),
		"model.json":         testdata(t, "xgb_binary.json"),
		"input_example.json": `{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[1,2,3,4,5,6]]}}`,
	})
	l, err := LoadDir(xdir, "churn", "2")
	require.NoError(t, err)
	assert.Equal(t, "xgboost", l.Flavor)
	assert.Equal(t, sig.Inputs, l.Model.Signature.Inputs)
	assert.NotEmpty(t, l.Example)
	s, err := NewServer(l.Model, ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	code, body := post(t, ts.URL+"/invocations", "application/json", string(l.Example))
	require.Equal(t, 200, code, body)

	// No signature: names come from the model file (LightGBM Column_i).
	ldir := writeDir(t, map[string]string{
		"MLmodel":   "flavors:\n  lightgbm:\n    data: model.lgb\n    lgb_version: 4.7.0\n",
		"model.lgb": testdata(t, "lgb_multi.txt"),
	})
	l, err = LoadDir(ldir, "m", "1")
	require.NoError(t, err)
	assert.Equal(t, "Column_0", l.Model.Signature.Inputs[0].Name)
	assert.Equal(t, 3, l.Model.Predictor.OutputWidth())
}

func TestLoadDirRefusals(t *testing.T) {
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
		{"signature mismatch", map[string]string{"MLmodel": "flavors:\n  lightgbm:\n    data: m.lgb\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x\"}]'\n", "m.lgb": testdata(t, "lgb_binary.txt")}, "names 1 inputs but the lightgbm model reads 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadDir(writeDir(t, tc.files), "m", "1")
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
