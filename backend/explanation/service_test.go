package explanation

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
)

// oneModel is a registry holding one model directory, trained on dv.
type oneModel struct {
	dir, dv string
	pickle  bool
	sig     modelfmt.Signature
}

func (m oneModel) Version(name, ref string) (registry.Version, error) {
	if ref != "1" {
		return registry.Version{}, core.Errorf(core.NotFound, "There is no version %s of %s.", ref, name)
	}
	return registry.Version{Model: name, Version: 1, DatasetVersion: m.dv, Pickle: m.pickle, Signature: m.sig}, nil
}

func (m oneModel) Dir(registry.Version) string { return m.dir }

func (m oneModel) List() ([]registry.Model, error) { return []registry.Model{{Name: "credit"}}, nil }

func (m oneModel) Versions(name string) ([]registry.Version, error) {
	v, _ := m.Version(name, "1")
	v.RunID = "run-1"
	return []registry.Version{v}, nil
}

type env struct {
	db    *store.Store
	blobs *blob.Store
	ds    *dataset.Service
	dv    dataset.Version
	frame *ml.Frame
}

// newEnv imports 1,500 rows where approval follows income strongly, age
// weakly and noise not at all, with a categorical region.
func newEnv(t *testing.T) *env {
	t.Helper()
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	ds := dataset.NewService(db, blobs, nil, db.Dir)
	r := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("income,age,noise,region,approved\n")
	for i := 0; i < 1500; i++ {
		income, age, noise := 20+r.Float64()*80, 18+r.IntN(60), r.NormFloat64()
		region := []string{"north", "south", "west"}[r.IntN(3)]
		y := 0
		if income+0.3*float64(age)+r.NormFloat64()*8 > 75 {
			y = 1
		}
		fmt.Fprintf(&b, "%.2f,%d,%.3f,%s,%d\n", income, age, noise, region, y)
	}
	path := filepath.Join(t.TempDir(), "credit.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	ctx := context.Background()
	dv, err := ds.ImportPath(ctx, path, dataset.Options{})
	require.NoError(t, err)
	file, err := ds.VersionFile(dv.ID)
	require.NoError(t, err)
	f, err := ml.ReadFrame(ctx, file, dv.Reading())
	require.NoError(t, err)
	return &env{db: db, blobs: blobs, ds: ds, dv: dv, frame: f}
}

func (e *env) train(t *testing.T, p ml.Params) (*Service, *ml.Model) {
	t.Helper()
	p.Target = "approved"
	m, _, err := ml.Train(context.Background(), e.frame, p, nil)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, modelfmt.SaveML(dir, m, e.frame))
	return NewService(e.db, e.blobs, oneModel{dir: dir, dv: e.dv.ID, sig: modelfmt.SignatureOf(m)}, e.ds, nil), m
}

