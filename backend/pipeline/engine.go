package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/store"
)

// Event topics on the bus.
const (
	TopicRun  = "pipeline.run"  // Run, on every state change
	TopicStep = "pipeline.step" // StepRecord, on every state change and log line
	// TopicChanged carries {"pipelineId"} when a pipeline is saved or deleted.
	TopicChanged = "pipeline.changed"
)

// DefaultLimit is how many runs execute at once across all pipelines;
// more wait as queued. Two keeps a laptop responsive while one run trains.
const DefaultLimit = 2

const maxLogLines = 500

// Config is what an engine needs; main.go fills it.
type Config struct {
	Store *store.Store
	Bus   *core.Bus
	Types *Types
	Clock core.Clock
	Log   *slog.Logger
	// Limit caps runs executing at once across pipelines; 0 means
	// DefaultLimit.
	Limit int
	// Datasets, when set, lets dataset triggers read new versions and
	// folder triggers import new files (*dataset.Service).
	Datasets interface {
		Version(versionID string) (dataset.Version, error)
		ImportPath(ctx context.Context, path string, opts dataset.Options) (dataset.Version, error)
	}
	// Tick is how often schedules are checked; 0 means 15 s.
	Tick time.Duration
}

// Engine stores pipelines and runs them: a durable executor whose every
// state change is written to Badger before it is acted on, so a restart
// (or a SIGKILL) resumes runs where they were.
type Engine struct {
	cfg   Config
	types *Types
	clock core.Clock
	log   *slog.Logger

	// folderMu lets one look at the watched folders run at a time: two
	// overlapping looks both found a new file settled and fired two runs
	// for its one import.
	folderMu sync.Mutex

	mu     sync.Mutex
	ctx    context.Context // set by Run; nil until then
	active map[string]*driver
	kick   chan struct{}
	wg     sync.WaitGroup
	// events is subscribed in New, so triggers hear what happens between
	// building the engine and Run.
	events <-chan core.Event
	unsub  func()
	// settling holds each watched file's size and time at the last look
	// (folder triggers import a file once it stops changing).
	settling map[string]string
}

// driver is one run being executed by this process.
type driver struct {
	cancel context.CancelFunc
	wake   chan struct{}
}

// New builds an engine; Run starts executing.
func New(cfg Config) *Engine {
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	if cfg.Types == nil {
		cfg.Types = NewTypes()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Bus == nil {
		cfg.Bus = core.NewBus()
	}
	e := &Engine{cfg: cfg, types: cfg.Types, clock: core.OrSystem(cfg.Clock), log: cfg.Log,
		active: map[string]*driver{}, kick: make(chan struct{}, 1), settling: map[string]string{}}
	e.events, e.unsub = cfg.Bus.Subscribe(256)
	return e
}

// Types is the engine's step-type registry.
func (e *Engine) Types() *Types { return e.types }

func (e *Engine) now() time.Time { return e.clock.Now().UTC() }

// Run executes runs until ctx ends: first the runs a previous process left
// running (resumed, never restarted), then queued ones, oldest first,
// within the concurrency limit. When ctx ends it waits for its steps to
// return; steps in flight stay "running" in the store for the next start.
func (e *Engine) Run(ctx context.Context) {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.unsub()
		e.watchTriggers(ctx, e.events)
	}()
	e.signal()
	for {
		e.dispatch()
		select {
		case <-ctx.Done():
			e.wg.Wait()
			return
		case <-e.kick:
		}
	}
}

