package deployment

import (
	"encoding/csv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

type fixture struct {
	st  *store.Store
	reg *registry.Service
	dir string
	// bus is the registry's: a service built on it hears alias moves.
	bus *core.Bus
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	st := store.MustOpen(t)
	dir := t.TempDir()
	bus := core.NewBus()
	reg, err := registry.NewService(st, bus, dir, nil)
	require.NoError(t, err)
	for _, f := range []string{"xgb_binary.json", "lgb_binary.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "gbdt", "testdata", f))
		require.NoError(t, err)
		sig := modelfmt.DefaultSignature([]string{"a", "b", "c", "d", "e", "f"}, 6)
		_, err = reg.ImportFile("fraud", b, sig, nil, registry.Meta{})
		require.NoError(t, err)
	}
	return fixture{st: st, reg: reg, dir: dir, bus: bus}
}

func (f fixture) service(l Launcher) *Service {
	return NewService(Config{Store: f.st, Registry: f.reg, Launcher: l, HealthInterval: 100 * time.Millisecond, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond}})
}

// switchAndRollBack moves all traffic to v2 (blue/green), then rolls back:
// the very next request is on v1 again.
func switchAndRollBack(t *testing.T, svc *Service, d Deployment) {
	t.Helper()
	_, err := svc.SetTraffic(d.ID, router.Traffic{Split: []router.Split{{Backend: "v2", Weight: 100}}})
	require.NoError(t, err)
	_, by, _ := call(t, d.Endpoint, "/invocations", "application/json", payloads[2].body)
	require.Equal(t, "v2", by)
	_, err = svc.Rollback(d.ID)
	require.NoError(t, err)
	_, by, _ = call(t, d.Endpoint, "/invocations", "application/json", payloads[2].body)
	require.Equal(t, "v1", by, "rollback takes effect on the next request")
}

// servedBy sends n good predictions to a deployment and counts those the
// backend named answered.
func servedBy(t *testing.T, endpoint, backend string, n int) int {
	t.Helper()
	got := 0
	for range n {
		code, by, _ := call(t, endpoint, "/invocations", "application/json", payloads[2].body)
		require.Equal(t, 200, code)
		if by == backend {
			got++
		}
	}
	return got
}

func call(t *testing.T, url, path, ct, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url+path, ct, strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(router.BackendHeader), string(b)
}

// payloads are every format of both protocols, for a 6-input model.
var payloads = []struct{ name, path, ct, body string }{
	{"split", "/invocations", "application/json", `{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[1,2,3,4,5,6]]}}`},
	{"records", "/invocations", "application/json", `{"dataframe_records":[{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}]}`},
	{"instances", "/invocations", "application/json", `{"instances":[[1,2,3,4,5,6]]}`},
	{"inputs", "/invocations", "application/json", `{"inputs":{"a":[1],"b":[2],"c":[3],"d":[4],"e":[5],"f":[6]}}`},
	{"csv", "/invocations", "text/csv", "a,b,c,d,e,f\n1,2,3,4,5,6\n"},
	{"v2", "/v2/models/fraud/infer", "application/json", `{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`},
}

func TestDeployCanaryShadowRollbackRestart(t *testing.T) {
	f := newFixture(t)
	svc := f.service(NewProcessLauncher())
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)
	assert.Contains(t, d.Endpoint, "http://127.0.0.1:")

	for _, p := range payloads {
		code, by, body := call(t, d.Endpoint, p.path, p.ct, p.body)
		require.Equal(t, 200, code, "%s: %s", p.name, body)
		assert.Equal(t, "v1", by)
	}
	code, _, body := call(t, d.Endpoint, "/invocations", "application/json", `{"instances":[[1,2,3]]}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "the model takes 6")
	code, _, body = call(t, d.Endpoint, "/invocations", "application/json", `{"dataframe_records":[{"a":"x","b":2,"c":3,"d":4,"e":5,"f":6}]}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `Column \"a\" expects double`)

	d, err = svc.AddVersion(ctx, d.ID, "2")
	require.NoError(t, err)
	require.Len(t, d.Backends, 2)
	d, err = svc.SetCanary(d.ID, "v2", 10)
	require.NoError(t, err)
	n2 := servedBy(t, d.Endpoint, "v2", 2000)
	assert.InDelta(t, 200, n2, 60, "10%% ± 3%% of 2000 to the canary, got %d", n2)

	// Shadow: v2 gets copies of live traffic on v1.
	_, err = svc.SetTraffic(d.ID, router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}, Shadow: "v2"})
	require.NoError(t, err)
	for range 20 {
		_, by, _ := call(t, d.Endpoint, "/invocations", "application/json", payloads[2].body)
		require.Equal(t, "v1", by)
	}
	require.Eventually(t, func() bool {
		st, _ := svc.Stats(d.ID)
		return st.Shadow.Sent == 20 && st.Shadow.Agree+st.Shadow.Disagree == 20
	}, 5*time.Second, 20*time.Millisecond)

	switchAndRollBack(t, svc, d)

	assert.Equal(t, []string{"fraud"}, svc.DeploymentsOf("fraud", 2))

	// Restart: close the service (the app quits) and start a new one on
	// the same store; the endpoint comes back on the same port.
	svc.Close()
	written, dropped := svc.PredictionLog().Counts()
	assert.Zero(t, dropped)
	assert.GreaterOrEqual(t, written, uint64(2000))
	_, err = http.Get(d.Endpoint + "/ping")
	require.Error(t, err, "the endpoint is down while the app is closed")

	svc2 := f.service(NewProcessLauncher())
	t.Cleanup(svc2.Close)
	require.NoError(t, svc2.Start(ctx))
	d2, err := svc2.Get(d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.Endpoint, d2.Endpoint)
	assert.Equal(t, StateRunning, d2.State)
	code, by, body := call(t, d2.Endpoint, "/invocations", "application/json", payloads[2].body)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "v1", by)
	recs, err := svc2.Predictions(d.ID, 3)
	require.NoError(t, err)
	assert.Len(t, recs, 3)

	d2, err = svc2.Stop(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, StateStopped, d2.State)
	_, err = http.Get(d.Endpoint + "/ping")
	assert.Error(t, err)
}

