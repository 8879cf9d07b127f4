package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/testenv"
)

// readOnly lists every route that changes nothing in Tern's state, each
// with the reason; reviewed by hand. A route that is neither here nor
// exercised below fails TestEveryChangeIsAudited, so a new mutating route
// cannot slip in without its audit record.
var readOnly = map[string]string{
	"GET /healthz":                                                       "health check",
	"POST /api/session":                                                  "trades the token for a cookie; stores nothing",
	"GET /api/events":                                                    "event stream",
	"GET /api/routes":                                                    "lists routes",
	"GET /":                                                              "the UI's files",
	"POST /api/call/System.Status":                                       "read",
	"POST /api/call/System.OpenFileDialog":                               "asks the person for a path; stores nothing",
	"POST /api/call/Datasets.List":                                       "read",
	"POST /api/call/Datasets.Versions":                                   "read",
	"POST /api/call/Datasets.Version":                                    "read",
	"POST /api/call/Datasets.Profile":                                    "read",
	"POST /api/call/Datasets.Diff":                                       "read",
	"POST /api/call/Datasets.Detect":                                     "reads a file's first bytes",
	"POST /api/call/Datasets.Cancel":                                     "stops an import in flight, which then writes nothing",
	"POST /api/call/Datasets.ColumnChart":                                "read",
	"POST /api/call/Datasets.Trash":                                      "read",
	"POST /api/call/Datasets.Rules":                                      "read",
	"POST /api/call/Datasets.SuggestRules":                               "proposes rules; SetRules stores them",
	"POST /api/call/Datasets.Validation":                                 "read",
	"POST /api/call/Experiments.List":                                    "read",
	"POST /api/call/Experiments.Search":                                  "read",
	"POST /api/call/Experiments.CheckQuery":                              "parses a query",
	"POST /api/call/Experiments.Columns":                                 "read",
	"POST /api/call/Experiments.Run":                                     "read",
	"POST /api/call/Experiments.Series":                                  "read",
	"POST /api/call/Experiments.MetricChart":                             "read",
	"POST /api/call/Experiments.Compare":                                 "read",
	"POST /api/call/Experiments.Artifacts":                               "read",
	"POST /api/call/Experiments.ArtifactText":                            "read",
	"POST /api/call/Experiments.Views":                                   "read",
	"POST /api/call/Experiments.Trash":                                   "read",
	"POST /api/call/Experiments.ExportMLruns":                            "writes a folder outside Tern's data",
	"POST /api/call/Models.List":                                         "read",
	"POST /api/call/Models.Get":                                          "read",
	"POST /api/call/Models.Lineage":                                      "read",
	"POST /api/call/Models.Export":                                       "writes a folder outside Tern's data",
	"POST /api/call/Deployments.List":                                    "read",
	"POST /api/call/Deployments.Get":                                     "read",
	"POST /api/call/Deployments.Stats":                                   "read",
	"POST /api/call/Deployments.Predictions":                             "read",
	"POST /api/call/Deployments.DeletePreview":                           "read: says what a deletion would remove",
	"POST /api/call/Deployments.DefaultPlan":                             "read",
	"POST /api/call/Deployments.Ramps":                                   "read",
	"POST /api/call/Deployments.Predict":                                 "serving traffic: the prediction log is data, not a change anyone made",
	"POST /api/call/Deployments.ScoreCSV":                                "serving traffic, written to a file outside Tern's data",
	"POST /api/call/Deployments.ScoreCSVText":                            "serving traffic",
	"POST /api/call/Deployments.ExportImage":                             "builds an image in the Docker engine, outside Tern's data",
	"POST /api/call/Deployments.ExportBuildContext":                      "writes a folder outside Tern's data",
	"POST /api/call/Monitoring.Monitors":                                 "read",
	"POST /api/call/Monitoring.Reports":                                  "read",
	"POST /api/call/Monitoring.Report":                                   "read",
	"POST /api/call/Monitoring.ReportHTML":                               "read",
	"POST /api/call/Monitoring.Chart":                                    "read",
	"POST /api/call/Monitoring.Alerts":                                   "read",
	"POST /api/call/Monitoring.Performance":                              "read",
	"POST /api/call/Monitoring.PerformanceChart":                         "read",
	"POST /api/call/Training.Form":                                       "read",
	"POST /api/call/Sweeps.Form":                                         "read",
	"POST /api/call/Audit.List":                                          "read",
	"POST /api/call/Audit.Verify":                                        "recomputes hashes; stores nothing",
	"POST /api/call/Audit.Export":                                        "writes a file outside Tern's data",
	"POST /api/call/Fairness.Assess":                                     "computes a report it returns; stores nothing",
	"POST /api/call/Evaluation.Compare":                                  "scores two versions and returns the report; stores nothing",
	"POST /api/call/Evaluation.Gate":                                     "checks rules against a report it is given; stores nothing",
	"POST /api/call/Evaluation.Cancel":                                   "stops a comparison in progress; stores nothing",
	"POST /api/call/Fairness.Cancel":                                     "stops an assessment in flight, which stores nothing",
	"POST /api/call/Explanations.Global":                                 "read",
	"POST /api/call/Explanations.Chart":                                  "read",
	"POST /api/call/Explanations.OfRun":                                  "read",
	"POST /api/call/Explanations.Local":                                  "explains one row it is given; stores nothing",
	"POST /api/call/Explanations.Logged":                                 "explains a logged row; stores nothing",
	"POST /api/call/Explanations.Cancel":                                 "stops a computation in flight, which stores nothing",
	"POST /api/call/Sweeps.List":                                         "read",
	"POST /api/call/Backups.Status":                                      "read",
	"POST /api/call/Encryption.Status":                                   "read",
	"POST /api/call/Engines.List":                                        "read: asks each engine for its health",
	"POST /api/call/Engines.Test":                                        "read: asks one engine for its health",
	"POST /api/call/Backups.Cancel":                                      "stops a backup in flight; Tern records how it ended (backup.fail)",
	"POST /api/call/Backups.Restore":                                     "writes a new data folder outside this one; changes nothing here",
	"POST /api/call/Retention.Status":                                    "read",
	"POST /api/call/Retention.Preview":                                   "the dry run: counts what a run would delete; stores nothing",
	"POST /api/call/Retention.Cancel":                                    "stops a run in flight; Tern records how it ended (prediction_log.retention)",
	"POST /api/call/Sweeps.Get":                                          "read",
	"POST /api/call/Training.Models":                                     "read",
	"POST /api/call/Pipelines.StepTypes":                                 "read",
	"POST /api/call/Pipelines.List":                                      "read",
	"POST /api/call/Pipelines.Get":                                       "read",
	"POST /api/call/Pipelines.Check":                                     "validates a pipeline it is given; stores nothing",
	"POST /api/call/Pipelines.ExportYAML":                                "read",
	"POST /api/call/Pipelines.Runs":                                      "read",
	"POST /api/call/Pipelines.Run":                                       "read",
	"POST /api/call/Pipelines.NextFires":                                 "previews a cron expression it is given; stores nothing",
	"POST /api/call/Training.Jobs":                                       "read",
	"POST /api/call/Training.Job":                                        "read",
	"POST /api/call/Training.Logs":                                       "read",
	"POST /api/call/Training.Docker":                                     "read",
	"POST /api/call/Training.ExportRun":                                  "writes a file outside Tern",
	"GET /api/monitor/reports/{file}":                                    "read",
	"GET /api/monitor/reports/{id}/charts/{column}":                      "read",
	"GET /api/monitor/monitors/{id}/performance.svg":                     "read",
	"GET /api/2.0/mlflow/experiments/get":                                "read",
	"GET /api/2.0/mlflow/experiments/get-by-name":                        "read",
	"POST /api/2.0/mlflow/experiments/search":                            "read (MLflow sends searches as POST)",
	"GET /api/2.0/mlflow/experiments/search":                             "read",
	"GET /api/2.0/mlflow/runs/get":                                       "read",
	"POST /api/2.0/mlflow/runs/search":                                   "read",
	"GET /api/2.0/mlflow/metrics/get-history":                            "read",
	"GET /api/2.0/mlflow/artifacts/list":                                 "read",
	"GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval":         "read",
	"POST /api/2.0/mlflow/runs/outputs":                                  "checked and ignored: nothing is stored",
	"GET /api/2.0/mlflow-artifacts/artifacts":                            "read",
	"GET /api/2.0/mlflow-artifacts/artifacts/{path...}":                  "read",
	"GET /api/2.0/mlflow/registered-models/get":                          "read",
	"GET /api/2.0/mlflow/registered-models/search":                       "read",
	"POST /api/2.0/mlflow/registered-models/get-latest-versions":         "read (POST in MLflow's API)",
	"GET /api/2.0/mlflow/registered-models/get-latest-versions":          "read",
	"GET /api/2.0/mlflow/registered-models/alias":                        "read",
	"GET /api/2.0/mlflow/model-versions/get":                             "read",
	"GET /api/2.0/mlflow/model-versions/search":                          "read",
	"GET /api/2.0/mlflow/model-versions/get-download-uri":                "read",
	"POST /api/2.0/mlflow/model-versions/transition-stage":               "always refused: stages are deprecated",
	"POST /api/2.0/mlflow/logged-models/search":                          "read",
	"GET /api/2.0/mlflow/logged-models/{model_id}":                       "read",
	"GET /api/2.0/mlflow/logged-models/{model_id}/artifacts/directories": "read",
}

