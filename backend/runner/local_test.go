package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/tracking"
)

func TestLocalTrainEndToEnd(t *testing.T) {
	e := newEnv(t)
	events, stop := e.bus.Subscribe(1000)
	defer stop()
	r := e.runner(t, nil, nil)
	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 3000, "separable"), Params: params(t, map[string]any{"target": "y"})})
	require.NoError(t, err)
	assert.Equal(t, Queued, j.State)
	j = waitJob(t, r, j.ID, 60*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	assert.Equal(t, BackendLocal, j.Backend)
	assert.GreaterOrEqual(t, metric(t, e, j.RunID, "test_roc_auc"), 0.95)

	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFinished, run.Status)
	assert.Equal(t, "gbdt", run.Params["model"])
	arts, err := e.track.ListArtifacts(j.RunID, "model")
	require.NoError(t, err)
	var names []string
	for _, a := range arts {
		names = append(names, a.Path)
	}
	assert.Contains(t, names, "model/MLmodel")
	assert.Contains(t, names, "model/model.json")

	var sawMetrics, sawRunning bool
	for len(events) > 0 {
		ev := <-events
		switch ev.Topic {
		case TopicMetrics:
			sawMetrics = true
		case TopicJob:
			if ev.Data.(Job).State == Running {
				sawRunning = true
			}
		}
	}
	assert.True(t, sawMetrics)
	assert.True(t, sawRunning)
	logs, err := r.Logs(j.ID, 10)
	require.NoError(t, err)
	assert.NotEmpty(t, logs)
}

func TestLocalFailuresAreWorded(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	data := writeCSV(t, 100, "separable")
	j, err := r.Submit(JobSpec{DataPath: data, Params: params(t, map[string]any{"target": "nope"})})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 30*time.Second)
	assert.Equal(t, Failed, j.State)
	assert.Contains(t, j.Reason, `no column "nope"`)
	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFailed, run.Status)
}

func TestSubmitRejectsBadSpecs(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	data := writeCSV(t, 50, "separable")
	cases := []struct {
		name string
		spec JobSpec
		code core.Code
		want string
	}{
		{"no data", JobSpec{Params: params(t, map[string]any{"target": "y"})}, core.Invalid, "dataset"},
		{"missing file", JobSpec{DataPath: data + ".gone", Params: params(t, map[string]any{"target": "y"})}, core.NotFound, "does not exist"},
		{"bad json", JobSpec{DataPath: data, Params: []byte("{")}, core.Invalid, "not valid JSON"},
		{"bad param", JobSpec{DataPath: data, Params: params(t, map[string]any{"target": "y", "learning_rate": 7})}, core.Invalid, "learning_rate"},
		{"tiny memory", JobSpec{DataPath: data, Params: params(t, map[string]any{"target": "y"}), Resources: Resources{MemoryMB: 1}}, core.Invalid, "6 MB"},
		{"bad backend", JobSpec{DataPath: data, Params: params(t, map[string]any{"target": "y"}), Backend: "k8s"}, core.Invalid, "backend"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Submit(c.spec)
			require.Error(t, err)
			assert.Equal(t, c.code, core.ErrorCode(err))
			assert.Contains(t, err.Error(), c.want)
		})
	}
	jobs, err := r.List()
	require.NoError(t, err)
	assert.Empty(t, jobs, "a rejected spec leaves nothing behind")
}

func TestLocalCancelAndConcurrencyLimit(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, func(c *Config) { c.Limit = 1 })
	data := writeCSV(t, 5000, "separable")
	first, err := r.Submit(JobSpec{DataPath: data, Params: slowParams(t)})
	require.NoError(t, err)
	second, err := r.Submit(JobSpec{DataPath: data, Params: slowParams(t)})
	require.NoError(t, err)
	waitMetric(t, e, first.RunID, "train_loss", 30*time.Second)
	got, err := r.Get(second.ID)
	require.NoError(t, err)
	assert.Equal(t, Queued, got.State, "the limit of 1 keeps the second job queued")

	require.NoError(t, r.Cancel(second.ID))
	start := time.Now()
	require.NoError(t, r.Cancel(first.ID))
	j := waitJob(t, r, first.ID, 10*time.Second)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, Cancelled, j.State, j.Reason)
	j2 := waitJob(t, r, second.ID, 10*time.Second)
	assert.Equal(t, Cancelled, j2.State)
	assert.Contains(t, j2.Reason, "before it started")
	err = r.Cancel(first.ID)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	// Each cancel a person asked for is on the audit trail, the refused
	// one is not (the HTTP sweep leaves Training.Cancel to this test: its
	// jobs are slow on purpose, so the queued one is still queued).
	log, err := audit.Open(e.st)
	require.NoError(t, err)
	defer log.Close()
	recs, err := log.List(audit.Query{Action: "job.cancel"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, first.ID, recs[0].Objects[0].ID)
	assert.Equal(t, second.ID, recs[1].Objects[0].ID)
	assert.Equal(t, string(Queued), recs[1].Before)
}

