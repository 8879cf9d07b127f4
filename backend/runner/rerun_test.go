package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

// fingerprint is what must not change when a run is repeated: the model
// file's SHA-256 and every metric's full history. training_seconds (a
// clock reading) and system/* (the machine's load) are left out.
func fingerprint(t *testing.T, e *env, runID string) (string, map[string][]float64) {
	t.Helper()
	f, _, err := e.track.OpenArtifact(runID, "model/model.json")
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	require.NoError(t, err)
	run, err := e.track.GetRun(runID)
	require.NoError(t, err)
	metrics := map[string][]float64{}
	for k := range run.Metrics {
		if k == "training_seconds" || strings.HasPrefix(k, "system/") {
			continue
		}
		pts, err := e.track.MetricHistory(runID, k)
		require.NoError(t, err)
		for _, p := range pts {
			metrics[k] = append(metrics[k], float64(p.Value))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), metrics
}

// rerunIsIdentical trains, re-runs, and compares the two runs bit for bit.
func rerunIsIdentical(t *testing.T, e *env, r *Runner, spec JobSpec) {
	t.Helper()
	j, err := r.Submit(spec)
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 120*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)

	again, err := r.Rerun(j.RunID, nil)
	require.NoError(t, err)
	again = waitJob(t, r, again.ID, 120*time.Second)
	require.Equal(t, Succeeded, again.State, again.Reason)
	assert.NotEqual(t, j.RunID, again.RunID)

	model1, metrics1 := fingerprint(t, e, j.RunID)
	model2, metrics2 := fingerprint(t, e, again.RunID)
	assert.Equal(t, model1, model2, "the model file is bit-identical")
	assert.Contains(t, metrics1, "test_roc_auc")
	assert.Contains(t, metrics1, "train_loss")
	assert.Greater(t, len(metrics1["train_loss"]), 10, "the whole curve is compared")
	assert.Equal(t, metrics1, metrics2, "every metric, every step, bit for bit")

	first, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	run, err := e.track.GetRun(again.RunID)
	require.NoError(t, err)
	assert.Equal(t, first.Params, run.Params, "the same parameters, seed included")
	assert.Equal(t, first.Name+" (re-run)", run.Name)
	assert.Equal(t, j.RunID, run.Tags[TagRerunOf])
	assert.Equal(t, first.ExperimentID, run.ExperimentID)
	for _, k := range []string{TagVersion, TagHost, TagImage, TagImageDigest, "tern.runtime.version", "tern.runtime.platform", "tern.runtime.go", "tern.runtime.libraries"} {
		assert.NotEmpty(t, run.Tags[k], k)
		assert.Equal(t, first.Tags[k], run.Tags[k], "%s: the same code ran", k)
	}
	assert.Contains(t, run.Tags["tern.runtime.libraries"], "gonum.org/v1/gonum v")
}

// TestRerunIsBitIdentical: a built-in model's run repeated as a local
// process gives the same model file and the same metrics.
func TestRerunIsBitIdentical(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	exp, err := e.track.CreateExperiment("repeat", nil)
	require.NoError(t, err)
	rerunIsIdentical(t, e, r, JobSpec{Name: "gbdt seed 7", ExperimentID: exp.ID, DataPath: writeCSV(t, 3000, "noisy"), Backend: BackendLocal,
		Params: params(t, map[string]any{"target": "y", "seed": 7, "max_iter": 60, "refit": true})})
}

// TestDockerRerunIsBitIdentical: the same in the runtime image.
func TestDockerRerunIsBitIdentical(t *testing.T) {
	_, e, r := dockerRunner(t, nil)
	rerunIsIdentical(t, e, r, JobSpec{Name: "in docker", DataPath: writeCSV(t, 3000, "noisy"), Backend: BackendDocker,
		Params: params(t, map[string]any{"target": "y", "seed": 11, "max_iter": 40})})
}

func TestRerunRefusals(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	_, err := r.Rerun("no-such-run", nil)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "cannot be re-run")

	data := writeCSV(t, 200, "separable")
	j, err := r.Submit(JobSpec{DataPath: data, DatasetVersion: "v1", Tags: map[string]string{TagDatasetDigest: "aaaaaaaaaaaaaaaa"}, Params: params(t, map[string]any{"target": "y"})})
	require.NoError(t, err)
	waitJob(t, r, j.ID, 60*time.Second)
	_, err = r.Rerun(j.RunID, func(string) (TrainData, error) { return TrainData{Path: data, Digest: "bbbbbbbbbbbbbbbb"}, nil })
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "bytes changed since the run")
	_, err = r.Rerun(j.RunID, func(string) (TrainData, error) {
		return TrainData{}, core.Errorf(core.NotFound, "There is no dataset version v1.")
	})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "dataset version is gone")
}
