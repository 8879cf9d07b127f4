package sweep

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/tracking"
)

// driver runs one sweep: it starts trials while there is room and budget,
// settles them as their jobs end, and watches their validation curves for
// pruning. Every change is saved before it is acted on, in this order:
// a trial's values are saved (pending) before its job is submitted; the
// job carries the tag TagTrial; its job ID is saved once known. A restart
// between the submit and that save finds the job by its tag, so a trial
// is never submitted twice and never lost.
type driver struct {
	svc     *Service
	sampler Sampler
	mu      sync.Mutex
	sw      Sweep
	curves  map[int]*curve // the watched metric, by trial number
	byJob   map[string]int
	waiting map[int]bool // trials with a goroutine waiting on their job
	wake    chan struct{}
	done    chan struct{}
	dirty   bool // live curve progress not yet published
}

func (s *Service) drive(sw Sweep) {
	sampler, _ := NewSampler(sw.Spec.Sampler, sw.Spec.Seed)
	d := &driver{svc: s, sampler: sampler, sw: sw, curves: map[int]*curve{}, byJob: map[string]int{}, waiting: map[int]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.active[sw.ID] = d
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer audit.Bind(d.actor())() // trials, prunes and the end are the sweep's doing
		d.loop(s.ctx)
	}()
}

// actor is who the audit trail names for what the sweep does on its own.
func (d *driver) actor() audit.Actor { return audit.Actor{Face: audit.Tern, Who: "sweep " + d.sw.ID} }

func (d *driver) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *driver) snapshot() Sweep {
	d.mu.Lock()
	defer d.mu.Unlock()
	sw := d.sw
	sw.Trials = append([]Trial(nil), d.sw.Trials...)
	return sw
}

func (d *driver) publish() { d.svc.cfg.Bus.Publish(TopicSweep, d.snapshot()) }

// trialKey is the TagTrial value of a trial's attempt.
func (d *driver) trialKey(t *Trial) string {
	return fmt.Sprintf("%s/%d/%d", d.sw.ID, t.Number, t.Attempts)
}

func (d *driver) loop(ctx context.Context) {
	defer func() {
		d.svc.mu.Lock()
		delete(d.svc.active, d.sw.ID)
		d.svc.mu.Unlock()
		close(d.done)
	}()
	events, unsubscribe := d.svc.cfg.Bus.Subscribe(4096)
	defer unsubscribe()
	watchDone := make(chan struct{})
	watchCtx, stopWatch := context.WithCancel(ctx)
	go func() {
		defer close(watchDone)
		defer audit.Bind(d.actor())()
		d.watch(watchCtx, events)
	}()
	defer func() { stopWatch(); <-watchDone }()
	d.loadCurves()
	var timer <-chan time.Time
	if !d.sw.Deadline.IsZero() {
		t := time.NewTimer(max(time.Until(d.sw.Deadline), 0))
		defer t.Stop()
		timer = t.C
	}
	for {
		if ctx.Err() != nil {
			return // Tern is closing: the sweep stays running for the next start
		}
		if d.step(ctx) {
			return
		}
		select {
		case <-d.wake:
		case <-timer:
			timer = nil
		case <-ctx.Done():
			return
		}
	}
}

// loadCurves reads the watched curve of every trial that has a run, so a
// resumed sweep prunes against the trials finished before the restart.
func (d *driver) loadCurves() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.sw.Spec.Prune.Enabled {
		return
	}
	for i := range d.sw.Trials {
		t := &d.sw.Trials[i]
		if t.RunID != "" {
			d.curves[t.Number] = d.readCurve(t.RunID)
		}
	}
}

func (d *driver) readCurve(runID string) *curve {
	c := &curve{}
	pts, err := d.svc.cfg.Runs.MetricHistory(runID, d.sw.Spec.Prune.Metric)
	if err == nil {
		for _, p := range pts {
			c.add(p.Step, float64(p.Value))
		}
	}
	return c
}

