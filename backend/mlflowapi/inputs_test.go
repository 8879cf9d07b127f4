package mlflowapi

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// mlflow.log_input records the run's datasets; the one whose digest starts
// Tern's dataset version's becomes the run's lineage, and MLflow's client
// reads every input back with its tags (contexts merged).
func TestRealMLflowClientLogInputs(t *testing.T) {
	py := testenv.Python(t, "mlflow", "pandas")
	st := store.MustOpen(t)
	bus := core.NewBus()
	svc, err := tracking.NewService(st, bus, st.Dir)
	require.NoError(t, err)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, bus, st.Dir)
	api := New(svc, nil)
	api.Datasets = ds
	srv, err := httpapi.New(httpapi.Config{Token: testToken, Bus: bus, Routes: api.Routes()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	csv := filepath.Join(t.TempDir(), "customers.csv")
	var b strings.Builder
	b.WriteString("age,plan,churned\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "%d,%s,%s\n", 20+i%50, []string{"basic", "pro"}[i%2], []string{"no", "yes"}[i%3/2])
	}
	require.NoError(t, os.WriteFile(csv, []byte(b.String()), 0o644))
	v, err := ds.ImportPath(t.Context(), csv, dataset.Options{})
	require.NoError(t, err)
	require.Len(t, v.Digest, 64)

	job, _ := json.Marshal(map[string]string{"csv": csv, "digest": v.Digest})
	jobFile := filepath.Join(t.TempDir(), "job.json")
	require.NoError(t, os.WriteFile(jobFile, job, 0o644))
	out, result := runClientScript(t, py, ts.URL, "testdata/log_inputs.py", jobFile)
	var res struct {
		RunID       string `json:"run_id"`
		OtherDigest string `json:"other_digest"`
		Inputs      []struct {
			Name       string            `json:"name"`
			Digest     string            `json:"digest"`
			SourceType string            `json:"source_type"`
			Source     string            `json:"source"`
			HasSchema  bool              `json:"has_schema"`
			HasProfile bool              `json:"has_profile"`
			Tags       map[string]string `json:"tags"`
		} `json:"inputs"`
		MissingRun string `json:"missing_run"`
	}
	require.NoError(t, json.Unmarshal(result, &res), out)

	require.Len(t, res.Inputs, 2, "the same dataset logged twice is one input")
	train, other := res.Inputs[0], res.Inputs[1]
	assert.Equal(t, "customers", train.Name)
	assert.Equal(t, v.Digest[:12], train.Digest)
	assert.Contains(t, train.Source, csv, "the source MLflow resolved from the path")
	assert.Equal(t, "local", train.SourceType)
	assert.True(t, train.HasSchema, "the schema MLflow sends is kept")
	assert.True(t, train.HasProfile)
	assert.Equal(t, "validation", train.Tags["mlflow.data.context"], "the later context wins, as MLflow merges input tags")
	assert.Equal(t, v.ID, train.Tags["tern.dataset_version"], "linked to the Tern dataset version by digest")
	assert.Equal(t, "sample", other.Name)
	assert.Equal(t, res.OtherDigest, other.Digest)
	assert.Equal(t, "eval", other.Tags["mlflow.data.context"])
	assert.NotContains(t, other.Tags, "tern.dataset_version", "a dataset Tern does not hold links to nothing")
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", res.MissingRun)

	// Tern's side: the run's lineage is the dataset version.
	run, err := svc.GetRun(res.RunID)
	require.NoError(t, err)
	assert.Equal(t, v.ID, run.DatasetVersion)
	ins, err := svc.Inputs(res.RunID)
	require.NoError(t, err)
	require.Len(t, ins, 2)
	assert.Equal(t, v.ID, ins[0].DatasetVersion)
}

// Bad log-inputs bodies are MLflow's 400s and write nothing.
func TestLogInputsRefusals(t *testing.T) {
	c, svc := newClient(t)
	run := mkRun(t, c)
	ds := func(name, digest string) string {
		return `{"dataset":{"name":"` + name + `","digest":"` + digest + `","source_type":"local","source":"{}"}}`
	}
	for _, body := range []string{
		`{"run_id":"` + run + `","datasets":{"x":1}}`,
		`{"run_id":"` + run + `","datasets":[` + ds("", "abc") + `]}`,
		`{"run_id":"` + run + `","datasets":[` + ds("d", "") + `]}`,
		`{"run_id":"` + run + `","datasets":[` + ds("ok", "abc") + `,` + ds("d", strings.Repeat("f", 37)) + `]}`,
	} {
		code, m := c.post("/api/2.0/mlflow/runs/log-inputs", body)
		assert.Equal(t, 400, code, body)
		assert.Equal(t, "INVALID_PARAMETER_VALUE", m["error_code"], body)
	}
	ins, err := svc.Inputs(run)
	require.NoError(t, err)
	assert.Empty(t, ins, "a refused call writes nothing, not even its valid datasets")
	code, m := c.post("/api/2.0/mlflow/runs/log-inputs", `{"run_id":"`+run+`","datasets":[`+ds("ok", "abc")+`],"models":[{"model_id":"m-1"}]}`)
	require.Equal(t, 200, code, m)
	code, m = c.get("/api/2.0/mlflow/runs/get?run_id=" + run)
	require.Equal(t, 200, code, m)
	inputs := m["run"].(map[string]any)["inputs"].(map[string]any)["dataset_inputs"].([]any)
	require.Len(t, inputs, 1)
	assert.Equal(t, "ok", inputs[0].(map[string]any)["dataset"].(map[string]any)["name"])
}
