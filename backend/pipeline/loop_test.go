package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// The whole loop with the real Docker engine: training and serving in
// containers, the router in front, the prediction log, a drift monitor
// and the pipeline engine, all on one data dir and wired as main.go wires
// them (with short ticks). The same builder serves the in-process tests
// and the helper processes the SIGKILL test starts.

// loop is Tern's services on one data dir.
type loop struct {
	dir         string
	st          *store.Store
	bus         *core.Bus
	dc          *docker.Client
	datasets    *dataset.Service
	runner      *runner.Runner
	registry    *registry.Service
	deployments *deployment.Service
	monitors    *monitor.Service
	engine      *Engine
	close       func()
}

type loopOptions struct {
	runtime string // the tern-runtime binary
	// faulty serves these model versions with another binary (a
	// faultserve build that answers errors or slowly).
	faulty map[int][]byte
}

// byVersion launches some versions with their own launcher.
type byVersion struct {
	deployment.Launcher
	for_ map[int]deployment.Launcher
}

func (b byVersion) pick(v int) deployment.Launcher {
	if l := b.for_[v]; l != nil {
		return l
	}
	return b.Launcher
}

func (b byVersion) Launch(ctx context.Context, s deployment.Spec) (deployment.Instance, error) {
	return b.pick(s.Version).Launch(ctx, s)
}

func (b byVersion) Stop(ctx context.Context, inst deployment.Instance) error {
	return b.pick(inst.Version).Stop(ctx, inst)
}

// openLoop builds the services on dir and starts what main.go starts
// (runner reattach, deployments and their ramps, the engine).
func openLoop(dir string, o loopOptions) (*loop, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: quiet})
	if err != nil {
		return nil, err
	}
	l := &loop{dir: dir, st: st, bus: core.NewBus()}
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	l.close = func() {
		cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		_ = st.Close()
	}
	fail := func(err error) (*loop, error) { l.close(); return nil, err }
	blobs, err := blob.Open(filepath.Join(dir, "blobs"), st)
	if err != nil {
		return fail(err)
	}
	l.datasets = dataset.NewService(st, blobs, l.bus, dir)
	track, err := tracking.NewService(st, l.bus, dir)
	if err != nil {
		return fail(err)
	}
	if l.dc, err = docker.Connect(""); err != nil {
		return fail(err)
	}
	stops = append(stops, func() { _ = l.dc.Close() })
	l.runner, err = runner.New(runner.Config{Store: st, Bus: l.bus, Sink: runner.TrackingSink{Svc: track}, DataDir: dir, AppVersion: "looptest",
		RuntimeBinary: func() (string, error) { return o.runtime, nil }, Docker: l.dc})
	if err != nil {
		return fail(err)
	}
	stops = append(stops, l.runner.Close)
	if err := l.runner.Start(ctx); err != nil {
		return fail(err)
	}
	if l.registry, err = registry.NewService(st, l.bus, dir, track); err != nil {
		return fail(err)
	}
	runtimeBytes := func() ([]byte, error) { return os.ReadFile(o.runtime) }
	dl := &deployment.DockerLauncher{API: l.dc, Binary: runtimeBytes, Instance: l.runner.Instance()}
	var launcher deployment.Launcher = dl
	if len(o.faulty) > 0 {
		by := byVersion{Launcher: dl, for_: map[int]deployment.Launcher{}}
		for v, bin := range o.faulty {
			f := *dl
			f.Binary = func() ([]byte, error) { return bin, nil }
			by.for_[v] = &f
		}
		launcher = by
	}
	l.monitors = monitor.NewService(monitor.Config{Store: st, Bus: l.bus, DataDir: dir,
		Tables: monitor.DatasetTables{Datasets: l.datasets}, Logs: monitor.ServingLog{Store: st}})
	// Health probes keep their default interval (500 ms, which is also a
	// probe's timeout): at 100 ms a machine busy training and building
	// images misses two in a row and takes a good backend out.
	l.deployments = deployment.NewService(deployment.Config{Store: st, Registry: l.registry, Launcher: launcher, Bus: l.bus, Log: quiet,
		RampTick: 50 * time.Millisecond, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond}, Realised: l.monitors.RealisedByBackend})
	stops = append(stops, l.deployments.Close)
	l.registry.DeploymentsOf = l.deployments.DeploymentsOf
	if err := l.deployments.Start(ctx); err != nil {
		return fail(err)
	}
	types := NewTypes()
	RegisterSteps(types, Services{Datasets: l.datasets, Trainer: l.runner, ImageIdentity: l.runner.ImageIdentity, Registry: l.registry, Bus: l.bus,
		Evaluator: &evaluate.Service{Versions: l.registry, Datasets: l.datasets}, Ramper: l.deployments})
	l.engine = New(Config{Store: st, Bus: l.bus, Types: types, Log: quiet, Datasets: l.datasets, Tick: 100 * time.Millisecond})
	done := make(chan struct{})
	go func() { l.engine.Run(ctx); close(done) }()
	stops = append(stops, func() { cancel(); <-done })
	return l, nil
}

