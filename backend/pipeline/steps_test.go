package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/fairness"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// world is the real services a pipeline calls: datasets, tracking, the
// runner (local processes running the real tern-runtime) and the registry.
type world struct {
	st       *store.Store
	bus      *core.Bus
	datasets *dataset.Service
	runner   *runner.Runner
	registry *registry.Service
	engine   *Engine
	dir      string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{st: store.MustOpen(t), bus: core.NewBus(), dir: t.TempDir()}
	blobs, err := blob.Open(filepath.Join(w.dir, "blobs"), w.st)
	require.NoError(t, err)
	w.datasets = dataset.NewService(w.st, blobs, w.bus, w.dir)
	track, err := tracking.NewService(w.st, w.bus, w.dir)
	require.NoError(t, err)
	bin := testenv.RuntimeBinary(t)
	w.runner, err = runner.New(runner.Config{Store: w.st, Bus: w.bus, Sink: runner.TrackingSink{Svc: track}, DataDir: w.dir,
		AppVersion: "test", RuntimeBinary: func() (string, error) { return bin, nil }})
	require.NoError(t, err)
	t.Cleanup(w.runner.Close)
	w.registry, err = registry.NewService(w.st, w.bus, w.dir, track)
	require.NoError(t, err)
	types := NewTypes()
	RegisterSteps(types, Services{Datasets: w.datasets, Trainer: w.runner, Registry: w.registry, Bus: w.bus,
		Evaluator: &evaluate.Service{Versions: w.registry, Datasets: w.datasets}, Ramper: &fakeRamper{},
		Fairness:      fairness.NewService(w.registry, w.datasets, w.bus),
		ImageIdentity: func(context.Context, string) (string, error) { return "builtin-test", nil }})
	w.engine = New(Config{Store: w.st, Bus: w.bus, Types: types, Datasets: w.datasets})
	stop := runEngine(w.engine)
	t.Cleanup(stop)
	return w
}

