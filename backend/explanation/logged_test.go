package explanation

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/predlog"
)

type oneDeployment struct{ d deployment.Deployment }

func (o oneDeployment) Get(id string) (deployment.Deployment, error) {
	if id != o.d.ID {
		return deployment.Deployment{}, core.Errorf(core.NotFound, "There is no deployment %s.", id)
	}
	return o.d, nil
}

// A prediction the router logged is explained later from the log: its
// request body is decoded as the server decoded it (MLflow JSON, CSV or
// V2) and each row gets the answering version's exact explanation, the
// same as explaining that row directly.
func TestLoggedPrediction(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc, m := e.train(t, ml.Params{Model: ml.AlgoGBDT, MaxIter: 30})
	svc.Deployments = oneDeployment{deployment.Deployment{ID: "d1", Name: "credit-api", Model: "credit",
		Backends: []deployment.Instance{{Backend: "v1", Model: "credit", Version: 1}}}}
	log := predlog.New(e.db, predlog.Options{})
	for _, r := range []predlog.Record{
		{RequestID: "json-1", Path: "/invocations", Status: 200, Backend: "v1", Time: 1,
			Request: []byte(`{"dataframe_records":[{"income":30,"age":20,"noise":0,"region":"north"},{"income":91.5,"age":64,"noise":null,"region":"west"}]}`)},
		{RequestID: "csv-1", Path: "/invocations", Status: 200, Backend: "v1", Time: 2,
			Request: []byte("income,age,noise,region\n91.5,64,,west\n")},
		{RequestID: "v2-1", Path: "/v2/models/credit/infer", Status: 200, Backend: "v1", Time: 3,
			Request: []byte(`{"inputs":[{"name":"income","shape":[1],"datatype":"FP64","data":[91.5]},{"name":"age","shape":[1],"datatype":"FP64","data":[64]},{"name":"noise","shape":[1],"datatype":"FP64","data":[null]},{"name":"region","shape":[1],"datatype":"BYTES","data":["west"]}]}`)},
		{RequestID: "bad-1", Path: "/invocations", Status: 400, Backend: "v1", Time: 4, Request: []byte(`{}`)},
		{RequestID: "clip-1", Path: "/invocations", Status: 200, Backend: "v1", Time: 5, Request: []byte(`{"dataframe_records":[{"income":30,"ag`)},
	} {
		r.Deployment = "d1"
		require.True(t, log.Enqueue(r))
	}
	log.Close()

	record := map[string]any{"income": 91.5, "age": 64.0, "noise": nil, "region": "west"}
	want, err := m.Explain(ctx, ml.FrameFromRecords(m.InputNames(), []map[string]any{record}), nil)
	require.NoError(t, err)
	for _, rid := range []string{"json-1", "csv-1", "v2-1"} {
		row := 0
		if rid == "json-1" {
			row = 1
		}
		l, err := svc.Logged(ctx, "d1", rid, row)
		require.NoError(t, err, rid)
		assert.Equal(t, "credit", l.Model)
		assert.Equal(t, 1, l.Version)
		assert.Equal(t, "v1", l.Backend)
		assert.Equal(t, row, l.Row)
		sum := l.Base
		for _, c := range l.Contributions {
			j := indexOf(m.InputNames(), c.Name)
			assert.InDelta(t, want.Row(0, 0)[j], c.SHAP, 1e-12, "%s %s", rid, c.Name)
			sum += c.SHAP
		}
		assert.InDelta(t, l.Margin, sum, 1e-12)
	}
	for _, tc := range []struct {
		dep, rid string
		row      int
		want     string
	}{
		{"d1", "json-1", 2, "carried 2 row(s); there is no row 3"},
		{"d1", "nope", 0, "credit-api has no logged prediction with request ID nope"},
		{"d1", "bad-1", 0, "failed (status 400)"},
		{"d1", "clip-1", 0, "cannot be read back"},
		{"d1", "bad\x00id", 0, "is not a request ID"},
		{"d9", "json-1", 0, "There is no deployment d9"},
	} {
		_, err := svc.Logged(ctx, tc.dep, tc.rid, tc.row)
		require.Error(t, err, tc.rid)
		assert.Contains(t, core.ErrorMessage(err), tc.want)
	}
}
