package blob

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
	"golang.org/x/sys/unix"
)

// xfsStore is a blob store whose folder is on a fresh loop-mounted XFS
// (reflinks on); Badger stays elsewhere so its files do not move the free
// space the tests measure.
func xfsStore(t *testing.T) (*Store, string) {
	t.Helper()
	mnt := testenv.XFS(t)
	db := store.MustOpen(t)
	s, err := Open(filepath.Join(mnt, "blobs"), db)
	require.NoError(t, err)
	return s, mnt
}

func randomFile(t *testing.T, path string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return b
}

// freeBytes is the filesystem's free space after everything written so far
// has reached it (delayed allocation settled).
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	unix.Sync()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	return int64(st.Bfree) * st.Bsize
}

func TestPutFileClonesOnXFS(t *testing.T) {
	s, mnt := xfsStore(t)
	src := filepath.Join(mnt, "train.bin")
	const size = 64 << 20
	orig := randomFile(t, src, size)

	before := freeBytes(t, mnt)
	d, n, how, err := s.PutFile(context.Background(), src, "v1")
	require.NoError(t, err)
	after := freeBytes(t, mnt)

	assert.Equal(t, Cloned, how)
	assert.EqualValues(t, size, n)
	assert.Equal(t, sum(orig), d)
	// A copy would take 64 MB; the clone shares the source's blocks and
	// costs only its inode and extent records.
	assert.Less(t, before-after, int64(1<<20), "cloning a 64 MB file allocated %d bytes", before-after)

	stored, err := os.ReadFile(s.Path(d))
	require.NoError(t, err)
	assert.Equal(t, orig, stored)

	// Edit the original in place (no truncate, no rename: what a hard link
	// would pass through): the stored version must not change.
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("edited in place"), 4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	stored, err = os.ReadFile(s.Path(d))
	require.NoError(t, err)
	assert.Equal(t, orig, stored)
	got, _, err := HashFile(s.Path(d))
	require.NoError(t, err)
	assert.Equal(t, d, got)
}

// The digest is that of the clone's bytes: a source edited after the clone
// was taken but before the blob is committed changes neither.
func TestCloneHashesTheCloneNotTheSource(t *testing.T) {
	s, mnt := xfsStore(t)
	src := filepath.Join(mnt, "live.bin")
	orig := randomFile(t, src, 3<<20)
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	tmp, err := s.Clone(f)
	require.NoError(t, err)
	defer tmp.Abort()
	assert.True(t, tmp.Cloned())

	// Half read (as an import does), then the source changes under it.
	buf := make([]byte, 1<<20)
	_, err = tmp.Reader().Read(buf)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("changed while importing"), 2<<20)
	require.NoError(t, err)

	d, err := tmp.Commit("v1", nil)
	require.NoError(t, err)
	assert.Equal(t, sum(orig), d)
	stored, err := os.ReadFile(s.Path(d))
	require.NoError(t, err)
	assert.Equal(t, orig, stored)
	_, err = tmp.Write([]byte("x"))
	assert.Error(t, err, "a cloned blob takes no writes")
}

// A source on another filesystem cannot be cloned into the store: it is
// copied, once, with the same digest.
func TestPutFileCopiesAcrossFilesystems(t *testing.T) {
	s, _ := xfsStore(t)
	src := filepath.Join(t.TempDir(), "elsewhere.bin")
	orig := randomFile(t, src, 1<<20)
	d, n, how, err := s.PutFile(context.Background(), src, "v1")
	require.NoError(t, err)
	assert.Equal(t, Copied, how)
	assert.EqualValues(t, len(orig), n)
	assert.Equal(t, sum(orig), d)
	stored, err := os.ReadFile(s.Path(d))
	require.NoError(t, err)
	assert.Equal(t, orig, stored)
}
