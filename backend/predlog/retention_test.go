package predlog

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/diskspace"
	"github.com/tern-studio/tern/backend/store"
)

var retentionNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// fillLog writes n records per deployment through the real writer: "old"
// one every 15 minutes back over ~31 days, "new" one a second over the
// last hour; each carries a 2 kB request. It returns the records by
// deployment, oldest first.
func fillLog(t *testing.T, st *store.Store, n int) map[string][]Record {
	t.Helper()
	l := New(st, Options{BatchSize: 500})
	body := []byte(`{"inputs":"` + strings.Repeat("x", 2000) + `"}`)
	out := map[string][]Record{}
	for i := 0; i < n; i++ {
		for _, dep := range []string{"old", "new"} {
			step := 15 * time.Minute
			if dep == "new" {
				step = time.Second
			}
			r := Record{Deployment: dep, Backend: "v1", Time: retentionNow.Add(-time.Duration(n-i) * step).UnixNano(), Status: 200,
				Path: "/invocations", RequestID: fmt.Sprintf("%s-%d", dep, i), Request: body, Response: []byte(`{"predictions":[1]}`)}
			for !l.Enqueue(r) {
				time.Sleep(time.Millisecond)
			}
			out[dep] = append(out[dep], r)
		}
	}
	l.Close()
	return out
}

// openSmall opens a store whose Badger keeps small memtables and tables,
// so a few megabytes of log spread over several LSM levels as gigabytes
// do in a real data folder (store.Open's 64 MB memtable would keep this
// test's log in level 0, where no compaction ever runs).
func openSmall(t *testing.T, dir string) *store.Store {
	t.Helper()
	bo := badger.DefaultOptions(filepath.Join(dir, "db")).WithLogger(nil).WithNumVersionsToKeep(1).
		WithMemTableSize(256 << 10).WithBaseTableSize(128 << 10).WithBaseLevelSize(512 << 10).
		WithNumLevelZeroTables(2).WithNumLevelZeroTablesStall(4).WithValueLogFileSize(4 << 20).WithValueThreshold(1 << 10)
	db, err := badger.Open(bo)
	require.NoError(t, err)
	st := &store.Store{DB: db, Dir: dir}
	t.Cleanup(func() { db.Close() })
	return st
}

// reopen closes and opens the store again, as a restart does (Badger
// flushes its memtable on close).
func reopen(t *testing.T, st *store.Store) *store.Store {
	t.Helper()
	require.NoError(t, st.DB.Close())
	return openSmall(t, st.Dir)
}

func recSize(r Record) int64 {
	return int64(len(logKey(r.Deployment, r.Time, 1)) + len(encodeRecord(r)))
}