func (e *Engine) signal() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// dispatch starts drivers for running runs that have none (after a
// restart) and for queued runs while slots are free.
func (e *Engine) dispatch() {
	var running, queued []Run
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kRun}, false, func(r Run) error {
			switch r.State {
			case RunRunning:
				running = append(running, r)
			case RunQueued:
				queued = append(queued, r)
			}
			return nil
		})
	})
	if err != nil {
		e.log.Error("pipeline dispatch", "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	// busy holds pipelines with a run executing: the next run of the same
	// pipeline waits for it, so two runs never train the same data side by
	// side or ramp into the same deployment at once.
	busy := map[string]bool{}
	for _, r := range running {
		busy[r.PipelineID] = true
		if _, ok := e.active[r.ID]; !ok {
			e.startDriver(r.ID)
		}
	}
	for _, r := range queued {
		if len(e.active) >= e.cfg.Limit {
			break
		}
		if _, ok := e.active[r.ID]; ok || busy[r.PipelineID] {
			continue
		}
		if err := e.update(func(txn *badger.Txn) error {
			cur, err := getRun(txn, r.ID)
			if err != nil {
				return err
			}
			if cur.State != RunQueued {
				return errSkip
			}
			cur.State, cur.Started = RunRunning, e.now()
			return e.putRun(txn, cur)
		}); err != nil {
			if !errors.Is(err, errSkip) {
				e.log.Error("starting pipeline run", "run", r.ID, "err", err)
			}
			continue
		}
		busy[r.PipelineID] = true
		e.startDriver(r.ID)
	}
}

var errSkip = errors.New("skip")

// startDriver runs one run's loop; e.mu is held.
func (e *Engine) startDriver(runID string) {
	ctx, cancel := context.WithCancel(e.ctx)
	d := &driver{cancel: cancel, wake: make(chan struct{}, 1)}
	e.active[runID] = d
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				e.log.Error("pipeline run panicked", "run", runID, "panic", p)
			}
			e.mu.Lock()
			delete(e.active, runID)
			e.mu.Unlock()
			cancel()
			e.signal()
		}()
		e.drive(ctx, runID, d)
	}()
}

func (d *driver) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) update(fn func(txn *badger.Txn) error) error {
	return e.cfg.Store.DB.Update(fn)
}

func (e *Engine) putRun(txn *badger.Txn, r Run) error {
	return store.SetJSON(txn, runKey(r.ID), r)
}

func (e *Engine) publishRun(r Run)         { e.cfg.Bus.Publish(TopicRun, r) }
func (e *Engine) publishStep(s StepRecord) { e.cfg.Bus.Publish(TopicStep, s) }

// shuttingDown says the process is stopping (not the run being cancelled):
// steps in flight are then left "running" for the next start.
func (e *Engine) shuttingDown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ctx == nil || e.ctx.Err() != nil
}

// drive moves one run forward until it is final or the process stops.
// Each pass reads the run and its steps from the store, so what it acts on
// is exactly what a restart would see.
func (e *Engine) drive(ctx context.Context, runID string, d *driver) {
	inflight := map[string]bool{}
	// stopping holds the steps this driver has handed to an executor, so
	// a cancel never hands one a second time from a stale read.
	stopping := map[string]bool{}
	var mu sync.Mutex
	var steps sync.WaitGroup
	defer steps.Wait()
	for {
		var run Run
		var recs []StepRecord
		err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
			var err error
			if run, err = getRun(txn, runID); err != nil {
				return err
			}
			recs, err = getSteps(txn, run)
			return err
		})
		if err != nil {
			e.log.Error("reading pipeline run", "run", runID, "err", err)
			return
		}
		if run.State.Final() {
			return
		}
		byID := map[string]StepRecord{}
		for _, r := range recs {
			byID[r.Step] = r
		}
		mu.Lock()
		busy := len(inflight)
		mu.Unlock()
		if run.CancelRequested {
			d.cancel()
			// A step left running by a previous process is handed to its
			// executor with the cancelled context, so it stops what it
			// started (a training job) rather than leaving it running.
			for _, rec := range recs {
				mu.Lock()
				fly := inflight[rec.Step]
				mu.Unlock()
				if rec.State == StepRunning && !fly && !stopping[rec.Step] {
					stopping[rec.Step] = true
					busy++
					e.launch(ctx, run, rec, true, &mu, inflight, &steps, d)
				}
			}
			if busy > 0 {
				e.waitWake(ctx, d, true)
				continue
			}
			e.finishRun(runID, recs, true)
			return
		}
		started := 0
		waiting := false
		for _, id := range order(run.Pipeline) {
			rec := byID[id]
			mu.Lock()
			fly := inflight[id]
			mu.Unlock()
			if fly {
				continue
			}
			switch rec.State {
			case StepWaiting:
				waiting = true
			case StepRunning: // left running by a previous process (or approved): resume it
				started++
				stopping[id] = true
				e.launch(ctx, run, rec, true, &mu, inflight, &steps, d)
			case StepPending:
				s, _ := run.Pipeline.step(id)
				ready, blocked := true, false
				for _, up := range upstream(*s) {
					st := byID[up].State
					if !st.done() {
						ready = false
					}
					if st == StepFailed || st == StepSkipped || st == StepCancelled {
						blocked = true
					}
				}
				if blocked {
					rec.State = StepSkipped
					rec.Error = "An upstream step did not succeed."
					e.saveStep(rec)
					byID[id] = rec
					started++ // the pass changed something; look again
					continue
				}
				if ready {
					started++
					stopping[id] = true
					e.launch(ctx, run, rec, false, &mu, inflight, &steps, d)
				}
			}
		}
		mu.Lock()
		busy = len(inflight)
		mu.Unlock()
		if started == 0 && busy == 0 && !waiting {
			e.finishRun(runID, recs, false)
			return
		}
		if started == 0 && busy == 0 && waiting {
			// Only a person can move it now: park it so it holds no slot;
			// Decide queues it again.
			if e.park(runID) {
				return
			}
		}
		if started > 0 && busy == 0 {
			continue // only skips were written; re-read and go on
		}
		if !e.waitWake(ctx, d, false) {
			return // shutting down
		}
	}
}

