package pipeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run in flight survives closing and reopening the store: the step that
// was running is resumed (its executor finds its work by its handle, and
// does not start it again), finished steps are not repeated, pending
// ones continue.
func TestRunResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	src, work, sink := newFake(DatasetVersion), newFake(RunOutput), newFake("")
	work.hold = make(chan struct{})
	work.started = make(chan string, 4)
	types := testTypes(src, work, sink)

	st := openStore(t, dir)
	e := New(Config{Store: st, Types: types})
	stop := runEngine(e)
	p, err := e.Save(chain())
	require.NoError(t, err)
	run, err := e.Start(p.ID, StartOptions{})
	require.NoError(t, err)
	<-work.started // b is working
	stop()         // the process stops mid-step
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	d, err := New(Config{Store: st, Types: types}).GetRun(run.ID)
	require.NoError(t, err)
	assert.Equal(t, RunRunning, d.Run.State)
	assert.Equal(t, map[string]StepState{"a": StepSucceeded, "b": StepRunning, "c": StepPending}, stepStates(d),
		"the store holds the run as it was")

	e = New(Config{Store: st, Types: types})
	stop = runEngine(e)
	defer func() { stop() }()
	<-work.started // resumed
	close(work.hold)
	d = waitRun(t, e, run.ID)
	require.Equal(t, RunSucceeded, d.Run.State, d.Run.Error)
	assert.Equal(t, 1, src.count(run.ID+"/a"))
	assert.Equal(t, 1, work.count(run.ID+"/b"), "the running step was not started again")
	assert.Equal(t, int32(1), work.resumed.Load(), "it was reattached")
	assert.Equal(t, 1, sink.count(run.ID+"/c"))
	assert.Equal(t, 1, d.Steps[1].Attempts)

	// A cancel written before a stop is finished by the next process.
	work.hold = make(chan struct{})
	run2, err := e.Start(p.ID, StartOptions{NoCache: true})
	require.NoError(t, err)
	<-work.started
	stop()
	e = New(Config{Store: st, Types: types})
	require.NoError(t, e.Cancel(run2.ID))
	stop = runEngine(e)
	d = waitRun(t, e, run2.ID)
	assert.Equal(t, 1, work.count(run2.ID+"/b"))
	assert.Equal(t, int32(2), work.resumed.Load(), "the cancelled step's executor was handed the cancel")
	assert.Equal(t, RunCancelled, d.Run.State)
	assert.Equal(t, StepCancelled, d.Steps[1].State)
}