// The dry run says what a run deletes and changes nothing; the run deletes
// exactly that (records and their request-ID index entries), the count
// drops, and the data folder's size on disk really drops.
func TestRetentionPreviewThenRunFreesSpace(t *testing.T) {
	dir := t.TempDir()
	st := openSmall(t, dir)
	recs := fillLog(t, st, 3000)
	st = reopen(t, st)
	alog, err := audit.Open(st)
	require.NoError(t, err)

	// What the policy should delete, worked out from what was written.
	cutoff := retentionNow.Add(-10 * 24 * time.Hour).UnixNano()
	var wantOld int64
	for _, r := range recs["old"] {
		if r.Time < cutoff {
			wantOld++
		}
	}
	var total int64
	for _, r := range recs["new"] {
		total += recSize(r)
	}
	keep := total / 2
	var wantNew, kept int64
	for i := len(recs["new"]) - 1; i >= 0; i-- {
		s := recSize(recs["new"][i])
		if kept+s > keep {
			wantNew = int64(i + 1)
			break
		}
		kept += s
	}
	require.Positive(t, wantOld)
	require.Positive(t, wantNew)

	rt := NewRetention(st)
	rt.now = func() time.Time { return retentionNow }
	rt.BatchSize = 700
	p := Policy{Global: Limit{KeepDays: 10}, PerDeployment: map[string]Limit{"new": {KeepBytes: keep}}}
	est, err := rt.Preview(t.Context(), p)
	require.NoError(t, err)
	require.Len(t, est.Deployments, 2)
	byDep := map[string]DeploymentEstimate{}
	for _, d := range est.Deployments {
		byDep[d.Deployment] = d
	}
	assert.Equal(t, int64(3000), byDep["old"].Records)
	assert.Equal(t, wantOld, byDep["old"].DeleteRecords)
	assert.Equal(t, wantNew, byDep["new"].DeleteRecords)
	assert.Equal(t, total, byDep["new"].Bytes)
	assert.Equal(t, est.DeleteRecords, wantOld+wantNew)
	assert.Greater(t, est.DeleteBytes, int64(2000)*(wantOld+wantNew), "each record is over 2 kB")
	n, err := Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 3000, n, "the dry run deleted nothing")

	_, err = rt.SetPolicy(p)
	require.NoError(t, err)
	diskBefore := diskspace.Allocated(filepath.Join(dir, "db"))
	job, err := rt.Start(t.Context(), StartOptions{})
	require.NoError(t, err)
	assert.Equal(t, "running", job.State)
	rt.Wait()
	s, err := rt.Status()
	require.NoError(t, err)
	require.NotNil(t, s.Last)
	assert.Equal(t, "done", s.Last.State, s.Last.Error)
	assert.Equal(t, wantOld+wantNew, s.Last.Deleted)
	assert.Equal(t, wantOld+wantNew, s.Policy.LastDeleted)

	n, err = Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 3000-int(wantOld), n)
	n, err = Count(st, "new")
	require.NoError(t, err)
	assert.Equal(t, 3000-int(wantNew), n)
	// The request-ID index lost exactly the deleted records' entries.
	found, err := LookupRequests(st, "old", []string{recs["old"][0].RequestID, recs["old"][2999].RequestID})
	require.NoError(t, err)
	assert.NotContains(t, found, recs["old"][0].RequestID)
	assert.Contains(t, found, recs["old"][2999].RequestID)

	recsAudit, err := alog.List(audit.Query{Limit: 10})
	require.NoError(t, err)
	var acts []string
	for _, r := range recsAudit {
		acts = append([]string{r.Action}, acts...)
	}
	assert.Equal(t, []string{"prediction_log.retention_policy", "prediction_log.retention.start", "prediction_log.retention"}, acts)
	require.NoError(t, alog.Close())

	t.Logf("right after the run: disk %d → %d bytes", s.Last.DiskBefore, s.Last.DiskAfter)
	// The tombstones of this small run are still in the memtable; a
	// restart flushes it and the start-up reclaim drops the records.
	st = reopen(t, st)
	rt2 := NewRetention(st)
	pending, err := rt2.ReclaimPending()
	require.NoError(t, err)
	assert.True(t, pending)
	pending, err = rt2.ReclaimPending()
	require.NoError(t, err)
	assert.False(t, pending, "done once")
	n, err = Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 3000-int(wantOld), n)
	diskAfter := diskspace.Allocated(filepath.Join(dir, "db"))
	freed := diskBefore - diskAfter
	t.Logf("deleted %d records (%d bytes as stored); disk %d → %d bytes", wantOld+wantNew, est.DeleteBytes, diskBefore, diskAfter)
	// Badger compresses its tables, so the disk drops by the deleted
	// share of the log rather than by the bytes as stored.
	share := float64(est.DeleteBytes) / float64(est.Bytes)
	assert.Greater(t, float64(freed), 0.8*share*float64(diskBefore), "the space comes back on disk, not just in the count")

}

