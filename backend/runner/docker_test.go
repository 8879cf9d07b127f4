package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

func dockerClient(t *testing.T) *docker.Client {
	t.Helper()
	testenv.Docker(t)
	c, err := docker.Connect("")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// dockerRunner is a runner on a fresh store with the real engine.
func dockerRunner(t *testing.T, mod func(*Config)) (*docker.Client, *env, *Runner) {
	t.Helper()
	dc := dockerClient(t)
	e := newEnv(t)
	return dc, e, e.runner(t, dc, mod)
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// startSlow submits a long job and waits until it reports metrics.
// orphaned starts a slow job and closes its runner, as when the app quits
// mid-training: the container runs on and only the store knows of it.
func orphaned(t *testing.T, e *env, dc *docker.Client) Job {
	t.Helper()
	r := e.runner(t, dc, nil)
	j := startSlow(t, e, r, writeCSV(t, 5000, "separable"), Resources{})
	r.Close()
	return j
}

// restarted is a new runner on e's store, started as when the app opens
// again: it reattaches to, finalises or reaps what the last one left.
func restarted(t *testing.T, e *env, dc *docker.Client) *Runner {
	t.Helper()
	r := e.runner(t, dc, nil)
	require.NoError(t, r.Start(t.Context()))
	return r
}

// assertFailed checks that job id is recorded as failed, for a reason
// that contains why.
func assertFailed(t *testing.T, r *Runner, id, why string) {
	t.Helper()
	got, err := r.Get(id)
	require.NoError(t, err)
	assert.Equal(t, Failed, got.State)
	assert.Contains(t, got.Reason, why)
}

func startSlow(t *testing.T, e *env, r *Runner, data string, res Resources) Job {
	t.Helper()
	return startIters(t, e, r, data, res, 3000)
}

func startIters(t *testing.T, e *env, r *Runner, data string, res Resources, n int) Job {
	t.Helper()
	j, err := r.Submit(JobSpec{DataPath: data, Params: iterParams(t, n), Resources: res})
	require.NoError(t, err)
	waitMetric(t, e, j.RunID, "train_loss", 60*time.Second)
	j, err = r.Get(j.ID)
	require.NoError(t, err)
	require.Equal(t, Running, j.State)
	require.NotEmpty(t, j.ContainerID)
	return j
}

func TestDockerTrainingQuality(t *testing.T) {
	dc, e, r := dockerRunner(t, nil)
	cases := []struct {
		kind  string
		check func(t *testing.T, runID string)
	}{
		{"separable", func(t *testing.T, runID string) {
			assert.GreaterOrEqual(t, metric(t, e, runID, "test_roc_auc"), 0.9)
		}},
		{"noisy", func(t *testing.T, runID string) {
			assert.Greater(t, metric(t, e, runID, "test_accuracy"), metric(t, e, runID, "baseline_accuracy"))
			assert.Less(t, metric(t, e, runID, "test_log_loss"), metric(t, e, runID, "baseline_log_loss"))
		}},
		{"regression", func(t *testing.T, runID string) {
			assert.Less(t, metric(t, e, runID, "test_rmse"), 0.5*metric(t, e, runID, "baseline_rmse"))
		}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 20000, c.kind), Params: params(t, map[string]any{"target": "y"})})
			require.NoError(t, err)
			j = waitJob(t, r, j.ID, 120*time.Second)
			require.Equal(t, Succeeded, j.State, j.Reason)
			assert.Equal(t, BackendDocker, j.Backend)
			assert.True(t, strings.HasPrefix(j.Image, "tern-runtime:test-"), j.Image)
			c.check(t, j.RunID)
			_, _, err = e.track.OpenArtifact(j.RunID, "model/MLmodel")
			require.NoError(t, err)
			// The container is removed once the job is final.
			_, err = dc.Inspect(t.Context(), j.ContainerID)
			assert.True(t, docker.IsNotFound(err), "container left behind: %v", err)
		})
	}
	assert.Equal(t, 1, r.docker.runtime.built+boolInt(r.docker.runtime.built == 0), "the runtime image is built at most once")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRuntimeImageRebuiltOnlyWhenBinaryChanges(t *testing.T) {
	dc := dockerClient(t)
	bin, err := os.ReadFile(testenv.RuntimeBinary(t))
	require.NoError(t, err)
	changed := append(append([]byte(nil), bin...), []byte("tern-test-marker")...)
	ri := &runtimeImage{appVersion: "imgtest", binary: func() ([]byte, error) { return changed, nil }}
	ctx := t.Context()
	tag := docker.RuntimeImageTag("imgtest", changed)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	_ = exec.Command("docker", "rmi", "-f", tag).Run()
	got, err := ri.ensure(ctx, dc)
	require.NoError(t, err)
	assert.Equal(t, tag, got)
	assert.Equal(t, 1, ri.built)
	// A fresh instance (as after a restart) finds the image and does not build.
	ri2 := &runtimeImage{appVersion: "imgtest", binary: func() ([]byte, error) { return changed, nil }}
	_, err = ri2.ensure(ctx, dc)
	require.NoError(t, err)
	assert.Equal(t, 0, ri2.built)
	img, err := dc.InspectImage(ctx, tag)
	require.NoError(t, err)
	assert.Equal(t, "runtime", img.Labels[docker.LabelKind])
	assert.Equal(t, "65532:65532", img.User)
	assert.NotEqual(t, docker.RuntimeImageTag("imgtest", bin), tag, "a different binary gets a different tag")
}

