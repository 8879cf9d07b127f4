package runner

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/testenv"
)

// remoteRunner is a runner with no local engine and one other engine,
// "second", that the test started: whatever trains, trains there.
func remoteRunner(t *testing.T) (*testenv.Engine, *env, *Runner) {
	t.Helper()
	second := testenv.SecondDocker(t)
	rc, err := docker.ConnectRemote("second", second.Host, second.CertDir)
	require.NoError(t, err)
	t.Cleanup(func() { rc.Close() })
	e := newEnv(t)
	r := e.runner(t, nil, func(c *Config) {
		c.RemoteDocker = func(name string) (DockerAPI, error) {
			if name != "second" {
				return nil, core.Errorf(core.NotFound, "There is no engine called %q.", name)
			}
			return rc, nil
		}
	})
	return second, e, r
}

// TestTrainOnAnotherEngine: a job on a second engine (its own mount
// namespace, where the laptop's paths are empty) trains on a dataset
// copied in, streams its metrics while it runs, has no bind mount of any
// host path, and its model comes back into the run's artifacts; the
// container and its volume are gone afterwards. A dataset with read
// settings (Latin-1, ';', "manquant") trains there to the same score as a
// local process, so dataset.json travelled too.
func TestTrainOnAnotherEngine(t *testing.T) {
	second, e, r := remoteRunner(t)

	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 5000, "separable"), Params: iterParams(t, 400), Engine: "second"})
	require.NoError(t, err)
	waitMetric(t, e, j.RunID, "train_loss", 120*time.Second)
	running, err := r.Get(j.ID)
	require.NoError(t, err)
	require.NotEmpty(t, running.ContainerID)
	assert.Contains(t, running.Note, `engine "second"`)
	info := testenv.LockedDownInfo(t, running.ContainerID, second.Inspect(running.ContainerID))
	require.NotEmpty(t, info.Mounts)
	for _, m := range info.Mounts {
		assert.NotEqual(t, "bind", m.Type, "a host path is bind-mounted: %+v", m)
	}
	assert.Equal(t, "65532:65532", info.Config.User)
	assert.Equal(t, "none", info.HostConfig.NetworkMode)

	j = waitJob(t, r, j.ID, 180*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	pts, err := e.track.MetricHistory(j.RunID, "train_loss")
	require.NoError(t, err)
	assert.Len(t, pts, 400, "every step streamed once")
	model, err := e.track.ListArtifacts(j.RunID, "model")
	require.NoError(t, err)
	var names []string
	for _, a := range model {
		names = append(names, a.Path)
	}
	assert.Contains(t, names, "model/MLmodel", "the model came back from the engine")
	assert.Empty(t, strings.TrimSpace(second.CLI("ps", "-aq")), "the container is removed")
	assert.Empty(t, strings.TrimSpace(second.CLI("volume", "ls", "-q")), "the job's volume is removed")

	data, reading := writeLatin1CSV(t)
	p := params(t, map[string]any{"target": "y"})
	a, err := r.Submit(JobSpec{DataPath: data, DataReading: reading, Params: p, Engine: "second"})
	require.NoError(t, err)
	b, err := r.Submit(JobSpec{DataPath: data, DataReading: reading, Params: p, Backend: BackendLocal})
	require.NoError(t, err)
	a, b = waitJob(t, r, a.ID, 120*time.Second), waitJob(t, r, b.ID, 120*time.Second)
	require.Equal(t, Succeeded, a.State, a.Reason)
	require.Equal(t, Succeeded, b.State, b.Reason)
	assert.Equal(t, metric(t, e, b.RunID, "test_roc_auc"), metric(t, e, a.RunID, "test_roc_auc"), "same data, same model")
}

