package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// killSummary is what the second helper process reports once the run the
// first one started has ended.
type killSummary struct {
	State    RunState          `json:"state"`
	Error    string            `json:"error"`
	Steps    map[string]string `json:"steps"`
	Attempts map[string]int    `json:"attempts"`
	Jobs     int               `json:"jobs"`
	Versions int               `json:"versions"`
	JobState string            `json:"jobState"`
}

const killYAML = `name: killed
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
      params: {max_iter: 1500, learning_rate: 0.001, early_stopping: "off", max_leaf_nodes: 63}
    inputs: {version: check.version}
  - id: register
    type: register
    fields: {model: churn}
    inputs: {run: train.run}
`

// TestPipelineHelperProcess is not a test: TestSIGKILLDuringTraining runs
// the test binary again with TERN_PIPELINE_HELPER set. The first process
// ("start") imports data, starts the pipeline and reports when training
// runs in its container; it is then SIGKILLed. The second ("resume")
// opens the same data dir as Tern does at start-up — the runner
// reattaches its containers, the engine resumes its runs — and reports
// how the run ended.
func TestPipelineHelperProcess(t *testing.T) {
	dir := os.Getenv("TERN_PIPELINE_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	mode, bin := os.Getenv("TERN_PIPELINE_MODE"), os.Getenv("TERN_RUNTIME_BIN")
	fail := func(err error) {
		os.WriteFile(filepath.Join(dir, "helper-error"), []byte(fmt.Sprint(err)), 0o600)
		os.Exit(3)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: quiet})
	if err != nil {
		fail(err)
	}
	bus := core.NewBus()
	blobs, err := blob.Open(filepath.Join(dir, "blobs"), st)
	if err != nil {
		fail(err)
	}
	datasets := dataset.NewService(st, blobs, bus, dir)
	track, err := tracking.NewService(st, bus, dir)
	if err != nil {
		fail(err)
	}
	dc, err := docker.Connect("")
	if err != nil {
		fail(err)
	}
	run, err := runner.New(runner.Config{Store: st, Bus: bus, Sink: runner.TrackingSink{Svc: track}, DataDir: dir, AppVersion: "killtest",
		RuntimeBinary: func() (string, error) { return bin, nil }, Docker: dc})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := run.Start(ctx); err != nil { // reattach, as main.go does
		fail(err)
	}
	reg, err := registry.NewService(st, bus, dir, track)
	if err != nil {
		fail(err)
	}
	types := NewTypes()
	RegisterSteps(types, Services{Datasets: datasets, Trainer: run, Registry: reg, Bus: bus})
	events, _ := bus.Subscribe(1024)
	e := New(Config{Store: st, Bus: bus, Types: types, Datasets: datasets, Log: quiet})
	go e.Run(ctx)

	switch mode {
	case "start":
		csv := filepath.Join(dir, "churn.csv")
		writeChurn(t, csv, 5000, 3)
		if _, err := datasets.ImportPath(ctx, csv, dataset.Options{Name: "churn"}); err != nil {
			fail(err)
		}
		p, err := ParseYAML([]byte(killYAML), types)
		if err != nil {
			fail(err)
		}
		if p, err = e.Save(p); err != nil {
			fail(err)
		}
		r, err := e.Start(p.ID, StartOptions{})
		if err != nil {
			fail(err)
		}
		// Report once the training job's container is running and has
		// logged a metric: well inside the step.
		var jobID string
		for ev := range events {
			if s, ok := ev.Data.(StepRecord); ok && s.Step == "train" && s.JobID != "" {
				jobID = s.JobID
			}
			if m, ok := ev.Data.(runner.MetricsEvent); ok && jobID != "" && m.JobID == jobID {
				os.WriteFile(filepath.Join(dir, "training"), []byte(r.ID+" "+jobID), 0o600)
				select {} // wait for the SIGKILL
			}
		}
	case "resume":
		b, _ := os.ReadFile(filepath.Join(dir, "training"))
		var runID, jobID string
		fmt.Sscan(string(b), &runID, &jobID)
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			d, err := e.GetRun(runID)
			if err != nil {
				fail(err)
			}
			if d.Run.State.Final() {
				sum := killSummary{State: d.Run.State, Error: d.Run.Error, Steps: map[string]string{}, Attempts: map[string]int{}}
				for _, s := range d.Steps {
					sum.Steps[s.Step] = string(s.State)
					sum.Attempts[s.Step] = s.Attempts
				}
				jobs, _ := run.List()
				sum.Jobs = len(jobs)
				if j, err := run.Get(jobID); err == nil {
					sum.JobState = string(j.State)
				}
				vs, _ := reg.Versions("churn")
				sum.Versions = len(vs)
				out, _ := json.Marshal(sum)
				os.WriteFile(filepath.Join(dir, "summary.json"), out, 0o600)
				os.Exit(0)
			}
			time.Sleep(50 * time.Millisecond)
		}
		fail(fmt.Errorf("the run did not end after the restart"))
	}
	os.Exit(4)
}

// TestSIGKILLDuringTraining kills a Tern process (SIGKILL: nothing runs on
// the way out) while a pipeline's training step runs in its container,
// starts a new process on the same data dir, and checks that the run
// completes with every step run exactly once: one training job,
// reattached rather than started again, and one registered version.
func TestSIGKILLDuringTraining(t *testing.T) {
	testenv.Docker(t)
	bin := testenv.RuntimeBinary(t)
	dir := t.TempDir()
	helper := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestPipelineHelperProcess$")
		cmd.Env = append(os.Environ(), "TERN_PIPELINE_HELPER="+dir, "TERN_PIPELINE_MODE="+mode, "TERN_RUNTIME_BIN="+bin)
		return cmd
	}
	helperError := func() string { b, _ := os.ReadFile(filepath.Join(dir, "helper-error")); return string(b) }

	// SIGKILL mid-training
	startThenKill(t, helper("start"), filepath.Join(dir, "training"), 3*time.Minute, "training never started", helperError)

	second := helper("resume")
	out, err := second.CombinedOutput()
	require.NoError(t, err, "%s\n%s", helperError(), out)
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var sum killSummary
	require.NoError(t, json.Unmarshal(b, &sum))
	require.Equal(t, RunSucceeded, sum.State, sum.Error)
	assert.Equal(t, map[string]string{"data": "succeeded", "check": "succeeded", "train": "succeeded", "register": "succeeded"}, sum.Steps)
	assert.Equal(t, map[string]int{"data": 1, "check": 1, "train": 1, "register": 1}, sum.Attempts, "every step ran exactly once")
	assert.Equal(t, 1, sum.Jobs, "the training job was reattached, not started again")
	assert.Equal(t, "succeeded", sum.JobState)
	assert.Equal(t, 1, sum.Versions, "one registered version")
}

// startThenKill starts cmd, waits for the file marker to appear and
// SIGKILLs the process there. The test fails, with logs(), when the
// process ends first or the marker does not come within limit (what says
// which moment never came).
func startThenKill(t *testing.T, cmd *exec.Cmd, marker string, limit time.Duration, what string, logs func() string) {
	t.Helper()
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(limit)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the first process ended early (%v):\n%s", err, logs())
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("%s:\n%s", what, logs())
		case <-time.After(20 * time.Millisecond):
			if _, err := os.Stat(marker); err == nil {
				require.NoError(t, cmd.Process.Kill())
				<-exited
				return
			}
		}
	}
}
