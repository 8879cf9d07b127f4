package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
)

func TestScheduleRunsKeepsAndRecords(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	src.importCSV(t, "a", 100)
	clock := core.NewManualClock(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	svc := NewService(src.source(), clock)
	ctx := context.Background()

	assert.False(t, svc.Tick(ctx), "no schedule, no backup")
	folder := t.TempDir()
	_, err := svc.SetSchedule(Schedule{EveryHours: 6, Keep: 2, Folder: "relative"})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = svc.SetSchedule(Schedule{EveryHours: 6, Keep: 2, Folder: folder})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("mine"), 0o600))

	for i := 0; i < 3; i++ {
		require.True(t, svc.Tick(ctx), "backup %d is due", i)
		svc.Wait()
		st, err := svc.Status()
		require.NoError(t, err)
		require.Nil(t, st.Current)
		require.Equal(t, Done, st.Last.State, st.Last.Error)
		assert.Equal(t, "schedule", st.Last.Trigger)
		assert.Equal(t, 1, st.Last.Result.Blobs)
		assert.Equal(t, st.Last.Target, st.Schedule.LastPath)
		assert.Equal(t, clock.Now().Add(6*time.Hour), st.NextRun)
		assert.False(t, svc.Tick(ctx), "not due again until six hours pass")
		clock.Advance(6 * time.Hour)
	}
	ents, _ := os.ReadDir(folder)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"notes.txt", "tern-backup-20261204-160000.tar", "tern-backup-20261204-220000.tar"}, names,
		"the two newest backups are kept, and nothing else in the folder is touched")

	// The last backup restores through the service, and says what it restored.
	st, _ := svc.Status()
	dst := filepath.Join(t.TempDir(), "restored")
	_, err = svc.StartRestore(ctx, st.Schedule.LastPath, dst)
	require.NoError(t, err)
	svc.Wait()
	st, _ = svc.Status()
	require.Equal(t, Done, st.Last.State, st.Last.Error)
	assert.Equal(t, "restore", st.Last.Kind)
	assert.Equal(t, 1, st.Last.Result.Blobs)
	assert.DirExists(t, filepath.Join(dst, "db"))

	_, err = svc.StartRestore(ctx, st.Schedule.LastPath, filepath.Join(src.dir, "inside"))
	assert.Contains(t, core.ErrorMessage(err), "outside the data folder")

	// The schedule change and each backup left one audit record.
	trail, err := audit.Open(src.st)
	require.NoError(t, err)
	defer trail.Close()
	recs, err := trail.List(audit.Query{Action: "setting.backup_schedule"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "never, keep 0, to the default folder", recs[0].Before)
	assert.Contains(t, recs[0].After, "every 6 h, keep 2, to "+folder)
	recs, err = trail.List(audit.Query{Action: "backup"})
	require.NoError(t, err)
	actions := map[string]int{}
	for _, r := range recs {
		actions[r.Action]++
		if r.Action == "backup.write" {
			assert.Contains(t, r.After, "stored files")
			assert.Equal(t, audit.Tern, r.Face, "how a job ended is Tern's bookkeeping")
			assert.Contains(t, r.Who, "backup ")
		}
	}
	assert.Equal(t, map[string]int{"backup.start": 3, "backup.write": 3}, actions)
}

func TestServiceCancelAndOneAtATime(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	src.importCSV(t, "a", 100)
	gate := make(chan struct{})
	s := src.source()
	s.snapshot = func(*badger.Txn) { <-gate }
	svc := NewService(s, nil)
	folder := t.TempDir()
	job, err := svc.Start(context.Background(), folder)
	require.NoError(t, err)
	_, err = svc.Start(context.Background(), folder)
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "one backup at a time")
	st, _ := svc.Status()
	require.NotNil(t, st.Current)
	assert.Equal(t, Running, st.Current.State)
	assert.False(t, svc.Cancel("other"))
	assert.True(t, svc.Cancel(job.ID))
	close(gate)
	svc.Wait()
	st, _ = svc.Status()
	assert.Equal(t, Cancelled, st.Last.State)
	assert.Contains(t, st.Last.Error, "cancelled")
	ents, _ := os.ReadDir(folder)
	assert.Empty(t, ents, "a cancelled backup leaves no file")
	assert.Contains(t, st.Schedule.LastError, "cancelled")
}
