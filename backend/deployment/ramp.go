package deployment

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout, continued:
//
//	0x43 ramp id -> Ramp (JSON)
//	0x44 ramp id -> rampCheckpoint (JSON): the current stage's evidence,
//	                so a restart resumes a stage with what it had seen
const (
	prefixRamp         = store.PrefixServing + 3
	prefixRampEvidence = store.PrefixServing + 4
)

// States of a ramp.
const (
	RampRunning    = "running"
	RampPromoted   = "promoted"
	RampRolledBack = "rolled_back"
	RampAborted    = "aborted"
	RampFailed     = "failed"
)

// Stage is one step of a ramp: the candidate's share of traffic and how
// long it is held before the watch judges it.
type Stage struct {
	// Percent of live requests the candidate answers, above 0 and below
	// 100 (0 for a shadow stage).
	Percent float64 `json:"percent"`
	// Shadow: the candidate gets a copy of every request and answers
	// no one; only the first stage may be one.
	Shadow bool `json:"shadow,omitempty"`
	// The hold: at least Minutes, and at least Requests requests seen by
	// the candidate. Either may be 0, not both.
	Minutes  float64 `json:"minutes,omitempty"`
	Requests int     `json:"requests,omitempty"`
}

// Plan is how a candidate is ramped and what it must show at each stage.
type Plan struct {
	Stages []Stage `json:"stages"`
	// Alpha is each test's one-sided level; 0 means 0.05. Before a stage's
	// hold is over, a failure needs Alpha/10 (the watch looks often, and
	// each look is a chance of a false alarm).
	Alpha float64 `json:"alpha,omitempty"`
	// ErrorMarginPct is how many percentage points the candidate's failure
	// rate may exceed the champion's; 0 means 1.
	ErrorMarginPct float64 `json:"errorMarginPct,omitempty"`
	// The candidate's p95 may exceed the champion's by LatencyMarginPct
	// percent of it or LatencyMarginMs, whichever is larger; 0 means 20 %
	// and 5 ms (below a few ms, a laptop's scheduler is the noise).
	LatencyMarginPct float64 `json:"latencyMarginPct,omitempty"`
	LatencyMarginMs  float64 `json:"latencyMarginMs,omitempty"`
	// FallbackAfterMs: a candidate request not answered within it is
	// answered by the champion instead (and counted as failed); 0 means
	// 2000 ms.
	FallbackAfterMs int `json:"fallbackAfterMs,omitempty"`
	// Patience: a stage held this many times its hold without a verdict
	// is rolled back for want of evidence; 0 means 3.
	Patience float64 `json:"patience,omitempty"`
	// AccuracyMarginPct is how many percentage points the candidate's
	// realised accuracy (on answers whose labels arrived during the
	// stage) may fall below the champion's; 0 means 2.
	AccuracyMarginPct float64 `json:"accuracyMarginPct,omitempty"`
	// MinLabelled: a live stage passes only once at least this many of
	// the candidate's answers in it have labels (and realised accuracy
	// has not failed); a stage that never gets them is rolled back when
	// its patience runs out. 0: labels are used when they come, never
	// waited for.
	MinLabelled int `json:"minLabelled,omitempty"`
}

// DefaultPlan is 5 → 25 → 50 %, each held 5 minutes and 300 candidate
// requests, then 100 %.
func DefaultPlan() Plan {
	return Plan{Stages: []Stage{{Percent: 5, Minutes: 5, Requests: 300}, {Percent: 25, Minutes: 5, Requests: 300}, {Percent: 50, Minutes: 5, Requests: 300}}}.WithDefaults()
}

// WithDefaults fills the zero settings.
func (p Plan) WithDefaults() Plan {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Alpha, 0.05)
	def(&p.ErrorMarginPct, 1)
	def(&p.LatencyMarginPct, 20)
	def(&p.LatencyMarginMs, 5)
	def(&p.Patience, 3)
	def(&p.AccuracyMarginPct, 2)
	if p.FallbackAfterMs == 0 {
		p.FallbackAfterMs = 2000
	}
	p.Stages = append([]Stage(nil), p.Stages...)
	return p
}

