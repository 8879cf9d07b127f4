package fairness

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
)

// TopicProgress carries Progress while an assessment runs.
const TopicProgress = "fairness.progress"

// Defaults of a Request.
const (
	DefaultMinGroupSize  = 30
	DefaultMaxDifference = 0.1
	// DefaultMinRatio is the four-fifths rule: a group's selection rate
	// below 80% of the highest group's is evidence of adverse impact.
	DefaultMinRatio = 0.8
	// maxProtected bounds the columns of one assessment (pairs grow as
	// its square).
	maxProtected = 8
)

// Models is what the assessment needs of the registry.
type Models interface {
	Version(name, ref string) (registry.Version, error)
	Dir(v registry.Version) string
}

// Datasets is what the assessment needs of the datasets.
type Datasets interface {
	Version(id string) (dataset.Version, error)
	VersionFile(id string) (string, error)
}

// Service computes fairness figures of registered model versions on
// dataset versions.
type Service struct {
	models   Models
	datasets Datasets
	bus      *core.Bus
	jobs     sync.Map // job ID → context.CancelFunc
}

// NewService builds the service; bus may be nil (no progress events).
func NewService(models Models, datasets Datasets, bus *core.Bus) *Service {
	return &Service{models: models, datasets: datasets, bus: bus}
}

// Limits are the user's thresholds for the verdict: every difference at
// most MaxDifference, every ratio at least MinRatio.
type Limits struct {
	MaxDifference float64 `json:"maxDifference"`
	MinRatio      float64 `json:"minRatio"`
}

// Request asks for the fairness figures of model version Model/Version on
// dataset version DatasetVersion.
type Request struct {
	Model          string `json:"model"`
	Version        int    `json:"version"`
	DatasetVersion string `json:"datasetVersion"`
	// Protected names the columns to group by; empty means the columns
	// marked protected in the dataset version's column table.
	Protected []string `json:"protected,omitempty"`
	// Pairs adds every pair of protected columns (their intersections).
	Pairs bool `json:"pairs,omitempty"`
	// Positive is the favourable class ("" = the model's second class, the
	// one whose probability a binary model reports, or "1").
	Positive string `json:"positive,omitempty"`
	// MinGroupSize: smaller groups are "too few rows" (0 = 30; 1 keeps
	// every group, as fairlearn does).
	MinGroupSize int    `json:"minGroupSize,omitempty"`
	Limits       Limits `json:"limits"`
	// JobID names the run for progress events and Cancel ("" = none).
	JobID string `json:"jobId,omitempty"`
	// Holdout scores only the rows the version's run held out of its
	// training data (DatasetVersion "" is that data): figures on rows
	// the model never saw, as a pipeline's gate wants them.
	Holdout bool `json:"holdout,omitempty"`
}

// Progress is published on TopicProgress.
type Progress struct {
	JobID string `json:"jobId"`
	Phase string `json:"phase"` // reading, scoring, done, failed, cancelled
	Rows  int    `json:"rows"`
	Total int    `json:"total"`
	Error string `json:"error,omitempty"`
}

// Verdict statuses.
const (
	Pass    = "pass"
	Fail    = "fail"
	Unknown = "unknown"
)

// Verdict is a decision against the limits, in words.
type Verdict struct {
	Status string `json:"status"`
	Text   string `json:"text"`
}

// Disparity is one of fairlearn's summary figures, between groups.
type Disparity struct {
	// Name is fairlearn's function name (demographic_parity_ratio, ...).
	Name  string `json:"name"`
	Label string `json:"label"`
	Kind  string `json:"kind"` // difference or ratio
	// Value is nil when undefined (a ratio of 0 over 0: no group has any).
	Value *float64 `json:"value,omitempty"`
	// Limit is the threshold it is held to; Pass is nil when it is not
	// held to one or has no value.
	Limit *float64 `json:"limit,omitempty"`
	Pass  *bool    `json:"pass,omitempty"`
}

// Analysis is the figures for one protected column or one pair.
type Analysis struct {
	Columns []string `json:"columns"`
	Groups  []Group  `json:"groups"`
	// Counted is how many groups take part in the disparities (rows
	// enough); fewer than two means there is nothing to compare.
	Counted     int         `json:"counted"`
	Disparities []Disparity `json:"disparities"`
	Verdict     Verdict     `json:"verdict"`
	// Note says why there are no figures or no comparison, in words.
	Note  string `json:"note,omitempty"`
	frame *Frame
}

// Frame is the analysis's MetricFrame (nil when Note says why there is
// none), for callers that want the to_overall comparisons too.
func (a *Analysis) Frame() *Frame { return a.frame }

