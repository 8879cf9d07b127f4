package router

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelserver"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
)

// fakeBackend answers /invocations with a fixed prediction and counts hits.
type fakeBackend struct {
	*httptest.Server
	hits  atomic.Int64
	delay time.Duration
	pred  string
	code  int
}

func newFake(t *testing.T, pred string) *fakeBackend {
	t.Helper()
	f := &fakeBackend{pred: pred, code: 200}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			return
		}
		io.Copy(io.Discard, r.Body)
		f.hits.Add(1)
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.code)
		fmt.Fprintf(w, `{"predictions":[%s]}`, f.pred)
	}))
	t.Cleanup(f.Close)
	return f
}

func newTestRouter(t *testing.T, backends map[string]*fakeBackend, traffic Traffic, opt Options) (*Router, *httptest.Server) {
	t.Helper()
	var bs []Backend
	for id, f := range backends {
		bs = append(bs, Backend{ID: id, URL: f.URL})
	}
	if opt.HealthInterval == 0 {
		opt.HealthInterval = -1
	}
	r, err := New("dep1", bs, traffic, opt)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return r, ts
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func invoke(t *testing.T, url string, hdr map[string]string) (int, string, string) {
	t.Helper()
	return send(t, url+"/invocations", `{"instances":[[1]]}`, hdr)
}

func post(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	code, _, b := send(t, url, body, map[string]string{"Content-Type": ct})
	return code, b
}

// send POSTs a JSON body (unless hdr says another Content-Type) and
// returns the status, the backend that answered and the body.
func send(t *testing.T, url, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(BackendHeader), string(b)
}

// allAnsweredBy sends n requests and requires each to be answered, by
// backend want.
func allAnsweredBy(t *testing.T, url string, n int, want string) {
	t.Helper()
	for range n {
		code, by, _ := invoke(t, url, nil)
		require.Equal(t, 200, code)
		require.Equal(t, want, by)
	}
}

func canary(stable, can string, w float64) Traffic {
	return Traffic{Split: []Split{{stable, 100 - w}, {can, w}}}
}

func TestCanaryTenPercent(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 10), Options{})
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		code, by, _ := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
		counts[by]++
	}
	share := float64(counts["v2"]) / 2000
	assert.InDelta(t, 0.10, share, 0.03, "canary share %v", counts)
	assert.Equal(t, int64(counts["v2"]), b.hits.Load())
	assert.Equal(t, 2000, counts["v1"]+counts["v2"])
}

func TestRollbackTakesEffectOnNextRequest(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 0), Options{})
	// Blue/green: switch everything to v2.
	require.NoError(t, r.SetTraffic(Traffic{Split: []Split{{"v2", 100}}}))
	for range 20 {
		_, by, _ := invoke(t, ts.URL, nil)
		require.Equal(t, "v2", by)
	}
	prev, err := r.Rollback()
	require.NoError(t, err)
	assert.Equal(t, canary("v1", "v2", 0), prev)
	for range 20 {
		_, by, _ := invoke(t, ts.URL, nil)
		require.Equal(t, "v1", by, "the first request after rollback already goes to stable")
	}
	_, err = r.Rollback()
	assert.ErrorContains(t, err, "no earlier traffic split")
}

func TestTrafficValidation(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	r, _ := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 10), Options{})
	bad := []struct {
		t    Traffic
		want string
	}{
		{Traffic{Split: []Split{{"v1", 50}, {"v2", 40}}}, "sum to 90%"},
		{Traffic{Split: []Split{{"v1", 110}, {"v2", -10}}}, "negative"},
		{Traffic{Split: []Split{{"v1", math.NaN()}, {"v2", 100}}}, "not a number"},
		{Traffic{Split: []Split{{"v1", math.Inf(1)}}}, "not a number"},
		{Traffic{Split: []Split{{"v9", 100}}}, "not part of this deployment"},
		{Traffic{Split: []Split{{"v1", 50}, {"v1", 50}}}, "twice"},
		{Traffic{}, "names no backend"},
		{Traffic{Split: []Split{{"v1", 100}}, Shadow: "zz"}, "Shadow backend"},
	}
	for _, tc := range bad {
		assert.ErrorContains(t, r.SetTraffic(tc.t), tc.want)
	}
	assert.Equal(t, canary("v1", "v2", 10), r.Traffic(), "rejected splits leave the old one in force")
	assert.NoError(t, r.SetTraffic(Traffic{Split: []Split{{"v1", 33.333}, {"v2", 66.667}}}))
	assert.ErrorContains(t, r.RemoveBackend("v2"), "still takes")
}