// Validate says, in a sentence naming the stage or setting, what is
// wrong with a plan (after WithDefaults).
func (p Plan) Validate() error {
	bad := func(f string, a ...any) error { return core.Errorf(core.Invalid, f, a...) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if len(p.Stages) == 0 {
		return bad("The plan has no stages; give at least one share for the candidate (for example 5 %%).")
	}
	if len(p.Stages) > 20 {
		return bad("The plan has %d stages; at most 20 are allowed.", len(p.Stages))
	}
	prev := 0.0
	for i, s := range p.Stages {
		n := i + 1
		switch {
		case !finite(s.Percent):
			return bad("Stage %d's share is not a number.", n)
		case s.Shadow && i > 0:
			return bad("Stage %d is a shadow stage after a live one; only the first stage can be a shadow.", n)
		case s.Shadow && s.Percent != 0:
			return bad("Stage %d is a shadow stage but gives the candidate %g %% of live traffic; a shadow stage only copies requests (leave its share at 0).", n, s.Percent)
		case !s.Shadow && s.Percent >= 100:
			return bad("Stage %d gives the candidate %g %%: at 100 %% no champion traffic is left to compare with. End the plan at the last share to watch (for example 50 %%); the candidate gets 100 %% when that stage passes.", n, s.Percent)
		case !s.Shadow && s.Percent <= 0:
			return bad("Stage %d gives the candidate %g %%; a live stage needs a share above 0 (or make it a shadow stage).", n, s.Percent)
		case !s.Shadow && s.Percent <= prev:
			return bad("Stage %d gives the candidate %g %%, not more than stage %d (%g %%); shares must rise from stage to stage.", n, s.Percent, i, prev)
		case !finite(s.Minutes) || s.Minutes < 0:
			return bad("Stage %d's hold of %g minutes is not a duration.", n, s.Minutes)
		case s.Requests < 0:
			return bad("Stage %d's hold of %d requests is negative.", n, s.Requests)
		case s.Minutes == 0 && s.Requests == 0:
			return bad("Stage %d has no hold: give minutes, requests, or both.", n)
		case s.Minutes > 7*24*60:
			return bad("Stage %d is held %g minutes, more than a week.", n, s.Minutes)
		}
		if !s.Shadow {
			prev = s.Percent
		}
	}
	switch {
	case !finite(p.Alpha) || p.Alpha <= 0 || p.Alpha >= 0.5:
		return bad("The significance level %g must be between 0 and 0.5 (0.05 is usual).", p.Alpha)
	case !finite(p.ErrorMarginPct) || p.ErrorMarginPct < 0 || p.ErrorMarginPct > 100:
		return bad("The error margin of %g percentage points must be between 0 and 100.", p.ErrorMarginPct)
	case !finite(p.LatencyMarginPct) || p.LatencyMarginPct < 0:
		return bad("The latency margin of %g %% cannot be negative.", p.LatencyMarginPct)
	case !finite(p.LatencyMarginMs) || p.LatencyMarginMs < 0:
		return bad("The latency margin of %g ms cannot be negative.", p.LatencyMarginMs)
	case p.FallbackAfterMs < 0 || p.FallbackAfterMs > 600000:
		return bad("The fallback deadline of %d ms must be between 1 ms and 10 minutes.", p.FallbackAfterMs)
	case !finite(p.Patience) || p.Patience < 1:
		return bad("The patience of %g must be at least 1 (times a stage's hold).", p.Patience)
	case !finite(p.AccuracyMarginPct) || p.AccuracyMarginPct < 0 || p.AccuracyMarginPct > 100:
		return bad("The accuracy margin of %g percentage points must be between 0 and 100.", p.AccuracyMarginPct)
	case p.MinLabelled < 0:
		return bad("The labelled answers a stage needs (%d) cannot be negative.", p.MinLabelled)
	}
	return nil
}

// StageReport is one stage as the watch last judged it.
type StageReport struct {
	Stage   int     `json:"stage"` // 0-based index into the plan
	Percent float64 `json:"percent"`
	Shadow  bool    `json:"shadow,omitempty"`
	Started int64   `json:"started"` // unix ms
	Ended   int64   `json:"ended,omitempty"`

	Candidate Side        `json:"candidate"`
	Champion  Side        `json:"champion"`
	Errors    ErrorTest   `json:"errors"`
	Latency   LatencyTest `json:"latency"`
	// Realised compares the share of wrong answers among those whose
	// labels arrived during the stage (nil: no labels). It can fail a
	// stage, never hold one back: labels may never come.
	Realised *ErrorTest `json:"realised,omitempty"`
	// Verdict is pass, fail or pending (not enough evidence yet); Reason
	// says why with the figures.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

// RampEvent is one thing that happened to a ramp.
type RampEvent struct {
	Time    int64  `json:"time"` // unix ms
	Kind    string `json:"kind"` // started, stage, passed, failed, rolled_back, promoted, aborted, resumed
	Message string `json:"message"`
}

// Ramp is a candidate version's way from no traffic to all of it.
type Ramp struct {
	ID         string `json:"id"`
	Deployment string `json:"deployment"`
	Model      string `json:"model"`
	Candidate  int    `json:"candidate"` // model version
	Champion   int    `json:"champion"`
	// Backends inside the deployment's router.
	CandidateBackend string `json:"candidateBackend"`
	ChampionBackend  string `json:"championBackend"`
	Plan             Plan   `json:"plan"`
	State            string `json:"state"`
	// Stage is the index of the stage in progress (or the last reached).
	Stage int `json:"stage"`
	// Share is the candidate's share of live traffic now, in percent.
	Share    float64       `json:"share"`
	Stages   []StageReport `json:"stages"`
	Events   []RampEvent   `json:"events"`
	Reason   string        `json:"reason,omitempty"`
	Created  int64         `json:"created"`
	Finished int64         `json:"finished,omitempty"`
	// Promoting is set between the decision to promote and the alias
	// move, so a restart finishes a promotion instead of redoing the stage.
	Promoting bool `json:"promoting,omitempty"`
	// Follow is the alias whose move started this ramp (follow.go). The
	// alias already names the candidate, so promotion moves no alias.
	Follow string `json:"follow,omitempty"`
}

// Done says whether the ramp has ended (promoted, rolled back, aborted
// or failed).
func (r Ramp) Done() bool { return r.State != RampRunning }

// abortRequest asks a ramp's driver to stop it: why, and who asked (the
// record of the roll-back is theirs). Quiet: the roll-back is part of a
// change recorded elsewhere (the deployment's stop or deletion).
type abortRequest struct {
	reason string
	actor  audit.Actor
	quiet  bool
}

type rampCheckpoint struct {
	Stage     int         `json:"stage"`
	Candidate sideSamples `json:"candidate"`
	Champion  sideSamples `json:"champion"`
}

// rampRun is a ramp the service is driving.
type rampRun struct {
	id     string // the ramp's ID; set under Service.mu
	mu     sync.Mutex
	r      Ramp
	ev     *evidence
	abort  chan abortRequest
	cancel context.CancelFunc
	done   chan struct{}
}

func (run *rampRun) get() Ramp {
	run.mu.Lock()
	defer run.mu.Unlock()
	return cloneRamp(run.r)
}

func cloneRamp(r Ramp) Ramp {
	r.Stages = append([]StageReport(nil), r.Stages...)
	r.Events = append([]RampEvent(nil), r.Events...)
	r.Plan.Stages = append([]Stage(nil), r.Plan.Stages...)
	return r
}

func rampKey(id string) []byte     { return store.Key(prefixRamp, []byte(id)) }
func evidenceKey(id string) []byte { return store.Key(prefixRampEvidence, []byte(id)) }

func (s *Service) now() time.Time { return core.OrSystem(s.cfg.Clock).Now() }

func (s *Service) saveRamp(r Ramp) error {
	err := s.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		if err := store.SetJSON(txn, rampKey(r.ID), r); err != nil {
			return err
		}
		if r.Done() {
			return txn.Delete(evidenceKey(r.ID))
		}
		return nil
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "The ramp of %s v%d could not be saved.", r.Model, r.Candidate)
	}
	s.cfg.Bus.Publish("deployment.ramp", r)
	return nil
}

