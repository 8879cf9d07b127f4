package explanation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout: 0x38 name 0x00 U64(version) -> Global (JSON), in the
// registry's range: an explanation belongs to a model version.
const prefix = store.PrefixRegistry + 8

// TopicProgress carries Progress while an explanation is computed.
const TopicProgress = "explanation.progress"

// Sizes of the work and of the pictures.
const (
	// MaxRows is how many rows are explained: enough for stable means and
	// a readable beeswarm, few enough for seconds of TreeSHAP.
	MaxRows = 1000
	// maxBackground bounds the rows whose means a linear model's expected
	// value is taken over.
	maxBackground = 5000
	barColumns    = 20
	swarmColumns  = 12
	// depColumns bounds the dependence plots kept (the most important).
	depColumns = 30
	// depCategories bounds the categories drawn in a dependence plot.
	depCategories = 12
)

// Models is what the explanation needs of the registry.
type Models interface {
	Version(name, ref string) (registry.Version, error)
	Dir(v registry.Version) string
	List() ([]registry.Model, error)
	Versions(name string) ([]registry.Version, error)
}

// Datasets is what the explanation needs of the datasets.
type Datasets interface {
	Version(id string) (dataset.Version, error)
	VersionFile(id string) (string, error)
}

// Column is one input column's share in the model's output.
type Column struct {
	Name string `json:"name"`
	// MeanAbs is the mean |SHAP value| over the explained rows, in the
	// margin's units: how much the column moves the output on average.
	MeanAbs float64 `json:"meanAbs"`
	Numeric bool    `json:"numeric"`
	// Dependence is the digest of its dependence plot ("" for the columns
	// past the most important ones).
	Dependence string `json:"dependence,omitempty"`
}

// Global is a model version's stored explanation.
type Global struct {
	Model          string `json:"model"`
	Version        int    `json:"version"`
	DatasetVersion string `json:"datasetVersion"`
	Dataset        string `json:"dataset"` // "credit v1"
	// Rows were explained; Validation says they are (a sample of) the
	// training run's held-out rows, else of the whole dataset version.
	Rows       int  `json:"rows"`
	Validation bool `json:"validation"`
	// Method names the algorithm, Link the function from margin to output,
	// Output which output is explained.
	Method  string   `json:"method"`
	Link    string   `json:"link"`
	Output  string   `json:"output"`
	Base    float64  `json:"base"`
	Columns []Column `json:"columns"`
	// Bar and Beeswarm are blob digests of the SVG charts.
	Bar      string    `json:"bar"`
	Beeswarm string    `json:"beeswarm"`
	Computed time.Time `json:"computed"`
	Millis   int64     `json:"millis"`
}

// stored is Global with its blob holder name.
type stored struct {
	Global
	Holder string `json:"holder"`
}

// Progress is published on TopicProgress.
type Progress struct {
	JobID string `json:"jobId"`
	Phase string `json:"phase"` // reading, explaining, drawing, done, failed, cancelled
	Rows  int    `json:"rows"`
	Error string `json:"error,omitempty"`
}

// Request asks for a model version's explanation.
type Request struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	// DatasetVersion to explain on; "" is the version's training data
	// (its validation rows, for Tern's own models).
	DatasetVersion string `json:"datasetVersion,omitempty"`
	JobID          string `json:"jobId,omitempty"`
}

// Service computes and keeps global explanations.
type Service struct {
	db       *store.Store
	blobs    *blob.Store
	models   Models
	datasets Datasets
	bus      *core.Bus
	jobs     sync.Map
	now      func() time.Time
	local    loaded
	// Deployments, when set, lets Logged find the version that answered a
	// logged prediction.
	Deployments Deployments
}

// NewService builds the service; bus may be nil.
func NewService(db *store.Store, blobs *blob.Store, models Models, datasets Datasets, bus *core.Bus) *Service {
	return &Service{db: db, blobs: blobs, models: models, datasets: datasets, bus: bus, now: time.Now}
}

func key(name string, version int) []byte {
	return store.Key(prefix, []byte(name), []byte{0}, store.U64(uint64(version)))
}

