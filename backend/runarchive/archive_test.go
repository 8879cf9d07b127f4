package runarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// install is one Tern's data dir: its own store, blobs, datasets,
// tracking and runner (local processes: the same runtime as in Docker).
type install struct {
	svc *Service
	dir string
}

func newInstall(t *testing.T, bin string) *install {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, bus, st.Dir)
	tr, err := tracking.NewService(st, bus, st.Dir)
	require.NoError(t, err)
	r, err := runner.New(runner.Config{Store: st, Bus: bus, Sink: runner.TrackingSink{Svc: tr}, DataDir: st.Dir, AppVersion: "test",
		RuntimeBinary: func() (string, error) { return bin, nil }})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return &install{svc: &Service{Runner: r, Tracking: tr, Datasets: ds, TernVersion: "test"}, dir: st.Dir}
}

func (in *install) wait(t *testing.T, j runner.Job) runner.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	j, err := in.svc.Runner.Wait(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, runner.Succeeded, j.State, j.Reason)
	return j
}

// fingerprint: the model file's SHA-256 and every metric's history but
// the clock's (training_seconds) and the machine's (system/*).
func (in *install) fingerprint(t *testing.T, runID string) (string, map[string][]float64) {
	t.Helper()
	f, _, err := in.svc.Tracking.OpenArtifact(runID, "model/model.json")
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	require.NoError(t, err)
	run, err := in.svc.Tracking.GetRun(runID)
	require.NoError(t, err)
	out := map[string][]float64{}
	for k := range run.Metrics {
		if k == "training_seconds" || strings.HasPrefix(k, "system/") {
			continue
		}
		pts, err := in.svc.Tracking.MetricHistory(runID, k)
		require.NoError(t, err)
		for _, p := range pts {
			out[k] = append(out[k], float64(p.Value))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), out
}

// loans writes a CSV with a weak signal, a text column and missing values.
func loans(t *testing.T, n int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(n)))
	var b strings.Builder
	b.WriteString("income,age,region,default\n")
	for range n {
		inc, age := r.NormFloat64()*20+50, 20+r.IntN(50)
		region := []string{"north", "south", "east", ""}[r.IntN(4)]
		y := 0
		if inc/10-float64(age)/15+r.NormFloat64()*1.5 > 2 {
			y = 1
		}
		fmt.Fprintf(&b, "%.3f,%d,%s,%d\n", inc, age, region, y)
	}
	p := filepath.Join(t.TempDir(), "loans.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	return p
}

// TestExportedRunReRunsElsewhere: a run trained on one data dir, exported,
// imported into a fresh one, arrives with its metrics and artifacts, and
// re-run there gives the same model file and the same metrics bit for bit.
func TestExportedRunReRunsElsewhere(t *testing.T) {
	bin := testenv.RuntimeBinary(t)
	a := newInstall(t, bin)
	v, err := a.svc.Datasets.ImportPath(t.Context(), loans(t, 2500), dataset.Options{Name: "loans"})
	require.NoError(t, err)
	exp, err := a.svc.Tracking.CreateExperiment("credit", nil)
	require.NoError(t, err)
	j, err := a.svc.Runner.Train(runner.TrainRequest{DatasetVersionID: v.ID, ExperimentID: exp.ID, Name: "gbdt seed 5", Target: "default",
		Model: "gbdt", Params: map[string]any{"seed": 5, "max_iter": 50}, Refit: true}, runner.VersionData(a.svc.Datasets))
	require.NoError(t, err)
	j = a.wait(t, j)
	model, metrics := a.fingerprint(t, j.RunID)
	require.Contains(t, metrics, "test_roc_auc")
	require.Greater(t, len(metrics["train_loss"]), 10)

	var archive bytes.Buffer
	require.NoError(t, a.svc.Export(j.RunID, &archive))

	b := newInstall(t, bin)
	imp, err := b.svc.Import(t.Context(), bytes.NewReader(archive.Bytes()), filepath.Join(b.dir, "imports", "x"))
	require.NoError(t, err)

	// The run arrives as it was: name, experiment, params, metrics, model.
	orig, err := a.svc.Tracking.GetRun(j.RunID)
	require.NoError(t, err)
	got, err := b.svc.Tracking.GetRun(imp.RunID)
	require.NoError(t, err)
	assert.Equal(t, orig.Name, got.Name)
	assert.Equal(t, tracking.StatusFinished, got.Status)
	assert.Equal(t, orig.Params, got.Params)
	assert.Equal(t, j.RunID, got.Tags[TagImportedFrom])
	assert.Equal(t, orig.Tags[runner.TagDatasetDigest], got.Tags[runner.TagDatasetDigest])
	gotExp, err := b.svc.Tracking.Experiment(got.ExperimentID)
	require.NoError(t, err)
	assert.Equal(t, "credit", gotExp.Name)
	importedModel, importedMetrics := b.fingerprint(t, imp.RunID)
	assert.Equal(t, model, importedModel)
	assert.Equal(t, metrics, importedMetrics)
	bv, err := b.svc.Datasets.Version(imp.DatasetVersion)
	require.NoError(t, err)
	assert.Equal(t, v.Digest, bv.Digest, "the same bytes")
	assert.Equal(t, "loans", bv.Dataset)

	// Re-run on the second machine: the same model and metrics.
	again, err := b.svc.Runner.Rerun(imp.RunID, runner.VersionData(b.svc.Datasets))
	require.NoError(t, err)
	again = b.wait(t, again)
	rerunModel, rerunMetrics := b.fingerprint(t, again.RunID)
	assert.Equal(t, model, rerunModel, "the model file is bit-identical")
	assert.Equal(t, metrics, rerunMetrics, "every metric, every step")
	rerun, err := b.svc.Tracking.GetRun(again.RunID)
	require.NoError(t, err)
	assert.Equal(t, got.ExperimentID, rerun.ExperimentID)
	assert.Equal(t, imp.RunID, rerun.Tags[runner.TagRerunOf])

	// The unpacked copies are gone: the data is a dataset version now.
	_, err = os.Stat(filepath.Join(b.dir, "imports", "x"))
	assert.True(t, os.IsNotExist(err), "the unpack folder is removed")
}

