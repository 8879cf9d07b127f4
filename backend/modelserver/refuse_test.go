package modelserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/ml"
)

// refusal is one request the server must refuse, and the words its answer
// must hold.
type refusal struct {
	name, path, ct, body string
	want                 []string
}

// checkRefusals posts each case and expects a 400 whose message holds every
// fragment: MLflow's error shape on /invocations, {"error"} on V2.
func checkRefusals(t *testing.T, url string, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			code, body := post(t, url+tc.path, ct, tc.body)
			require.Equal(t, 400, code, body)
			var e struct {
				Code  string `json:"error_code"`
				Msg   string `json:"message"`
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			msg := e.Msg
			if strings.HasPrefix(tc.path, "/v2/") {
				msg = e.Error
			} else {
				assert.Equal(t, "BAD_REQUEST", e.Code)
			}
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

// Missing and extra columns are named, all of them, in every form of both
// protocols; so are wrong types and empty requests.
func TestRefusesWhatItCannotScore(t *testing.T) {
	ts := newTestServer(t, ServerOptions{})
	const inv, v2 = "/invocations", "/v2/models/iris/infer"
	missingBC := []string{`missing columns "b" (long), "c" (boolean) required by the model signature`, "the model's inputs are a, b, c, d"}
	extra := []string{`unknown columns "x", "y" that the signature does not name`}
	checkRefusals(t, ts.URL, []refusal{
		// Missing required columns (d is optional and never asked for).
		{"split missing", inv, "", `{"dataframe_split":{"columns":["a"],"data":[[1]]}}`, missingBC},
		{"records missing", inv, "", `{"dataframe_records":[{"a":1,"b":2,"c":true},{"a":1}]}`, append([]string{"Row 2 is"}, missingBC...)},
		{"instances records missing", inv, "", `{"instances":[{"a":1}]}`, missingBC},
		{"inputs columns missing", inv, "", `{"inputs":{"a":[1]}}`, missingBC},
		{"csv missing", inv, "text/csv", "a,d\n1,2\n", missingBC},
		{"v2 missing", v2, "", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"d","shape":[1],"datatype":"FP32","data":[1]}]}`, missingBC},
		// Extra columns, with the required ones present.
		{"split extra", inv, "", `{"dataframe_split":{"columns":["a","b","c","x","y"],"data":[[1,2,true,3,4]]}}`, extra},
		{"records extra", inv, "", `{"dataframe_records":[{"a":1,"b":2,"c":true,"y":1,"x":2}]}`, append([]string{"Row 1 has"}, extra...)},
		{"inputs columns extra", inv, "", `{"inputs":{"a":[1],"b":[2],"c":[true],"y":[1],"x":[2]}}`, extra},
		{"csv extra", inv, "text/csv", "a,b,c,x,y\n1,2,true,3,4\n", extra},
		{"v2 extra", v2, "", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]},{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"y","shape":[1],"datatype":"FP64","data":[1]}]}`, extra},
		{"missing and extra", inv, "", `{"dataframe_split":{"columns":["a","x"],"data":[[1,2]]}}`, []string{`missing columns "b" (long), "c" (boolean)`, `and has unknown column "x"`}},
		// Wrong types, as MLflow's schema enforcement refuses them.
		{"text in double", inv, "", `{"dataframe_split":{"columns":["a","b","c"],"data":[["4.5",2,true]]}}`, []string{`Column "a" expects double but got the text "4.5" in row 1`}},
		{"bool in double", inv, "", `{"dataframe_records":[{"a":true,"b":2,"c":true}]}`, []string{`Column "a" expects double but got true`, "does not convert true/false"}},
		{"number in boolean", inv, "", `{"inputs":{"a":[1],"b":[2],"c":[1]}}`, []string{`Column "c" expects boolean (true or false) but got the number 1`}},
		{"fraction in long", inv, "", `{"instances":[[1,2.5,true,0]]}`, []string{`Column "b" expects long (a whole number) but got 2.5`}},
		{"null in long", inv, "", `{"instances":[[1,null,true,0]]}`, []string{`Column "b" is long and cannot hold a missing value in row 1`, "declare it double"}},
		{"NaN text in long", inv, "", `{"instances":[[1,"NaN",true,0]]}`, []string{`Column "b" expects long but got the text "NaN"`}},
		{"long out of range", inv, "", `{"instances":[[1,1e19,true,0]]}`, []string{`Column "b" expects long but 1e+19 in row 1 is out of its range`}},
		{"float out of range", inv, "", `{"instances":[[1,2,true,1e300]]}`, []string{`Column "d" expects float (32-bit) but 1e+300`}},
		{"object in double", inv, "", `{"instances":[[{"v":1},2,true,0]]}`, []string{`Column "a" expects double but got an object`}},
		{"csv text in long", inv, "text/csv", "a,b,c\n1,two,true\n", []string{`Column "b" expects long but row 1 has "two"`}},
		{"csv empty long", inv, "text/csv", "a,b,c\n1,,true\n", []string{`Column "b" is long and cannot hold a missing value in row 1`}},
		{"csv 1 in boolean", inv, "text/csv", "a,b,c\n1,2,1\n", []string{`Column "c" expects boolean (true or false) but row 1 has "1"`}},
		{"v2 FP64 into long", v2, "", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`, []string{`Input "b" is FP64, which cannot be converted safely to the model's long column`}},
		{"v2 INT64 into double", v2, "", `{"inputs":[{"name":"a","shape":[1],"datatype":"INT64","data":[1]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`, []string{`Input "a" is INT64`, "double column"}},
		{"v2 BYTES into double", v2, "", `{"inputs":[{"name":"a","shape":[1],"datatype":"BYTES","data":["1"]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`, []string{`Input "a" is BYTES but the model expects numbers (double)`}},
		{"v2 matrix boolean 2", v2, "", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,2,0]}]}`, []string{`Column "c" expects boolean but row 1 has 2`}},
		{"v2 matrix null long", v2, "", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,null,1,0]}]}`, []string{`Column "b" is long and cannot hold a missing value in row 1`}},
		// Empty requests.
		{"empty body", inv, "", ``, []string{"The body is empty"}},
		{"blank body", inv, "", " \n", []string{"The body is empty"}},
		{"empty object", inv, "", `{}`, []string{"it has none"}},
		{"no rows split", inv, "", `{"dataframe_split":{"columns":["a","b","c"],"data":[]}}`, []string{"The request has no rows to score."}},
		{"no rows records", inv, "", `{"dataframe_records":[]}`, []string{"no rows to score"}},
		{"no rows instances", inv, "", `{"instances":[]}`, []string{"no rows to score"}},
		{"no rows inputs", inv, "", `{"inputs":{"a":[],"b":[],"c":[]}}`, []string{"no rows to score"}},
		{"csv header only", inv, "text/csv", "a,b,c\n", []string{"no rows to score"}},
		{"csv empty", inv, "text/csv", "", []string{"The CSV body is empty"}},
		{"v2 no inputs", v2, "", `{"inputs":[]}`, []string{"no inputs"}},
		{"v2 zero rows", v2, "", `{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP64","data":[]}]}`, []string{"no rows to score"}},
		{"v2 empty body", v2, "", ``, []string{"not a V2 inference request"}},
		// Params.
		{"bad predict_method", inv, "", `{"instances":[[1,2,true]],"params":{"predict_method":"predict_log_proba"}}`, []string{`params.predict_method is the text "predict_log_proba"`}},
		{"params not object", inv, "", `{"instances":[[1,2,true]],"params":[1]}`, []string{"params must be an object"}},
		{"proba of a regressor", inv, "", `{"instances":[[1,2,true,0]],"params":{"predict_method":"predict_proba"}}`, []string{"gives no class probabilities"}},
		{"v2 unknown output", v2, "", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,1,0]}],"outputs":[{"name":"probabilities"}]}`, []string{`asks for output "probabilities"; this model gives predict`}},
	})
	// What MLflow converts safely still scores: whole numbers into double,
	// FP32 into double, INT32 into long, null in a double, unknown params.
	for _, body := range []string{
		`{"dataframe_split":{"columns":["a","b","c"],"data":[[3001,2,true]]},"params":{"temperature":0.5}}`,
		`{"dataframe_split":{"columns":["a","b","c","d"],"data":[[3001,2,true,null]]},"params":{"predict_method":"predict"}}`,
	} {
		code, resp := post(t, ts.URL+inv, "application/json", body)
		require.Equal(t, 200, code, resp)
		assert.JSONEq(t, `{"predictions":[3121.5]}`, resp)
	}
	code, resp := post(t, ts.URL+v2, "application/json", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[3001]},{"name":"b","shape":[1],"datatype":"INT32","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]},{"name":"d","shape":[1],"datatype":"INT8","data":[0]}]}`)
	require.Equal(t, 200, code, resp)
	assert.Contains(t, resp, `"data":[3121.5]`)
}

