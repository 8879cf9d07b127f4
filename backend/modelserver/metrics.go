package modelserver

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Latency buckets in seconds, Prometheus style, fine at the low end where
// a local GBDT answers.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type seriesKey struct {
	protocol string
	code     int
}

// Metrics counts requests by protocol and status, rows scored, and a
// latency histogram, and writes them in the Prometheus text format.
type Metrics struct {
	mu       sync.Mutex
	requests map[seriesKey]uint64
	rows     uint64
	buckets  []uint64
	count    uint64
	sum      float64
}

func NewMetrics() *Metrics {
	return &Metrics{requests: map[seriesKey]uint64{}, buckets: make([]uint64, len(latencyBuckets))}
}

func (m *Metrics) observe(protocol string, code, rows int, d time.Duration) {
	sec := d.Seconds()
	m.mu.Lock()
	m.requests[seriesKey{protocol, code}]++
	m.rows += uint64(rows)
	for i, b := range latencyBuckets {
		if sec <= b {
			m.buckets[i]++
		}
	}
	m.count++
	m.sum += sec
	m.mu.Unlock()
}

// Requests is the number of requests seen with the given protocol and status.
func (m *Metrics) Requests(protocol string, code int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[seriesKey{protocol, code}]
}

// WriteTo writes the Prometheus exposition text.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	keys := make([]seriesKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].protocol != keys[j].protocol {
			return keys[i].protocol < keys[j].protocol
		}
		return keys[i].code < keys[j].code
	})
	var n int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(w, format, args...)
		n += int64(k)
	}
	p("# HELP tern_requests_total Scoring requests by protocol and HTTP status.\n# TYPE tern_requests_total counter\n")
	for _, k := range keys {
		p("tern_requests_total{protocol=%q,code=\"%d\"} %d\n", k.protocol, k.code, m.requests[k])
	}
	p("# HELP tern_predictions_total Rows scored.\n# TYPE tern_predictions_total counter\ntern_predictions_total %d\n", m.rows)
	p("# HELP tern_request_duration_seconds Time to answer a scoring request.\n# TYPE tern_request_duration_seconds histogram\n")
	for i, b := range latencyBuckets {
		p("tern_request_duration_seconds_bucket{le=\"%g\"} %d\n", b, m.buckets[i])
	}
	p("tern_request_duration_seconds_bucket{le=\"+Inf\"} %d\ntern_request_duration_seconds_sum %g\ntern_request_duration_seconds_count %d\n", m.count, m.sum, m.count)
	m.mu.Unlock()
	return n, nil
}