func TestComputeGBDTOnValidationRows(t *testing.T) {
	e := newEnv(t)
	svc, m := e.train(t, ml.Params{Model: ml.AlgoGBDT, MaxIter: 40})
	ctx := context.Background()
	_, ok, err := svc.Get("credit", 1)
	require.NoError(t, err)
	assert.False(t, ok, "nothing before it is computed")

	g, err := svc.Compute(ctx, Request{Model: "credit", Version: 1})
	require.NoError(t, err)
	held, _, err := ml.Holdout(e.frame, m.Params)
	require.NoError(t, err)
	assert.True(t, g.Validation)
	assert.Equal(t, held.Len(), g.Rows, "every held-out row (fewer than MaxRows)")
	assert.Equal(t, "TreeSHAP (path-dependent)", g.Method)
	assert.Equal(t, "logit", g.Link)
	assert.Equal(t, "credit v1", g.Dataset)

	// Columns by importance: income first, noise last; each mean |SHAP|
	// is the mean over the held-out rows of the model's own explanation.
	require.Len(t, g.Columns, 4)
	assert.Equal(t, "income", g.Columns[0].Name)
	for i := 1; i < len(g.Columns); i++ {
		assert.GreaterOrEqual(t, g.Columns[i-1].MeanAbs, g.Columns[i].MeanAbs)
	}
	x, err := m.Explain(ctx, held, nil)
	require.NoError(t, err)
	names := m.InputNames()
	for _, c := range g.Columns {
		j := indexOf(names, c.Name)
		sum := 0.0
		for r := 0; r < x.Rows; r++ {
			sum += math.Abs(x.Row(r, 0)[j])
		}
		assert.InDelta(t, sum/float64(x.Rows), c.MeanAbs, 1e-12, c.Name)
		assert.NotEmpty(t, c.Dependence, c.Name)
	}
	assert.False(t, g.Columns[indexOf(columnNames(g), "region")].Numeric)

	v, ok, err := svc.VersionOfRun("run-1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, v.Version)
	_, ok, err = svc.VersionOfRun("another")
	require.NoError(t, err)
	assert.False(t, ok)

	// The charts come back as SVG.
	bar, err := svc.Chart("credit", 1, "bar", "")
	require.NoError(t, err)
	assert.Contains(t, string(bar), "<svg")
	assert.Contains(t, string(bar), ">income<")
	bee, err := svc.Chart("credit", 1, "beeswarm", "")
	require.NoError(t, err)
	assert.Contains(t, string(bee), "fill:#D55E00", "high incomes are drawn vermilion")
	dep, err := svc.Chart("credit", 1, "dependence", "region")
	require.NoError(t, err)
	assert.Contains(t, string(dep), ">south<", "a category's dependence plot names its categories")
	for _, bad := range [][2]string{{"pie", ""}, {"dependence", "nope"}} {
		_, err := svc.Chart("credit", 1, bad[0], bad[1])
		require.Error(t, err)
	}

	// Computing again replaces the record and lets go of the old charts.
	old := blob.Digest(g.Bar)
	before, err := e.blobs.Holders(old)
	require.NoError(t, err)
	require.Len(t, before, 1)
	g2, err := svc.Compute(ctx, Request{Model: "credit", Version: 1})
	require.NoError(t, err)
	assert.Equal(t, g.Bar, g2.Bar, "the same data draws the same chart")
	after, err := e.blobs.Holders(old)
	require.NoError(t, err)
	require.Len(t, after, 1)
	assert.NotEqual(t, before[0], after[0], "the new explanation holds it, the old one let go")
}

func TestComputeLinear(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.train(t, ml.Params{Model: ml.AlgoLogistic})
	g, err := svc.Compute(context.Background(), Request{Model: "credit", Version: 1})
	require.NoError(t, err)
	assert.Contains(t, g.Method, "Linear SHAP")
	assert.Equal(t, "income", g.Columns[0].Name)
}

// An imported model with no lineage is explained on a dataset version the
// person picks, and is refused in words without one.
func TestComputeImportedGBDT(t *testing.T) {
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	ds := dataset.NewService(db, blobs, nil, db.Dir)
	r := rand.New(rand.NewPCG(1, 1))
	var b strings.Builder
	b.WriteString("Column_0,Column_1,Column_2,Column_3,Column_4,Column_5\n")
	for i := 0; i < 300; i++ {
		for j := 0; j < 6; j++ {
			sep := ","
			if j == 5 {
				sep = "\n"
			}
			fmt.Fprintf(&b, "%.3f%s", r.NormFloat64(), sep)
		}
	}
	path := filepath.Join(t.TempDir(), "six.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	dv, err := ds.ImportPath(context.Background(), path, dataset.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	body, err := os.ReadFile(filepath.Join("..", "gbdt", "testdata", "xgb_binary.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.json"), body, 0o644))
	names := []string{"Column_0", "Column_1", "Column_2", "Column_3", "Column_4", "Column_5"}
	require.NoError(t, modelfmt.WriteImported(dir, modelfmt.FlavorXGBoost, "model.json", modelfmt.DefaultSignature(names, 6), nil))
	svc := NewService(db, blobs, oneModel{dir: dir}, ds, nil)

	_, err = svc.Compute(context.Background(), Request{Model: "fraud", Version: 1})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "has no training data in its lineage")

	g, err := svc.Compute(context.Background(), Request{Model: "fraud", Version: 1, DatasetVersion: dv.ID})
	require.NoError(t, err)
	assert.False(t, g.Validation)
	assert.Equal(t, 300, g.Rows)
	assert.Len(t, g.Columns, 6)

	l, err := svc.Local(context.Background(), "fraud", 1, map[string]any{"Column_0": 0.5, "Column_1": "1.5", "Column_2": nil, "Column_3": true})
	require.NoError(t, err)
	require.Len(t, l.Contributions, 6)
	assert.Equal(t, "TreeSHAP (path-dependent)", l.Method)
	sum := l.Base
	for _, c := range l.Contributions {
		sum += c.SHAP
	}
	assert.InDelta(t, l.Margin, sum, 1e-12)
}

func TestComputeRefusedOrCancelled(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.train(t, ml.Params{Model: ml.AlgoGBDT, MaxIter: 10})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := svc.Compute(ctx, Request{Model: "credit", Version: 1, JobID: "j"})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "cancelled; nothing was stored")
	_, ok, err := svc.Get("credit", 1)
	require.NoError(t, err)
	assert.False(t, ok)

	pk := NewService(e.db, e.blobs, oneModel{pickle: true, dv: e.dv.ID}, e.ds, nil)
	_, err = pk.Compute(context.Background(), Request{Model: "credit", Version: 1})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "pickled Python model")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func columnNames(g Global) []string {
	var out []string
	for _, c := range g.Columns {
		out = append(out, c.Name)
	}
	return out
}

