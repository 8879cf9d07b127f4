package app

import (
	"context"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/evaluate"
)

// Evaluation compares a model version with the champion ("Compare with
// champion" on the model version page). Progress arrives as events
// evaluate.TopicProgress with the caller's ID; Cancel stops it.
type Evaluation struct {
	life lifetime
	svc  *evaluate.Service
}

// NewEvaluation binds a comparison service (nil: not available).
func NewEvaluation(ctx context.Context, svc *evaluate.Service) *Evaluation {
	return &Evaluation{life: lifetime{ctx}, svc: svc}
}

// Compare scores the request's candidate and champion on the same held-out
// rows, under id (chosen by the page) for progress and Cancel.
func (e *Evaluation) Compare(id string, req evaluate.Request) (evaluate.Report, error) {
	if e.svc == nil {
		return evaluate.Report{}, core.Errorf(core.Unavailable, "Model comparison is not available.")
	}
	ctx, done := e.life.call()
	defer done()
	rep, err := e.svc.Run(ctx, id, req)
	if err != nil {
		return evaluate.Report{}, err
	}
	return *rep, nil
}

// Gate checks rules against a report the page holds.
func (e *Evaluation) Gate(rep evaluate.Report, rules []evaluate.Rule) (evaluate.Verdict, error) {
	return evaluate.Gate(&rep, rules)
}

// Cancel stops a running comparison; false if none has that ID.
func (e *Evaluation) Cancel(id string) (bool, error) {
	if e.svc == nil {
		return false, nil
	}
	return e.svc.Cancel(id), nil
}