// Get returns the stored explanation of a version; ok is false when none
// was computed yet.
func (s *Service) Get(name string, version int) (g Global, ok bool, err error) {
	var st stored
	err = s.db.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, key(name, version), &st) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Global{}, false, nil
	}
	if err != nil {
		return Global{}, false, core.Wrap(err, core.Internal, "Tern could not read the explanation of %s v%d.", name, version)
	}
	return st.Global, true, nil
}

// VersionOfRun is the newest model version registered from a run, so the
// run's page can show that version's explanation; ok is false when the
// run's model was never registered.
func (s *Service) VersionOfRun(runID string) (v registry.Version, ok bool, err error) {
	models, err := s.models.List()
	if err != nil {
		return v, false, err
	}
	for _, m := range models {
		vs, err := s.models.Versions(m.Name)
		if err != nil {
			return v, false, err
		}
		for _, x := range vs {
			if x.RunID == runID && (!ok || x.Created > v.Created) {
				v, ok = x, true
			}
		}
	}
	return v, ok, nil
}

// Chart returns one stored SVG of a version's explanation: "bar",
// "beeswarm", or "dependence" of column.
func (s *Service) Chart(name string, version int, kind, column string) ([]byte, error) {
	g, ok, err := s.Get(name, version)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, core.Errorf(core.NotFound, "%s v%d has no explanation yet.", name, version)
	}
	var d string
	switch kind {
	case "bar":
		d = g.Bar
	case "beeswarm":
		d = g.Beeswarm
	case "dependence":
		for _, c := range g.Columns {
			if c.Name == column {
				d = c.Dependence
			}
		}
		if d == "" {
			return nil, core.Errorf(core.NotFound, "There is no dependence plot of %q for %s v%d.", column, name, version)
		}
	default:
		return nil, core.Errorf(core.Invalid, "There is no explanation chart %q (bar, beeswarm or dependence).", kind)
	}
	dg, err := blob.ParseDigest(d)
	if err != nil {
		return nil, err
	}
	f, err := s.blobs.Open(dg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 32<<20))
}

// Cancel stops a running computation; it reports whether one was found.
func (s *Service) Cancel(jobID string) bool {
	if c, ok := s.jobs.Load(jobID); ok {
		c.(context.CancelFunc)()
		return true
	}
	return false
}

func (s *Service) publish(p Progress) {
	if s.bus != nil && p.JobID != "" {
		s.bus.Publish(TopicProgress, p)
	}
}

// Compute explains a model version on a sample of its validation rows
// (up to MaxRows), draws the charts and stores them, replacing an earlier
// explanation in one transaction. Progress goes out under req.JobID;
// Cancel(req.JobID) stops it with nothing stored.
func (s *Service) Compute(ctx context.Context, req Request) (Global, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req.JobID != "" {
		if _, dup := s.jobs.LoadOrStore(req.JobID, cancel); dup {
			return Global{}, core.Errorf(core.Conflict, "An explanation with id %s is already running.", req.JobID)
		}
		defer s.jobs.Delete(req.JobID)
	}
	g, err := s.compute(ctx, req)
	switch {
	case err == nil:
		s.publish(Progress{JobID: req.JobID, Phase: "done", Rows: g.Rows})
	case ctx.Err() != nil:
		s.publish(Progress{JobID: req.JobID, Phase: "cancelled"})
		return Global{}, core.Errorf(core.Conflict, "The explanation was cancelled; nothing was stored.")
	default:
		s.publish(Progress{JobID: req.JobID, Phase: "failed", Error: core.ErrorMessage(err)})
	}
	return g, err
}

// explained is what the algorithms gave, before it is summarised.
type explained struct {
	x       *explain.Explanation
	names   []string
	numeric []bool
	values  [][]any // values[j][r]: column j's raw value in explained row r
	method  string
}

