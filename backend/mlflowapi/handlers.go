package mlflowapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/tracking"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// API serves the MLflow REST API over a tracking service.
type API struct {
	svc *tracking.Service
	log *slog.Logger
	// Registry backs the Model Registry and logged-model endpoints; it is
	// set after New because the registry is built after the runner that
	// takes Handler. Until then those endpoints answer 503.
	Registry *registry.Service
	// Datasets links logged dataset inputs to Tern dataset versions by
	// digest; nil links nothing.
	Datasets DatasetLinker
}

// New builds the API; log may be nil.
func New(svc *tracking.Service, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{svc: svc, log: log}
}

const (
	v2 = "/api/2.0/mlflow/"
	// batchBodyCap lets an over-limit log-batch be read and answered
	// with MLflow's 400 rather than cut off.
	batchBodyCap = 4 << 20
	// MaxArtifactBytes caps one artifact upload (413 above it).
	MaxArtifactBytes = 8 << 30
)

// Routes is the route table main.go hands to httpapi.
func (a *API) Routes() []httpapi.Route {
	h := func(pol policy, fn func(*http.Request, args) (any, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, scoped := runScope(r); scoped && pol == notScoped {
				writeErr(w, a.log, denied("do this"))
				return
			}
			in, err := readArgs(r)
			in.req = r
			if err == nil {
				var out any
				if out, err = fn(r, in); err == nil {
					if d, ok := out.(directJSON); ok {
						w.Header().Set("Content-Type", "application/json")
						_, _ = w.Write(d)
						return
					}
					httpjson.Write(w, http.StatusOK, out)
					return
				}
			}
			writeErr(w, a.log, err)
		})
	}
	rt := func(pattern string, pol policy, fn func(*http.Request, args) (any, error)) httpapi.Route {
		return httpapi.Route{Pattern: pattern, Handler: h(pol, fn)}
	}
	routes := []httpapi.Route{
		rt("POST "+v2+"experiments/create", notScoped, a.createExperiment),
		rt("GET "+v2+"experiments/get", readShared, a.getExperiment),
		rt("GET "+v2+"experiments/get-by-name", readShared, a.getExperimentByName),
		rt("POST "+v2+"experiments/search", readShared, a.searchExperiments),
		rt("GET "+v2+"experiments/search", readShared, a.searchExperiments),
		rt("POST "+v2+"experiments/update", notScoped, a.updateExperiment),
		rt("POST "+v2+"experiments/delete", notScoped, a.setStage(tracking.StageDeleted)),
		rt("POST "+v2+"experiments/restore", notScoped, a.setStage(tracking.StageActive)),
		rt("POST "+v2+"experiments/set-experiment-tag", notScoped, a.setExperimentTag),
		rt("POST "+v2+"runs/create", notScoped, a.createRun),
		rt("GET "+v2+"runs/get", perRun, a.getRun),
		rt("POST "+v2+"runs/update", perRun, a.updateRun),
		rt("POST "+v2+"runs/delete", notScoped, a.onRun(a.svc.SoftDelete)),
		rt("POST "+v2+"runs/restore", notScoped, a.onRun(a.svc.Restore)),
		rt("POST "+v2+"runs/search", notScoped, a.searchRuns),
		rt("POST "+v2+"runs/log-metric", perRun, a.logMetric),
		rt("POST "+v2+"runs/log-parameter", perRun, a.logParam),
		rt("POST "+v2+"runs/set-tag", perRun, a.setTag),
		rt("POST "+v2+"runs/delete-tag", perRun, a.deleteTag),
		rt("GET "+v2+"metrics/get-history", perRun, a.metricHistory),
		rt("GET "+v2+"artifacts/list", perRun, a.listRunArtifacts),
		// the downsampled history MLflow's own UI draws charts from
		rt("GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", perRun, a.historyBulkInterval),
	}
	routes = append(routes, a.registryRoutes(rt)...)
	routes = append(routes,
		httpapi.Route{Pattern: "POST " + v2 + "runs/log-batch", Handler: a.logBatchHandler(h(perRun, a.logBatch)), MaxBytes: batchBodyCap},
		// runs/log-inputs: mlflow.log_input's datasets, linked to Tern
		// dataset versions by digest (inputs.go).
		rt("POST "+v2+"runs/log-inputs", perRun, a.logInputs),
		httpapi.Route{Pattern: "GET /api/2.0/mlflow-artifacts/artifacts", Handler: http.HandlerFunc(a.listArtifacts)},
		httpapi.Route{Pattern: "GET /api/2.0/mlflow-artifacts/artifacts/{path...}", Handler: http.HandlerFunc(a.downloadArtifact)},
		httpapi.Route{Pattern: "PUT /api/2.0/mlflow-artifacts/artifacts/{path...}", Handler: http.HandlerFunc(a.uploadArtifact), RawBody: true, MaxBytes: -1},
		// DELETE carries no body, so it is not held to the JSON rule of writes
		httpapi.Route{Pattern: "DELETE /api/2.0/mlflow-artifacts/artifacts/{path...}", Handler: http.HandlerFunc(a.deleteArtifact), RawBody: true, MaxBytes: 1 << 10},
	)
	return routes
}