// park moves a running run whose only movable steps wait for a person to
// RunWaiting; false when something changed meanwhile (a decision came in),
// so the driver looks again.
func (e *Engine) park(runID string) bool {
	var out Run
	err := e.update(func(txn *badger.Txn) error {
		r, err := getRun(txn, runID)
		if err != nil {
			return err
		}
		steps, err := getSteps(txn, r)
		if err != nil {
			return err
		}
		for _, st := range steps {
			if st.State == StepRunning {
				return errSkip // approved meanwhile
			}
		}
		if r.State != RunRunning || r.CancelRequested {
			return errSkip
		}
		r.State = RunWaiting
		out = r
		return e.putRun(txn, r)
	})
	if err != nil {
		return false
	}
	e.publishRun(out)
	return true
}

// waitWake waits for a step to end or the run to be poked; false when the
// process is stopping. afterCancel waits even though ctx (the run's) is
// already cancelled.
func (e *Engine) waitWake(ctx context.Context, d *driver, afterCancel bool) bool {
	if afterCancel {
		<-d.wake
		return !e.shuttingDown()
	}
	select {
	case <-d.wake:
		return true
	case <-ctx.Done():
		if e.shuttingDown() {
			return false
		}
		return true // cancelled: the next pass sees CancelRequested
	}
}

func (e *Engine) launch(ctx context.Context, run Run, rec StepRecord, resume bool, mu *sync.Mutex, inflight map[string]bool, wg *sync.WaitGroup, d *driver) {
	mu.Lock()
	inflight[rec.Step] = true
	mu.Unlock()
	wg.Add(1)
	go func() {
		// What a step changes (a registered version, an alias) is the
		// pipeline run's doing in the audit trail.
		defer audit.Bind(audit.Actor{Face: audit.Pipeline, Who: run.ID})()
		defer func() {
			if p := recover(); p != nil {
				rec.State, rec.Error, rec.Finished = StepFailed, fmt.Sprintf("The step crashed inside Tern (%v).", p), e.now()
				e.saveStep(rec)
			}
			mu.Lock()
			delete(inflight, rec.Step)
			mu.Unlock()
			wg.Done()
			d.poke()
		}()
		e.execStep(ctx, run, rec, resume)
	}()
}

// saveStep writes a step record and announces it.
func (e *Engine) saveStep(rec StepRecord) {
	if rec.Finished.After(rec.Started) && !rec.Started.IsZero() {
		rec.DurationMs = rec.Finished.Sub(rec.Started).Milliseconds()
	}
	err := e.update(func(txn *badger.Txn) error {
		return store.SetJSON(txn, stepKey(rec.RunID, rec.Step), rec)
	})
	if err != nil {
		e.log.Error("saving pipeline step", "run", rec.RunID, "step", rec.Step, "err", err)
	}
	e.publishStep(rec)
}

// inputsOf resolves a step's inputs from its upstream records' outputs.
func (e *Engine) inputsOf(runID string, s Step) (map[string]Value, error) {
	out := map[string]Value{}
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		for name, ref := range s.Inputs {
			from, port, _ := ParseRef(ref)
			var up StepRecord
			if err := store.GetJSON(txn, stepKey(runID, from), &up); err != nil {
				return err
			}
			v, ok := up.Outputs[port]
			if !ok {
				return core.Errorf(core.Invalid, "Step %q gave no output %q for input %q.", from, port, name)
			}
			out[name] = v
		}
		return nil
	})
	return out, err
}