func (s *Service) compute(ctx context.Context, req Request) (Global, error) {
	start := time.Now()
	mv, err := s.models.Version(req.Model, strconv.Itoa(req.Version))
	if err != nil {
		return Global{}, err
	}
	if mv.Pickle {
		return Global{}, core.Errorf(core.Invalid, "%s v%d is a pickled Python model, which Tern never loads, so it cannot explain it.", mv.Model, mv.Version)
	}
	dvID := req.DatasetVersion
	if dvID == "" {
		dvID = mv.DatasetVersion
	}
	if dvID == "" {
		return Global{}, core.Errorf(core.Invalid, "%s v%d has no training data in its lineage (it was imported); pick a dataset version to explain it on.", mv.Model, mv.Version)
	}
	dv, err := s.datasets.Version(dvID)
	if err != nil {
		return Global{}, err
	}
	m, err := modelfmt.Load(s.models.Dir(mv))
	if err != nil {
		return Global{}, err
	}
	path, err := s.datasets.VersionFile(dv.ID)
	if err != nil {
		return Global{}, err
	}
	s.publish(Progress{JobID: req.JobID, Phase: "reading", Rows: int(dv.Rows)})
	f, err := ml.ReadFrame(ctx, path, dv.Reading())
	if err != nil {
		return Global{}, err
	}
	g := Global{Model: mv.Model, Version: mv.Version, DatasetVersion: dv.ID, Dataset: fmt.Sprintf("%s v%d", dv.Dataset, dv.Number)}
	rows := f
	if m.ML != nil && dv.ID == mv.DatasetVersion {
		// The run's own held-out rows: what the model never trained on.
		if held, _, err := ml.Holdout(f, m.ML.Params); err == nil && held.Len() > 0 {
			rows, g.Validation = held, true
		}
	}
	sample := sampleRows(rows, MaxRows)
	if sample.Len() == 0 {
		return Global{}, core.Errorf(core.Invalid, "%s has no rows to explain.", g.Dataset)
	}
	s.publish(Progress{JobID: req.JobID, Phase: "explaining", Rows: sample.Len()})
	var ex *explained
	if m.ML != nil {
		ex, err = explainML(ctx, m.ML, sample, sampleRows(f, maxBackground))
	} else {
		ex, err = explainGBDT(ctx, m, sample)
	}
	if err != nil {
		return Global{}, err
	}
	s.publish(Progress{JobID: req.JobID, Phase: "drawing", Rows: sample.Len()})
	holder := fmt.Sprintf("explanation:%s/%d@%d", mv.Model, mv.Version, s.now().UnixNano())
	var digests []blob.Digest
	put := func(svg []byte) (string, error) {
		d, _, err := s.blobs.Put(ctx, bytes.NewReader(svg), holder)
		digests = append(digests, d)
		return string(d), err
	}
	release := func() {
		_ = s.db.DB.Update(func(txn *badger.Txn) error {
			for _, d := range digests {
				_ = s.blobs.Release(txn, d, holder)
			}
			return nil
		})
	}
	if err := summarise(ctx, &g, ex, put); err != nil {
		release()
		return Global{}, err
	}
	g.Rows, g.Computed, g.Millis = sample.Len(), s.now().UTC(), time.Since(start).Milliseconds()
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		var old stored
		switch err := store.GetJSON(txn, key(g.Model, g.Version), &old); {
		case err == nil:
			for _, d := range old.digests() {
				if err := s.blobs.Release(txn, d, old.Holder); err != nil {
					return err
				}
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if err := store.SetJSON(txn, key(g.Model, g.Version), stored{Global: g, Holder: holder}); err != nil {
			return err
		}
		return audit.Append(txn, audit.Record{Action: "model_version.explain",
			Objects: []audit.Object{{Kind: "model_version", ID: g.Model + "/" + strconv.Itoa(g.Version), Name: fmt.Sprintf("%s v%d", g.Model, g.Version)}},
			After:   fmt.Sprintf("%s on %d rows of %s", g.Method, g.Rows, g.Dataset)})
	})
	if err != nil {
		release()
		return Global{}, core.Wrap(err, core.Internal, "Tern could not store the explanation of %s v%d.", g.Model, g.Version)
	}
	return g, nil
}

func (st stored) digests() []blob.Digest {
	var out []blob.Digest
	for _, d := range append([]string{st.Bar, st.Beeswarm}, depDigests(st.Columns)...) {
		if d != "" {
			out = append(out, blob.Digest(d))
		}
	}
	return out
}

func depDigests(cols []Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Dependence)
	}
	return out
}

