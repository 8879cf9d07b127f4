package modelserver

import (
	"bytes"
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
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// linear is a test predictor: y = sum(w_i * x_i) + b, NaN counted as 0.
type linear struct {
	w     []float64
	b     float64
	width int
}

func (l linear) NumFeatures() int { return len(l.w) }
func (l linear) OutputWidth() int { return max(1, l.width) }
func (l linear) Predict(b *Batch, out []float64) error {
	x := b.X
	n := len(l.w)
	for r := 0; r < len(x)/n; r++ {
		y := l.b
		for i, w := range l.w {
			if v := x[r*n+i]; !math.IsNaN(v) {
				y += w * v
			}
		}
		for c := 0; c < l.OutputWidth(); c++ {
			out[r*l.OutputWidth()+c] = y + float64(c)
		}
	}
	return nil
}

var testSig = modelfmt.Signature{Inputs: []modelfmt.Column{
	{Name: "a", Type: "double"},
	{Name: "b", Type: "long"},
	{Name: "c", Type: "boolean"},
	{Name: "d", Type: "float", Optional: true},
}}

func testModel() Model {
	return Model{Name: "iris", Version: "3", Signature: testSig, Predictor: linear{w: []float64{1, 10, 100, 1000}, b: 0.5}}
}

func newTestServer(t *testing.T, opt ServerOptions) *httptest.Server {
	t.Helper()
	s, err := NewServer(testModel(), opt)
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func post(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInvocationsEveryFormat(t *testing.T) {
	ts := newTestServer(t, ServerOptions{})
	// Rows: (1, 2, true, 3) -> 1+20+100+3000+0.5 = 3121.5; (0.5, 0, false, missing) -> 1.
	cases := []struct{ name, ct, body string }{
		{"split", "application/json", `{"dataframe_split":{"columns":["a","b","c","d"],"data":[[1,2,true,3],[0.5,0,false,null]]}}`},
		{"split reordered", "application/json", `{"dataframe_split":{"columns":["d","c","b","a"],"data":[[3,true,2,1],[null,false,0,0.5]]}}`},
		{"split optional absent", "application/json; charset=utf-8", `{"dataframe_split":{"columns":["a","b","c"],"data":[[3001,2,true],[0.5,0,false]]}}`},
		{"split positional", "application/json", `{"dataframe_split":{"data":[[1,2,true,3],[0.5,0,false,null]]}}`},
		{"records", "application/json", `{"dataframe_records":[{"a":1,"b":2,"c":true,"d":3},{"a":0.5,"b":0,"c":false}]}`},
		{"instances rows", "application/json", `{"instances":[[1,2,true,3],[0.5,0,false,"NaN"]]}`},
		{"instances records", "application/json", `{"instances":[{"a":1,"b":2,"c":true,"d":3},{"a":0.5,"b":0,"c":false}]}`},
		{"inputs columns", "application/json", `{"inputs":{"a":[1,0.5],"b":[2,0],"c":[true,false],"d":[3,null]}}`},
		{"inputs rows", "application/json", `{"inputs":[[1,2,true,3],[0.5,0,false,null]], "params": {"x": 1}}`},
		{"csv", "text/csv", "a,b,c,d\n1,2,true,3\n0.5,0,false,\n"},
		{"csv crlf bom", "text/csv; charset=utf-8", "\xef\xbb\xbfc,a,b\r\nTRUE,3001,2\r\nfalse,0.5,0\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, ts.URL+"/invocations", tc.ct, tc.body)
			require.Equal(t, 200, code, body)
			assert.JSONEq(t, `{"predictions":[3121.5,1]}`, body)
		})
	}
}

func TestInvocationsBadPayloads(t *testing.T) {
	ts := newTestServer(t, ServerOptions{MaxBodyBytes: 1 << 10})
	cases := []struct {
		name, ct, body string
		code           int
		want           string // a fragment the message must contain
	}{
		{"two keys", "application/json", `{"instances":[[1,2,true,3]],"inputs":[[1,2,true,3]]}`, 400, "instances and inputs"},
		{"no key", "application/json", `{"data":[[1,2,true,3]]}`, 400, "it has none"},
		{"not json", "application/json", `{"instances":`, 400, "not a JSON object"},
		{"json array top", "application/json", `[1,2]`, 400, "not a JSON object"},
		{"unknown column", "application/json", `{"dataframe_split":{"columns":["a","b","c","zz"],"data":[[1,2,true,3]]}}`, 400, `The request has unknown column "zz" that the signature does not name; the model's inputs are a, b, c, d.`},
		{"missing column", "application/json", `{"dataframe_split":{"columns":["a","c"],"data":[[1,true]]}}`, 400, `The request is missing column "b" (long) required by the model signature`},
		{"duplicate column", "application/json", `{"dataframe_split":{"columns":["a","a","b","c"],"data":[[1,1,2,true]]}}`, 400, `"a" is given twice`},
		{"ragged split", "application/json", `{"dataframe_split":{"columns":["a","b","c"],"data":[[1,2,true],[1,2]]}}`, 400, "Row 2 of dataframe_split has 2 values"},
		{"string in double", "application/json", `{"dataframe_records":[{"a":"x","b":1,"c":true}]}`, 400, `Column "a" expects double but got the text "x" in row 1`},
		{"fraction in long", "application/json", `{"dataframe_records":[{"a":1,"b":1,"c":true},{"a":1,"b":1.5,"c":true}]}`, 400, `Column "b" expects long (a whole number) but got 1.5 in row 2`},
		{"bool in double", "application/json", `{"instances":[[true,1,true,1]]}`, 400, `Column "a" expects double but got true`},
		{"record missing required", "application/json", `{"dataframe_records":[{"a":1,"c":true}]}`, 400, `Row 1 is missing column "b"`},
		{"short positional row", "application/json", `{"instances":[[1,2,true]]}`, 400, "Row 1 of instances has 3 values; the model takes 4"},
		{"scalars for multi-input", "application/json", `{"instances":[1,2,3]}`, 400, "list of single values"},
		{"mixed items", "application/json", `{"instances":[[1,2,true,3],{"a":1}]}`, 400, "Item 2 of instances"},
		{"ragged columns", "application/json", `{"inputs":{"a":[1,2],"b":[1],"c":[true,true]}}`, 400, "all columns must be the same length"},
		{"nested object value", "application/json", `{"dataframe_records":[{"a":{"x":1},"b":1,"c":true}]}`, 400, "an object"},
		{"csv ragged", "text/csv", "a,b,c\n1,2,true\n1,2\n", 400, "ragged"},
		{"csv text in number", "text/csv", "a,b,c\nabc,2,true\n", 400, `Column "a" expects double but row 1 has "abc"`},
		{"csv unknown header", "text/csv", "a,b,c,q\n1,2,true,1\n", 400, `unknown column "q"`},
		{"csv empty", "text/csv", "", 400, "empty"},
		{"csv unterminated quote", "text/csv", "a,b,c\n\"1,2,true\n", 400, "CSV row 1"},
		{"csv latin1", "text/csv; charset=latin-1", "a,b,c\n1,2,true\n", 415, "Charset"},
		{"csv invalid utf8", "text/csv", "a,b,c\n\xff,2,true\n", 415, "UTF-8"},
		{"json invalid utf8", "application/json", "{\"instances\":[[\"\xff\",1,true,1]]}", 400, "UTF-8"},
		{"xml", "application/xml", `<a/>`, 415, "application/xml"},
		{"no content type", "", `{"instances":[[1,2,true,3]]}`, 415, "missing"},
		{"too big", "application/json", `{"instances":[` + strings.Repeat("[1,2,true,3],", 200) + `[1,2,true,3]]}`, 413, "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, ts.URL+"/invocations", tc.ct, tc.body)
			assert.Equal(t, tc.code, code, body)
			var e struct {
				Code string `json:"error_code"`
				Msg  string `json:"message"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			assert.Equal(t, "BAD_REQUEST", e.Code)
			assert.Contains(t, e.Msg, tc.want)
		})
	}
}

func TestHealthVersionAndMetrics(t *testing.T) {
	ts := newTestServer(t, ServerOptions{Version: "tern-1.2.3"})
	for _, p := range []string{"/ping", "/health", "/v2/health/live", "/v2/health/ready", "/v2/models/iris/ready"} {
		resp, err := http.Get(ts.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, p)
	}
	resp, err := http.Get(ts.URL + "/version")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "tern-1.2.3", string(b))

	post(t, ts.URL+"/invocations", "application/json", `{"instances":[[1,2,true,3]]}`)
	post(t, ts.URL+"/invocations", "application/json", `{"instances":[[1,2,true]]}`)
	resp, err = http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(b)
	assert.Contains(t, m, `tern_requests_total{protocol="mlflow",code="200"} 1`)
	assert.Contains(t, m, `tern_requests_total{protocol="mlflow",code="400"} 1`)
	assert.Contains(t, m, "tern_predictions_total 1\n")
	assert.Contains(t, m, "tern_request_duration_seconds_count 2\n")
}

func TestV2(t *testing.T) {
	ts := newTestServer(t, ServerOptions{})
	resp, err := http.Get(ts.URL + "/v2/models/iris")
	require.NoError(t, err)
	var meta struct {
		Name   string `json:"name"`
		Inputs []struct {
			Name, Datatype string
		} `json:"inputs"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	resp.Body.Close()
	assert.Equal(t, "iris", meta.Name)
	require.Len(t, meta.Inputs, 4)
	assert.Equal(t, "INT64", meta.Inputs[1].Datatype)

	ok := []struct{ name, body string }{
		{"matrix flat", `{"id":"r1","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP64","data":[1,2,1,3,0.5,0,0,null]}]}`},
		{"matrix nested", `{"id":"r1","inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,1,3],[0.5,0,0,null]]}]}`},
		{"per column", `{"id":"r1","inputs":[{"name":"a","shape":[2],"datatype":"FP64","data":[1,0.5]},{"name":"b","shape":[2,1],"datatype":"INT64","data":[2,0]},{"name":"c","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"d","shape":[2],"datatype":"FP32","data":[3,null]}]}`},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, ts.URL+"/v2/models/iris/infer", "application/json", tc.body)
			require.Equal(t, 200, code, body)
			assert.JSONEq(t, `{"model_name":"iris","model_version":"3","id":"r1","outputs":[{"name":"predict","datatype":"FP64","shape":[2],"data":[3121.5,1]}]}`, body)
		})
	}
	code, _ := post(t, ts.URL+"/v2/models/iris/versions/3/infer", "application/json", ok[0].body)
	assert.Equal(t, 200, code)

	badCases := []struct {
		name, path, ct, body string
		code                 int
		want                 string
	}{
		{"unknown model", "/v2/models/nope/infer", "application/json", ok[0].body, 404, "not served here"},
		{"wrong version", "/v2/models/iris/versions/9/infer", "application/json", ok[0].body, 404, "Version"},
		{"unknown input", "", "application/json", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"zz","shape":[1],"datatype":"FP64","data":[1]}]}`, 400, `The request is missing columns "b" (long), "c" (boolean) required by the model signature and has unknown column "zz"`},
		{"shape mismatch", "", "application/json", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP64","data":[1,2,3]}]}`, 400, "has 3 values but its shape [2 4] needs 8"},
		{"too many values", "", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4,5]}]}`, 400, "more values"},
		{"wrong width", "", "application/json", `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, 400, "[rows, 4]"},
		{"string in fp", "", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,"2",3,4]}]}`, 400, `the text "2"`},
		{"fraction in int", "", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2.5,3,4]}]}`, 400, "INT64 but holds 2.5"},
		{"bytes", "", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"BYTES","data":["a","b","c","d"]}]}`, 400, "BYTES"},
		{"unknown datatype", "", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP128","data":[1,2,3,4]}]}`, 400, "does not define"},
		{"negative dim", "", "application/json", `{"inputs":[{"name":"x","shape":[-1,4],"datatype":"FP64","data":[1,2,3,4]}]}`, 400, "negative"},
		{"huge shape", "", "application/json", `{"inputs":[{"name":"x","shape":[1000000000000,4],"datatype":"FP64","data":[1,2,3,4]}]}`, 413, "larger"},
		{"no inputs", "", "application/json", `{"inputs":[]}`, 400, "no inputs"},
		{"not json", "", "application/json", `{"inputs":[`, 400, "not a V2"},
		{"rows differ", "", "application/json", `{"inputs":[{"name":"a","shape":[2],"datatype":"FP64","data":[1,2]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`, 400, "rows but other inputs"},
		{"missing column", "", "application/json", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]}]}`, 400, `The request is missing column "c" (boolean) required`},
		{"bool into double", "", "application/json", `{"inputs":[{"name":"a","shape":[1],"datatype":"BOOL","data":[true]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`, 400, `Input "a" is BOOL, which cannot be converted safely to the model's double column`},
		{"text/plain", "", "text/plain", ok[0].body, 415, "application/json"},
	}
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v2/models/iris/infer"
			}
			code, body := post(t, ts.URL+path, tc.ct, tc.body)
			assert.Equal(t, tc.code, code, body)
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			assert.Contains(t, e.Error, tc.want)
		})
	}
}

