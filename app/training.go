package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/engine"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/runarchive"
	"github.com/tern-studio/tern/backend/runner"
)

// Training is the Train flow: a form for a dataset version, start, watch,
// cancel. Live progress arrives as events runner.TopicJob,
// runner.TopicMetrics and runner.TopicLog.
type Training struct {
	life     lifetime
	runner   *runner.Runner
	datasets *dataset.Service
	engines  *engine.Service // nil: only this machine's
	// archives exports and imports runs (nil in tests that do not need
	// it); an import unpacks under archiveDir.
	archives   *runarchive.Service
	archiveDir string
}

// NewTraining binds the runner, the datasets it trains on, the engines it
// may train on (nil: this machine only) and the run archives; calls live
// within ctx.
func NewTraining(ctx context.Context, r *runner.Runner, d *dataset.Service, en *engine.Service, archives *runarchive.Service, archiveDir string) *Training {
	return &Training{life: lifetime{ctx}, runner: r, datasets: d, engines: en, archives: archives, archiveDir: archiveDir}
}

// TrainForm is everything the Train form needs for one dataset version.
type TrainForm struct {
	Version dataset.Version `json:"version"`
	Columns []string        `json:"columns"`
	// Target is the column the dataset marks as the target, if any.
	Target string `json:"target"`
	// Proposal is the target the form proposes (the marked one, else one
	// named like a target, else the last binary or categorical column);
	// the user confirms it unless the dataset marks it.
	Proposal dataset.TargetProposal `json:"proposal"`
	// Tasks says, per column, what training would do with it as target.
	Tasks     []dataset.ColumnTask `json:"tasks"`
	Models    []ml.ModelSpec       `json:"models"`
	Docker    runner.DockerStatus  `json:"docker"`
	Resources runner.Resources     `json:"resources"`
	// Engines are the names of the engines a job may run on, this
	// machine's ("local") first.
	Engines []string `json:"engines"`
}

// Form describes the choices for training on a dataset version.
func (t *Training) Form(versionID string) (TrainForm, error) {
	v, err := t.datasets.Version(versionID)
	if err != nil {
		return TrainForm{}, err
	}
	ctx, done := t.life.call()
	defer done()
	f := TrainForm{Version: v, Target: v.TargetColumn(), Models: ml.Models(), Docker: t.runner.Docker(ctx),
		Resources: runner.Resources{MemoryMB: runner.DefaultMemoryMB, CPUs: runner.DefaultCPUs, Pids: runner.DefaultPids}}
	for _, c := range v.Schema {
		f.Columns = append(f.Columns, c.Name)
	}
	f.Engines = []string{engine.Local}
	if t.engines != nil {
		if list, err := t.engines.List(); err == nil {
			f.Engines = f.Engines[:0]
			for _, e := range list {
				f.Engines = append(f.Engines, e.Name)
			}
		}
	}
	p, err := t.datasets.Profile(versionID)
	if err != nil {
		return TrainForm{}, err
	}
	f.Proposal, f.Tasks = dataset.ProposeTarget(v, p), dataset.ColumnTasks(p)
	return f, nil
}

// Models lists the built-in models and their parameter schemas.
func (t *Training) Models() ([]ml.ModelSpec, error) { return ml.Models(), nil }

// Start queues a training job and returns it (with its run ID); the
// runner decides the defaults (features from the dataset's roles, the
// run's name).
func (t *Training) Start(req runner.TrainRequest) (runner.Job, error) {
	return t.runner.Train(req, runner.VersionData(t.datasets))
}

// Rerun starts the job that produced a run again, identically: same
// parameters and seed, dataset version (checked unchanged), image and
// resources, into the same experiment (see runner.Rerun).
func (t *Training) Rerun(runID string) (runner.Job, error) {
	return t.runner.Rerun(runID, runner.VersionData(t.datasets))
}

// Jobs lists training jobs, newest first.
func (t *Training) Jobs() ([]runner.Job, error) { return t.runner.List() }

// Job returns one job.
func (t *Training) Job(id string) (runner.Job, error) { return t.runner.Get(id) }

// Cancel stops a job and returns it as it is now.
func (t *Training) Cancel(id string) (runner.Job, error) {
	if err := t.runner.Cancel(id); err != nil {
		return runner.Job{}, err
	}
	return t.runner.Get(id)
}

// Logs returns the last lines of a job's log (all when tail is 0).
func (t *Training) Logs(id string, tail int) ([]string, error) { return t.runner.Logs(id, tail) }

// Docker says whether training runs in Docker or locally, in words.
func (t *Training) Docker() (runner.DockerStatus, error) {
	ctx, done := t.life.call()
	defer done()
	return t.runner.Docker(ctx), nil
}

// RunArchive is what ExportRun wrote.
type RunArchive struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// ExportRun writes a run as one archive (dataset version, job with its
// parameters and seed, build context, metrics, artifacts) to dest, a new
// file: written beside it first and renamed into place, so a failure leaves
// nothing half-written. Another Tern imports it with ImportRun.
func (t *Training) ExportRun(runID, dest string) (RunArchive, error) {
	if t.archives == nil {
		return RunArchive{}, core.Errorf(core.Unavailable, "Run archives are not available in this build.")
	}
	dest = strings.TrimSpace(dest)
	if dest == "" {
		return RunArchive{}, core.Errorf(core.Invalid, "Name the file to write, e.g. /home/me/run.tern.tar.gz.")
	}
	dest, err := filepath.Abs(dest)
	if err != nil {
		return RunArchive{}, core.Errorf(core.Invalid, "%q is not a usable path.", dest)
	}
	if _, err := os.Lstat(dest); err == nil {
		return RunArchive{}, core.Errorf(core.Conflict, "%s already exists; choose a new file name.", dest)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), ".tern-run-*")
	if err != nil {
		return RunArchive{}, core.Wrap(err, core.Unavailable, "Tern cannot write in %s: does the folder exist, and may Tern write there?", filepath.Dir(dest))
	}
	err = t.archives.Export(runID, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dest)
	}
	if err != nil {
		os.Remove(f.Name())
		return RunArchive{}, err
	}
	st, err := os.Stat(dest)
	if err != nil {
		return RunArchive{}, core.Wrap(err, core.Internal, "Cannot read back %s.", dest)
	}
	return RunArchive{Path: dest, Bytes: st.Size()}, nil
}

// ImportRun reads a run archive written by ExportRun (here or by another
// Tern): its dataset version, its run (in an experiment of the same name)
// and the job that made it, which Rerun then repeats on this machine.
func (t *Training) ImportRun(path string) (runarchive.Imported, error) {
	if t.archives == nil {
		return runarchive.Imported{}, core.Errorf(core.Unavailable, "Run archives are not available in this build.")
	}
	f, err := os.Open(strings.TrimSpace(path))
	if err != nil {
		return runarchive.Imported{}, core.Wrap(err, core.NotFound, "Cannot open %s: %v.", path, err)
	}
	defer f.Close()
	ctx, cancel := t.life.call()
	defer cancel()
	return t.archives.Import(ctx, f, filepath.Join(t.archiveDir, core.NewID()))
}