// step does what can be done now; it reports whether the sweep ended.
func (d *driver) step(ctx context.Context) bool {
	d.mu.Lock()
	sw := &d.sw
	cancel := sw.CancelRequested
	var toCancel []string
	// Pending trials: adopt the job a previous Tern submitted, or submit.
	for i := range sw.Trials {
		t := &sw.Trials[i]
		if t.State != TrialPending {
			continue
		}
		if cancel {
			t.State, t.Reason, t.FinishedAt = TrialCancelled, "The sweep was cancelled before this trial started.", time.Now().UTC()
			continue
		}
		d.submit(t, true)
	}
	for i := range sw.Trials {
		t := &sw.Trials[i]
		if t.State == TrialRunning && !d.waiting[t.Number] {
			d.waiting[t.Number] = true
			d.byJob[t.JobID] = t.Number
			go d.await(ctx, t.Number, t.JobID)
		}
		if cancel && t.State == TrialRunning {
			toCancel = append(toCancel, t.JobID)
		}
	}
	// New trials while there is room and budget.
	if !cancel && sw.Reason == "" {
		for sw.running() < sw.Parallelism && d.canStart() {
			n := len(sw.Trials)
			values := d.sampler.Sample(sw.Spec.Space, sw.observations(), n)
			sw.Trials = append(sw.Trials, Trial{Number: n, Values: values, State: TrialPending})
			t := &sw.Trials[n]
			// Saved before the submit: a crash now leaves a pending trial
			// with its values, submitted (or found) on the next start.
			if err := d.svc.save(sw); err != nil {
				sw.Trials = sw.Trials[:n]
				sw.Reason = core.ErrorMessage(err)
				break
			}
			d.submit(t, false)
			if t.State == TrialRunning {
				d.waiting[n] = true
				d.byJob[t.JobID] = n
				go d.await(ctx, n, t.JobID)
			}
		}
	}
	ended := sw.running() == 0 && (cancel || sw.Reason != "" || !d.canStart())
	if ended {
		d.finish()
	}
	_ = d.svc.save(sw)
	d.mu.Unlock()
	for _, id := range toCancel {
		_ = d.svc.cfg.Runner.Cancel(id)
	}
	d.publish()
	return ended
}

// canStart: budget left, time left, and not failing from the start.
func (d *driver) canStart() bool {
	sw := &d.sw
	if len(sw.Trials) >= sw.Budget {
		return false
	}
	if !sw.Deadline.IsZero() && !time.Now().Before(sw.Deadline) {
		return false
	}
	return true
}

// submit sends a pending trial's job, or, when lookup is set (a trial
// left pending by a previous Tern, or a retry), first looks for the job
// already sent with its tag. Called with d.mu held.
func (d *driver) submit(t *Trial, lookup bool) {
	sw := &d.sw
	if t.Attempts == 0 {
		t.Attempts = 1
	}
	key := d.trialKey(t)
	var jobs []runner.Job
	if lookup {
		jobs, _ = d.svc.cfg.Runner.List()
	}
	for _, j := range jobs {
		if j.Spec.Tags[TagTrial] == key {
			t.JobID, t.RunID, t.State = j.ID, j.RunID, TrialRunning
			if t.StartedAt.IsZero() {
				t.StartedAt = j.CreatedAt
			}
			_ = d.svc.save(sw)
			return
		}
	}
	req := trialRequest(sw.Spec, t.Values)
	req.Name = fmt.Sprintf("%s · trial %d", sw.Spec.Name, t.Number)
	req.Tags = map[string]string{TagParent: sw.ParentRunID, TagSweep: sw.ID, TagTrial: key}
	j, err := d.svc.cfg.Runner.Train(req)
	if err != nil {
		t.State, t.Reason, t.FinishedAt = TrialFailed, core.ErrorMessage(err), time.Now().UTC()
		d.checkFailing()
		return
	}
	t.JobID, t.RunID, t.State, t.StartedAt = j.ID, j.RunID, TrialRunning, time.Now().UTC()
	if err := d.svc.save(sw); err != nil {
		// The job runs and carries its tag: the next start finds it.
		sw.Reason = core.ErrorMessage(err)
	}
}

