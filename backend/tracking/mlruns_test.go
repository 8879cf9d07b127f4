package tracking

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/testenv"
)

func TestExportImportRoundTrip(t *testing.T) {
	src := newSvc(t)
	e, err := src.CreateExperiment("exp one", nil)
	require.NoError(t, err)
	r, err := src.CreateRun(RunSpec{ExperimentID: e.ID, Name: "r", Params: map[string]string{"lr": "0.1", "a/b": "nested"}, Tags: map[string]string{"team": "risk"}, GitCommit: "abc"})
	require.NoError(t, err)
	require.NoError(t, src.LogMetrics(r.ID, []Metric{{Key: "loss", Value: 0.5, Step: 1, Timestamp: 10}, {Key: "loss", Value: 0.25, Step: 2, Timestamp: 20}, {Key: "odd", Value: Float(math.Inf(-1)), Step: 0, Timestamp: 5}}))
	_, err = src.LogArtifact(r.ID, "model/weights.bin", strings.NewReader("0123"))
	require.NoError(t, err)
	require.NoError(t, src.EndRun(r.ID, StatusFinished))

	out := t.TempDir()
	n, err := src.ExportMLruns(e.ID, nil, out)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = src.ExportMLruns(e.ID, nil, out)
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "never exports over an earlier export")
	assert.FileExists(t, filepath.Join(out, e.ID, r.ID, "metrics", "loss"))
	assert.FileExists(t, filepath.Join(out, e.ID, r.ID, "params", "a", "b"))
	lines, _ := os.ReadFile(filepath.Join(out, e.ID, r.ID, "metrics", "loss"))
	assert.Equal(t, "10 0.5 1\n20 0.25 2\n", string(lines))

	dst := newSvc(t)
	rep, err := dst.ImportMLruns(out)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Runs)
	assert.Equal(t, 3, rep.Points)
	assert.Equal(t, 1, rep.Artifacts)
	got, err := dst.GetRun(r.ID)
	require.NoError(t, err, "the MLflow run id is kept")
	assert.Equal(t, "r", got.Name)
	assert.Equal(t, StatusFinished, got.Status)
	assert.Equal(t, map[string]string{"lr": "0.1", "a/b": "nested"}, got.Params)
	assert.Equal(t, "risk", got.Tags["team"])
	assert.Equal(t, Point{Value: 0.25, Step: 2, Timestamp: 20}, got.Metrics["loss"])
	assert.True(t, math.IsInf(float64(got.Metrics["odd"].Value), -1))
	exp, err := dst.ExperimentByName("exp one")
	require.NoError(t, err)
	assert.Equal(t, exp.ID, got.ExperimentID)
	f, _, err := dst.OpenArtifact(r.ID, "model/weights.bin")
	require.NoError(t, err)
	f.Close()

	rep, err = dst.ImportMLruns(out)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Skipped, "importing twice is harmless")
	h, _ := dst.MetricHistory(r.ID, "loss")
	assert.Len(t, h, 2)

	_, err = dst.ImportMLruns(t.TempDir())
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

func TestImportRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "7")
	run := filepath.Join(exp, "abc")
	require.NoError(t, os.MkdirAll(filepath.Join(run, "metrics"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(run, "artifacts"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(exp, "meta.yaml"), []byte("name: hostile\nexperiment_id: '7'\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(run, "meta.yaml"), []byte("run_id: abc\nstatus: 3\nstart_time: 5\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(run, "metrics", "m"), []byte("1 0.5 0\ngarbage\n2 x 1\n3 0.25 2\n"), 0o600))
	outside := testenv.File(t, "secret", []byte("secret"))
	require.NoError(t, os.Symlink(outside, filepath.Join(run, "artifacts", "link")))
	// a run folder whose meta names another run
	other := filepath.Join(exp, "zzz")
	require.NoError(t, os.MkdirAll(other, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(other, "meta.yaml"), []byte("run_id: ../../etc\n"), 0o600))
	// an oversized meta
	big := filepath.Join(exp, "big")
	require.NoError(t, os.MkdirAll(big, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(big, "meta.yaml"), []byte(strings.Repeat("a: b\n", 40_000)), 0o600))

	s := newSvc(t)
	rep, err := s.ImportMLruns(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Runs)
	assert.Equal(t, 2, rep.Points)
	assert.Zero(t, rep.Artifacts, "links are not followed")
	assert.NotEmpty(t, rep.Warnings)
	list, _ := s.ListArtifacts("abc", "")
	assert.Empty(t, list)
}

func TestImportRealMLflowFileStoreAndReadExportBack(t *testing.T) {
	py := testenv.Python(t, "mlflow")
	root := t.TempDir()
	runPy := func(args ...string) string {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, append([]string{"testdata/mlruns_roundtrip.py"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_PYTHON_REFRESH=quiet", "MLFLOW_ALLOW_FILE_STORE=true")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		i := strings.LastIndex(string(out), "RESULT ")
		require.GreaterOrEqual(t, i, 0, string(out))
		return strings.TrimSpace(string(out)[i+7:])
	}
	var w struct{ Exp, Run, Deleted string }
	require.NoError(t, json.Unmarshal([]byte(runPy("write", filepath.Join(root, "mlruns"))), &w))

	s := newSvc(t)
	rep, err := s.ImportMLruns(filepath.Join(root, "mlruns"))
	require.NoError(t, err, "%+v", rep)
	got, err := s.GetRun(w.Run)
	require.NoError(t, err)
	assert.Equal(t, "from-mlflow", got.Name)
	assert.Equal(t, StatusFinished, got.Status)
	assert.Equal(t, "0.1", got.Params["lr"])
	assert.Equal(t, "v", got.Params["nested/key"])
	assert.Equal(t, "risk", got.Tags["team"])
	assert.True(t, math.IsNaN(float64(got.Metrics["nan"].Value)))
	h, _ := s.MetricHistory(w.Run, "loss")
	assert.Len(t, h, 100)
	arts, _ := s.ListArtifacts(w.Run, "notes")
	assert.Equal(t, []Artifact{{Path: "notes/readme.txt", Size: 5}}, arts)
	del, err := s.GetRun(w.Deleted)
	require.NoError(t, err)
	assert.Equal(t, StageDeleted, del.LifecycleStage)

	// and MLflow reads what Tern exports
	exp, _ := s.ExperimentByName("imported")
	out := filepath.Join(root, "export")
	_, err = s.ExportMLruns(exp.ID, []string{w.Run}, out)
	require.NoError(t, err)
	var back []struct {
		ID      string            `json:"id"`
		Name    string            `json:"name"`
		Status  string            `json:"status"`
		Params  map[string]string `json:"params"`
		Metrics map[string]string `json:"metrics"`
		History int               `json:"history"`
	}
	require.NoError(t, json.Unmarshal([]byte(runPy("read", out, "imported")), &back))
	require.Len(t, back, 1)
	assert.Equal(t, w.Run, back[0].ID)
	assert.Equal(t, "from-mlflow", back[0].Name)
	assert.Equal(t, "FINISHED", back[0].Status)
	assert.Equal(t, "0.1", back[0].Params["lr"])
	assert.Equal(t, "nan", back[0].Metrics["nan"])
	assert.Equal(t, 100, back[0].History)
}
