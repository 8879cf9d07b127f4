package mlflowapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

const testToken = "tern-test-token-0123456789abcdef"

// newServer builds the real HTTP face (httpapi.New, with its Host, token
// and Origin gate) around the MLflow routes over a real Badger store.
func newServer(t *testing.T) (*httptest.Server, *tracking.Service) {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	svc, err := tracking.NewService(st, bus, st.Dir)
	require.NoError(t, err)
	srv, err := httpapi.New(httpapi.Config{Token: testToken, Bus: bus, Routes: New(svc, nil).Routes()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, svc
}

func TestRealMLflowClientRoundTrip(t *testing.T) {
	py := testenv.Python(t, "mlflow")
	ts, svc := newServer(t)
	out, result := runClientScript(t, py, ts.URL, "testdata/client_roundtrip.py")
	var res struct {
		MissingByName    bool   `json:"missing_by_name"`
		DefaultName      string `json:"default_name"`
		ExpID            string `json:"exp_id"`
		DupExpError      string `json:"dup_exp_error"`
		ParamChangeError string `json:"param_change_error"`
		Run              struct {
			Name        string            `json:"name"`
			Status      string            `json:"status"`
			EndTimeSet  bool              `json:"end_time_set"`
			Params      map[string]string `json:"params"`
			Tags        map[string]string `json:"tags"`
			Metrics     map[string]any    `json:"metrics"`
			NegzeroSign float64           `json:"negzero_sign"`
		} `json:"run"`
		HistoryLen      int       `json:"history_len"`
		HistoryFirst    []float64 `json:"history_first"`
		HistoryLast     []float64 `json:"history_last"`
		NanHistory      string    `json:"nan_history"`
		SearchFilter    []bool    `json:"search_filter"`
		SearchOr        []string  `json:"search_or"`
		BadFilterError  string    `json:"bad_filter_error"`
		ArtifactsTop    [][]any   `json:"artifacts_top"`
		ArtifactsSub    []string  `json:"artifacts_sub"`
		Download        string    `json:"download"`
		DownloadDir     []string  `json:"download_dir"`
		MissingRunError string    `json:"missing_run_error"`
		RunID           string    `json:"run_id"`
		Run2ID          string    `json:"run2_id"`
		AfterDelete     int       `json:"after_delete"`
		ResumedStatus   string    `json:"resumed_status"`
		TempGone        bool      `json:"temp_gone"`
		Renamed         string    `json:"renamed"`
		ExpTag          string    `json:"exp_tag"`
		Experiments     []string  `json:"experiments"`
		ExpFiltered     []string  `json:"experiments_filtered"`
		AllView         int       `json:"all_view"`
		AfterRestore    int       `json:"after_restore"`
		Paged           []any     `json:"paged"`
		Paged2          int       `json:"paged2"`
	}
	require.NoError(t, json.Unmarshal(result, &res), out)

	// what the mlflow client read back
	assert.True(t, res.MissingByName, "get_experiment_by_name of a missing name is None")
	assert.Equal(t, "Default", res.DefaultName)
	assert.Equal(t, "RESOURCE_ALREADY_EXISTS", res.DupExpError)
	assert.Equal(t, "INVALID_PARAMETER_VALUE", res.ParamChangeError)
	assert.Equal(t, "gbdt-1", res.Run.Name)
	assert.Equal(t, "FINISHED", res.Run.Status)
	assert.True(t, res.Run.EndTimeSet)
	assert.Equal(t, map[string]string{"model": "gbdt", "lr": "0.1", "depth": "6"}, res.Run.Params)
	assert.Equal(t, map[string]string{"team": "risk", "stage": "dev"}, res.Run.Tags)
	assert.Equal(t, 0.93, res.Run.Metrics["auc"])
	assert.Equal(t, "nan", res.Run.Metrics["nan_metric"])
	assert.Equal(t, "inf", res.Run.Metrics["inf_metric"])
	assert.Equal(t, "-inf", res.Run.Metrics["ninf_metric"])
	assert.Equal(t, 1e308, res.Run.Metrics["huge"])
	assert.Equal(t, -1.0, res.Run.NegzeroSign)
	assert.Equal(t, 1e-4, res.Run.Metrics["loss"])
	assert.Equal(t, 10_000, res.HistoryLen)
	assert.Equal(t, []float64{0, 1, 1_700_000_000_000}, res.HistoryFirst)
	assert.Equal(t, []float64{9999, 1e-4}, res.HistoryLast)
	assert.Equal(t, "nan", res.NanHistory)
	assert.Equal(t, []bool{true}, res.SearchFilter)
	assert.Equal(t, []string{"gbdt-1", "linear-1"}, res.SearchOr)
	assert.Equal(t, "INVALID_PARAMETER_VALUE", res.BadFilterError)
	assert.Equal(t, [][]any{{"notes.txt", false}, {"sub", true}, {"texts", true}}, res.ArtifactsTop)
	assert.Equal(t, []string{"sub/dir/notes.txt"}, res.ArtifactsSub)
	assert.Equal(t, "hello from mlflow", res.Download)
	assert.Equal(t, []string{"a.txt"}, res.DownloadDir)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", res.MissingRunError)
	assert.Equal(t, 1, res.AfterDelete)
	assert.Equal(t, "FINISHED", res.ResumedStatus, "a resumed run is ended again by the with block")
	assert.True(t, res.TempGone)
	assert.Equal(t, "roundtrip-renamed", res.Renamed)
	assert.Equal(t, "ana", res.ExpTag)
	assert.Equal(t, []string{"Default", "roundtrip-renamed"}, res.Experiments)
	assert.Equal(t, []string{"roundtrip-renamed"}, res.ExpFiltered)
	assert.Equal(t, 2, res.AllView)
	assert.Equal(t, 2, res.AfterRestore)
	assert.Equal(t, []any{1.0, true}, res.Paged)
	assert.Equal(t, 1, res.Paged2)

	// the same data through Tern's own Go API
	run, err := svc.GetRun(res.RunID)
	require.NoError(t, err)
	assert.Equal(t, res.ExpID, run.ExperimentID)
	assert.Equal(t, tracking.StatusFinished, run.Status)
	assert.Equal(t, "gbdt", run.Params["model"])
	assert.Equal(t, "risk", run.Tags["team"])
	assert.True(t, math.IsNaN(float64(run.Metrics["nan_metric"].Value)))
	assert.True(t, math.IsInf(float64(run.Metrics["ninf_metric"].Value), -1))
	h, err := svc.MetricHistory(res.RunID, "loss")
	require.NoError(t, err)
	require.Len(t, h, 10_000)
	assert.Equal(t, int64(9999), h[9999].Step)
	found, err := svc.SearchRuns(tracking.SearchRequest{ExperimentIDs: []string{res.ExpID}, Query: `params.model = "gbdt" or tags.team = "growth"`})
	require.NoError(t, err)
	assert.Equal(t, 2, found.Total, "the OR matches both runs (the second was deleted, then restored)")
	arts, err := svc.ListArtifacts(res.RunID, "sub/dir")
	require.NoError(t, err)
	assert.Equal(t, []tracking.Artifact{{Path: "sub/dir/notes.txt", Size: 17}}, arts)
	gone, err := svc.GetRun(res.Run2ID)
	require.NoError(t, err)
	assert.Equal(t, tracking.StageActive, gone.LifecycleStage)
}

// runClientScript runs a Python script with the real mlflow client pointed
// at url and returns its whole output and the JSON it printed after its
// last "RESULT ".
func runClientScript(t *testing.T, py, url, script string, args ...string) (out string, result []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(),
		"MLFLOW_TRACKING_URI="+url,
		"MLFLOW_TRACKING_TOKEN="+testToken,
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES=0",
		"MLFLOW_HTTP_REQUEST_TIMEOUT=60",
		"GIT_PYTHON_REFRESH=quiet",
	)
	b, err := cmd.CombinedOutput()
	out = string(b)
	require.NoError(t, err, out)
	i := strings.LastIndex(out, "RESULT ")
	require.GreaterOrEqual(t, i, 0, out)
	return out, []byte(strings.TrimSpace(out[i+len("RESULT "):]))
}

// The real mlflow client's delete_run puts the run in Tern's trash (the
// list the Experiments screen's Trash shows), its searches by view type
// see it as MLflow's do, and restore_run brings it back whole.
func TestRealMLflowClientTrash(t *testing.T) {
	py := testenv.Python(t, "mlflow")
	ts, svc := newServer(t)
	out, result := runClientScript(t, py, ts.URL, "testdata/client_trash.py", "delete")
	var del struct {
		RunID   string   `json:"run_id"`
		ExpID   string   `json:"exp_id"`
		Stage   string   `json:"stage"`
		Active  []string `json:"active"`
		Deleted []string `json:"deleted"`
		All     []string `json:"all"`
	}
	require.NoError(t, json.Unmarshal(result, &del), out)
	assert.Equal(t, "deleted", del.Stage)
	assert.Equal(t, []string{"kept"}, del.Active)
	assert.Equal(t, []string{"binned"}, del.Deleted)
	assert.Equal(t, []string{"binned", "kept"}, del.All)

	trash := svc.Trash()
	require.Len(t, trash, 1, "delete_run put the run in Tern's trash")
	assert.Equal(t, del.RunID, trash[0].Run.ID)
	assert.Equal(t, "trash", trash[0].ExperimentName)
	assert.Positive(t, trash[0].ArtifactBytes)

	out, result = runClientScript(t, py, ts.URL, "testdata/client_trash.py", "restore", del.RunID, del.ExpID)
	var res struct {
		Stage   string             `json:"stage"`
		Params  map[string]string  `json:"params"`
		Metrics map[string]float64 `json:"metrics"`
		Active  []string           `json:"active"`
		Deleted []string           `json:"deleted"`
	}
	require.NoError(t, json.Unmarshal(result, &res), out)
	assert.Equal(t, "active", res.Stage)
	assert.Equal(t, map[string]string{"lr": "0.1"}, res.Params)
	assert.Equal(t, map[string]float64{"auc": 0.9}, res.Metrics)
	assert.Equal(t, []string{"binned", "kept"}, res.Active)
	assert.Empty(t, res.Deleted)
	assert.Empty(t, svc.Trash(), "restore_run took it out of the trash")
}
