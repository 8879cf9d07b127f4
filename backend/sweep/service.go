package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// kSweep is the sweeps' key kind, in the training range the runner's keys
// live in (0x60–0x6f; the runner uses the first two).
const kSweep = store.PrefixRunner + 8

// TopicSweep carries a Sweep each time it changes.
const TopicSweep = "sweep.update"

// Tags on runs.
const (
	TagParent = "mlflow.parentRunId" // what MLflow reads as nesting
	TagSweep  = "tern.sweep"
	// TagTrial is "<sweep>/<trial>/<attempt>": how a restarted sweep finds
	// the job a trial was submitted as, so it is never submitted twice.
	TagTrial  = "tern.sweep.trial"
	TagPruned = "tern.sweep.pruned"
)

// Runner runs trials (runner.Runner through Jobs).
type Runner interface {
	Train(req runner.TrainRequest) (runner.Job, error)
	Get(id string) (runner.Job, error)
	Wait(ctx context.Context, id string) (runner.Job, error)
	Cancel(id string) error
	List() ([]runner.Job, error)
	Capacity() runner.Capacity
}

// Jobs runs trials on a runner, reading dataset versions through Data
// (runner.VersionData of the dataset service).
type Jobs struct {
	*runner.Runner
	Data func(versionID string) (runner.TrainData, error)
}

// Train queues one trial's job.
func (j Jobs) Train(req runner.TrainRequest) (runner.Job, error) { return j.Runner.Train(req, j.Data) }

// Runs is the tracking service as sweeps use it.
type Runs interface {
	CreateRun(spec tracking.RunSpec) (tracking.Run, error)
	GetRun(id string) (tracking.Run, error)
	SetTags(runID string, tags map[string]string) error
	LogMetrics(runID string, ms []tracking.Metric) error
	SetStatus(runID string, status tracking.Status, reason string) error
	MetricHistory(runID, key string) ([]tracking.Point, error)
}

// Registrar registers a run's model (registry.Service).
type Registrar interface {
	RegisterRun(name, runID, artifactPath string) (registry.Version, error)
}

// Config builds a Service.
type Config struct {
	Store  *store.Store
	Bus    *core.Bus
	Runner Runner
	Runs   Runs
	// Models may be nil (RegisterBest then says so).
	Models Registrar
}

// Service runs sweeps: one driver goroutine per running sweep.
type Service struct {
	cfg    Config
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[string]*driver
}

