package registry

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

func newService(t *testing.T) (*Service, *tracking.Service) {
	t.Helper()
	st := store.MustOpen(t)
	dir := t.TempDir()
	tr, err := tracking.NewService(st, core.NewBus(), dir)
	require.NoError(t, err)
	s, err := NewService(st, core.NewBus(), dir, tr)
	require.NoError(t, err)
	s.Profile = func(dv string) (any, error) { return map[string]any{"dataset": dv, "rows": 200}, nil }
	return s, tr
}

func gbdtFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "gbdt", "testdata", name))
	require.NoError(t, err)
	return b
}

func trainModel(t *testing.T, dir string) {
	t.Helper()
	f := &ml.Frame{Columns: []string{"x", "y", "label"}}
	for i := 0; i < 120; i++ {
		label := "a"
		if i%3 == 0 {
			label = "b"
		}
		f.Rows = append(f.Rows, []any{float64(i % 5), float64(i % 3), label})
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "label", Model: ml.AlgoLogistic}, nil)
	require.NoError(t, err)
	require.NoError(t, modelfmt.SaveML(dir, m, &ml.Frame{Columns: []string{"x", "y"}, Rows: [][]any{{1.0, 0.0}}}))
}

func TestRegisterRunWithLineage(t *testing.T) {
	s, tr := newService(t)
	run, err := tr.CreateRun(tracking.RunSpec{Name: "r1", DatasetVersion: "dsv-1"})
	require.NoError(t, err)
	require.NoError(t, tr.LogMetrics(run.ID, []tracking.Metric{{Key: "accuracy", Value: 0.93}}))
	adir, err := tr.ArtifactDir(run.ID)
	require.NoError(t, err)
	trainModel(t, filepath.Join(adir, "model"))

	v, err := s.RegisterRun("churn", run.ID, "")
	require.NoError(t, err)
	assert.Equal(t, 1, v.Version)
	assert.Equal(t, "tern", v.Flavor)
	assert.Equal(t, "dsv-1", v.DatasetVersion)
	assert.Equal(t, run.ID, v.RunID)
	assert.InDelta(t, 0.93, v.Metrics["accuracy"], 1e-12)
	assert.Equal(t, []string{"x", "y"}, []string{v.Signature.Inputs[0].Name, v.Signature.Inputs[1].Name})
	assert.NotEmpty(t, v.InputExample)
	assert.JSONEq(t, `{"dataset":"dsv-1","rows":200}`, string(v.Profile))

	l, err := s.Lineage("churn", "1", func(m string, n int) []string { return []string{"dep-" + m} })
	require.NoError(t, err)
	assert.Equal(t, Lineage{DatasetVersion: "dsv-1", RunID: run.ID, ExperimentID: v.ExperimentID, Model: "churn", Version: 1, Deployments: []string{"dep-churn"}}, l)

	_, err = s.RegisterRun("churn", run.ID, "../../etc")
	assert.Error(t, err)
	_, err = s.RegisterRun("churn", run.ID, "nothing-here")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestImportFilesAndAliases(t *testing.T) {
	s, _ := newService(t)
	v1, err := s.ImportFile("fraud", gbdtFile(t, "xgb_binary.json"), modelfmt.Signature{}, nil, Meta{})
	require.NoError(t, err)
	v2, err := s.ImportFile("fraud", gbdtFile(t, "lgb_binary.txt"), modelfmt.Signature{}, []byte(`{"inputs":[[1,2,3,4,5,6]]}`), Meta{Description: "lgb"})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, []int{v1.Version, v2.Version})
	assert.Equal(t, "xgboost", v1.Flavor)
	assert.Equal(t, "lightgbm", v2.Flavor)
	assert.Equal(t, "f0", v1.Signature.Inputs[0].Name)
	assert.Equal(t, "Column_0", v2.Signature.Inputs[0].Name)

	_, err = s.SetAliases("fraud", map[string]int{"champion": 1, "challenger": 2})
	require.NoError(t, err)
	v, err := s.Version("fraud", "@champion")
	require.NoError(t, err)
	assert.Equal(t, 1, v.Version)
	assert.Equal(t, []string{"champion"}, v.Aliases)
	m, err := s.Promote("fraud")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"champion": 2}, m.Aliases)
	_, err = s.Promote("fraud")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	// A bad move in a batch leaves every alias where it was.
	_, err = s.SetAliases("fraud", map[string]int{"champion": 1, "challenger": 9})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	m, _ = s.Get("fraud")
	assert.Equal(t, map[string]int{"champion": 2}, m.Aliases)
	_, err = s.SetAliases("fraud", map[string]int{"Bad Alias": 1})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = s.Version("fraud", "@nope")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	v, err = s.Version("fraud", "latest")
	require.NoError(t, err)
	assert.Equal(t, 2, v.Version)

	vs, err := s.Versions("fraud")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.Equal(t, 2, vs[0].Version, "newest first")

	// Export then re-import round trip.
	dest := filepath.Join(t.TempDir(), "export")
	require.NoError(t, s.Export("fraud", "2", dest))
	assert.FileExists(t, filepath.Join(dest, "MLmodel"))
	assert.Error(t, s.Export("fraud", "2", dest), "never overwrites")
	v3, err := s.RegisterDir("fraud-copy", dest, Meta{})
	require.NoError(t, err)
	assert.Equal(t, v2.Signature, v3.Signature)
	assert.Equal(t, "import-dir", v3.Source)
}

