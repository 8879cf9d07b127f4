package monitor

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

// Labelled answers counted per backend, for a ramp's watch: through a
// real router splitting traffic between a right model (v1) and one that
// always says 1 (v2), with the labels joined by request ID.
func TestRealisedByBackend(t *testing.T) {
	st := store.MustOpen(t)
	var v2Wrong atomic.Int32
	model := func(always1 bool) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ping" {
				return
			}
			b, _ := io.ReadAll(r.Body)
			var x float64
			fmt.Sscanf(string(b), `{"instances":[[%g]]}`, &x)
			w.Header().Set("Content-Type", "application/json")
			switch {
			case always1:
				if x <= 0 {
					v2Wrong.Add(1)
				}
				io.WriteString(w, `{"predictions":[1]}`)
			case x > 0:
				io.WriteString(w, `{"predictions":[1]}`)
			default:
				io.WriteString(w, `{"predictions":[0]}`)
			}
		}))
	}
	m1, m2 := model(false), model(true)
	defer m1.Close()
	defer m2.Close()
	plog := predlog.New(st, predlog.Options{FlushEvery: 5 * time.Millisecond})
	rt, err := router.New("dep1", []router.Backend{{ID: "v1", URL: m1.URL}, {ID: "v2", URL: m2.URL}},
		router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 50}, {Backend: "v2", Weight: 50}}}, router.Options{Log: plog, HealthInterval: -1})
	require.NoError(t, err)
	front := httptest.NewServer(rt)
	defer front.Close()
	start := time.Now()
	var labels strings.Builder
	labels.WriteString("request_id,label\n")
	for i, x := range normal(5, 200, 0) {
		resp, err := http.Post(front.URL+"/invocations", "application/json", strings.NewReader(fmt.Sprintf(`{"instances":[[%g]]}`, x)))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		truth := 0
		if x > 0 {
			truth = 1
		}
		if i%50 != 0 { // some labels never arrive
			fmt.Fprintf(&labels, "%s,%d\n", resp.Header.Get(core.RequestIDHeader), truth)
		}
	}
	rt.Close()
	plog.Close()

	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Logs: ServingLog{Store: st}})
	n, wrong, err := svc.RealisedByBackend("dep1", start)
	require.NoError(t, err)
	assert.Nil(t, n, "no labels yet")
	ls, err := ParseLabels([]byte(labels.String()))
	require.NoError(t, err)
	require.NoError(t, svc.storeLabels("dep1", dataset.LabelFile{Name: "labels.csv", Labels: len(ls)}, ls))

	n, wrong, err = svc.RealisedByBackend("dep1", start)
	require.NoError(t, err)
	assert.Equal(t, 196, n["v1"]+n["v2"], "every label that arrived")
	assert.Positive(t, n["v1"])
	assert.Positive(t, n["v2"])
	assert.Zero(t, wrong["v1"], "v1 is always right")
	assert.InDelta(t, int(v2Wrong.Load()), wrong["v2"], 4, "v2 is wrong on its negatives (less the four unlabelled)")
	assert.Positive(t, wrong["v2"])

	n, _, err = svc.RealisedByBackend("dep1", time.Now())
	require.NoError(t, err)
	assert.Empty(t, n, "only answers logged since the time asked count")
}
