package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"golang.org/x/sys/unix"
)

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	unix.Sync()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	return int64(st.Bfree) * st.Bsize
}

// A file on a filesystem that clones (a loop-mounted XFS here) becomes a
// version without a second copy of its bytes; the version says so, its
// stored bytes and profile are the file's, and editing the file in place
// afterwards leaves the version as it was.
func TestImportClonesOnXFS(t *testing.T) {
	mnt := testenv.XFS(t)
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(mnt, "blobs"), db)
	require.NoError(t, err)
	svc := NewService(db, blobs, core.NewBus(), db.Dir)

	var b strings.Builder
	b.WriteString("id,x,city\n")
	for i := 0; b.Len() < 24<<20; i++ {
		fmt.Fprintf(&b, "%d,%d.%03d,%s\n", i, i%977, i%1000, []string{"Lyon", "Oslo", "Quito"}[i%3])
	}
	src := filepath.Join(mnt, "cities.csv")
	require.NoError(t, os.WriteFile(src, []byte(b.String()), 0o644))

	before := freeBytes(t, mnt)
	v, err := svc.ImportPath(context.Background(), src, Options{})
	require.NoError(t, err)
	after := freeBytes(t, mnt)
	assert.Equal(t, blob.Cloned, v.Stored)
	assert.Less(t, before-after, int64(1<<20), "versioning a 24 MB file allocated %d bytes", before-after)
	assert.Equal(t, int64(strings.Count(b.String(), "\n")-1), v.Rows)
	h, _, err := blob.HashFile(src)
	require.NoError(t, err)
	assert.Equal(t, string(h), v.Digest)

	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("99"), 11)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	path, err := svc.VersionFile(v.ID)
	require.NoError(t, err)
	stored, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, b.String(), string(stored))

	// The stored record says the same after a reload.
	got, err := svc.Version(v.ID)
	require.NoError(t, err)
	assert.Equal(t, blob.Cloned, got.Stored)
}

// Elsewhere (another filesystem than the blob folder's) the file is read
// once and copied, and the version says "copied".
func TestImportCopiesAcrossFilesystems(t *testing.T) {
	mnt := testenv.XFS(t)
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(mnt, "blobs"), db)
	require.NoError(t, err)
	svc := NewService(db, blobs, core.NewBus(), db.Dir)
	src := filepath.Join(t.TempDir(), "small.csv")
	require.NoError(t, os.WriteFile(src, []byte("a,b\n1,2\n3,4\n"), 0o644))
	v, err := svc.ImportPath(context.Background(), src, Options{})
	require.NoError(t, err)
	assert.Equal(t, blob.Copied, v.Stored)
	assert.EqualValues(t, 2, v.Rows)
}

// A clone of a file that fails to import is removed with everything else:
// no temp clone, no blob, no record.
func TestFailedImportLeavesNoClone(t *testing.T) {
	mnt := testenv.XFS(t)
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(mnt, "blobs"), db)
	require.NoError(t, err)
	svc := NewService(db, blobs, core.NewBus(), db.Dir)
	src := filepath.Join(mnt, "ragged.csv")
	require.NoError(t, os.WriteFile(src, []byte("a,b\n1,2\n3,4,5\n"), 0o644))
	_, err = svc.ImportPath(t.Context(), src, Options{})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "Line 3 has 3 fields")
	for _, sub := range []string{"tmp", "sha256"} {
		ents, err := os.ReadDir(filepath.Join(mnt, "blobs", sub))
		require.NoError(t, err)
		assert.Empty(t, ents, "blobs/%s after a failed import", sub)
	}
	list, err := svc.List()
	require.NoError(t, err)
	assert.Empty(t, list)
}
