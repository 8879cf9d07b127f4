package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under MLflow's paths every answer is one MLflow's client can read:
// unknown endpoints are 404 ENDPOINT_NOT_FOUND (not the UI page, not a
// bare 405), and the gate's refusals carry error_code and message.
func TestMLflowPathsAnswerInMLflowShape(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	s := face(t, Config{
		UI: fstest.MapFS{"index.html": {Data: []byte("<html>Tern shell</html>")}},
		Routes: []Route{
			{Pattern: "GET /api/2.0/mlflow/runs/get", Handler: ok},
			{Pattern: "POST /api/2.0/mlflow/runs/create", Handler: ok},
			{Pattern: "GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", Handler: ok},
		},
	})
	good := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	mlflowErr := func(t *testing.T, method, path string, hdr map[string]string, status int, code string) http.Header {
		t.Helper()
		rec := do(s, method, path, hdr, "{}")
		assert.Equal(t, status, rec.Code, "%s %s: %s", method, path, rec.Body.String())
		var body map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "%s %s: %s", method, path, rec.Body.String())
		assert.Equal(t, code, body["error_code"], "%s %s", method, path)
		assert.NotEmpty(t, body["message"])
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		return rec.Header()
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		for _, path := range []string{"/api/2.0/mlflow/no-such/endpoint", "/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/runs/nothing", "/api/2.0/mlflow-artifacts/nope"} {
			mlflowErr(t, method, path, good, 404, "ENDPOINT_NOT_FOUND")
		}
	}
	h := mlflowErr(t, "POST", "/api/2.0/mlflow/runs/get", good, 405, "BAD_REQUEST")
	assert.Equal(t, "GET", h.Get("Allow"))
	h = mlflowErr(t, "GET", "/api/2.0/mlflow/runs/create", good, 405, "BAD_REQUEST")
	assert.Equal(t, "POST", h.Get("Allow"))
	assert.Equal(t, 200, do(s, "GET", "/api/2.0/mlflow/runs/get", good, "").Code)

	// the gate, in MLflow's words
	mlflowErr(t, "GET", "/api/2.0/mlflow/runs/get", map[string]string{}, 401, "UNAUTHENTICATED")
	mlflowErr(t, "GET", "/api/2.0/mlflow/runs/get", map[string]string{"Accept": "text/html"}, 401, "UNAUTHENTICATED")
	mlflowErr(t, "GET", "/api/2.0/mlflow/no-such", map[string]string{}, 401, "UNAUTHENTICATED")
	mlflowErr(t, "POST", "/api/2.0/mlflow/runs/create", map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "PERMISSION_DENIED")
	mlflowErr(t, "POST", "/api/2.0/mlflow/runs/create", map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/plain"}, 415, "BAD_REQUEST")
	mlflowErr(t, "GET", "/api/2.0/mlflow/runs/get", map[string]string{"Host": "evil.example", "Authorization": "Bearer " + token}, 403, "PERMISSION_DENIED")
	mlflowErr(t, "GET", "/api/2.0/mlflow/a/../runs/get", good, 400, "INVALID_PARAMETER_VALUE")

	// Tern's own paths keep Tern's shape and the UI keeps its pages
	rec := do(s, "GET", "/api/nothing-here", map[string]string{}, "")
	assert.Equal(t, 401, rec.Code)
	assert.JSONEq(t, `{"code":"unauthenticated","message":"This Tern needs its access token (printed by `+"`tern serve`"+`)."}`, rec.Body.String())
	rec = do(s, "GET", "/experiments", good, "")
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "Tern shell")
}
