package mlflowapi

import (
	"encoding/json"
	"net/http"

	"github.com/tern-studio/tern/backend/tracking"
)

// DatasetLinker finds the Tern dataset version a logged dataset is: the
// one whose digest the input's digest equals or begins (at least eight
// hex digits), when exactly one does.
type DatasetLinker interface {
	VersionByDigest(digest string) (versionID string, ok bool)
}

// linkedTag is the input tag under which get-run shows the Tern dataset
// version an input was linked to (output only; MLflow clients see a tag).
const linkedTag = "tern.dataset_version"

type datasetJSON struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type datasetInputJSON struct {
	Tags    []kv        `json:"tags,omitempty"`
	Dataset datasetJSON `json:"dataset"`
}

// logInputs is runs/log-inputs: the datasets mlflow.log_input sends, each
// with its tags (mlflow.data.context). Model inputs (MLflow 3's "models")
// are accepted and not kept.
func (a *API) logInputs(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	var list []datasetInputJSON
	if raw, ok := in.body["datasets"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, invalid("datasets must be a list of {dataset, tags}: %s", jsonProblem(err))
		}
	}
	inputs := make([]tracking.DatasetInput, len(list))
	for i, d := range list {
		inputs[i] = tracking.DatasetInput{
			Name: d.Dataset.Name, Digest: d.Dataset.Digest, SourceType: d.Dataset.SourceType, Source: d.Dataset.Source,
			Schema: d.Dataset.Schema, Profile: d.Dataset.Profile,
		}
		if len(d.Tags) > 0 {
			inputs[i].Tags = make(map[string]string, len(d.Tags))
			for _, t := range d.Tags {
				inputs[i].Tags[t.Key] = t.Value
			}
		}
		if a.Datasets != nil && d.Dataset.Digest != "" {
			if v, ok := a.Datasets.VersionByDigest(d.Dataset.Digest); ok {
				inputs[i].DatasetVersion = v
			}
		}
	}
	if _, err := a.svc.GetRun(id); err != nil {
		return nil, &apiError{http.StatusNotFound, errNotFound, sprintf("Run with id=%s not found", id)}
	}
	return struct{}{}, a.svc.LogInputs(id, inputs)
}

// inputsJSON is a run's "inputs" as MLflow's get-run answers it.
func (a *API) inputsJSON(runID string) (map[string]any, error) {
	ins, err := a.svc.Inputs(runID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(ins) == 0 {
		return out, nil
	}
	list := make([]datasetInputJSON, len(ins))
	for i, d := range ins {
		tags := map[string]string{}
		for k, v := range d.Tags {
			tags[k] = v
		}
		if d.DatasetVersion != "" {
			tags[linkedTag] = d.DatasetVersion
		}
		list[i] = datasetInputJSON{Tags: kvList(tags), Dataset: datasetJSON{d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile}}
	}
	out["dataset_inputs"] = list
	return out, nil
}