// checkFailing stops a sweep whose first three trials all failed: the
// base request is wrong, and every other trial would fail the same way.
func (d *driver) checkFailing() {
	sw := &d.sw
	if len(sw.Trials) < 3 {
		return
	}
	for _, t := range sw.Trials[:3] {
		if t.State != TrialFailed {
			return
		}
	}
	if sw.Reason == "" {
		sw.Reason = "The first three trials failed, so the sweep stopped: " + sw.Trials[2].Reason
	}
}

// await waits for a trial's job to end and settles the trial.
func (d *driver) await(ctx context.Context, n int, jobID string) {
	defer audit.Bind(d.actor())()
	for {
		j, err := d.svc.cfg.Runner.Wait(ctx, jobID)
		if ctx.Err() != nil {
			return
		}
		if err != nil && core.ErrorCode(err) == core.NotFound {
			j = runner.Job{ID: jobID, State: runner.Failed, Reason: "The trial's job is gone from the runner."}
		}
		if err == nil && !j.State.Final() {
			// Not (yet) tracked by this runner: look again shortly.
			select {
			case <-time.After(500 * time.Millisecond):
				continue
			case <-ctx.Done():
				return
			}
		}
		d.settle(n, j)
		d.poke()
		return
	}
}

// settle records how a trial's job ended.
func (d *driver) settle(n int, j runner.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sw := &d.sw
	t := &sw.Trials[n]
	delete(d.waiting, n)
	delete(d.byJob, j.ID)
	if t.State.final() || t.JobID != j.ID {
		return
	}
	now := time.Now().UTC()
	if sw.Spec.Prune.Enabled && j.RunID != "" {
		d.curves[n] = d.readCurve(j.RunID)
		if st, v, ok := d.curves[n].last(); ok {
			t.Step, t.Last = st, &v
		}
	}
	switch {
	case j.State == runner.Succeeded:
		run, err := d.svc.cfg.Runs.GetRun(j.RunID)
		if err != nil {
			t.State, t.Reason = TrialFailed, core.ErrorMessage(err)
			break
		}
		p, ok := run.Metrics[sw.Spec.Objective]
		v := float64(p.Value)
		switch {
		case !ok:
			keys := make([]string, 0, len(run.Metrics))
			for k := range run.Metrics {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.State, t.Reason = TrialFailed, fmt.Sprintf("The run logged no metric %s (it logged: %s).", sw.Spec.Objective, strings.Join(keys, ", "))
			// Every trial would miss it: stop here and say why.
			sw.Reason = "The objective " + sw.Spec.Objective + " is not a metric the trials log; choose another. " + t.Reason
		case math.IsNaN(v) || math.IsInf(v, 0):
			t.State, t.Reason = TrialFailed, fmt.Sprintf("The objective %s came out as %v.", sw.Spec.Objective, v)
		default:
			t.State, t.Value, t.PruneAt = TrialComplete, &v, ""
			_ = d.svc.cfg.Runs.LogMetrics(sw.ParentRunID, []tracking.Metric{{Key: sw.Spec.Objective, Value: tracking.Float(v), Step: int64(n)}})
		}
	case j.State == runner.Cancelled && t.PruneAt != "":
		t.State, t.Reason = TrialPruned, t.PruneAt
		_ = d.svc.cfg.Runs.SetTags(j.RunID, map[string]string{TagPruned: t.PruneAt})
	case j.State == runner.Cancelled:
		t.State, t.Reason = TrialCancelled, j.Reason
	case j.State == runner.Crashed && t.Attempts < 2 && !sw.CancelRequested:
		// Lost with Tern (a local process) or crashed once: the same values
		// run again as attempt 2, so the trial is not lost.
		t.Attempts++
		t.State, t.JobID, t.RunID, t.Reason, t.Step, t.Last = TrialPending, "", "", "attempt 1: "+j.Reason, 0, nil
		delete(d.curves, n)
		_ = d.svc.save(sw)
		return
	default:
		t.State, t.Reason = TrialFailed, j.Reason
		d.checkFailing()
	}
	t.FinishedAt = now
	sw.updateBest()
	_ = d.svc.save(sw)
}

// finish ends the sweep and its parent run. Called with d.mu held.
func (d *driver) finish() {
	sw := &d.sw
	sw.updateBest()
	sw.FinishedAt = time.Now().UTC()
	status := tracking.StatusFinished
	switch {
	case sw.CancelRequested:
		sw.State, status = Cancelled, tracking.StatusKilled
		sw.Reason = "Cancelled. " + summary(sw)
	case sw.Reason != "":
		sw.State, status = Failed, tracking.StatusFailed
	default:
		sw.State = Finished
		sw.Reason = summary(sw)
	}
	if b, ok := sw.BestTrial(); ok {
		_ = d.svc.cfg.Runs.LogMetrics(sw.ParentRunID, []tracking.Metric{{Key: "best_" + sw.Spec.Objective, Value: tracking.Float(*b.Value)}})
		_ = d.svc.cfg.Runs.SetTags(sw.ParentRunID, map[string]string{"tern.sweep.best_run": b.RunID, "tern.sweep.best_trial": strconv.Itoa(b.Number)})
	}
	_ = d.svc.cfg.Runs.SetStatus(sw.ParentRunID, status, sw.Reason)
}

// watch follows the trials' metric events: live progress for the page,
// and the median rule.
func (d *driver) watch(ctx context.Context, events <-chan core.Event) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.mu.Lock()
			dirty := d.dirty
			d.dirty = false
			d.mu.Unlock()
			if dirty {
				d.publish()
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			if me, ok := ev.Data.(runner.MetricsEvent); ok && ev.Topic == runner.TopicMetrics {
				if jobID := d.observe(me); jobID != "" {
					_ = d.svc.cfg.Runner.Cancel(jobID)
				}
			}
		}
	}
}

