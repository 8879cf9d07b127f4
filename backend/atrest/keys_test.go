package atrest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"

	"github.com/tern-studio/tern/backend/core"
)

func pass(p string) Secret { return Secret{Kind: Passphrase, Passphrase: p} }

func TestPassphraseKeyFile(t *testing.T) {
	kf, keys, err := NewKeyFile(pass("correct horse"))
	require.NoError(t, err)
	assert.Equal(t, DefaultArgon2, *kf.KEK.Argon2, "the parameters are stored with the salt")
	assert.Len(t, kf.KEK.Salt, 16)
	assert.Len(t, kf.KEK.Verifier, 32)
	b, _ := json.Marshal(kf)
	for _, k := range [][]byte{keys.Store, keys.Files, keys.Names} {
		assert.Len(t, k, 32)
		assert.False(t, bytes.Contains(b, k), "no derived key in the key file")
	}
	assert.NotEqual(t, keys.Store, []byte(keys.Files), "each purpose has its own key")

	again, err := kf.Unlock(pass("correct horse"))
	require.NoError(t, err)
	assert.Equal(t, keys, again)

	_, err = kf.Unlock(pass("wrong horse!"))
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "does not open")
	_, err = kf.Unlock(pass(""))
	assert.Contains(t, core.ErrorMessage(err), "enter it")

	bad := *kf
	bad.WrappedKey = bytes.Clone(kf.WrappedKey)
	bad.WrappedKey[20] ^= 1
	_, err = bad.Unlock(pass("correct horse"))
	assert.Contains(t, core.ErrorMessage(err), "damaged", "a damaged wrap is told apart from a wrong passphrase")

	_, _, err = NewKeyFile(pass("short"))
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

func TestRotateRewrapsWithoutChangingData(t *testing.T) {
	dir := t.TempDir()
	kf, keys, err := NewKeyFile(pass("first passphrase"))
	require.NoError(t, err)
	require.NoError(t, writeJSONAtomic(filepath.Join(dir, KeyFileName), kf))

	_, err = Rotate(dir, pass("not the passphrase"), pass("second passphrase"))
	require.Error(t, err)
	still, err := ReadKeyFile(dir)
	require.NoError(t, err)
	assert.Equal(t, kf.WrappedKey, still.WrappedKey, "a refused rotation writes nothing")

	nk, err := Rotate(dir, pass("first passphrase"), pass("second passphrase"))
	require.NoError(t, err)
	assert.False(t, nk.Rotated.IsZero())
	onDisk, err := ReadKeyFile(dir)
	require.NoError(t, err)
	_, err = onDisk.Unlock(pass("first passphrase"))
	assert.Error(t, err, "the old passphrase no longer opens it")
	got, err := onDisk.Unlock(pass("second passphrase"))
	require.NoError(t, err)
	assert.Equal(t, keys, got, "the data key is the same: nothing is re-encrypted")
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	kf, err := ReadKeyFile(dir)
	require.NoError(t, err)
	assert.Nil(t, kf, "no key file: not encrypted")
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFileName), []byte(`{"version":1`), 0o600))
	_, err = ReadKeyFile(dir)
	assert.Contains(t, core.ErrorMessage(err), "damaged")
}

// The keyring path is tested only at its edge: this headless machine has
// no Secret Service, so go-keyring's in-memory mock provider stands in for
// it. What is tested is Tern's side (the account it stores, unlocking,
// rotating to and from a passphrase, dropping the old secret); the
// library's D-Bus talk to a real keyring is not.
func TestKeyringThroughMockProvider(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	kf, keys, err := NewKeyFile(Secret{Kind: Keyring})
	require.NoError(t, err)
	require.NotEmpty(t, kf.KEK.Account)
	assert.Empty(t, kf.KEK.Salt)
	secret, err := keyring.Get(keyringService, kf.KEK.Account)
	require.NoError(t, err)
	assert.Len(t, secret, 64, "a 32-byte KEK in hex")
	got, err := kf.Unlock(Secret{Kind: Keyring})
	require.NoError(t, err)
	assert.Equal(t, keys, got)

	require.NoError(t, writeJSONAtomic(filepath.Join(dir, KeyFileName), kf))
	nk, err := Rotate(dir, Secret{Kind: Keyring}, Secret{Kind: Keyring})
	require.NoError(t, err)
	assert.NotEqual(t, kf.KEK.Account, nk.KEK.Account)
	_, err = keyring.Get(keyringService, kf.KEK.Account)
	assert.ErrorIs(t, err, keyring.ErrNotFound, "the old secret is dropped once the new key file is in place")
	got, err = nk.Unlock(Secret{})
	require.NoError(t, err)
	assert.Equal(t, keys, got)

	// From the keyring to a passphrase: the keyring secret goes.
	pk, err := Rotate(dir, Secret{Kind: Keyring}, pass("now a passphrase"))
	require.NoError(t, err)
	_, err = keyring.Get(keyringService, nk.KEK.Account)
	assert.ErrorIs(t, err, keyring.ErrNotFound)
	got, err = pk.Unlock(pass("now a passphrase"))
	require.NoError(t, err)
	assert.Equal(t, keys, got)

	// A secret missing from the keyring: a clear message, nothing written.
	kf2, _, err := NewKeyFile(Secret{Kind: Keyring})
	require.NoError(t, err)
	require.NoError(t, keyring.Delete(keyringService, kf2.KEK.Account))
	_, err = kf2.Unlock(Secret{Kind: Keyring})
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "not in the system keyring")
}