// reap removes what a loop made in the engine: its containers, then its
// serving images.
func (l *loop) reap(model string) {
	ctx := context.Background()
	inst := l.runner.Instance()
	_, _ = l.dc.Reap(ctx, map[string]string{docker.LabelServingInstance: inst}, func(docker.Container) bool { return false })
	_, _ = l.dc.Reap(ctx, map[string]string{docker.LabelInstance: inst}, func(docker.Container) bool { return false })
	_, _ = l.dc.ReapImages(ctx, map[string]string{docker.LabelKind: docker.KindServingImage, docker.LabelModel: model}, func(docker.Image) bool { return false })
}

// ---- data: a relationship that changes ----

var loopColumns = []string{"x1", "x2", "plan"}

// loopRow is one row of the regime: "old" (x1 uniform on 0–100, churned
// follows x1), "new" (x1 moved to 40–100, churned follows x2 instead: a
// model of the old data ranks the new rows no better than chance) or
// "shuffled" (the new rows with their labels permuted: nothing to learn).
func loopRows(n int, seed uint64, regime string) (rows [][]any, labels []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < n; i++ {
		x1, x2 := rng.Float64()*100, rng.Float64()*100
		if regime != "old" {
			x1 = 40 + rng.Float64()*60
		}
		y := 0
		if (regime == "old" && x1 > 50) || (regime != "old" && x2 > 50) {
			y = 1
		}
		if rng.Float64() < 0.05 {
			y = 1 - y
		}
		rows = append(rows, []any{round2(x1), round2(x2), []string{"basic", "pro"}[rng.IntN(2)]})
		labels = append(labels, y)
	}
	if regime == "shuffled" {
		rng.Shuffle(len(labels), func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	}
	return rows, labels
}

func round2(f float64) float64 { return float64(int(f*100)) / 100 }

func writeLoopCSV(path string, n int, seed uint64, regime string) error {
	rows, labels := loopRows(n, seed, regime)
	var b strings.Builder
	b.WriteString("x1,x2,plan,churned\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%v,%v,%v,%d\n", r[0], r[1], r[2], labels[i])
	}
	// Written beside, then renamed in: a watched folder never sees half a file.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".part")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ---- traffic: clients that count their own failures ----

// traffic posts rows of a regime to an endpoint from a few clients and
// keeps each answer's request ID with the row's true label, which it
// hands to the monitor as labels arrive.
type traffic struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	mu         sync.Mutex
	pending    []string // "requestID,label" lines not yet handed over
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func startTraffic(endpoint func() string, rows [][]any, labels []int, clients int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	c := &http.Client{Timeout: 30 * time.Second}
	for k := range clients {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := k; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				r := rows[i%len(rows)]
				body, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": loopColumns, "data": [][]any{r}}})
				resp, err := c.Post(endpoint()+"/invocations", "application/json", bytes.NewReader(body))
				if err != nil {
					tr.failed.Add(1)
					tr.lastErr.Store(err.Error())
					time.Sleep(20 * time.Millisecond)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					tr.failed.Add(1)
					tr.lastErr.Store(fmt.Sprintf("%d %s", resp.StatusCode, b))
					continue
				}
				tr.ok.Add(1)
				if id := resp.Header.Get("X-Request-Id"); id != "" {
					tr.mu.Lock()
					tr.pending = append(tr.pending, fmt.Sprintf("%s,%d", id, labels[i%len(rows)]))
					tr.mu.Unlock()
				}
			}
		}()
	}
	return tr
}

// labelsCSV takes the labels gathered since the last call.
func (tr *traffic) labelsCSV() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.pending) == 0 {
		return nil
	}
	out := "request_id,label\n" + strings.Join(tr.pending, "\n") + "\n"
	tr.pending = nil
	return []byte(out)
}

func (tr *traffic) end() {
	tr.once.Do(func() { close(tr.stop) })
	tr.wg.Wait()
}

