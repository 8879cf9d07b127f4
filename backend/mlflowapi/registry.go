package mlflowapi

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/registry"
)

// The Model Registry and MLflow 3's logged models over Tern's registry.
// A model version made here is an ordinary registry version (files copied
// from the run's artifacts, lineage from the run), so the Models area and
// deployments see it. Stages are not kept (MLflow 3 deprecates them for
// aliases): every version reports current_stage "None" and
// transition-stage is refused.

// registryPrefix is where a version's files are served in the
// mlflow-artifacts space: mlflow-artifacts:/models/<name>/<version>/...
// (experiment IDs are numbers, so it cannot clash with run artifacts).
const registryPrefix = "models/"

func (a *API) registryRoutes(rt func(string, policy, func(*http.Request, args) (any, error)) httpapi.Route) []httpapi.Route {
	rm, mv, lm := v2+"registered-models/", v2+"model-versions/", v2+"logged-models"
	return []httpapi.Route{
		rt("POST "+rm+"create", readShared, a.createRegisteredModel),
		rt("GET "+rm+"get", readShared, a.getRegisteredModel),
		rt("GET "+rm+"search", readShared, a.searchRegisteredModels),
		rt("POST "+rm+"rename", notScoped, a.renameRegisteredModel),
		rt("PATCH "+rm+"update", notScoped, a.updateRegisteredModel),
		rt("DELETE "+rm+"delete", notScoped, a.deleteRegisteredModel),
		rt("POST "+rm+"get-latest-versions", readShared, a.latestVersions),
		rt("GET "+rm+"get-latest-versions", readShared, a.latestVersions),
		rt("POST "+rm+"set-tag", notScoped, a.registeredModelTag(true)),
		rt("DELETE "+rm+"delete-tag", notScoped, a.registeredModelTag(false)),
		rt("POST "+rm+"alias", notScoped, a.setAlias),
		rt("DELETE "+rm+"alias", notScoped, a.deleteAlias),
		rt("GET "+rm+"alias", readShared, a.versionByAlias),
		rt("POST "+mv+"create", readShared, a.createModelVersion), // scope checked against the source run
		rt("GET "+mv+"get", readShared, a.getModelVersion),
		rt("PATCH "+mv+"update", notScoped, a.updateModelVersion),
		rt("DELETE "+mv+"delete", notScoped, a.deleteModelVersion),
		rt("GET "+mv+"search", readShared, a.searchModelVersions),
		rt("GET "+mv+"get-download-uri", readShared, a.downloadURI),
		rt("POST "+mv+"set-tag", notScoped, a.modelVersionTag(true)),
		rt("DELETE "+mv+"delete-tag", notScoped, a.modelVersionTag(false)),
		rt("POST "+mv+"transition-stage", notScoped, func(*http.Request, args) (any, error) {
			return nil, invalid("Tern keeps no model stages (MLflow 3 deprecates them); use aliases such as @champion instead.")
		}),
		// logged models: scope is checked against each model's run
		rt("POST "+lm, readShared, a.createLoggedModel),
		rt("POST "+lm+"/search", readShared, a.searchLoggedModels),
		rt("GET "+lm+"/{model_id}", readShared, a.getLoggedModel),
		rt("PATCH "+lm+"/{model_id}", readShared, a.finalizeLoggedModel),
		rt("DELETE "+lm+"/{model_id}", readShared, a.deleteLoggedModel),
		rt("PATCH "+lm+"/{model_id}/tags", readShared, a.setLoggedModelTags),
		rt("DELETE "+lm+"/{model_id}/tags/{tag_key}", readShared, a.deleteLoggedModelTag),
		rt("POST "+lm+"/{model_id}/params", readShared, a.logLoggedModelParams),
		rt("GET "+lm+"/{model_id}/artifacts/directories", readShared, a.listLoggedModelArtifacts),
		rt("POST "+v2+"runs/outputs", perRun, a.logOutputs),
	}
}

func (a *API) reg() (*registry.Service, error) {
	if a.Registry == nil {
		return nil, &apiError{http.StatusServiceUnavailable, errUnavail, "The model registry is not available."}
	}
	return a.Registry, nil
}