// Report is the fairness figures of one model version on one dataset
// version.
type Report struct {
	Model          string   `json:"model"`
	Version        int      `json:"version"`
	DatasetVersion string   `json:"datasetVersion"`
	Dataset        string   `json:"dataset"` // "churn v2"
	Task           string   `json:"task"`    // classification or regression
	Target         string   `json:"target"`
	Positive       string   `json:"positive,omitempty"`
	Classes        []string `json:"classes,omitempty"`
	Rows           int      `json:"rows"`
	// SkippedRows had no true value to compare with.
	SkippedRows  int        `json:"skippedRows"`
	MinGroupSize int        `json:"minGroupSize"`
	Limits       Limits     `json:"limits"`
	Overall      *Figures   `json:"overall"`
	Analyses     []Analysis `json:"analyses"`
	Verdict      Verdict    `json:"verdict"`
}

// Cancel stops a running assessment; it reports whether one was found.
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

// Assess computes the fairness figures of a model version on a dataset
// version for its protected columns: it reads the dataset version as
// training does, runs the model on every row as its server would, groups
// the rows and compares the groups against the limits. It is the call a
// screen or a pipeline's gate makes; Report.Verdict.Status is Pass, Fail
// or Unknown. Progress goes out on TopicProgress under req.JobID, and
// Cancel(req.JobID) stops it.
func (s *Service) Assess(ctx context.Context, req Request) (*Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req.JobID != "" {
		if _, dup := s.jobs.LoadOrStore(req.JobID, cancel); dup {
			return nil, core.Errorf(core.Conflict, "A fairness assessment with id %s is already running.", req.JobID)
		}
		defer s.jobs.Delete(req.JobID)
	}
	rep, err := s.assess(ctx, req)
	switch {
	case err == nil:
		s.publish(Progress{JobID: req.JobID, Phase: "done", Rows: rep.Rows + rep.SkippedRows, Total: rep.Rows + rep.SkippedRows})
	case ctx.Err() != nil:
		s.publish(Progress{JobID: req.JobID, Phase: "cancelled"})
		return nil, core.Errorf(core.Conflict, "The fairness assessment was cancelled.")
	default:
		s.publish(Progress{JobID: req.JobID, Phase: "failed", Error: core.ErrorMessage(err)})
	}
	return rep, err
}

func (s *Service) assess(ctx context.Context, req Request) (*Report, error) {
	req = withDefaults(req)
	mv, err := s.models.Version(req.Model, strconv.Itoa(req.Version))
	if err != nil {
		return nil, err
	}
	if mv.Pickle {
		return nil, core.Errorf(core.Invalid, "%s v%d is a pickled Python model, which Tern never loads, so it cannot compute its fairness figures.", mv.Model, mv.Version)
	}
	if req.DatasetVersion == "" && req.Holdout {
		req.DatasetVersion = mv.DatasetVersion
	}
	if req.Holdout && (req.DatasetVersion == "" || req.DatasetVersion != mv.DatasetVersion) {
		return nil, core.Errorf(core.Invalid, "%s v%d's held-out rows are part of the dataset version it was trained on; leave the dataset version empty to use them.", mv.Model, mv.Version)
	}
	dv, err := s.datasets.Version(req.DatasetVersion)
	if err != nil {
		return nil, err
	}
	label := fmt.Sprintf("%s v%d", dv.Dataset, dv.Number)
	protected, err := protectedColumns(dv, req.Protected, label)
	if err != nil {
		return nil, err
	}
	m, err := modelfmt.Load(s.models.Dir(mv))
	if err != nil {
		return nil, err
	}
	target := dv.TargetColumn()
	if m.ML != nil && m.ML.Target != "" {
		target = m.ML.Target
	}
	if target == "" {
		return nil, core.Errorf(core.Invalid, "%s has no target column. Mark the column holding the true answers as the target in its column table.", label)
	}
	path, err := s.datasets.VersionFile(dv.ID)
	if err != nil {
		return nil, err
	}
	total := int(dv.Rows)
	s.publish(Progress{JobID: req.JobID, Phase: "reading", Total: total})
	f, err := ml.ReadFrame(ctx, path, dv.Reading())
	if err != nil {
		return nil, err
	}
	if req.Holdout {
		p, err := evaluate.SplitOf(mv, target)
		if err != nil {
			return nil, err
		}
		if f, _, err = ml.Holdout(f, p); err != nil {
			return nil, err
		}
		label = fmt.Sprintf("the rows of %s that %s v%d's run held out", label, mv.Model, mv.Version)
	}
	ti := f.Column(target)
	if ti < 0 {
		return nil, core.Errorf(core.Invalid, "%s has no column %q, the model's target.", label, target)
	}
	s.publish(Progress{JobID: req.JobID, Phase: "scoring", Total: f.Len()})
	sc, err := score(ctx, m, f, func(done int) {
		s.publish(Progress{JobID: req.JobID, Phase: "scoring", Rows: done, Total: f.Len()})
	})
	if err != nil {
		return nil, err
	}
	rep := &Report{Model: mv.Model, Version: mv.Version, DatasetVersion: dv.ID, Dataset: label, Target: target,
		MinGroupSize: req.MinGroupSize, Limits: req.Limits, Classes: sc.classes}
	o, keep, err := outcomes(f, ti, sc, req.Positive, rep)
	if err != nil {
		return nil, err
	}
	rep.Rows, rep.SkippedRows = len(keep), f.Len()-len(keep)
	if rep.Rows == 0 {
		return nil, core.Errorf(core.Invalid, "Every row of %s misses its target %q, so there is nothing to compare the predictions with.", label, target)
	}
	groupsOf := func(col string) []string {
		ci := f.Column(col)
		vals := make([]string, len(keep))
		for k, i := range keep {
			if vals[k] = text(f.Rows[i][ci]); vals[k] == "" {
				vals[k] = Missing
			}
		}
		return vals
	}
	var sets [][]string
	for _, p := range protected {
		sets = append(sets, []string{p})
	}
	if req.Pairs {
		for i := range protected {
			for j := i + 1; j < len(protected); j++ {
				sets = append(sets, []string{protected[i], protected[j]})
			}
		}
	}
	for _, cols := range sets {
		vals := make([][]string, len(cols))
		for i, c := range cols {
			vals[i] = groupsOf(c)
		}
		rep.Analyses = append(rep.Analyses, analyse(cols, vals, o, req, rep.Task))
	}
	if fr := rep.Analyses[0].frame; fr != nil {
		rep.Overall = fr.Overall
	} else {
		all := make([]int, o.Len())
		for i := range all {
			all[i] = i
		}
		rep.Overall = figures(o, all)
	}
	rep.Verdict = overallVerdict(rep.Analyses, req.Limits)
	return rep, nil
}