// New builds the service; Start resumes the sweeps a previous Tern left
// running.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Runner == nil || cfg.Runs == nil {
		return nil, core.Errorf(core.Internal, "sweep.New needs a store, a bus, a runner and runs.")
	}
	s := &Service{cfg: cfg, active: map[string]*driver{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Start resumes every sweep still running in the store. Call it after the
// runner's Start, so the trials' jobs are reattached first.
func (s *Service) Start(context.Context) error {
	all, err := s.load()
	if err != nil {
		return err
	}
	for _, sw := range all {
		if sw.State == Running {
			s.drive(sw)
		}
	}
	return nil
}

// Close stops driving sweeps; they stay running in the store and the next
// Start resumes them. Trial jobs keep running (the runner reattaches).
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// Create checks spec, opens the parent run and starts the sweep.
func (s *Service) Create(spec Spec) (Sweep, error) {
	spec, budget, err := s.check(spec)
	if err != nil {
		return Sweep{}, err
	}
	id := core.NewID()
	now := time.Now().UTC()
	sw := Sweep{ID: id, Spec: spec, State: Running, CreatedAt: now, Budget: budget, Best: -1, Trials: []Trial{}}
	if spec.MaxMinutes > 0 {
		sw.Deadline = now.Add(time.Duration(spec.MaxMinutes * float64(time.Minute)))
	}
	sw.Parallelism, sw.ParallelismWhy = parallelism(spec.Parallelism, s.cfg.Runner.Capacity(), spec.Train.Resources)
	params := map[string]string{
		"sweep.sampler": spec.Sampler, "sweep.objective": spec.Objective, "sweep.direction": direction(spec.Maximize),
		"sweep.trials": strconv.Itoa(budget), "sweep.seed": strconv.FormatUint(spec.Seed, 10),
		"sweep.parallelism": strconv.Itoa(sw.Parallelism),
	}
	if spec.Train.Model != "" {
		params["model"] = spec.Train.Model
	}
	for _, p := range spec.Space {
		params["space."+p.Name] = p.describe()
	}
	run, err := s.cfg.Runs.CreateRun(tracking.RunSpec{
		ExperimentID: spec.Train.ExperimentID, Name: spec.Name, Source: "tern sweep",
		DatasetVersion: spec.Train.DatasetVersionID, Params: params, Tags: map[string]string{TagSweep: id},
	})
	if err != nil {
		return Sweep{}, err
	}
	sw.ParentRunID = run.ID
	if err := s.save(&sw, audit.Record{Action: "sweep.create", Objects: sweepObj(sw), After: fmt.Sprintf("%s, %d trials", sw.Spec.Sampler, budget)}); err != nil {
		_ = s.cfg.Runs.SetStatus(run.ID, tracking.StatusFailed, core.ErrorMessage(err))
		return Sweep{}, err
	}
	s.drive(sw)
	return s.Get(id)
}

func direction(max bool) string {
	if max {
		return "maximize"
	}
	return "minimize"
}

func (p Param) describe() string {
	switch p.Kind {
	case Categorical:
		return "one of " + strings.Join(p.Choices, ", ")
	}
	s := fmt.Sprintf("%s %g–%g", p.Kind, p.Low, p.High)
	if p.Log {
		s += " (log)"
	}
	return s
}

// check applies defaults and refuses a spec that cannot run, in words.
func (s *Service) check(spec Spec) (Spec, int, error) {
	tr := spec.Train
	if tr.DatasetVersionID == "" {
		return spec, 0, core.Errorf(core.Invalid, "Choose a dataset version to train on.")
	}
	if spec.Sampler == "" {
		spec.Sampler = SamplerTPE
	}
	if spec.Seed == 0 {
		spec.Seed = 1
	}
	sampler, err := NewSampler(spec.Sampler, spec.Seed)
	if err != nil {
		return spec, 0, err
	}
	builtin := tr.Image == "" && tr.BuildDir == ""
	if builtin {
		model := tr.Model
		if model == "" {
			model = ml.AlgoGBDT
		}
		i := slices.IndexFunc(ml.Models(), func(m ml.ModelSpec) bool { return m.Name == model })
		if i < 0 {
			return spec, 0, core.Errorf(core.Invalid, "Unknown model %q: choose gbdt, logistic or linear.", model)
		}
		if err := spec.Space.ValidateFor(ml.Models()[i]); err != nil {
			return spec, 0, err
		}
	} else if err := spec.Space.Validate(); err != nil {
		return spec, 0, err
	}
	for _, p := range spec.Space {
		if _, fixed := tr.Params[p.Name]; fixed {
			return spec, 0, core.Errorf(core.Invalid, "Parameter %s is both held fixed and searched; remove it from one of them.", p.Name)
		}
	}
	if spec.Objective == "" {
		spec.Objective, spec.Maximize = "test_roc_auc", true
		if tr.Model == ml.AlgoLinear || tr.Task == ml.Regression {
			spec.Objective, spec.Maximize = "test_rmse", false
		}
	}
	if spec.MaxTrials <= 0 {
		spec.MaxTrials = 20
	}
	if spec.MaxTrials > 1000 {
		return spec, 0, core.Errorf(core.Invalid, "A sweep runs at most 1000 trials (asked: %d).", spec.MaxTrials)
	}
	if spec.MaxMinutes < 0 || math.IsNaN(spec.MaxMinutes) || math.IsInf(spec.MaxMinutes, 0) {
		return spec, 0, core.Errorf(core.Invalid, "The time budget must be a positive number of minutes, or 0 for none.")
	}
	if spec.Parallelism < 0 {
		return spec, 0, core.Errorf(core.Invalid, "Parallelism must be 0 (as the machine allows) or more.")
	}
	budget := spec.MaxTrials
	if g, ok := sampler.(Grid); ok {
		size := g.Size(spec.Space)
		if size > MaxGrid {
			return spec, 0, core.Errorf(core.Invalid, "The grid has more than %d points; search fewer values or use random or tpe.", MaxGrid)
		}
		budget = min(budget, size)
	}
	if spec.Prune.Enabled {
		spec.Prune = spec.Prune.withDefaults()
	}
	if builtin {
		// A base request the runtime would refuse fails every trial: say so
		// now, with the first trial's values in place.
		req := trialRequest(spec, sampler.Sample(spec.Space, nil, 0))
		raw, _ := json.Marshal(req.Params)
		var p ml.Params
		if err := json.Unmarshal(raw, &p); err != nil {
			return spec, 0, core.Errorf(core.Invalid, "The parameters do not fit the built-in models: %v.", err)
		}
		p.Target = tr.Target
		if _, err := p.WithDefaults(); err != nil {
			return spec, 0, err
		}
	}
	if spec.Name == "" {
		what := tr.Model
		if what == "" {
			what = tr.Image
		}
		if what == "" {
			what = ml.AlgoGBDT
		}
		spec.Name = fmt.Sprintf("sweep · %s · %s · %s", what, spec.Sampler, time.Now().Format("15:04"))
	}
	return spec, budget, nil
}

// parallelism is how many trials run at once: the runner's slots, the
// cores and memory divided by what one trial asks, and the person's cap.
func parallelism(want int, c runner.Capacity, res runner.Resources) (int, string) {
	cpus := res.CPUs
	if cpus <= 0 {
		cpus = runner.DefaultCPUs
	}
	mem := res.MemoryMB
	if mem <= 0 {
		mem = runner.DefaultMemoryMB
	}
	n := max(c.Slots, 1)
	why := fmt.Sprintf("the runner's %d job slots", n)
	if byCPU := max(int(float64(c.CPUs)/cpus), 1); byCPU < n {
		n, why = byCPU, fmt.Sprintf("%d cores at %g per trial", c.CPUs, cpus)
	}
	// Leave a fifth of the memory to Tern and everything else.
	if c.MemoryMB > 0 {
		if byMem := max(c.MemoryMB*8/10/mem, 1); byMem < n {
			n, why = byMem, fmt.Sprintf("%d MB of memory at %d MB per trial", c.MemoryMB, mem)
		}
	}
	if want > 0 && want < n {
		return want, fmt.Sprintf("your limit (the machine allows %d: %s)", n, why)
	}
	if want > n {
		return n, fmt.Sprintf("%s (you asked for %d)", why, want)
	}
	return n, why
}

// trialRequest is the base request with a trial's values among its
// params (ints as JSON integers, which the runtime's int fields need).
func trialRequest(spec Spec, values Assignment) runner.TrainRequest {
	req := spec.Train
	p := map[string]any{}
	for k, v := range spec.Train.Params {
		p[k] = v
	}
	for _, q := range spec.Space {
		v := values[q.Name]
		if q.Kind == Int {
			if f, ok := v.(float64); ok {
				v = int64(f)
			}
		}
		p[q.Name] = v
	}
	req.Params = p
	return req
}

// Get returns a sweep as it is now.
func (s *Service) Get(id string) (Sweep, error) {
	s.mu.Lock()
	d := s.active[id]
	s.mu.Unlock()
	if d != nil {
		return d.snapshot(), nil
	}
	var sw Sweep
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(store.Key(kSweep, []byte(id)))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &sw) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Sweep{}, core.Errorf(core.NotFound, "There is no sweep %s.", id)
	}
	if err != nil {
		return Sweep{}, core.Wrap(err, core.Internal, "Cannot read sweep %s.", id)
	}
	return sw, nil
}

