package mlflowapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// newRegistryServer is newServer with Tern's registry behind the Model
// Registry endpoints.
func newRegistryServer(t *testing.T) (*httptest.Server, *tracking.Service, *registry.Service) {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	svc, err := tracking.NewService(st, bus, st.Dir)
	require.NoError(t, err)
	reg, err := registry.NewService(st, bus, st.Dir, svc)
	require.NoError(t, err)
	api := New(svc, nil)
	api.Registry = reg
	srv, err := httpapi.New(httpapi.Config{Token: testToken, Bus: bus, Routes: api.Routes()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, svc, reg
}

func TestRealMLflowClientRegistry(t *testing.T) {
	py := testenv.Python(t, "mlflow", "sklearn", "pandas")
	ts, _, reg := newRegistryServer(t)
	out, result := runClientScript(t, py, ts.URL, "testdata/registry_roundtrip.py")
	var res struct {
		RunID         string   `json:"run_id"`
		LoggedVersion any      `json:"logged_version"`
		ModelID       string   `json:"model_id"`
		LoggedStatus  string   `json:"logged_status"`
		LoggedRun     string   `json:"logged_run"`
		LoggedFound   []string `json:"logged_found"`
		V2            string   `json:"v2"`
		DupModel      string   `json:"dup_model"`
		MissingModel  string   `json:"missing_model"`
		Champion      string   `json:"champion"`
		ChampionTags  map[string]string
		MissingAlias  string `json:"missing_alias"`
		Model         struct {
			Description string            `json:"description"`
			Tags        map[string]string `json:"tags"`
			Aliases     map[string]string `json:"aliases"`
			Latest      []string          `json:"latest"`
		} `json:"model"`
		Versions           [][]string `json:"versions"`
		VersionsByTag      []string   `json:"versions_by_tag"`
		ModelsLike         []string   `json:"models_like"`
		ModelsByTag        []string   `json:"models_by_tag"`
		BadFilter          string     `json:"bad_filter"`
		Pages              [][]string `json:"pages"`
		Renamed            string     `json:"renamed"`
		AfterDelete        []string   `json:"after_delete"`
		StageRefused       string     `json:"stage_refused"`
		DownloadURI        string     `json:"download_uri"`
		Downloaded         []string   `json:"downloaded"`
		PredEqual          bool       `json:"pred_equal"`
		PredN              int        `json:"pred_n"`
		AfterVersionDelete []string   `json:"after_version_delete"`
	}
	require.NoError(t, json.Unmarshal(result, &res), out)

	// what the mlflow client read back
	assert.EqualValues(t, "1", res.LoggedVersion, "log_model(registered_model_name=...) made version 1")
	assert.True(t, strings.HasPrefix(res.ModelID, "m-"), res.ModelID)
	assert.Equal(t, "READY", strings.TrimPrefix(res.LoggedStatus, "LoggedModelStatus."), "log_model finalizes the logged model")
	assert.Equal(t, res.RunID, res.LoggedRun)
	assert.Equal(t, []string{res.ModelID}, res.LoggedFound)
	assert.Equal(t, "2", res.V2, "register_model(runs:/<id>/model) finds the run's logged model")
	assert.Equal(t, "RESOURCE_ALREADY_EXISTS", res.DupModel)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", res.MissingModel)
	assert.Equal(t, "1", res.Champion)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", res.MissingAlias, "a deleted alias is gone")
	assert.Equal(t, "who leaves", res.Model.Description)
	assert.Equal(t, map[string]string{"team": "growth"}, res.Model.Tags)
	assert.Equal(t, map[string]string{"champion": "1"}, res.Model.Aliases)
	assert.Equal(t, []string{"2"}, res.Model.Latest)
	assert.Equal(t, [][]string{{"churn", "1", res.RunID}, {"churn", "2", res.RunID}}, res.Versions)
	assert.Equal(t, []string{"1"}, res.VersionsByTag)
	assert.Equal(t, []string{"fraud-b", "fraud-a"}, res.ModelsLike)
	assert.Equal(t, []string{"fraud-a"}, res.ModelsByTag)
	assert.Equal(t, "INVALID_PARAMETER_VALUE", res.BadFilter)
	assert.Equal(t, [][]string{{"churn", "fraud-a"}, {"fraud-b"}}, res.Pages)
	assert.Equal(t, "second", res.Renamed)
	assert.Equal(t, []string{"churn", "fraud-c"}, res.AfterDelete)
	assert.Equal(t, "INVALID_PARAMETER_VALUE", res.StageRefused)
	assert.Equal(t, "mlflow-artifacts:/models/churn/1", res.DownloadURI)
	assert.Contains(t, res.Downloaded, "MLmodel")
	assert.Contains(t, res.Downloaded, "model.skops", "the model file (skops, MLflow 3's default for sklearn)")
	assert.True(t, res.PredEqual, "pyfunc loaded from Tern predicts as the fitted model")
	assert.Equal(t, 20, res.PredN)
	assert.Equal(t, []string{"1"}, res.AfterVersionDelete)

	// the same versions through Tern's own registry: real versions with
	// lineage from the run, files in the registry's folder
	vs, err := reg.Versions("churn")
	require.NoError(t, err)
	require.Len(t, vs, 1)
	v := vs[0]
	assert.Equal(t, 1, v.Version)
	assert.Equal(t, "run", v.Source)
	assert.Equal(t, res.RunID, v.RunID)
	assert.Equal(t, res.ModelID, v.ModelID, "the version knows its logged model")
	assert.Equal(t, "models:/"+res.ModelID, v.SourceURI)
	assert.Equal(t, "sklearn", v.Flavor)
	assert.True(t, v.Pickle)
	assert.Equal(t, map[string]string{"validated": "yes"}, v.Tags)
	assert.Equal(t, []string{"champion"}, v.Aliases)
	assert.Equal(t, []string{"a", "b", "c"}, []string{v.Signature.Inputs[0].Name, v.Signature.Inputs[1].Name, v.Signature.Inputs[2].Name})
	assert.FileExists(t, filepath.Join(reg.Dir(v), "MLmodel"))
	assert.NoDirExists(t, filepath.Join(reg.Root(), "churn", "2"), "a deleted version's files go with it")
	_, err = reg.Get("fraud-a")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

// A run's token may log its own model and register it (what
// log_model(registered_model_name=...) in a training job does), but not
// reach another run's models or change the registry otherwise.
func TestRegistryScopedRequests(t *testing.T) {
	st := store.MustOpen(t)
	bus := core.NewBus()
	svc, err := tracking.NewService(st, bus, st.Dir)
	require.NoError(t, err)
	reg, err := registry.NewService(st, bus, st.Dir, svc)
	require.NoError(t, err)
	a, _ := svc.CreateRun(tracking.RunSpec{})
	b, _ := svc.CreateRun(tracking.RunSpec{})
	lmB, err := reg.CreateLoggedModel(b.ID, "model", "", nil, nil)
	require.NoError(t, err)
	_, err = reg.CreateModel("shared", "")
	require.NoError(t, err)
	api := New(svc, nil)
	api.Registry = reg
	mux := http.NewServeMux()
	for _, rt := range api.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	do := func(method, path, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req = req.WithContext(WithRunScope(req.Context(), a.ID))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, body := do("POST", "/api/2.0/mlflow/logged-models", `{"experiment_id":"0","name":"model","source_run_id":"`+a.ID+`"}`)
	require.Equal(t, 200, code, body)
	var created struct {
		Model struct {
			Info struct {
				ModelID     string `json:"model_id"`
				ArtifactURI string `json:"artifact_uri"`
				Status      string `json:"status"`
			} `json:"info"`
		} `json:"model"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	info := created.Model.Info
	assert.Equal(t, "mlflow-artifacts:/0/"+a.ID+"/artifacts/models/"+info.ModelID, info.ArtifactURI)
	assert.Equal(t, "LOGGED_MODEL_PENDING", info.Status)
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/api/2.0/mlflow/logged-models/" + info.ModelID, `{"status":"LOGGED_MODEL_READY"}`},
		{"POST", "/api/2.0/mlflow/registered-models/create", `{"name":"mine"}`},
		{"GET", "/api/2.0/mlflow/registered-models/get?name=shared", ``},
		{"POST", "/api/2.0/mlflow/logged-models/search", `{"experiment_ids":["0"]}`},
	} {
		code, body := do(c.method, c.path, c.body)
		assert.Equal(t, 200, code, "%s %s: %s", c.method, c.path, body)
	}
	_, body = do("POST", "/api/2.0/mlflow/logged-models/search", `{"experiment_ids":["0"]}`)
	assert.NotContains(t, body, lmB.ID, "another run's logged models are not listed")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/2.0/mlflow/logged-models", `{"experiment_id":"0","source_run_id":"` + b.ID + `"}`},
		{"GET", "/api/2.0/mlflow/logged-models/" + lmB.ID, ``},
		{"PATCH", "/api/2.0/mlflow/logged-models/" + lmB.ID, `{"status":"LOGGED_MODEL_READY"}`},
		{"POST", "/api/2.0/mlflow/model-versions/create", `{"name":"shared","source":"models:/` + lmB.ID + `"}`},
		{"POST", "/api/2.0/mlflow/model-versions/create", `{"name":"shared","source":"runs:/` + b.ID + `/model"}`},
		{"DELETE", "/api/2.0/mlflow/registered-models/delete", `{"name":"shared"}`},
		{"POST", "/api/2.0/mlflow/registered-models/rename", `{"name":"shared","new_name":"x"}`},
		{"POST", "/api/2.0/mlflow/registered-models/alias", `{"name":"shared","alias":"champion","version":"1"}`},
	} {
		code, body := do(c.method, c.path, c.body)
		assert.Equal(t, 403, code, "%s %s: %s", c.method, c.path, body)
		assert.Contains(t, body, "PERMISSION_DENIED")
	}
	_, err = reg.Get("shared")
	assert.NoError(t, err)
}

// Errors come back in MLflow's shape with its codes.
func TestRegistryErrors(t *testing.T) {
	ts, svc, _ := newRegistryServer(t)
	run, _ := svc.CreateRun(tracking.RunSpec{})
	call := func(method, path, body string) (int, map[string]string) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/api/2.0/mlflow/registered-models/get?name=nope", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "/api/2.0/mlflow/registered-models/create", `{}`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "/api/2.0/mlflow/registered-models/create", `{"name":"../x"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "/api/2.0/mlflow/model-versions/create", `{"name":"nope","source":"runs:/` + run.ID + `/model"}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"s3://bucket/model"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "/api/2.0/mlflow/model-versions/get?name=m&version=abc", "", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "/api/2.0/mlflow/registered-models/search?order_by=size", "", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "/api/2.0/mlflow/registered-models/search?max_results=5000", "", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "/api/2.0/mlflow/logged-models/m-none", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PATCH", "/api/2.0/mlflow/logged-models/m-none", `{"status":"LOGGED_MODEL_READY"}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/models/m/1/MLmodel", "x", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/models/m/1/../../x", "", 400, ""}, // refused by httpapi before any file is touched
	} {
		status, body := call(c.method, c.path, c.body)
		assert.Equal(t, c.status, status, "%s %s: %v", c.method, c.path, body)
		if c.code != "" {
			assert.Equal(t, c.code, body["error_code"], "%s %s", c.method, c.path)
			assert.NotEmpty(t, body["message"])
		}
	}
	// a registered model that exists, but a source with no model in it
	status, _ := call("POST", "/api/2.0/mlflow/registered-models/create", `{"name":"m"}`)
	require.Equal(t, 200, status)
	status, body := call("POST", "/api/2.0/mlflow/model-versions/create", `{"name":"m","source":"runs:/`+run.ID+`/model"}`)
	assert.Equal(t, 404, status, body)
	status, body = call("POST", "/api/2.0/mlflow/registered-models/create", `{"name":"m"}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "RESOURCE_ALREADY_EXISTS", body["error_code"])
}