func TestDescribeExit(t *testing.T) {
	cases := []struct {
		e         exit
		cancelled bool
		lastErr   string
		state     State
		want      string
	}{
		{exit{code: 0}, false, "", Succeeded, "Finished"},
		{exit{code: 137, oom: true}, false, "", Failed, "Out of memory"},
		{exit{code: 137, oom: true}, true, "", Failed, "Out of memory"},
		{exit{code: 137}, false, "", Failed, "Killed from outside"},
		{exit{code: 143}, false, "", Failed, "Stopped from outside"},
		{exit{code: 143}, true, "", Cancelled, "Cancelled by you"},
		{exit{code: 137}, true, "", Cancelled, "Cancelled by you"},
		{exit{disappeared: true}, false, "", Failed, "disappeared"},
		{exit{code: 1}, false, "Column x is missing.", Failed, "Column x is missing."},
		{exit{code: 2}, false, "", Crashed, "crashed"},
		{exit{code: 139}, false, "", Crashed, "signal 11"},
		{exit{code: 3}, false, "", Failed, "exit code 3"},
		{exit{lost: true}, false, "", Crashed, "lost"},
	}
	for _, c := range cases {
		s, why := describeExit(c.e, c.cancelled, 64, c.lastErr)
		assert.Equal(t, c.state, s, "%+v", c)
		assert.Contains(t, why, c.want, "%+v", c)
	}
}

func TestRuntimeFromEmbedded(t *testing.T) {
	dir := t.TempDir()
	p, err := runtimeFrom([]byte("#!/bin/sh\necho hi\n"), dir)
	require.NoError(t, err)
	assert.FileExists(t, p)
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o100, "executable")
	again, err := runtimeFrom([]byte("#!/bin/sh\necho hi\n"), dir)
	require.NoError(t, err)
	assert.Equal(t, p, again, "written once per content")
	other, err := runtimeFrom([]byte("#!/bin/sh\necho bye\n"), dir)
	require.NoError(t, err)
	assert.NotEqual(t, p, other)
}

func TestFinishedJobFreesItsFolder(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	j, err := r.Submit(JobSpec{DataPath: writeCSV(t, 200, "separable"), Params: params(t, map[string]any{"target": "y"})})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 30*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	w := r.workdir(j.ID)
	assert.NoDirExists(t, w.outputs, "outputs moved into the run's artifacts")
	assert.FileExists(t, w.log, "the log stays")
	_, _, err = e.track.OpenArtifact(j.RunID, "model/model.json")
	assert.NoError(t, err)
}

// TestLocalReadsDatasetSettings: the job reads its data with the version's
// settings (encoding, delimiter, missing-value tokens, schema); the same
// file detected afresh would fail.
func TestLocalReadsDatasetSettings(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	data, reading := writeLatin1CSV(t)
	p := params(t, map[string]any{"target": "y"})
	j, err := r.Submit(JobSpec{DataPath: data, DataReading: reading, Params: p})
	require.NoError(t, err)
	j = waitJob(t, r, j.ID, 60*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)

	plain, err := r.Submit(JobSpec{DataPath: data, Params: p})
	require.NoError(t, err)
	plain = waitJob(t, r, plain.ID, 60*time.Second)
	require.Equal(t, Failed, plain.State)
	assert.Contains(t, plain.Reason, `Line 2502, column "surface": "manquant" is not a number`)
}

// The built-in runtime's identity is its image tag (the binary's hash):
// stable for the same binary, different for another one.
func TestImageIdentityOfTheBuiltInRuntime(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tern-runtime")
	require.NoError(t, os.WriteFile(bin, []byte("one"), 0o755))
	r, err := New(Config{Store: e.st, Bus: e.bus, Sink: TrackingSink{Svc: e.track}, DataDir: e.dataDir, AppVersion: "test",
		RuntimeBinary: func() (string, error) { return bin, nil }})
	require.NoError(t, err)
	defer r.Close()
	a, err := r.ImageIdentity(t.Context(), "")
	require.NoError(t, err)
	again, _ := r.ImageIdentity(t.Context(), "")
	assert.Equal(t, a, again)
	require.NoError(t, os.WriteFile(bin, []byte("two!"), 0o755))
	b, err := r.ImageIdentity(t.Context(), "")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	_, err = r.ImageIdentity(t.Context(), "someone/else:1")
	assert.Equal(t, core.Unavailable, core.ErrorCode(err), "no Docker: a named image cannot be known")
}

// A job queued behind one that was already running when Tern stopped
// starts after the restart (the running one never takes a slot again, so
// it must not hold the queue).
func TestQueuedJobBehindALostOneStartsAfterRestart(t *testing.T) {
	e := newEnv(t)
	csv := writeCSV(t, 300, "separable")
	first := e.runner(t, nil, nil)
	running := Job{ID: core.NewID(), RunID: "r-lost", State: Running, Backend: BackendLocal, CreatedAt: time.Now().UTC(),
		Spec: JobSpec{DataPath: csv, Params: []byte(`{"target":"y"}`)}}
	require.NoError(t, first.save(&running))
	queued := Job{ID: core.NewID(), State: Queued, CreatedAt: time.Now().UTC(), Spec: JobSpec{DataPath: csv, Params: []byte(`{"target":"y"}`), Backend: BackendLocal}}
	runID, err := TrackingSink{Svc: e.track}.StartRun(&queued)
	require.NoError(t, err)
	queued.RunID = runID
	require.NoError(t, first.save(&queued))
	first.Close()

	r := e.runner(t, nil, nil)
	require.NoError(t, r.Start(t.Context()))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	j, err := r.Wait(ctx, queued.ID)
	require.NoError(t, err)
	assert.Equal(t, Succeeded, j.State, j.Reason)
	lost, err := r.Get(running.ID)
	require.NoError(t, err)
	assert.Equal(t, Crashed, lost.State)
}
