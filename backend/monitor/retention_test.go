package monitor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// Retention wired to real monitors and labels: a run keeps the monitor's
// window and the labelled requests — the window reads as many requests
// after it as before, realised performance matches every label — and
// only a run started with DeleteNeeded takes them.
func TestRetentionKeepsMonitorWindowsAndLabels(t *testing.T) {
	st := store.MustOpen(t)
	// Retention reads the wall clock: the log ends now. 200 requests, one
	// every 30 minutes up to t0: keeping 1 day keeps the newest 48
	// (i >= 152); the monitor reads the newest 100 (i >= 100).
	t0 := time.Now()
	clock := core.NewManualClock(t0)
	plog := predlog.New(st, predlog.Options{})
	for i := range 200 {
		plog.Enqueue(predlog.Record{Deployment: "dep1", Backend: "v1", Time: t0.Add(-time.Duration(199-i) * 30 * time.Minute).UnixNano(),
			Status: 200, Path: "/invocations", RequestID: fmt.Sprintf("r%d", i),
			Request: []byte(fmt.Sprintf(`{"instances":[[%d]]}`, i)), Response: []byte(`{"predictions":[1]}`)})
	}
	plog.Close()

	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Logs: ServingLog{Store: st}, Clock: clock})
	prof, err := svc.FreezeProfile([]drift.Column{{Name: "f0", Kind: drift.Numeric, Num: normal(4, 500, 0)}})
	require.NoError(t, err)
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "fraud", Kind: KindDeployment, Deployment: "dep1", ProfileID: prof, Window: Window{LastN: 100}})
	require.NoError(t, err)
	// Labels for three old requests the day limit would remove.
	res, err := svc.IngestLabels(t.Context(), m.ID, []byte("request_id,label\nr0,1\nr1,1\nr2,0\n"), LabelOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, res.Performance.Matched)

	needs, err := svc.RetentionNeeds()
	require.NoError(t, err)
	require.Len(t, needs, 2)
	assert.Equal(t, predlog.Need{Deployment: "dep1", What: `monitor "fraud" (last 100 requests)`, LastN: 100}, needs[0])
	assert.Equal(t, []string{"r0", "r1", "r2"}, needs[1].RequestIDs)
	assert.Contains(t, needs[1].What, "3 labelled requests")

	src := PredictionLog{Log: ServingLog{Store: st}, Deployment: "dep1", Clock: clock}
	window := func() int {
		s, err := src.Current(t.Context(), m.Window)
		require.NoError(t, err)
		return s.Ops.Requests
	}
	require.Equal(t, 100, window())

	rt := predlog.NewRetention(st)
	rt.Needs = svc.RetentionNeeds
	_, err = rt.SetPolicy(predlog.Policy{Global: predlog.Limit{KeepDays: 1}})
	require.NoError(t, err)
	policy := predlog.Policy{Global: predlog.Limit{KeepDays: 1}}
	est, err := rt.Preview(t.Context(), policy)
	require.NoError(t, err)
	require.Len(t, est.Deployments, 1)
	d := est.Deployments[0]
	assert.Equal(t, int64(200), d.Records)
	assert.Equal(t, int64(152-52-3), d.DeleteRecords)
	assert.Equal(t, int64(52+3), d.NeededRecords)
	assert.Equal(t, []predlog.NeedCount{{What: needs[0].What, Records: 52}, {What: needs[1].What, Records: 3}}, d.Needs)

	_, err = rt.Start(t.Context(), predlog.StartOptions{})
	require.NoError(t, err)
	rt.Wait()
	rs, err := rt.Status()
	require.NoError(t, err)
	require.Equal(t, "done", rs.Last.State, rs.Last.Error)
	assert.Equal(t, int64(97), rs.Last.Deleted)
	assert.Equal(t, int64(55), rs.Last.Kept)
	n, err := predlog.Count(st, "dep1")
	require.NoError(t, err)
	assert.Equal(t, 200-97, n)
	assert.Equal(t, 100, window(), "the monitor's window is whole")
	res, err = svc.IngestLabels(t.Context(), m.ID, []byte("request_id,label\nr199,1\n"), LabelOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, res.Performance.Matched, "every label still finds its prediction")

	// The person chose to delete what the monitor and labels need.
	_, err = rt.Start(t.Context(), predlog.StartOptions{DeleteNeeded: true})
	require.NoError(t, err)
	rt.Wait()
	rs, err = rt.Status()
	require.NoError(t, err)
	require.Equal(t, "done", rs.Last.State, rs.Last.Error)
	assert.Equal(t, []predlog.Removed{{Deployment: "dep1", Records: 55, Bytes: d.NeededBytes, Needed: 55}}, rs.Last.Removed)
	assert.Equal(t, 48, window())
	res, err = svc.IngestLabels(t.Context(), m.ID, []byte("request_id,label\nr198,1\n"), LabelOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Performance.Matched, "r0-r2 lost their predictions; r198 and r199 keep theirs")
}
