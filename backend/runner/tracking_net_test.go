package runner

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/mlflowapi"
	"github.com/tern-studio/tern/backend/testenv"
)

// The script a tracking job runs: it logs through the MLflow REST API with
// its token, then probes what it must not be able to do.
const trackingProbe = `
import json, os, urllib.request, urllib.error
uri, tok, run = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_TRACKING_TOKEN"], os.environ["MLFLOW_RUN_ID"]
print("uri", uri, flush=True)
def call(method, path, body=None, token=tok):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(uri + path, data=json.dumps(body).encode() if body is not None else None, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
def metric(k, v):
    print(json.dumps({"tern": "metric", "key": k, "value": v, "step": 0}), flush=True)
metric("own_run", call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": [{"key": "mlflow_loss", "value": 0.25, "timestamp": 1700000000000, "step": 1}]}))
metric("other_run", call("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "0000000000000000000000000a", "key": "x", "value": 1, "timestamp": 0, "step": 0}))
metric("no_token", call("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": run, "key": "x", "value": 1, "timestamp": 0, "step": 0}, token=None))
metric("wrong_token", call("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": run, "key": "x", "value": 1, "timestamp": 0, "step": 0}, token="0" * 64))
metric("create_run", call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"}))
metric("search", call("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"]}))
try:
    urllib.request.urlopen("http://1.1.1.1/", timeout=2)
    metric("outside", 1)
except Exception:
    metric("outside", 0)
`

// TestDockerTrackingNetwork: a job that asks for the MLflow API gets an
// internal network and a listener on its gateway that takes only its
// token and only writes to its run; the network has no way out.
func TestDockerTrackingNetwork(t *testing.T) {
	dc := dockerClient(t)
	if err := exec.Command("docker", "image", "inspect", sklearnBase).Run(); err != nil {
		if testenv.InCI() {
			t.Fatalf("%s is missing: make deps-test builds it", sklearnBase)
		}
		t.Skipf("%s not built here", sklearnBase)
	}
	e := newEnv(t)
	api := mlflowapi.New(e.track, slog.Default()).Handler()
	r := e.runner(t, dc, func(c *Config) { c.TrackingAPI = api })
	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 20, "separable"), Image: sklearnBase, Tracking: true,
		Command: []string{"python3", "-c", trackingProbe}})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 60*time.Second)
	logs, _ := r.Logs(j.ID, 0)
	require.Equal(t, Succeeded, j.State, "%s %v", j.Reason, logs)
	for key, want := range map[string]float64{"own_run": 200, "other_run": 403, "no_token": 401, "wrong_token": 401, "create_run": 403, "search": 403, "outside": 0} {
		assert.Equal(t, want, metric(t, e, j.RunID, key), key)
	}
	assert.Equal(t, 0.25, metric(t, e, j.RunID, "mlflow_loss"), "the MLflow write landed in the run")
	var uri string
	for _, l := range logs {
		if strings.HasPrefix(l, "uri ") {
			uri = strings.TrimPrefix(l, "uri ")
		}
	}
	u, err := url.Parse(uri)
	require.NoError(t, err, logs)
	ip := net.ParseIP(u.Hostname())
	require.NotNil(t, ip, uri)
	assert.False(t, ip.IsUnspecified() || ip.IsLoopback(), "the listener is on the job network's gateway, not %s", ip)
	// The listener and the network go with the job.
	_, err = net.DialTimeout("tcp", u.Host, time.Second)
	assert.Error(t, err, "the gateway listener is closed after the job")
	assert.Error(t, exec.Command("docker", "network", "inspect", "tern-job-"+j.ID).Run(), "the job network is removed")
	assert.Empty(t, r.loadGate(j.ID).Token, "the token is forgotten")
}

// TestTrackingNeedsDocker: without Docker, a tracking job says why it
// cannot run.
func TestTrackingNeedsDocker(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 20, "separable"), Params: params(t, map[string]any{"target": "y"}), Tracking: true})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 10*time.Second)
	assert.Equal(t, Failed, j.State)
	assert.Contains(t, j.Reason, "needs Docker")
}

func TestScopedToRun(t *testing.T) {
	reached := 0
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++; w.WriteHeader(200) })
	h := scopedToRun(api, "run1", "tok")
	cases := []struct {
		method, target, body, token string
		want                        int
	}{
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1"}`, "tok", 200},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_uuid":"run1"}`, "tok", 200},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1","run_uuid":"run2"}`, "tok", 403},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run2"}`, "tok", 403},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `not json`, "tok", 403},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1"}`, "", 401},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1"}`, "tok2", 401},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=run1", "", "tok", 200},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=run2", "", "tok", 403},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=run1&run_uuid=run1", "", "tok", 403},
		{"POST", "/api/2.0/mlflow/runs/delete", `{"run_id":"run1"}`, "tok", 403},
		{"POST", "/api/2.0/mlflow/experiments/create", `{"name":"x"}`, "tok", 403},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/run1/artifacts/model.pkl", "x", "tok", 200},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/run2/artifacts/model.pkl", "x", "tok", 403},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/run1/artifacts/../../run2/x", "x", "tok", 403},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/run1/artifacts/x", "", "tok", 403},
		{"GET", "/ajax-api/2.0/mlflow/runs/get?run_id=run1", "", "tok", 200},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		before := reached
		h.ServeHTTP(rec, req)
		assert.Equal(t, c.want, rec.Code, "%s %s %s", c.method, c.target, c.body)
		assert.Equal(t, c.want == 200, reached > before, "%s %s reached the API", c.method, c.target)
	}
	_, err := startGateway("0.0.0.0:0", "run1", "tok", api)
	assert.Error(t, err, "never a wildcard listener")
}
