package fairness

import (
	"context"
	"fmt"
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

// oneModel is a registry holding one model directory.
type oneModel struct {
	dir    string
	pickle bool
}

func (m oneModel) Version(name, ref string) (registry.Version, error) {
	if name != "credit" || ref != "1" {
		return registry.Version{}, core.Errorf(core.NotFound, "There is no version %s of %s.", ref, name)
	}
	return registry.Version{Model: name, Version: 1, Pickle: m.pickle}, nil
}

func (m oneModel) Dir(registry.Version) string { return m.dir }

type env struct {
	svc  *Service
	ds   *dataset.Service
	dv   dataset.Version
	bus  *core.Bus
	rows [][]string // the CSV's cells, header first
}

// newEnv imports a credit dataset (real Badger and blob store) with a
// protected sex column (some blank), a region column, a unique id, a
// constant column and a 0/1 target; marks sex and region protected and
// the target; and trains a logistic model on it.
func newEnv(t *testing.T) *env {
	t.Helper()
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	bus := core.NewBus()
	ds := dataset.NewService(db, blobs, bus, db.Dir)
	r := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	rows := [][]string{{"id", "income", "age", "sex", "region", "plan", "approved"}}
	for i := 0; i < 900; i++ {
		sex := []string{"F", "M", ""}[min(r.IntN(10)/4, 2)]
		region := []string{"north", "south", "west"}[r.IntN(3)]
		income := 20 + r.Float64()*80
		if sex == "M" {
			income += 15 // the model learns a gap through income
		}
		age := 18 + r.IntN(60)
		y := 0
		if income+r.NormFloat64()*15 > 70 {
			y = 1
		}
		rows = append(rows, []string{fmt.Sprint(i), fmt.Sprintf("%.2f", income), fmt.Sprint(age), sex, region, "basic", fmt.Sprint(y)})
	}
	for _, row := range rows {
		b.WriteString(strings.Join(row, ",") + "\n")
	}
	path := filepath.Join(t.TempDir(), "credit.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	ctx := context.Background()
	dv, err := ds.ImportPath(ctx, path, dataset.Options{})
	require.NoError(t, err)
	yes := true
	dv, err = ds.EditSchema(ctx, dv.ID, []dataset.ColumnEdit{{Name: "sex", Protected: &yes}, {Name: "region", Protected: &yes},
		{Name: "approved", Role: dataset.Target}, {Name: "id", Role: dataset.IDRole}})
	require.NoError(t, err)
	file, err := ds.VersionFile(dv.ID)
	require.NoError(t, err)
	f, err := ml.ReadFrame(ctx, file, dv.Reading())
	require.NoError(t, err)
	m, _, err := ml.Train(ctx, f, ml.Params{Target: "approved", Model: ml.AlgoLogistic, Features: []string{"income", "age"}}, nil)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, modelfmt.SaveML(dir, m, f))
	return &env{svc: NewService(oneModel{dir: dir}, ds, bus), ds: ds, dv: dv, bus: bus, rows: rows}
}

func (e *env) req() Request {
	return Request{Model: "credit", Version: 1, DatasetVersion: e.dv.ID}
}

func TestAssessMarkedColumns(t *testing.T) {
	e := newEnv(t)
	events, stop := e.bus.Subscribe(1000)
	defer stop()
	req := e.req()
	req.Pairs, req.JobID = true, "job-1"
	rep, err := e.svc.Assess(context.Background(), req)
	require.NoError(t, err)

	assert.Equal(t, "classification", rep.Task)
	assert.Equal(t, "approved", rep.Target)
	assert.Equal(t, "1", rep.Positive, "a binary model's second class is the favourable one")
	assert.Equal(t, 900, rep.Rows)
	assert.Equal(t, DefaultMinGroupSize, rep.MinGroupSize)
	require.Len(t, rep.Analyses, 3, "sex, region and their pair")
	assert.Equal(t, []string{"sex"}, rep.Analyses[0].Columns)
	assert.Equal(t, []string{"region"}, rep.Analyses[1].Columns)
	assert.Equal(t, []string{"sex", "region"}, rep.Analyses[2].Columns)

	sex := rep.Analyses[0]
	var names []string
	total := 0
	for _, g := range sex.Groups {
		names = append(names, g.Name())
		total += g.Count
	}
	assert.Equal(t, []string{Missing, "F", "M"}, names, "a blank protected value is its own group")
	assert.Equal(t, 900, total)
	assert.Len(t, rep.Analyses[2].Groups, 9)

	// The figures are the model's own predictions grouped by hand.
	m, err := modelfmt.LoadML(e.svc.models.Dir(registry.Version{}))
	require.NoError(t, err)
	file, _ := e.ds.VersionFile(e.dv.ID)
	f, err := ml.ReadFrame(context.Background(), file, e.dv.Reading())
	require.NoError(t, err)
	preds, err := m.PredictFrame(f)
	require.NoError(t, err)
	sel := map[string][2]int{}
	for i, row := range e.rows[1:] {
		g := row[3]
		if g == "" {
			g = Missing
		}
		c := sel[g]
		c[1]++
		if text(preds[i].Label) == "1" {
			c[0]++
		}
		sel[g] = c
	}
	lo, hi := 1.0, 0.0
	for _, g := range sex.Groups {
		want := float64(sel[g.Name()][0]) / float64(sel[g.Name()][1])
		assert.InDelta(t, want, g.Figures.SelectionRate.Value, 1e-15, g.Name())
		assert.LessOrEqual(t, g.Figures.SelectionRate.Low, want)
		assert.GreaterOrEqual(t, g.Figures.SelectionRate.High, want)
		lo, hi = min(lo, want), max(hi, want)
	}
	dpd := sex.Disparities[0]
	require.Equal(t, "demographic_parity_difference", dpd.Name)
	require.NotNil(t, dpd.Value)
	assert.InDelta(t, hi-lo, *dpd.Value, 1e-15)
	assert.Greater(t, hi-lo, 0.1, "income differs by sex, so selection does")
	assert.Equal(t, Fail, sex.Verdict.Status)
	assert.Contains(t, sex.Verdict.Text, "demographic parity difference")
	assert.Equal(t, Fail, rep.Verdict.Status)
	assert.Contains(t, rep.Verdict.Text, "Fails on sex")
	assert.Contains(t, rep.Verdict.Text, "outside the limits (difference at most 0.1, ratio at least 0.8)")

	// Progress was reported, ending in done.
	var phases []string
	for len(events) > 0 {
		ev := <-events
		if p, ok := ev.Data.(Progress); ok && ev.Topic == TopicProgress {
			phases = append(phases, p.Phase)
		}
	}
	require.NotEmpty(t, phases)
	assert.Equal(t, "reading", phases[0])
	assert.Contains(t, phases, "scoring")
	assert.Equal(t, "done", phases[len(phases)-1])
}

func TestAssessLimitsAndMinimum(t *testing.T) {
	e := newEnv(t)
	req := e.req()
	req.Protected = []string{"sex"}
	req.Limits = Limits{MaxDifference: 0.99, MinRatio: 0.01}
	rep, err := e.svc.Assess(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, Pass, rep.Verdict.Status, rep.Verdict.Text)
	assert.Contains(t, rep.Verdict.Text, "within the limits")

	// A minimum larger than every group: too few rows everywhere, no verdict.
	req.MinGroupSize = 10_000
	rep, err = e.svc.Assess(context.Background(), req)
	require.NoError(t, err)
	for _, g := range rep.Analyses[0].Groups {
		assert.True(t, g.TooFew, g.Name())
	}
	for _, d := range rep.Analyses[0].Disparities {
		assert.Nil(t, d.Value, d.Name)
	}
	assert.Equal(t, Unknown, rep.Verdict.Status)
	assert.Contains(t, rep.Verdict.Text, "Fewer than two groups of sex have at least 10000 rows")
}

// Bad input is answered in words, never a failure of the whole report
// when only one column is at fault.
func TestAssessBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	req := e.req()
	req.Protected = []string{"id", "plan", "sex"}
	rep, err := e.svc.Assess(ctx, req)
	require.NoError(t, err)
	assert.Contains(t, rep.Analyses[0].Note, `Column "id" has more than 500 distinct values`)
	assert.Empty(t, rep.Analyses[0].Groups)
	assert.Contains(t, rep.Analyses[1].Note, "plan has a single group (basic)")
	assert.Equal(t, Unknown, rep.Analyses[1].Verdict.Status)
	assert.NotEqual(t, Unknown, rep.Analyses[2].Verdict.Status, "sex still gets its figures")

	for _, c := range []struct {
		name string
		edit func(*Request)
		want string
	}{
		{"unknown column", func(r *Request) { r.Protected = []string{"race"} }, `has no column "race"`},
		{"not a class", func(r *Request) { r.Positive = "maybe" }, `"maybe" is not a class of this model; its classes are 0, 1`},
		{"unknown version", func(r *Request) { r.Version = 9 }, "There is no version 9 of credit"},
	} {
		r := e.req()
		c.edit(&r)
		_, err := e.svc.Assess(ctx, r)
		require.Error(t, err, c.name)
		assert.Contains(t, core.ErrorMessage(err), c.want, c.name)
	}

	// Nothing marked protected.
	no := false
	dv, err := e.ds.EditSchema(ctx, e.dv.ID, []dataset.ColumnEdit{{Name: "sex", Protected: &no}, {Name: "region", Protected: &no}})
	require.NoError(t, err)
	_, err = e.svc.Assess(ctx, Request{Model: "credit", Version: 1, DatasetVersion: dv.ID})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "is marked protected")

	// A pickled model is refused in words.
	pk := NewService(oneModel{pickle: true}, e.ds, nil)
	_, err = pk.Assess(ctx, e.req())
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "pickled Python model")
}

