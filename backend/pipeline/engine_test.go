package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
)

type rig struct {
	src, work, sink *fakeExec
	e               *Engine
	stop            func()
}

func newRig(t *testing.T, limit int) *rig {
	t.Helper()
	r := &rig{src: newFake(DatasetVersion), work: newFake(RunOutput), sink: newFake("")}
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { _ = st.Close() })
	r.e = New(Config{Store: st, Types: testTypes(r.src, r.work, r.sink), Limit: limit})
	r.stop = runEngine(r.e)
	t.Cleanup(func() { r.stop() })
	return r
}

func TestRunAndCacheAndNoCache(t *testing.T) {
	r := newRig(t, 2)
	p, err := r.e.Save(chain())
	require.NoError(t, err)

	run1, err := r.e.Start(p.ID, StartOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, run1.Number)
	d := waitRun(t, r.e, run1.ID)
	require.Equal(t, RunSucceeded, d.Run.State, d.Run.Error)
	assert.Equal(t, map[string]StepState{"a": StepSucceeded, "b": StepSucceeded, "c": StepSucceeded}, stepStates(d))
	b := d.Steps[1]
	assert.Equal(t, "a=v1", b.Inputs["in"].Identity, "the step recorded what it read")
	assert.Equal(t, "b<a=v1", b.Outputs["out"].ID)
	assert.NotEmpty(t, b.CacheKey)
	assert.Equal(t, 1, b.Attempts)
	assert.Contains(t, b.Logs, "working on b")

	// Nothing changed: every step is reused, nothing runs.
	run2, err := r.e.Start(p.ID, StartOptions{})
	require.NoError(t, err)
	d2 := waitRun(t, r.e, run2.ID)
	require.Equal(t, RunSucceeded, d2.Run.State)
	assert.Equal(t, map[string]StepState{"a": StepCached, "b": StepCached, "c": StepCached}, stepStates(d2))
	assert.Equal(t, run1.ID+"/b", d2.Steps[1].CachedFrom)
	assert.Equal(t, b.Outputs, d2.Steps[1].Outputs)
	assert.Equal(t, 1, r.work.total(), "a cached step never re-runs")

	// A changed field changes the key of that step and those after it.
	p.Steps[1].Fields["n"] = 4.0
	p, err = r.e.Save(p)
	require.NoError(t, err)
	run3, _ := r.e.Start(p.ID, StartOptions{})
	d3 := waitRun(t, r.e, run3.ID)
	assert.Equal(t, map[string]StepState{"a": StepCached, "b": StepSucceeded, "c": StepCached}, stepStates(d3),
		"c reads b's output, whose identity did not change")

	// Re-run without cache runs everything.
	run4, _ := r.e.Start(p.ID, StartOptions{NoCache: true})
	d4 := waitRun(t, r.e, run4.ID)
	assert.Equal(t, map[string]StepState{"a": StepSucceeded, "b": StepSucceeded, "c": StepSucceeded}, stepStates(d4))
	assert.Equal(t, 3, r.work.total())

	runs, err := r.e.Runs(p.ID, 0)
	require.NoError(t, err)
	require.Len(t, runs, 4)
	assert.Equal(t, 4, runs[0].Number, "newest first")
	list, err := r.e.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 4, list[0].Runs)
	assert.Equal(t, run4.ID, list[0].LastRun.ID)
}

func TestFailureSkipsDownstreamAndRetry(t *testing.T) {
	r := newRig(t, 2)
	p, err := r.e.Save(chain())
	require.NoError(t, err)
	r.work.fail.Store(true)
	run, _ := r.e.Start(p.ID, StartOptions{})
	d := waitRun(t, r.e, run.ID)
	assert.Equal(t, RunFailed, d.Run.State)
	assert.Equal(t, `Step "b" failed: the fake step failed on purpose`, d.Run.Error)
	assert.Equal(t, map[string]StepState{"a": StepSucceeded, "b": StepFailed, "c": StepSkipped}, stepStates(d))

	_, err = r.e.Retry(run.ID, "a")
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "a succeeded step is not retried")

	r.work.fail.Store(false)
	_, err = r.e.Retry(run.ID, "b")
	require.NoError(t, err)
	d = waitRun(t, r.e, run.ID)
	assert.Equal(t, RunSucceeded, d.Run.State)
	assert.Equal(t, map[string]StepState{"a": StepSucceeded, "b": StepSucceeded, "c": StepSucceeded}, stepStates(d))
	assert.Equal(t, 1, r.src.count(run.ID+"/a"), "the step that succeeded did not run again")
	assert.Equal(t, 2, d.Steps[1].Attempts)
}

