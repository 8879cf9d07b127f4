package app

import (
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/tracking"
)

// Experiments is the Experiments screen's face of the tracking service:
// the runs table (search, columns, saved views), run detail and compare.
// Live updates arrive as events tracking.run.created, tracking.run.status,
// tracking.run.metrics (throttled to ~100 ms per run) and
// tracking.run.deleted.
type Experiments struct {
	svc *tracking.Service
}

// NewExperiments binds the tracking service.
func NewExperiments(svc *tracking.Service) *Experiments { return &Experiments{svc: svc} }

// List returns experiments, newest first, with their run counts.
func (e *Experiments) List() ([]tracking.Experiment, error) { return e.svc.Experiments(false), nil }

// Create makes an experiment.
func (e *Experiments) Create(name string) (tracking.Experiment, error) {
	return e.svc.CreateExperiment(name, nil)
}

// Rename renames an experiment.
func (e *Experiments) Rename(id, name string) (tracking.Experiment, error) {
	return e.svc.UpdateExperiment(id, name, "", nil)
}

// Search returns one page of runs (filter, sort, columns); a bad query
// is an invalid error whose message names the column of the bad token.
func (e *Experiments) Search(req tracking.SearchRequest) (tracking.SearchResult, error) {
	return e.svc.SearchRuns(req)
}