func TestAssessAllMissingColumn(t *testing.T) {
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	ds := dataset.NewService(db, blobs, nil, db.Dir)
	var b strings.Builder
	b.WriteString("x,grp,y\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "%d,,%d\n", i, i%2)
	}
	path := filepath.Join(t.TempDir(), "d.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	ctx := context.Background()
	dv, err := ds.ImportPath(ctx, path, dataset.Options{})
	require.NoError(t, err)
	yes := true
	dv, err = ds.EditSchema(ctx, dv.ID, []dataset.ColumnEdit{{Name: "grp", Protected: &yes}, {Name: "y", Role: dataset.Target}})
	require.NoError(t, err)
	file, _ := ds.VersionFile(dv.ID)
	f, err := ml.ReadFrame(ctx, file, dv.Reading())
	require.NoError(t, err)
	m, _, err := ml.Train(ctx, f, ml.Params{Target: "y", Model: ml.AlgoLogistic, Features: []string{"x"}}, nil)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, modelfmt.SaveML(dir, m, f))
	rep, err := NewService(oneModel{dir: dir}, ds, nil).Assess(ctx, Request{Model: "credit", Version: 1, DatasetVersion: dv.ID})
	require.NoError(t, err)
	assert.Equal(t, "Every value of grp is missing, so there are no groups to compare.", rep.Analyses[0].Note)
	assert.Equal(t, Unknown, rep.Verdict.Status)
}

