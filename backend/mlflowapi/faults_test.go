package mlflowapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/tracking"
)

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, ctype string, body io.Reader) (int, map[string]any, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	// never follow redirects: a redirect is an answer to check, not to obey
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func (c client) post(path, body string) (int, map[string]any) {
	code, m, _ := c.do("POST", path, "application/json", strings.NewReader(body))
	return code, m
}

func (c client) get(path string) (int, map[string]any) {
	code, m, _ := c.do("GET", path, "", nil)
	return code, m
}

func newClient(t *testing.T) (client, *tracking.Service) {
	ts, svc := newServer(t)
	return client{t, ts.URL}, svc
}

func mkRun(t *testing.T, c client) string {
	code, m := c.post("/api/2.0/mlflow/runs/create", `{"experiment_id":"0","run_name":"r"}`)
	require.Equal(t, 200, code, m)
	return m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

func TestBadBodiesGetMLflowErrors(t *testing.T) {
	c, _ := newClient(t)
	run := mkRun(t, c)
	cases := []struct {
		path, body string
		status     int
		code       string
	}{
		{"runs/log-metric", `not json`, 400, "BAD_REQUEST"},
		{"runs/log-metric", `[1,2]`, 400, "BAD_REQUEST"},
		{"runs/log-metric", `"a string"`, 400, "BAD_REQUEST"},
		{"runs/log-metric", `{"run_id": {"x":1}, "key":"m", "value":1, "timestamp":1}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "` + run + `", "key":"m", "value":"abc", "timestamp":1}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "` + run + `", "key":"m", "value":true, "timestamp":1}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "` + run + `", "key":"m", "value":1, "timestamp":"soon"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "` + run + `", "key":"m", "value":1, "step":1.5}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "` + run + `", "value":1}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-metric", `{"run_id": "nope", "key":"m", "value":1}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"runs/log-batch", `{"run_id": "` + run + `", "metrics": {"key":"m"}}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-batch", `{"run_id": "` + run + `", "params": [{"key": 5}]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/log-batch", `{"run_id": "` + run + `", "tags": "x"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/create", `{"experiment_id": [1]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/create", `{"experiment_id": "404"}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"experiments/create", `{}`, 400, "INVALID_PARAMETER_VALUE"},
		{"experiments/create", `{"name": "Default"}`, 400, "RESOURCE_ALREADY_EXISTS"},
		{"runs/update", `{"run_id": "` + run + `", "status": "DONE"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/search", `{"filter": "metrics.auc >"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"runs/search", `{"max_results": 50001}`, 400, "INVALID_PARAMETER_VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			code, m := c.post("/api/2.0/mlflow/"+tc.path, tc.body)
			assert.Equal(t, tc.status, code, m)
			assert.Equal(t, tc.code, m["error_code"], m)
			assert.NotEmpty(t, m["message"])
		})
	}
	code, m := c.get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=missing")
	assert.Equal(t, 404, code)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", m["error_code"])
	code, m = c.get("/api/2.0/mlflow/runs/get?run_id=missing")
	assert.Equal(t, 404, code)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", m["error_code"])
}

func TestLenientInputs(t *testing.T) {
	c, svc := newClient(t)
	code, m := c.post("/api/2.0/mlflow/experiments/create", `{"name": "e", "surprise": {"x": [1]}}`)
	require.Equal(t, 200, code, m)
	assert.Equal(t, "1", m["experiment_id"])
	code, m = c.post("/api/2.0/mlflow/runs/create", `{"experiment_id": 1, "start_time": "1700000000000", "unknown": true}`)
	require.Equal(t, 200, code, m)
	run := m["run"].(map[string]any)["info"].(map[string]any)
	assert.Equal(t, "1", run["experiment_id"])
	assert.Equal(t, 1700000000000.0, run["start_time"])
	code, m = c.get("/api/2.0/mlflow/experiments/get?experiment_id=1")
	require.Equal(t, 200, code, m)
	assert.Equal(t, "e", m["experiment"].(map[string]any)["name"])
	// legacy run_uuid
	code, _ = c.post("/api/2.0/mlflow/runs/log-parameter", fmt.Sprintf(`{"run_uuid": %q, "key": "n", "value": 5}`, run["run_id"]))
	require.Equal(t, 200, code)
	r, _ := svc.GetRun(run["run_id"].(string))
	assert.Equal(t, "5", r.Params["n"])
}

func TestNonFiniteMetricsRoundTrip(t *testing.T) {
	c, svc := newClient(t)
	run := mkRun(t, c)
	body := fmt.Sprintf(`{"run_id": %q, "metrics": [
		{"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
		{"key": "inf", "value": "Infinity", "timestamp": 1, "step": 0},
		{"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
		{"key": "negzero", "value": -0.0, "timestamp": 1, "step": 0},
		{"key": "huge", "value": 1e308, "timestamp": 1, "step": 0},
		{"key": "tiny", "value": 5e-324, "timestamp": 1, "step": 0}]}`, run)
	code, m := c.post("/api/2.0/mlflow/runs/log-batch", body)
	require.Equal(t, 200, code, m)
	code, _, raw := c.do("GET", "/api/2.0/mlflow/runs/get?run_id="+run, "", nil)
	require.Equal(t, 200, code)
	s := string(raw)
	for _, want := range []string{`"key":"nan","value":"NaN"`, `"key":"inf","value":"Infinity"`, `"key":"ninf","value":"-Infinity"`, `"key":"negzero","value":-0.0`, `"key":"huge","value":1e+308`, `"key":"tiny","value":5e-324`} {
		assert.Contains(t, s, want)
	}
	code, _, raw = c.do("GET", "/api/2.0/mlflow/metrics/get-history?run_id="+run+"&metric_key=nan", "", nil)
	require.Equal(t, 200, code)
	assert.Contains(t, string(raw), `"value":"NaN"`)
	got, _ := svc.GetRun(run)
	assert.Len(t, got.Metrics, 6)
}

func TestBatchLimitsAreAtomic(t *testing.T) {
	c, svc := newClient(t)
	run := mkRun(t, c)
	metrics := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"key":"m","value":%d,"timestamp":1,"step":%d}`, i, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	kvs := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"key":"k%d","value":"v"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	big := strings.Repeat("x", 5000)
	bigTags := make([]string, 100)
	for i := range bigTags {
		bigTags[i] = fmt.Sprintf(`{"key":"t%d","value":%q}`, i, big+big)
	}
	cases := map[string]string{
		"1001 metrics":         `{"run_id":"` + run + `","metrics":` + metrics(1001) + `}`,
		"101 params":           `{"run_id":"` + run + `","metrics":` + metrics(5) + `,"params":` + kvs(101) + `}`,
		"101 tags":             `{"run_id":"` + run + `","metrics":` + metrics(5) + `,"tags":` + kvs(101) + `}`,
		"over 1000 entities":   `{"run_id":"` + run + `","metrics":` + metrics(900) + `,"params":` + kvs(100) + `,"tags":` + kvs(50) + `}`,
		"over 1 MB":            `{"run_id":"` + run + `","metrics":` + metrics(5) + `,"tags":[` + strings.Join(bigTags, ",") + `]}`,
		"one bad metric name":  `{"run_id":"` + run + `","metrics":[{"key":"ok","value":1,"timestamp":1},{"key":"../x","value":1,"timestamp":1}]}`,
		"param conflict later": `{"run_id":"` + run + `","metrics":` + metrics(5) + `,"params":[{"key":"fixed","value":"other"}]}`,
	}
	code, _ := c.post("/api/2.0/mlflow/runs/log-parameter", `{"run_id":"`+run+`","key":"fixed","value":"one"}`)
	require.Equal(t, 200, code)
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			code, m := c.post("/api/2.0/mlflow/runs/log-batch", body)
			assert.Equal(t, 400, code, m)
			assert.Equal(t, "INVALID_PARAMETER_VALUE", m["error_code"])
			r, _ := svc.GetRun(run)
			assert.Empty(t, r.Metrics, "nothing written")
			assert.Equal(t, map[string]string{"fixed": "one"}, r.Params)
			assert.Len(t, r.Tags, 1, "only mlflow.runName")
		})
	}
	code, m := c.post("/api/2.0/mlflow/runs/log-batch", `{"run_id":"`+run+`","metrics":`+metrics(1000)+`}`)
	assert.Equal(t, 200, code, m, "exactly at the limit is fine")
}

func TestRetriesAreHarmless(t *testing.T) {
	c, svc := newClient(t)
	run := mkRun(t, c)
	batch := `{"run_id":"` + run + `","metrics":[{"key":"m","value":1,"timestamp":5,"step":1},{"key":"m","value":2,"timestamp":6,"step":2}],"params":[{"key":"p","value":"1"}],"tags":[{"key":"t","value":"x"}]}`
	for i := 0; i < 3; i++ {
		code, m := c.post("/api/2.0/mlflow/runs/log-batch", batch)
		require.Equal(t, 200, code, m)
	}
	h, _ := svc.MetricHistory(run, "m")
	assert.Len(t, h, 2, "a retried batch adds no duplicate points")
	for i := 0; i < 2; i++ {
		code, m := c.post("/api/2.0/mlflow/runs/update", `{"run_id":"`+run+`","status":"FINISHED","end_time":123}`)
		require.Equal(t, 200, code, m)
		assert.Equal(t, "FINISHED", m["run_info"].(map[string]any)["status"])
	}
	code, m := c.post("/api/2.0/mlflow/runs/update", `{"run_id":"`+run+`","status":"KILLED"}`)
	require.Equal(t, 200, code, m)
	assert.Equal(t, "FINISHED", m["run_info"].(map[string]any)["status"], "the first end wins")
}

func TestArtifactPathsCannotEscape(t *testing.T) {
	c, svc := newClient(t)
	a := mkRun(t, c)
	b := mkRun(t, c)
	put := func(path, body string) int {
		code, _, _ := c.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+path, "application/octet-stream", strings.NewReader(body))
		return code
	}
	require.Equal(t, 200, put("0/"+b+"/artifacts/secret.txt", "b-secret"))
	require.Equal(t, 200, put("0/"+a+"/artifacts/dir/ok.txt", "fine"))
	snapshot := func() map[string]string {
		out := map[string]string{}
		root := filepath.Join(filepath.Dir(mustArtifactDir(t, svc, a)))
		_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
		return out
	}
	before := snapshot()
	bad := []string{
		"0/" + a + "/artifacts/../../" + b + "/artifacts/secret.txt",
		"0/" + a + "/artifacts/%2e%2e/%2e%2e/" + b + "/artifacts/secret.txt",
		"0/" + a + "/artifacts/%252e%252e%252f" + b,
		"0/" + a + "/artifacts/..%2f..%2f" + b + "%2fartifacts%2fsecret.txt",
		"0/" + a + "/artifacts/dir%5c..%5c..%5csecret.txt",
		"0/" + a + "/artifacts/%2fetc%2fpasswd",
		"0/" + a + "/artifacts/C:%5cwindows",
		"0/" + a + "/artifacts/file:%2f%2f%2fetc%2fpasswd",
		"0/" + a + "/artifacts/x%23frag",
		"0/" + a + "/artifacts/a%00b",
		"0/" + a + "/artifacts/",
		"0/" + a + "/notartifacts/x",
		"1/" + a + "/artifacts/x", // right run, wrong experiment
		"0/" + a + "/artifacts//x",
	}
	for _, p := range bad {
		t.Run(p, func(t *testing.T) {
			code := put(p, "overwrite")
			assert.True(t, code == 400 || code == 404, "PUT %s → %d (never a redirect)", p, code)
			if os.Getenv("SHOW_CODES") != "" {
				t.Logf("PUT %s → %d", p, code)
			}
			code, _, body := c.do("GET", "/api/2.0/mlflow-artifacts/artifacts/"+p, "", nil)
			assert.NotEqual(t, 200, code)
			assert.NotContains(t, string(body), "b-secret")
		})
	}
	assert.Equal(t, before, snapshot(), "filesystem untouched")

	// planted symlinks in a's folder lead nowhere
	dir := mustArtifactDir(t, svc, a)
	require.NoError(t, os.Symlink(filepath.Join(filepath.Dir(dir), b, "secret.txt"), filepath.Join(dir, "link")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "etc")))
	for _, p := range []string{"link", "etc/passwd"} {
		code, _, body := c.do("GET", "/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/"+p, "", nil)
		assert.Equal(t, 400, code, p)
		assert.NotContains(t, string(body), "b-secret")
		assert.NotContains(t, string(body), "root:")
	}

	// good paths still work, and listing is per run
	code, _, body := c.do("GET", "/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/dir/ok.txt", "", nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "fine", string(body))
	code, m := c.get("/api/2.0/mlflow-artifacts/artifacts?path=0/" + a + "/artifacts")
	assert.Equal(t, 200, code)
	files, _ := json.Marshal(m["files"])
	assert.JSONEq(t, `[{"path":"dir","is_dir":true}]`, string(files))
	code, _ = c.get("/api/2.0/mlflow-artifacts/artifacts?path=0/" + a + "/artifacts/..")
	assert.Equal(t, 400, code)

	// uploading onto a planted link replaces the link; it never writes
	// through it into b's folder
	put("0/"+a+"/artifacts/link", "overwrite via link")
	secret, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), b, "secret.txt"))
	assert.Equal(t, "b-secret", string(secret))
	if fi, err := os.Lstat(filepath.Join(dir, "link")); err == nil {
		assert.True(t, fi.Mode().IsRegular())
	}

	// without a token nothing is reachable
	req, _ := http.NewRequest("PUT", c.base+"/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/x", bytes.NewReader([]byte("x")))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
}

func mustArtifactDir(t *testing.T, svc *tracking.Service, run string) string {
	d, err := svc.ArtifactDir(run)
	require.NoError(t, err)
	return d
}

func TestDeleteArtifactWithoutBody(t *testing.T) {
	c, svc := newClient(t)
	a := mkRun(t, c)
	code, _, _ := c.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/d/x.txt", "text/plain", strings.NewReader("x"))
	require.Equal(t, 200, code)
	code, m, _ := c.do("DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/d", "", nil)
	require.Equal(t, 200, code, m)
	list, _ := svc.ListArtifacts(a, "")
	assert.Empty(t, list)
	code, _, _ = c.do("DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/"+a+"/artifacts/d", "", nil)
	assert.Equal(t, 404, code)
}