func withDefaults(r Request) Request {
	if r.MinGroupSize <= 0 {
		r.MinGroupSize = DefaultMinGroupSize
	}
	if r.Limits.MaxDifference <= 0 || math.IsNaN(r.Limits.MaxDifference) {
		r.Limits.MaxDifference = DefaultMaxDifference
	}
	if r.Limits.MinRatio <= 0 || r.Limits.MinRatio > 1 || math.IsNaN(r.Limits.MinRatio) {
		r.Limits.MinRatio = DefaultMinRatio
	}
	return r
}

// protectedColumns checks the asked columns against the dataset version,
// or takes the ones its column table marks.
func protectedColumns(dv dataset.Version, asked []string, label string) ([]string, error) {
	known := map[string]bool{}
	var marked []string
	for _, c := range dv.Schema {
		known[c.Name] = true
		if c.Protected {
			marked = append(marked, c.Name)
		}
	}
	if len(asked) == 0 {
		if len(marked) == 0 {
			return nil, core.Errorf(core.Invalid, "No column of %s is marked protected. Tick \"protected\" on the sensitive columns in the dataset's column table, or name them here.", label)
		}
		asked = marked
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range asked {
		if !known[a] {
			return nil, core.Errorf(core.Invalid, "%s has no column %q.", label, a)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) > maxProtected {
		return nil, core.Errorf(core.Invalid, "Pick at most %d protected columns at a time (%d were given).", maxProtected, len(out))
	}
	return out, nil
}

// outcomes pairs the truth of each row with the model's answer, leaving
// out rows whose truth is missing; keep lists the rows kept.
func outcomes(f *ml.Frame, ti int, sc *scored, positive string, rep *Report) (Outcomes, []int, error) {
	var o Outcomes
	var keep []int
	if sc.regression {
		rep.Task = ml.Regression
		for i, row := range f.Rows {
			if row[ti] == nil {
				continue
			}
			y, ok := number(row[ti])
			if !ok {
				return o, nil, core.Errorf(core.Invalid, "Row %d: the target %q holds %q, not a number; a regressor's figures need numbers.", i+1, rep.Target, text(row[ti]))
			}
			keep = append(keep, i)
			o.ActualValue = append(o.ActualValue, y)
			o.PredictedValue = append(o.PredictedValue, sc.values[i])
		}
		return o, keep, nil
	}
	rep.Task = ml.Classification
	if positive == "" {
		positive = "1"
		if len(sc.classes) >= 2 {
			positive = sc.classes[1]
		}
	}
	if len(sc.classes) > 0 && !contains(sc.classes, positive) {
		return o, nil, core.Errorf(core.Invalid, "%q is not a class of this model; its classes are %s.", positive, strings.Join(sc.classes, ", "))
	}
	rep.Positive = positive
	multi := len(sc.classes) > 2
	for i, row := range f.Rows {
		y := text(row[ti])
		if y == "" {
			continue
		}
		keep = append(keep, i)
		p := sc.labels[i]
		o.Actual = append(o.Actual, y == positive)
		o.Predicted = append(o.Predicted, p == positive)
		if multi {
			o.Correct = append(o.Correct, y == p)
		}
		if v, ok := sc.positiveScore(i, positive); ok {
			o.Score = append(o.Score, v)
		}
	}
	if len(o.Score) != len(keep) {
		o.Score = nil
	}
	return o, keep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