func (s *Service) checkpoint(run *rampRun) {
	r := run.get()
	if r.Done() {
		return
	}
	c, b := run.ev.snapshot()
	err := s.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		if err := store.SetJSON(txn, rampKey(r.ID), r); err != nil {
			return err
		}
		return store.SetJSON(txn, evidenceKey(r.ID), rampCheckpoint{Stage: r.Stage, Candidate: c, Champion: b})
	})
	if err != nil {
		s.cfg.Log.Warn("a ramp checkpoint could not be saved", "ramp", r.ID, "err", err)
	}
}

// StartRamp starts moving a deployment's traffic to another version of
// its model (ref: a number, "latest" or "@alias") along plan, from the
// version that takes all of it now (the champion). The candidate is
// launched behind the deployment if it is not there yet. It returns once
// the first stage is in force; the watch then judges each stage, rolls
// back on the first failure and promotes the candidate (all traffic, and
// the model's @champion alias) when the last stage passes. Follow it with
// Ramp, WaitRamp, or the bus topic "deployment.ramp" (payload: Ramp).
func (s *Service) StartRamp(ctx context.Context, deploymentID, ref string, plan Plan) (Ramp, error) {
	return s.startRamp(ctx, deploymentID, ref, plan, "")
}

// startRamp is StartRamp for a ramp started by an alias's move (follow),
// or by hand (follow ""). It leaves one audit record, the ramp's start:
// launching the candidate and the first stage's split are part of it.
func (s *Service) startRamp(ctx context.Context, deploymentID, ref string, plan Plan, follow string) (Ramp, error) {
	plan = plan.WithDefaults()
	if err := plan.Validate(); err != nil {
		return Ramp{}, err
	}
	ld, err := s.get(deploymentID)
	if err != nil {
		return Ramp{}, err
	}
	run := &rampRun{abort: make(chan abortRequest, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.ramps[deploymentID] != nil {
		s.mu.Unlock()
		return Ramp{}, core.Errorf(core.Conflict, "A ramp is already in progress on this deployment; abort it or wait for it to end.")
	}
	s.ramps[deploymentID] = run
	d := ld.d
	s.mu.Unlock()
	r, err := s.prepareRamp(ctx, d, ref, plan)
	r.Follow = follow
	if err != nil {
		s.mu.Lock()
		delete(s.ramps, deploymentID)
		s.mu.Unlock()
		return Ramp{}, err
	}
	run.r = r
	s.mu.Lock()
	run.id = r.ID
	s.mu.Unlock()
	if err := s.saveRamp(r); err != nil {
		s.mu.Lock()
		delete(s.ramps, deploymentID)
		s.mu.Unlock()
		return Ramp{}, err
	}
	start := func(before, after router.Traffic) *audit.Record {
		why := "by hand"
		if follow != "" {
			why = "because @" + follow + " moved to v" + itoa(r.Candidate)
		}
		return &audit.Record{Action: "deployment.ramp_start", Objects: rampObjects(d, r),
			Before: trafficText(before), After: fmt.Sprintf("ramp of v%d against v%d started %s: %s; now %s", r.Candidate, r.Champion, why, describePlan(plan), trafficText(after))}
	}
	if err := s.enterStage(run, ld, start); err != nil {
		s.mu.Lock()
		delete(s.ramps, deploymentID)
		s.mu.Unlock()
		r.State, r.Reason, r.Finished = RampFailed, core.ErrorMessage(err), s.now().UnixMilli()
		s.saveRamp(r)
		return Ramp{}, err
	}
	s.launchRun(run)
	return run.get(), nil
}

// prepareRamp finds the champion, resolves and launches the candidate.
func (s *Service) prepareRamp(ctx context.Context, d Deployment, ref string, plan Plan) (Ramp, error) {
	champ := ""
	for _, sp := range d.Traffic.Split {
		if sp.Weight >= 100-0.01 {
			champ = sp.Backend
		}
	}
	if champ == "" || d.Traffic.Shadow != "" {
		return Ramp{}, core.Errorf(core.Conflict, "A ramp starts from one version taking all traffic, with no shadow; now the split is %s. Settle it first.", describeSplit(d.Traffic))
	}
	champVersion := 0
	for _, b := range d.Backends {
		if b.Backend == champ {
			champVersion = b.Version
		}
	}
	v, err := s.cfg.Registry.Version(d.Model, ref)
	if err != nil {
		return Ramp{}, err
	}
	if v.Version == champVersion {
		return Ramp{}, core.Errorf(core.Conflict, "Version %d already takes all of this deployment's traffic.", v.Version)
	}
	present := false
	for _, b := range d.Backends {
		present = present || b.Version == v.Version
	}
	if !present {
		// Part of the ramp's start, recorded with it.
		if _, err := s.addVersion(ctx, d.ID, itoa(v.Version), quiet); err != nil {
			return Ramp{}, err
		}
	}
	now := s.now().UnixMilli()
	r := Ramp{
		ID: core.NewID(), Deployment: d.ID, Model: d.Model, Candidate: v.Version, Champion: champVersion,
		CandidateBackend: backendID(v.Version), ChampionBackend: champ, Plan: plan, State: RampRunning, Created: now,
	}
	r.Events = append(r.Events, RampEvent{Time: now, Kind: "started", Message: fmt.Sprintf("Ramp of v%d against v%d started: %s.", v.Version, champVersion, describePlan(plan))})
	return r, nil
}

func describeSplit(t router.Traffic) string {
	out := ""
	for i, sp := range t.Split {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %g %%", sp.Backend, sp.Weight)
	}
	if t.Shadow != "" {
		out += ", shadow " + t.Shadow
	}
	return out
}

func describePlan(p Plan) string {
	out := ""
	for _, st := range p.Stages {
		if st.Shadow {
			out += "shadow → "
		} else {
			out += fmt.Sprintf("%g %% → ", st.Percent)
		}
	}
	return out + "100 %"
}

// stageTraffic is the split of a stage: the champion guards the
// candidate (its failures and slow answers are answered again by the
// champion).
func stageTraffic(r Ramp) router.Traffic {
	st := r.Plan.Stages[r.Stage]
	t := router.Traffic{Fallback: r.ChampionBackend, FallbackAfterMs: r.Plan.FallbackAfterMs}
	if st.Shadow {
		t.Split = []router.Split{{Backend: r.ChampionBackend, Weight: 100}}
		t.Shadow = r.CandidateBackend
		return t
	}
	t.Split = []router.Split{{Backend: r.ChampionBackend, Weight: 100 - st.Percent}, {Backend: r.CandidateBackend, Weight: st.Percent}}
	return t
}

func rampObjects(d Deployment, r Ramp) []audit.Object {
	return append(deploymentObjects(d), audit.Object{Kind: "model_version", ID: fmt.Sprintf("%s/%d", r.Model, r.Candidate), Name: fmt.Sprintf("%s v%d", r.Model, r.Candidate)})
}

// rampRecord is the record of a ramp's traffic change (see routeAs).
func (s *Service) rampRecord(ld *liveDeployment, r Ramp, action, what string) func(before, after router.Traffic) *audit.Record {
	s.mu.Lock()
	d := ld.d
	s.mu.Unlock()
	return func(before, after router.Traffic) *audit.Record {
		return &audit.Record{Action: action, Objects: rampObjects(d, r), Before: trafficText(before), After: what + "; now " + trafficText(after)}
	}
}

// enterStage starts the stage run.r.Stage: a fresh report and evidence,
// the stage's split in force, recorded as rec.
func (s *Service) enterStage(run *rampRun, ld *liveDeployment, rec func(before, after router.Traffic) *audit.Record) error {
	run.mu.Lock()
	r := &run.r
	st := r.Plan.Stages[r.Stage]
	now := s.now().UnixMilli()
	r.Stages = append(r.Stages, StageReport{Stage: r.Stage, Percent: st.Percent, Shadow: st.Shadow, Started: now, Verdict: VerdictPending})
	r.Share = st.Percent
	r.Events = append(r.Events, RampEvent{Time: now, Kind: "stage", Message: fmt.Sprintf("Stage %d: %s.", r.Stage+1, stageName(st))})
	run.ev = newEvidence(r.CandidateBackend, r.ChampionBackend, st.Shadow)
	t := stageTraffic(*r)
	snap := cloneRamp(*r)
	run.mu.Unlock()
	// Saved before the split changes: a restart re-applies the saved
	// stage, so the record is never behind the traffic.
	if err := s.saveRamp(snap); err != nil {
		return err
	}
	ld.watch.Store(run.ev)
	_, err := s.routeAs(ld.d.ID, func(rt *router.Router) error { return rt.SetTraffic(t) }, rec)
	return err
}

func stageName(st Stage) string {
	hold := ""
	if st.Minutes > 0 {
		hold = fmt.Sprintf("%g min", st.Minutes)
	}
	if st.Requests > 0 {
		if hold != "" {
			hold += " and "
		}
		hold += fmt.Sprintf("%d requests", st.Requests)
	}
	if st.Shadow {
		return "shadow copies to the candidate, held " + hold
	}
	return fmt.Sprintf("candidate at %g %%, held %s", st.Percent, hold)
}

func (s *Service) launchRun(run *rampRun) {
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	go s.driveRamp(ctx, run)
}

// driveRamp looks at the stage's evidence every RampTick until the ramp
// ends or the service closes (then it checkpoints, to resume at start).
func (s *Service) driveRamp(ctx context.Context, run *rampRun) {
	defer close(run.done)
	// What the watch decides is Tern's doing.
	defer audit.Bind(audit.Actor{Face: audit.Tern, Who: "ramp " + run.get().ID})()
	tick := s.cfg.RampTick
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			s.checkpoint(run)
			return
		case req := <-run.abort:
			s.rollBack(run, RampAborted, "aborted", req.reason, &req)
			return
		case <-t.C:
		}
		if s.lookAtStage(run) {
			return
		}
		if time.Since(lastSave) >= 2*time.Second {
			s.checkpoint(run)
			lastSave = time.Now()
		}
	}
}

