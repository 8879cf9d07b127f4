package tracking

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkLogBatch500 is the store side of ingest: 500-point batches on
// 20 runs in parallel.
func BenchmarkLogBatch500(b *testing.B) {
	s := newSvc(b)
	runs := make([]string, 20)
	for i := range runs {
		r, _ := s.CreateRun(RunSpec{})
		runs[i] = r.ID
	}
	var next atomic.Int64
	b.SetParallelism(10)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		run := runs[next.Add(1)%20]
		step := int64(0)
		for pb.Next() {
			ms := make([]Metric, 500)
			for i := range ms {
				ms[i] = Metric{Key: fmt.Sprintf("m%d", i%5), Value: Float(step), Timestamp: 1700000000000, Step: step}
				if i%5 == 4 {
					step++
				}
			}
			if err := s.LogBatch(run, Batch{Metrics: ms}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkSearch1500x100 is the runs table's read: 1,500 runs with 100
// metrics each, newest first, one page of 1,000.
func BenchmarkSearch1500x100(b *testing.B) {
	s := newSvc(b)
	for i := 0; i < 1500; i++ {
		r, _ := s.CreateRun(RunSpec{Params: map[string]string{"model": "gbdt"}})
		ms := make([]Metric, 100)
		for k := range ms {
			ms[k] = Metric{Key: fmt.Sprintf("metric_%03d", k), Value: Float(i + k), Step: 1, Timestamp: 1}
		}
		if err := s.LogMetrics(r.ID, ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.SearchRuns(SearchRequest{MaxResults: 1000, OrderBy: []string{"start_time DESC"}})
		if err != nil || len(res.Runs) != 1000 {
			b.Fatal(err)
		}
	}
}