// Cancel stops a run between batches; what was deleted stays deleted and
// the job says so. A second run while one runs is refused.
func TestRetentionCancelAndSchedule(t *testing.T) {
	st := store.MustOpen(t)
	fillLog(t, st, 3000)
	rt := NewRetention(st)
	rt.now = func() time.Time { return retentionNow }
	rt.BatchSize = 50
	_, err := rt.SetPolicy(Policy{Global: Limit{KeepDays: 1}})
	require.NoError(t, err)
	job, err := rt.Start(t.Context(), StartOptions{})
	require.NoError(t, err)
	_, err = rt.Start(t.Context(), StartOptions{})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	require.Eventually(t, func() bool {
		s, _ := rt.Status()
		return s.Running == nil || s.Running.Done > 0
	}, 10*time.Second, time.Millisecond)
	assert.True(t, rt.Cancel(job.ID))
	rt.Wait()
	s, err := rt.Status()
	require.NoError(t, err)
	require.NotNil(t, s.Last)
	assert.Equal(t, "cancelled", s.Last.State)
	assert.Contains(t, s.Last.Error, "stay deleted")
	n, err := Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 3000-int(s.Last.Deleted), n)
	assert.Less(t, s.Last.Deleted, int64(2900), "stopped before the end")

	// The schedule: due once the interval has passed since the last run.
	p, err := rt.Policy()
	require.NoError(t, err)
	p.EveryHours = 24
	_, err = rt.SetPolicy(p)
	require.NoError(t, err)
	assert.False(t, rt.Due(), "the cancelled run just ended")
	rt.now = func() time.Time { return retentionNow.Add(25 * time.Hour) }
	assert.True(t, rt.Due())
	rt.Wait()
	s, _ = rt.Status()
	assert.Equal(t, "schedule", s.Last.Trigger)
	assert.Equal(t, "done", s.Last.State)

	_, err = rt.SetPolicy(Policy{Global: Limit{KeepDays: -1}})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

