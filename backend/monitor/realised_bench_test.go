package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// BenchmarkIngestLabels100k: 100,000 logged predictions, a label file
// for all of them (plus the monitor run it triggers over a 1,000-request
// window). Reports labels/s.
func BenchmarkIngestLabels100k(b *testing.B) {
	const n = 100_000
	st := store.MustOpen(b)
	plog := predlog.New(st, predlog.Options{Capacity: n + 1})
	t0 := time.Now().Add(-2 * time.Hour).UnixNano()
	var file strings.Builder
	file.WriteString("request_id,label\n")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("req-%07d", i)
		plog.Enqueue(predlog.Record{Deployment: "dep", Backend: "v1", Time: t0 + int64(i)*int64(time.Millisecond*60), Status: 200, Path: "/invocations",
			RequestID: id, Request: []byte(fmt.Sprintf(`{"instances":[[%d]]}`, i%7)), Response: []byte(fmt.Sprintf(`{"predictions":[%d]}`, i%2))})
		fmt.Fprintf(&file, "%s,%d\n", id, (i/3)%2)
	}
	plog.Close()
	svc := NewService(Config{Store: st, DataDir: b.TempDir(), Logs: ServingLog{Store: st}})
	prof, err := svc.FreezeProfile([]drift.Column{{Name: "f0", Kind: drift.Numeric, Num: normal(1, 1000, 3)}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := svc.CreateMonitor(b.Context(), Monitor{Name: "b", Kind: KindDeployment, Deployment: "dep", ProfileID: prof})
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(file.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := svc.IngestLabels(b.Context(), m.ID, data, LabelOptions{})
		if err != nil || res.Performance.Matched != n {
			b.Fatalf("%v %+v", err, res)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "labels/s")
}