func TestDeployFailures(t *testing.T) {
	f := newFixture(t)
	svc := f.service(NewProcessLauncher())
	t.Cleanup(svc.Close)
	ctx := t.Context()
	_, err := svc.Deploy(ctx, "nope", "1", Options{})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	_, err = svc.Deploy(ctx, "fraud", "9", Options{})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)
	_, err = svc.Deploy(ctx, "fraud", "1", Options{Port: d.Port})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	assert.ErrorContains(t, err, "already in use")

	_, err = svc.SetCanary(d.ID, "v1", 10)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.AddVersion(ctx, d.ID, "1")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.SetTraffic(d.ID, router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 50}}})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = svc.Rollback(d.ID)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
}

func TestTryItAndBatchScoring(t *testing.T) {
	f := newFixture(t)
	svc := f.service(NewProcessLauncher())
	t.Cleanup(svc.Close)
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)

	res, err := svc.Predict(ctx, d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, "v1", res.Backend)
	res, err = svc.Predict(ctx, d.ID, "", `{"instances":[[1,2]]}`)
	require.NoError(t, err)
	assert.Equal(t, 400, res.Status, "a bad payload is the caller's 400, not an error of the call")

	events, stop := svc.cfg.Bus.Subscribe(100)
	defer stop()
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.csv")
	var b strings.Builder
	b.WriteString("a,b,c,d,e,f\n")
	for i := 0; i < 1203; i++ {
		b.WriteString("1,2,3,4,5,6\n")
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	p, err := svc.ScoreCSV(ctx, d.ID, in, "")
	require.NoError(t, err)
	assert.True(t, p.Done)
	assert.Equal(t, 1203, p.Rows)
	assert.Equal(t, filepath.Join(dir, "rows.scored.csv"), p.Output)
	out, err := os.Open(p.Output)
	require.NoError(t, err)
	rows, err := csv.NewReader(out).ReadAll()
	out.Close()
	require.NoError(t, err)
	require.Len(t, rows, 1204)
	assert.Equal(t, "prediction", rows[0][6])
	assert.Equal(t, rows[1][6], rows[1203][6])
	var done bool
	for !done {
		select {
		case ev := <-events:
			if ev.Topic == TopicBatchProgress {
				done = ev.Data.(BatchProgress).Done
			}
		case <-time.After(time.Second):
			t.Fatal("no final progress event")
		}
	}

	// A ragged file fails with the row range, and leaves no output behind.
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("a,b,c,d,e,f\n1,2,3,4,5,x\n"), 0o644))
	_, err = svc.ScoreCSV(ctx, d.ID, bad, filepath.Join(dir, "bad.out.csv"))
	assert.ErrorContains(t, err, "Rows 1–1 were refused")
	assert.NoFileExists(t, filepath.Join(dir, "bad.out.csv"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "rows.csv, rows.scored.csv, bad.csv: no temp file left")

	scored, err := svc.ScoreCSVText(ctx, d.ID, "a,b,c,d,e,f\n1,2,3,4,5,6\n")
	require.NoError(t, err)
	assert.Equal(t, "a,b,c,d,e,f,prediction\n1,2,3,4,5,6,"+rows[1][6]+"\n", scored)
	_, err = svc.ScoreCSVText(ctx, d.ID, "")
	assert.Equal(t, core.Invalid, core.ErrorCode(err), "no header row")

	_, err = svc.Stop(ctx, d.ID)
	require.NoError(t, err)
	_, err = svc.Predict(ctx, d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.ScoreCSVText(ctx, d.ID, "a,b,c,d,e,f\n1,2,3,4,5,6\n")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
}

// A pickled Python version without a signature is refused with words
// before anything is launched; with one, it is served only in a container,
// never in Tern's process, and never exported as one image.
func TestPickledVersionIsNotDeployedInProcess(t *testing.T) {
	f := newFixture(t)
	mlmodel := "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n"
	register := func(mlmodel string) registry.Version {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(mlmodel), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "model.pkl"), []byte("\x80\x04"), 0o644))
		v, err := f.reg.RegisterDir("churn", dir, registry.Meta{})
		require.NoError(t, err)
		require.True(t, v.Pickle)
		return v
	}
	v := register(mlmodel)
	assert.ErrorContains(t, Servable(v), "without a column signature")
	assert.ErrorContains(t, Packagable(v), "two containers")
	svc := f.service(NewProcessLauncher())
	t.Cleanup(svc.Close)
	_, err := svc.Deploy(t.Context(), "churn", "1", Options{})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))

	v = register(mlmodel + "signature:\n  inputs: '[{\"name\": \"x\", \"type\": \"double\"}]'\n")
	require.NoError(t, Servable(v))
	_, err = svc.Deploy(t.Context(), "churn", "2", Options{})
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.ErrorContains(t, err, "never in its own process")
	all, err := svc.List()
	require.NoError(t, err)
	assert.Empty(t, all)
}