// thirtyColumns is a built-in regressor on 30 numeric columns.
func thirtyColumns(t *testing.T) *ml.Model {
	t.Helper()
	f := &ml.Frame{}
	for j := 0; j < 30; j++ {
		f.Columns = append(f.Columns, fmt.Sprintf("x%02d", j))
	}
	f.Columns = append(f.Columns, "y")
	for i := 0; i < 60; i++ {
		row := make([]any, 31)
		y := 0.0
		for j := 0; j < 30; j++ {
			v := float64((i*7+j*3)%11) - 5
			row[j] = v
			y += v * float64(j%3)
		}
		row[30] = y
		f.Rows = append(f.Rows, row)
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "y", Model: ml.AlgoLinear}, nil)
	require.NoError(t, err)
	return m
}

// The case: a request missing 29 of 30 columns used to be scored
// (every missing column imputed). It is now a 400 naming them all; a null
// value in a named column is still imputed.
func TestBuiltInModelNeedsEveryColumn(t *testing.T) {
	s, err := NewServer(FromML(thirtyColumns(t), "wide", "1"), ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	code, body := post(t, ts.URL+"/invocations", "application/json", `{"dataframe_records":[{"x00":1}]}`)
	require.Equal(t, 400, code, body)
	assert.Contains(t, body, `Row 1 is missing columns \"x01\" (double), \"x02\" (double)`)
	assert.Contains(t, body, `\"x29\" (double)`)
	assert.Equal(t, 29, strings.Count(body, "(double)"), body)

	row := map[string]any{}
	for j := 0; j < 30; j++ {
		row[fmt.Sprintf("x%02d", j)] = 1.0
	}
	row["x07"] = nil
	req, _ := json.Marshal(map[string]any{"dataframe_records": []any{row}})
	code, body = post(t, ts.URL+"/invocations", "application/json", string(req))
	require.Equal(t, 200, code, body)
}

// A classifier gives labels by default and probabilities through MLflow's
// params; V2 always gives both, and its metadata lists both.
func TestClassifierProbabilities(t *testing.T) {
	m := trainedClassifier(t)
	s, err := NewServer(FromML(m, "colors", "1"), ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	rows := `[{"x":1,"color":"blue"},{"x":2,"color":"red"}]`
	want, err := m.PredictRows([]map[string]any{{"x": 1.0, "color": "blue"}, {"x": 2.0, "color": "red"}})
	require.NoError(t, err)

	code, body := post(t, ts.URL+"/invocations", "application/json", `{"dataframe_records":`+rows+`,"params":{"predict_method":"predict_proba"}}`)
	require.Equal(t, 200, code, body)
	var got struct{ Predictions [][]float64 }
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Len(t, got.Predictions, 2)
	for i := range want {
		assert.InDeltaSlice(t, want[i].Probabilities, got.Predictions[i], 1e-12)
	}
	code, body = post(t, ts.URL+"/invocations", "application/json", `{"dataframe_records":`+rows+`,"params":{"predict_method":"predict"}}`)
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"predictions":["yes","no"]}`, body)

	resp, err := http.Get(ts.URL + "/v2/models/colors")
	require.NoError(t, err)
	var meta struct {
		Inputs, Outputs []struct {
			Name, Datatype string
			Shape          []int64
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	resp.Body.Close()
	require.Len(t, meta.Outputs, 2)
	assert.Equal(t, "predict", meta.Outputs[0].Name)
	assert.Equal(t, "BYTES", meta.Outputs[0].Datatype)
	assert.Equal(t, "probabilities", meta.Outputs[1].Name)
	assert.Equal(t, []int64{-1, 2}, meta.Outputs[1].Shape)
	assert.Equal(t, "BYTES", meta.Inputs[1].Datatype, "the color input is text")

	infer := `{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","data":[1,2]},{"name":"color","shape":[2],"datatype":"BYTES","data":["blue","red"]}]`
	code, body = post(t, ts.URL+"/v2/models/colors/infer", "application/json", infer+`}`)
	require.Equal(t, 200, code, body)
	var out struct {
		Outputs []struct {
			Name, Datatype string
			Shape          []int
			Data           []any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Outputs, len(meta.Outputs), "infer gives every output the metadata lists")
	for i, o := range out.Outputs {
		assert.Equal(t, meta.Outputs[i].Name, o.Name)
		assert.Equal(t, meta.Outputs[i].Datatype, o.Datatype)
	}
	assert.Equal(t, []any{"yes", "no"}, out.Outputs[0].Data)
	assert.Equal(t, []int{2, 2}, out.Outputs[1].Shape)
	assert.InDelta(t, want[1].Probabilities[1], out.Outputs[1].Data[3], 1e-12)

	// Asking for one output gives that one.
	code, body = post(t, ts.URL+"/v2/models/colors/infer", "application/json", infer+`,"outputs":[{"name":"probabilities"}]}`)
	require.Equal(t, 200, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Outputs, 1)
	assert.Equal(t, "probabilities", out.Outputs[0].Name)

	// A regressor's metadata lists its one output.
	s2, err := NewServer(FromML(thirtyColumns(t), "wide", "1"), ServerOptions{})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	s2.ServeHTTP(w, httptest.NewRequest("GET", "/v2/models/wide", nil))
	assert.Contains(t, w.Body.String(), `"outputs":[{"name":"predict","datatype":"FP64","shape":[-1]}]`)
}