func TestDockerLockdown(t *testing.T) {
	_, e, r := dockerRunner(t, nil)
	j := startSlow(t, e, r, writeCSV(t, 5000, "separable"), Resources{MemoryMB: 300, CPUs: 0.5, Pids: 64})
	info := testenv.LockedDown(t, j.ContainerID)
	hc := info.HostConfig
	assert.Equal(t, int64(300<<20), hc.Memory)
	assert.Equal(t, int64(300<<20), hc.MemorySwap)
	assert.Equal(t, int64(5e8), hc.NanoCpus)
	require.NotNil(t, hc.PidsLimit)
	assert.Equal(t, int64(64), *hc.PidsLimit)
	assert.Equal(t, "none", hc.NetworkMode)
	assert.Empty(t, hc.PortBindings)
	for _, m := range info.Mounts {
		if m.Destination != "/tern/outputs" {
			assert.False(t, m.RW, "%s must be read-only", m.Destination)
		}
	}
	for _, k := range []string{docker.LabelApp, docker.LabelJob, docker.LabelRun, docker.LabelKind, docker.LabelVersion, docker.LabelInstance} {
		assert.NotEmpty(t, info.Config.Labels[k], k)
	}
	assert.Equal(t, j.ID, info.Config.Labels[docker.LabelJob])
	assert.Equal(t, r.Instance(), info.Config.Labels[docker.LabelInstance])
	require.NoError(t, r.Cancel(j.ID))
	waitJob(t, r, j.ID, 10*time.Second)
}

func TestDockerCancelWithinTwoSeconds(t *testing.T) {
	_, e, r := dockerRunner(t, nil)
	j := startSlow(t, e, r, writeCSV(t, 5000, "separable"), Resources{})
	start := time.Now()
	require.NoError(t, r.Cancel(j.ID))
	j = waitJob(t, r, j.ID, 10*time.Second)
	elapsed := time.Since(start)
	assert.Less(t, elapsed, 2*time.Second)
	assert.Equal(t, Cancelled, j.State, j.Reason)
	assert.Contains(t, j.Reason, "Cancelled by you")
	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusKilled, run.Status)
	t.Logf("cancel took %s", elapsed)
}

// TestDockerExitsWorded: an OOM kill, a kill from outside and a stop from
// outside each get their own words.
func TestDockerExitsWorded(t *testing.T) {
	_, e, r := dockerRunner(t, func(c *Config) { c.Limit = 3 })
	big := writeCSV(t, 200000, "separable")
	small := writeCSV(t, 5000, "separable")

	oom, err := r.Submit(JobSpec{DataPath: big, Params: params(t, map[string]any{"target": "y"}), Resources: Resources{MemoryMB: 20}})
	require.NoError(t, err)
	killed := startSlow(t, e, r, small, Resources{})
	stopped := startSlow(t, e, r, small, Resources{})
	dockerCLI(t, "kill", killed.ContainerID)
	dockerCLI(t, "stop", "-t", "5", stopped.ContainerID)

	cases := []struct {
		id, want string
		code     int
	}{
		{oom.ID, "Out of memory: the job went over its 20 MB limit", 137},
		{killed.ID, "Killed from outside Tern (SIGKILL, exit 137), not for lack of memory", 137},
		{stopped.ID, "Stopped from outside Tern (SIGTERM, exit 143)", 143},
	}
	for _, c := range cases {
		j := waitJob(t, r, c.id, 60*time.Second)
		assert.Equal(t, Failed, j.State)
		assert.Contains(t, j.Reason, c.want)
		assert.Equal(t, c.code, j.ExitCode)
	}
}

