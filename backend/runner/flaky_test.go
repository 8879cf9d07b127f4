package runner

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
)

// flakyDocker is the real engine behind a switch that makes it look down
// (connection refused) for a while, as when Docker restarts mid-run.
type flakyDocker struct {
	DockerAPI
	down atomic.Bool
}

var errEngineDown = errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")

func (f *flakyDocker) Wait(ctx context.Context, id string) error {
	if f.down.Load() {
		return errEngineDown
	}
	return f.DockerAPI.Wait(ctx, id)
}

func (f *flakyDocker) List(ctx context.Context, all bool, labels map[string]string) ([]docker.Container, error) {
	if f.down.Load() {
		return nil, errEngineDown
	}
	return f.DockerAPI.List(ctx, all, labels)
}

func (f *flakyDocker) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errEngineDown
	}
	return f.DockerAPI.Ping(ctx)
}

func (f *flakyDocker) Inspect(ctx context.Context, id string) (docker.Container, error) {
	if f.down.Load() {
		return docker.Container{}, errEngineDown
	}
	return f.DockerAPI.Inspect(ctx, id)
}

func (f *flakyDocker) Logs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	if f.down.Load() {
		return nil, errEngineDown
	}
	rc, err := f.DockerAPI.Logs(ctx, id, since)
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

// heldRetries stands in for time.After in the runner's retry pauses: each
// pause waits until the test releases it, so the test sees every retry
// the runner takes while the engine is down instead of sleeping and
// hoping some happened. Once let go, pauses end at once.
type heldRetries struct {
	pauses chan chan time.Time
	free   atomic.Bool
}

func newHeldRetries() *heldRetries { return &heldRetries{pauses: make(chan chan time.Time, 64)} }

func (h *heldRetries) after(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if h.free.Load() {
		ch <- time.Time{}
		return ch
	}
	h.pauses <- ch
	return ch
}

// next waits for the runner's next retry pause.
func (h *heldRetries) next(t *testing.T) chan time.Time {
	t.Helper()
	select {
	case p := <-h.pauses:
		return p
	case <-time.After(60 * time.Second):
		t.Fatal("the runner took no retry pause within 60 s")
		return nil
	}
}

// letGo ends every pause still queued and every pause to come (a pause
// the test took with next is the test's to release).
func (h *heldRetries) letGo() {
	h.free.Store(true)
	for {
		select {
		case p := <-h.pauses:
			p <- time.Time{}
		default:
			return
		}
	}
}

// TestDockerEngineBlipMidRun: the engine stops answering mid-run; the job
// is not failed, the runner retries (twice here, each pause released by
// hand) and when the engine answers again the job completes with every
// metric step once.
func TestDockerEngineBlipMidRun(t *testing.T) {
	real := dockerClient(t)
	fd := &flakyDocker{DockerAPI: real}
	held := newHeldRetries()
	t.Cleanup(held.letGo)
	e := newEnv(t)
	r := e.runner(t, fd, func(c *Config) { c.after = held.after })
	j := startIters(t, e, r, writeCSV(t, 5000, "separable"), Resources{}, 1200)
	fd.down.Store(true) // the log stream breaks
	rideOutOutage(t, r, fd, held, j.ID)
	requireCompletedOnce(t, e, r, j.ID, 1200)
}

// rideOutOutage lets the runner take two retry pauses while the engine is
// down (the first released, so a retry fails in between), checks the job
// is still running, then brings the engine back and ends the pauses.
func rideOutOutage(t *testing.T, r *Runner, fd *flakyDocker, held *heldRetries, jobID string) {
	t.Helper()
	held.next(t) <- time.Time{}
	second := held.next(t)
	got, err := r.Get(jobID)
	require.NoError(t, err)
	assert.Equal(t, Running, got.State, "an unreachable engine does not fail the job")
	fd.down.Store(false)
	held.letGo()
	second <- time.Time{}
}

// TestDockerDownAtRestart: Tern starts while the engine is unreachable; the
// running job is neither failed nor forgotten (two reattach attempts fail
// while it stays running), and once the engine answers it is reattached
// and completes.
func TestDockerDownAtRestart(t *testing.T) {
	real := dockerClient(t)
	e := newEnv(t)
	r1 := e.runner(t, real, nil)
	j := startIters(t, e, r1, writeCSV(t, 5000, "separable"), Resources{}, 1200)
	r1.Close()

	fd := &flakyDocker{DockerAPI: real}
	fd.down.Store(true)
	held := newHeldRetries()
	t.Cleanup(held.letGo)
	r2 := e.runner(t, fd, func(c *Config) { c.after = held.after })
	require.NoError(t, r2.Start(t.Context()))
	assert.False(t, r2.Docker(t.Context()).Available)
	rideOutOutage(t, r2, fd, held, j.ID) // reattach fails twice
	requireCompletedOnce(t, e, r2, j.ID, 1200)
}
