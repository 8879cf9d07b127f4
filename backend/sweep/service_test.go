package sweep

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

func lrSpec(sampler string, trials, par int) Spec {
	return Spec{
		Name:    "lr sweep",
		Train:   runner.TrainRequest{DatasetVersionID: "v1", Target: "y", Model: "gbdt"},
		Space:   Space{{Name: "learning_rate", Kind: Float, Low: 0.001, High: 1, Log: true}},
		Sampler: sampler, Seed: 5, Objective: "score", Maximize: false, MaxTrials: trials, Parallelism: par,
	}
}

func newService(t *testing.T, st *store.Store, bus *core.Bus, f *fakeRunner) *Service {
	s, err := New(Config{Store: st, Bus: bus, Runner: f, Runs: f.track})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	return s
}

func wait(t *testing.T, s *Service, id string) Sweep {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sw, err := s.Wait(ctx, id)
	require.NoError(t, err)
	return sw
}

func TestSweepRunsItsBudgetWithinTheParallelismLimit(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, track := newFake(t, st, bus)
	s := newService(t, st, bus, f)
	defer s.Close()
	sw, err := s.Create(lrSpec(SamplerRandom, 20, 3))
	require.NoError(t, err)
	assert.Equal(t, 3, sw.Parallelism)
	assert.Contains(t, sw.ParallelismWhy, "your limit")
	sw = wait(t, s, sw.ID)
	require.Equal(t, Finished, sw.State, sw.Reason)
	require.Len(t, sw.Trials, 20)
	assert.LessOrEqual(t, f.maxRunning, 3)
	assert.GreaterOrEqual(t, f.maxRunning, 2, "trials ran side by side")
	best := math.Inf(1)
	for _, tr := range sw.Trials {
		require.Equal(t, TrialComplete, tr.State)
		best = math.Min(best, *tr.Value)
		run, err := track.GetRun(tr.RunID)
		require.NoError(t, err)
		assert.Equal(t, sw.ParentRunID, run.Tags[TagParent])
	}
	b, ok := sw.BestTrial()
	require.True(t, ok)
	assert.Equal(t, best, *b.Value)
	parent, err := track.GetRun(sw.ParentRunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFinished, parent.Status)
	assert.Equal(t, best, float64(parent.Metrics["best_score"].Value))
	assert.Equal(t, b.RunID, parent.Tags["tern.sweep.best_run"])
	assert.Equal(t, "float 0.001–1 (log)", parent.Params["space.learning_rate"])
	for k, n := range f.submissions {
		assert.Equal(t, 1, n, "trial %s submitted once", k)
	}
}

func TestMedianRulePrunesPoorTrials(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, track := newFake(t, st, bus)
	f.pause = 5 * time.Millisecond
	s := newService(t, st, bus, f)
	defer s.Close()
	spec := lrSpec(SamplerRandom, 20, 1)
	spec.Prune = Pruning{Enabled: true, StartupTrials: 3, WarmupSteps: 4}
	sw, err := s.Create(spec)
	require.NoError(t, err)
	sw = wait(t, s, sw.ID)
	require.Equal(t, Finished, sw.State, sw.Reason)
	pruned := 0
	for _, tr := range sw.Trials {
		if tr.State != TrialPruned {
			continue
		}
		pruned++
		assert.Contains(t, tr.Reason, "Pruned at step")
		assert.Greater(t, tr.Step, int64(4), "never inside the warm-up")
		assert.Less(t, tr.Step, int64(f.steps), "stopped before the end")
		run, err := track.GetRun(tr.RunID)
		require.NoError(t, err)
		assert.Equal(t, tr.Reason, run.Tags[TagPruned])
		assert.Equal(t, tracking.StatusKilled, run.Status)
	}
	assert.Greater(t, pruned, 3, "random learning rates far from the optimum are pruned: %s", sw.Reason)
	assert.Contains(t, sw.Reason, "pruned")
	// The best trial is never a pruned one and beats every pruned curve.
	b, ok := sw.BestTrial()
	require.True(t, ok)
	assert.Equal(t, TrialComplete, b.State)
}