func TestMultiOutputAndNonFinite(t *testing.T) {
	m := testModel()
	m.Predictor = linear{w: []float64{1, 0, 0, 0}, width: 3}
	s, err := NewServer(m, ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	code, body := post(t, ts.URL+"/invocations", "application/json", `{"instances":[[1,0,false,0],["Infinity",0,false,0]]}`)
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"predictions":[[1,2,3],[null,null,null]]}`, body)
	code, body = post(t, ts.URL+"/v2/models/iris/infer", "application/json", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,0,0,0]}]}`)
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"shape":[1,3]`)
}

func TestSignatureChecks(t *testing.T) {
	_, err := NewServer(Model{Name: "m", Signature: modelfmt.Signature{Inputs: []modelfmt.Column{{Name: "a", Type: "datetime"}}}, Predictor: linear{w: []float64{1}}}, ServerOptions{})
	assert.ErrorContains(t, err, "Tern serves double")
	_, err = NewServer(Model{Name: "m", Signature: modelfmt.DefaultSignature(nil, 2), Predictor: linear{w: []float64{1}}}, ServerOptions{})
	assert.ErrorContains(t, err, "reads 1 features but its signature has 2")
	_, err = NewServer(Model{Name: "m", Signature: modelfmt.Signature{Inputs: []modelfmt.Column{{Name: "a", Type: "double"}, {Name: "a", Type: "double"}}}, Predictor: linear{w: []float64{1, 1}}}, ServerOptions{})
	assert.ErrorContains(t, err, "twice")

	cols, err := modelfmt.ParseMLflowSchema(`[{"type": "double", "name": "x", "required": true}, {"type": "long", "name": "y", "required": false}]`)
	require.NoError(t, err)
	assert.Equal(t, []modelfmt.Column{{Name: "x", Type: "double"}, {Name: "y", Type: "long", Optional: true}}, cols)
	back, err := modelfmt.ParseMLflowSchema(modelfmt.MLflowSchema(cols))
	require.NoError(t, err)
	assert.Equal(t, cols, back)
	cols, err = modelfmt.ParseMLflowSchema(`[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]`)
	require.NoError(t, err)
	assert.Len(t, cols, 3)
	_, err = modelfmt.ParseMLflowSchema(`{"x":1}`)
	assert.Error(t, err)
}

// A single-input model takes a list of scalars.
func TestSingleInputScalars(t *testing.T) {
	s, err := NewServer(Model{Name: "m", Version: "1", Signature: modelfmt.DefaultSignature([]string{"x"}, 1), Predictor: linear{w: []float64{2}}}, ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	code, body := post(t, ts.URL+"/invocations", "application/json", `{"inputs":[1,2,3]}`)
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"predictions":[2,4,6]}`, body)
	code, body = post(t, ts.URL+"/v2/models/m/infer", "application/json", `{"inputs":[{"name":"x","shape":[3],"datatype":"FP64","data":[1,2,3]}]}`)
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"data":[2,4,6]`)
}

var fuzzSeeds = []string{
	`{"dataframe_split":{"columns":["a","b","c","d"],"data":[[1,2,true,3]]}}`,
	`{"dataframe_records":[{"a":1,"b":2,"c":true}]}`,
	`{"instances":[[1,2,true,3],[0.5,0,false,null]]}`,
	`{"inputs":{"a":[1],"b":[2],"c":[true]}}`,
	`{"inputs":[1,2]}`,
	`{"instances":[{"a":"NaN","b":1e308,"c":0}]}`,
	`{"dataframe_split":{"data":[[]]}}`,
	`[]`, `null`, `{}`, `{"inputs":null}`,
	// Refusals: missing and extra columns, wrong types, empty requests, params.
	`{"dataframe_split":{"columns":["a"],"data":[[1]]}}`,
	`{"dataframe_records":[{"a":1,"b":2,"c":true,"x":1,"y":2}]}`,
	`{"inputs":{"a":[1],"b":[null],"c":[1]}}`,
	`{"instances":[[true,2.5,1,1e300]]}`,
	`{"dataframe_split":{"columns":["a","b","c"],"data":[]}}`,
	`{"instances":[]}`, ``, ` `,
	`{"instances":[[1,2,true,0]],"params":{"predict_method":"predict_proba"}}`,
	`{"instances":[[1,2,true,0]],"params":{"predict_method":7}}`,
}

func FuzzDecodeMLflowJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeMLflow("application/json", body, testSig)
		checkDecoded(t, b, err)
	})
}

func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{"a,b,c\n1,2,true\n", "a,b,c,d\n1,2,0,\n\"3\",4,1,5\n", "\xef\xbb\xbfa,b,c\r\n1,2,1\r\n", "a\n", "", "a,b,c\n\"x\n", "a,b,c\n", "a,b,c\n1,,true\n", "a,b,c\n1,2,1\n", "a,x,y\n1,2,3\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeMLflow("text/csv", body, testSig)
		checkDecoded(t, b, err)
	})
}

func FuzzDecodeV2(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`,
		`{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"INT64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`,
		`{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}`,
		`{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP32","data":[]}]}`,
		`{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[2]},{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,null,2,0]}],"outputs":[{"name":"probabilities"}]}`,
		`{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"zz","shape":[1],"datatype":"FP64","data":[1]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, _, err := DecodeV2(body, testSig)
		checkDecoded(t, b, err)
	})
}

// checkDecoded holds for every input: either a 4xx error with a message,
// or a batch whose shape is consistent and whose values fit the columns.
func checkDecoded(t *testing.T, b *Batch, err *RequestError) {
	if err != nil {
		if err.Status < 400 || err.Status > 499 || err.Msg == "" {
			t.Fatalf("bad error %d %q", err.Status, err.Msg)
		}
		return
	}
	if b.NCols != len(testSig.Inputs) || len(b.X) != b.NRows*b.NCols {
		t.Fatalf("inconsistent batch %d x %d with %d values", b.NRows, b.NCols, len(b.X))
	}
	if b.NRows == 0 {
		t.Fatalf("an empty request was accepted")
	}
	for i, v := range b.X {
		// b and c are required, so present; MLflow's long holds no
		// missing value and no fraction, its boolean only 0 and 1.
		switch c := testSig.Inputs[i%b.NCols]; c.Type {
		case "long":
			if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) {
				t.Fatalf("%v in long column", v)
			}
		case "boolean":
			if v != 0 && v != 1 && !math.IsNaN(v) {
				t.Fatalf("%v in boolean column", v)
			}
		}
	}
}

func BenchmarkInvocations(b *testing.B) {
	s, _ := NewServer(testModel(), ServerOptions{})
	body := []byte(`{"dataframe_split":{"columns":["a","b","c","d"],"data":[[1,2,true,3]]}}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/invocations", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(fmt.Sprint(w.Code, w.Body.String()))
		}
	}
}

// Direct serving echoes a sane caller ID and makes none of its own.
func TestServerEchoesRequestID(t *testing.T) {
	for id, want := range map[string]string{"trace-42": "trace-42", "": "", "bad\x01id": ""} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/ping", nil)
		if id != "" {
			req.Header[core.RequestIDHeader] = []string{id}
		}
		(&Server{mux: http.NewServeMux()}).ServeHTTP(w, req)
		assert.Equal(t, want, w.Header().Get(core.RequestIDHeader), "%q", id)
	}
}
