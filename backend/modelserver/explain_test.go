package modelserver

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/testenv"
)

// mlflowContributions is the "contributions" object of an MLflow answer.
type mlflowContributions struct {
	Method  string          `json:"method"`
	Link    string          `json:"link"`
	Outputs []string        `json:"outputs"`
	Columns []string        `json:"columns"`
	Base    []float64       `json:"base"`
	Values  json.RawMessage `json:"values"`
}

// rows flattens values to [row][output][column].
func (c mlflowContributions) rows(t *testing.T) [][][]float64 {
	t.Helper()
	if len(c.Base) == 1 {
		var v [][]float64
		require.NoError(t, json.Unmarshal(c.Values, &v))
		out := make([][][]float64, len(v))
		for r := range v {
			out[r] = [][]float64{v[r]}
		}
		return out
	}
	var v [][][]float64
	require.NoError(t, json.Unmarshal(c.Values, &v))
	return v
}

// linkOf turns a margin vector into the model's output, for the
// additivity check against what the model predicts.
func linkOf(link string, margin []float64) []float64 {
	out := make([]float64, len(margin))
	switch link {
	case explain.LinkLogit:
		out[0] = 1 / (1 + math.Exp(-margin[0]))
	case explain.LinkLog:
		out[0] = math.Exp(margin[0])
	case explain.LinkSoftmax:
		mx, sum := math.Inf(-1), 0.0
		for _, m := range margin {
			mx = math.Max(mx, m)
		}
		for i, m := range margin {
			out[i] = math.Exp(m - mx)
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
	default:
		copy(out, margin)
	}
	return out
}

func trainedGBDT(t *testing.T, task string) *ml.Model {
	t.Helper()
	f := &ml.Frame{Columns: []string{"x", "color", "z", "label"}}
	for i := 0; i < 300; i++ {
		color := []string{"red", "blue", "green"}[i%3]
		x, z := float64(i%17), float64((i*7)%11)
		label := any("no")
		switch {
		case task == ml.Regression:
			label = x*2 + z
		case x+z > 14 || color == "blue" && i%5 == 0:
			label = "yes"
		}
		row := []any{x, color, z, label}
		if i%13 == 0 {
			row[0] = nil // missing values take the model's default direction
		}
		f.Rows = append(f.Rows, row)
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "label", Model: ml.AlgoGBDT, MaxIter: 30, MaxDepth: 4}, nil)
	require.NoError(t, err)
	return m
}

// The built-in GBDT answers its contributions when asked through MLflow's
// params: each equals backend/explain's (through the model's own
// preprocessing) to 1e-12, and base + contributions = the margin whose
// link gives the predicted probability.
func TestMLflowExplainBuiltInGBDT(t *testing.T) {
	for _, task := range []string{ml.Classification, ml.Regression} {
		t.Run(task, func(t *testing.T) {
			m := trainedGBDT(t, task)
			s, err := NewServer(FromML(m, "colors", "1"), ServerOptions{})
			require.NoError(t, err)
			ts := httptest.NewServer(s)
			defer ts.Close()
			records := []map[string]any{{"x": 3.0, "color": "blue", "z": 9.0}, {"x": nil, "color": "red", "z": 1.0}, {"x": 16.0, "color": "purple", "z": 10.0}}
			body, _ := json.Marshal(map[string]any{"dataframe_records": records, "params": map[string]any{"explain": true, "predict_method": "predict_proba"}})
			if task == ml.Regression {
				body, _ = json.Marshal(map[string]any{"dataframe_records": records, "params": map[string]any{"explain": true}})
			}
			code, resp := post(t, ts.URL+"/invocations", "application/json", string(body))
			require.Equal(t, 200, code, resp)
			var got struct {
				Predictions   json.RawMessage     `json:"predictions"`
				Contributions mlflowContributions `json:"contributions"`
			}
			require.NoError(t, json.Unmarshal([]byte(resp), &got))
			c := got.Contributions
			assert.Equal(t, "TreeSHAP (path-dependent)", c.Method)
			assert.Equal(t, []string{"x", "color", "z"}, c.Columns)

			f := ml.FrameFromRecords(m.InputNames(), records)
			want, err := m.Explain(t.Context(), f, nil)
			require.NoError(t, err)
			assert.Equal(t, want.Link, c.Link)
			margins, err := m.Margins(f)
			require.NoError(t, err)
			preds, err := m.PredictFrame(f)
			require.NoError(t, err)
			vals := c.rows(t)
			require.Len(t, vals, len(records))
			for r := range records {
				margin := make([]float64, want.Outputs)
				for o := 0; o < want.Outputs; o++ {
					assert.InDelta(t, want.Base[o], c.Base[o], 1e-12)
					margin[o] = c.Base[o]
					for j, v := range want.Row(r, o) {
						assert.InDelta(t, v, vals[r][o][j], 1e-12, "row %d output %d column %d", r, o, j)
						margin[o] += vals[r][o][j]
					}
					assert.InDelta(t, margins[r*want.Outputs+o], margin[o], 1e-9, "additivity, row %d", r)
				}
				if task == ml.Regression {
					assert.InDelta(t, preds[r].Value, margin[0], 1e-9)
					continue
				}
				assert.Equal(t, []string{"yes"}, c.Outputs)
				assert.InDelta(t, preds[r].Probabilities[1], linkOf(c.Link, margin)[0], 1e-9, "P(yes) from the margin, row %d", r)
			}
		})
	}
}