// A Tern closed mid-sweep (service closed, store reopened) resumes: the
// sweep ends with its budget, and no trial is lost or submitted twice.
func TestSweepResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	bus := core.NewBus()
	f, _ := newFake(t, st, bus)
	hold := make(chan struct{})
	f.hold = hold
	s := newService(t, st, bus, f)
	sw, err := s.Create(lrSpec(SamplerTPE, 12, 2))
	require.NoError(t, err)
	// Let two trials start, then quit while they are held running.
	require.Eventually(t, func() bool { g, _ := s.Get(sw.ID); return len(g.Trials) == 2 }, 10*time.Second, 5*time.Millisecond)
	s.Close()
	require.NoError(t, st.Close())

	st2, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	defer st2.Close()
	track2, err := tracking.NewService(st2, bus, t.TempDir())
	require.NoError(t, err)
	// The jobs held running while Tern was down end now, into the new Tern.
	f.mu.Lock()
	f.track, f.hold = track2, nil
	f.mu.Unlock()
	close(hold)
	s2 := newService(t, st2, bus, f)
	defer s2.Close()
	done := wait(t, s2, sw.ID)
	require.Equal(t, Finished, done.State, done.Reason)
	require.Len(t, done.Trials, 12)
	for _, tr := range done.Trials {
		assert.Equal(t, TrialComplete, tr.State, "trial %d", tr.Number)
	}
	assert.Len(t, f.submissions, 12)
	for k, n := range f.submissions {
		assert.Equal(t, 1, n, "trial %s submitted once", k)
	}
}

// A crash between the submit and the save of the job's ID leaves a
// pending trial whose job runs: the next start adopts it.
func TestPendingTrialAdoptsTheJobAlreadySubmitted(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, _ := newFake(t, st, bus)
	sw := Sweep{ID: core.NewID(), Spec: lrSpec(SamplerRandom, 3, 1), State: Running, Budget: 3, Best: -1, Parallelism: 1,
		CreatedAt: time.Now()}
	sw.Spec.Name = "crashed"
	sw.Spec.Sampler = SamplerRandom
	run, err := f.track.CreateRun(tracking.RunSpec{Name: "parent"})
	require.NoError(t, err)
	sw.ParentRunID = run.ID
	values := Random{Seed: 5}.Sample(sw.Spec.Space, nil, 0)
	sw.Trials = []Trial{{Number: 0, Values: values, State: TrialPending, Attempts: 1}}
	req := trialRequest(sw.Spec, values)
	req.Tags = map[string]string{TagTrial: fmt.Sprintf("%s/0/1", sw.ID), TagParent: run.ID}
	j, err := f.Train(req) // what the crashed Tern had sent
	require.NoError(t, err)
	s0 := &Service{cfg: Config{Store: st}}
	require.NoError(t, s0.save(&sw))

	s := newService(t, st, bus, f)
	defer s.Close()
	done := wait(t, s, sw.ID)
	require.Equal(t, Finished, done.State, done.Reason)
	require.Len(t, done.Trials, 3)
	assert.Equal(t, j.ID, done.Trials[0].JobID, "the job already sent was adopted")
	for k, n := range f.submissions {
		assert.Equal(t, 1, n, "trial %s submitted once", k)
	}
}