// TestDamagedArchivesAreRefused: a cut-short archive, a file that is not
// one, and an archive whose data does not match its manifest are refused in
// words, leaving no dataset, run or unpack folder behind.
func TestDamagedArchivesAreRefused(t *testing.T) {
	bin := testenv.RuntimeBinary(t)
	a := newInstall(t, bin)
	v, err := a.svc.Datasets.ImportPath(t.Context(), loans(t, 300), dataset.Options{Name: "loans"})
	require.NoError(t, err)
	j, err := a.svc.Runner.Train(runner.TrainRequest{DatasetVersionID: v.ID, Target: "default", Model: "logistic"}, runner.VersionData(a.svc.Datasets))
	require.NoError(t, err)
	j = a.wait(t, j)
	var archive bytes.Buffer
	require.NoError(t, a.svc.Export(j.RunID, &archive))

	b := newInstall(t, bin)
	for name, data := range map[string][]byte{
		"cut short":   archive.Bytes()[:archive.Len()*2/3],
		"not gzip":    []byte("income,age\n1,2\n"),
		"empty gzip":  gzipped(t, nil),
		"bad version": rewrite(t, archive.Bytes(), `"format": "tern-run-archive/1"`, `"format": "tern-run-archive/9"`),
	} {
		dir := filepath.Join(b.dir, "imports", strings.ReplaceAll(name, " ", "-"))
		_, err := b.svc.Import(t.Context(), bytes.NewReader(data), dir)
		require.Error(t, err, name)
		assert.Equal(t, core.Invalid, core.ErrorCode(err), name)
		assert.Contains(t, core.ErrorMessage(err), "not a run archive Tern can read", name)
		_, statErr := os.Stat(dir)
		assert.True(t, os.IsNotExist(statErr), "%s: nothing unpacked is left", name)
	}
	list, err := b.svc.Datasets.List()
	require.NoError(t, err)
	assert.Empty(t, list, "no dataset was imported")
	assert.Equal(t, 0, b.svc.Tracking.Experiments(false)[0].RunCount, "no run was recorded")
	err = a.svc.Export("no-such-run", io.Discard)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

// rewrite replaces old with new (the same length, so the tar stays whole)
// inside a gzipped archive.
func rewrite(t *testing.T, archive []byte, old, new string) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(archive))
	require.NoError(t, err)
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Contains(t, string(raw), old)
	return gzipped(t, bytes.Replace(raw, []byte(old), []byte(new), 1))
}

// FuzzUnpack: any bytes are either an archive or refused in words; nothing
// is ever written outside the unpack folder.
func FuzzUnpack(f *testing.F) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	manifest := []byte(`{"format":"tern-run-archive/1","dataset":{"file":"d.csv"},"artifacts":["model/model.json"]}`)
	for name, body := range map[string][]byte{"manifest.json": manifest, "data/d.csv": []byte("a,b\n1,2\n"), "../escape": []byte("x")} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	f.Add(gzipped(f, tarball.Bytes()))
	f.Add(gzipped(f, nil))
	f.Add([]byte("not an archive"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "in")
		require.NoError(t, os.Mkdir(dir, 0o700))
		if _, err := unpack(bytes.NewReader(data), dir); err != nil {
			assert.Equal(t, core.Invalid, core.ErrorCode(err), "%v", err)
		}
		entries, err := os.ReadDir(parent)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "nothing beside the unpack folder")
	})
}