// List returns every sweep, newest first.
func (s *Service) List() ([]Sweep, error) {
	all, err := s.load()
	if err != nil {
		return nil, err
	}
	for i := range all {
		if live, err := s.Get(all[i].ID); err == nil {
			all[i] = live
		}
	}
	return all, nil
}

func (s *Service) load() ([]Sweep, error) {
	var out []Sweep
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kSweep}, true, func(sw Sweep) error {
			out = append(out, sw)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot list sweeps.")
	}
	return out, nil
}

// save writes the sweep, with the audit records of the change when a
// person asked for it (a sweep's own progress is its runs' records).
func (s *Service) save(sw *Sweep, recs ...audit.Record) error {
	b, err := json.Marshal(sw)
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot encode sweep %s.", sw.ID)
	}
	if err := s.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		for _, r := range recs {
			if err := audit.Append(txn, r); err != nil {
				return err
			}
		}
		return txn.Set(store.Key(kSweep, []byte(sw.ID)), b)
	}); err != nil {
		return core.Wrap(err, core.Internal, "Cannot save sweep %s.", sw.ID)
	}
	return nil
}

// Cancel stops a sweep: no trial starts, running ones are stopped, and the
// parent run ends KILLED.
func (s *Service) Cancel(id string) (Sweep, error) {
	s.mu.Lock()
	d := s.active[id]
	s.mu.Unlock()
	if d == nil {
		sw, err := s.Get(id)
		if err != nil {
			return Sweep{}, err
		}
		return sw, core.Errorf(core.Conflict, "The sweep has already ended (%s).", sw.State)
	}
	d.mu.Lock()
	d.sw.CancelRequested = true
	err := s.save(&d.sw, audit.Record{Action: "sweep.cancel", Objects: sweepObj(d.sw), Before: string(d.sw.State)})
	d.mu.Unlock()
	if err != nil {
		return Sweep{}, err
	}
	d.poke()
	return d.snapshot(), nil
}

