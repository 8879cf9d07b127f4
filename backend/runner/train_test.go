package runner

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/table"
)

func TestTrainSpecDefaults(t *testing.T) {
	reading := &table.Options{Format: "csv", Delimiter: ";"}
	data := TrainData{Path: "/data/v.csv", Reading: reading, Dataset: "churn", Number: 3,
		Features: func(target string) []string {
			assert.Equal(t, "left", target)
			return []string{"age", "plan"}
		}}
	at := time.Date(2026, 12, 4, 16, 5, 0, 0, time.UTC)
	params := func(s JobSpec) map[string]any {
		var p map[string]any
		require.NoError(t, json.Unmarshal(s.Params, &p))
		return p
	}

	s, err := TrainSpec(TrainRequest{DatasetVersionID: "v3", Target: "left", Params: map[string]any{"lr": 0.1}, Tracking: true}, data, at)
	require.NoError(t, err)
	assert.Equal(t, "churn v3 · gbdt · 16:05", s.Name)
	assert.Equal(t, "/data/v.csv", s.DataPath)
	assert.Same(t, reading, s.DataReading, "the job reads the version as it was imported")
	assert.Equal(t, "v3", s.DatasetVersion)
	assert.True(t, s.Tracking)
	assert.Equal(t, map[string]any{"lr": 0.1, "target": "left", "features": []any{"age", "plan"}}, params(s))

	s, err = TrainSpec(TrainRequest{Target: "left", Model: "linear", Task: "classification", Features: []string{"age"}, Name: "mine",
		Tags: map[string]string{"mlflow.parentRunId": "p1"}}, data, at)
	require.NoError(t, err)
	assert.Equal(t, "mine", s.Name)
	assert.Equal(t, map[string]string{"mlflow.parentRunId": "p1"}, s.Tags, "tags reach the job (and its run)")
	assert.Equal(t, map[string]any{"target": "left", "model": "linear", "task": "classification", "features": []any{"age"}}, params(s))

	// A user's image chooses its own features.
	s, err = TrainSpec(TrainRequest{Target: "left", Image: "me/trainer:1", Command: []string{"python", "t.py"}}, data, at)
	require.NoError(t, err)
	assert.Equal(t, "churn v3 · me/trainer:1 · 16:05", s.Name)
	assert.Equal(t, map[string]any{"target": "left"}, params(s))
	assert.Equal(t, []string{"python", "t.py"}, s.Command)

	// Refit goes to the built-in model and the run says where its
	// metrics come from; a user's image is told nothing it did not ask for.
	s, err = TrainSpec(TrainRequest{Target: "left", Refit: true, Tags: map[string]string{"k": "v"}}, data, at)
	require.NoError(t, err)
	assert.Equal(t, true, params(s)["refit"])
	assert.Contains(t, s.Tags[TagEvaluation], "held-out split")
	assert.Equal(t, "v", s.Tags["k"])
	s, err = TrainSpec(TrainRequest{Target: "left", Refit: true, Image: "me/trainer:1"}, data, at)
	require.NoError(t, err)
	assert.NotContains(t, params(s), "refit")
	assert.Empty(t, s.Tags)

	_, err = TrainSpec(TrainRequest{Target: "left", Params: map[string]any{"bad": make(chan int)}}, data, at)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

func TestTrainNeedsAVersion(t *testing.T) {
	var r *Runner // refused before the runner is touched
	_, err := r.Train(TrainRequest{}, func(string) (TrainData, error) { t.Fatal("no version to read"); return TrainData{}, nil })
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Equal(t, "Choose a dataset version to train on.", core.ErrorMessage(err))
}

func TestSinkSetsTheJobsTags(t *testing.T) {
	e := newEnv(t)
	j := Job{ID: core.NewID(), Spec: JobSpec{Name: "child", Tags: map[string]string{"mlflow.parentRunId": "p1", "tern.job": "forged"}}}
	runID, err := TrackingSink{Svc: e.track}.StartRun(&j)
	require.NoError(t, err)
	run, err := e.track.GetRun(runID)
	require.NoError(t, err)
	assert.Equal(t, "p1", run.Tags["mlflow.parentRunId"])
	assert.Equal(t, j.ID, run.Tags["tern.job"], "a spec's tags never replace the job's own")
}

// TestTrainSpecRecordsWhereItCameFrom: the dataset's digest always, and
// for a Dockerfile folder in a git repository its commit and whether the
// folder differs from it.
func TestTrainSpecRecordsWhereItCameFrom(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for this test")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@t", "-c", "user.name=t"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	git("add", ".")
	git("commit", "-qm", "first")
	head := git("rev-parse", "HEAD")
	data := TrainData{Path: "/d.csv", Dataset: "d", Number: 1, Digest: "abc123"}
	s, err := TrainSpec(TrainRequest{Target: "y", BuildDir: dir}, data, time.Now())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{TagDatasetDigest: "abc123", TagGitCommit: head, TagGitDirty: "false"}, s.Tags)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.py"), []byte("print(1)\n"), 0o644))
	s, err = TrainSpec(TrainRequest{Target: "y", BuildDir: dir}, data, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "true", s.Tags[TagGitDirty], "an untracked file makes the context differ from the commit")

	// Not a repository: no git tags.
	plain := t.TempDir()
	s, err = TrainSpec(TrainRequest{Target: "y", BuildDir: plain}, data, time.Now())
	require.NoError(t, err)
	assert.NotContains(t, s.Tags, TagGitCommit)
}
