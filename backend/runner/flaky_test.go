package runner

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyDocker is the real engine behind a switch that makes it look down
// (connection refused) for a while, as when Docker restarts mid-run.
type flakyDocker struct {
	DockerAPI
	down atomic.Bool
}

var errEngineDown = errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")

func (f *flakyDocker) ContainerWait(ctx context.Context, id string, c container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	if f.down.Load() {
		errCh := make(chan error, 1)
		errCh <- errEngineDown
		return make(chan container.WaitResponse), errCh
	}
	return f.DockerAPI.ContainerWait(ctx, id, c)
}

func (f *flakyDocker) ContainerList(ctx context.Context, o container.ListOptions) ([]container.Summary, error) {
	if f.down.Load() {
		return nil, errEngineDown
	}
	return f.DockerAPI.ContainerList(ctx, o)
}

func (f *flakyDocker) Ping(ctx context.Context) (types.Ping, error) {
	if f.down.Load() {
		return types.Ping{}, errEngineDown
	}
	return f.DockerAPI.Ping(ctx)
}

func (f *flakyDocker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	if f.down.Load() {
		return container.InspectResponse{}, errEngineDown
	}
	return f.DockerAPI.ContainerInspect(ctx, id)
}

func (f *flakyDocker) ContainerLogs(ctx context.Context, id string, o container.LogsOptions) (io.ReadCloser, error) {
	if f.down.Load() {
		return nil, errEngineDown
	}
	rc, err := f.DockerAPI.ContainerLogs(ctx, id, o)
	if err != nil {
		return nil, err
	}
	return &breakingReader{rc: rc, down: &f.down}, nil
}

// breakingReader ends an open log stream with an error once the engine
// "goes down", as a restarting daemon drops its connections.
type breakingReader struct {
	rc   io.ReadCloser
	down *atomic.Bool
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.down.Load() {
		return 0, errEngineDown
	}
	return b.rc.Read(p)
}

func (b *breakingReader) Close() error { return b.rc.Close() }

// TestDockerEngineBlipMidRun: the engine stops answering mid-run; the job
// is not failed, the runner keeps retrying with backoff, and when the
// engine answers again the job completes with every metric step once.
func TestDockerEngineBlipMidRun(t *testing.T) {
	real := dockerClient(t)
	fd := &flakyDocker{DockerAPI: real}
	e := newEnv(t)
	r := e.runner(t, fd, nil)
	j := startIters(t, e, r, writeCSV(t, 5000, "separable"), Resources{}, 1200)
	fd.down.Store(true)
	time.Sleep(1500 * time.Millisecond)
	got, err := r.Get(j.ID)
	require.NoError(t, err)
	assert.Equal(t, Running, got.State, "an unreachable engine does not fail the job")
	fd.down.Store(false)
	j = waitJob(t, r, j.ID, 120*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	pts, err := e.track.MetricHistory(j.RunID, "train_loss")
	require.NoError(t, err)
	require.Len(t, pts, 1200)
	for i, p := range pts {
		require.Equal(t, int64(i+1), p.Step)
	}
}

// TestDockerDownAtRestart: Tern starts while the engine is unreachable; the
// running job is neither failed nor forgotten, and once the engine answers
// it is reattached and completes.
func TestDockerDownAtRestart(t *testing.T) {
	real := dockerClient(t)
	e := newEnv(t)
	r1 := e.runner(t, real, nil)
	j := startIters(t, e, r1, writeCSV(t, 5000, "separable"), Resources{}, 1200)
	r1.Close()

	fd := &flakyDocker{DockerAPI: real}
	fd.down.Store(true)
	r2 := e.runner(t, fd, nil)
	require.NoError(t, r2.Start(context.Background()))
	assert.False(t, r2.Docker(context.Background()).Available)
	time.Sleep(1500 * time.Millisecond)
	got, err := r2.Get(j.ID)
	require.NoError(t, err)
	assert.Equal(t, Running, got.State, "an unreachable engine at start does not fail the job")
	fd.down.Store(false)
	j = waitJob(t, r2, j.ID, 120*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	pts, err := e.track.MetricHistory(j.RunID, "train_loss")
	require.NoError(t, err)
	require.Len(t, pts, 1200)
}