// XGBoost and LightGBM models explain through both protocols: MLflow's
// params and V2's parameters (an extra "contributions" tensor whose last
// column is the base value). Values equal backend/explain's TreeSHAP of the
// same trees to 1e-12 and add up to the served prediction through the link.
func TestExplainImportedTrees(t *testing.T) {
	var cases struct {
		X [][]*float64 `json:"x"`
	}
	require.NoError(t, json.Unmarshal([]byte(testenv.GBDTModel(t, "cases.json")), &cases))
	rows := cases.X[:12]
	flat := make([]float64, 0, len(rows)*6)
	var instances [][]any
	for _, row := range rows {
		var inst []any
		for _, v := range row {
			if v == nil {
				flat, inst = append(flat, math.NaN()), append(inst, nil)
				continue
			}
			flat, inst = append(flat, *v), append(inst, *v)
		}
		instances = append(instances, inst)
	}
	for _, file := range []string{"xgb_binary.json", "xgb_multi.json", "xgb_regression.json", "xgb_poisson.json", "lgb_binary.txt", "lgb_multi.txt", "lgb_regression.txt"} {
		t.Run(file, func(t *testing.T) {
			g, err := gbdt.Read([]byte(testenv.GBDTModel(t, file)))
			require.NoError(t, err)
			e, err := g.Ensemble()
			require.NoError(t, err)
			want, err := e.SHAP(t.Context(), flat, len(rows), 1)
			require.NoError(t, err)
			preds := g.Predict(flat, len(rows))

			mm := "flavors:\n  xgboost:\n    data: model.bin\n"
			if strings.HasPrefix(file, "lgb") {
				mm = "flavors:\n  lightgbm:\n    data: model.bin\n"
			}
			l, err := LoadDir(testenv.Dir(t, map[string]string{"MLmodel": mm, "model.bin": testenv.GBDTModel(t, file)}), "m", "1")
			require.NoError(t, err)
			s, err := NewServer(l.Model, ServerOptions{})
			require.NoError(t, err)
			ts := httptest.NewServer(s)
			defer ts.Close()

			// MLflow.
			body, _ := json.Marshal(map[string]any{"instances": instances, "params": map[string]any{"explain": true}})
			code, resp := post(t, ts.URL+"/invocations", "application/json", string(body))
			require.Equal(t, 200, code, resp)
			var got struct{ Contributions mlflowContributions }
			require.NoError(t, json.Unmarshal([]byte(resp), &got))
			vals := got.Contributions.rows(t)
			require.Len(t, got.Contributions.Columns, 6)
			require.Len(t, got.Contributions.Outputs, want.Outputs)

			// V2.
			v2 := fmt.Sprintf(`{"id":"q1","parameters":{"explain":true},"inputs":[{"name":"x","shape":[%d,6],"datatype":"FP64","data":%s}]}`, len(rows), mustJSON(instances))
			code, resp = post(t, ts.URL+"/v2/models/m/infer", "application/json", v2)
			require.Equal(t, 200, code, resp)
			var v2got struct {
				Outputs []struct {
					Name       string            `json:"name"`
					Shape      []int             `json:"shape"`
					Data       []float64         `json:"data"`
					Parameters map[string]string `json:"parameters"`
				} `json:"outputs"`
			}
			require.NoError(t, json.Unmarshal([]byte(resp), &v2got))
			last := v2got.Outputs[len(v2got.Outputs)-1]
			require.Equal(t, "contributions", last.Name)
			assert.Equal(t, want.Link, last.Parameters["link"])
			assert.Equal(t, "base value", last.Parameters["last_column"])
			wantShape := []int{len(rows), 7}
			if want.Outputs > 1 {
				wantShape = []int{len(rows), want.Outputs, 7}
			}
			assert.Equal(t, wantShape, last.Shape)
			require.Len(t, last.Data, len(rows)*want.Outputs*7)

			for r := range rows {
				margin := make([]float64, want.Outputs)
				for o := 0; o < want.Outputs; o++ {
					at := (r*want.Outputs + o) * 7
					assert.InDelta(t, want.Base[o], last.Data[at+6], 1e-12)
					assert.InDelta(t, want.Base[o], got.Contributions.Base[o], 1e-12)
					margin[o] = want.Base[o]
					for j, v := range want.Row(r, o) {
						assert.InDelta(t, v, vals[r][o][j], 1e-12, "MLflow row %d output %d column %d", r, o, j)
						assert.InDelta(t, v, last.Data[at+j], 1e-12, "V2 row %d output %d column %d", r, o, j)
						margin[o] += v
					}
				}
				exact := e.Margin(flat[r*6 : (r+1)*6])
				for o := range margin {
					assert.InDelta(t, exact[o], margin[o], 1e-9, "additivity, row %d output %d", r, o)
				}
				// XGBoost predicts in float32, as Tern's reader does to
				// match it, so the served prediction agrees to float32.
				out := linkOf(want.Link, margin)
				for o := range g.Outputs {
					assert.InEpsilon(t, preds[r*g.Outputs+o], out[o], 1e-6, "the link of the margin is the prediction, row %d", r)
				}
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// V2 metadata lists the contributions output of a model that explains;
// naming it in outputs asks for it as the parameter does.
func TestV2ContributionsByName(t *testing.T) {
	l, err := LoadDir(testenv.Dir(t, map[string]string{"MLmodel": "flavors:\n  lightgbm:\n    data: m.txt\n", "m.txt": testenv.GBDTModel(t, "lgb_multi.txt")}), "m", "1")
	require.NoError(t, err)
	s, err := NewServer(l.Model, ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	mr, err := http.Get(ts.URL + "/v2/models/m")
	require.NoError(t, err)
	mb, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	meta := string(mb)
	assert.Contains(t, meta, `{"name":"contributions","datatype":"FP64","shape":[-1,3,7]}`)
	code, resp := post(t, ts.URL+"/v2/models/m/infer", "application/json",
		`{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[1,2,3,4,5,6]}],"outputs":[{"name":"contributions"}]}`)
	require.Equal(t, 200, code, resp)
	assert.Contains(t, resp, `"outputs":[{"name":"contributions"`)
	assert.NotContains(t, resp, `"name":"predict"`)
	code, resp = post(t, ts.URL+"/v2/models/m/infer", "application/json",
		`{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`)
	require.Equal(t, 200, code, resp)
	assert.NotContains(t, resp, "contributions", "only given when asked")
}

// A model without explanations, or a malformed explain parameter, is a
// 400 in words on both protocols, never a 500.
func TestExplainRefusals(t *testing.T) {
	lin, err := NewServer(FromML(trainedClassifier(t), "colors", "1"), ServerOptions{})
	require.NoError(t, err)
	lts := httptest.NewServer(lin)
	defer lts.Close()
	plain := newTestServer(t, ServerOptions{})
	for _, tc := range []struct{ url, body, want string }{
		{lts.URL + "/invocations", `{"dataframe_records":[{"x":1,"color":"blue"}],"params":{"explain":true}}`, "logistic regression model gives no explanations at the endpoint"},
		{lts.URL + "/v2/models/colors/infer", `{"parameters":{"explain":true},"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"color","shape":[1],"datatype":"BYTES","data":["blue"]}]}`, "linear SHAP needs the training rows"},
		{lts.URL + "/v2/models/colors/infer", `{"outputs":[{"name":"contributions"}],"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"color","shape":[1],"datatype":"BYTES","data":["blue"]}]}`, "linear SHAP needs the training rows"},
		{plain.URL + "/invocations", `{"instances":[[1,2,true,4]],"params":{"explain":true}}`, "Tern explains tree ensembles"},
		{plain.URL + "/invocations", `{"instances":[[1,2,true,4]],"params":{"explain":"yes"}}`, `params.explain is the text \"yes\"; it takes true or false`},
		{plain.URL + "/v2/models/iris/infer", `{"parameters":{"explain":1},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,1,4]}]}`, "parameters.explain is 1; it takes true or false"},
	} {
		code, body := post(t, tc.url, "application/json", tc.body)
		assert.Equal(t, 400, code, body)
		assert.Contains(t, body, tc.want)
	}
	// Without the parameter, the same models answer as before.
	code, body := post(t, lts.URL+"/invocations", "application/json", `{"dataframe_records":[{"x":1,"color":"blue"}],"params":{"explain":false}}`)
	assert.Equal(t, 200, code, body)
	assert.NotContains(t, body, "contributions")
}