// dump is a run's steps, for a failure message.
func dump(d RunDetail) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d firings %+v\n", d.Run.Number, d.Run.Firings)
	for _, s := range d.Steps {
		fmt.Fprintf(&b, "%s %s %s\n  %s\n", s.Step, s.State, s.Error, strings.Join(s.Logs, "\n  "))
	}
	return b.String()
}

func (tr *traffic) failures() string {
	if e, ok := tr.lastErr.Load().(string); ok {
		return e
	}
	return ""
}

// waitFor waits until the number of successful requests grows by n.
func (tr *traffic) waitFor(t *testing.T, n int64) {
	t.Helper()
	target := tr.ok.Load() + n
	require.Eventually(t, func() bool { return tr.ok.Load() >= target }, 60*time.Second, 10*time.Millisecond, "traffic flows (%d failed: %s)", tr.failed.Load(), tr.failures())
}

// ---- the scenario ----

// scene is a loop with v1 trained, registered as @champion and deployed,
// a drift monitor on the deployment, and the "Retrain on drift" pipeline
// made from its lineage, its files arriving in a watched folder.
type scene struct {
	*loop
	model    string
	inbox    string
	v1Data   dataset.Version
	dep      deployment.Deployment
	monitor  monitor.Monitor
	pipeline Pipeline
}

// deployFields ramp fast: stages held by requests, wide enough margins
// that a laptop's noise does not roll a good candidate back.
var deployFields = map[string]any{"stages": "20,50", "hold_minutes": 0.0, "hold_requests": 40.0,
	"error_margin_pct": 5.0, "latency_margin_ms": 25.0, "patience": 20.0}

func setUpScene(t testing.TB, l *loop, model string) *scene {
	ctx := context.Background()
	s := &scene{loop: l, model: model, inbox: filepath.Join(l.dir, "inbox")}
	require.NoError(t, os.MkdirAll(s.inbox, 0o755))
	first := filepath.Join(l.dir, "first.csv")
	require.NoError(t, writeLoopCSV(first, 1200, 1, "old"))
	v1, err := l.datasets.ImportPath(ctx, first, dataset.Options{Name: model})
	require.NoError(t, err)
	s.v1Data = v1

	// v1: trained by a pipeline like any other, registered as @champion.
	boot, err := l.engine.Save(Pipeline{Name: "first " + model, Steps: []Step{
		{ID: "data", Type: "data.version", Fields: map[string]any{"version": v1.ID}},
		{ID: "train", Type: "train", Fields: map[string]any{"target": "churned", "params": map[string]any{"max_iter": 40.0, "seed": 7.0}}, Inputs: map[string]string{"version": "data.version"}},
		{ID: "register", Type: "register", Fields: map[string]any{"model": model, "alias": "champion"}, Inputs: map[string]string{"run": "train.run"}},
	}})
	require.NoError(t, err)
	r, err := l.engine.Start(boot.ID, StartOptions{})
	require.NoError(t, err)
	d := waitRunFor(t, l.engine, r.ID, 3*time.Minute)
	require.Equal(t, RunSucceeded, d.Run.State, d.Run.Error)

	s.dep, err = l.deployments.Deploy(ctx, model, "@champion", deployment.Options{})
	require.NoError(t, err)
	s.monitor, err = l.monitors.CreateMonitor(ctx, monitor.Monitor{Name: model + " drift", Kind: monitor.KindDeployment, Deployment: s.dep.ID,
		RefVersion: v1.ID, Window: monitor.Window{LastN: 200},
		Rules: []monitor.Rule{{Name: "x1 drifted", Kind: monitor.RuleColumnDrift, Columns: []string{"x1"}}}})
	require.NoError(t, err)

	// The ready-made pipeline from the deployment's lineage, with the
	// watched folder added (import only: the alert starts the run) and
	// a ramp short enough for a test.
	p, err := l.engine.RetrainOnDrift(Lineage{Deployments: l.deployments, Registry: l.registry, Datasets: l.datasets, Monitors: l.monitors}, s.dep.ID)
	require.NoError(t, err)
	p.Triggers = append(p.Triggers, Trigger{Kind: TriggerFolder, Folder: s.inbox, Dataset: model, ImportOnly: true})
	for i := range p.Steps {
		switch p.Steps[i].Type {
		case "deploy":
			for k, v := range deployFields {
				p.Steps[i].Fields[k] = v
			}
		case "evaluate":
			p.Steps[i].Fields["replicates"] = 300.0
		}
	}
	s.pipeline, err = l.engine.Save(p)
	require.NoError(t, err)
	return s
}

