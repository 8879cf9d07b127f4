package sweep

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// TestMain lets this test binary play Tern in a child process that the
// restart test SIGKILLs mid-sweep.
func TestMain(m *testing.M) {
	if os.Getenv("TERN_SWEEP_HELPER") == "1" {
		if err := sweepHelper(); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// writeData writes a 20,000-row binary classification set with
// interactions, big enough that a slow learning rate still trains for a
// second or two (so curves stream and pruning has something to stop).
func writeData(t testing.TB) string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("x0,x1,x2,x3,x4,x5,x6,x7,y\n")
	for i := 0; i < 20000; i++ {
		var x [8]float64
		for j := range x {
			x[j] = r.NormFloat64()
			fmt.Fprintf(&b, "%.4f,", x[j])
		}
		s := x[0] + 0.5*x[1] - 0.6*x[2]*x[3] + 0.4*x[4]*x[4] + r.NormFloat64()
		if s > 0.4 {
			b.WriteString("1\n")
		} else {
			b.WriteString("0\n")
		}
	}
	return testenv.File(t, "sweep.csv", []byte(b.String()))
}

// stack is a Tern's worth of services over one data dir, with Docker.
type stack struct {
	st    *store.Store
	bus   *core.Bus
	track *tracking.Service
	run   *runner.Runner
	reg   *registry.Service
	svc   *Service
}

func openStack(dir, csv, bin string) (*stack, error) {
	st, err := store.Open(dir, store.Options{GCInterval: -1})
	if err != nil {
		return nil, err
	}
	bus := core.NewBus()
	trk, err := tracking.NewService(st, bus, dir)
	if err != nil {
		return nil, err
	}
	dc, err := docker.Connect("")
	if err != nil {
		return nil, err
	}
	r, err := runner.New(runner.Config{Store: st, Bus: bus, Sink: runner.TrackingSink{Svc: trk}, DataDir: dir, AppVersion: "test",
		Docker: dc, RuntimeBinary: func() (string, error) { return bin, nil }})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	reg, err := registry.NewService(st, bus, dir, trk)
	if err != nil {
		return nil, err
	}
	data := func(string) (runner.TrainData, error) {
		return runner.TrainData{Path: csv, Dataset: "sweep", Number: 1}, nil
	}
	svc, err := New(Config{Store: st, Bus: bus, Runner: Jobs{Runner: r, Data: data}, Runs: trk, Models: reg})
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	return &stack{st: st, bus: bus, track: trk, run: r, reg: reg, svc: svc}, nil
}

func (s *stack) close() {
	s.svc.Close()
	s.run.Close()
	s.track.Stop()
	_ = s.st.Close()
}

func dockerSpec(sampler string, trials int) Spec {
	return Spec{
		Name: "docker " + sampler,
		Train: runner.TrainRequest{DatasetVersionID: "v1", Target: "y", Model: "gbdt",
			Params: map[string]any{"max_iter": 200, "early_stopping": "on", "n_iter_no_change": 20}},
		Space: Space{
			{Name: "learning_rate", Kind: Float, Low: 0.003, High: 0.5, Log: true},
			{Name: "max_leaf_nodes", Kind: Int, Low: 4, High: 48, Log: true},
		},
		Sampler: sampler, Seed: 3, Objective: "test_roc_auc", Maximize: true, MaxTrials: trials, Parallelism: 2,
		Prune: Pruning{Enabled: true, StartupTrials: 4, WarmupSteps: 10},
	}
}

// removeContainers leaves nothing of the test's runner behind.
func removeContainers(t *testing.T, inst string) {
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelInstance+"="+inst).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
}

// checkOnce asserts that each trial of the sweep ran as exactly one job
// and one finished-or-stopped run, and none ran twice.
func checkOnce(t *testing.T, s *stack, sw Sweep) {
	t.Helper()
	jobs, err := s.run.List()
	require.NoError(t, err)
	perTrial := map[string]int{}
	for _, j := range jobs {
		if k := j.Spec.Tags[TagTrial]; strings.HasPrefix(k, sw.ID+"/") {
			perTrial[k]++
		}
	}
	assert.Len(t, perTrial, len(sw.Trials), "one job per trial")
	for k, n := range perTrial {
		assert.Equal(t, 1, n, "trial %s ran once", k)
	}
	runs, err := s.track.RunsWithTag(TagParent, sw.ParentRunID)
	require.NoError(t, err)
	assert.Len(t, runs, len(sw.Trials), "one child run per trial")
}

