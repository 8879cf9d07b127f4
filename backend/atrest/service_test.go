package atrest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

func actions(t *testing.T, l *audit.Log) []string {
	t.Helper()
	recs, err := l.List(audit.Query{Action: "encryption", Limit: 100})
	require.NoError(t, err)
	var out []string
	for i := len(recs) - 1; i >= 0; i-- { // List is newest first
		out = append(out, recs[i].Action)
	}
	return out
}

// Encrypt, Cancel and Rotate each leave exactly one audit record; a
// refused call leaves none.
func TestServiceRecordsEachChange(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir)
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	log, err := audit.Open(st)
	require.NoError(t, err)
	svc := NewService(dir, st, nil)

	status, err := svc.Status()
	require.NoError(t, err)
	assert.False(t, status.Encrypted)
	assert.False(t, status.Pending)

	_, err = svc.Encrypt(t.Context(), pass("short"))
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Empty(t, actions(t, log), "a refused call records nothing")

	j, err := svc.Encrypt(t.Context(), pass("settings passphrase"))
	require.NoError(t, err)
	assert.Equal(t, Running, j.State)
	svc.Wait()
	status, err = svc.Status()
	require.NoError(t, err)
	require.NotNil(t, status.Job)
	assert.Equal(t, Ready, status.Job.State, status.Job.Error)
	assert.True(t, status.Pending)
	assert.Equal(t, Passphrase, status.Kind)
	assert.Equal(t, status.Job.Progress.Total, status.Job.Progress.Bytes)
	assert.Equal(t, []string{"encryption.prepare"}, actions(t, log))

	ok, err := svc.Cancel()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, Pending(dir))
	ok, err = svc.Cancel()
	require.NoError(t, err)
	assert.False(t, ok, "nothing left to cancel")
	assert.Equal(t, []string{"encryption.prepare", "encryption.cancel"}, actions(t, log))

	_, err = svc.Rotate(pass("x"), pass("new passphrase"))
	assert.Contains(t, core.ErrorMessage(err), "not encrypted")

	// Encrypt again, and switch as the next start does.
	_, err = svc.Encrypt(t.Context(), pass("settings passphrase"))
	require.NoError(t, err)
	svc.Wait()
	log.Close()
	st.Close()
	keys, err := Open(t.Context(), dir, func(*KeyFile) (Secret, error) { return pass("settings passphrase"), nil }, nil, nil)
	require.NoError(t, err)
	require.NotNil(t, keys)
	st, err = store.Open(dir, store.Options{EncryptionKey: keys.Store, GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer st.Close()
	log, err = audit.Open(st)
	require.NoError(t, err)
	defer log.Close()
	svc = NewService(dir, st, nil)
	status, err = svc.Status()
	require.NoError(t, err)
	assert.True(t, status.Encrypted)
	assert.Equal(t, []string{"encryption.prepare", "encryption.cancel", "encryption.prepare"}, actions(t, log), "the records made before the switch came along")

	_, err = svc.Rotate(Secret{Passphrase: "wrong passphrase"}, pass("rotated passphrase"))
	assert.Contains(t, core.ErrorMessage(err), "does not open")
	status, err = svc.Rotate(Secret{Passphrase: "settings passphrase"}, pass("rotated passphrase"))
	require.NoError(t, err)
	assert.False(t, status.Rotated.IsZero())
	assert.Equal(t, []string{"encryption.prepare", "encryption.cancel", "encryption.prepare", "encryption.rotate"}, actions(t, log))
	kf, err := ReadKeyFile(dir)
	require.NoError(t, err)
	got, err := kf.Unlock(pass("rotated passphrase"))
	require.NoError(t, err)
	assert.Equal(t, keys, got)
}
