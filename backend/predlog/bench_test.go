package predlog

import (
	"testing"
	"time"

	"github.com/tern-studio/tern/backend/store"
)

// A request and answer of the size the router logs, from bench/serving.
//
//	go test ./backend/predlog -run '^$' -bench PredictionLogWrite -benchmem -count 8 > new.txt
//	benchstat old.txt new.txt
var (
	req  = []byte(`{"dataframe_split":{"columns":["f0","f1","f2","f3","f4","f5","f6","f7","f8","f9"],"data":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]]}}`)
	resp = []byte(`{"predictions": [0.4172839820384979]}`)
)

// BenchmarkPredictionLogWrite is the writer's cost per record (encoding and
// the Badger write batch), which runs off the request path but shares the
// machine's cores with it.
func BenchmarkPredictionLogWrite(b *testing.B) {
	st := store.MustOpen(b)
	l := &Log{st: st, opt: Options{BatchSize: 1024}}
	batch := make([]Record, 1024)
	for i := range batch {
		batch[i] = Record{Deployment: "bench", Backend: "v1", LatencyMicros: 400, Status: 200, Path: "/invocations",
			Request: req, Response: resp}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i].Time = time.Now().UnixNano()
		}
		l.flush(batch)
		n += len(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
