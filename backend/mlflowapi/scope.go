package mlflowapi

import (
	"context"
	"net/http"
)

// A request made with a run's own token — the MLFLOW_TRACKING_TOKEN a
// training container gets — may touch that run only: its params, metrics,
// tags, status and artifacts, and read experiments. It cannot create
// runs or experiments, search other runs, or reach another run's
// artifacts. Whoever checks tokens (httpapi) marks such requests with
// WithRunScope; unmarked requests (the person's own token) are unscoped.

type scopeKey struct{}

// WithRunScope returns ctx marking requests as limited to runID.
func WithRunScope(ctx context.Context, runID string) context.Context {
	return context.WithValue(ctx, scopeKey{}, runID)
}

func runScope(r *http.Request) (string, bool) {
	id, ok := r.Context().Value(scopeKey{}).(string)
	return id, ok
}

const errDenied = "PERMISSION_DENIED"

func denied(what string) error {
	return &apiError{http.StatusForbidden, errDenied, "This token belongs to one run and cannot " + what + "."}
}

// checkScope refuses a scoped request aimed at another run.
func checkScope(r *http.Request, runID string) error {
	if scope, ok := runScope(r); ok && scope != runID {
		return denied("reach another run")
	}
	return nil
}

// Route policies for scoped requests.
type policy int

const (
	// perRun: the handler names its run (run_id, or the artifact path),
	// checked against the scope.
	perRun policy = iota
	// readShared: reads that are not about a run (experiments).
	readShared
	// notScoped: refused to scoped requests.
	notScoped
)
