package mlflowapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// A token that belongs to run A cannot touch run B, create runs, or
// search; it can still log to A and read experiments.
func TestRunScopedRequests(t *testing.T) {
	st := store.MustOpen(t)
	svc, err := tracking.NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	a, _ := svc.CreateRun(tracking.RunSpec{})
	b, _ := svc.CreateRun(tracking.RunSpec{})
	_, err = svc.LogArtifact(b.ID, "secret.txt", strings.NewReader("b-secret"))
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, rt := range New(svc, nil).Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	// stands in for httpapi marking a request made with run A's token
	scoped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(WithRunScope(r.Context(), a.ID)))
	})
	do := func(method, path, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		scoped.ServeHTTP(rec, req)
		out, _ := io.ReadAll(rec.Body)
		return rec.Code, string(out)
	}
	allowed := []struct{ method, path, body string }{
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"` + a.ID + `","metrics":[{"key":"m","value":1,"timestamp":1,"step":0}]}`},
		{"POST", "/api/2.0/mlflow/runs/log-parameter", `{"run_id":"` + a.ID + `","key":"p","value":"1"}`},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=" + a.ID, ``},
		{"POST", "/api/2.0/mlflow/runs/update", `{"run_id":"` + a.ID + `","status":"RUNNING"}`},
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", ``},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/" + a.ID + "/artifacts/out.txt", `mine`},
	}
	for _, c := range allowed {
		code, body := do(c.method, c.path, c.body)
		assert.Equal(t, 200, code, "%s %s: %s", c.method, c.path, body)
	}
	denied := []struct{ method, path, body string }{
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"` + b.ID + `","metrics":[{"key":"m","value":1,"timestamp":1,"step":0}]}`},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_uuid":"` + b.ID + `","metrics":[{"key":"m","value":"1e999x","timestamp":1}]}`},
		{"POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id":"` + b.ID + `","key":"m","value":1,"timestamp":1}`},
		{"POST", "/api/2.0/mlflow/runs/set-tag", `{"run_id":"` + b.ID + `","key":"t","value":"x"}`},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=" + b.ID, ``},
		{"GET", "/api/2.0/mlflow/metrics/get-history?run_id=" + b.ID + "&metric_key=m", ``},
		{"GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=" + a.ID + "&run_ids=" + b.ID + "&metric_key=m", ``},
		{"POST", "/api/2.0/mlflow/runs/create", `{"experiment_id":"0"}`},
		{"POST", "/api/2.0/mlflow/runs/search", `{}`},
		{"POST", "/api/2.0/mlflow/runs/delete", `{"run_id":"` + a.ID + `"}`},
		{"POST", "/api/2.0/mlflow/experiments/create", `{"name":"x"}`},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/0/" + b.ID + "/artifacts/secret.txt", ``},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/" + b.ID + "/artifacts/secret.txt", `overwrite`},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/" + b.ID + "/artifacts/secret.txt", ``},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/" + b.ID + "/artifacts", ``},
	}
	for _, c := range denied {
		code, body := do(c.method, c.path, c.body)
		assert.Equal(t, 403, code, "%s %s: %s", c.method, c.path, body)
		assert.Contains(t, body, "PERMISSION_DENIED")
		assert.NotContains(t, body, "b-secret")
	}
	got, _ := svc.GetRun(b.ID)
	assert.Empty(t, got.Metrics)
	assert.Len(t, got.Tags, 1)
	f, _, err := svc.OpenArtifact(b.ID, "secret.txt")
	require.NoError(t, err)
	content, _ := io.ReadAll(f)
	f.Close()
	assert.Equal(t, "b-secret", string(content))
}

// The runner's per-job gateway (Handler, without httpapi) answers unknown
// MLflow paths as the main face does.
func TestGatewayUnknownPaths(t *testing.T) {
	st := store.MustOpen(t)
	svc, err := tracking.NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	h := New(svc, nil).Handler()
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/2.0/mlflow/nope"}, {"POST", "/api/2.0/mlflow/nope"}, {"PATCH", "/ajax-api/2.0/mlflow/x"}, {"GET", "/api/2.0/mlflow-artifacts/x"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader("{}")))
		assert.Equal(t, 404, rec.Code, "%s %s", c.method, c.path)
		assert.Contains(t, rec.Body.String(), `"error_code":"ENDPOINT_NOT_FOUND"`)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", nil))
	assert.Equal(t, 200, rec.Code, "known routes still answer")
}
