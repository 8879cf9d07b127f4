package modelserver

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/ml"
)

func trainedClassifier(t *testing.T) *ml.Model {
	t.Helper()
	f := &ml.Frame{Columns: []string{"x", "color", "label"}}
	for i := 0; i < 200; i++ {
		color, label := "red", "no"
		if i%2 == 0 {
			color, label = "blue", "yes"
		}
		f.Rows = append(f.Rows, []any{float64(i % 7), color, label})
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "label", Model: ml.AlgoLogistic}, nil)
	require.NoError(t, err)
	return m
}

func TestServeBuiltInModel(t *testing.T) {
	s, err := NewServer(FromML(trainedClassifier(t), "colors", "1"), ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	defer ts.Close()
	code, body := post(t, ts.URL+"/invocations", "application/json", `{"dataframe_records":[{"x":1,"color":"blue"},{"x":2,"color":"red"}]}`)
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"predictions":["yes","no"]}`, body)
	code, body = post(t, ts.URL+"/invocations", "text/csv", "x,color\n1,blue\n2,red\n")
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"predictions":["yes","no"]}`, body)
	code, body = post(t, ts.URL+"/invocations", "application/json", `{"dataframe_records":[{"x":1,"color":5}]}`)
	assert.Equal(t, 400, code, body)
	assert.Contains(t, body, `Column \"color\" expects string`)

	code, body = post(t, ts.URL+"/v2/models/colors/infer", "application/json",
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"color","shape":[1],"datatype":"BYTES","data":["blue"]}]}`)
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"data":["yes"]`)
	assert.Contains(t, body, `"name":"probabilities"`)
	code, body = post(t, ts.URL+"/v2/models/colors/infer", "application/json",
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"color","shape":[1],"datatype":"FP64","data":[1]}]}`)
	assert.Equal(t, 400, code, body)
	assert.Contains(t, body, "BYTES")
}