// Local reasons: base plus contributions is the model's margin for the
// row, largest first, for trees and linear models; refused in words
// where there is nothing to explain with.
func TestLocal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	record := map[string]any{"income": 88.5, "age": 41.0, "noise": 0.2, "region": "west"}
	for _, algo := range []string{ml.AlgoGBDT, ml.AlgoLogistic} {
		svc, m := e.train(t, ml.Params{Model: algo, MaxIter: 30})
		l, err := svc.Local(ctx, "credit", 1, record)
		require.NoError(t, err, algo)
		margins, err := m.Margins(ml.FrameFromRecords(m.InputNames(), []map[string]any{record}))
		require.NoError(t, err)
		assert.InDelta(t, margins[len(margins)-1], l.Margin, 1e-9, algo)
		sum := l.Base
		for i, c := range l.Contributions {
			sum += c.SHAP
			if i > 0 {
				assert.GreaterOrEqual(t, math.Abs(l.Contributions[i-1].SHAP), math.Abs(c.SHAP))
			}
		}
		assert.InDelta(t, l.Margin, sum, 1e-12)
		assert.Equal(t, "income", l.Contributions[0].Name, algo)
		assert.Equal(t, "88.5", l.Contributions[0].Value)
		assert.Equal(t, "log-odds of class 1", l.Output)
		// A second call uses the loaded model.
		_, err = svc.Local(ctx, "credit", 1, map[string]any{"income": nil})
		require.NoError(t, err, "a missing value is explained, not refused")
	}

	imported := NewService(e.db, e.blobs, oneModel{dir: t.TempDir()}, e.ds, nil)
	_, err := imported.Local(ctx, "credit", 1, record)
	require.Error(t, err, "a folder that is not a model")

	svc, _ := e.train(t, ml.Params{Model: ml.AlgoLogistic})
	svc.models = oneModel{dir: svc.models.(oneModel).dir} // no lineage
	_, err = svc.Local(ctx, "credit", 1, record)
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "background")
}
