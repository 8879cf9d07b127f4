package runner

import (
	"io/fs"
	"os"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/tracking"
)

// Metric is one metric point a job reported.
type Metric struct {
	Key   string
	Value float64
	Step  int64
	Time  time.Time
}

// Sink records what jobs do as runs. TrackingSink writes to Tern's
// tracking store; tests may use their own.
type Sink interface {
	StartRun(j *Job) (runID string, err error)
	LogParams(runID string, params map[string]string) error
	LogMetrics(runID string, ms []Metric) error
	// SetTags records what the job says about itself (its runtime) and
	// what the runner learns once it runs (the image it ran).
	SetTags(runID string, tags map[string]string) error
	// SaveOutputs copies the files of dir into the run's artifacts.
	SaveOutputs(runID, dir string) error
	EndRun(runID string, s State, reason string) error
}

// TrackingSink records jobs through the tracking service.
type TrackingSink struct{ Svc *tracking.Service }

func (t TrackingSink) StartRun(j *Job) (string, error) {
	name := j.Spec.Name
	if name == "" {
		name = "train-" + j.ID[len(j.ID)-6:]
	}
	source := "tern-runtime (built-in)"
	if j.Spec.Image != "" {
		source = j.Spec.Image
	} else if j.Spec.BuildDir != "" {
		source = j.Spec.BuildDir
	}
	tags := map[string]string{}
	for k, v := range j.Spec.Tags {
		tags[k] = v
	}
	tags["tern.job"] = j.ID
	run, err := t.Svc.CreateRun(tracking.RunSpec{
		ExperimentID: j.Spec.ExperimentID, Name: name, Source: source,
		DatasetVersion: j.Spec.DatasetVersion, Status: tracking.StatusScheduled,
		Tags: tags,
	})
	if err != nil {
		return "", err
	}
	return run.ID, nil
}

func (t TrackingSink) LogParams(runID string, p map[string]string) error {
	return t.Svc.LogParams(runID, p)
}

func (t TrackingSink) SetTags(runID string, tags map[string]string) error {
	return t.Svc.SetTags(runID, tags)
}

func (t TrackingSink) LogMetrics(runID string, ms []Metric) error {
	out := make([]tracking.Metric, len(ms))
	for i, m := range ms {
		out[i] = tracking.Metric{Key: m.Key, Value: tracking.Float(m.Value), Step: m.Step, Timestamp: m.Time.UnixMilli()}
	}
	for len(out) > 0 {
		n := min(len(out), tracking.MaxMetricsPerBatch)
		if err := t.Svc.LogMetrics(runID, out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// SaveOutputs walks dir through os.Root, so a symlink a container planted
// never leads outside it; links and special files are skipped.
func (t TrackingSink) SaveOutputs(runID, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot open the job's outputs.")
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		f, err := root.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		_, err = t.Svc.LogArtifact(runID, p, f)
		return err
	})
}

func (t TrackingSink) EndRun(runID string, s State, reason string) error {
	st := map[State]tracking.Status{
		Running: tracking.StatusRunning, Succeeded: tracking.StatusFinished, Failed: tracking.StatusFailed,
		Cancelled: tracking.StatusKilled, Crashed: tracking.StatusCrashed,
	}[s]
	return t.Svc.SetStatus(runID, st, reason)
}
