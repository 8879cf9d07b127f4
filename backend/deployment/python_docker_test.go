package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/testenv"
)

// needSklearnBase skips (fails in CI) without the locally built Python
// image: make sklearn-base builds it with debootstrap, no registry.
func needSklearnBase(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "image", "inspect", PythonBase).Run(); err != nil {
		if testenv.InCI() {
			t.Fatalf("%s is missing: make sklearn-base builds it", PythonBase)
		}
		t.Skipf("%s not built here (make sklearn-base)", PythonBase)
	}
}

// churnData is a mixed table (two numbers, one category, a 0/1 target)
// and the rows the test scores.
func churnData(t *testing.T) (string, *ml.Frame, [][]any) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	var b strings.Builder
	b.WriteString("x1,x2,c,y\n")
	f := &ml.Frame{Columns: []string{"x1", "x2", "c", "y"}}
	var rows [][]any
	for i := 0; i < 600; i++ {
		x1, x2 := rng.NormFloat64(), rng.NormFloat64()
		c := []string{"a", "b", "c"}[rng.IntN(3)]
		s := x1 - 0.7*x2 + 0.3*rng.NormFloat64()
		if c == "a" {
			s += 1
		}
		y := 0.0
		if s > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%v,%v,%s,%v\n", x1, x2, c, y)
		f.Rows = append(f.Rows, []any{x1, x2, c, y})
		if i < 20 {
			rows = append(rows, []any{x1, x2, c})
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "churn.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path, f, rows
}

// trainTemplateInDocker runs the shipped scikit-learn template, unmodified,
// on the Python base image, locked down as Tern runs training, and returns
// the model directory it writes.
func trainTemplateInDocker(t *testing.T, data string) string {
	t.Helper()
	out := t.TempDir()
	require.NoError(t, os.Chmod(out, 0o777))
	train := filepath.Join(testenv.RepoRoot(), "backend", "runner", "templates", "sklearn", "train.py")
	cmd := exec.Command("docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", "--user", "65532:65532",
		"-v", data+":/tern/data/churn.csv:ro", "-v", train+":/app/train.py:ro", "-v", out+":/tern/outputs",
		"-e", `TERN_PARAMS={"target":"y","max_iter":40}`, PythonBase, "python3", "/app/train.py")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return filepath.Join(out, "model")
}

// sklearnInImage is scikit-learn's own predict and predict_proba on rows,
// in the image that pickled the model (the venv's scikit-learn is another
// version and cannot read its pickle).
func sklearnInImage(t *testing.T, modelDir string, rows [][]any) ([]any, [][]float64) {
	t.Helper()
	in, _ := json.Marshal(rows)
	script := `import json, pickle, sys
import pandas as pd
m = pickle.load(open("/m/model.pkl", "rb"))
X = pd.DataFrame(json.loads(sys.stdin.read()), columns=["x1", "x2", "c"])
print(json.dumps({"predict": m.predict(X).tolist(), "proba": m.predict_proba(X).tolist()}))`
	cmd := exec.Command("docker", "run", "--rm", "-i", "--network", "none", "--read-only", "--user", "65532:65532", "-v", modelDir+":/m:ro", PythonBase, "python3", "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	require.NoError(t, err)
	var ref struct {
		Predict []any
		Proba   [][]float64
	}
	require.NoError(t, json.Unmarshal(out, &ref))
	return ref.Predict, ref.Proba
}

// TestPythonModelDeployedBesideNative is the must-show: the
// scikit-learn template trained in Docker, registered, deployed as a 10 %
// canary beside a native model, scored through the router in both
// protocols (answers equal scikit-learn's own to 1e-9), strict 400s, its
// two containers inspected for the lockdown, and gone after Stop.
func TestPythonModelDeployedBesideNative(t *testing.T) {
	dl, cli := dockerLauncher(t)
	needSklearnBase(t)
	t.Cleanup(func() { removeVolumes(dl.Instance) })
	data, frame, rows := churnData(t)
	pickled := trainTemplateInDocker(t, data)

	f := newFixture(t)
	native, _, err := ml.Train(t.Context(), frame, ml.Params{Target: "y", Model: ml.AlgoLogistic}, nil)
	require.NoError(t, err)
	nativeDir := filepath.Join(t.TempDir(), "native")
	require.NoError(t, modelfmt.SaveML(nativeDir, native, nil))
	_, err = f.reg.RegisterDir("churn", nativeDir, registry.Meta{})
	require.NoError(t, err)
	v2, err := f.reg.RegisterDir("churn", pickled, registry.Meta{})
	require.NoError(t, err)
	require.True(t, v2.Pickle)
	require.NoError(t, Servable(v2))

	svc := f.service(dl)
	t.Cleanup(svc.Close)
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "churn", "1", Options{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Delete(context.Background(), d.ID) })
	d, err = svc.AddVersion(ctx, d.ID, "2")
	require.NoError(t, err)
	py := d.Backends[1]
	require.NotEmpty(t, py.Worker)

	// The lockdown: the front is published on loopback only; the worker,
	// which unpickles, has no network at all and publishes nothing.
	front := testenv.LockedDown(t, py.ContainerID)
	assert.NotEmpty(t, front.HostConfig.PortBindings[servePort])
	worker := testenv.LockedDown(t, workerName(py.Worker))
	assert.Equal(t, "none", worker.HostConfig.NetworkMode)
	assert.Empty(t, worker.HostConfig.PortBindings)
	assert.Equal(t, "65532:65532", worker.Config.User)
	assert.Positive(t, worker.HostConfig.NanoCpus)
	out, err := exec.Command("docker", "exec", workerName(py.Worker), "python3", "-c",
		"import socket; s=socket.socket(); s.settimeout(2); s.connect(('1.1.1.1', 53))").CombinedOutput()
	assert.Error(t, err, "the worker reached the network: %s", out)

	_, err = svc.SetCanary(d.ID, "v2", 10)
	require.NoError(t, err)
	split := `{"dataframe_split":{"columns":["x1","x2","c"],"data":[[0.5,-1,"a"]]}}`
	n2 := 0
	for range 400 {
		code, by, body := call(t, d.Endpoint, "/invocations", "application/json", split)
		require.Equal(t, 200, code, body)
		if by == "v2" {
			n2++
		}
	}
	assert.InDelta(t, 40, n2, 22, "canary share")

	// All traffic on the pickle: every format of both protocols answers
	// what scikit-learn answers.
	_, err = svc.SetTraffic(d.ID, router.Traffic{Split: []router.Split{{Backend: "v2", Weight: 100}}})
	require.NoError(t, err)
	labels, proba := sklearnInImage(t, pickled, rows)
	records := make([]map[string]any, len(rows))
	cols := map[string][]any{}
	var csv strings.Builder
	csv.WriteString("x1,x2,c\n")
	for i, r := range rows {
		records[i] = map[string]any{"x1": r[0], "x2": r[1], "c": r[2]}
		for j, n := range []string{"x1", "x2", "c"} {
			cols[n] = append(cols[n], r[j])
		}
		fmt.Fprintf(&csv, "%v,%v,%v\n", r[0], r[1], r[2])
	}
	bodies := map[string]any{
		"split":     map[string]any{"dataframe_split": map[string]any{"columns": []string{"x1", "x2", "c"}, "data": rows}},
		"records":   map[string]any{"dataframe_records": records},
		"instances": map[string]any{"instances": records},
		"inputs":    map[string]any{"inputs": cols},
	}
	for name, body := range bodies {
		b, _ := json.Marshal(body)
		code, by, resp := call(t, d.Endpoint, "/invocations", "application/json", string(b))
		require.Equal(t, 200, code, "%s: %s", name, resp)
		assert.Equal(t, "v2", by)
		var got struct{ Predictions []any }
		require.NoError(t, json.Unmarshal([]byte(resp), &got))
		assert.Equal(t, labels, got.Predictions, name)
	}
	code, _, resp := call(t, d.Endpoint, "/invocations", "text/csv", csv.String())
	require.Equal(t, 200, code, resp)
	assert.Contains(t, resp, fmt.Sprint(labels[0]))
	b, _ := json.Marshal(map[string]any{"dataframe_records": records, "params": map[string]any{"predict_method": "predict_proba"}})
	code, _, resp = call(t, d.Endpoint, "/invocations", "application/json", string(b))
	require.Equal(t, 200, code, resp)
	var gotP struct{ Predictions [][]float64 }
	require.NoError(t, json.Unmarshal([]byte(resp), &gotP))
	require.Len(t, gotP.Predictions, len(proba))
	for i := range proba {
		for k := range proba[i] {
			assert.InDelta(t, proba[i][k], gotP.Predictions[i][k], 1e-9)
		}
	}
	b, _ = json.Marshal(map[string]any{"inputs": []map[string]any{
		{"name": "x1", "datatype": "FP64", "shape": []int{len(rows)}, "data": cols["x1"]},
		{"name": "x2", "datatype": "FP64", "shape": []int{len(rows)}, "data": cols["x2"]},
		{"name": "c", "datatype": "BYTES", "shape": []int{len(rows)}, "data": cols["c"]},
	}})
	code, _, resp = call(t, d.Endpoint, "/v2/models/churn/infer", "application/json", string(b))
	require.Equal(t, 200, code, resp)
	var v2resp struct {
		Outputs []struct {
			Name string
			Data []any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(resp), &v2resp))
	require.Len(t, v2resp.Outputs, 2, resp)
	assert.Equal(t, labels, v2resp.Outputs[0].Data)
	for i, p := range v2resp.Outputs[1].Data {
		assert.InDelta(t, proba[i/2][i%2], p.(float64), 1e-9)
	}

	// What the native server refuses, the pickle's front refuses the same
	// way, before anything reaches Python.
	for _, tc := range []struct{ body, want string }{
		{`{"dataframe_records":[{"x1":1,"x2":2}]}`, `missing column "c"`},
		{`{"dataframe_records":[{"x1":1,"x2":2,"c":"a","zz":3}]}`, `zz`},
		{`{"dataframe_records":[{"x1":"high","x2":2,"c":"a"}]}`, `"x1"`},
		{`{"dataframe_records":[]}`, `no rows`},
	} {
		code, _, resp := call(t, d.Endpoint, "/invocations", "application/json", tc.body)
		assert.Equal(t, 400, code, resp)
		var e struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		require.NoError(t, json.Unmarshal([]byte(resp), &e), resp)
		assert.Equal(t, "BAD_REQUEST", e.ErrorCode)
		assert.Contains(t, e.Message, tc.want)
	}

	// Logged like any deployment's predictions.
	require.Eventually(t, func() bool {
		recs, _ := svc.Predictions(d.ID, 1000)
		for _, r := range recs {
			if r.Backend == "v2" {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)

	d, err = svc.Rollback(d.ID)
	require.NoError(t, err)
	assert.Equal(t, []router.Split{{Backend: "v1", Weight: 90}, {Backend: "v2", Weight: 10}}, d.Traffic.Split, "rollback puts the canary split back")

	// Deleting removes both containers, the socket volume and the
	// Python serving image no other deployment uses.
	require.NoError(t, exec.Command("docker", "image", "inspect", py.Image).Run())
	res, err := svc.Delete(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, res.ImagesRemoved, res.Warning)
	assert.Error(t, exec.Command("docker", "image", "inspect", py.Image).Run(), "the Python serving image is removed")
	list, err := cli.List(ctx, true, map[string]string{docker.LabelDeployment: d.ID})
	require.NoError(t, err)
	assert.Empty(t, list, "delete removes the front and the worker")
	vols, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label="+docker.LabelWorker+"="+py.Worker).Output()
	assert.Empty(t, strings.TrimSpace(string(vols)), "delete removes the socket volume")
}

// removeVolumes removes the socket volumes a test left behind.
func removeVolumes(instance string) {
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelServingInstance+"="+instance).Output()
	for _, id := range strings.Fields(string(ids)) {
		exec.Command("docker", "rm", "-f", id).Run()
	}
	out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label="+docker.LabelServingInstance+"="+instance).Output()
	for _, v := range strings.Fields(string(out)) {
		exec.Command("docker", "volume", "rm", "-f", v).Run()
	}
}
