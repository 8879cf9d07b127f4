package runner

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// TestMain lets this test binary play the app in a child process that the
// crash test SIGKILLs.
func TestMain(m *testing.M) {
	if os.Getenv("TERN_RUNNER_CRASH_HELPER") == "1" {
		if err := crashHelper(); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// crashHelper opens the store, starts a long training job, says so once
// metrics are flowing, and waits to be killed.
func crashHelper() error {
	dir := os.Getenv("TERN_DATA")
	st, err := store.Open(dir, store.Options{GCInterval: -1})
	if err != nil {
		return err
	}
	bus := core.NewBus()
	trk, err := tracking.NewService(st, bus, dir)
	if err != nil {
		return err
	}
	dc, err := docker.Connect("")
	if err != nil {
		return err
	}
	bin := os.Getenv("TERN_RUNTIME")
	r, err := New(Config{Store: st, Bus: bus, Sink: TrackingSink{Svc: trk}, DataDir: dir, AppVersion: "test", Docker: dc,
		RuntimeBinary: func() (string, error) { return bin, nil }})
	if err != nil {
		return err
	}
	j, err := r.Submit(JobSpec{DataPath: os.Getenv("TERN_CSV"), Params: []byte(`{"target":"y","max_iter":1200,"learning_rate":0.001,"early_stopping":"off","max_leaf_nodes":63}`)})
	if err != nil {
		return err
	}
	for i := 0; i < 600; i++ {
		if pts, _ := trk.MetricHistory(j.RunID, "train_loss"); len(pts) >= 50 {
			fmt.Println("JOB", j.ID, j.RunID)
			select {} // until SIGKILL
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no metrics in 60 s")
}

// TestAppSIGKILLedMidTraining: the app is killed without any chance to
// clean up; on restart the job is reattached by its labels, the log and
// metrics resume without duplicates and the run completes.
func TestAppSIGKILLedMidTraining(t *testing.T) {
	dockerClient(t)
	dir := t.TempDir()
	csv := writeCSV(t, 5000, "separable")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERN_RUNNER_CRASH_HELPER=1", "TERN_DATA="+dir, "TERN_CSV="+csv, "TERN_RUNTIME="+testenv.RuntimeBinary(t))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "JOB "), line)
	f := strings.Fields(line)
	jobID, runID := f[1], f[2]
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	_ = cmd.Wait()

	st, err := store.Open(dir, store.Options{GCInterval: -1})
	require.NoError(t, err, "the store reopens after a SIGKILL")
	t.Cleanup(func() { st.Close() })
	bus := core.NewBus()
	trk, err := tracking.NewService(st, bus, dir)
	require.NoError(t, err)
	e := &env{st: st, bus: bus, track: trk, dataDir: dir}
	r := e.runner(t, dockerClient(t), nil)
	require.NoError(t, r.Start(t.Context()))
	j := requireCompletedOnce(t, e, r, jobID, 1200)
	require.Equal(t, runID, j.RunID)
	_, _, err = trk.OpenArtifact(runID, "model/MLmodel")
	assert.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(dir, "jobs", jobID, "outputs"))
}
