package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/pipeline"
	"github.com/tern-studio/tern/backend/store"
)

// The routes this face serves for domain services (datasets.go,
// monitor.go), through the real server and real services.

// face is the real server over cfg, with the test token.
func face(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Token = token
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

// send makes an authorised request (no deadline: imports and reports take
// what they take).
func send(s *Server, method, path string, body io.Reader, contentLength int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.Host = "127.0.0.1:7733"
	req.Header.Set("Authorization", "Bearer "+token)
	if contentLength != 0 {
		req.ContentLength = contentLength
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestUploadRoute(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	svc := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	s := face(t, Config{Datasets: svc, UploadLimit: 1 << 20})

	rec := send(s, "POST", UploadPath+"?filename=../../etc/people.csv&importId=u1", strings.NewReader("a,b\n1,2\n"), 0)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v dataset.Version
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, "people", v.Dataset, "the path part of a filename is dropped")
	assert.EqualValues(t, 1, v.Rows)

	rec = send(s, "POST", UploadPath+"?filename=bad.csv", strings.NewReader("a,b\n1,2,3\n"), 0)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "Line 2 has 3 fields")

	req := httptest.NewRequest("POST", UploadPath, strings.NewReader("a\n1\n"))
	req.Host = "127.0.0.1:7733"
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Tern-Import-Options", "{not json")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.JSONEq(t, `{"code":"invalid","message":"The import options are not valid JSON."}`, rec.Body.String())

	// Over the cap: refused up front when the length is known, cut off
	// mid-stream when it is not; either way 413 and nothing kept (that the
	// data dir is untouched is the dataset package's own test).
	big := append([]byte("a,b\n"), bytes.Repeat([]byte("1,2\n"), 1<<19)...)
	for _, length := range []int64{int64(len(big)), -1} {
		rec = send(s, "POST", UploadPath+"?filename=big.csv", bytes.NewReader(big), length)
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
		assert.JSONEq(t, `{"code":"invalid","message":"big.csv is larger than the 1 MB this Tern accepts for uploads."}`, rec.Body.String())
	}
	list, err := svc.List()
	require.NoError(t, err)
	assert.Len(t, list, 1, "only people.csv was kept")
}

func TestHumanBytes(t *testing.T) {
	assert.Equal(t, "20 GB", humanBytes(DefaultUploadLimit))
	assert.Equal(t, "1.5 MB", humanBytes(3<<19))
	assert.Equal(t, "512 bytes", humanBytes(512))
}

// sample is a numeric and a categorical column; shift moves both.
func sample(seed uint64, n int, shift float64) []drift.Column {
	r := rand.New(rand.NewPCG(seed, 3))
	age, city := make([]float64, n), make([]string, n)
	cities := []string{"Oslo", "Lima", "Pune", "Kyiv"}
	for i := range n {
		age[i] = 40 + 12*r.NormFloat64() + 8*shift
		k := r.IntN(4)
		if shift > 0 && r.Float64() < 0.4 {
			k = 3
		}
		city[i] = cities[k]
	}
	return []drift.Column{
		{Name: "age", Kind: drift.Numeric, Num: age},
		{Name: "city", Kind: drift.Categorical, Cat: city},
	}
}

func TestReportRoutes(t *testing.T) {
	svc := monitor.NewService(monitor.Config{Store: store.MustOpen(t), DataDir: t.TempDir()})
	rep, err := svc.CompareColumns(t.Context(), "files", drift.BuildProfile(sample(1, 2000, 0), drift.ProfileOptions{}), sample(2, 800, 1), drift.Options{})
	require.NoError(t, err)
	s := face(t, Config{Monitor: svc})
	get := func(path string) *httptest.ResponseRecorder { return send(s, "GET", path, nil, 0) }

	w := get("/api/monitor/reports/" + rep.ID + ".html")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "Dataset drift detected")
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, w.Header().Get("Content-Disposition"), "attachment")
	w = get("/api/monitor/reports/" + rep.ID + ".html?view=1")
	assert.Equal(t, "inline", w.Header().Get("Content-Disposition"))

	w = get("/api/monitor/reports/" + rep.ID + ".pdf")
	require.Equal(t, 200, w.Code)
	assert.True(t, strings.HasPrefix(w.Body.String(), "%PDF-"))
	assert.Equal(t, "application/pdf", w.Header().Get("Content-Type"))

	w = get("/api/monitor/reports/" + rep.ID + "/charts/age")
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "image/svg+xml", w.Header().Get("Content-Type"))
	assert.Equal(t, "private, max-age=3600", w.Header().Get("Cache-Control"))

	assert.Equal(t, 404, get("/api/monitor/reports/nope.html").Code)
	assert.Equal(t, 404, get("/api/monitor/reports/"+rep.ID+".exe").Code)
	assert.Equal(t, 404, get("/api/monitor/reports/"+rep.ID+"/charts/nope").Code)
}

