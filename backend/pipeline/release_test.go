package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/router"
)

// fakeRamper stands in for the deployment service: the ramp's own
// behaviour (stages, watch, rollback) is tested in backend/deployment;
// here what matters is that the steps start one ramp, find it again after
// a restart, and report its verdict.
type fakeRamper struct {
	mu       sync.Mutex
	serving  int
	started  int
	plans    []deployment.Plan
	outcome  string // state the ramp ends in
	release  chan struct{}
	ramp     deployment.Ramp
	hasRamp  bool
	aborted  int
	startErr error
}

func (f *fakeRamper) Get(id string) (deployment.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return deployment.Deployment{ID: id, Name: id, Model: "churn",
		Backends: []deployment.Instance{{Backend: "v1", Version: f.serving}},
		Traffic:  router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}}}, nil
}

func (f *fakeRamper) StartRamp(_ context.Context, dep, ref string, plan deployment.Plan) (deployment.Ramp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return deployment.Ramp{}, f.startErr
	}
	f.started++
	f.plans = append(f.plans, plan)
	f.ramp = deployment.Ramp{ID: "ramp1", Deployment: dep, Model: "churn", Candidate: 2, Champion: f.serving, State: deployment.RampRunning, Share: plan.Stages[0].Percent,
		Events: []deployment.RampEvent{{Kind: "started", Message: "Stage 1: candidate at 5 %."}}}
	f.hasRamp = true
	return f.ramp, nil
}

func (f *fakeRamper) ActiveRamp(string) (deployment.Ramp, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ramp, f.hasRamp && !f.ramp.Done()
}

