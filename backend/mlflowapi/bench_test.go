package mlflowapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// BenchmarkLogBatch500 measures the server side of log-batch (decode,
// validate, one Badger transaction) with 20 runs written in parallel.
func BenchmarkLogBatch500(b *testing.B) {
	st := store.MustOpen(b)
	svc, err := tracking.NewService(st, core.NewBus(), st.Dir)
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler
	for _, r := range New(svc, nil).Routes() {
		if r.Pattern == "POST "+v2+"runs/log-batch" {
			h = r.Handler
		}
	}
	runs := make([]string, 20)
	for i := range runs {
		r, _ := svc.CreateRun(tracking.RunSpec{})
		runs[i] = r.ID
	}
	var next atomic.Int64
	b.SetParallelism(10)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		run := runs[next.Add(1)%20]
		step := 0
		// bodies are built ahead so the loop measures the server only
		var bodies [][]byte
		for n := 0; n < 40; n++ {
			ms := make([]map[string]any, 500)
			for i := range ms {
				ms[i] = map[string]any{"key": fmt.Sprintf("m%d", i%5), "value": float64(step) * 0.001, "timestamp": 1700000000000, "step": step}
				if i%5 == 4 {
					step++
				}
			}
			body, _ := json.Marshal(map[string]any{"run_id": run, "metrics": ms})
			bodies = append(bodies, body)
		}
		n := 0
		for pb.Next() {
			body := bodies[n%len(bodies)]
			n++
			req := httptest.NewRequest("POST", "/x", bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Body.String())
			}
		}
	})
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "points/s")
}