func stageSeed(id string, stage int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() + uint64(stage)
}

// lookAtStage judges the stage in progress and acts; true when the ramp
// has ended.
func (s *Service) lookAtStage(run *rampRun) bool {
	r := run.get()
	if r.Promoting {
		return s.promote(run)
	}
	st := r.Plan.Stages[r.Stage]
	c, b := run.ev.snapshot()
	elapsed := s.now().Sub(time.UnixMilli(r.Stages[len(r.Stages)-1].Started))
	hold := time.Duration(st.Minutes * float64(time.Minute))
	held := elapsed >= hold && c.N >= st.Requests
	patient := elapsed >= time.Duration(r.Plan.Patience*float64(hold)) && float64(c.N) >= r.Plan.Patience*float64(st.Requests)
	seed := stageSeed(r.ID, r.Stage)
	j := judge(c, b, r.Plan, r.Plan.Alpha, seed, st.Shadow)
	if j.Verdict == VerdictFail && !held {
		// Before the hold is over the watch looks many times; a failure
		// then must clear a ten times stricter level.
		if strict := judge(c, b, r.Plan, r.Plan.Alpha/10, seed, st.Shadow); strict.Verdict != VerdictFail {
			j.Verdict, j.Reason = VerdictPending, "An early sign against the candidate, not yet strong enough to roll back: "+j.Reason
		}
	}
	var realised *ErrorTest
	labelled := 0
	if s.cfg.Realised != nil && !st.Shadow {
		realised, labelled = s.realisedTest(r, held)
		if realised != nil && realised.Verdict == VerdictFail {
			j.Verdict, j.Reason = VerdictFail, realised.Reason
		}
	}
	if need := r.Plan.MinLabelled; need > 0 && !st.Shadow && j.Verdict == VerdictPass && labelled < need {
		// Errors and latency alone do not pass a stage whose plan asks
		// for labels: a wrong but fast and healthy candidate looks fine
		// on them.
		j.Verdict = VerdictPending
		j.Reason = fmt.Sprintf("Waiting for labels: %d of the candidate's answers in this stage have one, %d are needed before it can pass. %s", labelled, need, j.Reason)
		if s.cfg.Realised == nil {
			j.Reason = fmt.Sprintf("The plan needs %d labelled answers per stage, but this Tern reads no labels for ramps.", need)
		}
	}
	run.mu.Lock()
	rep := &run.r.Stages[len(run.r.Stages)-1]
	rep.Candidate, rep.Champion, rep.Errors, rep.Latency, rep.Verdict, rep.Reason = j.Candidate, j.Champion, j.Errors, j.Latency, j.Verdict, j.Reason
	rep.Realised = realised
	snap := cloneRamp(run.r)
	run.mu.Unlock()
	n := r.Stage + 1
	switch {
	case j.Verdict == VerdictFail:
		s.rollBack(run, RampRolledBack, "failed", fmt.Sprintf("Stage %d (%s) failed: %s", n, shareName(st), j.Reason), nil)
		return true
	case held && j.Verdict == VerdictPass:
		return s.advance(run, fmt.Sprintf("Stage %d (%s) passed: %s", n, shareName(st), j.Reason))
	case held && patient:
		s.rollBack(run, RampRolledBack, "failed", fmt.Sprintf("Stage %d (%s) was held %.3g times its hold without enough evidence either way, so the candidate does not go further: %s", n, shareName(st), r.Plan.Patience, j.Reason), nil)
		return true
	}
	s.cfg.Bus.Publish("deployment.ramp", snap)
	return false
}