// Handler is the whole API as one handler without httpapi's gate, for a
// listener that checks tokens and scope itself (the runner's per-job
// tracking gateways).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range a.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	// what httpapi's fallbacks answer on the main face
	for _, pre := range []string{"/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/ajax-api/"} {
		mux.HandleFunc(pre, func(w http.ResponseWriter, r *http.Request) {
			httpjson.WriteMLflowError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "No API endpoint "+r.Method+" "+r.URL.Path+" in Tern's MLflow API.")
		})
	}
	return mux
}

// ---- experiments

type experimentJSON struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
	LastUpdateTime   int64  `json:"last_update_time"`
	CreationTime     int64  `json:"creation_time"`
	Tags             []kv   `json:"tags,omitempty"`
}

func expJSON(e tracking.Experiment) experimentJSON {
	return experimentJSON{e.ID, e.Name, e.ArtifactLocation, e.LifecycleStage, e.LastUpdateTime, e.CreationTime, kvList(e.Tags)}
}

func (a *API) createExperiment(_ *http.Request, in args) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	tm := map[string]string{}
	for _, t := range tags {
		tm[t.Key] = t.Value
	}
	e, err := a.svc.CreateExperiment(name, tm)
	if err != nil {
		return nil, err
	}
	return map[string]string{"experiment_id": e.ID}, nil
}

func (a *API) getExperiment(_ *http.Request, in args) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	e, err := a.svc.Experiment(id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": expJSON(e)}, nil
}

func (a *API) getExperimentByName(_ *http.Request, in args) (any, error) {
	name, err := in.required("experiment_name")
	if err != nil {
		return nil, err
	}
	e, err := a.svc.ExperimentByName(name)
	if err != nil {
		return nil, &apiError{http.StatusNotFound, errNotFound, sprintf("Could not find experiment with name '%s'", name)}
	}
	return map[string]any{"experiment": expJSON(e)}, nil
}

var expFilter = regexp.MustCompile(`(?i)^\s*(?:attributes?\.)?name\s*(=|!=|like|ilike)\s*(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)")\s*$`)

func (a *API) searchExperiments(_ *http.Request, in args) (any, error) {
	view, err := viewType(in, "view_type")
	if err != nil {
		return nil, err
	}
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	var match func(string) bool
	if strings.TrimSpace(filter) != "" {
		m := expFilter.FindStringSubmatch(filter)
		if m == nil {
			return nil, invalid("Tern supports experiment filters of the form name = '...', name != '...' and name LIKE/ILIKE '...'; got %q.", filter)
		}
		val := m[2] + m[3]
		switch strings.ToLower(m[1]) {
		case "=":
			match = func(s string) bool { return s == val }
		case "!=":
			match = func(s string) bool { return s != val }
		default:
			q, err := tracking.ParseQuery(sprintf("run_name %s '%s'", m[1], strings.ReplaceAll(val, "'", "''")))
			if err != nil {
				return nil, err
			}
			match = func(s string) bool {
				return q.Match(&tracking.Run{RunInfo: tracking.RunInfo{Name: s}}, 0)
			}
		}
	}
	max, _, err := in.int64("max_results")
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 1000
	}
	if max > 50000 {
		return nil, invalid("Invalid value %d for parameter 'max_results' supplied. It must be at most 50000.", max)
	}
	tok, _ := in.str("page_token")
	off := 0
	if tok != "" {
		if off, err = strconv.Atoi(tok); err != nil || off < 0 {
			return nil, invalid("Invalid page token %q.", tok)
		}
	}
	var out []experimentJSON
	for _, e := range a.svc.Experiments(true) {
		if (view == tracking.ViewActive && e.LifecycleStage != tracking.StageActive) ||
			(view == tracking.ViewDeleted && e.LifecycleStage != tracking.StageDeleted) {
			continue
		}
		if match == nil || match(e.Name) {
			out = append(out, expJSON(e))
		}
	}
	resp := map[string]any{}
	if off < len(out) {
		end := min(off+int(max), len(out))
		resp["experiments"] = out[off:end]
		if end < len(out) {
			resp["next_page_token"] = strconv.Itoa(end)
		}
	}
	return resp, nil
}

