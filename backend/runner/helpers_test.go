package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

type env struct {
	st      *store.Store
	bus     *core.Bus
	track   *tracking.Service
	dataDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	dir := t.TempDir()
	svc, err := tracking.NewService(st, bus, dir)
	require.NoError(t, err)
	return &env{st: st, bus: bus, track: svc, dataDir: dir}
}

func (e *env) runner(t *testing.T, api DockerAPI, mod func(*Config)) *Runner {
	t.Helper()
	bin := testenv.RuntimeBinary(t)
	cfg := Config{Store: e.st, Bus: e.bus, Sink: TrackingSink{Svc: e.track}, DataDir: e.dataDir, AppVersion: "test",
		RuntimeBinary: func() (string, error) { return bin, nil }, Docker: api}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	if api != nil {
		// Whatever happens in the test, leave no container of its store behind
		// (cleanups run last-in first-out: after r.Close).
		inst := r.Instance()
		t.Cleanup(func() {
			out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelInstance+"="+inst, "--filter", "label="+docker.LabelKind+"="+docker.KindTrain).Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
			}
		})
	}
	return r
}

// writeCSV writes a generated classification dataset: "separable" (a clean
// linear boundary), "noisy" (a weak signal) or "regression".
func writeCSV(t testing.TB, n int, kind string) string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 9))
	var b strings.Builder
	b.WriteString("a,b,colour,y\n")
	colours := []string{"red", "green", "blue"}
	for i := 0; i < n; i++ {
		a, bb, c := r.NormFloat64(), r.NormFloat64(), r.IntN(3)
		var y string
		switch kind {
		case "separable":
			y = "0"
			if a+0.5*bb+0.3*float64(c) > 0.3 {
				y = "1"
			}
		case "noisy":
			y = "0"
			if a+2*r.NormFloat64() > 1 {
				y = "1"
			}
		default:
			y = fmt.Sprint(2*a - bb + float64(c) + 0.1*r.NormFloat64())
		}
		fmt.Fprintf(&b, "%.6f,%.6f,%s,%s\n", a, bb, colours[c], y)
	}
	p := testenv.File(t, kind+".csv", []byte(b.String()))
	return p
}

func params(t testing.TB, m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// slowParams train long enough to cancel, kill or restart mid-run.
func slowParams(t testing.TB) json.RawMessage { return iterParams(t, 3000) }

// iterParams train exactly n rounds, one train_loss point per round.
func iterParams(t testing.TB, n int) json.RawMessage {
	return params(t, map[string]any{"target": "y", "max_iter": n, "learning_rate": 0.001, "early_stopping": "off", "max_leaf_nodes": 63})
}

func waitJob(t *testing.T, r *Runner, id string, within time.Duration) Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	j, err := r.Wait(ctx, id)
	require.NoError(t, err, "job %s did not finish within %s", id, within)
	return j
}

// waitMetric waits until the run has some point of key.
func waitMetric(t *testing.T, e *env, runID, key string, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		pts, err := e.track.MetricHistory(runID, key)
		return err == nil && len(pts) > 0
	}, within, 50*time.Millisecond, "no %s metric within %s", key, within)
}

// requireCompletedOnce waits for a job trained on 5000 rows for steps
// rounds across a restart or an engine outage, and checks that nothing was
// lost or doubled: it succeeded, every train_loss step is recorded once,
// its log is not repeated and its run is finished.
func requireCompletedOnce(t *testing.T, e *env, r *Runner, jobID string, steps int) Job {
	t.Helper()
	j := waitJob(t, r, jobID, 120*time.Second)
	require.Equal(t, Succeeded, j.State, j.Reason)
	pts, err := e.track.MetricHistory(j.RunID, "train_loss")
	require.NoError(t, err)
	require.Len(t, pts, steps, "every step once: nothing lost, nothing repeated")
	for i, p := range pts {
		require.Equal(t, int64(i+1), p.Step)
	}
	logs, err := r.Logs(jobID, 0)
	require.NoError(t, err)
	n := 0
	for _, l := range logs {
		if strings.HasPrefix(l, "read 5000 rows") {
			n++
		}
	}
	assert.Equal(t, 1, n, "the log is not repeated: %v", logs)
	run, err := e.track.GetRun(j.RunID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StatusFinished, run.Status)
	return j
}

func metric(t *testing.T, e *env, runID, key string) float64 {
	t.Helper()
	run, err := e.track.GetRun(runID)
	require.NoError(t, err)
	p, ok := run.Metrics[key]
	require.True(t, ok, "run has no metric %s (has %v)", key, run.Metrics)
	return float64(p.Value)
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
func symlink(old, p string) error { return os.Symlink(old, p) }

func storeForTB(tb testing.TB) *store.Store { return store.MustOpen(tb) }

// writeLatin1CSV writes a Windows-1252, ';'-separated file whose "surface"
// column says "manquant" for a missing value only after the rows detection
// samples, and its read settings as a dataset version would give them: read
// with them it trains; detected afresh it fails on line 2502.
func writeLatin1CSV(t testing.TB) (string, *table.Options) {
	t.Helper()
	var b strings.Builder
	b.WriteString("ville;surface;code;y\n")
	villes := []string{"Orléans", "Besançon", "Nîmes"}
	for i := 0; i < 3000; i++ {
		surface := fmt.Sprint(20 + i%53)
		if i == 2500 || i%7 == 0 {
			surface = "manquant"
			if i < 2500 {
				surface = "NA"
			}
		}
		y := "non"
		if i%53 > 26 {
			y = "oui"
		}
		fmt.Fprintf(&b, "%s;%s;%03d;%s\n", villes[i%3], surface, i%5, y)
	}
	enc, err := charmap.Windows1252.NewEncoder().String(b.String())
	require.NoError(t, err)
	p := testenv.File(t, "ventes.csv", []byte(enc))
	header := true
	return p, &table.Options{Format: "csv", Encoding: "windows-1252", Delimiter: ";", Header: &header,
		NullTokens: []string{"", "NA", "manquant"}, Columns: []table.Column{
			{Name: "ville", Type: table.Categorical, Role: table.Feature},
			{Name: "surface", Type: table.Integer, Role: table.Feature},
			{Name: "code", Type: table.Categorical, Role: table.Feature},
			{Name: "y", Type: table.Categorical, Role: table.Target},
		}}
}
