package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/testenv"
)

// rampKill is what the first helper leaves for the second and the test.
type rampKill struct {
	Model      string `json:"model"`
	Instance   string `json:"instance"`
	Pipeline   string `json:"pipeline"`
	Deployment string `json:"deployment"`
	Run        string `json:"run"`
	Ramp       string `json:"ramp"`
	Stage      int    `json:"stage"`
}

// rampSummary is how the run ended, read by the second helper.
type rampSummary struct {
	State    RunState          `json:"state"`
	Error    string            `json:"error"`
	Steps    map[string]string `json:"steps"`
	Attempts map[string]int    `json:"attempts"`
	Jobs     int               `json:"jobs"`
	Versions int               `json:"versions"`
	Ramps    int               `json:"ramps"`
	Ramp     deployment.Ramp   `json:"ramp"`
	Champion int               `json:"champion"`
	Split    map[int]float64   `json:"split"`
	Failed   int64             `json:"failed"`
}

// TestLoopHelperProcess is not a test: TestSIGKILLDuringRamp runs the
// test binary again with TERN_LOOP_HELPER set. "start" sets the loop up,
// lets the drift alert start the pipeline and, once the ramp has passed
// its first stage and entered the second, stops its traffic (so the stage
// waits) and says so; it is then SIGKILLed. "resume" opens the same data
// dir as Tern does at start-up — the runner reattaches, deployments come
// back with their containers and resume their ramps, the engine resumes
// its runs — sends traffic again and reports how the run ended.
func TestLoopHelperProcess(t *testing.T) {
	dir := os.Getenv("TERN_LOOP_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	l, err := openLoop(dir, loopOptions{runtime: os.Getenv("TERN_RUNTIME_BIN")})
	require.NoError(t, err)
	killFile := filepath.Join(dir, "ramping.json")
	switch os.Getenv("TERN_LOOP_MODE") {
	case "start":
		s := setUpScene(t, l, os.Getenv("TERN_LOOP_MODEL"))
		k := rampKill{Model: s.model, Instance: l.runner.Instance(), Pipeline: s.pipeline.ID, Deployment: s.dep.ID}
		b, _ := json.Marshal(k)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "scene.json"), b, 0o600))
		rows, labels := loopRows(600, 3, "new")
		tr := startTraffic(s.endpoint, rows, labels, 3)
		run, _ := s.drift(t, "new", tr)
		k.Run = run.ID
		for k.Ramp == "" {
			if r, ok := l.deployments.ActiveRamp(s.dep.ID); ok && r.Stage >= 1 {
				k.Ramp, k.Stage = r.ID, r.Stage
				break
			}
			d, err := l.engine.GetRun(run.ID)
			require.NoError(t, err)
			require.False(t, d.Run.State.Final(), "the run ended before its ramp reached stage 2: %s", d.Run.Error)
			time.Sleep(5 * time.Millisecond)
		}
		tr.end() // the second stage waits for traffic that no longer comes
		b, _ = json.Marshal(k)
		require.NoError(t, os.WriteFile(killFile+".part", b, 0o600))
		require.NoError(t, os.Rename(killFile+".part", killFile))
		select {} // wait for the SIGKILL
	case "resume":
		var k rampKill
		b, err := os.ReadFile(killFile)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &k))
		s := &scene{loop: l, model: k.Model, pipeline: Pipeline{ID: k.Pipeline}}
		s.dep, err = l.deployments.Get(k.Deployment)
		require.NoError(t, err)
		rows, labels := loopRows(600, 3, "new")
		tr := startTraffic(s.endpoint, rows, labels, 3)
		d := waitRunFor(t, l.engine, k.Run, 3*time.Minute)
		tr.end()
		sum := rampSummary{State: d.Run.State, Error: d.Run.Error, Steps: map[string]string{}, Attempts: map[string]int{},
			Champion: s.champion(t), Split: s.splitOf(t), Failed: tr.failed.Load()}
		for _, st := range d.Steps {
			sum.Steps[st.Step] = string(st.State)
			sum.Attempts[st.Step] = st.Attempts
		}
		jobs, _ := l.runner.List()
		sum.Jobs = len(jobs)
		vs, _ := l.registry.Versions(k.Model)
		sum.Versions = len(vs)
		ramps, _ := l.deployments.Ramps(k.Deployment)
		sum.Ramps = len(ramps)
		sum.Ramp, _ = l.deployments.Ramp(k.Ramp)
		out, _ := json.Marshal(sum)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), out, 0o600))
		_, _ = l.deployments.Delete(context.Background(), k.Deployment)
		l.close()
	}
}