// writeChurn writes a small separable classification table.
func writeChurn(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("tenure,spend,plan,churned\n")
	for i := 0; i < n; i++ {
		tenure := rng.IntN(60)
		spend := rng.Float64() * 100
		plan := []string{"basic", "pro"}[rng.IntN(2)]
		churned := 0
		if tenure < 20 && spend > 40 {
			churned = 1
		}
		fmt.Fprintf(&b, "%d,%.2f,%s,%d\n", tenure, spend, plan, churned)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

const retrainYAML = `name: retrain churn
triggers:
  - kind: manual
steps:
  - id: data
    type: data.newest
    fields: {dataset: churn}
  - id: check
    type: validate
    inputs: {version: data.version}
  - id: train
    type: train
    fields:
      target: churned
      params: {max_iter: 20, seed: 7}
    inputs: {version: check.version}
  - id: register
    type: register
    fields: {model: churn}
    inputs: {run: train.run}
  - id: tell
    type: notify
    fields:
      message: "{pipeline} #{run} made {after}"
      webhook: %s
    inputs: {after: register.model_version}
`

// The real loop: the newest version is validated, trained on by the
// runner, registered as @challenger with its lineage, announced on the
// bus and to a webhook; a second run with nothing changed is fully
// cached; a new version that breaks a rule stops the run naming the rule,
// column and value.
func TestRealStepsEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	var posts atomic.Int32
	var posted Notification
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		_ = json.NewDecoder(r.Body).Decode(&posted)
	}))
	defer hook.Close()
	events, unsub := w.bus.Subscribe(256)
	defer unsub()

	csv := filepath.Join(w.dir, "churn.csv")
	writeChurn(t, csv, 400, 1)
	v1, err := w.datasets.ImportPath(ctx, csv, dataset.Options{Name: "churn"})
	require.NoError(t, err)
	_, err = w.datasets.SetRules(v1.DatasetID, []dataset.Rule{{Kind: dataset.RuleCategories, Column: "plan", Allowed: []string{"basic", "pro"}}})
	require.NoError(t, err)

	p, err := ParseYAML([]byte(fmt.Sprintf(retrainYAML, hook.URL)), w.engine.Types())
	require.NoError(t, err)
	p, err = w.engine.Save(p)
	require.NoError(t, err)
	run, err := w.engine.Start(p.ID, StartOptions{})
	require.NoError(t, err)
	d := waitRun(t, w.engine, run.ID)
	require.Equal(t, RunSucceeded, d.Run.State, "%s\n%+v", d.Run.Error, d.Steps)

	steps := map[string]StepRecord{}
	for _, s := range d.Steps {
		steps[s.Step] = s
		assert.Equal(t, StepSucceeded, s.State, s.Step)
	}
	assert.Equal(t, v1.ID, steps["data"].Outputs["version"].ID)
	assert.Equal(t, "sha256:"+v1.Digest, steps["data"].Outputs["version"].Identity)
	assert.Contains(t, strings.Join(steps["check"].Logs, "\n"), "passed all 1 rules")
	tr := steps["train"]
	require.NotEmpty(t, tr.JobID)
	job, err := w.runner.Get(tr.JobID)
	require.NoError(t, err)
	assert.Equal(t, runner.Succeeded, job.State)
	assert.Equal(t, "retrain churn #1 · train", job.Spec.Name)
	assert.Equal(t, job.RunID, tr.Outputs["run"].ID)

	mv := steps["register"].Outputs["model_version"]
	assert.Equal(t, "churn:1", mv.ID)
	ver, err := w.registry.Version("churn", "challenger")
	require.NoError(t, err)
	assert.Equal(t, 1, ver.Version)
	assert.Equal(t, job.RunID, ver.RunID, "lineage: version → run")
	assert.Equal(t, v1.ID, ver.DatasetVersion, "lineage: run → data version")
	assert.Equal(t, run.ID, ver.Tags[TagPipelineRun], "lineage: pipeline run → version")
	assert.Contains(t, steps["register"].Links, Link{Kind: "model_version", ID: "churn:1", Label: "churn v1"})

	assert.Equal(t, int32(1), posts.Load())
	assert.Equal(t, "retrain churn #1 made churn v1", posted.Message)

	// The audit trail holds the start (by hand) and the registration,
	// attributed to the pipeline run.
	trail, err := audit.Open(w.st)
	require.NoError(t, err)
	defer trail.Close()
	regs, err := trail.List(audit.Query{Action: "model_version.register"})
	require.NoError(t, err)
	require.Len(t, regs, 1)
	assert.Equal(t, audit.Actor{Face: audit.Pipeline, Who: run.ID}, regs[0].Actor)
	starts, err := trail.List(audit.Query{Action: "pipeline_run.start"})
	require.NoError(t, err)
	require.Len(t, starts, 1)
	assert.Equal(t, "manual: started by hand", starts[0].After)
	sawNotify, sawStep := false, false
	for len(events) > 0 {
		ev := <-events
		if ev.Topic == TopicNotify {
			sawNotify = true
		}
		if ev.Topic == TopicStep {
			sawStep = true
		}
	}
	assert.True(t, sawNotify && sawStep, "progress and the notification went out on the bus")

	// Nothing changed: the second run is fully cached, no job, no version.
	jobs, _ := w.runner.List()
	run2, err := w.engine.Start(p.ID, StartOptions{})
	require.NoError(t, err)
	d2 := waitRun(t, w.engine, run2.ID)
	require.Equal(t, RunSucceeded, d2.Run.State)
	for _, s := range d2.Steps {
		assert.Equal(t, StepCached, s.State, s.Step)
	}
	jobs2, _ := w.runner.List()
	assert.Equal(t, len(jobs), len(jobs2), "no training job ran")
	vs, _ := w.registry.Versions("churn")
	assert.Len(t, vs, 1)
	assert.Equal(t, int32(1), posts.Load())

	// A new version with a value outside the allowed set stops the run at
	// validate, naming the rule, column and value; nothing is trained.
	bad := filepath.Join(w.dir, "churn2.csv")
	writeChurn(t, bad, 50, 2)
	b, _ := os.ReadFile(bad)
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), ",pro,", ",platinum,", 1)), 0o644))
	_, err = w.datasets.ImportPath(ctx, bad, dataset.Options{Name: "churn"})
	require.NoError(t, err)
	run3, _ := w.engine.Start(p.ID, StartOptions{})
	d3 := waitRun(t, w.engine, run3.ID)
	assert.Equal(t, RunFailed, d3.Run.State)
	assert.Equal(t, map[string]StepState{"data": StepSucceeded, "check": StepFailed, "train": StepSkipped, "register": StepSkipped, "tell": StepSkipped}, stepStates(d3))
	assert.Contains(t, d3.Run.Error, `Step "check" failed: churn v2 failed rule categories on column "plan" (value platinum, line`)
	jobs3, _ := w.runner.List()
	assert.Equal(t, len(jobs), len(jobs3))
	_ = time.Second
}

