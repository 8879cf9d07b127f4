package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/runner"
)

// Training is the Train flow: a form for a dataset version, start, watch,
// cancel. Live progress arrives as events runner.TopicJob,
// runner.TopicMetrics and runner.TopicLog.
type Training struct {
	runner   *runner.Runner
	datasets *dataset.Service
}

// NewTraining binds the runner and the datasets it trains on.
func NewTraining(r *runner.Runner, d *dataset.Service) *Training {
	return &Training{runner: r, datasets: d}
}

// TrainForm is everything the Train form needs for one dataset version.
type TrainForm struct {
	Version dataset.Version `json:"version"`
	Columns []string        `json:"columns"`
	// Target is the column the dataset marks as the target, if any.
	Target    string              `json:"target"`
	Models    []ml.ModelSpec      `json:"models"`
	Docker    runner.DockerStatus `json:"docker"`
	Resources runner.Resources    `json:"resources"`
}

// Form describes the choices for training on a dataset version.
func (t *Training) Form(versionID string) (TrainForm, error) {
	v, err := t.datasets.Version(versionID)
	if err != nil {
		return TrainForm{}, err
	}
	f := TrainForm{Version: v, Models: ml.Models(), Docker: t.runner.Docker(context.Background()),
		Resources: runner.Resources{MemoryMB: runner.DefaultMemoryMB, CPUs: runner.DefaultCPUs, Pids: runner.DefaultPids}}
	for _, c := range v.Schema {
		f.Columns = append(f.Columns, c.Name)
		if c.Role == dataset.Target && f.Target == "" {
			f.Target = c.Name
		}
	}
	return f, nil
}

// Models lists the built-in models and their parameter schemas.
func (t *Training) Models() ([]ml.ModelSpec, error) { return ml.Models(), nil }

// TrainRequest is what the Train form sends.
type TrainRequest struct {
	DatasetVersionID string           `json:"datasetVersionId"`
	ExperimentID     string           `json:"experimentId"`
	Name             string           `json:"name"`
	Target           string           `json:"target"`
	Model            string           `json:"model"`
	Task             string           `json:"task"`
	Features         []string         `json:"features"`
	Params           map[string]any   `json:"params"`
	Resources        runner.Resources `json:"resources"`
	// Bring your own: a local image (or a Dockerfile folder) and command.
	Image    string   `json:"image"`
	BuildDir string   `json:"buildDir"`
	Command  []string `json:"command"`
	// Tracking: the job logs with the MLflow client (it gets a private
	// network and a token for its own run).
	Tracking bool `json:"tracking"`
}

// Start queues a training job and returns it (with its run ID).
func (t *Training) Start(req TrainRequest) (runner.Job, error) {
	if req.DatasetVersionID == "" {
		return runner.Job{}, core.Errorf(core.Invalid, "Choose a dataset version to train on.")
	}
	v, err := t.datasets.Version(req.DatasetVersionID)
	if err != nil {
		return runner.Job{}, err
	}
	path, err := t.datasets.VersionFile(req.DatasetVersionID)
	if err != nil {
		return runner.Job{}, err
	}
	p := map[string]any{}
	for k, val := range req.Params {
		p[k] = val
	}
	p["target"] = req.Target
	if req.Model != "" {
		p["model"] = req.Model
	}
	if req.Task != "" {
		p["task"] = req.Task
	}
	features := req.Features
	if len(features) == 0 && req.Image == "" && req.BuildDir == "" {
		// The dataset's roles decide: ID and ignored columns never feed the
		// model (an ID would let it memorise rows).
		for _, c := range v.Schema {
			if c.Name != req.Target && (c.Role == dataset.Feature || c.Role == "") {
				features = append(features, c.Name)
			}
		}
	}
	if len(features) > 0 {
		p["features"] = features
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return runner.Job{}, core.Errorf(core.Invalid, "The parameters cannot be encoded: %v.", err)
	}
	name := req.Name
	if name == "" {
		model := req.Model
		if model == "" {
			model = req.Image
		}
		if model == "" {
			model = "gbdt"
		}
		name = fmt.Sprintf("%s v%d · %s · %s", v.Dataset, v.Number, model, time.Now().Format("15:04"))
	}
	return t.runner.Submit(runner.JobSpec{
		Name: name, ExperimentID: req.ExperimentID, DataPath: path, DatasetVersion: req.DatasetVersionID,
		Params: raw, Image: req.Image, BuildDir: req.BuildDir, Command: req.Command, Resources: req.Resources,
		Tracking: req.Tracking,
	})
}

// Jobs lists training jobs, newest first.
func (t *Training) Jobs() ([]runner.Job, error) { return t.runner.List() }

// Job returns one job.
func (t *Training) Job(id string) (runner.Job, error) { return t.runner.Get(id) }

// Cancel stops a job and returns it as it is now.
func (t *Training) Cancel(id string) (runner.Job, error) {
	if err := t.runner.Cancel(id); err != nil {
		return runner.Job{}, err
	}
	return t.runner.Get(id)
}

// Logs returns the last lines of a job's log (all when tail is 0).
func (t *Training) Logs(id string, tail int) ([]string, error) { return t.runner.Logs(id, tail) }

// Docker says whether training runs in Docker or locally, in words.
func (t *Training) Docker() (runner.DockerStatus, error) {
	return t.runner.Docker(context.Background()), nil
}