// regArgs is reg plus the required string arguments most registry calls
// begin with, in the order named.
func (a *API) regArgs(in args, names ...string) (*registry.Service, []string, error) {
	r, err := a.reg()
	if err != nil {
		return nil, nil, err
	}
	v := make([]string, len(names))
	for i, n := range names {
		if v[i], err = in.required(n); err != nil {
			return nil, nil, err
		}
	}
	return r, v, nil
}

// ---- wire shapes (model_registry.proto, service.proto)

type aliasJSON struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type registeredModelJSON struct {
	Name                 string             `json:"name"`
	CreationTimestamp    int64              `json:"creation_timestamp"`
	LastUpdatedTimestamp int64              `json:"last_updated_timestamp"`
	Description          string             `json:"description,omitempty"`
	LatestVersions       []modelVersionJSON `json:"latest_versions,omitempty"`
	Tags                 []kv               `json:"tags,omitempty"`
	Aliases              []aliasJSON        `json:"aliases,omitempty"`
}

type modelVersionJSON struct {
	Name                 string   `json:"name"`
	Version              string   `json:"version"`
	CreationTimestamp    int64    `json:"creation_timestamp"`
	LastUpdatedTimestamp int64    `json:"last_updated_timestamp"`
	CurrentStage         string   `json:"current_stage"`
	Description          string   `json:"description,omitempty"`
	Source               string   `json:"source"`
	RunID                string   `json:"run_id,omitempty"`
	Status               string   `json:"status"`
	Tags                 []kv     `json:"tags,omitempty"`
	Aliases              []string `json:"aliases,omitempty"`
	ModelID              string   `json:"model_id,omitempty"`
}

func downloadURI(name string, version int) string {
	return "mlflow-artifacts:/" + registryPrefix + name + "/" + strconv.Itoa(version)
}

func versionJSON(v registry.Version) modelVersionJSON {
	src := v.SourceURI
	if src == "" {
		src = downloadURI(v.Model, v.Version)
	}
	upd := v.Updated
	if upd == 0 {
		upd = v.Created
	}
	return modelVersionJSON{Name: v.Model, Version: strconv.Itoa(v.Version), CreationTimestamp: v.Created, LastUpdatedTimestamp: upd,
		CurrentStage: "None", Description: v.Description, Source: src, RunID: v.RunID, Status: "READY",
		Tags: kvList(v.Tags), Aliases: v.Aliases, ModelID: v.ModelID}
}

func (a *API) modelJSON(m registry.Model) registeredModelJSON {
	out := registeredModelJSON{Name: m.Name, CreationTimestamp: m.Created, LastUpdatedTimestamp: m.Updated, Description: m.Description, Tags: kvList(m.Tags)}
	for al, n := range m.Aliases {
		out.Aliases = append(out.Aliases, aliasJSON{al, strconv.Itoa(n)})
	}
	sort.Slice(out.Aliases, func(i, j int) bool { return out.Aliases[i].Alias < out.Aliases[j].Alias })
	if m.LatestVersion > 0 {
		if v, err := a.Registry.Version(m.Name, "latest"); err == nil {
			out.LatestVersions = []modelVersionJSON{versionJSON(v)}
		}
	}
	return out
}

// notFoundModel words a missing model as MLflow does.
func notFoundModel(err error, name string) error {
	if core.ErrorCode(err) == core.NotFound {
		return &apiError{http.StatusNotFound, errNotFound, core.ErrorMessage(err)}
	}
	return err
}

// ---- registered models

func (a *API) createRegisteredModel(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	desc, err := in.str("description")
	if err != nil {
		return nil, err
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if t.Value == "" && len(t.Key) > 250 {
			return nil, invalid("Tag key %q is too long.", t.Key)
		}
	}
	if _, err := r.Get(name); err == nil {
		return nil, &apiError{http.StatusBadRequest, errExists, sprintf("Registered Model (name=%s) already exists.", name)}
	}
	m, err := r.CreateModel(name, desc)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		v := t.Value
		if m, err = r.SetModelTag(name, t.Key, &v); err != nil {
			return nil, err
		}
	}
	return map[string]any{"registered_model": a.modelJSON(m)}, nil
}

func (a *API) getRegisteredModel(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	m, err := r.Get(name)
	if err != nil {
		return nil, notFoundModel(err, name)
	}
	return map[string]any{"registered_model": a.modelJSON(m)}, nil
}