// sampleRows keeps up to n rows of f, chosen with a fixed seed (the same
// data gives the same explanation) and kept in file order.
func sampleRows(f *ml.Frame, n int) *ml.Frame {
	if f.Len() <= n {
		return f
	}
	idx := rand.New(rand.NewPCG(12, 2026)).Perm(f.Len())[:n]
	sort.Ints(idx)
	out := &ml.Frame{Columns: f.Columns, Kinds: f.Kinds, Rows: make([][]any, n)}
	for i, r := range idx {
		out.Rows[i] = f.Rows[r]
	}
	return out
}

func explainML(ctx context.Context, m *ml.Model, f, background *ml.Frame) (*explained, error) {
	x, err := m.Explain(ctx, f, background)
	if err != nil {
		return nil, err
	}
	ex := &explained{x: x, names: m.InputNames(), method: "Linear SHAP (interventional, training rows as background)"}
	if m.GBDT != nil {
		ex.method = "TreeSHAP (path-dependent)"
	}
	for _, ft := range m.Prep.Features {
		ex.numeric = append(ex.numeric, ft.Kind == ml.Numeric)
	}
	ex.values = columnValues(f, ex.names)
	return ex, nil
}

func explainGBDT(ctx context.Context, m *modelfmt.Model, f *ml.Frame) (*explained, error) {
	e, err := m.GBDT.Ensemble()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range m.Signature.Inputs {
		names = append(names, in.Name)
	}
	values := columnValues(f, names)
	n := f.Len()
	X := make([]float64, n*len(names))
	for j, name := range names {
		if f.Column(name) < 0 {
			return nil, core.Errorf(core.Invalid, "The dataset version has no column %q, which the model reads.", name)
		}
		for r := 0; r < n; r++ {
			v, ok := asNumber(values[j][r])
			if !ok {
				v = math.NaN()
			}
			X[r*len(names)+j] = v
		}
	}
	x, err := e.SHAP(ctx, X, n, 0)
	if err != nil {
		return nil, err
	}
	numeric := make([]bool, len(names))
	for i := range numeric {
		numeric[i] = true
	}
	return &explained{x: x, names: names, numeric: numeric, values: values, method: "TreeSHAP (path-dependent)"}, nil
}

// columnValues are the raw values of the named columns (nil where the
// frame lacks the column).
func columnValues(f *ml.Frame, names []string) [][]any {
	out := make([][]any, len(names))
	for j, name := range names {
		out[j] = make([]any, f.Len())
		if c := f.Column(name); c >= 0 {
			for r, row := range f.Rows {
				out[j][r] = row[c]
			}
		}
	}
	return out
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// outputs picks, per row, the output explained: the only one, the
// positive class's of two, or the row's most likely class of several.
func outputs(x *explain.Explanation) ([]int, string) {
	out := make([]int, x.Rows)
	switch {
	case x.Outputs == 1:
		return out, "the margin"
	case x.Outputs == 2:
		for r := range out {
			out[r] = 1
		}
		return out, "the margin of the second class"
	}
	for r := range out {
		best, bestM := 0, math.Inf(-1)
		for o := 0; o < x.Outputs; o++ {
			m := x.Base[o]
			for _, v := range x.Row(r, o) {
				m += v
			}
			if m > bestM {
				best, bestM = o, m
			}
		}
		out[r] = best
	}
	return out, "each row's most likely class's margin"
}

// summarise fills g's columns and draws the charts, storing each with put.
func summarise(ctx context.Context, g *Global, ex *explained, put func([]byte) (string, error)) error {
	x := ex.x
	outs, what := outputs(x)
	g.Method, g.Link, g.Output = ex.method, x.Link, what
	g.Base = x.Base[outs[0]]
	nf := x.Features
	if len(ex.names) != nf {
		return core.Errorf(core.Internal, "The explanation has %d columns but the model names %d.", nf, len(ex.names))
	}
	phi := make([][]float64, nf) // phi[j][r]
	for j := range phi {
		phi[j] = make([]float64, x.Rows)
	}
	for r := 0; r < x.Rows; r++ {
		for j, v := range x.Row(r, outs[r]) {
			phi[j][r] = v
		}
	}
	cols := make([]Column, nf)
	for j := range cols {
		sum := 0.0
		for _, v := range phi[j] {
			sum += math.Abs(v)
		}
		cols[j] = Column{Name: ex.names[j], MeanAbs: sum / float64(x.Rows), Numeric: ex.numeric[j]}
	}
	order := make([]int, nf)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cols[order[a]].MeanAbs > cols[order[b]].MeanAbs })
	unit := "mean |SHAP value| (" + linkUnit(x.Link) + ")"
	var labels []string
	var vals []float64
	for _, j := range order[:min(barColumns, nf)] {
		labels, vals = append(labels, cols[j].Name), append(vals, cols[j].MeanAbs)
	}
	bar, err := chart.Bar(labels, vals, chart.Options{XLabel: unit, Width: 560, Height: max(130, 56+24*len(labels))})
	if err != nil {
		return err
	}
	if g.Bar, err = put(bar); err != nil {
		return err
	}
	var swarm []chart.SwarmRow
	for _, j := range order[:min(swarmColumns, nf)] {
		swarm = append(swarm, chart.SwarmRow{Name: cols[j].Name, SHAP: phi[j], Colour: colours(ex.values[j], cols[j].Numeric)})
	}
	bee, err := chart.Beeswarm(swarm, chart.Options{XLabel: "SHAP value (" + linkUnit(x.Link) + "); colour: feature value, blue low, red high", Width: 560, Height: max(150, 64+32*len(swarm))})
	if err != nil {
		return err
	}
	if g.Beeswarm, err = put(bee); err != nil {
		return err
	}
	for _, j := range order[:min(depColumns, nf)] {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		xs, cats := axis(ex.values[j], cols[j].Numeric)
		svg, err := chart.Dependence(xs, phi[j], cats, chart.Options{XLabel: cols[j].Name, YLabel: "SHAP value", Width: 480, Height: 260})
		if err != nil {
			return err
		}
		if cols[j].Dependence, err = put(svg); err != nil {
			return err
		}
	}
	g.Columns = make([]Column, nf)
	for i, j := range order {
		g.Columns[i] = cols[j]
	}
	return nil
}