// realisedTest compares wrong answers among the labelled ones of the
// stage in progress, as the error test compares failures (Fisher's exact
// test, Newcombe interval, the plan's accuracy margin); before the hold
// is over a failure needs a ten times stricter level. Nil when no label
// of the stage has arrived; labelled counts the candidate's labelled
// answers.
func (s *Service) realisedTest(r Ramp, held bool) (*ErrorTest, int) {
	since := time.UnixMilli(r.Stages[len(r.Stages)-1].Started)
	n, wrong, err := s.cfg.Realised(r.Deployment, since)
	if err != nil || n[r.CandidateBackend]+n[r.ChampionBackend] == 0 {
		return nil, 0
	}
	c := sideSamples{N: n[r.CandidateBackend], Errors: wrong[r.CandidateBackend]}
	b := sideSamples{N: n[r.ChampionBackend], Errors: wrong[r.ChampionBackend]}
	alpha := r.Plan.Alpha
	if !held {
		alpha /= 10
	}
	t := errorTest(c, b, r.Plan.AccuracyMarginPct/100, alpha)
	rates := fmt.Sprintf("candidate wrong on %d of %d labelled answers (%s), champion on %d of %d (%s)", c.Errors, c.N, pct(float64(c.Errors)/math.Max(1, float64(c.N))), b.Errors, b.N, pct(float64(b.Errors)/math.Max(1, float64(b.N))))
	switch t.Verdict {
	case VerdictFail:
		t.Reason = fmt.Sprintf("Realised accuracy: %s; the candidate is wrong more often (Fisher's exact test p = %.2g) and by more than the %s margin (at least %s more).", rates, t.PValue, pct(t.Margin), pct(t.Low))
	case VerdictPass:
		t.Reason = fmt.Sprintf("Realised accuracy: %s; the candidate is wrong at most %s more often, within the %s margin.", rates, pct(math.Max(0, t.High)), pct(t.Margin))
	default:
		if c.N < minErrorSample || b.N < minErrorSample {
			t.Reason = fmt.Sprintf("Realised accuracy: %s; at least %d labelled answers on each side are needed.", rates, minErrorSample)
		} else {
			t.Reason = fmt.Sprintf("Realised accuracy: %s; the candidate could still be wrong up to %s more often, above the %s margin: more labels are needed.", rates, pct(t.High), pct(t.Margin))
		}
	}
	return &t, c.N
}

