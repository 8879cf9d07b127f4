package runner

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// sklearnBase is built by templates/sklearn/build-base.sh (make deps-test).
const sklearnBase = "tern-sklearn-base:bookworm"

// TestSklearnTemplate builds the shipped template on a locally built Python
// image and trains with it: metrics arrive through the JSON lines and the
// model lands in the run's artifacts.
func TestSklearnTemplate(t *testing.T) {
	dc := dockerClient(t)
	if err := exec.Command("docker", "image", "inspect", sklearnBase).Run(); err != nil {
		if testenv.InCI() {
			t.Fatalf("%s is missing: make deps-test builds it with backend/runner/templates/sklearn/build-base.sh", sklearnBase)
		}
		t.Skipf("%s not built here (backend/runner/templates/sklearn/build-base.sh)", sklearnBase)
	}
	e := newEnv(t)
	r := e.runner(t, dc, nil)
	j, err := r.Submit(JobSpec{
		DataPath:  writeCSV(t, 3000, "separable"),
		Params:    params(t, map[string]any{"target": "y", "max_iter": 50}),
		BuildDir:  filepath.Join(testenv.RepoRoot(), "backend", "runner", "templates", "sklearn"),
		BuildArgs: map[string]string{"BASE": sklearnBase},
	})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 5*time.Minute)
	logs, _ := r.Logs(j.ID, 30)
	require.Equal(t, Succeeded, j.State, "%s\n%v", j.Reason, logs)
	assert.Contains(t, j.Image, "tern-user/sklearn:")
	assert.GreaterOrEqual(t, metric(t, e, j.RunID, "test_roc_auc"), 0.9)
	pts, err := e.track.MetricHistory(j.RunID, "train_loss")
	require.NoError(t, err)
	assert.NotEmpty(t, pts)
	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFinished, run.Status)
	assert.Equal(t, "sklearn-hgb", run.Params["model"])
	for _, name := range []string{"model/model.pkl", "model/MLmodel", "model/input_example.json"} {
		_, _, err := e.track.OpenArtifact(j.RunID, name)
		assert.NoError(t, err, name)
	}
}
