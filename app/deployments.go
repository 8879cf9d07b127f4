package app

import (
	"context"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/router"
)

// Deployments is the serving screen: deploy a version, move traffic
// (canary slider, shadow, blue/green, rollback), watch latency and errors,
// try the endpoint, score a CSV, export images.
type Deployments struct {
	life lifetime
	svc  *deployment.Service
	reg  *registry.Service
	// Packager builds images; nil when Docker is not reachable.
	packager *deployment.DockerLauncher
}

// NewDeployments binds the deployment service; calls live within ctx.
func NewDeployments(ctx context.Context, s *deployment.Service, r *registry.Service, packager *deployment.DockerLauncher) *Deployments {
	return &Deployments{life: lifetime{ctx}, svc: s, reg: r, packager: packager}
}

func (d *Deployments) ready() error {
	if d.svc == nil {
		return core.Errorf(core.Unavailable, "Serving is not available.")
	}
	return nil
}

// List returns every deployment, newest first.
func (d *Deployments) List() ([]deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	return listed(d.svc.List())
}

// Get returns one deployment.
func (d *Deployments) Get(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Get(id)
}

// Deploy brings a model version (number, "latest" or "@alias") live.
func (d *Deployments) Deploy(model, ref string, opt deployment.Options) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.Deploy(ctx, model, ref, opt)
}

// AddVersion starts another version behind the deployment, with no traffic.
func (d *Deployments) AddVersion(id, ref string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.AddVersion(ctx, id, ref)
}

// SetCanary gives backend weight percent, the stable backend the rest.
func (d *Deployments) SetCanary(id, backend string, weight float64) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.SetCanary(id, backend, weight)
}

// SetTraffic replaces the split and shadow (blue/green: 100 to one backend).
func (d *Deployments) SetTraffic(id string, t router.Traffic) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.SetTraffic(id, t)
}

// Rollback restores the previous split.
func (d *Deployments) Rollback(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Rollback(id)
}

// Stop takes a deployment down (its log is kept).
func (d *Deployments) Stop(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.Stop(ctx, id)
}

// DeletePreview says what deleting a deployment removes (its endpoints,
// the serving images no other deployment uses, a ramp in progress) and
// keeps (its prediction log), changing nothing.
func (d *Deployments) DeletePreview(id string) (deployment.DeletePlan, error) {
	if err := d.ready(); err != nil {
		return deployment.DeletePlan{}, err
	}
	return d.svc.DeletePreview(id)
}