// coveredElsewhere are mutating routes whose one record is asserted by a
// test that can hold the state the call needs.
var coveredElsewhere = map[string]string{
	// cancelling needs a job that is still queued, which needs slow jobs
	"POST /api/call/Training.Cancel": "backend/runner TestLocalCancelAndConcurrencyLimit",
	// likewise a sweep still running (its trials held)
	"POST /api/call/Sweeps.Cancel": "backend/sweep TestCancelStopsTheSweep",
	// needs a finished trial with a model; it only registers, through
	// registry.RegisterRunMeta (model_version.register)
	"POST /api/call/Sweeps.RegisterBest": "backend/registry TestRegistryChangesAreAudited",
	// needs a run still queued or running (its step held)
	"POST /api/call/Pipelines.Cancel": "backend/pipeline TestCancelAndConcurrencyLimitAndCoalesce",
	// need a gate waiting for approval, which needs trained versions
	"POST /api/call/Pipelines.Approve": "backend/pipeline TestEvaluateAndGate",
	"POST /api/call/Pipelines.Reject":  "backend/pipeline TestEvaluateAndGate",
	// needs an encrypted data dir, which this sweep's running Tern is not
	// (encrypting it switches only at the next start)
	"POST /api/call/Encryption.Rotate": "backend/atrest TestServiceRecordsEachChange",
	// needs a deployment whose model was trained in Tern (it only saves a
	// pipeline: pipeline.save)
	"POST /api/call/Pipelines.RetrainOnDrift": "backend/pipeline TestRetrainOnDriftTemplate",
}