func TestLabelRoutes(t *testing.T) {
	st := store.MustOpen(t)
	svc := monitor.NewService(monitor.Config{Store: st, DataDir: t.TempDir(), Logs: monitor.ServingLog{Store: st}})
	prof, err := svc.FreezeProfile(sample(4, 200, 0)[:1])
	require.NoError(t, err)
	m, err := svc.CreateMonitor(t.Context(), monitor.Monitor{Name: "d", Kind: monitor.KindDeployment, Deployment: "dep9", ProfileID: prof})
	require.NoError(t, err)
	s := face(t, Config{Monitor: svc})
	do := func(method, path, body string) *httptest.ResponseRecorder {
		return send(s, method, path, strings.NewReader(body), 0)
	}
	assert.Equal(t, 404, do("GET", "/api/monitor/monitors/"+m.ID+"/performance.svg", "").Code, "no labels yet")

	w := do("POST", "/api/monitor/monitors/"+m.ID+"/labels", "request_id,label\na,1\na,0\n")
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `Row 3: request ID \"a\" was already labelled on row 2`)
	w = do("POST", "/api/monitor/monitors/"+m.ID+"/labels?window=soon", "request_id,label\na,1\n")
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `The window \"soon\" is not a duration`)
	assert.Equal(t, 404, do("POST", "/api/monitor/monitors/nope/labels", "request_id,label\na,1\n").Code)

	w = do("POST", "/api/monitor/monitors/"+m.ID+"/labels?window=1h", "request_id,label\na,1\nb,0\n")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"unmatched":2`)
	w = do("GET", "/api/monitor/monitors/"+m.ID+"/performance.svg", "")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "image/svg+xml", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, 400, do("GET", "/api/monitor/monitors/"+m.ID+"/performance.svg?metric=speed", "").Code)

	// The label route's cap is the monitor's own.
	for _, rt := range monitorRoutes(svc) {
		if strings.HasSuffix(rt.Pattern, "/labels") {
			assert.EqualValues(t, monitor.MaxLabelBytes, rt.MaxBytes)
			assert.True(t, rt.RawBody)
		}
		assert.False(t, rt.Public, "monitor files are behind the token")
	}
}

// The webhook route starts a pipeline that has a webhook trigger, behind
// the token like every route; a pipeline without one, a bad body and a
// missing token are refused.
func TestPipelineWebhookRoute(t *testing.T) {
	types := pipeline.NewTypes()
	types.Register(pipeline.Def{Type: pipeline.StepType{Name: "noop"}, Exec: noopStep{}})
	e := pipeline.New(pipeline.Config{Store: store.MustOpen(t), Types: types})
	hooked, err := e.Save(pipeline.Pipeline{Name: "hooked", Triggers: []pipeline.Trigger{{Kind: pipeline.TriggerWebhook}}, Steps: []pipeline.Step{{ID: "a", Type: "noop"}}})
	require.NoError(t, err)
	plain, err := e.Save(pipeline.Pipeline{Name: "plain", Steps: []pipeline.Step{{ID: "a", Type: "noop"}}})
	require.NoError(t, err)
	s := face(t, Config{Pipelines: e})
	post := func(id, body string, auth bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/pipelines/"+id+"/webhook", strings.NewReader(body))
		req.Host = "127.0.0.1:7733"
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	rec := post(hooked.ID, `{"detail":"nightly 412"}`, true)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var out struct {
		RunID string `json:"runId"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	d, err := e.GetRun(out.RunID)
	require.NoError(t, err)
	assert.Equal(t, "webhook: nightly 412", d.Run.Firings[0].Detail)

	assert.Equal(t, http.StatusUnauthorized, post(hooked.ID, `{}`, false).Code)
	assert.Equal(t, http.StatusConflict, post(plain.ID, `{}`, true).Code)
	assert.Equal(t, http.StatusNotFound, post("nope", ``, true).Code)
	assert.Equal(t, http.StatusBadRequest, post(hooked.ID, `[1]`, true).Code)
}

type noopStep struct{}

func (noopStep) Run(context.Context, *pipeline.Exec) (map[string]pipeline.Value, error) {
	return nil, nil
}