// Delete stops and forgets a deployment, as DeletePreview says.
func (d *Deployments) Delete(id string) (deployment.DeleteResult, error) {
	if err := d.ready(); err != nil {
		return deployment.DeleteResult{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.Delete(ctx, id)
}

// DefaultPlan is the deployment's ramp plan: the one its alias follow
// uses, else Tern's default (5 → 25 → 50 %, each held 5 minutes and 300
// requests).
func (d *Deployments) DefaultPlan(id string) (deployment.Plan, error) {
	if err := d.ready(); err != nil {
		return deployment.Plan{}, err
	}
	if id != "" {
		dep, err := d.svc.Get(id)
		if err != nil {
			return deployment.Plan{}, err
		}
		if dep.Follow != nil && len(dep.Follow.Plan.Stages) > 0 {
			return dep.Follow.Plan, nil
		}
	}
	return deployment.DefaultPlan(), nil
}

// StartRamp ramps another version (number, "latest" or "@alias") into
// the deployment along plan; it returns once the first stage is in force.
// Progress arrives as "deployment.ramp" events.
func (d *Deployments) StartRamp(id, ref string, plan deployment.Plan) (deployment.Ramp, error) {
	if err := d.ready(); err != nil {
		return deployment.Ramp{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.StartRamp(ctx, id, ref, plan)
}

// Ramps lists the deployment's ramps, newest first (the one in progress
// with its live figures).
func (d *Deployments) Ramps(id string) ([]deployment.Ramp, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	return listed(d.svc.Ramps(id))
}

// AbortRamp stops a ramp in progress: the champion gets all traffic back
// on the next request.
func (d *Deployments) AbortRamp(rampID string) (deployment.Ramp, error) {
	if err := d.ready(); err != nil {
		return deployment.Ramp{}, err
	}
	return d.svc.AbortRamp(rampID)
}

// SetFollow makes the deployment follow an alias of its model through a
// ramp (or a switch); nil follows nothing.
func (d *Deployments) SetFollow(id string, f *deployment.Follow) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.SetFollow(id, f)
}

// Stats is live latency percentiles, throughput, errors, shadow agreement
// and prediction-log counts (dropped shown to the user).
func (d *Deployments) Stats(id string) (router.Stats, error) {
	if err := d.ready(); err != nil {
		return router.Stats{}, err
	}
	return d.svc.Stats(id)
}

// LoggedPrediction is a prediction-log record with readable bodies.
type LoggedPrediction struct {
	predlog.Record
	RequestText  string `json:"requestText"`
	ResponseText string `json:"responseText"`
}

// Predictions returns the latest logged requests and responses.
func (d *Deployments) Predictions(id string, limit int) ([]LoggedPrediction, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	recs, err := d.svc.Predictions(id, limit)
	out := make([]LoggedPrediction, 0, len(recs))
	for _, r := range recs {
		lp := LoggedPrediction{Record: r, RequestText: string(r.Request), ResponseText: string(r.Response)}
		lp.Request, lp.Response = nil, nil
		out = append(out, lp)
	}
	return out, err
}

// Predict sends body (JSON in any MLflow form) through the deployment's
// router, exactly as an outside caller would, so it is routed and logged.
func (d *Deployments) Predict(id, contentType, body string) (deployment.PredictResult, error) {
	if err := d.ready(); err != nil {
		return deployment.PredictResult{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.Predict(ctx, id, contentType, body)
}

// ScoreCSV scores a CSV file (header row) through the deployment and
// writes it with a "prediction" column to outPath ("" is beside the input).
// Progress arrives as deployment.TopicBatchProgress events.
func (d *Deployments) ScoreCSV(id, inPath, outPath string) (deployment.BatchProgress, error) {
	if err := d.ready(); err != nil {
		return deployment.BatchProgress{}, err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.ScoreCSV(ctx, id, inPath, outPath)
}

// ScoreCSVText scores a CSV dropped in the browser (the text of the file)
// and returns the scored CSV, for the page to offer as a download.
func (d *Deployments) ScoreCSVText(id, text string) (string, error) {
	if err := d.ready(); err != nil {
		return "", err
	}
	ctx, done := d.life.call()
	defer done()
	return d.svc.ScoreCSVText(ctx, id, text)
}

// ExportImage writes `docker save` of the version's serving image to dest.
func (d *Deployments) ExportImage(model string, version int, dest string) (string, error) {
	if d.packager == nil {
		return "", core.Errorf(core.Unavailable, "The tern-runtime binary was not found beside Tern, so no serving image can be built.")
	}
	v, err := d.reg.Version(model, strconv.Itoa(version))
	if err != nil {
		return "", err
	}
	if err := deployment.Packagable(v); err != nil {
		return "", err
	}
	ctx, done := d.life.call()
	defer done()
	return d.packager.SaveImage(ctx, model, version, d.reg.Dir(v), dest)
}

// ExportBuildContext writes Dockerfile + tern-runtime + model/ to dest.
func (d *Deployments) ExportBuildContext(model string, version int, dest string) error {
	if d.packager == nil {
		return core.Errorf(core.Unavailable, "The tern-runtime binary is needed for a build context and was not found.")
	}
	v, err := d.reg.Version(model, strconv.Itoa(version))
	if err != nil {
		return err
	}
	if err := deployment.Packagable(v); err != nil {
		return err
	}
	return d.packager.WriteBuildContext(d.reg.Dir(v), dest)
}
