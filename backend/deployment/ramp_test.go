package deployment

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
)

// faultLauncher serves versions in process, some behind a fault: a proxy
// in front of the real scoring server that answers errors or slowly.
type faultLauncher struct {
	*ProcessLauncher
	t     *testing.T
	fault map[int]func(http.Handler) http.Handler
}

func (f *faultLauncher) Launch(ctx context.Context, s Spec) (Instance, error) {
	inst, err := f.ProcessLauncher.Launch(ctx, s)
	if err != nil || f.fault[s.Version] == nil {
		return inst, err
	}
	target, _ := url.Parse(inst.URL)
	srv := httptest.NewServer(f.fault[s.Version](httputil.NewSingleHostReverseProxy(target)))
	f.t.Cleanup(srv.Close)
	inst.URL = srv.URL
	return inst, nil
}

// failing answers 500 to every scoring request (its /ping stays healthy,
// as a broken model's would).
func failing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, `{"error_code":"INTERNAL_ERROR","message":"boom"}`, 500)
	})
}

func slow(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/ping" {
				time.Sleep(d)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// load sends predictions to an endpoint from a few clients until
// stopped, counting answers that were not 200 and who answered.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	by         map[string]int
	lastErr    atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, endpoint string, clients int) *load {
	t.Helper()
	l := &load{by: map[string]int{}, stop: make(chan struct{})}
	c := &http.Client{Timeout: 30 * time.Second}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Post(endpoint+"/invocations", "application/json", strings.NewReader(payloads[2].body))
				if err != nil {
					l.failed.Add(1)
					l.lastErr.Store(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.failed.Add(1)
					l.lastErr.Store(string(body))
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.by[resp.Header.Get(router.BackendHeader)]++
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) assertNoFailures(t *testing.T) {
	t.Helper()
	l.end()
	assert.Zero(t, l.failed.Load(), "failed client requests (last: %v)", l.lastErr.Load())
	assert.Greater(t, l.ok.Load(), int64(20))
	t.Logf("%d client requests, %d failed; answered by %v", l.ok.Load()+l.failed.Load(), l.failed.Load(), l.by)
}

// A plan sized for tests: the 5-point error margin needs about 55
// error-free candidate requests per stage.
func testPlan() Plan {
	return Plan{
		Stages:         []Stage{{Shadow: true, Requests: 60}, {Percent: 20, Requests: 60}, {Percent: 50, Requests: 60}},
		ErrorMarginPct: 5, LatencyMarginMs: 25, Patience: 20,
	}
}

func rampService(f fixture, l Launcher) *Service {
	return NewService(Config{Store: f.st, Registry: f.reg, Launcher: l, HealthInterval: 100 * time.Millisecond,
		RampTick: 50 * time.Millisecond, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond}})
}

func TestRampPromotesAGoodCandidate(t *testing.T) {
	f := newFixture(t)
	svc := rampService(f, NewProcessLauncher())
	t.Cleanup(svc.Close)
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)
	_, err = f.reg.SetAliases("fraud", map[string]int{"champion": 1, "challenger": 2})
	require.NoError(t, err)
	ld := startLoad(t, d.Endpoint, 4)

	r, err := svc.StartRamp(ctx, d.ID, "@challenger", testPlan())
	require.NoError(t, err)
	assert.Equal(t, 2, r.Candidate)
	assert.Equal(t, 1, r.Champion)
	_, err = svc.SetCanary(d.ID, "v2", 30)
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "no hand-made split while a ramp runs")
	_, err = svc.StartRamp(ctx, d.ID, "2", testPlan())
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "one ramp at a time")

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err = svc.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	ld.assertNoFailures(t)
	require.Equal(t, RampPromoted, r.State, "%s", r.Reason)
	require.Len(t, r.Stages, 3)
	for _, st := range r.Stages {
		assert.Equal(t, VerdictPass, st.Verdict, st.Reason)
		assert.GreaterOrEqual(t, st.Candidate.Requests, 60)
		assert.Zero(t, st.Candidate.Errors)
	}
	assert.True(t, r.Stages[0].Shadow)
	assert.Equal(t, 100.0, r.Share)

	m, err := f.reg.Get("fraud")
	require.NoError(t, err)
	assert.Equal(t, 2, m.Aliases["champion"])
	_, has := m.Aliases["challenger"]
	assert.False(t, has, "the promoted challenger is no longer @challenger")
	got, err := svc.Get(d.ID)
	require.NoError(t, err)
	assert.Equal(t, []router.Split{{Backend: "v2", Weight: 100}}, got.Traffic.Split)
	assert.Equal(t, 50, servedBy(t, d.Endpoint, "v2", 50))
	kinds := []string{}
	for _, e := range r.Events {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []string{"started", "stage", "passed", "stage", "passed", "stage", "passed", "promoted"}, kinds)
}

func TestRampRollsBackAFailingCandidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(http.Handler) http.Handler
		test  func(StageReport) string
		word  string
	}{
		{"errors", failing, func(s StageReport) string { return s.Errors.Verdict }, "Errors:"},
		{"slow", slow(120 * time.Millisecond), func(s StageReport) string { return s.Latency.Verdict }, "Latency:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			svc := rampService(f, &faultLauncher{ProcessLauncher: NewProcessLauncher(), t: t, fault: map[int]func(http.Handler) http.Handler{2: tc.fault}})
			t.Cleanup(svc.Close)
			ctx := t.Context()
			d, err := svc.Deploy(ctx, "fraud", "1", Options{})
			require.NoError(t, err)
			_, err = f.reg.SetAliases("fraud", map[string]int{"champion": 1})
			require.NoError(t, err)
			ld := startLoad(t, d.Endpoint, 4)
			plan := testPlan()
			plan.Stages = plan.Stages[1:] // live from the start
			r, err := svc.StartRamp(ctx, d.ID, "2", plan)
			require.NoError(t, err)
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			r, err = svc.WaitRamp(wctx, r.ID)
			require.NoError(t, err)
			ld.assertNoFailures(t)
			require.Equal(t, RampRolledBack, r.State)
			assert.Equal(t, VerdictFail, tc.test(r.Stages[len(r.Stages)-1]))
			assert.Contains(t, r.Reason, tc.word)
			t.Log(r.Reason)
			assert.Equal(t, 0.0, r.Share)
			m, _ := f.reg.Get("fraud")
			assert.Equal(t, 1, m.Aliases["champion"], "a rolled-back candidate is not promoted")
			assert.Equal(t, 30, servedBy(t, d.Endpoint, "v1", 30), "the champion has all traffic again")
		})
	}
}