func TestRefusalsLeaveNothingBehind(t *testing.T) {
	s, _ := newService(t)
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "MLmodel"), []byte("flavors:\n  h2o:\n    data: model.h2o\n"), 0o644))
	_, err := s.RegisterDir("m", bad, Meta{})
	assert.ErrorContains(t, err, "Tern serves tern, xgboost and lightgbm")

	linked := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(linked, "MLmodel"), []byte("flavors:\n  lightgbm:\n    data: model.lgb\n"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(linked, "model.lgb")))
	_, err = s.RegisterDir("m", linked, Meta{})
	assert.ErrorContains(t, err, "link")

	_, err = s.ImportFile("m", []byte("not a model"), modelfmt.Signature{}, nil, Meta{})
	assert.ErrorContains(t, err, "Unsupported model format/version")
	_, err = s.ImportFile("m", gbdtFile(t, "lgb_binary.txt"), modelfmt.DefaultSignature(nil, 2), nil, Meta{})
	assert.ErrorContains(t, err, "names 2 inputs but the model reads 6")
	_, err = s.ImportFile("../evil", gbdtFile(t, "lgb_binary.txt"), modelfmt.Signature{}, nil, Meta{})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))

	_, err = s.Get("m")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	entries, err := os.ReadDir(s.Root())
	require.NoError(t, err)
	assert.Empty(t, entries, "no staging folders or partial versions left")
}

func TestConcurrentRegistrationsGetDistinctVersions(t *testing.T) {
	s, _ := newService(t)
	data := gbdtFile(t, "lgb_regression.txt")
	var wg sync.WaitGroup
	versions := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.ImportFile("m", data, modelfmt.Signature{}, nil, Meta{})
			if err == nil {
				versions <- v.Version
			}
		}()
	}
	wg.Wait()
	close(versions)
	seen := map[int]bool{}
	for v := range versions {
		seen[v] = true
	}
	assert.Len(t, seen, 8)
	m, err := s.Get("m")
	require.NoError(t, err)
	assert.Equal(t, 8, m.LatestVersion)
}

// A UBJSON model (XGBoost's default format, MLflow's model.ubj) is kept as
// model.ubj with model_format ubj, and serves.
func TestImportUBJSONFile(t *testing.T) {
	s, _ := newService(t)
	v, err := s.ImportFile("fraud", gbdtFile(t, "xgb_binary.ubj"), modelfmt.Signature{}, nil, Meta{})
	require.NoError(t, err)
	assert.Equal(t, "xgboost", v.Flavor)
	dir := s.Dir(v)
	assert.FileExists(t, filepath.Join(dir, "model.ubj"))
	mm, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	require.NoError(t, err)
	assert.Contains(t, string(mm), "model_format: ubj")
	l, err := modelfmt.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, 6, l.GBDT.Features)
}

func TestImportPath(t *testing.T) {
	s, _ := newService(t)
	v, err := s.ImportPath("fraud", filepath.Join("..", "gbdt", "testdata", "lgb_binary.txt"))
	require.NoError(t, err)
	assert.Equal(t, 1, v.Version)
	dir := t.TempDir()
	trainModel(t, dir)
	v, err = s.ImportPath("fraud", dir)
	require.NoError(t, err)
	assert.Equal(t, 2, v.Version, "a folder is an MLmodel directory")

	_, err = s.ImportPath("fraud", filepath.Join(dir, "missing.txt"))
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	huge := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(maxModelFile+1)) // sparse: no disk used
	f.Close()
	_, err = s.ImportPath("fraud", huge)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "larger than 512 MB")
}
