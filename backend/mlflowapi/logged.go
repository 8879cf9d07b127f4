package mlflowapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tern-studio/tern/backend/registry"
)

// MLflow 3's logged models (service.proto's LoggedModel). Tern keeps each
// one's files among its run's artifacts (models/<id>), so the client's
// uploads go through the run artifact endpoints it already uses, and a
// scoped run token reaches only its own run's logged models.

type loggedInfoJSON struct {
	ModelID        string `json:"model_id"`
	ExperimentID   string `json:"experiment_id"`
	Name           string `json:"name"`
	CreationTime   int64  `json:"creation_timestamp_ms"`
	LastUpdateTime int64  `json:"last_updated_timestamp_ms"`
	ArtifactURI    string `json:"artifact_uri"`
	Status         string `json:"status"`
	StatusMessage  string `json:"status_message,omitempty"`
	ModelType      string `json:"model_type,omitempty"`
	SourceRunID    string `json:"source_run_id"`
	Tags           []kv   `json:"tags,omitempty"`
}

type loggedJSON struct {
	Info loggedInfoJSON `json:"info"`
	Data struct {
		Params []kv `json:"params,omitempty"`
	} `json:"data"`
}

func (a *API) loggedJSON(lm registry.LoggedModel) loggedJSON {
	uri := "mlflow-artifacts:/" + lm.ExperimentID + "/" + lm.RunID + "/artifacts/" + lm.ArtifactPath
	if run, err := a.svc.GetRun(lm.RunID); err == nil {
		uri = run.ArtifactURI + "/" + lm.ArtifactPath
	}
	out := loggedJSON{Info: loggedInfoJSON{ModelID: lm.ID, ExperimentID: lm.ExperimentID, Name: lm.Name, CreationTime: lm.Created,
		LastUpdateTime: lm.Updated, ArtifactURI: uri, Status: lm.Status, StatusMessage: lm.StatusNote, ModelType: lm.ModelType,
		SourceRunID: lm.RunID, Tags: kvList(lm.Tags)}}
	out.Data.Params = kvList(lm.Params)
	return out
}

func kvMap(list []kv) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]string, len(list))
	for _, t := range list {
		m[t.Key] = t.Value
	}
	return m
}

