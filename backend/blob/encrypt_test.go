package blob

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

func testEncryption(t *testing.T) Encryption {
	k, n := make([]byte, 32), make([]byte, 32)
	rand.Read(k)
	rand.Read(n)
	return Encryption{Files: sealed.Key(k), Names: n}
}

func newEncrypted(t *testing.T, enc Encryption) *Store {
	t.Helper()
	db := store.MustOpen(t)
	s, err := OpenEncrypted(filepath.Join(db.Dir, "blobs"), db, enc)
	require.NoError(t, err)
	return s
}

func TestEncryptedBlobs(t *testing.T) {
	enc := testEncryption(t)
	s := newEncrypted(t, enc)
	ctx := t.Context()
	data := bytes.Repeat([]byte("MARKER-blob-41c9,"), 50000) // several chunks
	d1, n, err := s.Put(ctx, bytes.NewReader(data), "a")
	require.NoError(t, err)
	assert.Equal(t, sum(data), d1, "addressed by the plaintext's hash: dedupe and lineage unchanged")
	assert.EqualValues(t, len(data), n)
	d2, _, err := s.Put(ctx, bytes.NewReader(data), "b")
	require.NoError(t, err)
	assert.Equal(t, d1, d2)

	p := s.Path(d1)
	assert.NotContains(t, p, string(d1), "the file is not named by the plaintext's hash")
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(raw, []byte("MARKER-blob")))
	assert.EqualValues(t, sealed.SealedSize(int64(len(data))), len(raw))

	f, err := s.Open(d1)
	require.NoError(t, err)
	assert.EqualValues(t, len(data), f.Size())
	got, err := io.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, data, got)

	// A path for a reader that needs one: plaintext outside the data dir,
	// made once, gone on Close.
	pp, err := s.PlainPath(d1)
	require.NoError(t, err)
	assert.NotContains(t, pp, s.Dir())
	assert.Equal(t, string(d1), filepath.Base(pp))
	plainBytes, err := os.ReadFile(pp)
	require.NoError(t, err)
	assert.Equal(t, data, plainBytes)
	again, err := s.PlainPath(d1)
	require.NoError(t, err)
	assert.Equal(t, pp, again)
	require.NoError(t, s.Close())
	_, err = os.Stat(pp)
	assert.True(t, os.IsNotExist(err), "Close removes the plaintext copies")

	// The same tree opened with another key refuses to hand out bytes.
	other := testEncryption(t)
	other.Names = enc.Names
	s2 := &Store{dir: s.dir, db: s.db, enc: other}
	_, err = s2.Open(d1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another key")
}

func TestEncryptedTempReadBack(t *testing.T) {
	s := newEncrypted(t, testEncryption(t))
	tmp, err := s.Create()
	require.NoError(t, err)
	defer tmp.Abort()
	data := make([]byte, 3*sealed.ChunkSize+9)
	rand.Read(data)
	_, err = tmp.Write(data)
	require.NoError(t, err)
	ra, err := tmp.ReaderAt()
	require.NoError(t, err)
	tail := make([]byte, 9)
	_, err = ra.ReadAt(tail, int64(len(data)-9))
	require.NoError(t, err)
	assert.Equal(t, data[len(data)-9:], tail, "a footer read before commit sees the plaintext")
	d, err := tmp.Commit("x", nil)
	require.NoError(t, err)
	assert.Equal(t, sum(data), d)
	f, err := s.Open(d)
	require.NoError(t, err)
	got, _ := io.ReadAll(f)
	f.Close()
	assert.Equal(t, data, got)
}

func TestEncryptedCloneFallsBackToCopy(t *testing.T) {
	s := newEncrypted(t, testEncryption(t))
	src := filepath.Join(t.TempDir(), "src.csv")
	require.NoError(t, os.WriteFile(src, []byte("a,b\n1,2\n"), 0o600))
	f, _ := os.Open(src)
	defer f.Close()
	_, err := s.Clone(f)
	assert.ErrorIs(t, err, ErrNoClone, "sealed bytes are never the source's blocks")
	d, _, how, err := s.PutFile(t.Context(), src, "h")
	require.NoError(t, err)
	assert.Equal(t, Copied, how)
	assert.True(t, s.Has(d))
}

func TestEncryptedGCAndOrphans(t *testing.T) {
	enc := testEncryption(t)
	s := newEncrypted(t, enc)
	ctx := t.Context()
	keep, _, err := s.Put(ctx, bytes.NewReader([]byte("keep")), "k")
	require.NoError(t, err)
	drop, _, err := s.Put(ctx, bytes.NewReader([]byte("drop")), "d")
	require.NoError(t, err)
	require.NoError(t, s.db.DB.Update(func(txn *badger.Txn) error { return s.Release(txn, drop, "d") }))
	// An orphan as a crash between rename and commit leaves it.
	orphan := sum([]byte("orphan"))
	op := s.Path(orphan)
	require.NoError(t, os.MkdirAll(filepath.Dir(op), 0o700))
	require.NoError(t, os.WriteFile(op, []byte("x"), 0o400))
	res, err := s.GC(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Blobs)
	assert.True(t, s.Has(keep))
	assert.False(t, s.Has(drop))
	assert.False(t, s.Has(orphan))

	// Open's sweep of unrecorded files works on HMAC names too.
	require.NoError(t, os.MkdirAll(filepath.Dir(op), 0o700))
	require.NoError(t, os.WriteFile(op, []byte("x"), 0o400))
	s3, err := OpenEncrypted(s.dir, s.db, enc)
	require.NoError(t, err)
	assert.False(t, s3.Has(orphan))
	assert.True(t, s3.Has(keep))
}
