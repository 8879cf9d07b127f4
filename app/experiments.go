package app

import (
	"io"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/tracking"
)

// Experiments is the Experiments screen's face of the tracking service:
// the runs table (search, columns, saved views), run detail and compare.
// Live updates arrive as events tracking.run.created, tracking.run.status,
// tracking.run.metrics (throttled to ~100 ms per run), tracking.run.stage
// (into or out of the trash) and tracking.run.deleted (gone for good).
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
	svg, err := e.svc.MetricChart(runIDs, key, width, height)
	return string(svg), err
}

// Compare lines up 2–10 runs: every param, latest metric and tag, with
// whether the runs differ on it.
func (e *Experiments) Compare(runIDs []string) (tracking.Comparison, error) {
	return e.svc.Compare(runIDs)
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

// TrashRuns moves ended runs to the trash (MLflow's delete-run); a live
// run stops the whole call before anything moves.
func (e *Experiments) TrashRuns(runIDs []string) error { return e.svc.TrashRuns(runIDs) }

// RestoreRuns brings runs back from the trash.
func (e *Experiments) RestoreRuns(runIDs []string) error { return e.svc.RestoreRuns(runIDs) }

// Trash lists the runs in the trash with the disk each one frees.
func (e *Experiments) Trash() ([]tracking.TrashedRun, error) { return e.svc.Trash(), nil }

// DeleteRuns removes runs in the trash for good and returns the artifact
// bytes freed. A run not in the trash stops the whole call before anything
// is deleted.
func (e *Experiments) DeleteRuns(runIDs []string) (int64, error) { return e.svc.DeleteRuns(runIDs) }

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
