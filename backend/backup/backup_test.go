package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/testenv"
	"github.com/tern-studio/tern/backend/tracking"
)

// TestBackupWhileIngestAndTraining is the must-show: a backup taken
// while a 10,000-point metric ingest and a training job write to the store
// restores to a fresh dir with every record equal to what was visible at
// the backup's read timestamp, and every blob and file equal.
func TestBackupWhileIngestAndTraining(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	v := src.importCSV(t, "train", 20000)
	src.importCSV(t, "other", 500)

	bin := testenv.RuntimeBinary(t)
	r, err := runner.New(runner.Config{Store: src.st, Bus: src.bus, Sink: runner.TrackingSink{Svc: src.track}, DataDir: src.dir,
		AppVersion: "test", RuntimeBinary: func() (string, error) { return bin, nil }})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	p, _ := json.Marshal(map[string]any{"target": "y", "max_iter": 400, "learning_rate": 0.05, "early_stopping": "off"})
	data, err := src.datasets.VersionFile(v.ID)
	require.NoError(t, err)
	reading := v.Reading()
	job, err := r.Submit(runner.JobSpec{DataPath: data, DataReading: &reading, DatasetVersion: v.ID, Params: p, Backend: runner.BackendLocal})
	require.NoError(t, err)
	require.Eventually(t, func() bool { j, _ := r.Get(job.ID); return j.State == runner.Running }, 60*time.Second, 20*time.Millisecond)

	run, err := src.track.CreateRun(tracking.RunSpec{Name: "ingest"})
	require.NoError(t, err)
	snapped := make(chan struct{})
	var logged atomic.Int64
	ingestDone := make(chan error, 1)
	go func() {
		for i := 0; i < 10000; i += 50 {
			if i == 2000 {
				<-snapped // the rest is written while the backup runs
			}
			var ms []tracking.Metric
			for k := i; k < i+50; k++ {
				ms = append(ms, tracking.Metric{Key: "loss", Value: tracking.Float(1 / float64(k+1)), Timestamp: int64(1_700_000_000_000 + k), Step: int64(k)})
			}
			if err := src.track.LogMetrics(run.ID, ms); err != nil {
				ingestDone <- err
				return
			}
			logged.Add(50)
		}
		ingestDone <- nil
	}()
	require.Eventually(t, func() bool { return logged.Load() >= 2000 }, 30*time.Second, 5*time.Millisecond)

	var atSnapshot map[string]string
	var jobAtSnapshot runner.State
	s := src.source()
	s.snapshot = func(txn *badger.Txn) {
		atSnapshot = records(t, txn)
		j, _ := r.Get(job.ID)
		jobAtSnapshot = j.State
		close(snapped)
	}
	file := filepath.Join(t.TempDir(), "tern.backup")
	var phases []string
	sum, err := WriteFile(context.Background(), s, file, func(p Progress) {
		if len(phases) == 0 {
			// The snapshot is taken; hold the backup until the ingest has
			// written 4,000 more points, so both run at once for sure.
			require.Eventually(t, func() bool { return logged.Load() >= 6000 }, 30*time.Second, time.Millisecond)
		}
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	})
	require.NoError(t, err)
	assert.Equal(t, runner.Running, jobAtSnapshot, "the training job ran while the backup was taken")
	require.NoError(t, <-ingestDone)
	j, err := r.Wait(t.Context(), job.ID)
	require.NoError(t, err)
	require.Equal(t, runner.Succeeded, j.State, j.Reason)
	assert.Equal(t, []string{"store", "blobs", "files"}, phases)

	// The live store moved on; the backup holds exactly the snapshot.
	pts, err := src.track.MetricHistory(run.ID, "loss")
	require.NoError(t, err)
	assert.Len(t, pts, 10000)

	dst := filepath.Join(t.TempDir(), "restored")
	got, err := Restore(context.Background(), file, dst, nil)
	require.NoError(t, err)
	assert.Equal(t, sum.Records, got.Records)
	assert.Equal(t, int64(len(atSnapshot)), got.Records)
	assert.Equal(t, 2, got.Blobs, "both imported files")
	restored := storeRecords(t, dst)
	require.Equal(t, len(atSnapshot), len(restored))
	for k, v := range atSnapshot {
		if restored[k] != v {
			t.Fatalf("record %x differs after restore", k)
		}
	}
	// Every blob recorded at the snapshot is restored, byte-identical
	// (blobs are immutable, so the live file is the snapshot's).
	srcBlobs := treeHashes(t, filepath.Join(src.dir, "blobs", "sha256"))
	dstBlobs := treeHashes(t, filepath.Join(dst, "blobs", "sha256"))
	assert.Len(t, dstBlobs, 2)
	for name, h := range dstBlobs {
		assert.Equal(t, srcBlobs[name], h, name)
		assert.Equal(t, filepath.Base(name), h, "a blob's name is its hash")
	}
	// The run's restored history is the 2,000 points logged before the snapshot.
	rst := openDataDir(t, dst)
	pts, err = rst.track.MetricHistory(run.ID, "loss")
	require.NoError(t, err)
	assert.Len(t, pts, 2000)
	// Files: what the backup copied equals the source's (the job's artifacts
	// were finished by then or not yet there; both are what the manifest says).
	for rel, h := range treeHashes(t, dst, "db", "blobs") {
		assert.Equal(t, treeHashes(t, src.dir, "db", "blobs", "jobs", "runtime")[rel], h, rel)
	}
}