// execStep runs (or reuses from the cache, or resumes) one step.
func (e *Engine) execStep(ctx context.Context, run Run, rec StepRecord, resume bool) {
	s, _ := run.Pipeline.step(rec.Step)
	def, ok := e.types.Get(s.Type)
	if !ok {
		rec.State, rec.Error, rec.Finished = StepFailed, fmt.Sprintf("This Tern has no step type %q any more.", s.Type), e.now()
		e.saveStep(rec)
		return
	}
	inputs, err := e.inputsOf(run.ID, *s)
	if err != nil {
		rec.State, rec.Error, rec.Finished = StepFailed, core.ErrorMessage(err), e.now()
		e.saveStep(rec)
		return
	}
	x := &Exec{Run: run, Step: *s, Inputs: inputs, e: e, rec: &rec}
	if !resume {
		rec.Inputs = inputs
		rec.Started, rec.Finished, rec.Error = e.now(), time.Time{}, ""
		rec.Outputs, rec.Handles, rec.CachedFrom, rec.JobID = map[string]Value{}, nil, "", ""
		if def.Type.Cacheable {
			key, err := e.cacheKeyOf(ctx, def, x)
			if err != nil {
				if e.shuttingDown() {
					return
				}
				rec.State, rec.Error, rec.Finished = StepFailed, core.ErrorMessage(err), e.now()
				e.saveStep(rec)
				return
			}
			rec.CacheKey = key
			if !run.NoCache {
				hit, ok := e.cached(key)
				if ok {
					ok = e.stillHolds(ctx, def, x, hit, &rec)
				}
				if ok {
					rec.State, rec.Outputs, rec.Links = StepCached, hit.Outputs, hit.Links
					rec.CachedFrom = hit.RunID + "/" + hit.Step
					rec.Finished = e.now()
					rec.Logs = append(rec.Logs, fmt.Sprintf("Reused the result of run %s, step %q: same inputs, fields and code.", hit.RunID, hit.Step))
					e.saveStep(rec)
					return
				}
			}
		}
		rec.State = StepRunning
		rec.Attempts++
		e.saveStep(rec)
	}
	outputs, err := def.Exec.Run(ctx, x)
	x.mu.Lock()
	defer x.mu.Unlock()
	rec.Finished = e.now()
	switch {
	case err == nil:
		if outputs == nil {
			outputs = map[string]Value{}
		}
		rec.State, rec.Outputs = StepSucceeded, outputs
		rec.DurationMs = rec.Finished.Sub(rec.Started).Milliseconds()
		err := e.update(func(txn *badger.Txn) error {
			if err := store.SetJSON(txn, stepKey(rec.RunID, rec.Step), rec); err != nil {
				return err
			}
			if def.Type.Cacheable && rec.CacheKey != "" {
				return store.SetJSON(txn, cacheKey(rec.CacheKey), cacheEntry{RunID: rec.RunID, Step: rec.Step})
			}
			return nil
		})
		if err != nil {
			e.log.Error("saving pipeline step", "run", rec.RunID, "step", rec.Step, "err", err)
		}
		e.publishStep(rec)
	case errors.Is(err, ErrWaiting):
		rec.State, rec.Finished = StepWaiting, time.Time{}
		e.saveStep(rec)
	case e.shuttingDown():
		// The process is stopping: the step stays "running" and the next
		// start resumes it (its executor finds its work by its handles).
	case ctx.Err() != nil:
		rec.State, rec.Error = StepCancelled, "Cancelled."
		e.saveStep(rec)
	default:
		rec.State, rec.Error = StepFailed, core.ErrorMessage(err)
		e.saveStep(rec)
	}
}

// ErrWaiting is returned by an executor that waits for a person (a gate's
// approval): the step goes to StepWaiting until Approve or Reject.
var ErrWaiting = errors.New("waiting for approval")

