package dataset

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// TestImportHelperProcess is not a test: TestKilledMidImport runs the test
// binary again with TERN_IMPORT_HELPER set, and this imports an endless
// stream into the given data dir until the process is killed.
func TestImportHelperProcess(t *testing.T) {
	dir := os.Getenv("TERN_IMPORT_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.Exit(3)
	}
	b, _ := blob.Open(filepath.Join(dir, "blobs"), st)
	svc := NewService(st, b, core.NewBus(), dir)
	os.WriteFile(filepath.Join(dir, "started"), nil, 0o600)
	svc.ImportReader(t.Context(), &genCSV{left: 1 << 40}, "endless.csv", 0, Options{})
	os.Exit(4)
}

// TestKilledMidImport kills a process in the middle of an import (SIGKILL:
// no deferred cleanup runs) and checks that, once reopened, Tern has no
// trace of it: no record, no blob, no temp file.
func TestKilledMidImport(t *testing.T) {
	dir := t.TempDir()
	// A dataset that was there before must survive.
	e := func() *Service {
		st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		b, err := blob.Open(filepath.Join(dir, "blobs"), st)
		require.NoError(t, err)
		return NewService(st, b, core.NewBus(), dir)
	}
	first := e()
	before, err := first.ImportReader(t.Context(), &genCSV{left: 1 << 20}, "kept.csv", 0, Options{})
	require.NoError(t, err)
	require.NoError(t, first.db.Close())

	cmd := exec.Command(os.Args[0], "-test.run", "^TestImportHelperProcess$")
	cmd.Env = append(os.Environ(), "TERN_IMPORT_HELPER="+dir)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(20 * time.Second)
	for {
		tmp, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil && len(tmp) > 0 {
			if fi, err := os.Stat(filepath.Join(dir, "blobs", "tmp", tmp[0].Name())); err == nil && fi.Size() > 8<<20 {
				break // well into the import
			}
		}
		require.True(t, time.Now().Before(deadline), "the helper never got going")
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()

	svc := e()
	tmp, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	assert.Empty(t, tmp, "the killed import's temp file is gone after reopening")
	list, err := svc.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "kept", list[0].Name)
	metas, _, err := svc.blobs.List()
	require.NoError(t, err)
	assert.Len(t, metas, 1)
	p, err := svc.VersionFile(before.ID)
	require.NoError(t, err)
	d, _, err := blob.HashFile(p)
	require.NoError(t, err)
	assert.Equal(t, before.Digest, string(d))
}
