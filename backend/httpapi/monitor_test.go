package httpapi

import (
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/store"
)

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