// stillHolds asks a Reuser whether a cache hit's outputs are still true
// of the world; a refusal is logged on the step, which then runs.
func (e *Engine) stillHolds(ctx context.Context, def Def, x *Exec, hit StepRecord, rec *StepRecord) bool {
	r, ok := def.Exec.(Reuser)
	if !ok {
		return true
	}
	why, err := r.Reusable(ctx, x, hit.Outputs)
	if err != nil {
		why = core.ErrorMessage(err)
	}
	if why == "" {
		return true
	}
	rec.Logs = append(rec.Logs, fmt.Sprintf("Run %s's result for step %q no longer holds (%s); running it again.", hit.RunID, hit.Step, strings.TrimSuffix(why, ".")))
	return false
}

// cached finds a successful step with key.
func (e *Engine) cached(key string) (StepRecord, bool) {
	var rec StepRecord
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		var ce cacheEntry
		if err := store.GetJSON(txn, cacheKey(key), &ce); err != nil {
			return err
		}
		if err := store.GetJSON(txn, stepKey(ce.RunID, ce.Step), &rec); err != nil {
			return err
		}
		rec.RunID, rec.Step = ce.RunID, ce.Step
		return nil
	})
	if err != nil || !rec.State.done() || rec.CacheKey != key {
		return StepRecord{}, false
	}
	if rec.CachedFrom != "" { // point at the step that really ran
		if i := strings.IndexByte(rec.CachedFrom, '/'); i > 0 {
			rec.RunID, rec.Step = rec.CachedFrom[:i], rec.CachedFrom[i+1:]
		}
	}
	return rec, true
}

// finishRun decides a run's final state from its steps.
func (e *Engine) finishRun(runID string, recs []StepRecord, cancelled bool) {
	var out Run
	err := e.update(func(txn *badger.Txn) error {
		r, err := getRun(txn, runID)
		if err != nil {
			return err
		}
		steps, err := getSteps(txn, r)
		if err != nil {
			return err
		}
		state := RunSucceeded
		r.Error = ""
		for _, s := range steps {
			switch {
			case cancelled && !s.State.final():
				s.State, s.Error = StepCancelled, "Cancelled."
				if s.Finished.IsZero() {
					s.Finished = e.now()
				}
				if err := store.SetJSON(txn, stepKey(runID, s.Step), s); err != nil {
					return err
				}
				e.publishStep(s)
			case s.State == StepFailed && r.Error == "":
				r.Error = fmt.Sprintf("Step %q failed: %s", s.Step, s.Error)
			}
			if !s.State.done() && state == RunSucceeded {
				state = RunFailed
			}
		}
		if cancelled || r.CancelRequested {
			state = RunCancelled
			r.Error = ""
		}
		r.State, r.Finished = state, e.now()
		out = r
		return e.putRun(txn, r)
	})
	if err != nil {
		e.log.Error("finishing pipeline run", "run", runID, "err", err)
		return
	}
	e.publishRun(out)
	e.signal()
}

// ---- pipelines ----

// Save validates p and stores it (a new ID when p.ID is empty). A pipeline
// with problems is refused whole, with the problems worded.
func (e *Engine) Save(p Pipeline) (Pipeline, error) {
	if err := Normalize(&p); err != nil {
		return Pipeline{}, err
	}
	if err := problemsError(Validate(p, e.types)); err != nil {
		return Pipeline{}, err
	}
	now := e.now()
	err := e.update(func(txn *badger.Txn) error {
		if p.ID == "" {
			p.ID = core.NewID()
			p.Created = now
		} else if old, err := getPipeline(txn, p.ID); err == nil {
			p.Created = old.Created
		} else if core.ErrorCode(err) != core.NotFound {
			return err
		} else {
			p.Created = now
		}
		if err := e.uniqueName(txn, p); err != nil {
			return err
		}
		p.Updated = now
		if err := audit.Append(txn, audit.Record{Action: "pipeline.save", Objects: []audit.Object{pipelineObj(p)},
			After: fmt.Sprintf("%d steps, %d triggers", len(p.Steps), len(p.Triggers))}); err != nil {
			return err
		}
		return store.SetJSON(txn, pipelineKey(p.ID), p)
	})
	if err != nil {
		return Pipeline{}, wrapStore(err, "save the pipeline")
	}
	e.cfg.Bus.Publish(TopicChanged, map[string]string{"pipelineId": p.ID})
	return p, nil
}

func (e *Engine) uniqueName(txn *badger.Txn, p Pipeline) error {
	return store.EachJSON(txn, []byte{kPipeline}, false, func(o Pipeline) error {
		if o.ID != p.ID && strings.EqualFold(o.Name, p.Name) {
			return core.Errorf(core.Conflict, "A pipeline called %q already exists; choose another name.", p.Name)
		}
		return nil
	})
}