// auditSweep drives the real HTTP face of a real environment.
type auditSweep struct {
	t     *testing.T
	env   *environment
	srv   *httpapi.Server
	dir   string
	done  map[string]bool
	marks []string
}

func (s *auditSweep) do(method, path, auth, ctype string, body []byte) (int, map[string]any) {
	s.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Host = "127.0.0.1:7733"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth == "cookie" {
		req.AddCookie(&http.Cookie{Name: "tern_session", Value: s.env.token})
	} else {
		req.Header.Set("Authorization", "Bearer "+s.env.token)
	}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if out == nil {
		var v any
		if json.Unmarshal(rec.Body.Bytes(), &v) == nil {
			out = map[string]any{"value": v}
		}
	}
	require.Less(s.t, rec.Code, 300, "%s %s: %s", method, path, rec.Body.String())
	return rec.Code, out
}

// call makes a bound call as the browser does.
func (s *auditSweep) call(name string, args ...any) map[string]any {
	s.t.Helper()
	if args == nil {
		args = []any{}
	}
	b, _ := json.Marshal(args)
	_, out := s.do("POST", "/api/call/"+name, "cookie", "application/json", b)
	return out
}

// mlflow calls the MLflow API as a client with the access token does.
func (s *auditSweep) mlflow(method, path string, body any) map[string]any {
	s.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	_, out := s.do(method, path, "bearer", "application/json", b)
	return out
}

func (s *auditSweep) head() uint64 {
	recs, err := s.env.audit.List(audit.Query{Limit: 1})
	require.NoError(s.t, err)
	if len(recs) == 0 {
		return 0
	}
	return recs[0].Seq
}

// step runs one route's call and asserts it left exactly want records
// attributed to the face that made it (records other faces write at the
// same time — a job logging, Tern's own schedules — are not the call's).
func (s *auditSweep) step(route string, face audit.Face, want int, fn func()) {
	s.t.Helper()
	mark := s.head()
	fn()
	recs, err := s.env.audit.List(audit.Query{Limit: 10000})
	require.NoError(s.t, err)
	var mine []string
	for _, r := range recs {
		if r.Seq > mark && r.Face == face {
			mine = append(mine, r.Action)
		}
	}
	assert.Len(s.t, mine, want, "%s left %v", route, mine)
	s.done[route] = true
}

func find(v any, key string) string {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x[key].(string); ok {
			return s
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s := find(x[k], key); s != "" {
				return s
			}
		}
	case []any:
		for _, e := range x {
			if s := find(e, key); s != "" {
				return s
			}
		}
	}
	return ""
}