func TestAssessCancel(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := e.req()
	req.JobID = "j"
	_, err := e.svc.Assess(ctx, req)
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "cancelled")
	assert.False(t, e.svc.Cancel("j"), "a finished job is forgotten")
}

// Groups below the minimum take no part: a 3-row group with an extreme
// rate does not decide the disparity.
func TestTooFewLeftOut(t *testing.T) {
	o := Outcomes{}
	var g []string
	for i := 0; i < 100; i++ {
		o.Actual = append(o.Actual, i%2 == 0)
		o.Predicted = append(o.Predicted, i%4 == 0)
		g = append(g, []string{"a", "b"}[i%2])
	}
	for i := 0; i < 3; i++ {
		o.Actual, o.Predicted, g = append(o.Actual, true), append(o.Predicted, true), append(g, "tiny")
	}
	all, err := NewFrame([]string{"g"}, [][]string{g}, o, 0)
	require.NoError(t, err)
	kept, err := NewFrame([]string{"g"}, [][]string{g}, o, 30)
	require.NoError(t, err)
	assert.InDelta(t, 1.0, all.DemographicParityDifference(BetweenGroups), 1e-15)
	assert.InDelta(t, 0.5, kept.DemographicParityDifference(BetweenGroups), 1e-15)
	assert.True(t, kept.Groups[2].TooFew)
}

