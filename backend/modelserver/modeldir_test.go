package modelserver

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/testenv"
)

func TestLoadDirGBDTFlavors(t *testing.T) {
	sig := modelfmt.DefaultSignature([]string{"a", "b", "c", "d", "e", "f"}, 6)
	xdir := testenv.Dir(t, map[string]string{"model.json": testenv.GBDTModel(t, "xgb_binary.json")})
	require.NoError(t, modelfmt.WriteImported(xdir, "xgboost", "model.json", sig, json.RawMessage(`{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[1,2,3,4,5,6]]}}`)))
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
	ldir := testenv.Dir(t, map[string]string{
		"MLmodel":   "flavors:\n  lightgbm:\n    data: model.lgb\n    lgb_version: 4.7.0\n",
		"model.lgb": testenv.GBDTModel(t, "lgb_multi.txt"),
	})
	l, err = LoadDir(ldir, "m", "1")
	require.NoError(t, err)
	assert.Equal(t, "Column_0", l.Model.Signature.Inputs[0].Name)
	assert.Equal(t, 3, l.Model.Predictor.OutputWidth())
}

// An MLflow xgboost model saved from XGBClassifier answers labels, as
// MLflow's pyfunc (XGBClassifier.predict) does; a Booster answers
// probabilities, as Booster.predict does. Expected labels come from the
// probabilities pip xgboost 3.2.0 computed (backend/gbdt/testdata).
func TestXGBoostClassifierAnswersLabels(t *testing.T) {
	var c struct {
		X     [][]*float64 `json:"x"`
		Cases map[string]struct {
			Predictions [][]float64 `json:"predictions"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal([]byte(testenv.GBDTModel(t, "cases.json")), &c))
	var rows [][]float64
	var idx []int
	for r, row := range c.X {
		vals := make([]float64, 0, len(row))
		for _, v := range row {
			if v == nil {
				break
			}
			vals = append(vals, *v)
		}
		if len(vals) == len(row) {
			rows, idx = append(rows, vals), append(idx, r)
		}
	}
	require.Greater(t, len(rows), 10)
	req, _ := json.Marshal(map[string]any{"instances": rows})
	for _, tc := range []struct {
		file, class string
		labels      bool
	}{
		{"xgb_binary.ubj", "xgboost.sklearn.XGBClassifier", true},
		{"xgb_multi.ubj", "xgboost.sklearn.XGBClassifier", true},
		{"xgb_binary.ubj", "xgboost.sklearn.XGBRFClassifier", true},
		{"xgb_binary.ubj", "xgboost.core.Booster", false},
		{"xgb_binary.json", "", false},
	} {
		t.Run(tc.file+" "+tc.class, func(t *testing.T) {
			mm := "flavors:\n  xgboost:\n    data: model.bin\n    model_format: ubj\n"
			if tc.class != "" {
				mm += "    model_class: " + tc.class + "\n"
			}
			l, err := LoadDir(testenv.Dir(t, map[string]string{"MLmodel": mm, "model.bin": testenv.GBDTModel(t, tc.file)}), "m", "1")
			require.NoError(t, err)
			s, err := NewServer(l.Model, ServerOptions{})
			require.NoError(t, err)
			ts := httptest.NewServer(s)
			defer ts.Close()
			code, body := post(t, ts.URL+"/invocations", "application/json", string(req))
			require.Equal(t, 200, code, body)
			var got struct{ Predictions []any }
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			require.Len(t, got.Predictions, len(rows))
			name := strings.TrimSuffix(strings.TrimSuffix(tc.file, ".ubj"), ".json")
			for i, r := range idx {
				p := c.Cases[name].Predictions[r]
				if !tc.labels {
					assert.InDelta(t, p[0], got.Predictions[i], 1e-6, "row %d", r)
					continue
				}
				want := 0
				if len(p) == 1 && p[0] > 0.5 {
					want = 1
				}
				for k := range p {
					if len(p) > 1 && p[k] > p[want] {
						want = k
					}
				}
				assert.Equal(t, float64(want), got.Predictions[i], "row %d (%v)", r, p)
			}
			if tc.labels {
				// V2 keeps the scores next to the labels.
				code, body = post(t, ts.URL+"/v2/models/m/infer", "application/json",
					`{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[0.1,0.2,0.3,0.4,0.5,0.6]}]}`)
				require.Equal(t, 200, code, body)
				assert.Contains(t, body, `"probabilities"`)
			}
		})
	}
}