func shareName(st Stage) string {
	if st.Shadow {
		return "shadow"
	}
	return fmt.Sprintf("%g %%", st.Percent)
}

// advance closes a passed stage and enters the next one, or promotes.
func (s *Service) advance(run *rampRun, msg string) bool {
	now := s.now().UnixMilli()
	run.mu.Lock()
	rep := &run.r.Stages[len(run.r.Stages)-1]
	rep.Verdict, rep.Ended = VerdictPass, now
	run.r.Events = append(run.r.Events, RampEvent{Time: now, Kind: "passed", Message: msg})
	last := run.r.Stage+1 >= len(run.r.Plan.Stages)
	if last {
		run.r.Promoting = true
	} else {
		run.r.Stage++
	}
	dep := run.r.Deployment
	run.mu.Unlock()
	if last {
		s.saveRamp(run.get())
		return s.promote(run)
	}
	ld, err := s.get(dep)
	if err == nil {
		r := run.get()
		err = s.enterStage(run, ld, s.rampRecord(ld, r, "deployment.ramp_stage", fmt.Sprintf("v%d passed stage %d and enters stage %d", r.Candidate, r.Stage, r.Stage+1)))
	}
	if err != nil {
		s.rollBack(run, RampFailed, "failed", "The next stage could not start: "+core.ErrorMessage(err), nil)
		return true
	}
	return false
}

