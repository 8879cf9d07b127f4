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

// TestBuildDirRefusesLinks: a build folder with a symlink is refused.
func TestBuildDirRefusesLinks(t *testing.T) {
	dc := dockerClient(t)
	dir := t.TempDir()
	require.NoError(t, writeFile(filepath.Join(dir, "Dockerfile"), "FROM scratch\n"))
	require.NoError(t, symlink("/etc/passwd", filepath.Join(dir, "passwd")))
	_, err := buildUserImage(t.Context(), dc, dir, nil, "test")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "links are not allowed")
}

// TestBuildDirMissingBaseFailsFast: a Dockerfile whose base image is not
// on this machine fails with words, without hanging on a registry.
func TestBuildDirMissingBaseFailsFast(t *testing.T) {
	dc := dockerClient(t)
	dir := t.TempDir()
	require.NoError(t, writeFile(filepath.Join(dir, "Dockerfile"), "FROM tern-test/no-such-base:1\nCMD [\"true\"]\n"))
	start := time.Now()
	_, err := buildUserImage(t.Context(), dc, dir, nil, "test")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Contains(t, err.Error(), "never pulls")
	t.Logf("failed in %s: %v", time.Since(start), err)
}

func TestBaseImages(t *testing.T) {
	cases := []struct {
		file string
		args map[string]string
		want []string
	}{
		{"FROM python:3.12-slim\nRUN true\n", nil, []string{"python:3.12-slim"}},
		{"ARG BASE=python:3.12-slim\nFROM ${BASE}\n", nil, []string{"python:3.12-slim"}},
		{"ARG BASE=python:3.12-slim\nFROM ${BASE}\n", map[string]string{"BASE": "tern-sklearn-base:bookworm"}, []string{"tern-sklearn-base:bookworm"}},
		{"FROM --platform=linux/amd64 golang:1 AS build\nFROM scratch\nCOPY --from=build /x /x\n", nil, []string{"golang:1"}},
		{"FROM a:1 AS base\nFROM base\n", nil, []string{"a:1"}},
		{"from $IMG\n", map[string]string{"IMG": "x:1"}, nil},
		{"ARG IMG\nfrom $IMG\n", map[string]string{"IMG": "x:1"}, []string{"x:1"}},
		{"# FROM commented:1\nFROM ${MISSING:-fallback:2}\n", nil, []string{"fallback:2"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, baseImages([]byte(c.file), c.args), c.file)
	}
}