func (f *fakeRamper) WaitRamp(ctx context.Context, id string) (deployment.Ramp, error) {
	select {
	case <-f.release:
	case <-ctx.Done():
		return deployment.Ramp{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ramp.State = f.outcome
	if f.outcome == deployment.RampRolledBack {
		f.ramp.Reason = "stage 2: the candidate's error rate exceeds the champion's by more than 1 point (Fisher p = 0.001)"
		f.ramp.Stages = []deployment.StageReport{
			{Stage: 0, Percent: 5, Candidate: deployment.Side{Requests: 40, P95Ms: 3.2}, Champion: deployment.Side{Requests: 760, P95Ms: 3.1}, Verdict: "pass", Reason: "fine."},
			{Stage: 1, Percent: 25, Candidate: deployment.Side{Requests: 50, Errors: 9, P95Ms: 4}, Champion: deployment.Side{Requests: 150, P95Ms: 3},
				Realised: &deployment.ErrorTest{Verdict: "pending"}, Verdict: "fail", Reason: "too many errors."},
		}
	}
	f.ramp.Events = append(f.ramp.Events, deployment.RampEvent{Kind: f.outcome, Message: "ended " + f.outcome})
	return f.ramp, nil
}

func (f *fakeRamper) Ramps(string) ([]deployment.Ramp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ramp.ID == "" {
		return nil, nil
	}
	return []deployment.Ramp{f.ramp}, nil
}

func (f *fakeRamper) AbortRamp(string) (deployment.Ramp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborted++
	f.ramp.State = deployment.RampAborted
	return f.ramp, nil
}

// candidateStep emits a fixed model version, standing in for register.
type candidateStep struct{ version string }

func (c candidateStep) Run(context.Context, *Exec) (map[string]Value, error) {
	return map[string]Value{"model_version": {Type: ModelVersion, ID: "churn:" + c.version, Label: "churn v" + c.version, Identity: "model:churn:" + c.version,
		Attrs: map[string]string{"model": "churn", "version": c.version}}}, nil
}

func releaseRig(t *testing.T, f *fakeRamper) (*Engine, string, func()) {
	t.Helper()
	types := NewTypes()
	types.Register(Def{Type: StepType{Name: "candidate", Outputs: []Port{{Name: "model_version", Type: ModelVersion}}}, Exec: candidateStep{"2"}})
	RegisterSteps(types, Services{Ramper: f})
	dir := t.TempDir()
	st := openStore(t, dir)
	e := New(Config{Store: st, Types: types})
	p, err := e.Save(Pipeline{Name: "release", Steps: []Step{
		{ID: "cand", Type: "candidate"},
		{ID: "deploy", Type: "deploy", Fields: map[string]any{"deployment": "churn-api", "stages": "5, 25%,50", "hold_minutes": 1.0, "shadow": true}, Inputs: map[string]string{"candidate": "cand.model_version"}},
		{ID: "watch", Type: "watch", Inputs: map[string]string{"deployment": "deploy.deployment"}},
	}})
	require.NoError(t, err)
	return e, p.ID, func() { _ = st.Close() }
}

func TestDeployAndWatch(t *testing.T) {
	f := &fakeRamper{serving: 1, outcome: deployment.RampPromoted, release: make(chan struct{})}
	e, pid, closeStore := releaseRig(t, f)
	defer closeStore()
	stop := runEngine(e)
	run, err := e.Start(pid, StartOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { d, _ := e.GetRun(run.ID); return stepByID(d, "watch").State == StepRunning }, 10e9, 5e6)
	stop() // the process stops while the ramp is in flight
	e = New(Config{Store: e.cfg.Store, Types: e.types})
	stop = runEngine(e)
	defer func() { stop() }()
	close(f.release)
	d := waitRun(t, e, run.ID)
	require.Equal(t, RunSucceeded, d.Run.State, d.Run.Error)
	assert.Equal(t, 1, f.started, "one ramp, found again after the restart")
	require.Len(t, f.plans[0].Stages, 4)
	assert.True(t, f.plans[0].Stages[0].Shadow)
	assert.Equal(t, []float64{0, 5, 25, 50}, []float64{f.plans[0].Stages[0].Percent, f.plans[0].Stages[1].Percent, f.plans[0].Stages[2].Percent, f.plans[0].Stages[3].Percent})
	assert.Equal(t, "churn:2", stepByID(d, "watch").Outputs["model_version"].ID)
	assert.Contains(t, stepByID(d, "watch").Logs, "churn v2 is now @champion and takes all traffic of churn-api.")

	// Once v2 serves, a run with nothing new reuses the ramp and its
	// verdict: every step cached, nothing started.
	f.mu.Lock()
	f.serving = 2
	f.mu.Unlock()
	run2, _ := e.Start(pid, StartOptions{})
	d2 := waitRun(t, e, run2.ID)
	require.Equal(t, RunSucceeded, d2.Run.State, d2.Run.Error)
	assert.Equal(t, map[string]StepState{"cand": StepSucceeded, "deploy": StepCached, "watch": StepCached}, stepStates(d2))
	assert.Equal(t, 1, f.started)

	// Rolled back by hand since: the cached ramp no longer holds, so the
	// deploy step ramps again.
	f.mu.Lock()
	f.serving = 1
	f.mu.Unlock()
	run3, _ := e.Start(pid, StartOptions{})
	d3 := waitRun(t, e, run3.ID)
	require.Equal(t, RunSucceeded, d3.Run.State, d3.Run.Error)
	assert.Equal(t, StepSucceeded, stepByID(d3, "deploy").State)
	assert.Contains(t, strings.Join(stepByID(d3, "deploy").Logs, " "), "no longer holds (churn-api serves v1 now, not v2); running it again.")
	assert.Equal(t, 2, f.started)
}

// The ramp's settings are fields of the deploy step, so the builder's
// generated form shows them; bad values are refused in words.
func TestDeployFieldsMakeThePlan(t *testing.T) {
	f := &fakeRamper{serving: 1, outcome: deployment.RampPromoted, release: make(chan struct{})}
	close(f.release)
	types := NewTypes()
	types.Register(Def{Type: StepType{Name: "candidate", Outputs: []Port{{Name: "model_version", Type: ModelVersion}}}, Exec: candidateStep{"2"}})
	RegisterSteps(types, Services{Ramper: f})
	def, ok := types.Get("deploy")
	require.True(t, ok)
	var names []string
	for _, fl := range def.Type.Fields {
		names = append(names, fl.Name)
	}
	assert.Equal(t, []string{"deployment", "stages", "hold_minutes", "hold_requests", "shadow", "error_margin_pct", "latency_margin_ms", "latency_margin_pct", "patience", "accuracy_margin_pct", "min_labelled", "alpha", "fallback_after_ms"}, names)
	assert.True(t, def.Type.Cacheable)

	st := openStore(t, t.TempDir())
	defer st.Close()
	e := New(Config{Store: st, Types: types})
	stop := runEngine(e)
	defer stop()
	save := func(name string, fields map[string]any) string {
		fields["deployment"] = "churn-api"
		p, err := e.Save(Pipeline{Name: name, Steps: []Step{{ID: "cand", Type: "candidate"},
			{ID: "deploy", Type: "deploy", Fields: fields, Inputs: map[string]string{"candidate": "cand.model_version"}}}})
		require.NoError(t, err)
		return p.ID
	}
	pid := save("by requests", map[string]any{"stages": "10,50", "hold_minutes": 0.0, "hold_requests": 40.0,
		"error_margin_pct": 2.5, "latency_margin_ms": 30.0, "latency_margin_pct": 10.0, "patience": 8.0, "accuracy_margin_pct": 3.0,
		"alpha": 0.01, "fallback_after_ms": 500.0, "min_labelled": 25.0})
	run, _ := e.Start(pid, StartOptions{})
	d := waitRun(t, e, run.ID)
	require.Equal(t, RunSucceeded, d.Run.State, d.Run.Error)
	require.Len(t, f.plans, 1)
	pl := f.plans[0]
	assert.Equal(t, []deployment.Stage{{Percent: 10, Requests: 40}, {Percent: 50, Requests: 40}}, pl.Stages)
	assert.Equal(t, 2.5, pl.ErrorMarginPct)
	assert.Equal(t, 30.0, pl.LatencyMarginMs)
	assert.Equal(t, 10.0, pl.LatencyMarginPct)
	assert.Equal(t, 8.0, pl.Patience)
	assert.Equal(t, 3.0, pl.AccuracyMarginPct)
	assert.Equal(t, 0.01, pl.Alpha)
	assert.Equal(t, 500, pl.FallbackAfterMs)
	assert.Equal(t, 25, pl.MinLabelled)
	f.mu.Lock()
	f.hasRamp = false // that ramp ended
	f.mu.Unlock()

	for _, c := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"error_margin_pct": -1.0}, `Step "deploy": error_margin_pct must be 0 or more, not -1.`},
		{map[string]any{"patience": 0.5}, `Step "deploy": patience is how many holds a stage may take; give 1 or more, not 0.5.`},
		{map[string]any{"hold_minutes": 0.0, "hold_requests": 0.0}, "Stage 1 has no hold: give minutes, requests, or both."},
		{map[string]any{"stages": "5,x"}, `Step "deploy": stage "x" is not a percentage`},
		{map[string]any{"alpha": 0.6}, "The significance level 0.6 must be between 0 and 0.5"},
		{map[string]any{"min_labelled": -2.0}, "The labelled answers a stage needs (-2) cannot be negative."},
		{map[string]any{"fallback_after_ms": -5.0}, `Step "deploy": fallback_after_ms must be 0 or more, not -5.`},
		{map[string]any{"accuracy_margin_pct": 150.0}, "The accuracy margin of 150 percentage points must be between 0 and 100."},
	} {
		pid := save(c.want, c.fields)
		run, _ := e.Start(pid, StartOptions{})
		d := waitRun(t, e, run.ID)
		assert.Equal(t, RunFailed, d.Run.State)
		assert.Contains(t, d.Run.Error, c.want)
	}
	assert.Len(t, f.plans, 1, "no bad plan reached the deployment")
}