// drift drops the new file into the watched folder, waits for its import,
// runs the monitor on the traffic that flows and returns the run its
// alert started.
func (s *scene) drift(t testing.TB, regime string, tr *traffic) (Run, *monitor.Report) {
	ctx := context.Background()
	require.Eventually(t, func() bool { return s.looked() }, 10*time.Second, 20*time.Millisecond, "the folder trigger looked once")
	require.NoError(t, writeLoopCSV(filepath.Join(s.inbox, "week2.csv"), 1200, 2, regime))
	var v2 dataset.Version
	require.Eventually(t, func() bool {
		vs, err := s.datasets.Versions(s.v1Data.DatasetID)
		if err == nil && len(vs) == 2 {
			v2 = vs[0]
			return true
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the dropped file became the next version")
	require.Equal(t, 2, v2.Number)
	runs, _ := s.engine.Runs(s.pipeline.ID, 0)
	require.Empty(t, runs, "the import alone started nothing")

	tr.waitFor(t.(*testing.T), 250)
	time.Sleep(100 * time.Millisecond) // the prediction log's flush
	rep, err := s.monitors.RunMonitor(ctx, s.monitor.ID)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Alerts, "the drift on live traffic raised an alert")
	var run Run
	require.Eventually(t, func() bool {
		runs, _ := s.engine.Runs(s.pipeline.ID, 0)
		if len(runs) == 1 {
			run = runs[0]
			return true
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the alert started the pipeline")
	return run, rep
}

// looked says the folder trigger has taken its first look.
func (s *scene) looked() bool {
	for _, tg := range s.pipeline.Triggers {
		if tg.Kind != TriggerFolder {
			continue
		}
		var st triggerState
		_ = s.st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, triggerKey(s.pipeline.ID, tg), &st) })
		return st.Looked
	}
	return false
}

func waitRunFor(t testing.TB, e *Engine, id string, d time.Duration) RunDetail {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r, err := e.GetRun(id)
		require.NoError(t, err)
		if r.Run.State.Final() {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, _ := e.GetRun(id)
	t.Fatalf("run %s did not end in %s: %+v", id, d, stepStates(r))
	return RunDetail{}
}

// splitOf is the deployment's traffic by version.
func (s *scene) splitOf(t testing.TB) map[int]float64 {
	d, err := s.deployments.Get(s.dep.ID)
	require.NoError(t, err)
	out := map[int]float64{}
	for _, sp := range d.Traffic.Split {
		for _, b := range d.Backends {
			if b.Backend == sp.Backend && sp.Weight > 0 {
				out[b.Version] += sp.Weight
			}
		}
	}
	return out
}

func (s *scene) champion(t testing.TB) int {
	m, err := s.registry.Get(s.model)
	require.NoError(t, err)
	return m.Aliases["champion"]
}

func (s *scene) endpoint() string {
	d, _ := s.deployments.Get(s.dep.ID)
	return d.Endpoint
}

// countCreates follows the engine's events live (its event history is a
// short in-memory buffer, shared with every other test using it) and
// counts containers this loop's instance creates until the returned
// function is called.
func (s *scene) countCreates(t testing.TB) (stop func() int) {
	cli, err := client.New(client.FromEnv)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{}, 2)
	for _, label := range []string{docker.LabelInstance, docker.LabelServingInstance} {
		f := client.Filters{}
		f.Add("type", "container")
		f.Add("event", "create")
		f.Add("label", label+"="+s.runner.Instance())
		res := cli.Events(ctx, client.EventsListOptions{Filters: f})
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready <- struct{}{}
			for {
				select {
				case _, ok := <-res.Messages:
					if !ok {
						return
					}
					n.Add(1)
				case <-res.Err:
					return
				}
			}
		}()
	}
	<-ready
	<-ready
	time.Sleep(200 * time.Millisecond) // the streams are open
	var once sync.Once
	stop = func() int {
		once.Do(func() {
			time.Sleep(200 * time.Millisecond) // events in flight arrive
			cancel()
			wg.Wait()
			cli.Close()
		})
		return int(n.Load())
	}
	t.Cleanup(func() { stop() })
	return stop
}

// newScene is a loop on a fresh dir with v1 deployed, cleaned up after t.
func newScene(t *testing.T, o loopOptions) *scene {
	testenv.Docker(t)
	o.runtime = testenv.RuntimeBinary(t)
	dir := t.TempDir()
	l, err := openLoop(dir, o)
	require.NoError(t, err)
	model := "loop-" + strings.ToLower(core.NewID()[:8])
	t.Cleanup(func() {
		ctx := context.Background()
		if ds, err := l.deployments.List(); err == nil {
			for _, d := range ds {
				_, _ = l.deployments.Delete(ctx, d.ID)
			}
		}
		l.reap(model)
		l.close()
	})
	return setUpScene(t, l, model)
}

// TestRetrainLoop is the loop end to end: v1 serves; a file of new data
// lands in the watched folder and becomes the next version; the traffic
// has drifted, so the monitor's drift rule raises an alert on it, and the
// alert starts the pipeline: validate → train v2 → register @challenger →
// evaluate v2 against v1 on v2's held-out rows (v2 better: the
// relationship changed) → gate → ramp while labelled traffic flows →
// watch (errors, latency and, as labels arrive, realised accuracy) → v2
// promoted to @champion, with no failed client request. Every
// step's record is read back through the engine's read methods (what the
// Pipelines binding returns). A second run with nothing new is fully
// cached and starts no container.
func TestRetrainLoop(t *testing.T) {
	t.Parallel()
	s := newScene(t, loopOptions{})
	ctx := t.Context()
	// Each live stage waits for labelled answers, so the watch compares
	// realised accuracy however fast a stage's requests come (without it
	// a quick machine passed both stages before the first labels).
	for i := range s.pipeline.Steps {
		if s.pipeline.Steps[i].Type == "deploy" {
			s.pipeline.Steps[i].Fields["min_labelled"] = 5.0
		}
	}
	saved, err := s.engine.Save(s.pipeline)
	require.NoError(t, err)
	s.pipeline = saved
	newRows, newLabels := loopRows(600, 3, "new")
	tr := startTraffic(s.endpoint, newRows, newLabels, 3)
	defer tr.end()
	creates := s.countCreates(t)
	run, rep := s.drift(t, "new", tr)
	assert.Equal(t, TriggerAlert, run.Firings[0].Kind)
	assert.Contains(t, run.Firings[0].Detail, `alert "x1 drifted" on monitor `+s.monitor.ID)
	require.NotNil(t, rep.Drift)
	for _, c := range rep.Drift.Columns {
		if c.Column == "x1" {
			assert.True(t, c.Drift, "x1 moved from 0–100 to 40–100")
		}
	}

	// Labels arrive while the ramp runs: the monitor joins them to the
	// logged predictions by request ID.
	labelled := make(chan struct{})
	go func() {
		defer close(labelled)
		for {
			select {
			case <-tr.stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if b := tr.labelsCSV(); b != nil {
				_, _ = s.monitors.IngestLabels(ctx, s.monitor.ID, b, monitor.LabelOptions{})
			}
		}
	}()
	d := waitRunFor(t, s.engine, run.ID, 5*time.Minute)
	if d.Run.State != RunSucceeded {
		runs, _ := s.engine.Runs(s.pipeline.ID, 0)
		for _, r := range runs {
			t.Logf("run %d %s firings %+v", r.Number, r.State, r.Firings)
		}
	}
	require.Equal(t, RunSucceeded, d.Run.State, "%s\n%s", d.Run.Error, dump(d))
	tr.end()
	<-labelled
	assert.Zero(t, tr.failed.Load(), "no client request failed: %s", tr.failures())
	assert.Greater(t, tr.ok.Load(), int64(300))

	// The record of every step: state, inputs, outputs, links, duration.
	got, err := s.engine.GetRun(run.ID) // what Pipelines.Run returns
	require.NoError(t, err)
	order := []string{}
	for _, st := range got.Steps {
		order = append(order, st.Step)
		assert.Equal(t, StepSucceeded, st.State, "%s: %s", st.Step, st.Error)
		assert.Equal(t, 1, st.Attempts, st.Step)
		assert.False(t, st.Started.IsZero() || st.Finished.Before(st.Started), st.Step)
		assert.GreaterOrEqual(t, st.DurationMs, int64(0), st.Step)
		assert.NotEmpty(t, st.Logs, st.Step)
	}
	assert.Equal(t, []string{"data", "validate", "train", "register", "evaluate", "gate", "deploy", "watch", "notify"}, order)
	step := func(id string) StepRecord { return stepByID(got, id) }
	assert.Equal(t, s.model+" v2", step("data").Outputs["version"].Label, "the newest version: the dropped file")
	assert.Equal(t, step("data").Outputs["version"], step("validate").Inputs["version"])
	trainRun := step("train").Outputs["run"]
	assert.Equal(t, "run", hasLink(step("train"), trainRun.ID))
	assert.Greater(t, step("train").DurationMs, int64(100), "training takes its time in its container")
	mv := step("register").Outputs["model_version"]
	assert.Equal(t, s.model+" v2", mv.Label)
	v2, err := s.registry.Version(s.model, "2")
	require.NoError(t, err)
	if vs, _ := s.registry.Versions(s.model); len(vs) != 2 {
		for _, v := range vs {
			t.Logf("version %d run %s tags %v", v.Version, v.RunID, v.Tags)
		}
		runs, _ := s.engine.Runs("", 0)
		for _, r := range runs {
			t.Logf("run %s %s #%d %s firings %+v", r.ID, r.Pipeline.Name, r.Number, r.State, r.Firings)
		}
	}
	assert.Equal(t, trainRun.ID, v2.RunID, "lineage: run → version")
	assert.Equal(t, step("data").Outputs["version"].ID, v2.DatasetVersion, "lineage: data version → version")
	assert.Equal(t, run.ID, v2.Tags[TagPipelineRun], "lineage: pipeline run → version")

	var report evaluate.Report
	require.NoError(t, json.Unmarshal(step("evaluate").Outputs["report"].Data, &report))
	assert.Equal(t, s.model+" v1", report.Champion)
	var auc *evaluate.Metric
	for i := range report.Metrics {
		if report.Metrics[i].Name == "roc_auc" {
			auc = &report.Metrics[i]
		}
	}
	require.NotNil(t, auc)
	t.Logf("roc_auc on v2's held-out rows: v2 %.3f, v1 %.3f, interval [%+.3f, %+.3f]", auc.Candidate, auc.Champion, auc.Interval.Low, auc.Interval.High)
	assert.Greater(t, auc.Interval.Low, 0.2, "v2 is better on the new data, with confidence")
	assert.Equal(t, mv.ID, step("gate").Outputs["candidate"].ID)
	dep := step("deploy").Outputs["deployment"]
	require.NotEmpty(t, dep.Attrs["ramp"])
	assert.Equal(t, "deployment", hasLink(step("deploy"), s.dep.ID))
	assert.Equal(t, s.model+":2", step("watch").Outputs["model_version"].ID)
	assert.Contains(t, strings.Join(step("watch").Logs, "\n"), "is now @champion")

	ramp, err := s.deployments.Ramp(dep.Attrs["ramp"])
	require.NoError(t, err)
	assert.Equal(t, deployment.RampPromoted, ramp.State)
	assert.Len(t, ramp.Stages, 2)
	withLabels := 0
	for _, sr := range ramp.Stages {
		assert.Equal(t, "pass", sr.Verdict, sr.Reason)
		if sr.Realised != nil {
			withLabels++
			t.Logf("stage %d: %s", sr.Stage+1, sr.Realised.Reason)
			assert.NotEqual(t, deployment.VerdictFail, sr.Realised.Verdict)
		}
	}
	assert.Positive(t, withLabels, "labels arrived during the ramp and the watch compared realised accuracy")
	assert.Equal(t, 2, s.champion(t))
	assert.Equal(t, map[int]float64{2: 100}, s.splitOf(t))
	perf, err := s.monitors.Performance(s.monitor.ID)
	require.NoError(t, err)
	require.NotNil(t, perf)
	assert.Greater(t, perf.Matched, 100, "labels joined to the logged predictions")

	// Nothing new: the second run reuses every step and starts no
	// container, training or serving.
	assert.Equal(t, 2, creates(), "the count sees containers: v2's training and v2's serving")
	jobs, _ := s.runner.List()
	creates = s.countCreates(t)
	again, err := s.engine.Start(s.pipeline.ID, StartOptions{})
	require.NoError(t, err)
	d2 := waitRunFor(t, s.engine, again.ID, time.Minute)
	require.Equal(t, RunSucceeded, d2.Run.State, "%s\n%s", d2.Run.Error, dump(d2))
	for _, st := range d2.Steps {
		assert.Equal(t, StepCached, st.State, "%s: %v", st.Step, st.Logs)
	}
	t.Logf("cached re-run of %d steps: %s", len(d2.Steps), d2.Run.Finished.Sub(d2.Run.Created))
	jobs2, _ := s.runner.List()
	assert.Equal(t, len(jobs), len(jobs2), "no training job")
	assert.Zero(t, creates(), "no container started")
	ramps, _ := s.deployments.Ramps(s.dep.ID)
	assert.Len(t, ramps, 1, "no second ramp")
}

func hasLink(s StepRecord, id string) string {
	for _, l := range s.Links {
		if l.ID == id {
			return l.Kind
		}
	}
	return ""
}

// A candidate trained on shuffled labels is no better than v1: the gate
// stops it, no ramp starts and v1 keeps all the traffic.
func TestRetrainLoopGateStopsAWorseCandidate(t *testing.T) {
	t.Parallel()
	s := newScene(t, loopOptions{})
	newRows, newLabels := loopRows(600, 3, "new")
	tr := startTraffic(s.endpoint, newRows, newLabels, 2)
	defer tr.end()
	run, _ := s.drift(t, "shuffled", tr)
	d := waitRunFor(t, s.engine, run.ID, 5*time.Minute)
	tr.end()
	require.Equal(t, RunFailed, d.Run.State)
	assert.Contains(t, d.Run.Error, `Step "gate" failed: The gate stopped `+s.model+" v2")
	states := stepStates(d)
	assert.Equal(t, StepFailed, states["gate"])
	assert.Equal(t, StepSkipped, states["deploy"])
	assert.Equal(t, StepSkipped, states["watch"])
	assert.Zero(t, tr.failed.Load(), tr.failures())
	assert.Equal(t, map[int]float64{1: 100}, s.splitOf(t), "v1 keeps all the traffic")
	ramps, err := s.deployments.Ramps(s.dep.ID)
	require.NoError(t, err)
	assert.Empty(t, ramps, "no ramp started")
	_, active := s.deployments.ActiveRamp(s.dep.ID)
	assert.False(t, active)
	assert.Equal(t, 1, s.champion(t))
}

// faultBinary builds deployment/testdata/faultserve with a fault mode:
// the real scoring server answering errors or slowly, baked into the
// candidate's serving image as the deployment tests do.
func faultBinary(t *testing.T, mode string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "faultserve")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.mode="+mode, "-o", out, "./backend/deployment/testdata/faultserve")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	bin, err := os.ReadFile(out)
	require.NoError(t, err)
	return bin
}

// A candidate that passes the gate but answers errors, or slowly, once
// serving is rolled back by the watch step: the run fails at watch, v1
// stays @champion with all the traffic, and no client request failed.
func TestRetrainLoopWatchRollsBack(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"errors", "slow"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newScene(t, loopOptions{faulty: map[int][]byte{2: faultBinary(t, mode)}})
			newRows, newLabels := loopRows(600, 3, "new")
			tr := startTraffic(s.endpoint, newRows, newLabels, 3)
			defer tr.end()
			run, _ := s.drift(t, "new", tr)
			d := waitRunFor(t, s.engine, run.ID, 5*time.Minute)
			tr.end()
			require.Equal(t, RunFailed, d.Run.State, dump(d))
			assert.Equal(t, StepSucceeded, stepStates(d)["gate"], "it passed the gate")
			assert.Equal(t, StepFailed, stepStates(d)["watch"])
			t.Log(d.Run.Error)
			assert.Contains(t, d.Run.Error, "ended rolled back")
			word := map[string]string{"errors": "Errors:", "slow": "Latency:"}[mode]
			assert.Contains(t, d.Run.Error, word)
			assert.Zero(t, tr.failed.Load(), "no client request failed: %s", tr.failures())
			assert.Greater(t, tr.ok.Load(), int64(100))
			assert.Equal(t, 1, s.champion(t))
			assert.Equal(t, map[int]float64{1: 100}, s.splitOf(t))
		})
	}
}

