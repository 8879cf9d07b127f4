package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

func TestDataHomePerOS(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	home := func() (string, error) { return "/home/ada", nil }
	local := func() (string, error) { return `C:\Users\ada\AppData\Local`, nil }
	for _, tc := range []struct {
		goos string
		env  map[string]string
		want string
	}{
		{"linux", nil, "/home/ada/.local/share"},
		{"linux", map[string]string{"XDG_DATA_HOME": "/data/ada"}, "/data/ada"},
		{"linux", map[string]string{"XDG_DATA_HOME": "relative/dir"}, "/home/ada/.local/share"}, // invalid per the spec
		{"freebsd", nil, "/home/ada/.local/share"},
		{"darwin", map[string]string{"XDG_DATA_HOME": "/ignored"}, "/home/ada/Library/Application Support"},
		{"windows", map[string]string{"LocalAppData": `D:\Local`}, `D:\Local`},
		{"windows", nil, `C:\Users\ada\AppData\Local`},
	} {
		got, err := dataHome(tc.goos, env(tc.env), home, local)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %v", tc.goos, tc.env)
	}
	t.Setenv("TERN_DATA_DIR", "/elsewhere")
	d, err := DefaultDataDir()
	require.NoError(t, err)
	assert.Equal(t, "/elsewhere", d)
}

// legacy makes a data folder with a real store and a few files; it
// returns each file's hash by relative path.
func legacy(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	st, err := Open(dir, Options{GCInterval: -1})
	require.NoError(t, err)
	require.NoError(t, st.DB.Update(func(txn *badger.Txn) error { return txn.Set([]byte("\x10marker"), []byte("kept")) }))
	require.NoError(t, st.Close())
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "blobs", "ab"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blobs", "ab", "cdef"), []byte(strings.Repeat("blob", 1000)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("secret"), 0o600))
	return hashes(t, dir)
}

func hashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	}))
	return out
}

func readMarker(t *testing.T, dir string) string {
	t.Helper()
	st, err := Open(dir, Options{GCInterval: -1})
	require.NoError(t, err)
	defer st.Close()
	var v []byte
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("\x10marker"))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	}))
	return string(v)
}

func TestMoveLegacyOneRename(t *testing.T) {
	root := t.TempDir()
	old, dst := filepath.Join(root, "config", "tern"), filepath.Join(root, "share", "tern")
	want := legacy(t, old)
	note, err := MoveLegacy(old, dst)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("Moved the data folder from %s to %s, the place this system keeps application data.", old, dst), note)
	assert.NoDirExists(t, old)
	assert.Equal(t, want, hashes(t, dst))
	assert.Equal(t, "kept", readMarker(t, dst))

	// Once: nothing more to do, and a folder in use at dst is never replaced.
	note, err = MoveLegacy(old, dst)
	require.NoError(t, err)
	assert.Empty(t, note)
	legacy(t, old)
	note, err = MoveLegacy(old, dst)
	require.NoError(t, err)
	assert.Empty(t, note)
	assert.DirExists(t, old, "both exist: left alone")
}

func TestMoveLegacyRefusesAnOpenFolder(t *testing.T) {
	root := t.TempDir()
	old, dst := filepath.Join(root, "config", "tern"), filepath.Join(root, "share", "tern")
	legacy(t, old)
	st, err := Open(old, Options{GCInterval: -1})
	require.NoError(t, err)
	_, err = MoveLegacy(old, dst)
	require.Error(t, err)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "another Tern has it open")
	assert.NoDirExists(t, dst)
	require.NoError(t, st.Close())
	_, err = MoveLegacy(old, dst)
	require.NoError(t, err)
	assert.Equal(t, "kept", readMarker(t, dst))
}

// Across file systems the move copies; a crash after the copy or after
// the rename into place loses nothing, and the next start finishes.
func TestMoveLegacyAcrossFileSystemsSurvivesCrashes(t *testing.T) {
	crossDevice := func(from, to string) error {
		if strings.HasSuffix(from, ".moving") {
			return os.Rename(from, to) // the staging copy is on dst's file system
		}
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EXDEV}
	}
	crash := errors.New("crash")
	for _, step := range []string{"copied", "renamed"} {
		t.Run(step, func(t *testing.T) {
			root := t.TempDir()
			old, dst := filepath.Join(root, "config", "tern"), filepath.Join(root, "share", "tern")
			want := legacy(t, old)
			rename, crashAt = crossDevice, func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}
			t.Cleanup(func() { rename, crashAt = os.Rename, func(string) error { return nil } })
			_, err := MoveLegacy(old, dst)
			require.ErrorIs(t, err, crash)
			assert.Equal(t, want, hashes(t, old), "the old folder is whole after a crash at %s", step)

			crashAt = func(string) error { return nil }
			note, err := MoveLegacy(old, dst)
			require.NoError(t, err)
			if step == "copied" {
				assert.Contains(t, note, "copied")
				assert.NoDirExists(t, dst+".moving")
			} else {
				assert.Equal(t, fmt.Sprintf("Finished moving the data folder to %s: removed the old copy at %s.", dst, old), note)
			}
			assert.NoDirExists(t, old)
			assert.Equal(t, want, hashes(t, dst))
			assert.Equal(t, "kept", readMarker(t, dst))
		})
	}
}