// XGBoost and LightGBM models are run as their server runs them: a
// binary model's label is 1 above 0.5, a multi-class model's the most
// probable class, and the score is the favourable class's probability.
func TestAssessImportedGBDT(t *testing.T) {
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	ds := dataset.NewService(db, blobs, nil, db.Dir)
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("Column_0,Column_1,Column_2,Column_3,Column_4,Column_5,grp,y\n")
	var xs [][]float64
	var grps []string
	for i := 0; i < 400; i++ {
		x := make([]float64, 6)
		for j := range x {
			x[j] = float64(int(r.NormFloat64()*200)) / 100
			fmt.Fprintf(&b, "%g,", x[j])
		}
		g := []string{"a", "b"}[i%2]
		fmt.Fprintf(&b, "%s,%d\n", g, r.IntN(2))
		xs, grps = append(xs, x), append(grps, g)
	}
	path := filepath.Join(t.TempDir(), "six.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	ctx := context.Background()
	dv, err := ds.ImportPath(ctx, path, dataset.Options{})
	require.NoError(t, err)
	yes := true
	dv, err = ds.EditSchema(ctx, dv.ID, []dataset.ColumnEdit{{Name: "grp", Protected: &yes}, {Name: "y", Role: dataset.Target}})
	require.NoError(t, err)

	for _, c := range []struct{ file, flavor, positive string }{
		{"xgb_binary.json", modelfmt.FlavorXGBoost, "1"},
		{"lgb_multi.txt", modelfmt.FlavorLightGBM, "1"},
	} {
		dir := t.TempDir()
		body, err := os.ReadFile(filepath.Join("..", "gbdt", "testdata", c.file))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, c.file), body, 0o644))
		names := []string{"Column_0", "Column_1", "Column_2", "Column_3", "Column_4", "Column_5"}
		require.NoError(t, modelfmt.WriteImported(dir, c.flavor, c.file, modelfmt.DefaultSignature(names, 6), nil))
		m, err := modelfmt.Load(dir)
		require.NoError(t, err)
		rep, err := NewService(oneModel{dir: dir}, ds, nil).Assess(ctx, Request{Model: "credit", Version: 1, DatasetVersion: dv.ID, MinGroupSize: 1})
		require.NoError(t, err, c.file)
		assert.Equal(t, "classification", rep.Task, c.file)
		assert.Equal(t, c.positive, rep.Positive)
		// Selection rate and mean score of group a, from the model by hand.
		out := make([]float64, m.GBDT.Outputs)
		sel, n, score := 0, 0, 0.0
		for i, x := range xs {
			if grps[i] != "a" {
				continue
			}
			m.GBDT.PredictRow(x, out)
			n++
			if len(out) == 1 {
				sel += b2i(out[0] > 0.5)
				score += out[0]
				continue
			}
			best := 0
			for k := range out {
				if out[k] > out[best] {
					best = k
				}
			}
			sel += b2i(best == 1)
			score += out[1]
		}
		ga := rep.Analyses[0].Groups[0]
		require.Equal(t, "a", ga.Name())
		assert.Equal(t, float64(sel)/float64(n), ga.Figures.SelectionRate.Value, c.file)
		require.NotNil(t, ga.Figures.MeanScore, c.file)
		assert.InDelta(t, score/float64(n), *ga.Figures.MeanScore, 1e-12, c.file)
		if c.flavor == modelfmt.FlavorLightGBM {
			assert.Len(t, rep.Classes, m.GBDT.Outputs)
		}
	}
}