// feedLabels hands the traffic's labels to the monitor every 300 ms until
// the traffic ends; the returned channel closes when it has stopped.
func (s *scene) feedLabels(ctx context.Context, tr *traffic) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-tr.stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if b := tr.labelsCSV(); b != nil {
				_, _ = s.monitors.IngestLabels(ctx, s.monitor.ID, b, monitor.LabelOptions{})
			}
		}
	}()
	return done
}

// A worse candidate is never promoted, even past a gate set too loosely
// to stop it: v2 is trained on shuffled labels, the gate lets any
// difference through, and the candidate answers fast and without errors
// — only its answers are wrong. The deploy step asks for labelled
// answers before a stage may pass, so the watch waits for the labels
// arriving on live traffic, compares realised accuracy (Fisher's exact
// test) and rolls v2 back: v1 stays @champion with all the traffic, no
// client request failed, and the watch step's record holds the stage's
// figures and a link to the ramp.
func TestRetrainLoopWatchStopsAWrongCandidatePastALaxGate(t *testing.T) {
	t.Parallel()
	s := newScene(t, loopOptions{})
	ctx := t.Context()
	for i := range s.pipeline.Steps {
		switch s.pipeline.Steps[i].Type {
		case "gate":
			s.pipeline.Steps[i].Fields = map[string]any{"metric": "roc_auc", "diff_above": -1.0}
		case "deploy":
			s.pipeline.Steps[i].Fields["min_labelled"] = 20.0
		}
	}
	var err error
	s.pipeline, err = s.engine.Save(s.pipeline)
	require.NoError(t, err)

	// Live traffic is the regime v1 learnt: v1 is right on 95 % of it.
	oldRows, oldLabels := loopRows(600, 3, "old")
	tr := startTraffic(s.endpoint, oldRows, oldLabels, 3)
	defer tr.end()
	labelled := s.feedLabels(ctx, tr)
	require.Eventually(t, func() bool { return s.looked() }, 10*time.Second, 20*time.Millisecond, "the folder trigger looked once")
	require.NoError(t, writeLoopCSV(filepath.Join(s.inbox, "week2.csv"), 1200, 2, "shuffled"))
	require.Eventually(t, func() bool {
		vs, err := s.datasets.Versions(s.v1Data.DatasetID)
		return err == nil && len(vs) == 2
	}, 30*time.Second, 20*time.Millisecond, "the dropped file became the next version")
	run, err := s.engine.Start(s.pipeline.ID, StartOptions{})
	require.NoError(t, err)
	d := waitRunFor(t, s.engine, run.ID, 5*time.Minute)
	tr.end()
	<-labelled
	require.Equal(t, RunFailed, d.Run.State, dump(d))
	assert.Equal(t, StepSucceeded, stepStates(d)["gate"], "the lax gate let it through")
	assert.Equal(t, StepFailed, stepStates(d)["watch"])
	t.Log(d.Run.Error)
	assert.Contains(t, d.Run.Error, "ended rolled back")
	assert.Contains(t, d.Run.Error, "Realised accuracy: candidate wrong on ")
	assert.Zero(t, tr.failed.Load(), "no client request failed: %s", tr.failures())

	// Each label upload runs the monitor, and its x1 rule alerted on this
	// traffic too (not looked into: the rows are v1's regime), queueing
	// another run behind this one. When one comes it reuses the same
	// trained v2, and its deploy step refuses to ramp the rejected
	// candidate again (before that check, it ramped v2 a second time).
	var later []Run
	require.Eventually(t, func() bool {
		runs, err := s.engine.Runs(s.pipeline.ID, 0)
		require.NoError(t, err)
		later = later[:0]
		for _, r := range runs {
			if !r.State.Final() {
				return false
			}
			if r.ID != run.ID {
				later = append(later, r)
			}
		}
		return true
	}, 2*time.Minute, 50*time.Millisecond)
	for _, r := range later {
		t.Logf("run %d (%s): %s", r.Number, r.Firings[0].Detail, r.Error)
		assert.Equal(t, RunFailed, r.State)
		assert.Contains(t, r.Error, `Step "deploy" failed: `+s.model+" v2 was rolled back from "+s.model+" on ")
		assert.Contains(t, r.Error, "is not ramped again: Stage 1 (20 %) failed: Realised accuracy:")
	}
	ramps, err := s.deployments.Ramps(s.dep.ID)
	require.NoError(t, err)
	assert.Len(t, ramps, 1, "one ramp of v2, never a second")
	assert.Equal(t, 1, s.champion(t), "v1 stays @champion")
	assert.Equal(t, map[int]float64{1: 100}, s.splitOf(t), "v1 takes all the traffic again")
	w := stepByID(d, "watch")
	rampID := stepByID(d, "deploy").Outputs["deployment"].Attrs["ramp"]
	require.NotEmpty(t, rampID)
	assert.Equal(t, "ramp", hasLink(w, rampID))
	logs := strings.Join(w.Logs, "\n")
	assert.Contains(t, logs, "Stage 1 (candidate at 20 %): candidate ")
	assert.Contains(t, logs, "realised accuracy fail. Verdict fail: Realised accuracy:")
	ramp, err := s.deployments.Ramp(rampID)
	require.NoError(t, err)
	assert.Equal(t, deployment.RampRolledBack, ramp.State)
	last := ramp.Stages[len(ramp.Stages)-1]
	require.NotNil(t, last.Realised)
	assert.Equal(t, deployment.VerdictFail, last.Realised.Verdict, last.Realised.Reason)
}