func (a *API) createLoggedModel(r *http.Request, in args) (any, error) {
	reg, err := a.reg()
	if err != nil {
		return nil, err
	}
	runID, err := in.str("source_run_id")
	if err != nil {
		return nil, err
	}
	if err := in.scopeOK(runID); err != nil {
		return nil, err
	}
	exp, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	name, err := in.str("name")
	if err != nil {
		return nil, err
	}
	mt, err := in.str("model_type")
	if err != nil {
		return nil, err
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	params, err := readKVs("params", in.body["params"])
	if err != nil {
		return nil, err
	}
	if run, err := a.svc.GetRun(runID); err == nil && run.ExperimentID != exp {
		return nil, invalid("Run %s belongs to experiment %s, not %s.", runID, run.ExperimentID, exp)
	}
	lm, err := reg.CreateLoggedModel(runID, name, mt, kvMap(tags), kvMap(params))
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": a.loggedJSON(lm)}, nil
}

// loggedArg reads the model_id from the path and checks the scope
// against its run.
func (a *API) loggedArg(r *http.Request, in args) (*registry.Service, registry.LoggedModel, error) {
	reg, err := a.reg()
	if err != nil {
		return nil, registry.LoggedModel{}, err
	}
	lm, err := reg.LoggedModel(r.PathValue("model_id"))
	if err != nil {
		return nil, lm, err
	}
	return reg, lm, in.scopeOK(lm.RunID)
}

func (a *API) getLoggedModel(r *http.Request, in args) (any, error) {
	_, lm, err := a.loggedArg(r, in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": a.loggedJSON(lm)}, nil
}

func (a *API) editLogged(r *http.Request, in args, e registry.LoggedModelEdit) (registry.LoggedModel, error) {
	reg, lm, err := a.loggedArg(r, in)
	if err != nil {
		return lm, err
	}
	return reg.EditLoggedModel(lm.ID, e)
}

// loggedStatus reads the status enum as a name or proto number.
func loggedStatus(s string) (string, error) {
	switch strings.ToUpper(s) {
	case registry.LoggedPending, "1":
		return registry.LoggedPending, nil
	case registry.LoggedReady, "2":
		return registry.LoggedReady, nil
	case registry.LoggedFailed, "3":
		return registry.LoggedFailed, nil
	}
	return "", invalid("Invalid value %q for parameter 'status'; use LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.", s)
}

func (a *API) finalizeLoggedModel(r *http.Request, in args) (any, error) {
	s, err := in.required("status")
	if err != nil {
		return nil, err
	}
	if s, err = loggedStatus(s); err != nil {
		return nil, err
	}
	lm, err := a.editLogged(r, in, registry.LoggedModelEdit{Status: s})
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": a.loggedJSON(lm)}, nil
}

func (a *API) deleteLoggedModel(r *http.Request, in args) (any, error) {
	reg, lm, err := a.loggedArg(r, in)
	if err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteLoggedModel(lm.ID)
}

func (a *API) setLoggedModelTags(r *http.Request, in args) (any, error) {
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	_, err = a.editLogged(r, in, registry.LoggedModelEdit{SetTags: kvMap(tags)})
	return struct{}{}, err
}

func (a *API) deleteLoggedModelTag(r *http.Request, in args) (any, error) {
	_, err := a.editLogged(r, in, registry.LoggedModelEdit{DeleteTag: r.PathValue("tag_key")})
	return struct{}{}, err
}

func (a *API) logLoggedModelParams(r *http.Request, in args) (any, error) {
	params, err := readKVs("params", in.body["params"])
	if err != nil {
		return nil, err
	}
	_, err = a.editLogged(r, in, registry.LoggedModelEdit{Params: kvMap(params)})
	return struct{}{}, err
}

// paramsAsTags lets params.<key> read like tags.<key>: parsed as a tag of
// its own name.
func paramsAsTags(filter string) string { return strings.ReplaceAll(filter, "params.", "tags.params.") }

var loggedFilterFields = map[string]bool{"name": true, "source_run_id": true, "model_type": true, "status": true, "model_id": true, "tags": true, "params": true}

func (a *API) searchLoggedModels(r *http.Request, in args) (any, error) {
	if a.Registry == nil {
		// the client searches logged models when it lists a run's
		// artifacts: without a registry there are none (the tracking-only
		// gateway and benchmarks)
		return struct{}{}, nil
	}
	reg := a.Registry
	exps, err := in.strs("experiment_ids")
	if err != nil {
		return nil, err
	}
	clauses, n, off, err := searchArgs(in, paramsAsTags, loggedFilterFields, 100, 1000)
	if err != nil {
		return nil, err
	}
	all, err := reg.LoggedModels(exps)
	if err != nil {
		return nil, err
	}
	scope, scoped := runScope(r)
	var hits []registry.LoggedModel
	for _, lm := range all {
		if scoped && lm.RunID != scope {
			continue
		}
		if matchAll(clauses, func(f string) (string, bool) {
			switch f {
			case "name":
				return lm.Name, true
			case "source_run_id":
				return lm.RunID, true
			case "model_type":
				return lm.ModelType, true
			case "status":
				return lm.Status, true
			case "model_id":
				return lm.ID, true
			}
			if k, ok := strings.CutPrefix(f, "tags.params."); ok {
				v, has := lm.Params[k]
				return v, has
			}
			v, ok := lm.Tags[strings.TrimPrefix(f, "tags.")]
			return v, ok
		}) {
			hits = append(hits, lm)
		}
	}
	pg, next := pageOf(hits, n, off)
	out := make([]loggedJSON, len(pg))
	for i, lm := range pg {
		out[i] = a.loggedJSON(lm)
	}
	resp := map[string]any{"models": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func (a *API) listLoggedModelArtifacts(r *http.Request, in args) (any, error) {
	_, lm, err := a.loggedArg(r, in)
	if err != nil {
		return nil, err
	}
	p, err := in.str("artifact_directory_path")
	if err != nil {
		return nil, err
	}
	base := lm.ArtifactPath
	if p = strings.Trim(p, "/"); p != "" {
		base += "/" + p
	}
	list, err := a.svc.ListArtifacts(lm.RunID, base)
	if err != nil {
		return nil, err
	}
	files := make([]fileJSON, 0, len(list))
	for _, f := range list {
		fj := fileJSON{Path: strings.TrimPrefix(f.Path, lm.ArtifactPath+"/"), IsDir: f.IsDir}
		if !f.IsDir {
			size := f.Size
			fj.FileSize = &size
		}
		files = append(files, fj)
	}
	return map[string]any{"root_uri": a.loggedJSON(lm).Info.ArtifactURI, "files": files}, nil
}

// logOutputs is runs/outputs: the run names the logged models it wrote.
// Each model already records its run, so this checks they exist and
// belong to it.
func (a *API) logOutputs(_ *http.Request, in args) (any, error) {
	reg, err := a.reg()
	if err != nil {
		return nil, err
	}
	runID, err := in.runID()
	if err != nil {
		return nil, err
	}
	var outs []struct {
		ModelID string `json:"model_id"`
	}
	if raw := in.body["models"]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &outs); err != nil {
			return nil, invalid("Field 'models' should be a list of {model_id, step} objects.")
		}
	}
	for _, o := range outs {
		lm, err := reg.LoggedModel(o.ModelID)
		if err != nil {
			return nil, err
		}
		if lm.RunID != runID {
			return nil, invalid("Logged model %s was made by run %s, not %s.", lm.ID, lm.RunID, runID)
		}
	}
	return struct{}{}, nil
}