// Evaluate and gate with the real services: the candidate and champion
// scored on the same new rows, the gate passing on a loose margin,
// stopping on an impossible one (naming the figures), and waiting for a
// person when asked.
func TestEvaluateAndGate(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	csv := filepath.Join(w.dir, "churn.csv")
	writeChurn(t, csv, 400, 1)
	_, err := w.datasets.ImportPath(ctx, csv, dataset.Options{Name: "churn"})
	require.NoError(t, err)

	build := func(name, gate string) Pipeline {
		y := fmt.Sprintf(`name: %s
steps:
  - id: data
    type: data.newest
    fields: {dataset: churn}
  - id: train
    type: train
    fields: {target: churned, params: {max_iter: 20, seed: %d}}
    inputs: {version: data.version}
  - id: register
    type: register
    fields: {model: churn}
    inputs: {run: train.run}
  - id: eval
    type: evaluate
    fields: {all_rows: true, replicates: 200}
    inputs: {candidate: register.model_version, rows: data.version}
  - id: gate
    type: gate
    fields: %s
    inputs: {report: eval.report}
`, name, len(name), gate)
		p, err := ParseYAML([]byte(y), w.engine.Types())
		require.NoError(t, err)
		p, err = w.engine.Save(p)
		require.NoError(t, err)
		return p
	}
	// The first model has no champion to beat: the difference rule passes
	// and says so. Then v1 becomes the champion.
	first := build("first", "{metric: roc_auc, min_candidate: 0.5, diff_above: -1}")
	r1, _ := w.engine.Start(first.ID, StartOptions{})
	d1 := waitRun(t, w.engine, r1.ID)
	require.Equal(t, RunSucceeded, d1.Run.State, d1.Run.Error)
	_, err = w.registry.SetAliases("churn", map[string]int{"champion": 1})
	require.NoError(t, err)

	strict := build("strict", "{metric: roc_auc, diff_above: 0.5}")
	r2, _ := w.engine.Start(strict.ID, StartOptions{})
	d2 := waitRun(t, w.engine, r2.ID)
	require.Equal(t, RunFailed, d2.Run.State)
	assert.Contains(t, d2.Run.Error, `Step "gate" failed: The gate stopped churn v2: Failed:`)
	rep := stepByID(d2, "eval").Outputs["report"]
	assert.Equal(t, "churn v1", rep.Attrs["champion"])
	assert.Contains(t, string(rep.Data), `"interval"`, "the report travels with the value")
	assert.Contains(t, strings.Join(stepByID(d2, "eval").Logs, "\n"), "interval [")

	approve := build("approve", "{metric: roc_auc, diff_above: -1, approval: true}")
	r3, _ := w.engine.Start(approve.ID, StartOptions{})
	require.Eventually(t, func() bool {
		d, _ := w.engine.GetRun(r3.ID)
		return stepByID(d, "gate").State == StepWaiting && d.Run.State == RunWaiting
	}, 30*time.Second, 10*time.Millisecond)
	_, err = w.engine.Decide(r3.ID, "train", true, "")
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "only a waiting step takes a decision")
	_, err = w.engine.Decide(r3.ID, "gate", true, "looks right")
	require.NoError(t, err)
	d3 := waitRun(t, w.engine, r3.ID)
	require.Equal(t, RunSucceeded, d3.Run.State, d3.Run.Error)
	g := stepByID(d3, "gate")
	assert.Equal(t, "churn:3", g.Outputs["candidate"].ID)
	assert.Contains(t, g.Logs, "Approved by a person: looks right.")

	// A rejection fails the run; each decision is one audit record.
	r4, _ := w.engine.Start(approve.ID, StartOptions{NoCache: true})
	require.Eventually(t, func() bool {
		d, _ := w.engine.GetRun(r4.ID)
		return stepByID(d, "gate").State == StepWaiting
	}, 30*time.Second, 10*time.Millisecond)
	_, err = w.engine.Decide(r4.ID, "gate", false, "not this week")
	require.NoError(t, err)
	d4 := waitRun(t, w.engine, r4.ID)
	assert.Equal(t, RunFailed, d4.Run.State)
	assert.Equal(t, `Step "gate" failed: Rejected by a person: not this week.`, d4.Run.Error)
	trail, err := audit.Open(w.st)
	require.NoError(t, err)
	defer trail.Close()
	decisions, err := trail.List(audit.Query{Action: "pipeline_step.decide"})
	require.NoError(t, err)
	assert.Len(t, decisions, 2)
}