// promote gives the candidate all traffic and moves the model's
// @champion alias to it (clearing @challenger when it named the
// candidate). Each step is idempotent, so a restart in between redoes it.
func (s *Service) promote(run *rampRun) bool {
	r := run.get()
	ld, err := s.get(r.Deployment)
	if err != nil {
		return false // the deployment is coming back; try at the next look
	}
	ld.watch.Store(nil)
	if _, err := s.routeAs(r.Deployment, func(rt *router.Router) error {
		return rt.SetTraffic(router.Traffic{Split: []router.Split{{Backend: r.CandidateBackend, Weight: 100}}})
	}, s.rampRecord(ld, r, "deployment.ramp_promote", fmt.Sprintf("v%d passed every stage and takes all traffic", r.Candidate))); err != nil {
		s.rollBack(run, RampFailed, "failed", "The candidate could not be given all traffic: "+core.ErrorMessage(err), nil)
		return true
	}
	now := s.now().UnixMilli()
	msg := fmt.Sprintf("v%d promoted: it takes all traffic and is @champion.", r.Candidate)
	if r.Follow != "" {
		// The alias moved first and started this ramp; it names the
		// candidate already.
		msg = fmt.Sprintf("v%d promoted: it takes all traffic, as @%s says.", r.Candidate, r.Follow)
	} else {
		moves := map[string]int{"champion": r.Candidate}
		if m, err := s.cfg.Registry.Get(r.Model); err == nil && m.Aliases["challenger"] == r.Candidate {
			moves["challenger"] = 0
		}
		if _, err := s.cfg.Registry.SetAliases(r.Model, moves); err != nil {
			msg = fmt.Sprintf("v%d takes all traffic, but the @champion alias could not be moved: %s", r.Candidate, core.ErrorMessage(err))
		}
	}
	run.mu.Lock()
	run.r.State, run.r.Promoting, run.r.Share, run.r.Finished = RampPromoted, false, 100, now
	run.r.Events = append(run.r.Events, RampEvent{Time: now, Kind: "promoted", Message: msg})
	final := cloneRamp(run.r)
	run.mu.Unlock()
	s.endRun(run, final)
	return true
}

// rollBack gives the champion all traffic at once (the next request goes
// to it), then records why. An abort is recorded as the one who asked
// for it (req), a failure as the watch's.
func (s *Service) rollBack(run *rampRun, state, kind, reason string, req *abortRequest) {
	r := run.get()
	if ld, err := s.get(r.Deployment); err == nil {
		ld.watch.Store(nil)
		rec := s.rampRecord(ld, r, "deployment.ramp_rollback", fmt.Sprintf("v%d rolled back: %s", r.Candidate, reason))
		if req != nil {
			rec = func(before, after router.Traffic) *audit.Record {
				if req.quiet {
					return quiet
				}
				out := s.rampRecord(ld, r, "deployment.ramp_abort", fmt.Sprintf("ramp of v%d aborted: %s", r.Candidate, reason))(before, after)
				out.Actor = req.actor
				return out
			}
		}
		if _, err := s.routeAs(r.Deployment, func(rt *router.Router) error {
			return rt.SetTraffic(router.Traffic{Split: []router.Split{{Backend: r.ChampionBackend, Weight: 100}, {Backend: r.CandidateBackend, Weight: 0}}})
		}, rec); err != nil {
			s.cfg.Log.Error("a ramp could not roll back", "ramp", r.ID, "err", err)
		}
	}
	now := s.now().UnixMilli()
	run.mu.Lock()
	if n := len(run.r.Stages); n > 0 && run.r.Stages[n-1].Ended == 0 {
		run.r.Stages[n-1].Ended = now
		if kind == "failed" {
			run.r.Stages[n-1].Verdict = VerdictFail
		}
	}
	run.r.State, run.r.Reason, run.r.Share, run.r.Finished, run.r.Promoting = state, reason, 0, now, false
	run.r.Events = append(run.r.Events, RampEvent{Time: now, Kind: kind, Message: reason})
	run.r.Events = append(run.r.Events, RampEvent{Time: now, Kind: "rolled_back", Message: fmt.Sprintf("v%d has all traffic again; v%d has none.", r.Champion, r.Candidate)})
	final := cloneRamp(run.r)
	run.mu.Unlock()
	s.endRun(run, final)
}

func (s *Service) endRun(run *rampRun, final Ramp) {
	if err := s.saveRamp(final); err != nil {
		s.cfg.Log.Error("a finished ramp could not be saved", "ramp", final.ID, "err", err)
	}
	s.mu.Lock()
	if s.ramps[final.Deployment] == run {
		delete(s.ramps, final.Deployment)
	}
	s.mu.Unlock()
	s.kickFollower() // its note says how the ramp ended
}

// AbortRamp ends a ramp by hand: the champion gets all traffic back on
// the next request.
func (s *Service) AbortRamp(id string) (Ramp, error) {
	r, err := s.Ramp(id)
	if err != nil {
		return Ramp{}, err
	}
	run := s.runOf(r.Deployment, id)
	if run == nil {
		return r, core.Errorf(core.Conflict, "This ramp is not in progress (it is %s).", r.State)
	}
	return s.abortRun(run, "Aborted by hand.", false)
}

// abortRun stops a ramp in progress and waits for its roll-back; the
// record is the caller's (quiet: none, see abortRequest).
func (s *Service) abortRun(run *rampRun, reason string, quiet bool) (Ramp, error) {
	select {
	case run.abort <- abortRequest{reason: reason, actor: audit.Current(), quiet: quiet}:
	default:
	}
	<-run.done
	return s.Ramp(run.get().ID)
}

func (s *Service) runOf(deployment, id string) *rampRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	if run := s.ramps[deployment]; run != nil && run.id == id {
		return run
	}
	return nil
}