// What a monitor's window or labels still read is kept, counted apart and
// attributed in the dry run; a run keeps it and says so; only a run
// started with DeleteNeeded takes it, and then says how much of what it
// removed was needed.
func TestRetentionKeepsWhatMonitorsAndLabelsNeed(t *testing.T) {
	st := store.MustOpen(t)
	alog, err := audit.Open(st)
	require.NoError(t, err)
	defer alog.Close()
	recs := fillLog(t, st, 1000)
	rt := NewRetention(st)
	rt.now = func() time.Time { return retentionNow }
	rt.BatchSize = 64
	// "old": one record every 15 minutes; keeping 1 day keeps the newest
	// 96 (i >= 904) and removes 904. A monitor reads the newest 300
	// (i >= 700): 204 of those stay. Labels on old-5, old-10, old-500
	// (removed by the limit) and old-999 (kept anyway): 3 more stay.
	// "new": one a second; keeping 10 records' bytes removes 990; a
	// monitor reading the last 500 s (i >= 500) keeps 490 of them.
	window := Need{Deployment: "old", What: `monitor "fraud" (last 300 requests)`, LastN: 300}
	labels := Need{Deployment: "old", What: "labels", RequestIDs: []string{"old-5", "old-10", "old-500", "old-999", "never-served"}}
	recent := Need{Deployment: "new", What: `monitor "latency" (last 8m20s)`, Since: retentionNow.Add(-500 * time.Second).UnixNano()}
	rt.Needs = func() ([]Need, error) { return []Need{window, labels, recent}, nil }
	p := Policy{Global: Limit{KeepDays: 1}, PerDeployment: map[string]Limit{"new": {KeepBytes: 10 * recSize(recs["new"][999])}}}
	_, err = rt.SetPolicy(p)
	require.NoError(t, err)

	est, err := rt.Preview(t.Context(), p)
	require.NoError(t, err)
	byDep := map[string]DeploymentEstimate{}
	for _, d := range est.Deployments {
		byDep[d.Deployment] = d
	}
	old, nw := byDep["old"], byDep["new"]
	assert.Equal(t, int64(904-207), old.DeleteRecords)
	assert.Equal(t, int64(207), old.NeededRecords)
	assert.Equal(t, []NeedCount{{What: window.What, Records: 204}, {What: "labels", Records: 3}}, old.Needs)
	assert.Equal(t, int64(500), nw.DeleteRecords)
	assert.Equal(t, int64(490), nw.NeededRecords)
	assert.Equal(t, []NeedCount{{What: recent.What, Records: 490}}, nw.Needs)
	assert.Equal(t, int64(697+500), est.DeleteRecords)
	assert.Equal(t, int64(207+490), est.NeededRecords)

	_, err = rt.Start(t.Context(), StartOptions{})
	require.NoError(t, err)
	rt.Wait()
	s, err := rt.Status()
	require.NoError(t, err)
	require.Equal(t, "done", s.Last.State, s.Last.Error)
	assert.Equal(t, int64(1197), s.Last.Deleted)
	assert.Equal(t, int64(697), s.Last.Kept)
	assert.Equal(t, []Removed{{Deployment: "new", Records: 500, Bytes: nw.DeleteBytes}, {Deployment: "old", Records: 697, Bytes: old.DeleteBytes}}, s.Last.Removed)
	n, err := Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 96+207, n)
	n, err = Count(st, "new")
	require.NoError(t, err)
	assert.Equal(t, 10+490, n)
	found, err := LookupRequests(st, "old", []string{"old-5", "old-10", "old-500", "old-699", "old-700"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"old-5", "old-10", "old-500", "old-700"}, keysOf(found), "labelled and windowed records stay; old-699 went")
	// The newest 300 are what the monitor's window reads, all still there.
	got, err := Read(st, "old", 300)
	require.NoError(t, err)
	assert.Equal(t, "old-700", got[299].RequestID)

	// A second safe run finds nothing more to take.
	est, err = rt.Preview(t.Context(), p)
	require.NoError(t, err)
	assert.Zero(t, est.DeleteRecords)
	assert.Equal(t, int64(697), est.NeededRecords)

	// The person chose to delete what is needed too.
	_, err = rt.Start(t.Context(), StartOptions{DeleteNeeded: true})
	require.NoError(t, err)
	rt.Wait()
	s, err = rt.Status()
	require.NoError(t, err)
	require.Equal(t, "done", s.Last.State, s.Last.Error)
	assert.Equal(t, int64(697), s.Last.Deleted)
	assert.Zero(t, s.Last.Kept)
	assert.Equal(t, []Removed{{Deployment: "new", Records: 490, Bytes: nw.NeededBytes, Needed: 490}, {Deployment: "old", Records: 207, Bytes: old.NeededBytes, Needed: 207}}, s.Last.Removed)
	n, err = Count(st, "old")
	require.NoError(t, err)
	assert.Equal(t, 96, n)
	found, err = LookupRequests(st, "old", []string{"old-5", "old-999"})
	require.NoError(t, err)
	assert.Equal(t, []string{"old-999"}, keysOf(found))

	// The audit trail says what each run removed and kept, and who chose.
	list, err := alog.List(audit.Query{Limit: 10})
	require.NoError(t, err)
	var trail []string
	for _, r := range list {
		if strings.HasPrefix(r.Action, "prediction_log.retention") {
			trail = append([]string{r.Action + " " + r.After}, trail...)
		}
	}
	require.Len(t, trail, 5)
	assert.Contains(t, trail[2], "old: 697 records")
	assert.Contains(t, trail[2], "kept 697 records monitors or labels still need")
	assert.Contains(t, trail[3], "also what monitors and labels still need (chosen when starting)")
	assert.Contains(t, trail[4], "old: 207 records")
	assert.Contains(t, trail[4], "207 of them needed by monitors or labels")

	// Not knowing what is needed, retention deletes nothing.
	rt.Needs = func() ([]Need, error) { return nil, core.Errorf(core.Internal, "disk on fire") }
	_, err = rt.Preview(t.Context(), p)
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "deletes nothing")
}

func keysOf(m map[string]Record) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