func stepByID(d RunDetail, id string) StepRecord {
	for _, s := range d.Steps {
		if s.Step == id {
			return s
		}
	}
	return StepRecord{}
}

type lineageFakes struct {
	dv dataset.Version
	v  registry.Version
	d  deployment.Deployment
}

func (l lineageFakes) Get(string) (deployment.Deployment, error) { return l.d, nil }
func (l lineageFakes) Version(string, string) (registry.Version, error) {
	return l.v, nil
}
func (l lineageFakes) Monitors() ([]monitor.Monitor, error) {
	return []monitor.Monitor{{ID: "m1", Deployment: "churn-api"}, {ID: "m2", Deployment: "other"}}, nil
}

type datasetsOf struct{ dv dataset.Version }

func (d datasetsOf) Version(string) (dataset.Version, error) { return d.dv, nil }

// "Retrain on drift" from a deployment's lineage: the whole loop, with the
// served model's algorithm and parameters, triggered by its monitor.
func TestRetrainOnDriftTemplate(t *testing.T) {
	w := newWorld(t)
	l := lineageFakes{
		dv: dataset.Version{ID: "dv1", Dataset: "churn", Number: 3},
		v: registry.Version{Model: "churn", Version: 4, RunID: "r1", DatasetVersion: "dv1",
			Params: map[string]string{"model": "gbdt", "target": "churned", "learning_rate": "0.05", "max_iter": "80", "bogus": "x"}},
		d: deployment.Deployment{ID: "churn-api", Name: "churn-api", Model: "churn",
			Backends: []deployment.Instance{{Backend: "v4", Version: 4}}, Traffic: router.Traffic{Split: []router.Split{{Backend: "v4", Weight: 100}}}},
	}
	p, err := w.engine.RetrainOnDrift(Lineage{Deployments: l, Registry: l, Datasets: datasetsOf{l.dv}, Monitors: l}, "churn-api")
	require.NoError(t, err)
	assert.Equal(t, "Retrain churn-api on drift", p.Name)
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"data", "validate", "train", "register", "evaluate", "gate", "deploy", "watch", "notify"}, ids)
	assert.Equal(t, []Trigger{{Kind: TriggerManual}, {Kind: TriggerAlert, Monitor: "m1"}}, p.Triggers)
	trail, err := audit.Open(w.st)
	require.NoError(t, err)
	defer trail.Close()
	saves, err := trail.List(audit.Query{Action: "pipeline.save"})
	require.NoError(t, err)
	assert.Len(t, saves, 1, "the template is one save")
	train, _ := p.step("train")
	assert.Equal(t, map[string]any{"learning_rate": 0.05, "max_iter": 80.0}, train.Fields["params"], "the served model's parameters, not unknown ones")
	assert.Equal(t, "churned", train.Fields["target"])
	gate, _ := p.step("gate")
	assert.Equal(t, 0.0, gate.Fields["diff_above"])
	assert.Equal(t, "gate.candidate", p.Steps[6].Inputs["candidate"])
	assert.Empty(t, Validate(p, w.engine.Types()))

	again, err := w.engine.RetrainOnDrift(Lineage{Deployments: l, Registry: l, Datasets: datasetsOf{l.dv}}, "churn-api")
	require.NoError(t, err)
	assert.Equal(t, "Retrain churn-api on drift (2)", again.Name)
	assert.Equal(t, []Trigger{{Kind: TriggerManual}}, again.Triggers)

	l.v.RunID = ""
	_, err = w.engine.RetrainOnDrift(Lineage{Deployments: l, Registry: l, Datasets: datasetsOf{l.dv}}, "churn-api")
	assert.Contains(t, core.ErrorMessage(err), "was not trained in Tern")
}