func TestDockerContainerRemovedFromOutside(t *testing.T) {
	_, e, r := dockerRunner(t, nil)
	j := startSlow(t, e, r, writeCSV(t, 5000, "separable"), Resources{})
	dockerCLI(t, "rm", "-f", j.ContainerID)
	j = waitJob(t, r, j.ID, 20*time.Second)
	assert.Equal(t, Failed, j.State)
	assert.Contains(t, j.Reason, "container disappeared")
	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFailed, run.Status)
	// The job's goroutines (stream, flush, wait) are gone.
	assert.Eventually(t, func() bool { return runnerGoroutines() == 0 }, 5*time.Second, 50*time.Millisecond,
		"runner goroutines left: %d", runnerGoroutines())
}

// runnerGoroutines counts goroutines running this package's code (other
// than tests), which must all end with their job.
func runnerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "backend/runner.(*") && !strings.Contains(g, "testing.tRunner") {
			n++
		}
	}
	return n
}

func TestDockerImageNotFoundFailsFast(t *testing.T) {
	_, _, r := dockerRunner(t, nil)
	start := time.Now()
	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 50, "separable"), Image: "tern-test/never-built:1"})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 15*time.Second)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, Failed, j.State)
	assert.Contains(t, j.Reason, "not found locally")
	assert.Contains(t, j.Reason, "never pulls")
}

// TestDockerReattachAfterRestart: a runner closes mid-training (as when
// the app quits), a new runner on the same store finds the container by its
// labels, resumes the log from its cursor and records the end.
func TestDockerReattachAfterRestart(t *testing.T) {
	dc := dockerClient(t)
	e := newEnv(t)
	r1 := e.runner(t, dc, nil)
	j := startIters(t, e, r1, writeCSV(t, 5000, "separable"), Resources{}, 1200)
	time.Sleep(300 * time.Millisecond)
	r1.Close()
	info, err := dc.Inspect(t.Context(), j.ContainerID)
	require.NoError(t, err)
	assert.True(t, info.Running, "closing the app leaves the training running")

	r2 := restarted(t, e, dc)
	requireCompletedOnce(t, e, r2, j.ID, 1200)
}

// TestDockerReattachFinalisesExitedJob: the job ended while Tern was
// closed; the restart records how it ended.
func TestDockerReattachFinalisesExitedJob(t *testing.T) {
	dc := dockerClient(t)
	e := newEnv(t)
	j := orphaned(t, e, dc)
	dockerCLI(t, "kill", j.ContainerID)
	r2 := restarted(t, e, dc)
	j2 := waitJob(t, r2, j.ID, 30*time.Second)
	assert.Equal(t, Failed, j2.State)
	assert.Contains(t, j2.Reason, "Killed from outside")

	// And one whose container was removed while Tern was closed.
	j3 := orphaned(t, e, dc)
	dockerCLI(t, "rm", "-f", j3.ContainerID)
	r4 := restarted(t, e, dc)
	assertFailed(t, r4, j3.ID, "disappeared")
}

