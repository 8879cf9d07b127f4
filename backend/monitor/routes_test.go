package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/store"
)

func TestReportRoutes(t *testing.T) {
	svc := NewService(Config{Store: store.MustOpen(t), DataDir: t.TempDir()})
	rep, err := svc.CompareColumns(context.Background(), "files", drift.BuildProfile(table(1, 2000, 0), drift.ProfileOptions{}), table(2, 800, 1), drift.Options{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, r := range svc.Routes() {
		assert.False(t, r.Public, "reports are behind the token")
		mux.Handle(r.Pattern, r.Handler)
	}
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	w := get("/api/monitor/reports/" + rep.ID + ".html")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "Dataset drift detected")
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, w.Header().Get("Content-Disposition"), "attachment")

	w = get("/api/monitor/reports/" + rep.ID + ".pdf")
	require.Equal(t, 200, w.Code)
	assert.True(t, strings.HasPrefix(w.Body.String(), "%PDF-"))

	w = get("/api/monitor/reports/" + rep.ID + "/charts/age")
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "image/svg+xml", w.Header().Get("Content-Type"))

	assert.Equal(t, 404, get("/api/monitor/reports/nope.html").Code)
	assert.Equal(t, 404, get("/api/monitor/reports/"+rep.ID+".exe").Code)
	assert.Equal(t, 404, get("/api/monitor/reports/"+rep.ID+"/charts/nope").Code)
}