// The gate's fairness rule: the candidate's predictions on its held-out
// rows, compared across a protected column's groups. A model whose
// outcomes follow the plan column is stopped, naming the metric, column,
// value and rows; one whose outcomes ignore it passes.
func TestGateFairnessRule(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	fair := filepath.Join(w.dir, "fair.csv")
	writeChurn(t, fair, 2000, 5) // churn follows tenure and spend; plan is noise
	_, err := w.datasets.ImportPath(ctx, fair, dataset.Options{Name: "fair"})
	require.NoError(t, err)
	unfair := filepath.Join(w.dir, "unfair.csv")
	rng := rand.New(rand.NewPCG(9, 1))
	var b strings.Builder
	b.WriteString("tenure,spend,plan,churned\n")
	for range 2000 {
		plan := []string{"basic", "pro"}[rng.IntN(2)]
		spend := rng.Float64() * 100
		churned := 0
		if plan == "basic" && spend > 30 { // the outcome follows the plan
			churned = 1
		}
		fmt.Fprintf(&b, "%d,%.2f,%s,%d\n", rng.IntN(60), spend, plan, churned)
	}
	require.NoError(t, os.WriteFile(unfair, []byte(b.String()), 0o644))
	_, err = w.datasets.ImportPath(ctx, unfair, dataset.Options{Name: "unfair"})
	require.NoError(t, err)

	def, _ := w.engine.Types().Get("gate")
	var names []string
	for _, f := range def.Type.Fields {
		names = append(names, f.Name)
	}
	assert.Subset(t, names, []string{"fairness_column", "fairness_metric", "fairness_max_diff", "fairness_min_group"}, "the builder's form shows the rule")

	run := func(ds string) RunDetail {
		y := fmt.Sprintf(`name: fairness %[1]s
steps:
  - id: data
    type: data.newest
    fields: {dataset: %[1]s}
  - id: train
    type: train
    fields: {target: churned, params: {max_iter: 30, seed: 7}}
    inputs: {version: data.version}
  - id: register
    type: register
    fields: {model: %[1]s}
    inputs: {run: train.run}
  - id: eval
    type: evaluate
    fields: {replicates: 200}
    inputs: {candidate: register.model_version}
  - id: gate
    type: gate
    fields: {metric: roc_auc, diff_above: -1, fairness_column: plan, fairness_metric: demographic_parity_difference, fairness_max_diff: 0.15}
    inputs: {report: eval.report}
`, ds)
		p, err := ParseYAML([]byte(y), w.engine.Types())
		require.NoError(t, err)
		p, err = w.engine.Save(p)
		require.NoError(t, err)
		r, err := w.engine.Start(p.ID, StartOptions{})
		require.NoError(t, err)
		return waitRunFor(t, w.engine, r.ID, time.Minute)
	}
	ok := run("fair")
	require.Equal(t, RunSucceeded, ok.Run.State, ok.Run.Error)
	assert.Contains(t, strings.Join(stepByID(ok, "gate").Logs, "\n"), `Fairness: demographic parity difference across "plan" is `)
	assert.Contains(t, strings.Join(stepByID(ok, "gate").Logs, "\n"), "on 400 held-out rows (at most 0.15 allowed)")

	bad := run("unfair")
	require.Equal(t, RunFailed, bad.Run.State)
	assert.Regexp(t, `^Step "gate" failed: The gate stopped unfair v1: its demographic parity difference across "plan" is 0\.[3-9]\d\d on its 400 held-out rows, above the 0\.15 allowed\.$`, bad.Run.Error)
}
