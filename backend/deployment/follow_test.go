package deployment

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/predlog"
)

// followService is a ramp service on the registry's bus, started (the
// follower runs from Start). Its routers probe health every 500 ms, as
// Tern does: with 100 ms probes a loaded 2-core machine misses two in a
// row and takes every version out of rotation at once.
func followService(t *testing.T, f fixture, l Launcher) *Service {
	t.Helper()
	svc := NewService(Config{Store: f.st, Registry: f.reg, Launcher: l, Bus: f.bus, HealthInterval: 500 * time.Millisecond,
		RampTick: 50 * time.Millisecond, LogOptions: predlog.Options{FlushEvery: 10 * time.Millisecond}})
	require.NoError(t, svc.Start(t.Context()))
	return svc
}

// followPlan ramps in two live stages of 60 candidate requests.
func followPlan() Plan {
	p := testPlan()
	p.Stages = []Stage{{Percent: 20, Requests: 60}, {Percent: 50, Requests: 60}}
	return p
}

// waitActive waits for the follower to start a ramp on a deployment.
func waitActive(t *testing.T, svc *Service, dep string) Ramp {
	t.Helper()
	var r Ramp
	require.Eventually(t, func() bool {
		var ok bool
		r, ok = svc.ActiveRamp(dep)
		return ok
	}, 30*time.Second, 20*time.Millisecond, "no ramp started")
	return r
}

func moveAlias(t *testing.T, f fixture, alias string, v int) {
	t.Helper()
	_, err := f.reg.SetAliases("fraud", map[string]int{alias: v})
	require.NoError(t, err)
}

// followAndRamp checks the whole follow: the alias moves, a ramp starts
// on its own, the candidate is promoted, no client request fails; then
// the alias moves back during a second ramp, which is aborted, and the
// first version keeps all traffic.
func followAndRamp(t *testing.T, f fixture, svc *Service) Deployment {
	t.Helper()
	ctx := t.Context()
	moveAlias(t, f, "champion", 1)
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Delete(context.Background(), d.ID) })
	d, err = svc.SetFollow(d.ID, &Follow{Alias: "@champion", Plan: followPlan()})
	require.NoError(t, err)
	require.Equal(t, 1, d.Follow.Acted)
	require.Equal(t, StrategyRamp, d.Follow.Strategy)
	ld := startLoad(t, d.Endpoint, 4)

	// The alias moves by hand: a ramp of v2 starts, and promotes it.
	moveAlias(t, f, "champion", 2)
	r := waitActive(t, svc, d.ID)
	assert.Equal(t, 2, r.Candidate)
	assert.Equal(t, 1, r.Champion)
	assert.Equal(t, "champion", r.Follow)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r, err = svc.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, RampPromoted, r.State, r.Reason)
	require.Eventually(t, func() bool {
		g, _ := svc.Get(d.ID)
		return g.Follow.Acted == 2 && strings.Contains(g.Follow.Note, "takes all traffic")
	}, 10*time.Second, 20*time.Millisecond)
	g, _ := svc.Get(d.ID)
	assert.Equal(t, 2, servingVersion(g))
	m, err := f.reg.Get("fraud")
	require.NoError(t, err)
	assert.Equal(t, 2, m.Aliases["champion"], "the alias stays where it was moved")

	// A slow plan, so the ramp is still running when the alias moves back.
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Plan: Plan{Stages: []Stage{{Percent: 10, Minutes: 60}}}})
	require.NoError(t, err)
	moveAlias(t, f, "champion", 1)
	r = waitActive(t, svc, d.ID)
	assert.Equal(t, 1, r.Candidate)
	moveAlias(t, f, "champion", 2)
	r, err = svc.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, RampAborted, r.State)
	assert.Contains(t, r.Reason, "@champion moved to v2")
	if a, still := svc.ActiveRamp(d.ID); still {
		g, _ := svc.Get(d.ID)
		t.Fatalf("moving the alias back to the serving version starts nothing; started %+v\nevents %v\nfollow %+v", a.Candidate, a.Events, g.Follow)
	}
	g, _ = svc.Get(d.ID)
	assert.Equal(t, 2, servingVersion(g))
	assert.Equal(t, 100.0, g.Traffic.Split[0].Weight+g.Traffic.Split[1].Weight)
	assert.Equal(t, "", g.Traffic.Fallback, "the ramp's fallback is gone with it")
	ld.assertNoFailures(t)
	assert.Equal(t, 40, servedBy(t, d.Endpoint, "v2", 40))

	// The abort is the follower's doing, recorded once.
	recs := auditRecords(t, f)
	n := 0
	for _, rec := range recs {
		if rec.Action == "deployment.ramp_abort" {
			n++
			assert.Equal(t, audit.Tern, rec.Face)
			assert.Equal(t, "alias follower", rec.Who)
		}
	}
	assert.Equal(t, 1, n)
	return d
}