func TestRampAbortByHand(t *testing.T) {
	f := newFixture(t)
	svc := rampService(f, NewProcessLauncher())
	t.Cleanup(svc.Close)
	d, err := svc.Deploy(t.Context(), "fraud", "1", Options{})
	require.NoError(t, err)
	r, err := svc.StartRamp(t.Context(), d.ID, "2", Plan{Stages: []Stage{{Percent: 10, Minutes: 60}}})
	require.NoError(t, err)
	active, ok := svc.ActiveRamp(d.ID)
	require.True(t, ok)
	assert.Equal(t, r.ID, active.ID)
	r, err = svc.AbortRamp(r.ID)
	require.NoError(t, err)
	assert.Equal(t, RampAborted, r.State)
	_, ok = svc.ActiveRamp(d.ID)
	assert.False(t, ok)
	got, _ := svc.Get(d.ID)
	assert.Equal(t, 100.0, got.Traffic.Split[0].Weight)
	assert.Equal(t, "v1", got.Traffic.Split[0].Backend)
	_, err = svc.AbortRamp(r.ID)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	list, err := svc.Ramps(d.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	// A ramp can start again once the last one ended.
	_, err = svc.StartRamp(t.Context(), d.ID, "2", Plan{Stages: []Stage{{Percent: 10, Minutes: 60}}})
	require.NoError(t, err)
	_, err = svc.StartRamp(t.Context(), "nope", "2", testPlan())
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

// A restart (the service closed and a new one opened on the same store)
// resumes the ramp at the stage it was in, with the evidence it had.
func TestRampResumesAfterRestart(t *testing.T) {
	f := newFixture(t)
	clock := core.NewManualClock(time.Unix(1_800_000_000, 0))
	cfg := func() Config {
		return Config{Store: f.st, Registry: f.reg, Launcher: NewProcessLauncher(), HealthInterval: 100 * time.Millisecond,
			RampTick: 50 * time.Millisecond, Clock: clock, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond}}
	}
	svc := NewService(cfg())
	d, err := svc.Deploy(t.Context(), "fraud", "1", Options{})
	require.NoError(t, err)
	plan := Plan{Stages: []Stage{{Percent: 30, Minutes: 10}, {Percent: 60, Minutes: 10}}, ErrorMarginPct: 5, LatencyMarginMs: 25}
	r, err := svc.StartRamp(t.Context(), d.ID, "2", plan)
	require.NoError(t, err)
	ld := startLoad(t, d.Endpoint, 2)
	clock.Advance(11 * time.Minute)
	require.Eventually(t, func() bool { got, _ := svc.Ramp(r.ID); return got.Stage == 1 }, 30*time.Second, 20*time.Millisecond)
	// Some evidence in stage 2, then the app stops.
	require.Eventually(t, func() bool { got, _ := svc.Ramp(r.ID); return got.Stages[1].Candidate.Requests > 30 }, 30*time.Second, 20*time.Millisecond)
	ld.end()
	svc.Close()
	before, err := svc.Ramp(r.ID)
	require.NoError(t, err)
	require.Equal(t, RampRunning, before.State)

	svc2 := NewService(cfg())
	t.Cleanup(svc2.Close)
	require.NoError(t, svc2.Start(t.Context()))
	after, err := svc2.Ramp(r.ID)
	require.NoError(t, err)
	assert.Equal(t, RampRunning, after.State)
	assert.Equal(t, 1, after.Stage, "resumed at the stage it was in")
	last := after.Events[len(after.Events)-1]
	assert.Equal(t, "resumed", last.Kind)
	assert.NotContains(t, last.Message, "with 0 candidate")
	got, _ := svc2.Get(d.ID)
	assert.Equal(t, 60.0, got.Traffic.Split[1].Weight, "the stage's split is in force again")

	d2, _ := svc2.Get(d.ID)
	ld2 := startLoad(t, d2.Endpoint, 2)
	clock.Advance(11 * time.Minute)
	wctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	final, err := svc2.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	ld2.assertNoFailures(t)
	assert.Equal(t, RampPromoted, final.State, final.Reason)
	assert.Len(t, final.Stages, 2, "no stage ran twice")
}

func TestPlanValidation(t *testing.T) {
	for _, c := range []struct {
		plan Plan
		want string
	}{
		{Plan{}, "no stages"},
		{Plan{Stages: []Stage{{Percent: 100, Minutes: 1}}}, "no champion traffic is left"},
		{Plan{Stages: []Stage{{Percent: 0, Minutes: 1}}}, "needs a share above 0"},
		{Plan{Stages: []Stage{{Percent: 25, Minutes: 1}, {Percent: 10, Minutes: 1}}}, "Stage 2 gives the candidate 10 %, not more than stage 1 (25 %)"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}, {Shadow: true, Minutes: 1}}}, "Stage 2 is a shadow stage after a live one"},
		{Plan{Stages: []Stage{{Shadow: true, Percent: 5, Minutes: 1}}}, "only copies requests"},
		{Plan{Stages: []Stage{{Percent: 5}}}, "Stage 1 has no hold"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: -1}}}, "not a duration"},
		{Plan{Stages: []Stage{{Percent: 5, Requests: -3}}}, "negative"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, Alpha: 0.7}, "significance level 0.7"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, Patience: 0.5}, "patience"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, ErrorMarginPct: -1}, "error margin"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, AccuracyMarginPct: 101}, "accuracy margin of 101 percentage points"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, AccuracyMarginPct: math.NaN()}, "accuracy margin"},
		{Plan{Stages: []Stage{{Percent: 5, Minutes: 1}}, MinLabelled: -1}, "labelled answers a stage needs (-1) cannot be negative"},
	} {
		err := c.plan.WithDefaults().Validate()
		require.Error(t, err, "%+v", c.plan)
		assert.Equal(t, core.Invalid, core.ErrorCode(err))
		assert.Contains(t, core.ErrorMessage(err), c.want)
	}
	require.NoError(t, DefaultPlan().Validate())
}