func TestCancelStopsTheSweep(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, track := newFake(t, st, bus)
	f.hold = make(chan struct{})
	s := newService(t, st, bus, f)
	defer s.Close()
	sw, err := s.Create(lrSpec(SamplerRandom, 10, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { g, _ := s.Get(sw.ID); return len(g.Trials) == 2 }, 10*time.Second, 5*time.Millisecond)
	_, err = s.Cancel(sw.ID)
	require.NoError(t, err)
	done := wait(t, s, sw.ID)
	assert.Equal(t, Cancelled, done.State)
	assert.Len(t, done.Trials, 2, "no trial starts after a cancel")
	for _, tr := range done.Trials {
		assert.Equal(t, TrialCancelled, tr.State)
	}
	parent, err := track.GetRun(done.ParentRunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusKilled, parent.Status)
	_, err = s.Cancel(sw.ID)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	// Starting and cancelling are on the audit trail once each; the
	// refused second cancel is not.
	log, err := audit.Open(st)
	require.NoError(t, err)
	defer log.Close()
	for _, act := range []string{"sweep.create", "sweep.cancel"} {
		recs, err := log.List(audit.Query{Action: act})
		require.NoError(t, err)
		require.Len(t, recs, 1, act)
		assert.Equal(t, sw.ID, recs[0].Objects[0].ID)
	}
}

func TestCreateRefusesBadSpecsInWords(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, _ := newFake(t, st, bus)
	s := newService(t, st, bus, f)
	defer s.Close()
	cases := map[string]func(*Spec){
		"Choose a dataset version":     func(s *Spec) { s.Train.DatasetVersionID = "" },
		"has no parameter alpha":       func(s *Spec) { s.Space = Space{{Name: "alpha", Kind: Float, Low: 0, High: 1}} },
		"cannot go below 0.001":        func(s *Spec) { s.Space[0].Low = 1e-5 },
		"both held fixed and searched": func(s *Spec) { s.Train.Params = map[string]any{"learning_rate": 0.1} },
		"Unknown sampler":              func(s *Spec) { s.Sampler = "bohb" },
		"at most 1000 trials":          func(s *Spec) { s.MaxTrials = 5000 },
		"Parameter target":             func(s *Spec) { s.Train.Target = "" },
		"search it as int":             func(s *Spec) { s.Space = Space{{Name: "max_leaf_nodes", Kind: Float, Low: 2, High: 8}} },
	}
	for want, mod := range cases {
		spec := lrSpec(SamplerRandom, 5, 1)
		mod(&spec)
		_, err := s.Create(spec)
		require.Error(t, err, want)
		assert.Contains(t, core.ErrorMessage(err), want)
	}
	all, err := s.List()
	require.NoError(t, err)
	assert.Empty(t, all, "nothing half-made")
}

func TestParallelismFollowsCoresAndMemory(t *testing.T) {
	n, why := parallelism(0, runner.Capacity{Slots: 4, CPUs: 2, MemoryMB: 16000}, runner.Resources{CPUs: 1})
	assert.Equal(t, 2, n)
	assert.Contains(t, why, "2 cores")
	n, why = parallelism(0, runner.Capacity{Slots: 4, CPUs: 16, MemoryMB: 5000}, runner.Resources{MemoryMB: 2048})
	assert.Equal(t, 1, n)
	assert.Contains(t, why, "MB of memory")
	n, _ = parallelism(8, runner.Capacity{Slots: 2, CPUs: 16, MemoryMB: 64000}, runner.Resources{})
	assert.Equal(t, 2, n, "never above the runner's slots")
}

// Run is what a pipeline's train step calls: it blocks until the sweep
// ends, and cancelling its context cancels the sweep.
func TestRunBlocksAndCancelsWithItsContext(t *testing.T) {
	st, bus := store.MustOpen(t), core.NewBus()
	f, _ := newFake(t, st, bus)
	s := newService(t, st, bus, f)
	defer s.Close()
	sw, err := s.Run(t.Context(), lrSpec(SamplerTPE, 12, 2))
	require.NoError(t, err)
	assert.Equal(t, Finished, sw.State)
	b, ok := sw.BestTrial()
	require.True(t, ok)
	assert.NotEmpty(t, b.RunID)

	f.mu.Lock()
	f.hold = make(chan struct{})
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		// Cancel once two trials of the second sweep are running (held).
		for {
			f.mu.Lock()
			n := len(f.submissions)
			f.mu.Unlock()
			if n >= 14 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	sw, err = s.Run(ctx, lrSpec(SamplerRandom, 10, 2))
	require.NoError(t, err)
	assert.Equal(t, Cancelled, sw.State, "a cancelled step cancels its sweep")
	assert.Less(t, len(sw.Trials), 10)
}