func viewType(in args, name string) (string, error) {
	v, err := in.str(name)
	if err != nil {
		return "", err
	}
	switch strings.ToUpper(v) {
	case "", "1", "ACTIVE_ONLY":
		return tracking.ViewActive, nil
	case "2", "DELETED_ONLY":
		return tracking.ViewDeleted, nil
	case "3", "ALL":
		return tracking.ViewAll, nil
	}
	return "", invalid("Invalid value %q for parameter '%s'; use ACTIVE_ONLY, DELETED_ONLY or ALL.", v, name)
}

func (a *API) updateExperiment(_ *http.Request, in args) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	name, err := in.str("new_name")
	if err != nil {
		return nil, err
	}
	_, err = a.svc.UpdateExperiment(id, name, "", nil)
	return struct{}{}, err
}

// setStage is experiments/delete (tracking.StageDeleted) and
// experiments/restore (tracking.StageActive).
func (a *API) setStage(stage string) func(*http.Request, args) (any, error) {
	return func(_ *http.Request, in args) (any, error) {
		id, err := in.required("experiment_id")
		if err != nil {
			return nil, err
		}
		_, err = a.svc.UpdateExperiment(id, "", stage, nil)
		return struct{}{}, err
	}
}

func (a *API) setExperimentTag(_ *http.Request, in args) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	key, val, err := in.keyValue()
	if err != nil {
		return nil, err
	}
	_, err = a.svc.UpdateExperiment(id, "", "", map[string]string{key: val})
	return struct{}{}, err
}

// keyValue reads the "key" (required) and "value" fields of a param or tag.
func (in args) keyValue() (key, val string, err error) {
	if key, err = in.required("key"); err != nil {
		return "", "", err
	}
	val, err = in.str("value")
	return key, val, err
}

// ---- runs

type runInfoJSON struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type runJSON struct {
	Info   runInfoJSON    `json:"info"`
	Data   runDataJSON    `json:"data"`
	Inputs map[string]any `json:"inputs"`
}

type runDataJSON struct {
	Metrics []metricJSON `json:"metrics,omitempty"`
	Params  []kv         `json:"params,omitempty"`
	Tags    []kv         `json:"tags,omitempty"`
}

func mlStatus(s tracking.Status) string {
	if s == tracking.StatusCrashed {
		return string(tracking.StatusFailed)
	}
	return string(s)
}

func infoJSON(r tracking.Run) runInfoJSON {
	return runInfoJSON{r.ID, r.ID, r.Name, r.ExperimentID, r.UserID, mlStatus(r.Status), r.StartTime, r.EndTime, r.ArtifactURI, r.LifecycleStage}
}

func toRunJSON(r tracking.Run) runJSON {
	out := runJSON{Info: infoJSON(r), Data: runDataJSON{Params: kvList(r.Params), Tags: kvList(r.Tags)}, Inputs: map[string]any{}}
	if len(r.Metrics) > 0 {
		out.Data.Metrics = make([]metricJSON, 0, len(r.Metrics))
		for k, p := range r.Metrics {
			out.Data.Metrics = append(out.Data.Metrics, metricJSON{k, p.Value, p.Timestamp, p.Step})
		}
		slices.SortFunc(out.Data.Metrics, func(a, b metricJSON) int { return strings.Compare(a.Key, b.Key) })
	}
	return out
}