// Once labels arrive, the watch also compares realised accuracy per
// stage: a candidate that answers without errors and as fast, but wrong
// far more often than the champion on the labelled answers, is rolled
// back naming the test; one as right as the champion is promoted with
// the comparison on every live stage's report, and labels never wait
// for (a stage with none passes on errors and latency).
func TestRampWatchesRealisedAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		n, candWrong, champWrg int
		want                   string
		minLabelled            int
	}{
		{"worse", 100, 45, 5, RampRolledBack, 0},
		{"as good", 2000, 100, 110, RampPromoted, 0},
		{"no labels", 0, -1, -1, RampPromoted, 0},
		// A plan that asks for labels: a stage without them never
		// passes on errors and latency alone, and is rolled back when its
		// patience runs out; with enough of them it passes.
		{"labels needed, none come", 0, -1, -1, RampRolledBack, 30},
		{"labels needed, too few", 20, 1, 1, RampRolledBack, 30},
		{"labels needed and there", 2000, 100, 110, RampPromoted, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var asked atomic.Int32
			cfg := Config{Store: f.st, Registry: f.reg, Launcher: NewProcessLauncher(), HealthInterval: 100 * time.Millisecond,
				RampTick: 50 * time.Millisecond, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond},
				Realised: func(dep string, since time.Time) (map[string]int, map[string]int, error) {
					asked.Add(1)
					if tc.candWrong < 0 || since.IsZero() {
						return nil, nil, nil
					}
					return map[string]int{"v2": tc.n, "v1": tc.n}, map[string]int{"v2": tc.candWrong, "v1": tc.champWrg}, nil
				}}
			svc := NewService(cfg)
			t.Cleanup(svc.Close)
			ctx := t.Context()
			d, err := svc.Deploy(ctx, "fraud", "1", Options{})
			require.NoError(t, err)
			ld := startLoad(t, d.Endpoint, 4)
			plan := testPlan()
			plan.MinLabelled = tc.minLabelled
			if tc.minLabelled > 0 {
				plan.Patience = 2
			}
			r, err := svc.StartRamp(ctx, d.ID, "2", plan)
			require.NoError(t, err)
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			r, err = svc.WaitRamp(wctx, r.ID)
			require.NoError(t, err)
			ld.assertNoFailures(t)
			assert.Positive(t, asked.Load())
			require.Equal(t, tc.want, r.State, r.Reason)
			switch tc.name {
			case "worse":
				assert.Contains(t, r.Reason, "Realised accuracy: candidate wrong on 45 of 100 labelled answers (45.00 %), champion on 5 of 100 (5.00 %); the candidate is wrong more often (Fisher's exact test p = ")
				assert.Nil(t, r.Stages[0].Realised, "a shadow stage's answers reach no one: not judged on labels")
			case "as good":
				for _, st := range r.Stages[1:] {
					require.NotNil(t, st.Realised)
					assert.Equal(t, VerdictPass, st.Realised.Verdict, st.Realised.Reason)
				}
			case "no labels":
				for _, st := range r.Stages {
					assert.Nil(t, st.Realised)
				}
			case "labels needed, none come":
				assert.Contains(t, r.Reason, "Stage 2 (20 %) was held 2 times its hold without enough evidence either way")
				assert.Contains(t, r.Reason, "Waiting for labels: 0 of the candidate's answers in this stage have one, 30 are needed before it can pass.")
			case "labels needed, too few":
				assert.Contains(t, r.Reason, "Waiting for labels: 20 of the candidate's answers in this stage have one, 30 are needed")
			case "labels needed and there":
				for _, st := range r.Stages[1:] {
					require.NotNil(t, st.Realised)
					assert.Equal(t, VerdictPass, st.Verdict, st.Reason)
				}
			}
		})
	}
}