// Wait blocks until the sweep ends (or ctx does) and returns it.
func (s *Service) Wait(ctx context.Context, id string) (Sweep, error) {
	s.mu.Lock()
	d := s.active[id]
	s.mu.Unlock()
	if d != nil {
		select {
		case <-d.done:
		case <-ctx.Done():
			return Sweep{}, ctx.Err()
		}
	}
	return s.Get(id)
}

// Run is the blocking form a pipeline step uses: create the sweep, wait
// for it, return it (its Best trial and that trial's run). Cancelling ctx
// cancels the sweep.
func (s *Service) Run(ctx context.Context, spec Spec) (Sweep, error) {
	sw, err := s.Create(spec)
	if err != nil {
		return Sweep{}, err
	}
	out, err := s.Wait(ctx, sw.ID)
	if err != nil {
		_, _ = s.Cancel(sw.ID)
		return s.Wait(context.Background(), sw.ID)
	}
	return out, nil
}

// BestTrial returns the sweep's best complete trial.
func (sw Sweep) BestTrial() (Trial, bool) {
	if sw.Best < 0 || sw.Best >= len(sw.Trials) {
		return Trial{}, false
	}
	return sw.Trials[sw.Best], true
}

// RegisterBest registers the best trial's model as a new version of the
// named model.
func (s *Service) RegisterBest(id, model string) (registry.Version, error) {
	if s.cfg.Models == nil {
		return registry.Version{}, core.Errorf(core.Unavailable, "The model registry is not available.")
	}
	sw, err := s.Get(id)
	if err != nil {
		return registry.Version{}, err
	}
	best, ok := sw.BestTrial()
	if !ok {
		return registry.Version{}, core.Errorf(core.Conflict, "No trial of this sweep has completed yet, so there is no best one to register.")
	}
	v, err := s.cfg.Models.RegisterRun(model, best.RunID, "model")
	if err != nil {
		return registry.Version{}, err
	}
	name := fmt.Sprintf("%s v%d", v.Model, v.Version)
	_ = s.cfg.Runs.SetTags(sw.ParentRunID, map[string]string{"tern.sweep.registered": name})
	s.mu.Lock()
	d := s.active[id]
	s.mu.Unlock()
	if d != nil {
		d.mu.Lock()
		d.sw.Registered = name
		_ = s.save(&d.sw)
		d.mu.Unlock()
		d.publish()
	} else {
		sw.Registered = name
		_ = s.save(&sw)
		s.cfg.Bus.Publish(TopicSweep, sw)
	}
	return v, nil
}

// Detail is a sweep with what is computed from its trials.
type Detail struct {
	Sweep       Sweep        `json:"sweep"`
	Importances []Importance `json:"importances"`
}

// Detail returns the sweep and its parameter importances.
func (s *Service) Detail(id string) (Detail, error) {
	sw, err := s.Get(id)
	if err != nil {
		return Detail{}, err
	}
	imp := Importances(sw.Spec.Space, sw.Trials)
	if imp == nil {
		imp = []Importance{}
	}
	return Detail{Sweep: sw, Importances: imp}, nil
}

// summary says how a sweep ended, in a sentence.
func summary(sw *Sweep) string {
	counts := map[TrialState]int{}
	for _, t := range sw.Trials {
		counts[t.State]++
	}
	var parts []string
	for _, st := range []TrialState{TrialComplete, TrialPruned, TrialFailed, TrialCancelled} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	out := fmt.Sprintf("%d trials", len(sw.Trials))
	if len(parts) > 0 {
		out += ": " + strings.Join(parts, ", ")
	}
	if b, ok := sw.BestTrial(); ok {
		out += fmt.Sprintf(". Best: trial %d, %s %s", b.Number, sw.Spec.Objective, strconv.FormatFloat(*b.Value, 'g', 4, 64))
	}
	return out + "."
}

func sweepObj(sw Sweep) []audit.Object {
	return []audit.Object{{Kind: "sweep", ID: sw.ID, Name: sw.Spec.Name}, {Kind: "run", ID: sw.ParentRunID}}
}