// TestDockerReaper: containers of this instance that belong to no job are
// removed at start; a foreign container wearing Tern's labels (another
// instance) is neither adopted nor touched.
func TestDockerReaper(t *testing.T) {
	dc, _, r := dockerRunner(t, nil)
	tag, err := r.docker.runtime.ensure(t.Context(), dc)
	require.NoError(t, err)
	mk := func(labels map[string]string) string {
		id, err := dc.Create(t.Context(), docker.Spec{Image: tag, Cmd: []string{"version"}, Labels: labels, Network: "none"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = dc.Remove(context.Background(), id) })
		return id
	}
	train := func(instance string) map[string]string {
		return map[string]string{docker.LabelInstance: instance, docker.LabelJob: "no-such-job", docker.LabelKind: docker.KindTrain}
	}
	orphan := mk(train(r.Instance()))
	foreign := mk(train("someone-else"))
	// A serving container of the same data dir is not the runner's.
	serving := mk(map[string]string{docker.LabelInstance: r.Instance(), docker.LabelKind: docker.KindServing})
	// A runtime image of another binary (an older Tern) goes; the current
	// one stays.
	oldRuntime := docker.RuntimeBuild("test", []byte("an older tern-runtime "+r.Instance()))
	_, err = dc.EnsureImage(t.Context(), oldRuntime)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dc.RemoveImage(context.Background(), oldRuntime.Tag) })
	require.NoError(t, r.Start(t.Context()))
	_, err = dc.InspectImage(t.Context(), oldRuntime.Tag)
	assert.True(t, docker.IsNotFound(err), "the old runtime image is reaped")
	_, err = dc.InspectImage(t.Context(), tag)
	assert.NoError(t, err, "the current runtime image stays")
	_, err = dc.Inspect(t.Context(), orphan)
	assert.True(t, docker.IsNotFound(err), "the orphan is reaped")
	_, err = dc.Inspect(t.Context(), foreign)
	assert.NoError(t, err, "a foreign container is left alone")
	_, err = dc.Inspect(t.Context(), serving)
	assert.NoError(t, err, "a serving container is left alone")
}

// TestDockerDownFallsBackToLocal: with the engine unreachable the same job
// runs as a local process, says so, and trains the same model.
func TestDockerDownFallsBackToLocal(t *testing.T) {
	dc := dockerClient(t)
	e := newEnv(t)
	data := writeCSV(t, 3000, "separable")
	p := params(t, map[string]any{"target": "y"})

	inDocker := e.runner(t, dc, nil)
	a, err := inDocker.Submit(JobSpec{DataPath: data, Params: p})
	require.NoError(t, err)
	a = waitJob(t, inDocker, a.ID, 60*time.Second)
	require.Equal(t, Succeeded, a.State, a.Reason)

	dead, err := docker.Connect("unix://" + filepath.Join(t.TempDir(), "no-docker.sock"))
	require.NoError(t, err)
	down := e.runner(t, dead, nil)
	assert.False(t, down.Docker(t.Context()).Available)
	assert.Contains(t, down.Docker(t.Context()).Message, "not running")
	b, err := down.Submit(JobSpec{DataPath: data, Params: p})
	require.NoError(t, err)
	b = waitJob(t, down, b.ID, 60*time.Second)
	require.Equal(t, Succeeded, b.State, b.Reason)
	assert.Equal(t, BackendLocal, b.Backend)
	assert.Contains(t, b.Note, "Docker is not available")
	assert.Equal(t, metric(t, e, a.RunID, "test_roc_auc"), metric(t, e, b.RunID, "test_roc_auc"), "same data, same seed, same model")

	// A job that needs Docker says so instead of running.
	c, err := down.Submit(JobSpec{DataPath: data, Image: "some/image:1"})
	require.NoError(t, err)
	c = waitJob(t, down, c.ID, 10*time.Second)
	assert.Equal(t, Failed, c.State)
	assert.Contains(t, c.Reason, "Docker is not running")
}

// TestDockerOwnerOnlyDataFile: dataset blobs are 0400; the container (a
// different, unprivileged user when the app runs as root) still reads it.
func TestDockerOwnerOnlyDataFile(t *testing.T) {
	_, _, r := dockerRunner(t, nil)
	data := writeCSV(t, 500, "separable")
	require.NoError(t, os.Chmod(data, 0o400))
	j, err := r.Submit(JobSpec{DataPath: data, Params: params(t, map[string]any{"target": "y"})})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 60*time.Second)
	assert.Equal(t, Succeeded, j.State, j.Reason)
}

