package evaluate

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/registry"
)

// Versions is what the service needs of the registry.
type Versions interface {
	Version(name, ref string) (registry.Version, error)
	Dir(v registry.Version) string
}

// Datasets is what the service needs of the dataset store.
type Datasets interface {
	Version(versionID string) (dataset.Version, error)
	VersionFile(versionID string) (string, error)
}

// Service compares registered model versions on a dataset version.
type Service struct {
	Versions Versions
	Datasets Datasets
	// Bus, when set, carries Run's progress on TopicProgress.
	Bus     *core.Bus
	running sync.Map // comparison ID → context.CancelFunc
}

// TopicProgress carries ProgressEvent while Run bootstraps.
const TopicProgress = "evaluate.progress"

// ProgressEvent is one comparison's progress, throttled to about ten a
// second.
type ProgressEvent struct {
	ID    string `json:"id"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// Run is Compare under a caller-chosen ID, so that it can be cancelled
// (Cancel) and its progress followed on the bus (TopicProgress).
func (s *Service) Run(ctx context.Context, id string, req Request) (*Report, error) {
	if id == "" {
		return nil, core.Errorf(core.Invalid, "A comparison needs an ID to be followed and cancelled.")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, dup := s.running.LoadOrStore(id, cancel); dup {
		return nil, core.Errorf(core.Conflict, "A comparison with ID %q is already running.", id)
	}
	defer s.running.Delete(id)
	var last time.Time
	return s.Compare(ctx, req, func(done, total int) {
		if s.Bus == nil || (done < total && time.Since(last) < 100*time.Millisecond) {
			return
		}
		last = time.Now()
		s.Bus.Publish(TopicProgress, ProgressEvent{ID: id, Done: done, Total: total})
	})
}

// Cancel stops a running comparison; false if none has that ID.
func (s *Service) Cancel(id string) bool {
	if c, ok := s.running.Load(id); ok {
		c.(context.CancelFunc)()
		return true
	}
	return false
}

// Request names the two versions and the rows to compare them on.
type Request struct {
	// Model is the registered model's name; Candidate a version number or
	// @alias of it.
	Model     string `json:"model"`
	Candidate string `json:"candidate"`
	// Champion is the version to beat: "" is @champion, and when the
	// model has no @champion the report has the candidate alone.
	Champion string `json:"champion"`
	// DatasetVersion holds the rows; "" is the candidate's training
	// version.
	DatasetVersion string `json:"datasetVersion"`
	// AllRows scores every labelled row of the version instead of the
	// candidate's held-out split.
	AllRows bool `json:"allRows"`
	// Target is the column with the truth; "" is the candidate's run's.
	Target  string  `json:"target"`
	Options Options `json:"options"`
}

// Compare loads both versions and the holdout Request names and compares
// them (see Compare and the package comment for which rows).
func (s *Service) Compare(ctx context.Context, req Request, progress Progress) (*Report, error) {
	if req.Model == "" || req.Candidate == "" {
		return nil, core.Errorf(core.Invalid, "Name the model and the candidate version to evaluate.")
	}
	cand, err := s.Versions.Version(req.Model, req.Candidate)
	if err != nil {
		return nil, err
	}
	var champ *registry.Version
	ref := req.Champion
	if ref == "" {
		ref = "@champion"
	}
	if v, err := s.Versions.Version(req.Model, ref); err == nil {
		champ = &v
	} else if req.Champion != "" || core.ErrorCode(err) != core.NotFound {
		return nil, err
	}
	if champ != nil && champ.Version == cand.Version {
		return nil, core.Errorf(core.Invalid, "%s is itself the champion (%s); choose another version to compare with it.", versionLabel(cand), ref)
	}
	h, err := s.holdout(ctx, req, cand)
	if err != nil {
		return nil, err
	}
	candidate, err := Load(s.Versions.Dir(cand), versionLabel(cand))
	if err != nil {
		return nil, err
	}
	var champion *Model
	if champ != nil {
		if champion, err = Load(s.Versions.Dir(*champ), versionLabel(*champ)); err != nil {
			return nil, err
		}
	}
	rep, err := Compare(ctx, candidate, champion, h.Holdout, req.Options, progress)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, s.notes(h, cand, champ, candidate)...)
	return rep, nil
}

// chosen is a holdout with how it was chosen, for the notes.
type chosen struct {
	Holdout
	datasetVersion string
	split          bool // the candidate's own held-out split
	seed           uint64
	fraction       float64
}

func (s *Service) holdout(ctx context.Context, req Request, cand registry.Version) (chosen, error) {
	dsv := req.DatasetVersion
	if dsv == "" {
		dsv = cand.DatasetVersion
	}
	if dsv == "" {
		return chosen{}, core.Errorf(core.Invalid, "%s was not trained on a dataset version Tern knows; name a dataset version to compare on.", versionLabel(cand))
	}
	dv, err := s.Datasets.Version(dsv)
	if err != nil {
		return chosen{}, err
	}
	path, err := s.Datasets.VersionFile(dsv)
	if err != nil {
		return chosen{}, err
	}
	frame, err := ml.ReadFrame(ctx, path, dv.Reading())
	if err != nil {
		return chosen{}, err
	}
	target := req.Target
	if target == "" {
		target = cand.Params["target"]
	}
	if target == "" {
		return chosen{}, core.Errorf(core.Invalid, "%s does not say which column it predicts; name the target column.", versionLabel(cand))
	}
	name := fmt.Sprintf("%s v%d", dv.Dataset, dv.Number)
	c := chosen{datasetVersion: dsv}
	c.Target = target
	if !req.AllRows && dsv == cand.DatasetVersion {
		p, err := SplitOf(cand, target)
		if err != nil {
			return chosen{}, err
		}
		var task string
		if c.Frame, task, err = ml.Holdout(frame, p); err != nil {
			return chosen{}, err
		}
		c.split, c.seed, c.fraction = true, p.Seed, p.TestFraction
		how := fmt.Sprintf("seed %d", p.Seed)
		if task == ml.Classification {
			how += ", stratified by class"
		}
		c.Description = fmt.Sprintf("the %s %% of %s that %s's run held out (%s): %d rows",
			num(p.TestFraction*100), name, versionLabel(cand), how, c.Frame.Len())
		return c, nil
	}
	ti := frame.Column(target)
	if ti < 0 {
		return chosen{}, core.Errorf(core.Invalid, "%s has no column %q to compare predictions with.", name, target)
	}
	c.Frame = &ml.Frame{Columns: frame.Columns, Kinds: frame.Kinds}
	for _, row := range frame.Rows {
		if ti < len(row) && row[ti] != nil {
			c.Frame.Rows = append(c.Frame.Rows, row)
		}
	}
	c.Description = fmt.Sprintf("every labelled row of %s: %d rows", name, c.Frame.Len())
	return c, nil
}

// SplitOf is how v's run split its training data (target, model, task,
// test fraction, seed), so ml.Holdout gives back exactly the rows it held
// out; target "" is the run's.
func SplitOf(v registry.Version, target string) (ml.Params, error) {
	if target == "" {
		target = v.Params["target"]
	}
	p := ml.Params{Target: target, Model: v.Params["model"], Task: v.Params["task"]}
	if f, err := strconv.ParseFloat(v.Params["test_fraction"], 64); err == nil {
		p.TestFraction = f
	}
	if n, err := strconv.ParseUint(v.Params["seed"], 10, 64); err == nil {
		p.Seed = n
	}
	return p.WithDefaults()
}

// notes warn when a model has seen holdout rows, which favours it.
func (s *Service) notes(h chosen, cand registry.Version, champ *registry.Version, candidate *Model) []string {
	var out []string
	if candidate.Refit && cand.DatasetVersion == h.datasetVersion {
		out = append(out, fmt.Sprintf("%s was refit on every row of its training data, these rows included, so the comparison favours it; compare on a newer dataset version for an unbiased figure.", versionLabel(cand)))
	}
	if champ != nil && champ.DatasetVersion == h.datasetVersion {
		same := h.split && champ.Params["seed"] == strconv.FormatUint(h.seed, 10) &&
			champ.Params["test_fraction"] == cand.Params["test_fraction"] && champ.Params["refit"] != "true"
		if !same {
			out = append(out, fmt.Sprintf("%s was trained on the same dataset version with another split, so it has seen some of these rows and the comparison favours it.", versionLabel(*champ)))
		}
	}
	return out
}

func versionLabel(v registry.Version) string { return fmt.Sprintf("%s v%d", v.Model, v.Version) }