func TestStickyRouting(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 50), Options{})
	seen := map[string]bool{}
	for u := 0; u < 40; u++ {
		key := fmt.Sprintf("user-%d", u)
		_, first, _ := invoke(t, ts.URL, map[string]string{"X-Tern-Sticky": key})
		seen[first] = true
		for range 5 {
			_, by, _ := invoke(t, ts.URL, map[string]string{"X-Tern-Sticky": key})
			require.Equal(t, first, by, "key %s moved", key)
		}
	}
	assert.Len(t, seen, 2, "different keys spread over both backends")
}

func TestShadowGetsCopiesAndCallerUnaffected(t *testing.T) {
	live, shadow := newFake(t, "1.0"), newFake(t, "1")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": live, "v2": shadow}, Traffic{Split: []Split{{"v1", 100}}, Shadow: "v2"}, Options{})
	for range 50 {
		code, by, body := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
		require.Equal(t, "v1", by)
		require.JSONEq(t, `{"predictions":[1]}`, body)
	}
	require.Eventually(t, func() bool { return shadow.hits.Load() == 50 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return r.Stats().Shadow.Agree == 50 }, 5*time.Second, 10*time.Millisecond)

	// A disagreeing, slow shadow: the caller still gets the live answer fast.
	shadow.pred = "7"
	shadow.delay = 300 * time.Millisecond
	start := time.Now()
	for range 5 {
		code, _, body := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
		require.JSONEq(t, `{"predictions":[1]}`, body)
	}
	assert.Less(t, time.Since(start), 250*time.Millisecond, "caller waited for the shadow")
	require.Eventually(t, func() bool { return r.Stats().Shadow.Disagree == 5 }, 5*time.Second, 10*time.Millisecond)

	// A shadow that is down: callers unaffected, failures counted.
	shadow.Close()
	for range 3 {
		code, _, _ := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
	}
	require.Eventually(t, func() bool { s := r.Stats().Shadow; return s.Failed+s.Dropped >= 3 }, 5*time.Second, 10*time.Millisecond)
}

func TestShadowBoundedInFlight(t *testing.T) {
	live, shadow := newFake(t, "1"), newFake(t, "1")
	shadow.delay = 200 * time.Millisecond
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": live, "v2": shadow}, Traffic{Split: []Split{{"v1", 100}}, Shadow: "v2"}, Options{ShadowConcurrency: 2})
	for range 10 {
		invoke(t, ts.URL, nil)
	}
	s := r.Stats().Shadow
	assert.Equal(t, uint64(10), s.Sent+s.Dropped)
	assert.GreaterOrEqual(t, s.Dropped, uint64(7))
}

func TestUnhealthyCanaryKeepsTrafficOnStable(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 50), Options{})
	r.MarkHealthy("v2", false)
	allAnsweredBy(t, ts.URL, 100, "v1")
	r.MarkHealthy("v1", false)
	code, _, body := invoke(t, ts.URL, nil)
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "No healthy backend")
}

func TestHealthProbeTakesDeadBackendOut(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 50), Options{HealthInterval: 20 * time.Millisecond})
	b.Close()
	require.Eventually(t, func() bool {
		for _, s := range r.Stats().Backends {
			if s.ID == "v2" {
				return !s.Healthy
			}
		}
		return false
	}, 3*time.Second, 10*time.Millisecond)
	allAnsweredBy(t, ts.URL, 50, "v1")
}

// A backend that dies between probes: the request that finds it dead is
// retried on another backend, so callers see no failure.
func TestCrashedBackendRetriedElsewhere(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 50), Options{})
	b.Close()
	allAnsweredBy(t, ts.URL, 100, "v1")
}

