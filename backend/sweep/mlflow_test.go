package sweep

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/mlflowapi"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
)

// The real MLflow client sees a sweep's trials as runs nested under its
// parent run.
func TestMLflowClientSeesNestedRuns(t *testing.T) {
	py := testenv.Python(t, "mlflow")
	st, bus := store.MustOpen(t), core.NewBus()
	f, track := newFake(t, st, bus)
	const token = "tern-sweep-test-token-0123456789"
	srv, err := httpapi.New(httpapi.Config{Token: token, Bus: bus, Routes: mlflowapi.New(track, nil).Routes()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()

	s := newService(t, st, bus, f)
	defer s.Close()
	sw, err := s.Create(lrSpec(SamplerTPE, 6, 2))
	require.NoError(t, err)
	sw = wait(t, s, sw.ID)
	require.Equal(t, Finished, sw.State, sw.Reason)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/nested_runs.py", sw.ParentRunID)
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+ts.URL, "MLFLOW_TRACKING_TOKEN="+token,
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES=0", "GIT_PYTHON_REFRESH=quiet")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	i := strings.LastIndex(string(out), "RESULT ")
	require.GreaterOrEqual(t, i, 0, string(out))
	var res struct {
		ParentName   string   `json:"parent_name"`
		ParentStatus string   `json:"parent_status"`
		ParentBest   float64  `json:"parent_best"`
		Children     []string `json:"children"`
		ChildParents []string `json:"child_parents"`
		ChildNames   []string `json:"child_names"`
	}
	require.NoError(t, json.Unmarshal(out[i+len("RESULT "):], &res), string(out))
	var want []string
	for _, tr := range sw.Trials {
		want = append(want, tr.RunID)
	}
	sort.Strings(want)
	assert.Equal(t, want, res.Children, "every trial, and nothing else, is nested under the parent")
	assert.Equal(t, []string{sw.ParentRunID}, res.ChildParents)
	assert.Equal(t, "lr sweep", res.ParentName)
	assert.Equal(t, "FINISHED", res.ParentStatus)
	b, _ := sw.BestTrial()
	assert.Equal(t, *b.Value, res.ParentBest)
	assert.Contains(t, res.ChildNames, "lr sweep · trial 0")
}