// Ramp returns a ramp: live figures while it runs, the record after.
func (s *Service) Ramp(id string) (Ramp, error) {
	var r Ramp
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, rampKey(id), &r) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return r, core.Errorf(core.NotFound, "There is no ramp %q.", id)
	}
	if err != nil {
		return r, core.Wrap(err, core.Internal, "The ramp %q could not be read.", id)
	}
	if run := s.runOf(r.Deployment, id); run != nil {
		return run.get(), nil
	}
	return r, nil
}

// Ramps lists a deployment's ramps, newest first.
func (s *Service) Ramps(deploymentID string) ([]Ramp, error) {
	var out []Ramp
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{prefixRamp}, true, func(r Ramp) error {
			if r.Deployment == deploymentID {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The ramps could not be read.")
	}
	for i, r := range out {
		if run := s.runOf(r.Deployment, r.ID); run != nil {
			out[i] = run.get()
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, nil
}

// WaitRamp blocks until the ramp ends or ctx is done, and returns it.
func (s *Service) WaitRamp(ctx context.Context, id string) (Ramp, error) {
	for {
		r, err := s.Ramp(id)
		var done <-chan struct{}
		if err == nil {
			if run := s.runOf(r.Deployment, id); run != nil {
				select {
				case <-run.done: // its driver stopped (the service is closing)
				default:
					done = run.done
				}
			}
		}
		// Ended, and its driver gone: the deployment is free for the next.
		if err != nil || (r.Done() && done == nil) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-done:
		case <-time.After(500 * time.Millisecond): // not driven yet (a restart in progress)
		}
	}
}

// resumeRamps drives again every ramp that was running when Tern last
// stopped, at the stage it was in, with the evidence of its last
// checkpoint.
func (s *Service) resumeRamps() {
	var running []Ramp
	s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{prefixRamp}, false, func(r Ramp) error {
			if r.State == RampRunning {
				running = append(running, r)
			}
			return nil
		})
	})
	for _, r := range running {
		var cp rampCheckpoint
		cpErr := s.cfg.Store.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, evidenceKey(r.ID), &cp) })
		now := s.now().UnixMilli()
		ld, err := s.get(r.Deployment)
		if err != nil {
			r.State, r.Finished = RampFailed, now
			r.Reason = "The deployment did not come back after a restart, so its ramp ended."
			r.Events = append(r.Events, RampEvent{Time: now, Kind: "failed", Message: r.Reason})
			s.saveRamp(r)
			continue
		}
		run := &rampRun{id: r.ID, r: r, abort: make(chan abortRequest, 1), done: make(chan struct{})}
		run.ev = newEvidence(r.CandidateBackend, r.ChampionBackend, r.Plan.Stages[r.Stage].Shadow)
		if cpErr == nil && cp.Stage == r.Stage {
			run.ev.restore(cp.Candidate, cp.Champion)
		}
		c, _ := run.ev.snapshot()
		run.r.Events = append(run.r.Events, RampEvent{Time: now, Kind: "resumed", Message: fmt.Sprintf("Resumed after a restart at stage %d, with %d candidate requests already seen.", r.Stage+1, c.N)})
		s.mu.Lock()
		s.ramps[r.Deployment] = run
		s.mu.Unlock()
		if !r.Promoting {
			ld.watch.Store(run.ev)
			if _, err := s.route(r.Deployment, func(rt *router.Router) error { return rt.SetTraffic(stageTraffic(r)) }); err != nil {
				s.rollBack(run, RampFailed, "failed", "The stage's split could not be restored after a restart: "+core.ErrorMessage(err), nil)
				continue
			}
		}
		s.saveRamp(run.get())
		s.launchRun(run)
	}
}

// stopRamps ends the service's drivers without ending their ramps (each
// checkpoints and resumes at the next start).
func (s *Service) stopRamps() {
	s.mu.Lock()
	var runs []*rampRun
	for _, run := range s.ramps {
		runs = append(runs, run)
	}
	s.mu.Unlock()
	for _, run := range runs {
		if run.cancel != nil {
			run.cancel()
			<-run.done
		}
	}
}

// rampOn is the ramp in progress on a deployment, if any.
func (s *Service) rampOn(deploymentID string) *rampRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ramps[deploymentID]
}

// ActiveRamp returns the ramp in progress on a deployment, if any.
func (s *Service) ActiveRamp(deploymentID string) (Ramp, bool) {
	s.mu.Lock()
	run := s.ramps[deploymentID]
	// A ramp still launching its candidate has no record yet.
	started := run != nil && run.id != ""
	s.mu.Unlock()
	if started {
		// A ramp that has just ended is still being put away.
		if r := run.get(); !r.Done() {
			return r, true
		}
	}
	return Ramp{}, false
}

// endRampFor aborts the ramp on a deployment, if any, and waits for it.
func (s *Service) endRampFor(deploymentID, reason string) {
	run := s.rampOn(deploymentID)
	if run == nil || run.cancel == nil {
		return
	}
	s.abortRun(run, reason, true)
}