func TestCancelAndConcurrencyLimitAndCoalesce(t *testing.T) {
	r := newRig(t, 1)
	r.src.hold = make(chan struct{})
	r.src.started = make(chan string, 10)
	p := chain()
	p.Triggers = []Trigger{{Kind: TriggerDataset, Dataset: "churn"}}
	p, err := r.e.Save(p)
	require.NoError(t, err)
	other := chain()
	other.Name = "other"
	other, err = r.e.Save(other)
	require.NoError(t, err)

	run1, _ := r.e.Start(p.ID, StartOptions{})
	<-r.src.started
	run2, _ := r.e.Start(other.ID, StartOptions{})
	// The limit is one run at a time across pipelines: run2 waits.
	time.Sleep(50 * time.Millisecond)
	d2, _ := r.e.GetRun(run2.ID)
	assert.Equal(t, RunQueued, d2.Run.State)

	// Triggers while run1 runs: the first queues a run, the next ones
	// are folded into it (coalesce), and the run lists them all.
	f1, err := r.e.Fire(p.ID, Firing{Kind: TriggerDataset, Detail: "churn v2"})
	require.NoError(t, err)
	f2, _ := r.e.Fire(p.ID, Firing{Kind: TriggerDataset, Detail: "churn v3"})
	f3, _ := r.e.Fire(p.ID, Firing{Kind: TriggerDataset, Detail: "churn v4"})
	assert.NotEqual(t, run1.ID, f1.ID)
	assert.Equal(t, f1.ID, f2.ID)
	assert.Equal(t, f1.ID, f3.ID)
	assert.Len(t, f3.Firings, 3)

	require.NoError(t, r.e.Cancel(run1.ID))
	d1 := waitRun(t, r.e, run1.ID)
	assert.Equal(t, RunCancelled, d1.Run.State)
	assert.Equal(t, map[string]StepState{"a": StepCancelled, "b": StepCancelled, "c": StepCancelled}, stepStates(d1))
	assert.Error(t, r.e.Cancel(run1.ID), "an ended run cannot be cancelled")

	// Cancelling a queued run ends it at once.
	require.NoError(t, r.e.Cancel(f1.ID))
	df, _ := r.e.GetRun(f1.ID)
	assert.Equal(t, RunCancelled, df.Run.State)
	trail, err := audit.Open(r.e.cfg.Store)
	require.NoError(t, err)
	defer trail.Close()
	cancels, err := trail.List(audit.Query{Action: "pipeline_run.cancel"})
	require.NoError(t, err)
	require.Len(t, cancels, 2, "one record per cancel")
	assert.Equal(t, "queued", cancels[0].Before)
	assert.Equal(t, "running", cancels[1].Before)

	<-r.src.started // run2 got the slot
	close(r.src.hold)
	assert.Equal(t, RunSucceeded, waitRun(t, r.e, run2.ID).Run.State)
	assert.Error(t, r.e.Delete("nope"))
	require.NoError(t, r.e.Delete(p.ID))
	_, err = r.e.GetRun(run1.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err), "a deleted pipeline's runs go with it")
}

func TestQueuePolicyMakesOneRunPerFiring(t *testing.T) {
	r := newRig(t, 1)
	r.src.hold = make(chan struct{})
	p := chain()
	p.OnActive = OnActiveQueue
	p, err := r.e.Save(p)
	require.NoError(t, err)
	a, _ := r.e.Fire(p.ID, Firing{Kind: TriggerAlert, Detail: "drift"})
	b, _ := r.e.Fire(p.ID, Firing{Kind: TriggerAlert, Detail: "drift again"})
	assert.NotEqual(t, a.ID, b.ID)
	close(r.src.hold)
	waitRun(t, r.e, a.ID)
	waitRun(t, r.e, b.ID)
}

func TestSaveRefusesInvalidAndDuplicateNames(t *testing.T) {
	r := newRig(t, 1)
	bad := chain()
	bad.Steps[1].Type = "nope"
	_, err := r.e.Save(bad)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), `Step "b": unknown step type "nope"`)
	_, err = r.e.Save(chain())
	require.NoError(t, err)
	_, err = r.e.Save(chain())
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	list, _ := r.e.List()
	assert.Len(t, list, 1, "nothing half-written")
}

// askStep waits for a person, then passes.
type askStep struct{}

func (askStep) Run(_ context.Context, x *Exec) (map[string]Value, error) {
	if x.Approval() == nil {
		return nil, ErrWaiting
	}
	return nil, nil
}

// A run waiting for a person holds no slot: with a limit of one, another
// pipeline runs meanwhile; an approval queues it again and it finishes;
// cancelling a waiting run ends it.
func TestWaitingRunsHoldNoSlot(t *testing.T) {
	r := newRig(t, 1)
	r.e.types.Register(Def{Type: StepType{Name: "ask", Inputs: []Port{{Name: "after", Type: AnyType, Optional: true}}}, Exec: askStep{}})
	p, err := r.e.Save(Pipeline{Name: "asks", Steps: []Step{{ID: "a", Type: "src", Fields: map[string]any{"value": "x"}}, {ID: "ask", Type: "ask", Inputs: map[string]string{"after": "a.out"}}}})
	require.NoError(t, err)
	other, err := r.e.Save(chain())
	require.NoError(t, err)

	run, _ := r.e.Start(p.ID, StartOptions{})
	require.Eventually(t, func() bool { d, _ := r.e.GetRun(run.ID); return d.Run.State == RunWaiting }, 10*time.Second, 5*time.Millisecond)
	o, _ := r.e.Start(other.ID, StartOptions{})
	assert.Equal(t, RunSucceeded, waitRun(t, r.e, o.ID).Run.State, "the waiting run left the slot free")

	_, err = r.e.Decide(run.ID, "ask", true, "")
	require.NoError(t, err)
	d := waitRun(t, r.e, run.ID)
	assert.Equal(t, RunSucceeded, d.Run.State)
	assert.Equal(t, StepSucceeded, stepByID(d, "ask").State)

	run2, _ := r.e.Start(p.ID, StartOptions{})
	require.Eventually(t, func() bool { d, _ := r.e.GetRun(run2.ID); return d.Run.State == RunWaiting }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, r.e.Cancel(run2.ID))
	d2, _ := r.e.GetRun(run2.ID)
	assert.Equal(t, RunCancelled, d2.Run.State)
	assert.Equal(t, StepCached, stepByID(d2, "a").State, "what ended is kept")
	assert.Equal(t, StepCancelled, stepByID(d2, "ask").State)
}
