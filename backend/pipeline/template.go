package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/registry"
)

// Lineage is where the "Retrain on drift" template reads a deployment's
// history: what it serves, which run made it, on which data, and which
// monitors watch it.
type Lineage struct {
	Deployments interface {
		Get(id string) (deployment.Deployment, error)
	}
	Registry interface {
		Version(name, ref string) (registry.Version, error)
	}
	Datasets interface {
		Version(versionID string) (dataset.Version, error)
	}
	// Monitors may be nil: the pipeline then starts by hand only.
	Monitors interface {
		Monitors() ([]monitor.Monitor, error)
	}
}

// RetrainOnDrift builds and saves the ready-made pipeline for a
// deployment from its lineage: the newest version of the dataset its
// serving model was trained on → validate → train the same model with the
// same parameters → register as @challenger → evaluate against @champion
// → gate (the interval of the difference must be above 0) → ramp into the
// deployment → watch → notify; started by its monitors' alerts and by
// hand. Steps whose service this Tern lacks are left out.
func (e *Engine) RetrainOnDrift(l Lineage, deploymentID string) (Pipeline, error) {
	d, err := l.Deployments.Get(deploymentID)
	if err != nil {
		return Pipeline{}, err
	}
	version := serving(d)
	if version == 0 {
		return Pipeline{}, core.Errorf(core.Conflict, "Deployment %s is splitting its traffic now; the template reads the version that takes all of it. Settle the split first.", d.Name)
	}
	v, err := l.Registry.Version(d.Model, strconv.Itoa(version))
	if err != nil {
		return Pipeline{}, err
	}
	if v.DatasetVersion == "" || v.RunID == "" {
		return Pipeline{}, core.Errorf(core.Invalid, "%s v%d was not trained in Tern (no run or dataset version in its lineage), so there is nothing to retrain from.", v.Model, v.Version)
	}
	dv, err := l.Datasets.Version(v.DatasetVersion)
	if err != nil {
		return Pipeline{}, core.Wrap(err, core.NotFound, "The dataset version %s v%d was trained on is gone, so the template cannot name its data.", v.Model, v.Version)
	}
	model := v.Params["model"]
	if model == "" {
		model = ml.AlgoGBDT
	}
	target := v.Params["target"]
	if target == "" {
		target = dv.TargetColumn()
	}
	task := v.Params["task"]
	if task == "" {
		task = "auto"
	}
	params := map[string]any{}
	for _, m := range ml.Models() {
		if m.Name != model {
			continue
		}
		for _, ps := range m.Params {
			raw, ok := v.Params[ps.Name]
			if !ok {
				continue
			}
			if f, err := strconv.ParseFloat(raw, 64); err == nil {
				params[ps.Name] = f
			} else {
				params[ps.Name] = raw
			}
		}
	}
	// The candidate must be better with confidence: the whole interval of
	// its difference from the champion on the side that means better.
	gate := map[string]any{"metric": "roc_auc", "diff_above": 0.0}
	if task == ml.Regression {
		gate = map[string]any{"metric": "rmse", "diff_below": 0.0}
	}

	p := Pipeline{Name: "Retrain " + d.Name + " on drift", OnActive: OnActiveCoalesce,
		Description: fmt.Sprintf("Made from %s's lineage: %s v%d, trained on %s v%d by run %s.", d.Name, v.Model, v.Version, dv.Dataset, dv.Number, v.RunID),
		Triggers:    []Trigger{{Kind: TriggerManual}}}
	if l.Monitors != nil {
		if ms, err := l.Monitors.Monitors(); err == nil {
			for _, m := range ms {
				if m.Deployment == d.ID {
					p.Triggers = append(p.Triggers, Trigger{Kind: TriggerAlert, Monitor: m.ID})
				}
			}
		}
	}
	add := func(s Step) bool {
		if _, ok := e.types.Get(s.Type); !ok {
			return false
		}
		p.Steps = append(p.Steps, s)
		return true
	}
	last := map[PortType]string{}
	add(Step{ID: "data", Type: "data.newest", Fields: map[string]any{"dataset": dv.Dataset}})
	last[DatasetVersion] = "data.version"
	if add(Step{ID: "validate", Type: "validate", Inputs: map[string]string{"version": last[DatasetVersion]}}) {
		last[DatasetVersion] = "validate.version"
	}
	if add(Step{ID: "train", Type: "train", Fields: map[string]any{"model": model, "target": target, "task": task, "params": params},
		Inputs: map[string]string{"version": last[DatasetVersion]}}) {
		last[RunOutput] = "train.run"
	}
	if last[RunOutput] != "" && add(Step{ID: "register", Type: "register", Fields: map[string]any{"model": d.Model, "alias": "challenger"},
		Inputs: map[string]string{"run": last[RunOutput]}}) {
		last[ModelVersion] = "register.model_version"
	}
	if last[ModelVersion] != "" && add(Step{ID: "evaluate", Type: "evaluate", Inputs: map[string]string{"candidate": last[ModelVersion]}}) {
		if add(Step{ID: "gate", Type: "gate", Fields: gate, Inputs: map[string]string{"report": "evaluate.report"}}) {
			last[ModelVersion] = "gate.candidate"
		}
		if strings.HasPrefix(last[ModelVersion], "gate.") && add(Step{ID: "deploy", Type: "deploy", Fields: map[string]any{"deployment": d.ID},
			Inputs: map[string]string{"candidate": last[ModelVersion]}}) {
			if add(Step{ID: "watch", Type: "watch", Inputs: map[string]string{"deployment": "deploy.deployment"}}) {
				last[ModelVersion] = "watch.model_version"
			}
		}
	}
	after := last[ModelVersion]
	if after == "" {
		after = last[DatasetVersion]
	}
	add(Step{ID: "notify", Type: "notify", Inputs: map[string]string{"after": after}})

	// A second template for the same deployment gets a number.
	base := p.Name
	if list, err := e.List(); err == nil {
		taken := map[string]bool{}
		for _, s := range list {
			taken[strings.ToLower(s.Pipeline.Name)] = true
		}
		for n := 2; taken[strings.ToLower(p.Name)]; n++ {
			p.Name = fmt.Sprintf("%s (%d)", base, n)
		}
	}
	return e.Save(p)
}
