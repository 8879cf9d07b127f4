package app

import (
	"context"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/fairness"
)

// Fairness is the model version page's fairness section: group figures
// of a model version on a dataset version, with disparities and a worded
// verdict. Progress arrives as "fairness.progress" events under the
// request's jobId; Cancel(jobId) stops it.
type Fairness struct {
	life lifetime
	svc  *fairness.Service
}

// NewFairness binds the fairness service; calls live within ctx.
func NewFairness(ctx context.Context, svc *fairness.Service) *Fairness {
	return &Fairness{life: lifetime{ctx}, svc: svc}
}

// Assess computes the figures for req (see fairness.Service.Assess).
func (f *Fairness) Assess(req fairness.Request) (*fairness.Report, error) {
	if f.svc == nil {
		return nil, core.Errorf(core.Unavailable, "Fairness figures are not available.")
	}
	ctx, done := f.life.call()
	defer done()
	return f.svc.Assess(ctx, req)
}

// Cancel stops a running assessment; false if none has that job ID.
func (f *Fairness) Cancel(jobID string) (bool, error) {
	if f.svc == nil {
		return false, nil
	}
	return f.svc.Cancel(jobID), nil
}