func TestPromoteAndRollbackUnderLoad(t *testing.T) {
	a, b := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": b}, canary("v1", "v2", 10), Options{})
	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", ts.URL+"/invocations", strings.NewReader(`{"instances":[[1]]}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				total.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		if i%2 == 0 {
			require.NoError(t, r.SetTraffic(Traffic{Split: []Split{{"v2", 100}}}))
		} else {
			_, err := r.Rollback()
			require.NoError(t, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	assert.Greater(t, total.Load(), int64(100))
	assert.Zero(t, failed.Load())
}

func TestRouterBodyLimitAndLogging(t *testing.T) {
	st := store.MustOpen(t)
	log := predlog.New(st, predlog.Options{FlushEvery: 5 * time.Millisecond})
	a := newFake(t, "1")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a}, Traffic{Split: []Split{{"v1", 100}}}, Options{Log: log, MaxBodyBytes: 64})
	for range 30 {
		code, _, _ := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
	}
	code, body := post(t, ts.URL+"/invocations", "application/json", `{"instances":[`+strings.Repeat("[1],", 40)+`[1]]}`)
	assert.Equal(t, 413, code, body)
	log.Close()
	n, err := predlog.Count(st, "dep1")
	require.NoError(t, err)
	assert.Equal(t, 30, n)
	recs, err := predlog.Read(st, "dep1", 5)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	assert.Equal(t, "v1", recs[0].Backend)
	assert.Equal(t, 200, recs[0].Status)
	assert.Equal(t, `{"instances":[[1]]}`, string(recs[0].Request))
	assert.JSONEq(t, `{"predictions":[1]}`, string(recs[0].Response))
	assert.GreaterOrEqual(t, recs[0].Time, recs[4].Time, "newest first")
	written, dropped := log.Counts()
	assert.Equal(t, uint64(30), written)
	assert.Zero(t, dropped)
	assert.Equal(t, uint64(30), r.Stats().LogWritten)
	// A closed log drops and counts instead of panicking.
	assert.False(t, log.Enqueue(predlog.Record{Deployment: "dep1"}))
}

func TestPredictionLogDropsWhenFull(t *testing.T) {
	st := store.MustOpen(t)
	log := predlog.New(st, predlog.Options{Capacity: 4, FlushEvery: time.Hour, BatchSize: 1 << 20})
	accepted := 0
	for i := 0; i < 1000; i++ {
		if log.Enqueue(predlog.Record{Deployment: "d", Time: int64(i)}) {
			accepted++
		}
	}
	log.Close()
	written, dropped := log.Counts()
	assert.Equal(t, uint64(accepted), written)
	assert.Equal(t, uint64(1000-accepted), dropped)
	assert.Greater(t, dropped, uint64(0))
	n, err := predlog.Count(st, "d")
	require.NoError(t, err)
	assert.Equal(t, accepted, n)
}

func TestSamePredictions(t *testing.T) {
	assert.True(t, SamePredictions([]byte(`{"predictions":[1,2]}`), []byte(`{"predictions":[1.0, 2.0000000000001]}`)))
	assert.False(t, SamePredictions([]byte(`{"predictions":[1,2]}`), []byte(`{"predictions":[1,2.1]}`)))
	assert.False(t, SamePredictions([]byte(`{"predictions":[1,2]}`), []byte(`{"predictions":[1]}`)))
	assert.True(t, SamePredictions([]byte(`{"model_version":"1","outputs":[{"data":[1]}]}`), []byte(`{"model_version":"2","outputs":[{"data":[1]}]}`)))
	assert.False(t, SamePredictions([]byte(`not json`), []byte(`{}`)))
}

