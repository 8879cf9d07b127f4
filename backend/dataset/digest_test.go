package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionByDigest(t *testing.T) {
	s := newEnv(t).svc
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	require.NoError(t, os.WriteFile(a, []byte("x,y\n1,2\n3,4\n"), 0o644))
	v, err := s.ImportPath(t.Context(), a, Options{})
	require.NoError(t, err)
	for _, d := range []string{v.Digest, v.Digest[:8], strings.ToUpper(v.Digest[:16]), "sha256:" + v.Digest, " " + v.Digest[:10] + " "} {
		got, ok := s.VersionByDigest(d)
		assert.True(t, ok, d)
		assert.Equal(t, v.ID, got, d)
	}
	for _, d := range []string{"", v.Digest[:7], "zz" + v.Digest[2:12], v.Digest + "00", "0000000000"} {
		_, ok := s.VersionByDigest(d)
		assert.False(t, ok, "%q links nothing", d)
	}
}