func wrapStore(err error, what string) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.Wrap(err, core.Internal, "Tern could not %s.", what)
}

// Get returns a pipeline.
func (e *Engine) Get(id string) (Pipeline, error) {
	var p Pipeline
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		var err error
		p, err = getPipeline(txn, id)
		return err
	})
	return p, err
}

// List returns every pipeline with its newest run, newest pipeline first.
func (e *Engine) List() ([]Summary, error) {
	var out []Summary
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kPipeline}, true, func(p Pipeline) error {
			s := Summary{Pipeline: p}
			ids, err := runsOf(txn, p.ID)
			if err != nil {
				return err
			}
			s.Runs = len(ids)
			for i, id := range ids {
				r, err := getRun(txn, id)
				if err != nil {
					continue
				}
				if !r.State.Final() {
					s.Active++
				}
				if i == len(ids)-1 {
					r.Pipeline = Pipeline{} // the list needs the state, not the snapshot
					s.LastRun = &r
				}
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, wrapStore(err, "list the pipelines")
	}
	return out, nil
}

// Delete removes a pipeline and its finished runs. A pipeline with a run
// queued or running is refused: cancel the run first.
func (e *Engine) Delete(id string) error {
	err := e.update(func(txn *badger.Txn) error {
		p, err := getPipeline(txn, id)
		if err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "pipeline.delete", Objects: []audit.Object{pipelineObj(p)}}); err != nil {
			return err
		}
		ids, err := runsOf(txn, id)
		if err != nil {
			return err
		}
		for _, rid := range ids {
			r, err := getRun(txn, rid)
			if err != nil {
				return err
			}
			if !r.State.Final() {
				return core.Errorf(core.Conflict, "Run %d of this pipeline is %s; cancel it before deleting the pipeline.", r.Number, r.State)
			}
		}
		for _, rid := range ids {
			var keys [][]byte
			if err := store.EachKey(txn, stepPrefix(rid), func(k []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			}); err != nil {
				return err
			}
			keys = append(keys, runKey(rid), runIndexKey(id, rid))
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		// Cache entries pointing at deleted steps are found stale on read
		// (cached checks the record), so they need no sweep here.
		var keys [][]byte
		if err := store.EachKey(txn, triggerPrefix(id), func(k []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Delete(pipelineKey(id))
	})
	if err != nil {
		return wrapStore(err, "delete the pipeline")
	}
	e.cfg.Bus.Publish(TopicChanged, map[string]string{"pipelineId": id})
	return nil
}

// ---- runs ----

// Start makes a run of pipeline id by hand; it always makes a new run
// (a person asking twice means twice), queued behind the limit.
func (e *Engine) Start(id string, opt StartOptions) (Run, error) {
	return e.fire(id, Firing{Kind: TriggerManual, Detail: "started by hand", At: e.now()}, opt.NoCache, true)
}

// Fire records a trigger firing for pipeline id: a new queued run, or,
// when the pipeline coalesces and a run is already queued, the firing is
// added to that run. It returns the run that will serve the firing.
func (e *Engine) Fire(id string, f Firing) (Run, error) {
	if f.At.IsZero() {
		f.At = e.now()
	}
	return e.fire(id, f, false, false)
}

func (e *Engine) fire(id string, f Firing, noCache, always bool) (Run, error) {
	var out Run
	created := false
	err := e.update(func(txn *badger.Txn) error {
		p, err := getPipeline(txn, id)
		if err != nil {
			return err
		}
		ids, err := runsOf(txn, id)
		if err != nil {
			return err
		}
		if !always && p.OnActive != OnActiveQueue {
			for i := len(ids) - 1; i >= 0; i-- {
				r, err := getRun(txn, ids[i])
				if err != nil {
					return err
				}
				if r.State == RunQueued {
					r.Firings = append(r.Firings, f)
					out = r
					return e.putRun(txn, r)
				}
			}
		}
		r := Run{ID: core.NewID(), PipelineID: id, Pipeline: p.Clone(), Number: len(ids) + 1, State: RunQueued,
			NoCache: noCache, Firings: []Firing{f}, Created: e.now()}
		for _, s := range p.Steps {
			rec := StepRecord{RunID: r.ID, Step: s.ID, Type: s.Type, State: StepPending,
				Inputs: map[string]Value{}, Outputs: map[string]Value{}, Logs: []string{}, Links: []Link{}}
			if err := store.SetJSON(txn, stepKey(r.ID, s.ID), rec); err != nil {
				return err
			}
		}
		if err := txn.Set(runIndexKey(id, r.ID), nil); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "pipeline_run.start", Objects: []audit.Object{pipelineObj(p), runObj(r)},
			After: string(f.Kind) + ": " + f.Detail}); err != nil {
			return err
		}
		out, created = r, true
		return e.putRun(txn, r)
	})
	if err != nil {
		return Run{}, wrapStore(err, "start the pipeline")
	}
	if created {
		e.log.Info("pipeline run queued", "pipeline", out.Pipeline.Name, "run", out.Number, "trigger", f.Kind)
	}
	e.publishRun(out)
	e.signal()
	return out, nil
}