func TestDockerSweepsRandomAndTPE(t *testing.T) {
	testenv.Docker(t)
	dir := t.TempDir()
	s, err := openStack(dir, writeData(t), testenv.RuntimeBinary(t))
	require.NoError(t, err)
	removeContainers(t, s.run.Instance())
	defer s.close()

	var maxRunning int
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // the parallelism limit, seen from the runner's own jobs
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			jobs, _ := s.run.List()
			n := 0
			for _, j := range jobs {
				if j.State == runner.Running {
					n++
				}
			}
			maxRunning = max(maxRunning, n)
		}
	}()
	results := map[string]Sweep{}
	for _, sampler := range []string{SamplerRandom, SamplerTPE} {
		sw, err := s.svc.Create(dockerSpec(sampler, 20))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
		sw, err = s.svc.Wait(ctx, sw.ID)
		cancel()
		require.NoError(t, err)
		require.Equal(t, Finished, sw.State, sw.Reason)
		require.Len(t, sw.Trials, 20)
		results[sampler] = sw
		t.Logf("%s: %s", sampler, sw.Reason)
		checkOnce(t, s, sw)
		pruned := 0
		for _, tr := range sw.Trials {
			switch tr.State {
			case TrialPruned:
				pruned++
				run, err := s.track.GetRun(tr.RunID)
				require.NoError(t, err)
				assert.Equal(t, tr.Reason, run.Tags[TagPruned])
				assert.Equal(t, tracking.StatusKilled, run.Status)
			case TrialComplete:
				run, err := s.track.GetRun(tr.RunID)
				require.NoError(t, err)
				assert.Equal(t, tracking.StatusFinished, run.Status)
			default:
				t.Errorf("trial %d ended %s: %s", tr.Number, tr.State, tr.Reason)
			}
		}
		assert.Greater(t, pruned, 0, "%s: slow learning rates are pruned", sampler)
	}
	close(stop)
	<-watched
	assert.LessOrEqual(t, maxRunning, 2, "never more trials at once than the limit")
	assert.Equal(t, 2, maxRunning, "trials ran side by side")

	best, _ := results[SamplerTPE].BestTrial()
	v, err := s.svc.RegisterBest(results[SamplerTPE].ID, "sweep-best")
	require.NoError(t, err)
	assert.Equal(t, best.RunID, v.RunID)
	assert.Equal(t, 1, v.Version)
	got, err := s.svc.Get(results[SamplerTPE].ID)
	require.NoError(t, err)
	assert.Equal(t, "sweep-best v1", got.Registered)
}

// sweepHelper plays Tern: it opens the data dir, starts (or finds) the
// sweep and prints its progress until it is killed.
func sweepHelper() error {
	s, err := openStack(os.Getenv("TERN_DATA"), os.Getenv("TERN_CSV"), os.Getenv("TERN_RUNTIME"))
	if err != nil {
		return err
	}
	events, _ := s.bus.Subscribe(1024)
	sw, err := s.svc.Create(dockerSpec(SamplerTPE, 12))
	if err != nil {
		return err
	}
	fmt.Println("SWEEP", sw.ID, s.run.Instance())
	for ev := range events {
		if u, ok := ev.Data.(Sweep); ok && ev.Topic == TopicSweep {
			done, running := 0, 0
			for _, t := range u.Trials {
				if t.State.final() {
					done++
				} else {
					running++
				}
			}
			fmt.Println("TRIALS", done, running)
		}
	}
	return nil
}

// A real Tern process SIGKILLed mid-sweep: the restarted one reattaches
// the running trials' containers, resumes the sweep, and it finishes with
// every trial run exactly once.
func TestDockerSweepSurvivesSIGKILL(t *testing.T) {
	testenv.Docker(t)
	dir := t.TempDir()
	csv, bin := writeData(t), testenv.RuntimeBinary(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERN_SWEEP_HELPER=1", "TERN_DATA="+dir, "TERN_CSV="+csv, "TERN_RUNTIME="+bin)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	rd := bufio.NewScanner(out)
	require.True(t, rd.Scan(), "the helper says which sweep")
	first := strings.Fields(rd.Text())
	require.Equal(t, "SWEEP", first[0], rd.Text())
	id, inst := first[1], first[2]
	removeContainers(t, inst)
	for rd.Scan() {
		var done, running int
		if _, err := fmt.Sscanf(rd.Text(), "TRIALS %d %d", &done, &running); err != nil {
			continue
		}
		if done >= 4 && running >= 1 {
			break
		}
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL, mid-sweep with trials running
	_ = cmd.Wait()
	killed = true

	s, err := openStack(dir, csv, bin)
	require.NoError(t, err, "Tern starts again on the killed one's data dir")
	defer s.close()
	before, err := s.svc.Get(id)
	require.NoError(t, err)
	require.Equal(t, Running, before.State)
	t.Logf("at the kill: %d trials recorded", len(before.Trials))
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	sw, err := s.svc.Wait(ctx, id)
	if err != nil {
		now, _ := s.svc.Get(id)
		for _, tr := range now.Trials {
			j, _ := s.run.Get(tr.JobID)
			t.Logf("trial %d %s job %s %s: %s", tr.Number, tr.State, tr.JobID, j.State, tr.Reason)
		}
		_ = pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
	}
	require.NoError(t, err)
	require.Equal(t, Finished, sw.State, sw.Reason)
	require.Len(t, sw.Trials, 12, "no trial lost")
	for _, tr := range sw.Trials {
		assert.Contains(t, []TrialState{TrialComplete, TrialPruned}, tr.State, "trial %d: %s", tr.Number, tr.Reason)
	}
	checkOnce(t, s, sw)
}