func (a *API) createRun(_ *http.Request, in args) (any, error) {
	exp, err := in.str("experiment_id")
	if err != nil {
		return nil, err
	}
	user, err := in.str("user_id")
	if err != nil {
		return nil, err
	}
	name, err := in.str("run_name")
	if err != nil {
		return nil, err
	}
	start, _, err := in.int64("start_time")
	if err != nil {
		return nil, err
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	spec := tracking.RunSpec{ExperimentID: exp, UserID: user, Name: name, StartTime: start, Tags: map[string]string{}}
	for _, t := range tags {
		spec.Tags[t.Key] = t.Value
		switch t.Key {
		case "mlflow.source.name":
			spec.Source = t.Value
		case "mlflow.source.git.commit":
			spec.GitCommit = t.Value
		case "mlflow.user":
			if spec.UserID == "" {
				spec.UserID = t.Value
			}
		}
	}
	r, err := a.svc.CreateRun(spec)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": toRunJSON(r)}, nil
}

func (a *API) getRun(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	r, err := a.svc.GetRun(id)
	if err != nil {
		return nil, &apiError{http.StatusNotFound, errNotFound, sprintf("Run with id=%s not found", id)}
	}
	out := toRunJSON(r)
	if out.Inputs, err = a.inputsJSON(id); err != nil {
		return nil, err
	}
	return map[string]any{"run": out}, nil
}

func (a *API) updateRun(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	status, err := in.str("status")
	if err != nil {
		return nil, err
	}
	u := tracking.RunUpdate{}
	if status != "" {
		switch tracking.Status(status) {
		case tracking.StatusRunning, tracking.StatusScheduled, tracking.StatusFinished, tracking.StatusFailed, tracking.StatusKilled:
			u.Status = tracking.Status(status)
		default:
			// proto enum numbers as some clients send them
			nums := map[string]tracking.Status{"1": tracking.StatusRunning, "2": tracking.StatusScheduled, "3": tracking.StatusFinished, "4": tracking.StatusFailed, "5": tracking.StatusKilled}
			if s, ok := nums[status]; ok {
				u.Status = s
			} else {
				return nil, invalid("Invalid value %q for parameter 'status'; use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.", status)
			}
		}
	}
	if u.EndTime, _, err = in.int64("end_time"); err != nil {
		return nil, err
	}
	if u.Name, err = in.str("run_name"); err != nil {
		return nil, err
	}
	r, err := a.svc.UpdateRun(id, u)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": infoJSON(r)}, nil
}

// onRun is runs/delete and runs/restore: op on the request's run.
func (a *API) onRun(op func(runID string) error) func(*http.Request, args) (any, error) {
	return func(_ *http.Request, in args) (any, error) {
		id, err := in.runID()
		if err != nil {
			return nil, err
		}
		return struct{}{}, op(id)
	}
}

func (a *API) searchRuns(_ *http.Request, in args) (any, error) {
	exps, err := in.strs("experiment_ids")
	if err != nil {
		return nil, err
	}
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	view, err := viewType(in, "run_view_type")
	if err != nil {
		return nil, err
	}
	max, _, err := in.int64("max_results")
	if err != nil {
		return nil, err
	}
	order, err := in.strs("order_by")
	if err != nil {
		return nil, err
	}
	tok, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	// runs are encoded straight from the store's summaries: no copies
	var runs []runJSON
	res, err := a.svc.SearchRunsFunc(tracking.SearchRequest{ExperimentIDs: exps, Query: filter, OrderBy: order, MaxResults: int(max), PageToken: tok, ViewType: view},
		func(r *tracking.Run) { runs = append(runs, toRunJSON(*r)) })
	if err != nil {
		return nil, err
	}
	return searchRunsJSON(runs, res.NextPageToken), nil
}

func (a *API) logMetric(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	if in.body == nil {
		return nil, invalid("Send the metric as a JSON body.")
	}
	m, err := readMetric("", in.body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.LogBatch(id, tracking.Batch{Metrics: []tracking.Metric{m}})
}

// logParam and setTag log one param or tag as a batch of one.
func (a *API) logParam(_ *http.Request, in args) (any, error) {
	return a.logOne(in, func(key, val string) tracking.Batch {
		return tracking.Batch{Params: []tracking.Param{{Key: key, Value: val}}}
	})
}

func (a *API) setTag(_ *http.Request, in args) (any, error) {
	return a.logOne(in, func(key, val string) tracking.Batch {
		return tracking.Batch{Tags: []tracking.Tag{{Key: key, Value: val}}}
	})
}

func (a *API) logOne(in args, batch func(key, val string) tracking.Batch) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, val, err := in.keyValue()
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.LogBatch(id, batch(key, val))
}

func (a *API) deleteTag(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.DeleteTag(id, key)
}

func (a *API) logBatch(r *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	if r.ContentLength > tracking.MaxBatchBytes {
		return nil, invalid("Batch request is %d bytes; the limit is %d.", r.ContentLength, tracking.MaxBatchBytes)
	}
	var b tracking.Batch
	if raw := in.body["metrics"]; len(raw) > 0 && string(raw) != "null" {
		var ms []wireMetric
		if err := json.Unmarshal(raw, &ms); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return nil, ae
			}
			return nil, invalid("Field 'metrics' should be a list of {key, value, timestamp, step} objects: %s", jsonProblem(err))
		}
		if len(ms) > tracking.MaxMetricsPerBatch {
			return nil, invalid("A batch logging request can contain at most %d metrics. Got %d metrics.", tracking.MaxMetricsPerBatch, len(ms))
		}
		b.Metrics = make([]tracking.Metric, len(ms))
		for i, m := range ms {
			if m.Key == "" {
				return nil, invalid("Missing value for required parameter 'metrics[%d].key'.", i)
			}
			if m.Value == nil {
				return nil, invalid("Missing value for required parameter 'metrics[%d].value'.", i)
			}
			b.Metrics[i] = tracking.Metric{Key: m.Key, Value: *m.Value, Timestamp: int64(m.Timestamp), Step: int64(m.Step)}
		}
	}
	params, err := readKVs("params", in.body["params"])
	if err != nil {
		return nil, err
	}
	for _, p := range params {
		b.Params = append(b.Params, tracking.Param{Key: p.Key, Value: p.Value})
	}
	tags, err := readKVs("tags", in.body["tags"])
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		b.Tags = append(b.Tags, tracking.Tag{Key: t.Key, Value: t.Value})
	}
	return struct{}{}, a.svc.LogBatch(id, b)
}

