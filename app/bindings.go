package app

import (
	"context"

	"github.com/tern-studio/tern/backend/atrest"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/backup"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/engine"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/explanation"
	"github.com/tern-studio/tern/backend/fairness"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/pipeline"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runarchive"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/sweep"
	"github.com/tern-studio/tern/backend/system"
	"github.com/tern-studio/tern/backend/tracking"
)

// Services are the backend services main.go builds; each area's bound
// struct wraps one. Add a field and a line in Bindings per area.
type Services struct {
	// Context is the app's lifetime: bound calls derive theirs from it,
	// so closing the app cancels the work they started.
	Context context.Context
	Shell   *Shell
	System  *system.Service
	// Datasets is nil only in tests that do not need it.
	Datasets *dataset.Service
	Tracking *tracking.Service
	Runner   *runner.Runner
	// RunArchives exports and imports runs (nil in tests that do not need
	// it); ArchiveDir is where imports unpack a build context to keep.
	RunArchives *runarchive.Service
	ArchiveDir  string
	// Registry, Deployments and Packager serve models (Packager may be nil).
	Registry    *registry.Service
	Deployments *deployment.Service
	Packager    *deployment.DockerLauncher
	Bus         *core.Bus
	// Monitoring may be nil in tests that do not need it.
	Monitoring *monitor.Service
	// Sweeps may be nil in tests that do not need it.
	Sweeps *sweep.Service
	// Fairness may be nil in tests that do not need it.
	Fairness *fairness.Service
	// Pipelines may be nil in tests that do not need it.
	Pipelines *pipeline.Engine
	// Backups may be nil in tests that do not need it.
	Backups *backup.Service
	// Explanations may be nil in tests that do not need it.
	Explanations *explanation.Service
	// Audit is the audit trail (nil in tests that do not need it).
	Audit *audit.Log
	// Encryption is encryption at rest (nil in tests that do not need it).
	Encryption *atrest.Service
	// Retention is prediction-log retention (nil in tests that do not need it).
	Retention *predlog.Retention
	// Engines are the Docker engines jobs run on (nil in tests that do
	// not need them).
	Engines *engine.Service
}

// Bindings are the objects bound to the window and served at
// /api/call/<Struct>.<Method> in browser mode — one list for both faces.
func Bindings(s Services) []any {
	return []any{
		&System{life: lifetime{s.Context}, svc: s.System, shell: s.Shell},
		NewDatasets(s.Context, s.Datasets),
		NewExperiments(s.Tracking),
		NewTraining(s.Context, s.Runner, s.Datasets, s.Engines, s.RunArchives, s.ArchiveDir),
		NewModels(s.Registry, s.Deployments),
		NewDeployments(s.Context, s.Deployments, s.Registry, s.Packager),
		NewMonitoring(s.Context, s.Monitoring),
		NewSweeps(s.Sweeps, s.Runner),
		NewFairness(s.Context, s.Fairness),
		NewPipelines(s.Context, s.Pipelines, s.lineage()),
		NewBackups(s.Context, s.Backups),
		NewEvaluation(s.Context, evaluation(s)),
		NewExplanations(s.Context, s.Explanations),
		NewAudit(s.Audit),
		NewEncryption(s.Context, s.Encryption),
		NewRetention(s.Context, s.Retention),
		NewEngines(s.Context, s.Engines),
	}
}

// evaluation builds the comparison service over the registry and the
// datasets, or nil when a test left either out.
func evaluation(s Services) *evaluate.Service {
	if s.Registry == nil || s.Datasets == nil {
		return nil
	}
	return &evaluate.Service{Versions: s.Registry, Datasets: s.Datasets, Bus: s.Bus}
}

// listed answers an empty list as [] rather than null, which the page
// would have to special-case.
func listed[T any](out []T, err error) ([]T, error) {
	if out == nil {
		out = []T{}
	}
	return out, err
}

// lineage is where the pipeline template reads a deployment's history;
// services a test left nil stay nil in it.
func (s Services) lineage() pipeline.Lineage {
	var l pipeline.Lineage
	if s.Deployments != nil {
		l.Deployments = s.Deployments
	}
	if s.Registry != nil {
		l.Registry = s.Registry
	}
	if s.Datasets != nil {
		l.Datasets = s.Datasets
	}
	if s.Monitoring != nil {
		l.Monitors = s.Monitoring
	}
	return l
}