func writeFile(t *testing.T, path, text string) string {
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func csvText(n int, shift float64) string {
	var b strings.Builder
	b.WriteString("x,y,label\n")
	for i := 0; i < n; i++ {
		label := "a"
		if i%3 == 0 {
			label = "b"
		}
		fmt.Fprintf(&b, "%g,%d,%s\n", float64(i%7)+shift, i%5, label)
	}
	return b.String()
}

// TestEveryChangeIsAudited is the Must-show sweep: every route of the HTTP
// face — the bound methods the window also calls, the MLflow API, the raw
// upload and label routes — is either on the reviewed read-only list or
// is called here and leaves exactly one audit record by the caller's face
// (a documented few leave two, each with its reason).
func TestEveryChangeIsAudited(t *testing.T) {
	dir := t.TempDir()
	env, err := open(dir, "serve", false, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer env.close()
	srv, err := env.httpServer("127.0.0.1:0")
	require.NoError(t, err)
	s := &auditSweep{t: t, env: env, srv: srv, dir: t.TempDir(), done: map[string]bool{}}
	B, M := audit.Browser, audit.MLflow
	call := "POST /api/call/"
	v2 := "/api/2.0/mlflow/"

	// Datasets.
	csv1 := writeFile(t, filepath.Join(s.dir, "churn.csv"), csvText(60, 0))
	var ver1, dsID string
	s.step(call+"Datasets.ImportPath", B, 1, func() {
		out := s.call("Datasets.ImportPath", csv1, map[string]any{})
		ver1, dsID = find(out, "id"), find(out, "datasetId")
	})
	var otherVer string
	s.step("POST "+httpapi.UploadPath, B, 1, func() {
		_, out := s.do("POST", httpapi.UploadPath+"?filename=other.csv&name=other", "cookie", "text/csv", []byte(csvText(40, 1)))
		otherVer = find(out, "id")
	})
	s.step(call+"Datasets.EditSchema", B, 1, func() {
		s.call("Datasets.EditSchema", ver1, []map[string]any{{"name": "y", "role": "ignore"}})
	})
	var ver2 string
	s.step(call+"Datasets.Reimport", B, 1, func() {
		out := s.call("Datasets.Reimport", ver1, map[string]any{"nullTokens": []string{"", "NA", "-"}})
		ver2 = find(out, "id")
	})
	require.NotEqual(t, ver1, ver2)
	suggested := s.call("Datasets.SuggestRules", ver1)["value"]
	s.step(call+"Datasets.SetRules", B, 1, func() { s.call("Datasets.SetRules", dsID, suggested) })
	s.step(call+"Datasets.Check", B, 1, func() { s.call("Datasets.Check", ver2) })
	s.step(call+"Datasets.TrashVersion", B, 1, func() { s.call("Datasets.TrashVersion", ver2) })
	s.step(call+"Datasets.RestoreVersion", B, 1, func() { s.call("Datasets.RestoreVersion", ver2) })
	s.step(call+"Datasets.TrashDataset", B, 1, func() { s.call("Datasets.TrashDataset", dsID) })
	s.step(call+"Datasets.RestoreDataset", B, 1, func() { s.call("Datasets.RestoreDataset", dsID) })
	s.call("Datasets.TrashVersion", ver2)
	s.step(call+"Datasets.EmptyTrash", B, 1, func() { s.call("Datasets.EmptyTrash") })

	// Experiments and runs, through the MLflow API.
	var expID, runID string
	s.step("POST "+v2+"experiments/create", M, 1, func() {
		expID = find(s.mlflow("POST", v2+"experiments/create", map[string]any{"name": "sweep"}), "experiment_id")
	})
	s.step("POST "+v2+"experiments/update", M, 1, func() {
		s.mlflow("POST", v2+"experiments/update", map[string]any{"experiment_id": expID, "new_name": "sweep2"})
	})
	s.step("POST "+v2+"experiments/set-experiment-tag", M, 1, func() {
		s.mlflow("POST", v2+"experiments/set-experiment-tag", map[string]any{"experiment_id": expID, "key": "team", "value": "risk"})
	})
	s.step("POST "+v2+"experiments/delete", M, 1, func() {
		s.mlflow("POST", v2+"experiments/delete", map[string]any{"experiment_id": expID})
	})
	s.step("POST "+v2+"experiments/restore", M, 1, func() {
		s.mlflow("POST", v2+"experiments/restore", map[string]any{"experiment_id": expID})
	})
	s.step("POST "+v2+"runs/create", M, 1, func() {
		runID = find(s.mlflow("POST", v2+"runs/create", map[string]any{"experiment_id": expID, "run_name": "r1"}), "run_id")
	})
	s.step("POST "+v2+"runs/log-metric", M, 1, func() {
		s.mlflow("POST", v2+"runs/log-metric", map[string]any{"run_id": runID, "key": "loss", "value": 0.5, "timestamp": 1, "step": 1})
	})
	s.step("POST "+v2+"runs/log-parameter", M, 1, func() {
		s.mlflow("POST", v2+"runs/log-parameter", map[string]any{"run_id": runID, "key": "lr", "value": "0.1"})
	})
	s.step("POST "+v2+"runs/set-tag", M, 1, func() {
		s.mlflow("POST", v2+"runs/set-tag", map[string]any{"run_id": runID, "key": "k", "value": "v"})
	})
	s.step("POST "+v2+"runs/delete-tag", M, 1, func() {
		s.mlflow("POST", v2+"runs/delete-tag", map[string]any{"run_id": runID, "key": "k"})
	})
	s.step("POST "+v2+"runs/log-batch", M, 1, func() {
		s.mlflow("POST", v2+"runs/log-batch", map[string]any{"run_id": runID, "metrics": []map[string]any{{"key": "loss", "value": 0.4, "timestamp": 2, "step": 2}}})
	})
	s.step("POST "+v2+"runs/log-inputs", M, 1, func() {
		s.mlflow("POST", v2+"runs/log-inputs", map[string]any{"run_id": runID, "datasets": []map[string]any{{
			"dataset": map[string]any{"name": "customers", "digest": "0123abcd", "source_type": "local", "source": "{}"},
			"tags":    []map[string]any{{"key": "mlflow.data.context", "value": "training"}}}}})
	})
	// The model files a registered version holds, logged as the run's "model" artifact.
	modelFile := filepath.Join("backend", "gbdt", "testdata", "xgb_binary.json")
	s.step(call+"Models.ImportPath", B, 1, func() { s.call("Models.ImportPath", "churn", modelFile) })
	files, err := os.ReadDir(env.registry.Dir(mustVersion(t, env, "churn", "1")))
	require.NoError(t, err)
	art := "/api/2.0/mlflow-artifacts/artifacts/" + expID + "/" + runID + "/artifacts/model/"
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(env.registry.Dir(mustVersion(t, env, "churn", "1")), f.Name()))
		require.NoError(t, err)
		put := func() { s.do("PUT", art+f.Name(), "bearer", "application/octet-stream", b) }
		if i == 0 {
			s.step("PUT /api/2.0/mlflow-artifacts/artifacts/{path...}", M, 1, put)
		} else {
			put()
		}
	}
	s.do("PUT", art+"notes.txt", "bearer", "text/plain", []byte("x"))
	s.step("DELETE /api/2.0/mlflow-artifacts/artifacts/{path...}", M, 1, func() {
		s.do("DELETE", art+"notes.txt", "bearer", "", nil)
	})
	s.step("POST "+v2+"runs/update", M, 1, func() {
		s.mlflow("POST", v2+"runs/update", map[string]any{"run_id": runID, "status": "FINISHED"})
	})

	// The registry through the MLflow API.
	rm, mv := v2+"registered-models/", v2+"model-versions/"
	s.step("POST "+rm+"create", M, 1, func() { s.mlflow("POST", rm+"create", map[string]any{"name": "fraud"}) })
	s.step("PATCH "+rm+"update", M, 1, func() {
		s.mlflow("PATCH", rm+"update", map[string]any{"name": "fraud", "description": "scores fraud"})
	})
	s.step("POST "+rm+"set-tag", M, 1, func() {
		s.mlflow("POST", rm+"set-tag", map[string]any{"name": "fraud", "key": "team", "value": "risk"})
	})
	s.step("DELETE "+rm+"delete-tag", M, 1, func() {
		s.mlflow("DELETE", rm+"delete-tag", map[string]any{"name": "fraud", "key": "team"})
	})
	s.step("POST "+mv+"create", M, 1, func() {
		s.mlflow("POST", mv+"create", map[string]any{"name": "fraud", "source": "runs:/" + runID + "/model", "run_id": runID})
	})
	s.step("PATCH "+mv+"update", M, 1, func() {
		s.mlflow("PATCH", mv+"update", map[string]any{"name": "fraud", "version": "1", "description": "first"})
	})
	s.step("POST "+mv+"set-tag", M, 1, func() {
		s.mlflow("POST", mv+"set-tag", map[string]any{"name": "fraud", "version": "1", "key": "k", "value": "v"})
	})
	s.step("DELETE "+mv+"delete-tag", M, 1, func() {
		s.mlflow("DELETE", mv+"delete-tag", map[string]any{"name": "fraud", "version": "1", "key": "k"})
	})
	s.step("POST "+rm+"alias", M, 1, func() {
		s.mlflow("POST", rm+"alias", map[string]any{"name": "fraud", "alias": "champion", "version": "1"})
	})
	s.step("DELETE "+rm+"alias", M, 1, func() {
		s.mlflow("DELETE", rm+"alias", map[string]any{"name": "fraud", "alias": "champion"})
	})
	s.step("POST "+rm+"rename", M, 1, func() {
		s.mlflow("POST", rm+"rename", map[string]any{"name": "fraud", "new_name": "fraud2"})
	})
	s.mlflow("POST", mv+"create", map[string]any{"name": "fraud2", "source": "runs:/" + runID + "/model", "run_id": runID})
	s.step("DELETE "+mv+"delete", M, 1, func() {
		s.mlflow("DELETE", mv+"delete", map[string]any{"name": "fraud2", "version": "2"})
	})
	s.step("DELETE "+rm+"delete", M, 1, func() { s.mlflow("DELETE", rm+"delete", map[string]any{"name": "fraud2"}) })

	// MLflow 3 logged models.
	lm := v2 + "logged-models"
	var modelID string
	s.step("POST "+lm, M, 1, func() {
		modelID = find(s.mlflow("POST", lm, map[string]any{"experiment_id": expID, "name": "m", "source_run_id": runID}), "model_id")
	})
	s.step("POST "+lm+"/{model_id}/params", M, 1, func() {
		s.mlflow("POST", lm+"/"+modelID+"/params", map[string]any{"params": []map[string]string{{"key": "a", "value": "1"}}})
	})
	s.step("PATCH "+lm+"/{model_id}/tags", M, 1, func() {
		s.mlflow("PATCH", lm+"/"+modelID+"/tags", map[string]any{"tags": []map[string]string{{"key": "t", "value": "1"}}})
	})
	s.step("DELETE "+lm+"/{model_id}/tags/{tag_key}", M, 1, func() {
		s.mlflow("DELETE", lm+"/"+modelID+"/tags/t", nil)
	})
	s.step("PATCH "+lm+"/{model_id}", M, 1, func() {
		s.mlflow("PATCH", lm+"/"+modelID, map[string]any{"status": "LOGGED_MODEL_READY"})
	})
	s.step("DELETE "+lm+"/{model_id}", M, 1, func() { s.mlflow("DELETE", lm+"/"+modelID, nil) })

	// Bound registry calls.
	s.step(call+"Models.Create", B, 1, func() { s.call("Models.Create", "empty", "nothing yet") })
	s.step(call+"Models.RegisterRun", B, 1, func() { s.call("Models.RegisterRun", "churn", runID, "model") })
	s.step(call+"Models.SetAlias", B, 1, func() { s.call("Models.SetAlias", "churn", "challenger", 2) })
	s.step(call+"Models.Promote", B, 1, func() { s.call("Models.Promote", "churn") })

	// An explanation is stored once per version: churn v1 (imported, no
	// training data) explained on a dataset holding its inputs.
	var cols []string
	for _, c := range mustVersion(t, env, "churn", "1").Signature.Inputs {
		cols = append(cols, c.Name)
	}
	var xb strings.Builder
	xb.WriteString(strings.Join(cols, ",") + "\n")
	for i := 0; i < 30; i++ {
		for j := range cols {
			if j > 0 {
				xb.WriteString(",")
			}
			fmt.Fprintf(&xb, "%d", (i*7+j*3)%11)
		}
		xb.WriteString("\n")
	}
	inputs := find(s.call("Datasets.ImportPath", writeFile(t, filepath.Join(s.dir, "inputs.csv"), xb.String()), map[string]any{}), "id")
	s.step(call+"Explanations.Compute", B, 1, func() {
		s.call("Explanations.Compute", map[string]any{"model": "churn", "version": 1, "datasetVersion": inputs})
	})

	// Deployments (in-process endpoints when no runtime binary is built in).
	var depID, depURL string
	s.step(call+"Deployments.Deploy", B, 1, func() {
		dep := s.call("Deployments.Deploy", "churn", "1", map[string]any{"name": "churn-api"})
		depID, depURL = find(dep, "id"), find(dep, "endpoint")
	})
	s.step(call+"Deployments.AddVersion", B, 1, func() { s.call("Deployments.AddVersion", depID, "2") })
	s.step(call+"Deployments.SetCanary", B, 1, func() { s.call("Deployments.SetCanary", depID, "v2", 10) })
	s.step(call+"Deployments.SetTraffic", B, 1, func() {
		s.call("Deployments.SetTraffic", depID, map[string]any{"split": []map[string]any{{"backend": "v1", "weight": 50}, {"backend": "v2", "weight": 50}}})
	})
	s.step(call+"Deployments.Rollback", B, 1, func() { s.call("Deployments.Rollback", depID) })
	// A ramp starts from one version taking all traffic: launching nothing
	// (v2 is there) and the first stage's split are the ramp's one record.
	s.call("Deployments.SetTraffic", depID, map[string]any{"split": []map[string]any{{"backend": "v1", "weight": 100}}})
	var rampID string
	s.step(call+"Deployments.StartRamp", B, 1, func() {
		rampID = find(s.call("Deployments.StartRamp", depID, "2", map[string]any{"stages": []map[string]any{{"percent": 10, "minutes": 60}}}), "id")
	})
	s.step(call+"Deployments.AbortRamp", B, 1, func() { s.call("Deployments.AbortRamp", rampID) })
	// What the follower then does is Tern's, not the call's.
	s.step(call+"Deployments.SetFollow", B, 1, func() {
		s.call("Deployments.SetFollow", depID, map[string]any{"alias": "champion", "strategy": "switch"})
	})
	s.call("Deployments.SetFollow", depID, nil)

	// Monitoring.
	var monID string
	s.step(call+"Monitoring.CreateMonitor", B, 1, func() {
		monID = find(s.call("Monitoring.CreateMonitor", map[string]any{"name": "drift", "kind": "versions", "refVersion": ver1, "curVersion": otherVer}), "id")
	})
	s.step(call+"Monitoring.SetRules", B, 1, func() {
		s.call("Monitoring.SetRules", monID, []map[string]any{{"name": "share", "kind": "drift_share", "threshold": 0.5}})
	})
	s.step(call+"Monitoring.Run", B, 1, func() { s.call("Monitoring.Run", monID) })
	other := writeFile(t, filepath.Join(s.dir, "cur.csv"), csvText(50, 2))
	s.step(call+"Monitoring.CompareFiles", B, 1, func() { s.call("Monitoring.CompareFiles", csv1, other) })
	s.step(call+"Monitoring.DeleteMonitor", B, 1, func() { s.call("Monitoring.DeleteMonitor", monID) })

	// Labels for a deployment's monitor: kept, then the monitor runs.
	depMon := find(s.call("Monitoring.CreateMonitor", map[string]any{"name": "live", "kind": "deployment", "deployment": depID, "refVersion": ver1}), "id")
	// One prediction served as req-1, so its label joins (and traffic can
	// become a dataset version below).
	row := make([]string, len(cols))
	for j := range row {
		row[j] = fmt.Sprint(j % 5)
	}
	req, err := http.NewRequest("POST", strings.TrimSuffix(depURL, "/")+"/invocations", strings.NewReader(
		fmt.Sprintf(`{"dataframe_split":{"columns":["%s"],"data":[[%s]]}}`, strings.Join(cols, `","`), strings.Join(row, ","))))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(core.RequestIDHeader, "req-1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	require.Eventually(t, func() bool { // the prediction log writes in batches
		out, _ := json.Marshal(s.call("Deployments.Predictions", depID, 5))
		return strings.Contains(string(out), "req-1")
	}, 10*time.Second, 20*time.Millisecond)
	labels := writeFile(t, filepath.Join(s.dir, "labels.csv"), "request_id,label\nreq-1,1\nreq-2,0\n")
	// Two records: the labels, and the report of the monitor run they trigger.
	s.step(call+"Monitoring.LabelsFromFile", B, 2, func() { s.call("Monitoring.LabelsFromFile", depMon, labels, "classification", "") })
	s.step("POST /api/monitor/monitors/{id}/labels", B, 2, func() {
		s.do("POST", "/api/monitor/monitors/"+depMon+"/labels", "cookie", "text/csv", []byte("request_id,label\nreq-3,1\n"))
	})
	// One record: the new dataset version's import.
	s.step(call+"Monitoring.TrafficDataset", B, 1, func() {
		s.call("Monitoring.TrafficDataset", depMon, map[string]any{"dataset": "from-traffic"})
	})
	s.step(call+"Deployments.Stop", B, 1, func() { s.call("Deployments.Stop", depID) })
	s.step(call+"Deployments.Delete", B, 1, func() { s.call("Deployments.Delete", depID) })

	// Archive and delete in the registry, once no deployment uses the versions.
	s.step(call+"Models.ArchiveVersion", B, 1, func() { s.call("Models.ArchiveVersion", "churn", 1, true) })
	s.call("Models.ArchiveVersion", "churn", 1, false)
	s.step(call+"Models.Archive", B, 1, func() { s.call("Models.Archive", "empty", true) })
	s.step(call+"Models.DeleteVersion", B, 1, func() { s.call("Models.DeleteVersion", "churn", 2) })
	s.step(call+"Models.Delete", B, 1, func() { s.call("Models.Delete", "empty") })

	// Bound tracking calls.
	var uiExp string
	s.step(call+"Experiments.Create", B, 1, func() { uiExp = find(s.call("Experiments.Create", "ui"), "id") })
	s.step(call+"Experiments.Rename", B, 1, func() { s.call("Experiments.Rename", uiExp, "ui2") })
	s.step(call+"Experiments.SetNote", B, 1, func() { s.call("Experiments.SetNote", runID, "# why") })
	s.step(call+"Experiments.SetTag", B, 1, func() { s.call("Experiments.SetTag", runID, "k", "v") })
	s.step(call+"Experiments.DeleteTag", B, 1, func() { s.call("Experiments.DeleteTag", runID, "k") })
	s.step(call+"Experiments.RenameRun", B, 1, func() { s.call("Experiments.RenameRun", runID, "renamed") })
	s.step(call+"Experiments.SaveView", B, 1, func() {
		s.call("Experiments.SaveView", map[string]any{"name": "mine", "query": "params.lr = '0.1'"})
	})
	s.step(call+"Experiments.DeleteView", B, 1, func() { s.call("Experiments.DeleteView", "mine") })
	export := filepath.Join(s.dir, "mlruns")
	s.call("Experiments.ExportMLruns", expID, []string{runID}, export)
	s.step("POST "+v2+"runs/delete", M, 1, func() { s.mlflow("POST", v2+"runs/delete", map[string]any{"run_id": runID}) })
	s.step("POST "+v2+"runs/restore", M, 1, func() { s.mlflow("POST", v2+"runs/restore", map[string]any{"run_id": runID}) })
	s.step(call+"Experiments.TrashRuns", B, 1, func() { s.call("Experiments.TrashRuns", []string{runID}) })
	s.step(call+"Experiments.RestoreRuns", B, 1, func() { s.call("Experiments.RestoreRuns", []string{runID}) })
	s.call("Experiments.TrashRuns", []string{runID})
	s.step(call+"Experiments.DeleteRuns", B, 1, func() { s.call("Experiments.DeleteRuns", []string{runID}) })
	s.step(call+"Experiments.ImportMLruns", B, 1, func() { s.call("Experiments.ImportMLruns", export) }) // the run deleted above comes back

	// Training: the job's own records (run.status, by the job) are not the call's.
	train := map[string]any{"datasetVersionId": ver1, "target": "label", "model": "logistic"}
	var trainedRun, trainedJob string
	s.step(call+"Training.Start", B, 1, func() {
		job := s.call("Training.Start", train)
		trainedRun, trainedJob = find(job, "runId"), find(job, "id")
	})
	s.step(call+"Training.Rerun", B, 1, func() { s.call("Training.Rerun", trainedRun) })
	// A run archive: written to a file once the job ends (nothing changes
	// here), then imported back: four records, each a change of its own —
	// the dataset version, the run, its metrics and its end.
	// (The runtime is not built here, so the job fails; its run exports all the same.)
	require.Eventually(t, func() bool {
		return runner.State(find(s.call("Training.Job", trainedJob), "state")).Final()
	}, time.Minute, 100*time.Millisecond)
	archive := filepath.Join(s.dir, "run.tern.tgz")
	s.call("Training.ExportRun", trainedRun, archive)
	s.step(call+"Training.ImportRun", B, 4, func() { s.call("Training.ImportRun", archive) })
	// Two records: the sweep, and its parent run.
	s.step(call+"Sweeps.Start", B, 2, func() {
		s.call("Sweeps.Start", map[string]any{"name": "tune", "train": train, "sampler": "random", "objective": "test_roc_auc", "maximize": true, "maxTrials": 2,
			"space": []map[string]any{{"name": "C", "kind": "float", "low": 0.01, "high": 10, "log": true}}})
	})

	// Pipelines: what a run's steps change is the pipeline run's, not the call's.
	var pid, failing string
	s.step(call+"Pipelines.ImportYAML", B, 1, func() {
		pid = find(s.call("Pipelines.ImportYAML", "name: nightly\ntriggers:\n  - kind: webhook\nsteps:\n  - id: data\n    type: data.version\n    fields: {version: "+ver1+"}\n"), "id")
	})
	s.step(call+"Pipelines.Save", B, 1, func() {
		failing = find(s.call("Pipelines.Save", map[string]any{"name": "broken", "steps": []map[string]any{{"id": "data", "type": "data.version", "fields": map[string]any{"version": "no-such-version"}}}}), "id")
	})
	var broken string
	s.step(call+"Pipelines.Start", B, 1, func() { broken = find(s.call("Pipelines.Start", failing, map[string]any{}), "id") })
	waitPipelineRun(t, env, broken)
	s.step(call+"Pipelines.Retry", B, 1, func() { s.call("Pipelines.Retry", broken, "data") })
	waitPipelineRun(t, env, broken)
	s.step("POST /api/pipelines/{id}/webhook", M, 1, func() {
		s.do("POST", "/api/pipelines/"+pid+"/webhook", "bearer", "application/json", []byte(`{"detail":"ci"}`))
	})
	s.step(call+"Pipelines.Delete", B, 1, func() { s.call("Pipelines.Delete", failing) })
	// Backups: the schedule, and a backup's start (how it ends is Tern's record).
	s.step(call+"Backups.SetSchedule", B, 1, func() {
		s.call("Backups.SetSchedule", map[string]any{"everyHours": 24, "keep": 3, "folder": filepath.Join(s.dir, "backups")})
	})
	s.step(call+"Backups.Start", B, 1, func() { s.call("Backups.Start", "") })
	env.backups.Wait()
	// Encryption: preparing the encrypted copy, then discarding it.
	s.step(call+"Encryption.Encrypt", B, 1, func() {
		s.call("Encryption.Encrypt", map[string]any{"kind": "passphrase", "passphrase": "sweep passphrase"})
	})
	env.encryption.Wait()
	s.step(call+"Encryption.Cancel", B, 1, func() { s.call("Encryption.Cancel") })
	// Prediction-log retention: the policy, and a run's start (how it ends is Tern's record).
	s.step(call+"Retention.SetPolicy", B, 1, func() {
		s.call("Retention.SetPolicy", map[string]any{"global": map[string]any{"keepDays": 30, "keepBytes": 0}, "everyHours": 24})
	})
	s.step(call+"Retention.Start", B, 1, func() { s.call("Retention.Start", map[string]any{"deleteNeeded": false}) })
	env.retention.Wait()
	// Engines: adding a remote one (not dialled), then removing it.
	certs := testenv.Certs(t)
	s.step(call+"Engines.Add", B, 1, func() {
		s.call("Engines.Add", map[string]any{"name": "gpu-box", "host": "tcp://127.0.0.1:1", "certDir": certs})
	})
	s.step(call+"Engines.Remove", B, 1, func() { s.call("Engines.Remove", "gpu-box") })

	// Every route is either exercised above or listed read-only.
	var missing []string
	for _, rt := range srv.Routes() {
		_, listed := readOnly[rt.Pattern]
		if _, ok := coveredElsewhere[rt.Pattern]; ok {
			continue
		}
		fallback := strings.HasSuffix(rt.Pattern, "/api/2.0/mlflow/") || strings.HasSuffix(rt.Pattern, "/api/2.0/mlflow-artifacts/") || strings.HasSuffix(rt.Pattern, "/ajax-api/")
		switch {
		case listed && s.done[rt.Pattern]:
			t.Errorf("%s is listed read-only but changes state", rt.Pattern)
		case !listed && !s.done[rt.Pattern] && !fallback:
			missing = append(missing, rt.Pattern)
		}
	}
	assert.Empty(t, missing, "routes neither exercised nor listed read-only")

	// Read-only routes called with no arguments leave nothing.
	mark := s.head()
	for p := range readOnly {
		method, path, _ := strings.Cut(p, " ")
		path = strings.NewReplacer("{path...}", "x/y", "{model_id}", "m", "{file}", "f", "{id}", "i", "{column}", "c").Replace(path)
		req := httptest.NewRequest(method, path, strings.NewReader("[]"))
		req.Host = "127.0.0.1:7733"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.token)
		if p == "GET /api/events" {
			continue
		}
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	recs, err := env.audit.List(audit.Query{Limit: 10000})
	require.NoError(t, err)
	for _, r := range recs {
		if r.Seq > mark && r.Face == audit.MLflow {
			t.Errorf("a read-only route wrote %s %v", r.Action, r.Objects)
		}
	}

	res, err := env.audit.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK, res.Message)
}

func mustVersion(t *testing.T, env *environment, name, ref string) registry.Version {
	t.Helper()
	v, err := env.registry.Version(name, ref)
	require.NoError(t, err)
	return v
}

// waitPipelineRun waits until a pipeline run has ended.
func waitPipelineRun(t *testing.T, env *environment, runID string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := env.pipelines.GetRun(runID)
		return err == nil && d.Run.State.Final()
	}, 20*time.Second, 10*time.Millisecond)
}