// observe adds a metrics event to its trial's curve and returns the job
// to stop when the median rule says so.
func (d *driver) observe(me runner.MetricsEvent) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.byJob[me.JobID]
	if !ok {
		return ""
	}
	p := d.sw.Spec.Prune
	metric := p.Metric
	if metric == "" {
		metric = "val_loss"
	}
	c := d.curves[n]
	if c == nil {
		c = &curve{}
		d.curves[n] = c
	}
	seen := false
	for _, pt := range me.Points {
		if pt.Key == metric {
			c.add(pt.Step, pt.Value)
			seen = true
		}
	}
	if !seen {
		return ""
	}
	t := &d.sw.Trials[n]
	if st, v, ok := c.last(); ok {
		t.Step, t.Last = st, &v
		d.dirty = true
	}
	if !p.Enabled || t.State != TrialRunning || t.PruneAt != "" || d.sw.CancelRequested {
		return ""
	}
	var completed []*curve
	for _, o := range d.sw.Trials {
		if o.State == TrialComplete && d.curves[o.Number] != nil {
			completed = append(completed, d.curves[o.Number])
		}
	}
	prune, med, step := medianVerdict(p, c, completed)
	if !prune {
		return ""
	}
	t.PruneAt = fmt.Sprintf("Pruned at step %d: best %s %s, worse than the median %s of %d finished trials at that step.",
		step, metric, strconv.FormatFloat(c.best(), 'g', 4, 64), strconv.FormatFloat(med, 'g', 4, 64), len(completed))
	_ = d.svc.save(&d.sw)
	return t.JobID
}
