package runner

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

// memSink records what a streamer sends.
type memSink struct {
	mu      sync.Mutex
	metrics []Metric
	params  map[string]string
	tags    map[string]string
}

func (m *memSink) SetTags(_ string, tags map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tags == nil {
		m.tags = map[string]string{}
	}
	for k, v := range tags {
		m.tags[k] = v
	}
	return nil
}

func (m *memSink) StartRun(*Job) (string, error) { return "run", nil }
func (m *memSink) LogParams(_ string, p map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.params == nil {
		m.params = map[string]string{}
	}
	for k, v := range p {
		m.params[k] = v
	}
	return nil
}
func (m *memSink) LogMetrics(_ string, ms []Metric) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metrics = append(m.metrics, ms...)
	return nil
}
func (m *memSink) SaveOutputs(string, string) error   { return nil }
func (m *memSink) EndRun(string, State, string) error { return nil }

func newStreamer(t testing.TB) (*streamer, *memSink) {
	sink := &memSink{}
	st := storeForTB(t)
	r := &Runner{cfg: Config{Store: st, Bus: core.NewBus(), Sink: sink}}
	return &streamer{r: r, t: &tracked{job: Job{ID: "j", RunID: "run"}}, params: map[string]string{}, tags: map[string]string{}}, sink
}

func TestProtocolLines(t *testing.T) {
	s, sink := newStreamer(t)
	ts := time.Unix(100, 0)
	for i, l := range []string{
		`{"tern":"metric","key":"loss","value":0.5,"step":1}`,
		`{"tern":"metric","key":"loss","value":"NaN","step":2}`,
		`{"tern":"metric","key":"loss","value":"Infinity","step":3}`,
		`{"tern":"metric","key":"","value":1}`,
		`{"tern":"metric","key":"bad","value":"abc"}`,
		`{"tern":"param","key":"lr","value":0.1}`,
		`{"tern":"tag","key":"tern.runtime.version","value":"v1.2"}`,
		`{"tern":"tag","key":"team","value":"risk"}`,
		`{"tern":"tag","key":"tern.job","value":"forged"}`,
		`{"tern":"error","message":"Column y is missing."}`,
		`{"not":"tern"}`,
		`plain log line`,
		`{"tern":"metric","key":"loss"` + strings.Repeat("x", 100),
	} {
		s.handle(line{stream: stdout, ts: ts.Add(time.Duration(i)), text: l})
	}
	s.flush()
	require.Len(t, sink.metrics, 3)
	assert.Equal(t, 0.5, sink.metrics[0].Value)
	assert.True(t, math.IsNaN(sink.metrics[1].Value))
	assert.True(t, math.IsInf(sink.metrics[2].Value, 1))
	assert.Equal(t, "0.1", sink.params["lr"])
	assert.Equal(t, map[string]string{"tern.runtime.version": "v1.2", "team": "risk"}, sink.tags, "a job sets no tern.* tag but its runtime's")
	assert.Equal(t, "Column y is missing.", s.t.job.LastError)
	assert.Equal(t, Cursor{TS: ts.Add(12).UnixNano(), N: 1}, s.t.job.Cursors[stdout])
}

func FuzzProtocolLine(f *testing.F) {
	f.Add(`{"tern":"metric","key":"loss","value":0.3,"step":1}`)
	f.Add(`{"tern":"param","key":"a","value":{"x":[1]}}`)
	f.Add(`{"tern":"error","message":null}`)
	f.Add("2026-01-01T00:00:00.000000001Z text")
	s, _ := newStreamer(f)
	f.Fuzz(func(t *testing.T, text string) {
		ts, rest := splitTimestamp(text)
		s.handle(line{stream: stdout, ts: ts, text: rest})
		s.handle(line{stream: stderr, ts: ts, text: text})
	})
}