// QueryCheck tells the query box where a query is wrong.
type QueryCheck struct {
	OK      bool   `json:"ok"`
	Start   int    `json:"start"` // UTF-16 offsets, for the text field
	End     int    `json:"end"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// CheckQuery parses q without running it.
func (e *Experiments) CheckQuery(q string) (QueryCheck, error) {
	qe := tracking.CheckQuery(q)
	if qe == nil {
		return QueryCheck{OK: true}, nil
	}
	return QueryCheck{Start: utf16Len(q[:qe.Start]), End: utf16Len(q[:qe.End]), Column: qe.Column, Message: qe.Msg}, nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Columns lists metric, param and tag columns of the experiments' runs.
func (e *Experiments) Columns(experimentIDs []string) ([]string, error) {
	return e.svc.Columns(experimentIDs), nil
}

// RunDetail is everything the run page shows at once.
type RunDetail struct {
	Run        tracking.Run        `json:"run"`
	Experiment tracking.Experiment `json:"experiment"`
	MetricKeys []string            `json:"metricKeys"`
	Artifacts  []tracking.Artifact `json:"artifacts"`
	DurationMs int64               `json:"durationMs"`
}

// Run reads one run for its page.
func (e *Experiments) Run(runID string) (RunDetail, error) {
	r, err := e.svc.GetRun(runID)
	if err != nil {
		return RunDetail{}, err
	}
	exp, err := e.svc.Experiment(r.ExperimentID)
	if err != nil {
		return RunDetail{}, err
	}
	keys, _ := e.svc.MetricKeys(runID)
	arts, err := e.svc.ListArtifacts(runID, "")
	if err != nil {
		return RunDetail{}, err
	}
	return RunDetail{Run: r, Experiment: exp, MetricKeys: keys, Artifacts: arts, DurationMs: r.Duration(time.Now())}, nil
}

// Series returns a metric's points, downsampled to at most maxPoints
// (0 = 1000) for drawing.
func (e *Experiments) Series(runID, key string, maxPoints int) ([]tracking.Point, error) {
	if maxPoints <= 0 {
		maxPoints = 1000
	}
	return e.svc.SeriesSample(runID, key, maxPoints)
}

// MetricChart renders one metric of one or more runs (overlaid curves) as
// SVG, downsampled to the chart's width.
func (e *Experiments) MetricChart(runIDs []string, key string, width, height int) (string, error) {
	if len(runIDs) == 0 || len(runIDs) > 10 {
		return "", core.Errorf(core.Invalid, "Chart 1 to 10 runs at a time; got %d.", len(runIDs))
	}
	var series []chart.LineSeries
	for _, id := range runIDs {
		r, err := e.svc.GetRun(id)
		if err != nil {
			return "", err
		}
		pts, err := e.svc.SeriesSample(id, key, max(width, 200)*2)
		if err != nil {
			return "", err
		}
		s := chart.LineSeries{Name: r.Name}
		for _, p := range pts {
			s.X = append(s.X, float64(p.Step))
			s.Y = append(s.Y, float64(p.Value))
		}
		series = append(series, s)
	}
	svg, err := chart.Lines(series, chart.Options{Title: key, XLabel: "step", Width: width, Height: height})
	if err != nil {
		return "", core.Wrap(err, core.Internal, "Tern could not draw the chart of %q.", key)
	}
	return string(svg), nil
}

// CompareRow is one param, metric or tag across the compared runs.
type CompareRow struct {
	Column  string   `json:"column"`
	Values  []string `json:"values"` // "" where a run lacks it
	Differs bool     `json:"differs"`
}

// Comparison is 2–10 runs side by side.
type Comparison struct {
	Runs []tracking.Run `json:"runs"`
	Rows []CompareRow   `json:"rows"`
	// MetricKeys present in any run, for overlaid curves.
	MetricKeys []string `json:"metricKeys"`
	// Parallel is a parallel-coordinates SVG over the numeric columns that
	// differ (empty when fewer than two).
	Parallel string `json:"parallel"`
}

// Compare lines up 2–10 runs: every param, latest metric and tag, with
// whether the runs differ on it.
func (e *Experiments) Compare(runIDs []string) (Comparison, error) {
	if len(runIDs) < 2 || len(runIDs) > 10 {
		return Comparison{}, core.Errorf(core.Invalid, "Compare 2 to 10 runs; got %d.", len(runIDs))
	}
	c := Comparison{Rows: []CompareRow{}}
	cols := map[string]bool{}
	for _, id := range runIDs {
		r, err := e.svc.GetRun(id)
		if err != nil {
			return Comparison{}, err
		}
		c.Runs = append(c.Runs, r)
		for k := range r.Params {
			cols["params."+k] = true
		}
		for k := range r.Metrics {
			cols["metrics."+k] = true
		}
		for k := range r.Tags {
			// MLflow's own bookkeeping tags (run name, source, user) are
			// noise in a comparison; the run header already shows them.
			if !strings.HasPrefix(k, "mlflow.") {
				cols["tags."+k] = true
			}
		}
	}
	names := make([]string, 0, len(cols))
	for k := range cols {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return colRank(names[i]) < colRank(names[j]) || (colRank(names[i]) == colRank(names[j]) && names[i] < names[j])
	})
	var axes []string
	for _, col := range names {
		row := CompareRow{Column: col}
		numeric := true
		for _, r := range c.Runs {
			v, ok := cell(r, col)
			row.Values = append(row.Values, v)
			if _, err := strconv.ParseFloat(v, 64); !ok || err != nil {
				numeric = false
			}
		}
		for _, v := range row.Values[1:] {
			if v != row.Values[0] {
				row.Differs = true
			}
		}
		if len(col) > 8 && col[:8] == "metrics." {
			c.MetricKeys = append(c.MetricKeys, col[8:])
		}
		if row.Differs && numeric && col[:5] != "tags." && len(axes) < 12 {
			axes = append(axes, col)
		}
		c.Rows = append(c.Rows, row)
	}
	if len(axes) >= 2 {
		rows := make([][]float64, len(c.Runs))
		labels := make([]string, len(c.Runs))
		for i, r := range c.Runs {
			labels[i] = r.Name
			for _, a := range axes {
				v, _ := cell(r, a)
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					f = math.NaN()
				}
				rows[i] = append(rows[i], f)
			}
		}
		svg, err := chart.ParallelCoordinates(axes, labels, rows, chart.Options{Width: 720, Height: 240})
		if err == nil {
			c.Parallel = string(svg)
		}
	}
	return c, nil
}

func colRank(c string) int {
	switch {
	case len(c) > 7 && c[:7] == "params.":
		return 0
	case len(c) > 8 && c[:8] == "metrics.":
		return 1
	}
	return 2
}

func cell(r tracking.Run, col string) (string, bool) {
	switch {
	case len(col) > 7 && col[:7] == "params.":
		v, ok := r.Params[col[7:]]
		return v, ok
	case len(col) > 8 && col[:8] == "metrics.":
		p, ok := r.Metrics[col[8:]]
		if !ok {
			return "", false
		}
		b, _ := p.Value.MarshalJSON()
		s := string(b)
		if len(s) > 1 && s[0] == '"' {
			s = s[1 : len(s)-1]
		}
		return s, true
	case len(col) > 5 && col[:5] == "tags.":
		v, ok := r.Tags[col[5:]]
		return v, ok
	}
	return "", false
}

// SetNote saves the run's markdown note.
func (e *Experiments) SetNote(runID, markdown string) error { return e.svc.SetNote(runID, markdown) }

// SetTag sets one tag.
func (e *Experiments) SetTag(runID, key, value string) error {
	return e.svc.SetTags(runID, map[string]string{key: value})
}

// DeleteTag removes one tag.
func (e *Experiments) DeleteTag(runID, key string) error { return e.svc.DeleteTag(runID, key) }

// Rename renames a run.
func (e *Experiments) RenameRun(runID, name string) error {
	_, err := e.svc.UpdateRun(runID, tracking.RunUpdate{Name: name})
	return err
}

// DeleteRuns removes ended runs for good and returns the artifact bytes
// freed. A running run stops the whole call before anything is deleted.
func (e *Experiments) DeleteRuns(runIDs []string) (int64, error) {
	for _, id := range runIDs {
		r, err := e.svc.GetRun(id)
		if err != nil {
			return 0, err
		}
		if !r.Status.Terminal() {
			return 0, core.Errorf(core.Conflict, "Run %q is still %s; stop it before deleting.", r.Name, r.Status)
		}
	}
	var freed int64
	for _, id := range runIDs {
		n, err := e.svc.DeleteRun(id)
		if err != nil {
			return freed, err
		}
		freed += n
	}
	return freed, nil
}

// Artifacts lists one folder of a run's artifacts.
func (e *Experiments) Artifacts(runID, dir string) ([]tracking.Artifact, error) {
	return e.svc.ListArtifacts(runID, dir)
}

// ArtifactText returns up to 256 KiB of a text artifact for preview.
func (e *Experiments) ArtifactText(runID, path string) (string, error) {
	f, _, err := e.svc.OpenArtifact(runID, path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256<<10))
	if err != nil {
		return "", core.Wrap(err, core.Internal, "Tern could not read artifact %q.", path)
	}
	return string(b), nil
}

// Views lists saved views.
func (e *Experiments) Views() ([]tracking.SavedView, error) { return e.svc.Views() }

// SaveView stores a named view (query, sort, columns).
func (e *Experiments) SaveView(v tracking.SavedView) error { return e.svc.SaveView(v) }

// DeleteView removes a saved view.
func (e *Experiments) DeleteView(name string) error { return e.svc.DeleteView(name) }

// ImportMLruns reads an MLflow mlruns/ folder (runs keep their MLflow ids;
// re-importing skips what is already here).
func (e *Experiments) ImportMLruns(dir string) (tracking.ImportReport, error) {
	return e.svc.ImportMLruns(dir)
}

// ExportMLruns writes an experiment's runs (all when runIDs is empty) in
// MLflow's mlruns layout under destDir/<experimentID>/; returns how many.
func (e *Experiments) ExportMLruns(experimentID string, runIDs []string, destDir string) (int, error) {
	return e.svc.ExportMLruns(experimentID, runIDs, destDir)
}