// TestRemoteEngineRefusals: a job for an engine that does not answer fails
// naming the engine and why; one for an unknown engine, a local process
// on another engine and MLflow logging there are refused at submit.
func TestRemoteEngineRefusals(t *testing.T) {
	e := newEnv(t)
	closed := testenv.ClosedPort(t)
	down, err := docker.ConnectRemote("down", closed, testenv.Certs(t))
	require.NoError(t, err)
	r := e.runner(t, nil, func(c *Config) {
		c.RemoteDocker = func(name string) (DockerAPI, error) {
			if name != "down" {
				return nil, core.Errorf(core.NotFound, "There is no engine called %q.", name)
			}
			return down, nil
		}
	})
	data := writeCSV(t, 100, "separable")
	p := params(t, map[string]any{"target": "y"})

	j, err := r.Submit(JobSpec{DataPath: data, Params: p, Engine: "down"})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 30*time.Second)
	assert.Equal(t, Failed, j.State)
	assert.Contains(t, j.Reason, `Engine "down" at `+closed+" refused the connection")

	_, err = r.Submit(JobSpec{DataPath: data, Params: p, Engine: "gone"})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	_, err = r.Submit(JobSpec{DataPath: data, Params: p, Engine: "down", Backend: BackendLocal})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = r.Submit(JobSpec{DataPath: data, Params: p, Engine: "down", Tracking: true})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, err.Error(), "JSON lines")
}

// TestExtractTarStaysInside: outputs sent back by another machine land
// under the outputs folder or not at all.
func TestExtractTarStaysInside(t *testing.T) {
	good := tarOf(t, []tarEntry{{"outputs/", tar.TypeDir, ""}, {"outputs/model/MLmodel", tar.TypeReg, "flavor"}, {"outputs/loss.txt", tar.TypeReg, "0.1"},
		{"outputs/link", tar.TypeSymlink, "/etc/passwd"}})
	dir := t.TempDir()
	require.NoError(t, extractTar(bytes.NewReader(good), dir, "outputs"))
	b, err := os.ReadFile(filepath.Join(dir, "model", "MLmodel"))
	require.NoError(t, err)
	assert.Equal(t, "flavor", string(b))
	_, err = os.Lstat(filepath.Join(dir, "link"))
	assert.True(t, os.IsNotExist(err), "links are not recreated")

	for _, bad := range [][]tarEntry{
		{{"outputs/../escape", tar.TypeReg, "x"}},
		{{"etc/passwd", tar.TypeReg, "x"}},
		{{"/outputs/x", tar.TypeReg, "x"}},
	} {
		dir := t.TempDir()
		err := extractTar(bytes.NewReader(tarOf(t, bad)), dir, "outputs")
		assert.Error(t, err, "%v", bad)
		assert.NoFileExists(t, filepath.Join(filepath.Dir(dir), "escape"))
	}
}

func FuzzExtractTar(f *testing.F) {
	f.Add(tarOf(f, []tarEntry{{"outputs/", tar.TypeDir, ""}, {"outputs/a/b", tar.TypeReg, "x"}}))
	f.Add(tarOf(f, []tarEntry{{"outputs/../x", tar.TypeReg, "x"}}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "out")
		require.NoError(t, os.Mkdir(dir, 0o755))
		_ = extractTar(bytes.NewReader(data), dir, "outputs")
		// Whatever the stream, nothing appears beside the outputs folder.
		ents, err := os.ReadDir(base)
		require.NoError(t, err)
		require.Len(t, ents, 1)
	})
}

type tarEntry struct {
	name string
	typ  byte
	body string
}

func tarOf(tb testing.TB, entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, en := range entries {
		h := &tar.Header{Name: en.name, Typeflag: en.typ, Mode: 0o644}
		if en.typ == tar.TypeSymlink {
			h.Linkname = en.body
		} else if en.typ == tar.TypeReg {
			h.Size = int64(len(en.body))
		}
		require.NoError(tb, tw.WriteHeader(h))
		if en.typ == tar.TypeReg {
			_, err := tw.Write([]byte(en.body))
			require.NoError(tb, err)
		}
	}
	require.NoError(tb, tw.Close())
	return buf.Bytes()
}
