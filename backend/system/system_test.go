package system

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/testenv"
)

func TestStatusCountsDataDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "blobs"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blobs", "a"), make([]byte, 1000), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b"), make([]byte, 24), 0o600))
	s := New("1.2.3", "browser", dir, nil)
	st := s.Status(t.Context())
	// Allocated blocks, not apparent sizes: two small files take two blocks.
	assert.GreaterOrEqual(t, st.DataBytes, int64(1024))
	assert.LessOrEqual(t, st.DataBytes, int64(16<<10))
	assert.Equal(t, dir, st.DataDir)
	assert.Equal(t, "1.2.3", st.AppVersion)
	assert.Greater(t, st.FreeBytes, int64(0))

	// Cached: a new file is not seen until the TTL passes.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c"), []byte{1}, 0o600))
	assert.Equal(t, st.DataBytes, s.Status(t.Context()).DataBytes)
	s.ttl = 0
	assert.Greater(t, s.Status(t.Context()).DataBytes, st.DataBytes)

	// A sparse file counts for the blocks it holds, not its length.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20))
	require.NoError(t, f.Close())
	assert.Less(t, s.Status(t.Context()).DataBytes, int64(1<<20))
}

func TestStatusWithoutDocker(t *testing.T) {
	dead, err := docker.Connect("unix://" + filepath.Join(t.TempDir(), "no.sock"))
	require.NoError(t, err)
	st := New("v", "desktop", t.TempDir(), dead).Status(t.Context())
	assert.False(t, st.DockerRunning)
	assert.Equal(t, DockerNotRunning, st.DockerMessage)
}

func TestStatusWithDocker(t *testing.T) {
	testenv.Docker(t)
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	require.NoError(t, err)
	engine, err := docker.Connect("")
	require.NoError(t, err)
	st := New("v", "desktop", t.TempDir(), engine).Status(t.Context())
	assert.True(t, st.DockerRunning)
	assert.Equal(t, strings.TrimSpace(string(out)), st.DockerVersion)
	assert.Empty(t, st.DockerMessage)
}