// page reads max_results (default def, at most max) and an offset token.
func page(in args, def, max int64) (int, int, error) {
	n, _, err := in.int64("max_results")
	if err != nil {
		return 0, 0, err
	}
	if n <= 0 {
		n = def
	}
	if n > max {
		return 0, 0, invalid("Invalid value %d for parameter 'max_results' supplied. It must be at most %d.", n, max)
	}
	tok, err := in.str("page_token")
	if err != nil {
		return 0, 0, err
	}
	off := 0
	if tok != "" {
		if off, err = strconv.Atoi(tok); err != nil || off < 0 {
			return 0, 0, invalid("Invalid page token %q.", tok)
		}
	}
	return int(n), off, nil
}

func pageOf[T any](all []T, n, off int) ([]T, string) {
	if off >= len(all) {
		return nil, ""
	}
	end := min(off+n, len(all))
	if end < len(all) {
		return all[off:end], strconv.Itoa(end)
	}
	return all[off:end], ""
}

// orderBy reads order_by ("field [ASC|DESC]", repeated) into a comparison
// over the known fields; ties fall back to the next key and then to def.
func orderBy[T any](in args, fields map[string]func(a, b T) int, def []string) (func(a, b T) int, error) {
	keys, err := in.strs("order_by")
	if err != nil {
		return nil, err
	}
	keys = append(keys, def...)
	var cmps []func(a, b T) int
	for _, k := range keys {
		parts := strings.Fields(k)
		if len(parts) == 0 || len(parts) > 2 {
			return nil, invalid("Invalid order_by clause %q.", k)
		}
		f := strings.TrimPrefix(strings.ToLower(parts[0]), "attributes.")
		cmp, ok := fields[f]
		if !ok {
			known := make([]string, 0, len(fields))
			for n := range fields {
				known = append(known, n)
			}
			sort.Strings(known)
			return nil, invalid("Invalid order_by field %q; use one of %s.", parts[0], strings.Join(known, ", "))
		}
		if len(parts) == 2 {
			switch strings.ToUpper(parts[1]) {
			case "ASC":
			case "DESC":
				c := cmp
				cmp = func(a, b T) int { return -c(a, b) }
			default:
				return nil, invalid("Invalid order_by clause %q: the direction is ASC or DESC.", k)
			}
		}
		cmps = append(cmps, cmp)
	}
	return func(a, b T) int {
		for _, c := range cmps {
			if r := c(a, b); r != 0 {
				return r
			}
		}
		return 0
	}, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// searchArgs reads what a registry search takes: its filter over the fields
// it may name (through prepare first, when given) and the page (def results
// unless asked, at most max).
func searchArgs(in args, prepare func(string) string, fields map[string]bool, def, max int64) (clauses []clause, n, off int, err error) {
	filter, err := in.str("filter")
	if err != nil {
		return nil, 0, 0, err
	}
	if prepare != nil {
		filter = prepare(filter)
	}
	if clauses, err = parseFilter(filter, fields); err != nil {
		return nil, 0, 0, err
	}
	n, off, err = page(in, def, max)
	return clauses, n, off, err
}

var modelFilterFields = map[string]bool{"name": true, "tags": true}

func (a *API) searchRegisteredModels(_ *http.Request, in args) (any, error) {
	r, err := a.reg()
	if err != nil {
		return nil, err
	}
	clauses, n, off, err := searchArgs(in, nil, modelFilterFields, 100, 1000)
	if err != nil {
		return nil, err
	}
	cmp, err := orderBy(in, map[string]func(a, b registry.Model) int{
		"name":                   func(a, b registry.Model) int { return strings.Compare(a.Name, b.Name) },
		"creation_timestamp":     func(a, b registry.Model) int { return cmpInt(a.Created, b.Created) },
		"last_updated_timestamp": func(a, b registry.Model) int { return cmpInt(a.Updated, b.Updated) },
	}, []string{"name ASC"})
	if err != nil {
		return nil, err
	}
	all, err := r.List()
	if err != nil {
		return nil, err
	}
	var hits []registry.Model
	for _, m := range all {
		if matchAll(clauses, func(f string) (string, bool) {
			if f == "name" {
				return m.Name, true
			}
			v, ok := m.Tags[strings.TrimPrefix(f, "tags.")]
			return v, ok
		}) {
			hits = append(hits, m)
		}
	}
	slices.SortStableFunc(hits, cmp)
	pg, next := pageOf(hits, n, off)
	out := make([]registeredModelJSON, len(pg))
	for i, m := range pg {
		out[i] = a.modelJSON(m)
	}
	resp := map[string]any{"registered_models": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func matchAll(cs []clause, get func(field string) (string, bool)) bool {
	for _, c := range cs {
		if !c.match(get(c.field)) {
			return false
		}
	}
	return true
}

func (a *API) renameRegisteredModel(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name", "new_name")
	if err != nil {
		return nil, err
	}
	name, to := arg[0], arg[1]
	m, err := r.RenameModel(name, to)
	if err != nil {
		return nil, notFoundModel(err, name)
	}
	return map[string]any{"registered_model": a.modelJSON(m)}, nil
}

func (a *API) updateRegisteredModel(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	desc, err := in.str("description")
	if err != nil {
		return nil, err
	}
	m, err := r.UpdateModel(name, desc)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": a.modelJSON(m)}, nil
}

func (a *API) deleteRegisteredModel(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	return struct{}{}, r.DeleteModel(name)
}

func (a *API) latestVersions(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	stages, err := in.strs("stages")
	if err != nil {
		return nil, err
	}
	m, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	out := []modelVersionJSON{}
	// every version is in stage "None": asking for other stages finds none
	wantNone := len(stages) == 0 || slices.ContainsFunc(stages, func(s string) bool { return strings.EqualFold(s, "none") })
	if m.LatestVersion > 0 && wantNone {
		if v, err := r.Version(name, "latest"); err == nil {
			out = append(out, versionJSON(v))
		}
	}
	return map[string]any{"model_versions": out}, nil
}

func (a *API) registeredModelTag(set bool) func(*http.Request, args) (any, error) {
	return func(_ *http.Request, in args) (any, error) {
		r, arg, err := a.regArgs(in, "name", "key")
		if err != nil {
			return nil, err
		}
		name, key := arg[0], arg[1]
		var val *string
		if set {
			v, err := in.str("value")
			if err != nil {
				return nil, err
			}
			val = &v
		}
		_, err = r.SetModelTag(name, key, val)
		return struct{}{}, err
	}
}

func (a *API) setAlias(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name", "alias")
	if err != nil {
		return nil, err
	}
	name, alias := arg[0], arg[1]
	n, err := in.versionNumber()
	if err != nil {
		return nil, err
	}
	_, err = r.SetAliases(name, map[string]int{alias: n})
	return struct{}{}, err
}

func (a *API) deleteAlias(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name", "alias")
	if err != nil {
		return nil, err
	}
	name, alias := arg[0], arg[1]
	_, err = r.SetAliases(name, map[string]int{alias: 0})
	return struct{}{}, err
}

func (a *API) versionByAlias(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name", "alias")
	if err != nil {
		return nil, err
	}
	name, alias := arg[0], arg[1]
	m, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	n, ok := m.Aliases[strings.TrimPrefix(alias, "@")]
	if !ok {
		return nil, &apiError{http.StatusNotFound, errNotFound, sprintf("Registered model alias %s not found.", alias)}
	}
	v, err := r.Version(name, strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionJSON(v)}, nil
}

// ---- model versions

// versionNumber reads "version" (a string of digits on the wire).
func (in args) versionNumber() (int, error) {
	s, err := in.required("version")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, invalid("Parameter 'version' must be a positive integer; got %q.", s)
	}
	return n, nil
}

// runSource resolves a model version's source to the run and the path of
// the model among its artifacts: models:/<logged model id> (or model_id),
// runs:/<run>/<path>, or mlflow-artifacts:/<exp>/<run>/artifacts/<path>.
func (a *API) runSource(source, modelID string) (runID, rel, resolvedModelID string, err error) {
	if modelID == "" && strings.HasPrefix(source, "models:/m-") && !strings.Contains(strings.TrimPrefix(source, "models:/"), "/") {
		modelID = strings.TrimPrefix(source, "models:/")
	}
	if modelID != "" {
		lm, err := a.Registry.LoggedModel(modelID)
		if err != nil {
			return "", "", "", err
		}
		return lm.RunID, lm.ArtifactPath, modelID, nil
	}
	switch {
	case strings.HasPrefix(source, "runs:/"):
		rest := strings.TrimPrefix(source, "runs:/")
		id, p, _ := strings.Cut(rest, "/")
		if id == "" {
			break
		}
		return id, p, "", nil
	case strings.HasPrefix(source, "mlflow-artifacts:"):
		rest := strings.TrimLeft(strings.TrimPrefix(source, "mlflow-artifacts:"), "/")
		// a full URI names the host first: mlflow-artifacts://host/...
		if strings.HasPrefix(source, "mlflow-artifacts://") {
			if _, after, ok := strings.Cut(rest, "/"); ok {
				rest = after
			}
		}
		parts := strings.SplitN(rest, "/", 4)
		if len(parts) >= 3 && parts[2] == "artifacts" {
			p := ""
			if len(parts) == 4 {
				p = strings.Trim(parts[3], "/")
			}
			// MLflow 3 resolves runs:/<run>/<name> to the logged model's
			// own location, which in Tern is models/<id> of the run
			if id, ok := strings.CutPrefix(p, "models/"); ok && !strings.Contains(id, "/") {
				if lm, err := a.Registry.LoggedModel(id); err == nil && lm.RunID == parts[1] {
					return parts[1], p, id, nil
				}
			}
			return parts[1], p, "", nil
		}
	}
	return "", "", "", invalid("Tern registers models from a run's artifacts: source must be runs:/<run_id>/<path>, models:/<logged model id> or mlflow-artifacts:/<experiment>/<run>/artifacts/<path>; got %q.", source)
}

func (a *API) createModelVersion(_ *http.Request, in args) (any, error) {
	r, arg, err := a.regArgs(in, "name")
	if err != nil {
		return nil, err
	}
	name := arg[0]
	source, err := in.str("source")
	if err != nil {
		return nil, err
	}
	modelID, err := in.str("model_id")
	if err != nil {
		return nil, err
	}
	if source == "" && modelID == "" {
		return nil, invalid("Missing value for required parameter 'source'.")
	}
	desc, err := in.str("description")
	if err != nil {
		return nil, err
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	runID, rel, modelID, err := a.runSource(source, modelID)
	if err != nil {
		return nil, err
	}
	if given, _ := in.str("run_id"); given != "" && given != runID {
		return nil, invalid("run_id %q does not match the run of the source (%q).", given, runID)
	}
	if err := in.scopeOK(runID); err != nil {
		return nil, err
	}
	if _, err := r.Get(name); err != nil {
		return nil, err
	}
	tm := map[string]string{}
	for _, t := range tags {
		tm[t.Key] = t.Value
	}
	if len(tm) == 0 {
		tm = nil
	}
	if source == "" {
		source = "models:/" + modelID
	}
	v, err := r.RegisterRunMeta(name, runID, rel, registry.Meta{Description: desc, SourceURI: source, ModelID: modelID, Tags: tm, MustExist: true})
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionJSON(v)}, nil
}

func (a *API) versionArg(in args) (*registry.Service, string, int, error) {
	r, err := a.reg()
	if err != nil {
		return nil, "", 0, err
	}
	name, err := in.required("name")
	if err != nil {
		return nil, "", 0, err
	}
	n, err := in.versionNumber()
	return r, name, n, err
}

func (a *API) getModelVersion(_ *http.Request, in args) (any, error) {
	r, name, n, err := a.versionArg(in)
	if err != nil {
		return nil, err
	}
	v, err := r.Version(name, strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionJSON(v)}, nil
}

func (a *API) updateModelVersion(_ *http.Request, in args) (any, error) {
	r, name, n, err := a.versionArg(in)
	if err != nil {
		return nil, err
	}
	desc, err := in.str("description")
	if err != nil {
		return nil, err
	}
	v, err := r.UpdateVersion(name, n, desc)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionJSON(v)}, nil
}

func (a *API) deleteModelVersion(_ *http.Request, in args) (any, error) {
	r, name, n, err := a.versionArg(in)
	if err != nil {
		return nil, err
	}
	return struct{}{}, r.DeleteVersion(name, n)
}

func (a *API) modelVersionTag(set bool) func(*http.Request, args) (any, error) {
	return func(_ *http.Request, in args) (any, error) {
		r, name, n, err := a.versionArg(in)
		if err != nil {
			return nil, err
		}
		key, err := in.required("key")
		if err != nil {
			return nil, err
		}
		var val *string
		if set {
			v, err := in.str("value")
			if err != nil {
				return nil, err
			}
			val = &v
		}
		_, err = r.SetVersionTag(name, n, key, val)
		return struct{}{}, err
	}
}

var versionFilterFields = map[string]bool{"name": true, "run_id": true, "version_number": true, "source_path": true, "tags": true}

func (a *API) searchModelVersions(_ *http.Request, in args) (any, error) {
	r, err := a.reg()
	if err != nil {
		return nil, err
	}
	clauses, n, off, err := searchArgs(in, nil, versionFilterFields, 10000, 200000)
	if err != nil {
		return nil, err
	}
	cmp, err := orderBy(in, map[string]func(a, b registry.Version) int{
		"name":                   func(a, b registry.Version) int { return strings.Compare(a.Model, b.Model) },
		"version_number":         func(a, b registry.Version) int { return cmpInt(int64(a.Version), int64(b.Version)) },
		"creation_timestamp":     func(a, b registry.Version) int { return cmpInt(a.Created, b.Created) },
		"last_updated_timestamp": func(a, b registry.Version) int { return cmpInt(max(a.Updated, a.Created), max(b.Updated, b.Created)) },
	}, []string{"name ASC", "version_number DESC"})
	if err != nil {
		return nil, err
	}
	models, err := r.List()
	if err != nil {
		return nil, err
	}
	var hits []registry.Version
	for _, m := range models {
		// a filter on one name reads only that model's versions
		vs, err := r.Versions(m.Name)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			mv := versionJSON(v)
			if matchAll(clauses, func(f string) (string, bool) {
				switch f {
				case "name":
					return v.Model, true
				case "run_id":
					return v.RunID, true
				case "version_number":
					return mv.Version, true
				case "source_path":
					return mv.Source, true
				}
				t, ok := v.Tags[strings.TrimPrefix(f, "tags.")]
				return t, ok
			}) {
				hits = append(hits, v)
			}
		}
	}
	slices.SortStableFunc(hits, cmp)
	pg, next := pageOf(hits, n, off)
	out := make([]modelVersionJSON, len(pg))
	for i, v := range pg {
		out[i] = versionJSON(v)
	}
	resp := map[string]any{"model_versions": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func (a *API) downloadURI(_ *http.Request, in args) (any, error) {
	r, name, n, err := a.versionArg(in)
	if err != nil {
		return nil, err
	}
	if _, err := r.Version(name, strconv.Itoa(n)); err != nil {
		return nil, err
	}
	return map[string]any{"artifact_uri": downloadURI(name, n)}, nil
}

// registryFile splits "models/<name>/<version>[/<rel>]" (the part of an
// mlflow-artifacts path after the prefix).
func registryFile(p string) (name string, version int, rel string, err error) {
	parts := strings.SplitN(strings.TrimPrefix(p, registryPrefix), "/", 3)
	if len(parts) < 2 {
		return "", 0, "", invalid("Artifact path %q is not of the form models/<name>/<version>/<path>.", p)
	}
	version, cerr := strconv.Atoi(parts[1])
	if cerr != nil || version < 1 {
		return "", 0, "", invalid("Artifact path %q names no model version.", p)
	}
	if len(parts) == 3 {
		rel = parts[2]
	}
	return parts[0], version, rel, nil
}

// listRegistryFiles and serveRegistryFile answer the mlflow-artifacts
// reads of a registered version's files (read-only: writes are refused).
func (a *API) listRegistryFiles(w http.ResponseWriter, p string) {
	r, err := a.reg()
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	name, n, rel, err := registryFile(p)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	list, err := r.Files(name, n, rel)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	writeFiles(w, list)
}

func (a *API) serveRegistryFile(w http.ResponseWriter, p string) {
	r, err := a.reg()
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	name, n, rel, err := registryFile(p)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	f, size, err := r.OpenFile(name, n, rel)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	defer f.Close()
	sendFile(w, f, rel, size)
}
