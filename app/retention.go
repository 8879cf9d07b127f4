package app

import (
	"context"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/predlog"
)

// Retention is Settings → Prediction log: how much of each deployment's
// prediction log to keep (N days, N bytes; for all or per deployment), a
// dry run that says what a run would delete, the run itself with progress
// and cancel, and a schedule.
type Retention struct {
	life lifetime
	svc  *predlog.Retention
}

// NewRetention binds prediction-log retention; nil in tests that do not need it.
func NewRetention(ctx context.Context, svc *predlog.Retention) *Retention {
	return &Retention{life: lifetime{ctx}, svc: svc}
}

func (r *Retention) ready() error {
	if r.svc == nil {
		return core.Errorf(core.Unavailable, "Prediction-log retention is not available.")
	}
	return nil
}

// Status is the stored policy, the running job (with progress) and the last one.
func (r *Retention) Status() (predlog.RetentionStatus, error) {
	if err := r.ready(); err != nil {
		return predlog.RetentionStatus{}, err
	}
	return r.svc.Status()
}

// Preview is the dry run of a policy: per deployment, the records and
// bytes it would delete, and what it keeps because monitors or labels
// still need it (and who). It changes nothing.
func (r *Retention) Preview(p predlog.Policy) (predlog.Estimate, error) {
	if err := r.ready(); err != nil {
		return predlog.Estimate{}, err
	}
	ctx, done := r.life.call()
	defer done()
	return r.svc.Preview(ctx, p)
}

// SetPolicy stores the limits and the schedule.
func (r *Retention) SetPolicy(p predlog.Policy) (predlog.Policy, error) {
	if err := r.ready(); err != nil {
		return predlog.Policy{}, err
	}
	return r.svc.SetPolicy(p)
}

// Start runs the stored policy now and returns at once; Status follows it.
// What monitors and labels still need is kept unless opt.DeleteNeeded,
// which the person chooses in words in Settings.
func (r *Retention) Start(opt predlog.StartOptions) (predlog.Job, error) {
	if err := r.ready(); err != nil {
		return predlog.Job{}, err
	}
	ctx, done := r.life.call()
	defer done()
	return r.svc.Start(ctx, opt)
}

// Cancel stops the running job between batches; false if id is not running.
func (r *Retention) Cancel(id string) (bool, error) {
	if err := r.ready(); err != nil {
		return false, err
	}
	return r.svc.Cancel(id), nil
}