// linkUnit says what a SHAP value is measured in.
func linkUnit(link string) string {
	switch link {
	case "logit", "scaled_logit":
		return "log-odds"
	case "softmax":
		return "class score"
	case "log":
		return "log of the prediction"
	}
	return "units of the prediction"
}

// colours scales a numeric column's values to [0, 1] between its 5th and
// 95th percentiles (as shap does, so one outlier does not wash the rest
// out); categories and missing values get NaN (grey).
func colours(vals []any, numeric bool) []float64 {
	out := make([]float64, len(vals))
	var have []float64
	for i, v := range vals {
		out[i] = math.NaN()
		if f, ok := asNumber(v); ok && numeric {
			out[i] = f
			have = append(have, f)
		}
	}
	if len(have) == 0 {
		return out
	}
	sort.Float64s(have)
	lo, hi := have[len(have)*5/100], have[min(len(have)-1, len(have)*95/100)]
	for i, v := range out {
		if !math.IsNaN(v) {
			if hi > lo {
				out[i] = (v - lo) / (hi - lo)
			} else {
				out[i] = 0.5
			}
		}
	}
	return out
}

// axis is a dependence plot's x: the number, or for a category its index
// among the most frequent categories (labels), NaN for the others.
func axis(vals []any, numeric bool) ([]float64, []string) {
	xs := make([]float64, len(vals))
	if numeric {
		for i, v := range vals {
			f, ok := asNumber(v)
			if !ok {
				f = math.NaN()
			}
			xs[i] = f
		}
		return xs, nil
	}
	count := map[string]int{}
	for _, v := range vals {
		if s, ok := v.(string); ok {
			count[s]++
		}
	}
	var cats []string
	for c := range count {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(a, b int) bool {
		if count[cats[a]] != count[cats[b]] {
			return count[cats[a]] > count[cats[b]]
		}
		return cats[a] < cats[b]
	})
	cats = cats[:min(depCategories, len(cats))]
	sort.Strings(cats)
	index := map[string]int{}
	for i, c := range cats {
		index[c] = i
	}
	for i, v := range vals {
		xs[i] = math.NaN()
		if s, ok := v.(string); ok {
			if k, ok := index[s]; ok {
				xs[i] = float64(k)
			}
		}
	}
	return xs, cats
}