func BenchmarkRouterOverhead(b *testing.B) {
	backend := modelServer(b)
	r, _ := New("d", []Backend{{"v1", backend.URL}}, Traffic{Split: []Split{{"v1", 100}}}, Options{HealthInterval: -1})
	defer r.Close()
	front := httptest.NewServer(r)
	defer front.Close()
	body := `{"dataframe_split":{"columns":["Column_0","Column_1","Column_2","Column_3","Column_4","Column_5"],"data":[[1,2,3,4,5,6]]}}`
	for _, target := range []struct{ name, url string }{{"direct", backend.URL}, {"router", front.URL}} {
		b.Run(target.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				resp, err := client.Post(target.url+"/invocations", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// CPU time (user+system, every goroutine: client, router and
			// backend) per request moves far less with machine load than
			// wall time; router minus direct is what the router costs.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func TestRouterRefusesForeignHost(t *testing.T) {
	a := newFake(t, "1")
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a}, Traffic{Split: []Split{{"v1", 100}}}, Options{})
	for host, want := range map[string]int{"evil.example": 403, "evil.example:80": 403, "10.0.0.1": 403, "localhost": 200, "127.0.0.1:9": 200, "[::1]:5": 200} {
		req, _ := http.NewRequest("POST", ts.URL+"/invocations", strings.NewReader(`{"instances":[[1]]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Host = host
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, host)
	}
	assert.Equal(t, int64(3), a.hits.Load())
}

// modelServer is a real model server (a LightGBM model from backend/gbdt's
// test data, served as "iris") for tests of the router in front of one.
func modelServer(t testing.TB) *httptest.Server {
	t.Helper()
	dir := testenv.Dir(t, map[string]string{
		"model.lgb": testenv.GBDTModel(t, "lgb_binary.txt"),
		"MLmodel":   "flavors:\n  lightgbm:\n    data: model.lgb\n",
	})
	l, err := modelserver.LoadDir(dir, "iris", "1")
	require.NoError(t, err)
	s, err := modelserver.NewServer(l.Model, modelserver.ServerOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

// A 100 MB tensor is refused with 413 at the default limit, by the scoring
// server and by the router, before it is decoded.
func TestHundredMegabyteTensorIs413(t *testing.T) {
	ts := modelServer(t)
	r, err := New("d", []Backend{{ID: "v1", URL: ts.URL}}, Traffic{Split: []Split{{Backend: "v1", Weight: 100}}}, Options{HealthInterval: -1})
	require.NoError(t, err)
	defer r.Close()
	front := httptest.NewServer(r)
	defer front.Close()
	var b strings.Builder
	b.WriteString(`{"inputs":[{"name":"x","shape":[25000000,4],"datatype":"FP64","data":[`)
	chunk := strings.Repeat("1.0,", 1<<16)
	for b.Len() < 100<<20 {
		b.WriteString(chunk)
	}
	b.WriteString(`1]}]}`)
	body := b.String()
	for _, url := range []string{ts.URL, front.URL} {
		code, msg := post(t, url+"/v2/models/iris/infer", "application/json", body)
		assert.Equal(t, 413, code, msg)
	}
}

// The router reads time from its clock: records are stamped with it and
// throughput is counted in its seconds, so a test moves time by hand.
func TestRouterTakesAClock(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_700_000_000, 0))
	st := store.MustOpen(t)
	log := predlog.New(st, predlog.Options{})
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": newFake(t, "1")}, Traffic{Split: []Split{{"v1", 100}}}, Options{Log: log, Clock: clock})
	for range 20 {
		code, _, _ := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
	}
	assert.InDelta(t, 2.0, r.Stats().Backends[0].RPS, 1e-9, "20 requests in the last ten seconds")
	clock.Advance(9 * time.Second)
	assert.InDelta(t, 2.0, r.Stats().Backends[0].RPS, 1e-9, "still inside the window")
	clock.Advance(time.Second)
	assert.Zero(t, r.Stats().Backends[0].RPS, "ten seconds later the window is empty")
	assert.Equal(t, uint64(20), r.Stats().Backends[0].Requests, "counts are kept")

	log.Close()
	recs, err := predlog.Read(st, "dep1", 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, time.Unix(1_700_000_000, 0).UnixNano(), recs[0].Time)
}

// Explanations pass through the router untouched: the same contributions
// come back through it as from the model server itself, for MLflow's
// params and for V2's parameters.
func TestRouterPassesExplanationsThrough(t *testing.T) {
	ts := modelServer(t)
	r, err := New("d", []Backend{{ID: "v1", URL: ts.URL}}, Traffic{Split: []Split{{Backend: "v1", Weight: 100}}}, Options{HealthInterval: -1})
	require.NoError(t, err)
	defer r.Close()
	front := httptest.NewServer(r)
	defer front.Close()
	for path, body := range map[string]string{
		"/invocations":          `{"instances":[[0.1,0.2,0.3,0.4,0.5,0.6]],"params":{"explain":true}}`,
		"/v2/models/iris/infer": `{"parameters":{"explain":true},"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[0.1,0.2,0.3,0.4,0.5,0.6]}]}`,
	} {
		code, direct := post(t, ts.URL+path, "application/json", body)
		require.Equal(t, 200, code, direct)
		require.Contains(t, direct, "contributions")
		code, routed := post(t, front.URL+path, "application/json", body)
		require.Equal(t, 200, code, routed)
		assert.JSONEq(t, direct, routed, path)
	}
}
