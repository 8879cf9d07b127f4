package diskspace

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSizeAndAllocated: a sparse file (as Badger preallocates) counts its
// apparent size in Size and only its written blocks in Allocated.
func TestSizeAndAllocated(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "a"), make([]byte, 4096), 0o644))
	f, err := os.Create(filepath.Join(dir, "sparse"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20))
	require.NoError(t, f.Close())

	assert.Equal(t, int64(4096+64<<20), Size(dir))
	if runtime.GOOS != "windows" {
		assert.Less(t, Allocated(dir), int64(1<<20), "holes take no space")
	}
	assert.Zero(t, Size(filepath.Join(dir, "missing")))
	assert.NotZero(t, Free(dir))
}