func (a *API) metricHistory(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("metric_key")
	if err != nil {
		return nil, err
	}
	max, _, err := in.int64("max_results")
	if err != nil {
		return nil, err
	}
	tokStr, _ := in.str("page_token")
	var tok []byte
	if tokStr != "" {
		if tok, err = decodeToken(tokStr); err != nil {
			return nil, err
		}
	}
	pts, next, err := a.svc.MetricHistoryPage(id, key, int(max), tok)
	if err != nil {
		return nil, err
	}
	ms := make([]metricJSON, len(pts))
	for i, p := range pts {
		ms[i] = metricJSON{key, p.Value, p.Timestamp, p.Step}
	}
	out := map[string]any{"metrics": ms}
	if next != nil {
		out["next_page_token"] = encodeToken(next)
	}
	return out, nil
}

// MLflow's limits for get-history-bulk-interval.
const (
	maxBulkRuns       = 100
	maxBulkResultsRun = 2500
)

func (a *API) historyBulkInterval(_ *http.Request, in args) (any, error) {
	runs, err := in.strs("run_ids")
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, invalid("Missing value for required parameter 'run_ids'.")
	}
	if len(runs) > maxBulkRuns {
		return nil, invalid("GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.", maxBulkRuns, len(runs))
	}
	key, err := in.required("metric_key")
	if err != nil {
		return nil, err
	}
	max, ok, err := in.int64("max_results")
	if err != nil {
		return nil, err
	}
	if !ok {
		max = maxBulkResultsRun
	}
	if max < 1 || max > maxBulkResultsRun {
		return nil, invalid("max_results must be between 1 and %d.", maxBulkResultsRun)
	}
	start, hasStart, err := in.int64("start_step")
	if err != nil {
		return nil, err
	}
	end, hasEnd, err := in.int64("end_step")
	if err != nil {
		return nil, err
	}
	if hasStart != hasEnd {
		return nil, invalid("If either start step or end step are specified, both must be specified.")
	}
	if hasStart && start > end {
		return nil, invalid("end_step must be greater than start_step. Found start_step=%d and end_step=%d.", start, end)
	}
	type withRun struct {
		metricJSON
		RunID string `json:"run_id"`
	}
	out := []withRun{}
	for _, id := range runs {
		if err := in.scopeOK(id); err != nil {
			return nil, err
		}
		pts, err := a.svc.MetricHistory(id, key)
		if err != nil {
			return nil, err
		}
		if hasStart {
			lo, hi := 0, len(pts)
			for lo < len(pts) && pts[lo].Step < start {
				lo++
			}
			for hi > lo && pts[hi-1].Step > end {
				hi--
			}
			pts = pts[lo:hi]
		}
		for _, p := range tracking.Downsample(pts, int(max)) {
			out = append(out, withRun{metricJSON{key, p.Value, p.Timestamp, p.Step}, id})
		}
	}
	return map[string]any{"metrics": out}, nil
}

// logBatchHandler tries the one-pass decoder first and falls back to the
// general one (which words the errors) when the body is anything unusual.
func (a *API) logBatchHandler(general http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeErr(w, a.log, &apiError{http.StatusRequestEntityTooLarge, errBad, sprintf("The request body is larger than %d bytes.", mbe.Limit)})
				return
			}
			writeErr(w, a.log, &apiError{http.StatusBadRequest, errBad, "The request body could not be read."})
			return
		}
		if len(body) > tracking.MaxBatchBytes {
			writeErr(w, a.log, invalid("Batch request is %d bytes; the limit is %d.", len(body), tracking.MaxBatchBytes))
			return
		}
		if id, b, ok := parseBatchFast(body); ok {
			if err := checkScope(r, id); err != nil {
				writeErr(w, a.log, err)
				return
			}
			if err := a.svc.LogBatch(id, b); err != nil {
				writeErr(w, a.log, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}\n"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		general.ServeHTTP(w, r)
	})
}
