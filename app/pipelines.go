package app

import (
	"context"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/pipeline"
)

// Pipelines is the Pipelines area: pipelines (built in the UI or imported
// as YAML), their runs and steps. Progress arrives as events
// pipeline.TopicRun ("pipeline.run", a Run), pipeline.TopicStep
// ("pipeline.step", a StepRecord) and pipeline.TopicChanged.
type Pipelines struct {
	life    lifetime
	engine  *pipeline.Engine
	lineage pipeline.Lineage
}

// NewPipelines binds the pipeline engine and where the "Retrain on drift"
// template reads a deployment's lineage; calls live within ctx.
func NewPipelines(ctx context.Context, e *pipeline.Engine, l pipeline.Lineage) *Pipelines {
	return &Pipelines{life: lifetime{ctx}, engine: e, lineage: l}
}

// StepTypes lists the step types this Tern can run, with their fields
// (for the builder's generated forms) and typed inputs and outputs.
func (p *Pipelines) StepTypes() ([]pipeline.StepType, error) {
	return listed(p.engine.Types().List(), nil)
}

// List returns the pipelines, newest first, each with its newest run.
func (p *Pipelines) List() ([]pipeline.Summary, error) { return listed(p.engine.List()) }

// Get returns one pipeline.
func (p *Pipelines) Get(id string) (pipeline.Pipeline, error) { return p.engine.Get(id) }

// Check validates a pipeline without saving it: every problem, each
// naming its step and field or input (empty: it can be saved and run).
func (p *Pipelines) Check(pl pipeline.Pipeline) ([]pipeline.Problem, error) {
	if err := pipeline.Normalize(&pl); err != nil {
		return []pipeline.Problem{{Message: core.ErrorMessage(err)}}, nil
	}
	return listed(pipeline.Validate(pl, p.engine.Types()), nil)
}

// maxNextFires bounds a schedule preview: a few times show the rhythm.
const maxNextFires = 10

// NextFires previews a schedule trigger: the next count times (at most 10)
// its cron expression fires after now, in UTC, or the sentence saying why
// the expression is not one. The editor shows them beside the field, and
// the list shows each pipeline's next scheduled start.
func (p *Pipelines) NextFires(cron string, count int) ([]time.Time, error) {
	s, err := pipeline.ParseCron(cron)
	if err != nil {
		return nil, err
	}
	count = min(max(count, 1), maxNextFires)
	out := make([]time.Time, 0, count)
	t := time.Now().UTC()
	for range count {
		t = s.Next(t)
		if t.IsZero() { // an expression that never fires again (30 February)
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// Save creates (empty ID) or replaces a pipeline; an invalid one is
// refused whole with its problems worded.
func (p *Pipelines) Save(pl pipeline.Pipeline) (pipeline.Pipeline, error) { return p.engine.Save(pl) }

// Delete removes a pipeline and its runs; refused while a run is active.
func (p *Pipelines) Delete(id string) error { return p.engine.Delete(id) }

// ExportYAML writes a pipeline as a YAML file's text.
func (p *Pipelines) ExportYAML(id string) (string, error) {
	pl, err := p.engine.Get(id)
	if err != nil {
		return "", err
	}
	b, err := pipeline.ExportYAML(pl)
	return string(b), err
}

// ImportYAML reads a pipeline file's text and saves it (an id in the file
// replaces that pipeline); errors name the line and field.
func (p *Pipelines) ImportYAML(text string) (pipeline.Pipeline, error) {
	pl, err := pipeline.ParseYAML([]byte(text), p.engine.Types())
	if err != nil {
		return pipeline.Pipeline{}, err
	}
	return p.engine.Save(pl)
}

// Start runs a pipeline now (always a new run); NoCache re-runs every step.
func (p *Pipelines) Start(id string, opt pipeline.StartOptions) (pipeline.Run, error) {
	return p.engine.Start(id, opt)
}

// Runs lists a pipeline's runs newest first (every pipeline's when id is
// empty); limit 0 means 100.
func (p *Pipelines) Runs(id string, limit int) ([]pipeline.Run, error) {
	return listed(p.engine.Runs(id, limit))
}

// Run returns a run with its step records (states, inputs, outputs, logs,
// links, durations, cache markers) in pipeline order.
func (p *Pipelines) Run(runID string) (pipeline.RunDetail, error) { return p.engine.GetRun(runID) }

// Cancel stops a queued or running run.
func (p *Pipelines) Cancel(runID string) error { return p.engine.Cancel(runID) }

// Retry runs a failed or cancelled step of an ended run again, with the
// steps it blocked.
func (p *Pipelines) Retry(runID, step string) (pipeline.Run, error) {
	return p.engine.Retry(runID, step)
}

// Approve lets a step waiting for approval (a gate) go on.
func (p *Pipelines) Approve(runID, step, note string) (pipeline.StepRecord, error) {
	return p.engine.Decide(runID, step, true, note)
}

// Reject fails a step waiting for approval, and with it the run.
func (p *Pipelines) Reject(runID, step, note string) (pipeline.StepRecord, error) {
	return p.engine.Decide(runID, step, false, note)
}

// RetrainOnDrift creates the ready-made pipeline for a deployment from its
// lineage (data → validate → train → register → evaluate → gate → deploy
// → watch → notify, with the step types this Tern has), triggered by the
// deployment's monitors' alerts, and returns it saved.
func (p *Pipelines) RetrainOnDrift(deploymentID string) (pipeline.Pipeline, error) {
	if p.lineage.Deployments == nil || p.lineage.Registry == nil || p.lineage.Datasets == nil {
		return pipeline.Pipeline{}, core.Errorf(core.Unavailable, "Deployments are not available here, so there is no lineage to build from.")
	}
	return p.engine.RetrainOnDrift(p.lineage, deploymentID)
}