func TestWatchReportsARollback(t *testing.T) {
	f := &fakeRamper{serving: 1, outcome: deployment.RampRolledBack, release: make(chan struct{})}
	close(f.release)
	e, pid, closeStore := releaseRig(t, f)
	defer closeStore()
	stop := runEngine(e)
	defer stop()
	run, _ := e.Start(pid, StartOptions{})
	d := waitRun(t, e, run.ID)
	assert.Equal(t, RunFailed, d.Run.State)
	assert.Equal(t, `Step "watch" failed: The ramp of churn v2 into churn-api ended rolled back: stage 2: the candidate's error rate exceeds the champion's by more than 1 point (Fisher p = 0.001).`, d.Run.Error)
	// The evidence stays in the failed step's record: each stage's
	// figures and a link to the ramp.
	w := stepByID(d, "watch")
	assert.Equal(t, "ramp", hasLink(w, f.ramp.ID))
	logs := strings.Join(w.Logs, "\n")
	assert.Contains(t, logs, "Stage 1 (candidate at 5 %): candidate 40 requests, 0 failed, p95 3.2 ms; champion 760 requests, 0 failed, p95 3.1 ms; no labels arrived. Verdict pass: fine.")
	assert.Contains(t, logs, "Stage 2 (candidate at 25 %): candidate 50 requests, 9 failed (each retried on the champion), p95 4.0 ms; champion 150 requests, 0 failed, p95 3.0 ms; realised accuracy pending. Verdict fail: too many errors.")

	// The next run (a queued alert, say) reuses the same candidate: it is
	// not ramped again.
	f.mu.Lock()
	f.hasRamp, f.ramp.Finished = false, 1796400000000
	f.mu.Unlock()
	again, _ := e.Start(pid, StartOptions{NoCache: true})
	da := waitRun(t, e, again.ID)
	assert.Equal(t, RunFailed, da.Run.State)
	assert.Equal(t, `Step "deploy" failed: churn v2 was rolled back from churn-api on 2026-12-04 16:00 UTC and is not ramped again: stage 2: the candidate's error rate exceeds the champion's by more than 1 point (Fisher p = 0.001). Train a new candidate, or ramp this one by hand from the deployment page.`, da.Run.Error)
	assert.Len(t, f.plans, 1, "no second ramp")

	f2 := &fakeRamper{serving: 1, startErr: core.Errorf(core.Conflict, "A ramp is already in progress on this deployment; abort it or wait for it to end.")}
	e2, pid2, close2 := releaseRig(t, f2)
	defer close2()
	stop2 := runEngine(e2)
	defer stop2()
	run2, _ := e2.Start(pid2, StartOptions{})
	d2 := waitRun(t, e2, run2.ID)
	assert.Contains(t, d2.Run.Error, "A ramp is already in progress")
}

func TestCancelAbortsTheRamp(t *testing.T) {
	f := &fakeRamper{serving: 1, outcome: deployment.RampPromoted, release: make(chan struct{})}
	e, pid, closeStore := releaseRig(t, f)
	defer closeStore()
	stop := runEngine(e)
	defer stop()
	run, _ := e.Start(pid, StartOptions{})
	require.Eventually(t, func() bool { d, _ := e.GetRun(run.ID); return stepByID(d, "watch").State == StepRunning }, 10e9, 5e6)
	require.NoError(t, e.Cancel(run.ID))
	d := waitRun(t, e, run.ID)
	assert.Equal(t, RunCancelled, d.Run.State)
	assert.Equal(t, 1, f.aborted, "the champion keeps all traffic")
}