// GetRun returns a run with its steps.
func (e *Engine) GetRun(runID string) (RunDetail, error) {
	var d RunDetail
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		r, err := getRun(txn, runID)
		if err != nil {
			return err
		}
		d.Run = r
		d.Steps, err = getSteps(txn, r)
		return err
	})
	return d, err
}

// Runs lists a pipeline's runs, newest first (all pipelines' when id is
// empty), at most limit (0: 100). Runs carry no pipeline snapshot here.
func (e *Engine) Runs(id string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []Run
	err := e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		if id != "" {
			if _, err := getPipeline(txn, id); err != nil {
				return err
			}
			ids, err := runsOf(txn, id)
			if err != nil {
				return err
			}
			for i := len(ids) - 1; i >= 0 && len(out) < limit; i-- {
				r, err := getRun(txn, ids[i])
				if err != nil {
					return err
				}
				out = append(out, r)
			}
			return nil
		}
		return store.EachJSON(txn, []byte{kRun}, true, func(r Run) error {
			if len(out) >= limit {
				return errSkip
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil && !errors.Is(err, errSkip) {
		return nil, wrapStore(err, "list the runs")
	}
	for i := range out {
		out[i].Pipeline = Pipeline{ID: out[i].Pipeline.ID, Name: out[i].Pipeline.Name}
	}
	return out, nil
}

// Cancel stops a run: queued steps never start, running steps are asked
// to stop (a training job is cancelled), and the run ends "cancelled".
// The request is written first, so a restart finishes it.
func (e *Engine) Cancel(runID string) error {
	var r Run
	err := e.update(func(txn *badger.Txn) error {
		var err error
		if r, err = getRun(txn, runID); err != nil {
			return err
		}
		if r.State.Final() {
			return core.Errorf(core.Conflict, "Run %d has already ended (%s).", r.Number, r.State)
		}
		r.CancelRequested = true
		if err := audit.Append(txn, audit.Record{Action: "pipeline_run.cancel", Objects: []audit.Object{runObj(r)}, Before: string(r.State)}); err != nil {
			return err
		}
		if r.State == RunQueued || r.State == RunWaiting { // nothing runs: it ends here
			r.State, r.Finished = RunCancelled, e.now()
			steps, err := getSteps(txn, r)
			if err != nil {
				return err
			}
			for _, s := range steps {
				if s.State.final() { // a retried run keeps what succeeded
					continue
				}
				s.State, s.Error = StepCancelled, "Cancelled."
				if err := store.SetJSON(txn, stepKey(runID, s.Step), s); err != nil {
					return err
				}
			}
		}
		return e.putRun(txn, r)
	})
	if err != nil {
		return wrapStore(err, "cancel the run")
	}
	e.publishRun(r)
	e.mu.Lock()
	d := e.active[runID]
	e.mu.Unlock()
	if d != nil {
		d.cancel()
		d.poke()
	}
	return nil
}

// Retry runs a failed or cancelled step again, with the steps after it
// that did not run; steps that succeeded are kept. The run goes back to
// the queue.
func (e *Engine) Retry(runID, step string) (Run, error) {
	var r Run
	err := e.update(func(txn *badger.Txn) error {
		var err error
		if r, err = getRun(txn, runID); err != nil {
			return err
		}
		if !r.State.Final() {
			return core.Errorf(core.Conflict, "Run %d is still %s; retry a step once it has ended.", r.Number, r.State)
		}
		steps, err := getSteps(txn, r)
		if err != nil {
			return err
		}
		var target *StepRecord
		for i := range steps {
			if steps[i].Step == step {
				target = &steps[i]
			}
		}
		if target == nil {
			return core.Errorf(core.NotFound, "Run %d has no step %q.", r.Number, step)
		}
		if target.State != StepFailed && target.State != StepCancelled {
			return core.Errorf(core.Conflict, "Step %q %s; only a failed or cancelled step can be retried.", step, target.State)
		}
		for _, s := range steps {
			if s.Step == step || s.State == StepSkipped || s.State == StepCancelled || (s.State == StepFailed && downstreamOf(r.Pipeline, step, s.Step)) {
				s.State, s.Error, s.Finished = StepPending, "", time.Time{}
				if err := store.SetJSON(txn, stepKey(runID, s.Step), s); err != nil {
					return err
				}
			}
		}
		if err := audit.Append(txn, audit.Record{Action: "pipeline_run.retry", Objects: []audit.Object{runObj(r)}, After: "step " + step}); err != nil {
			return err
		}
		r.State, r.Finished, r.Error, r.CancelRequested = RunQueued, time.Time{}, "", false
		r.Firings = append(r.Firings, Firing{Kind: TriggerManual, Detail: fmt.Sprintf("retry of step %q", step), At: e.now()})
		return e.putRun(txn, r)
	})
	if err != nil {
		return Run{}, wrapStore(err, "retry the step")
	}
	e.publishRun(r)
	e.signal()
	return r, nil
}

// downstreamOf says whether step b reads (directly or not) from step a.
func downstreamOf(p Pipeline, a, b string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		if seen[id] {
			return false
		}
		seen[id] = true
		s, ok := p.step(id)
		if !ok {
			return false
		}
		for _, up := range upstream(*s) {
			if up == a || walk(up) {
				return true
			}
		}
		return false
	}
	return walk(b)
}

// Decide records a person's approval or rejection of a waiting step; an
// approval lets the step run again to finish (its executor reads the
// Approval), a rejection fails it.
func (e *Engine) Decide(runID, step string, approved bool, note string) (StepRecord, error) {
	var rec StepRecord
	err := e.update(func(txn *badger.Txn) error {
		if err := store.GetJSON(txn, stepKey(runID, step), &rec); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return core.Errorf(core.NotFound, "Run %s has no step %q.", runID, step)
			}
			return err
		}
		if rec.State != StepWaiting {
			return core.Errorf(core.Conflict, "Step %q is %s, not waiting for approval.", step, rec.State)
		}
		rec.Approval = &Approval{Approved: approved, Note: note, At: e.now()}
		verdict := "rejected"
		if approved {
			verdict = "approved"
		}
		if err := audit.Append(txn, audit.Record{Action: "pipeline_step.decide", Objects: []audit.Object{{Kind: "pipeline_run", ID: runID}},
			After: verdict + " step " + step + " " + note}); err != nil {
			return err
		}
		if approved {
			rec.State = StepRunning // resumed by the driver; the executor sees the approval
		} else {
			rec.State, rec.Finished = StepFailed, e.now()
			rec.Error = "Rejected by a person"
			if note != "" {
				rec.Error += ": " + note
			}
			rec.Error += "."
		}
		if err := store.SetJSON(txn, stepKey(runID, step), rec); err != nil {
			return err
		}
		r, err := getRun(txn, runID)
		if err != nil {
			return err
		}
		if r.State == RunWaiting { // parked: back in line for a slot
			r.State = RunQueued
			return e.putRun(txn, r)
		}
		return nil
	})
	if err != nil {
		return StepRecord{}, wrapStore(err, "record the decision")
	}
	e.publishStep(rec)
	e.signal()
	e.mu.Lock()
	d := e.active[runID]
	e.mu.Unlock()
	if d != nil {
		d.poke()
	}
	return rec, nil
}

func pipelineObj(p Pipeline) audit.Object {
	return audit.Object{Kind: "pipeline", ID: p.ID, Name: p.Name}
}

func runObj(r Run) audit.Object {
	return audit.Object{Kind: "pipeline_run", ID: r.ID, Name: fmt.Sprintf("%s #%d", r.Pipeline.Name, r.Number)}
}