// TestSIGKILLDuringRamp kills a Tern process (SIGKILL: nothing runs on the
// way out) while the pipeline's canary ramp is in its second stage,
// starts a new process on the same data dir, and checks that the run
// completes with every step run exactly once and that the ramp resumed
// where it was — the same ramp, its first stage's verdict kept, going on
// at stage 2 — rather than starting again from 0.
func TestSIGKILLDuringRamp(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	bin := testenv.RuntimeBinary(t)
	dir := t.TempDir()
	model := "loopkill-" + fmt.Sprint(time.Now().UnixNano()%1e9)
	helper := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestLoopHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "TERN_LOOP_HELPER="+dir, "TERN_LOOP_MODE="+mode, "TERN_RUNTIME_BIN="+bin, "TERN_LOOP_MODEL="+model)
		return cmd
	}
	t.Cleanup(func() {
		var k rampKill
		b, err := os.ReadFile(filepath.Join(dir, "scene.json"))
		if err != nil || json.Unmarshal(b, &k) != nil {
			return
		}
		dc, err := docker.Connect("")
		if err != nil {
			return
		}
		defer dc.Close()
		ctx := context.Background()
		_, _ = dc.Reap(ctx, map[string]string{docker.LabelServingInstance: k.Instance}, func(docker.Container) bool { return false })
		_, _ = dc.Reap(ctx, map[string]string{docker.LabelInstance: k.Instance}, func(docker.Container) bool { return false })
		_, _ = dc.ReapImages(ctx, map[string]string{docker.LabelKind: docker.KindServingImage, docker.LabelModel: model}, func(docker.Image) bool { return false })
	})

	first := helper("start")
	logs, err := os.Create(filepath.Join(dir, "first.log"))
	require.NoError(t, err)
	first.Stdout, first.Stderr = logs, logs
	firstLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "first.log")); return string(b) }
	// SIGKILL mid-ramp
	startThenKill(t, first, filepath.Join(dir, "ramping.json"), 4*time.Minute, "the ramp never reached its second stage", firstLog)
	var k rampKill
	b, err := os.ReadFile(filepath.Join(dir, "ramping.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &k))
	require.Equal(t, 1, k.Stage, "killed in the second stage")

	second := helper("resume")
	out, err := second.CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err = os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var sum rampSummary
	require.NoError(t, json.Unmarshal(b, &sum))
	require.Equal(t, RunSucceeded, sum.State, sum.Error)
	steps := []string{"data", "validate", "train", "register", "evaluate", "gate", "deploy", "watch", "notify"}
	for _, s := range steps {
		assert.Equal(t, "succeeded", sum.Steps[s], s)
		assert.Equal(t, 1, sum.Attempts[s], "%s ran exactly once", s)
	}
	assert.Equal(t, 2, sum.Jobs, "two trainings in all: v1's and v2's")
	assert.Equal(t, 2, sum.Versions)
	assert.Equal(t, 1, sum.Ramps, "one ramp, resumed")
	r := sum.Ramp
	assert.Equal(t, k.Ramp, r.ID)
	assert.Equal(t, deployment.RampPromoted, r.State, r.Reason)
	kinds := map[string]int{}
	resumedAt := ""
	for _, e := range r.Events {
		kinds[e.Kind]++
		if e.Kind == "resumed" {
			resumedAt = e.Message
		}
	}
	assert.Equal(t, 1, kinds["started"], "started once, never again from 0")
	assert.Equal(t, 1, kinds["resumed"])
	assert.Contains(t, resumedAt, "Resumed after a restart at stage 2")
	require.Len(t, r.Stages, 2)
	assert.Equal(t, "pass", r.Stages[0].Verdict, "the first stage's verdict from before the kill stands")
	assert.Equal(t, "pass", r.Stages[1].Verdict)
	assert.Equal(t, 2, sum.Champion)
	assert.Equal(t, map[int]float64{2: 100}, sum.Split)
	assert.Zero(t, sum.Failed, "no request failed once Tern was back")
}
