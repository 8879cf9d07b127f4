package sweep

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// fakeRunner stands in for the runner where the behaviour under test is
// the sweep's own (budgets, parallelism, pruning, resume): each job
// "trains" for a few steps, logging a val_loss curve on the bus and in
// tracking, then its objective. It outlives a sweep Service, as the real
// runner's containers outlive a Tern.
type fakeRunner struct {
	bus   *core.Bus
	track *tracking.Service
	// curve gives a job's val_loss at each step from its params.
	curve func(p map[string]any, step int) float64
	steps int
	pause time.Duration

	mu          sync.Mutex
	jobs        map[string]*fakeJob
	order       []string
	running     int
	maxRunning  int
	submissions map[string]int // by TagTrial
	hold        chan struct{}  // when set, jobs wait for it before ending
}

type fakeJob struct {
	job  runner.Job
	stop chan struct{}
	done chan struct{}
}

func newFake(t *testing.T, st *store.Store, bus *core.Bus) (*fakeRunner, *tracking.Service) {
	track, err := tracking.NewService(st, bus, t.TempDir())
	require.NoError(t, err)
	return &fakeRunner{bus: bus, track: track, steps: 20, pause: 2 * time.Millisecond, jobs: map[string]*fakeJob{}, submissions: map[string]int{},
		curve: func(p map[string]any, step int) float64 {
			x, _ := p["learning_rate"].(float64)
			return math.Abs(math.Log10(x)+1.5) + 1/float64(step)
		}}, track
}

func (f *fakeRunner) Capacity() runner.Capacity {
	return runner.Capacity{Slots: 4, CPUs: 8, MemoryMB: 16000}
}

func (f *fakeRunner) Train(req runner.TrainRequest) (runner.Job, error) {
	run, err := f.tracker().CreateRun(tracking.RunSpec{ExperimentID: req.ExperimentID, Name: req.Name, Tags: req.Tags})
	if err != nil {
		return runner.Job{}, err
	}
	j := runner.Job{ID: core.NewID(), RunID: run.ID, State: runner.Running, CreatedAt: time.Now(),
		Spec: runner.JobSpec{Name: req.Name, Tags: req.Tags}}
	fj := &fakeJob{job: j, stop: make(chan struct{}), done: make(chan struct{})}
	f.mu.Lock()
	f.jobs[j.ID] = fj
	f.order = append(f.order, j.ID)
	f.submissions[req.Tags[TagTrial]]++
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	hold := f.hold
	f.mu.Unlock()
	go f.train(fj, req.Params, hold)
	return j, nil
}

func (f *fakeRunner) train(fj *fakeJob, p map[string]any, hold chan struct{}) {
	state, reason := runner.Succeeded, "Finished."
	last := 0.0
	for s := 1; s <= f.steps; s++ {
		v := f.curve(p, s)
		last = v
		_ = f.tracker().LogMetrics(fj.job.RunID, []tracking.Metric{{Key: "val_loss", Value: tracking.Float(v), Step: int64(s)}})
		f.bus.Publish(runner.TopicMetrics, runner.MetricsEvent{JobID: fj.job.ID, RunID: fj.job.RunID, Points: []runner.MetricPoint{{Key: "val_loss", Value: v, Step: int64(s)}}})
		select {
		case <-fj.stop:
			state, reason = runner.Cancelled, "Cancelled by you."
		case <-time.After(f.pause):
		}
		if state == runner.Cancelled {
			break
		}
	}
	if state == runner.Succeeded && hold != nil {
		select {
		case <-hold:
		case <-fj.stop:
			state, reason = runner.Cancelled, "Cancelled by you."
		}
	}
	if state == runner.Succeeded {
		_ = f.tracker().LogMetrics(fj.job.RunID, []tracking.Metric{{Key: "score", Value: tracking.Float(last)}})
		_ = f.tracker().SetStatus(fj.job.RunID, tracking.StatusFinished, "")
	} else {
		_ = f.tracker().SetStatus(fj.job.RunID, tracking.StatusKilled, reason)
	}
	f.mu.Lock()
	fj.job.State, fj.job.Reason = state, reason
	f.running--
	f.mu.Unlock()
	close(fj.done)
}

// tracker is the tracking service of the Tern running now (a test swaps
// it when it reopens the store).
func (f *fakeRunner) tracker() *tracking.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.track
}

func (f *fakeRunner) Get(id string) (runner.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fj := f.jobs[id]
	if fj == nil {
		return runner.Job{}, core.Errorf(core.NotFound, "no job %s", id)
	}
	return fj.job, nil
}

func (f *fakeRunner) Wait(ctx context.Context, id string) (runner.Job, error) {
	f.mu.Lock()
	fj := f.jobs[id]
	f.mu.Unlock()
	if fj == nil {
		return runner.Job{}, core.Errorf(core.NotFound, "no job %s", id)
	}
	select {
	case <-fj.done:
	case <-ctx.Done():
		return runner.Job{}, ctx.Err()
	}
	return f.Get(id)
}

func (f *fakeRunner) Cancel(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fj := f.jobs[id]
	if fj == nil || fj.job.State.Final() {
		return core.Errorf(core.Conflict, "ended")
	}
	select {
	case <-fj.stop:
	default:
		close(fj.stop)
	}
	return nil
}

func (f *fakeRunner) List() ([]runner.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runner.Job
	for _, id := range f.order {
		out = append(out, f.jobs[id].job)
	}
	return out, nil
}
