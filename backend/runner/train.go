package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/table"
)

// TrainRequest is what the Train form sends.
type TrainRequest struct {
	DatasetVersionID string         `json:"datasetVersionId"`
	ExperimentID     string         `json:"experimentId"`
	Name             string         `json:"name"`
	Target           string         `json:"target"`
	Model            string         `json:"model"`
	Task             string         `json:"task"`
	Features         []string       `json:"features"`
	Params           map[string]any `json:"params"`
	// Refit fits the built-in model again on every labelled row once it
	// has been evaluated on the held-out split (ml.Params.Refit); the run
	// is tagged so its metrics are read as the split's.
	Refit     bool      `json:"refit"`
	Resources Resources `json:"resources"`
	// Bring your own: a local image (or a Dockerfile folder) and command.
	Image    string   `json:"image"`
	BuildDir string   `json:"buildDir"`
	Command  []string `json:"command"`
	// Tracking: the job logs with the MLflow client (it gets a private
	// network and a token for its own run).
	Tracking bool `json:"tracking"`
	// Engine is the Docker engine to train on (Settings → Engines); empty
	// is this machine's.
	Engine string `json:"engine,omitempty"`
	// Tags go on the job's run when it is created (a sweep's trials carry
	// mlflow.parentRunId and their trial number here).
	Tags map[string]string `json:"tags,omitempty"`
}

// TrainData is the dataset version a request trains on, as much of it as
// a job needs.
type TrainData struct {
	// Path is the version's file on the host.
	Path string
	// Reading is how to read it as the version was imported (see
	// JobSpec.DataReading).
	Reading *table.Options
	// Dataset and Number name the version in the default run name.
	Dataset string
	Number  int
	// Digest is the SHA-256 of the version's bytes, recorded on the run.
	Digest string
	// Features are the columns that may feed a model predicting the
	// request's target (the dataset's column roles decide).
	Features func(target string) []string
}

// Train checks a request, reads its dataset version through data and
// queues the job (see TrainSpec).
func (r *Runner) Train(req TrainRequest, data func(versionID string) (TrainData, error)) (Job, error) {
	if req.DatasetVersionID == "" {
		return Job{}, core.Errorf(core.Invalid, "Choose a dataset version to train on.")
	}
	d, err := data(req.DatasetVersionID)
	if err != nil {
		return Job{}, err
	}
	spec, err := TrainSpec(req, d, time.Now())
	if err != nil {
		return Job{}, err
	}
	return r.Submit(spec)
}

// TrainSpec turns a request into a job spec. The built-in runtime's
// params (ml.Params) get the target, model and task; features default to
// the dataset's when the request names none and runs the built-in
// runtime (a user's image chooses its own). An unnamed run is called
// "<dataset> v<n> · <model or image> · <time>".
func TrainSpec(req TrainRequest, data TrainData, now time.Time) (JobSpec, error) {
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
	builtIn := req.Image == "" && req.BuildDir == ""
	tags := map[string]string{}
	for k, v := range req.Tags {
		tags[k] = v
	}
	if req.Refit && builtIn {
		p["refit"] = true
		tags[TagEvaluation] = "Metrics are from the held-out split; the model was then refitted on all rows, so the deployed model has seen every row."
	}
	if data.Digest != "" {
		tags[TagDatasetDigest] = data.Digest
	}
	if req.BuildDir != "" {
		// A build context that is a git repository: its commit, and
		// whether files differ from it (the image holds what is on disk).
		if commit, dirty, ok := gitState(req.BuildDir); ok {
			tags[TagGitCommit], tags[TagGitDirty] = commit, fmt.Sprint(dirty)
		}
	}
	features := req.Features
	if len(features) == 0 && builtIn && data.Features != nil {
		features = data.Features(req.Target)
	}
	if len(features) > 0 {
		p["features"] = features
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return JobSpec{}, core.Errorf(core.Invalid, "The parameters cannot be encoded: %v.", err)
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
		name = fmt.Sprintf("%s v%d · %s · %s", data.Dataset, data.Number, model, now.Format("15:04"))
	}
	return JobSpec{
		Name: name, ExperimentID: req.ExperimentID, DataPath: data.Path, DataReading: data.Reading, DatasetVersion: req.DatasetVersionID,
		Params: raw, Image: req.Image, BuildDir: req.BuildDir, Command: req.Command, Resources: req.Resources,
		Tracking: req.Tracking, Tags: tags, Engine: req.Engine,
	}, nil
}

// gitState reads dir's git commit and whether its work tree differs from
// it; ok is false when dir is not in a repository or git is missing.
func gitState(dir string) (commit string, dirty, ok bool) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false, false
	}
	status, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output()
	if err != nil {
		return "", false, false
	}
	return strings.TrimSpace(string(out)), len(bytes.TrimSpace(status)) > 0, true
}

// TagEvaluation is the run tag saying where a refitted run's metrics
// come from.
const TagEvaluation = "tern.evaluation"

// Versions is where VersionData reads dataset versions (dataset.Service).
type Versions interface {
	Version(id string) (dataset.Version, error)
	VersionFile(id string) (string, error)
}

// VersionData reads a dataset version as Train needs it: its file, how
// the import read it (with the user's type edits, so the job trains on
// what the profile shows), its name and its feature columns.
func VersionData(ds Versions) func(versionID string) (TrainData, error) {
	return func(versionID string) (TrainData, error) {
		v, err := ds.Version(versionID)
		if err != nil {
			return TrainData{}, err
		}
		path, err := ds.VersionFile(versionID)
		if err != nil {
			return TrainData{}, err
		}
		reading := v.Reading()
		return TrainData{Path: path, Reading: &reading, Dataset: v.Dataset, Number: v.Number, Digest: v.Digest, Features: v.FeatureColumns}, nil
	}
}