func TestRestoreSaysWhatItRestored(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	src.importCSV(t, "a", 300)
	require.NoError(t, os.MkdirAll(filepath.Join(src.dir, "models", "m", "1"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(src.dir, "models", "m", "1", "MLmodel"), []byte("flavors: {}\n"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(src.dir, "jobs", "j1"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(src.dir, "jobs", "j1", "log"), []byte("x"), 0o600))
	file := filepath.Join(t.TempDir(), "b.tar")
	sum, err := WriteFile(context.Background(), src.source(), file, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Blobs)
	assert.Equal(t, 1, sum.Files)

	dst := filepath.Join(t.TempDir(), "new")
	require.NoError(t, os.Mkdir(dst, 0o700)) // an empty folder is fine
	got, err := Restore(context.Background(), file, dst, nil)
	require.NoError(t, err)
	assert.Equal(t, dst, got.Path)
	assert.Equal(t, sum.Records, got.Records)
	assert.Equal(t, 1, got.Blobs)
	assert.Equal(t, 1, got.Files)
	assert.FileExists(t, filepath.Join(dst, "models", "m", "1", "MLmodel"))
	assert.NoDirExists(t, filepath.Join(dst, "jobs"), "job folders are not data")
	// The restored dir opens as a data dir, with its dataset.
	rst := openDataDir(t, dst)
	list, err := rst.datasets.List()
	require.NoError(t, err)
	assert.Len(t, list, 1)

	// A second restore into it is refused in words.
	_, err = Restore(context.Background(), file, dst, nil)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "is not empty")
}

func TestBadBackupsRefusedLeavingNothing(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	src.importCSV(t, "a", 2000)
	good := filepath.Join(t.TempDir(), "good.tar")
	_, err := WriteFile(context.Background(), src.source(), good, nil)
	require.NoError(t, err)
	b, err := os.ReadFile(good)
	require.NoError(t, err)

	parent := t.TempDir()
	try := func(name string, data []byte) error {
		p := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		_, err := Restore(context.Background(), p, filepath.Join(parent, "dst"), nil)
		require.Error(t, err, name)
		assert.Equal(t, core.Invalid, core.ErrorCode(err), "%s: %v", name, err)
		ents, _ := os.ReadDir(parent)
		assert.Empty(t, ents, "%s left something behind", name)
		return err
	}
	// Truncated anywhere: before the manifest's end it is never accepted.
	inManifest := bytes.LastIndex(b, []byte(`"records"`)) + 5
	for _, n := range []int{0, 100, 512, 1024, len(b) / 3, len(b) / 2, inManifest - 600, inManifest} {
		err := try("trunc", b[:n])
		assert.NotContains(t, core.ErrorMessage(err), "went wrong", "worded: %v", err)
	}
	assert.Contains(t, core.ErrorMessage(try("empty", nil)), "empty")
	assert.Contains(t, core.ErrorMessage(try("text", []byte("name,age\nann,3\n"))), "not a Tern backup")
	assert.Contains(t, core.ErrorMessage(try("half", b[:len(b)/2])), "truncated")

	// One flipped byte inside the blob's bytes: its hash no longer matches.
	csv := writeCSV(t, "a", 2000)
	raw, _ := os.ReadFile(csv)
	i := bytes.Index(b, raw[100:200])
	require.Positive(t, i)
	flipped := bytes.Clone(b)
	flipped[i+10] ^= 1
	assert.Contains(t, core.ErrorMessage(try("flipped", flipped)), "damaged")

	// A byte flipped inside the store section fails the manifest check or the load.
	j := bytes.Index(b, []byte("store/00000001.kv"))
	require.Positive(t, j)
	flipped = bytes.Clone(b)
	flipped[j+1500] ^= 0x40
	try("store", flipped)
}

func TestCancelledBackupLeavesNoFile(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	src.importCSV(t, "a", 50000)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := WriteFile(ctx, src.source(), filepath.Join(dir, "b.tar"), func(p Progress) {
		if p.Phase == "blobs" && p.Done > 0 {
			cancel()
		}
	})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "cancelled")
	ents, _ := os.ReadDir(dir)
	assert.Empty(t, ents)
}

func TestBlobGCWaitsForBackup(t *testing.T) {
	src := openDataDir(t, t.TempDir())
	d, _, err := src.blobs.Put(context.Background(), strings.NewReader("bytes nobody holds"), "tmp")
	require.NoError(t, err)
	require.NoError(t, src.st.DB.Update(func(txn *badger.Txn) error { return src.blobs.Release(txn, d, "tmp") }))
	release := src.blobs.HoldFiles()
	_, err = src.blobs.GC(context.Background())
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "backup")
	assert.True(t, src.blobs.Has(d), "nothing freed while a backup runs")
	release()
	res, err := src.blobs.GC(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Blobs)
	_ = blob.Digest("")
}
