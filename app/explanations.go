package app

import (
	"context"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explanation"
)

// Explanations is the global explanation shown on the model version and
// run pages: mean |SHAP| per column, a beeswarm and dependence plots,
// computed once per version and stored. Progress arrives as
// "explanation.progress" events under the request's jobId.
type Explanations struct {
	life lifetime
	svc  *explanation.Service
}

// NewExplanations binds the explanation service; calls live within ctx.
func NewExplanations(ctx context.Context, svc *explanation.Service) *Explanations {
	return &Explanations{life: lifetime{ctx}, svc: svc}
}

func (e *Explanations) ready() error {
	if e.svc == nil {
		return core.Errorf(core.Unavailable, "Explanations are not available.")
	}
	return nil
}

// Global returns a version's stored explanation, or null when none was
// computed yet.
func (e *Explanations) Global(model string, version int) (*explanation.Global, error) {
	if err := e.ready(); err != nil {
		return nil, err
	}
	g, ok, err := e.svc.Get(model, version)
	if err != nil || !ok {
		return nil, err
	}
	return &g, nil
}

// Compute explains the version and stores the result, replacing any
// earlier one.
func (e *Explanations) Compute(req explanation.Request) (*explanation.Global, error) {
	if err := e.ready(); err != nil {
		return nil, err
	}
	ctx, done := e.life.call()
	defer done()
	g, err := e.svc.Compute(ctx, req)
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// Cancel stops a running computation; false if none has that job ID.
func (e *Explanations) Cancel(jobID string) (bool, error) {
	if e.svc == nil {
		return false, nil
	}
	return e.svc.Cancel(jobID), nil
}

// Chart returns one stored chart as SVG: kind "bar", "beeswarm" or
// "dependence" (of column).
func (e *Explanations) Chart(model string, version int, kind, column string) (string, error) {
	if err := e.ready(); err != nil {
		return "", err
	}
	b, err := e.svc.Chart(model, version, kind, column)
	return string(b), err
}

// RunVersion names the model version registered from a run.
type RunVersion struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
}

// OfRun is the newest version registered from the run, or null.
func (e *Explanations) OfRun(runID string) (*RunVersion, error) {
	if err := e.ready(); err != nil {
		return nil, err
	}
	v, ok, err := e.svc.VersionOfRun(runID)
	if err != nil || !ok {
		return nil, err
	}
	return &RunVersion{Model: v.Model, Version: v.Version}, nil
}

// Local explains one prediction (Try-it): record is the row a request
// carried, column → value.
func (e *Explanations) Local(model string, version int, record map[string]any) (explanation.Local, error) {
	if err := e.ready(); err != nil {
		return explanation.Local{}, err
	}
	ctx, done := e.life.call()
	defer done()
	return e.svc.Local(ctx, model, version, record)
}

// Logged explains row (0-based) of a prediction the deployment logged
// under requestId, by the version that answered it.
func (e *Explanations) Logged(deploymentID, requestID string, row int) (explanation.Logged, error) {
	if err := e.ready(); err != nil {
		return explanation.Logged{}, err
	}
	ctx, done := e.life.call()
	defer done()
	return e.svc.Logged(ctx, deploymentID, requestID, row)
}