func auditRecords(t *testing.T, f fixture) []audit.Record {
	t.Helper()
	l, err := audit.Open(f.st)
	require.NoError(t, err)
	defer l.Close()
	recs, err := l.List(audit.Query{Limit: 10000})
	require.NoError(t, err)
	return recs
}

func TestFollowRampsWhenTheAliasMoves(t *testing.T) {
	f := newFixture(t)
	svc := followService(t, f, NewProcessLauncher())
	t.Cleanup(svc.Close)
	followAndRamp(t, f, svc)
}

// A move made while Tern was down is noticed at the next start.
func TestFollowNoticesAMoveMadeWhileClosed(t *testing.T) {
	f := newFixture(t)
	svc := followService(t, f, NewProcessLauncher())
	moveAlias(t, f, "champion", 1)
	d, err := svc.Deploy(t.Context(), "fraud", "1", Options{})
	require.NoError(t, err)
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Plan: followPlan()})
	require.NoError(t, err)
	svc.Close()

	moveAlias(t, f, "champion", 2) // nobody is listening

	svc2 := followService(t, f, NewProcessLauncher())
	t.Cleanup(svc2.Close)
	d, err = svc2.Get(d.ID)
	require.NoError(t, err)
	ld := startLoad(t, d.Endpoint, 4)
	r := waitActive(t, svc2, d.ID)
	assert.Equal(t, 2, r.Candidate)
	wctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r, err = svc2.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, RampPromoted, r.State, r.Reason)
	ld.assertNoFailures(t)
}

// The switch strategy moves all traffic at once, only when chosen; a
// ramp that fails leaves the alias alone and is not tried again until
// the alias moves again.
func TestFollowSwitchAndFailedRamp(t *testing.T) {
	f := newFixture(t)
	svc := followService(t, f, &faultLauncher{ProcessLauncher: NewProcessLauncher(), t: t, fault: map[int]func(http.Handler) http.Handler{2: failing}})
	t.Cleanup(svc.Close)
	moveAlias(t, f, "champion", 1)
	d, err := svc.Deploy(t.Context(), "fraud", "1", Options{})
	require.NoError(t, err)

	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Strategy: "gradual"})
	require.ErrorContains(t, err, "unknown")
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "Champion!"})
	require.ErrorContains(t, err, "not one a model can have")
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Plan: Plan{Stages: []Stage{{Percent: 100, Requests: 10}}}})
	require.ErrorContains(t, err, "Stage 1")

	// A ramp of the failing v2 is rolled back; the follower says so and
	// does not start it again.
	ld := startLoad(t, d.Endpoint, 4)
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Plan: followPlan()})
	require.NoError(t, err)
	moveAlias(t, f, "champion", 2)
	r := waitActive(t, svc, d.ID)
	wctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r, err = svc.WaitRamp(wctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, RampRolledBack, r.State)
	require.Eventually(t, func() bool {
		g, _ := svc.Get(d.ID)
		return g.Follow != nil && g.Follow.Acted == 2 && strings.Contains(g.Follow.Note, "rolled back")
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(3 * followEvery)
	_, again := svc.ActiveRamp(d.ID)
	assert.False(t, again, "a failed candidate is not ramped again until the alias moves")
	ramps, _ := svc.Ramps(d.ID)
	assert.Len(t, ramps, 1)
	ld.assertNoFailures(t)

	// Switch: the alias moves back, and v1 takes all traffic at once.
	d, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Strategy: StrategySwitch})
	require.NoError(t, err)
	moveAlias(t, f, "champion", 1)
	require.Eventually(t, func() bool { g, _ := svc.Get(d.ID); return servingVersion(g) == 1 && g.Follow.Acted == 1 }, 10*time.Second, 20*time.Millisecond)
	ramps, _ = svc.Ramps(d.ID)
	assert.Len(t, ramps, 1, "a switch is no ramp")
	assert.Equal(t, 20, servedBy(t, d.Endpoint, "v1", 20))

	// Following nothing: the alias moves and nothing happens.
	_, err = svc.SetFollow(d.ID, nil)
	require.NoError(t, err)
	moveAlias(t, f, "champion", 2)
	time.Sleep(2 * followEvery)
	g, _ := svc.Get(d.ID)
	assert.Equal(t, 1, servingVersion(g))
}