// TestDockerLookalikeNotAdopted: the job's container is gone and another
// container wears its labels; the restart does not adopt it (the job is
// failed as disappeared) and removes the look-alike.
func TestDockerLookalikeNotAdopted(t *testing.T) {
	dc := dockerClient(t)
	e := newEnv(t)
	j := orphaned(t, e, dc)
	info, err := dc.Inspect(t.Context(), j.ContainerID)
	require.NoError(t, err)
	dockerCLI(t, "rm", "-f", j.ContainerID)
	fake, err := dc.Create(t.Context(), docker.Spec{Image: info.Image, Cmd: []string{"version"}, Labels: info.Labels, Network: "none"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dc.Remove(context.Background(), fake) })

	r2 := restarted(t, e, dc)
	assertFailed(t, r2, j.ID, "disappeared")
	_, err = dc.Inspect(t.Context(), fake)
	assert.True(t, docker.IsNotFound(err), "the look-alike is reaped, not adopted")
}

// TestDockerReadsDatasetSettings: the container gets the version's read
// settings at /tern/dataset.json and trains on the same values as the
// local runner does.
func TestDockerReadsDatasetSettings(t *testing.T) {
	dc := dockerClient(t)
	e := newEnv(t)
	data, reading := writeLatin1CSV(t)
	p := params(t, map[string]any{"target": "y"})
	r := e.runner(t, dc, nil)
	a, err := r.Submit(JobSpec{DataPath: data, DataReading: reading, Params: p})
	require.NoError(t, err)
	a = waitJob(t, r, a.ID, 60*time.Second)
	require.Equal(t, Succeeded, a.State, a.Reason)
	assert.Equal(t, BackendDocker, a.Backend)
	b, err := r.Submit(JobSpec{DataPath: data, DataReading: reading, Params: p, Backend: BackendLocal})
	require.NoError(t, err)
	b = waitJob(t, r, b.ID, 60*time.Second)
	require.Equal(t, Succeeded, b.State, b.Reason)
	assert.Equal(t, metric(t, e, a.RunID, "test_roc_auc"), metric(t, e, b.RunID, "test_roc_auc"), "same data, same model")
}

// TestDockerSystemMetrics: while a container trains, its CPU and memory
// use from the engine's stats are logged on the run under MLflow's
// system/ names, a reading per interval, within the job's limits.
func TestDockerSystemMetrics(t *testing.T) {
	_, e, r := dockerRunner(t, func(c *Config) { c.SampleEvery = 300 * time.Millisecond })
	j := startSlow(t, e, r, writeCSV(t, 20000, "noisy"), Resources{MemoryMB: 512, CPUs: 1})
	waitMetric(t, e, j.RunID, MetricCPU, 30*time.Second)
	require.Eventually(t, func() bool {
		pts, err := e.track.MetricHistory(j.RunID, MetricMemory)
		return err == nil && len(pts) >= 3
	}, 30*time.Second, 200*time.Millisecond, "a reading per interval")
	require.NoError(t, r.Cancel(j.ID))
	waitJob(t, r, j.ID, 30*time.Second)

	cpu, err := e.track.MetricHistory(j.RunID, MetricCPU)
	require.NoError(t, err)
	mem, err := e.track.MetricHistory(j.RunID, MetricMemory)
	require.NoError(t, err)
	pct, err := e.track.MetricHistory(j.RunID, MetricMemoryPercent)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cpu), 3)
	require.Len(t, mem, len(cpu))
	require.Len(t, pct, len(cpu))
	busy := 0.0
	for i := range cpu {
		assert.Equal(t, int64(i), cpu[i].Step, "numbered from 0")
		assert.GreaterOrEqual(t, float64(cpu[i].Value), 0.0)
		// One CPU allowed: a little over 100 % is the engine's rounding.
		assert.LessOrEqual(t, float64(cpu[i].Value), 115.0, "within the 1-CPU limit")
		busy = max(busy, float64(cpu[i].Value))
		assert.Greater(t, float64(mem[i].Value), 0.5, "the process holds some memory")
		assert.Less(t, float64(mem[i].Value), 512.0, "within the 512 MB limit")
		assert.InDelta(t, float64(mem[i].Value)/512*100, float64(pct[i].Value), 0.5, "percent of the limit")
		if i > 0 {
			assert.GreaterOrEqual(t, cpu[i].Timestamp-cpu[i-1].Timestamp, int64(250), "one reading per interval")
		}
	}
	assert.Greater(t, busy, 20.0, "training keeps the CPU busy")
}
