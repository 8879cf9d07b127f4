package runner

import (
	"maps"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// JobOfRun finds the job that produced a run.
func (r *Runner) JobOfRun(runID string) (Job, error) {
	jobs, err := r.List()
	if err != nil {
		return Job{}, err
	}
	for _, j := range jobs {
		if j.RunID == runID {
			return j, nil
		}
	}
	return Job{}, core.Errorf(core.NotFound, "Run %s was not trained by Tern here (no job made it), so it cannot be re-run.", runID)
}

// Rerun starts the job that produced runID again, identically: the same
// parameters (seed included), dataset version, image or build folder,
// command and resources, into the same experiment. The dataset version is
// read again through data and must still hold the same bytes. The new run
// is named "<name> (re-run)" and tagged tern.rerun_of.
func (r *Runner) Rerun(runID string, data func(versionID string) (TrainData, error)) (Job, error) {
	old, err := r.JobOfRun(runID)
	if err != nil {
		return Job{}, err
	}
	spec := old.Spec
	spec.Tags = maps.Clone(old.Spec.Tags)
	if spec.Tags == nil {
		spec.Tags = map[string]string{}
	}
	if spec.DatasetVersion != "" && data != nil {
		d, err := data(spec.DatasetVersion)
		if err != nil {
			return Job{}, core.Wrap(err, core.NotFound, "The run's dataset version is gone, so the run cannot be repeated: %s", core.ErrorMessage(err))
		}
		if was := old.Spec.Tags[TagDatasetDigest]; was != "" && d.Digest != was {
			return Job{}, core.Errorf(core.Conflict, "The dataset version's bytes changed since the run (SHA-256 %.12s… then, %.12s… now): a re-run would not repeat it.", was, d.Digest)
		}
		spec.DataPath, spec.DataReading = d.Path, d.Reading
	}
	// A sweep's trial repeated is not another trial of that sweep.
	delete(spec.Tags, "mlflow.parentRunId")
	spec.Name = old.Spec.Name + " (re-run)"
	spec.Tags[TagRerunOf] = runID
	return r.Submit(spec)
}

// Adopt records spec as the finished job that produced runID, a run that
// was trained elsewhere and imported (see backend/runarchive), so Rerun
// repeats it here like any run this runner trained. The job never runs;
// its note says where it came from.
func (r *Runner) Adopt(spec JobSpec, runID, note string) (Job, error) {
	now := time.Now().UTC()
	j := Job{ID: core.NewID(), RunID: runID, Spec: spec, State: Succeeded, Backend: spec.Backend, Note: note,
		Reason: "Trained on another machine; imported from a run archive.", CreatedAt: now, FinishedAt: now}
	if err := r.save(&j); err != nil {
		return Job{}, err
	}
	return j, nil
}
