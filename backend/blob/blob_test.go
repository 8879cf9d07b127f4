package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	db := store.MustOpen(t)
	s, err := Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	return s
}

func sum(b []byte) Digest {
	h := sha256.Sum256(b)
	return Digest(hex.EncodeToString(h[:]))
}

func TestPutDedupesAndCounts(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	data := bytes.Repeat([]byte("tern,"), 1000)
	d1, n, err := s.Put(ctx, bytes.NewReader(data), "a")
	require.NoError(t, err)
	assert.Equal(t, sum(data), d1)
	assert.EqualValues(t, len(data), n)
	d2, _, err := s.Put(ctx, bytes.NewReader(data), "b")
	require.NoError(t, err)
	assert.Equal(t, d1, d2)
	got, err := os.ReadFile(s.Path(d1))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	h, err := s.Holders(d1)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b"}, h)
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	assert.Empty(t, ents, "no temp files left")
}

func TestGCFreesOnlyUnheld(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	keep, _, err := s.Put(ctx, bytes.NewReader([]byte("keep")), "run:1")
	require.NoError(t, err)
	drop, _, err := s.Put(ctx, bytes.NewReader([]byte("drop me")), "dataset-version:1")
	require.NoError(t, err)
	shared, _, err := s.Put(ctx, bytes.NewReader([]byte("shared")), "dataset-version:2")
	require.NoError(t, err)
	require.NoError(t, s.db.DB.Update(func(txn *badger.Txn) error { return s.Hold(txn, shared, "model:7") }))

	require.NoError(t, s.db.DB.Update(func(txn *badger.Txn) error {
		if err := s.Release(txn, drop, "dataset-version:1"); err != nil {
			return err
		}
		return s.Release(txn, shared, "dataset-version:2")
	}))
	res, err := s.GC(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Blobs)
	assert.EqualValues(t, len("drop me"), res.Bytes)
	assert.False(t, s.Has(drop))
	assert.True(t, s.Has(keep))
	assert.True(t, s.Has(shared), "a blob still used by a model is never freed")
	_, err = s.Stat(drop)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestGCRemovesOrphanFiles(t *testing.T) {
	s := newStore(t)
	d := sum([]byte("orphan"))
	require.NoError(t, os.MkdirAll(filepath.Dir(s.Path(d)), 0o700))
	require.NoError(t, os.WriteFile(s.Path(d), []byte("orphan"), 0o400))
	res, err := s.GC(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Blobs)
	assert.False(t, s.Has(d))
	_, err = os.Stat(filepath.Dir(s.Path(d)))
	assert.True(t, os.IsNotExist(err), "empty fan-out dir removed")
}

func TestFailedCommitLeavesNothing(t *testing.T) {
	s := newStore(t)
	tmp, err := s.Create()
	require.NoError(t, err)
	_, err = tmp.Write([]byte("half an import"))
	require.NoError(t, err)
	want := core.Errorf(core.Invalid, "Row 3 has 2 fields but the header has 3.")
	_, err = tmp.Commit("dataset-version:x", func(*badger.Txn, Digest) error { return want })
	require.ErrorIs(t, err, want)
	assert.False(t, s.Has(sum([]byte("half an import"))))
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "sha256"))
	assert.Empty(t, ents)
	ents, _ = os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	assert.Empty(t, ents)
	metas, _, err := s.List()
	require.NoError(t, err)
	assert.Empty(t, metas)
}

func TestFailedCommitKeepsExistingBlob(t *testing.T) {
	s := newStore(t)
	d, _, err := s.Put(t.Context(), bytes.NewReader([]byte("same")), "a")
	require.NoError(t, err)
	tmp, err := s.Create()
	require.NoError(t, err)
	tmp.Write([]byte("same"))
	_, err = tmp.Commit("b", func(*badger.Txn, Digest) error { return errors.New("boom") })
	require.Error(t, err)
	assert.True(t, s.Has(d), "a failed second write must not delete the first one's bytes")
	h, _ := s.Holders(d)
	assert.Equal(t, []string{"a"}, h)
}

func TestAbortAndCancel(t *testing.T) {
	s := newStore(t)
	tmp, err := s.Create()
	require.NoError(t, err)
	tmp.Write([]byte("x"))
	tmp.Abort()
	tmp.Abort()
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	assert.Empty(t, ents)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err = s.Put(ctx, bytes.NewReader([]byte("y")), "a")
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	ents, _ = os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	assert.Empty(t, ents)
}

func TestParseDigestRejectsPaths(t *testing.T) {
	for _, bad := range []string{"", "../../etc/passwd", string(bytes.Repeat([]byte("A"), 64)), string(bytes.Repeat([]byte("a"), 63)) + "/"} {
		_, err := ParseDigest(bad)
		assert.Error(t, err, bad)
	}
	_, err := ParseDigest(string(sum(nil)))
	assert.NoError(t, err)
}

func BenchmarkPut(b *testing.B) {
	db := store.MustOpen(b)
	s, _ := Open(filepath.Join(db.Dir, "blobs"), db)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		data[0] = byte(i)
		data[1] = byte(i >> 8)
		if _, _, err := s.Put(b.Context(), bytes.NewReader(data), "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashFile(t *testing.T) {
	for _, n := range []int{0, 1, 4 << 20, 4<<20 + 1, 9 << 20} {
		data := bytes.Repeat([]byte{byte(n)}, n)
		p := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		d, size, err := HashFile(p)
		require.NoError(t, err)
		assert.Equal(t, sum(data), d, "n=%d", n)
		assert.EqualValues(t, n, size)
	}
	_, _, err := HashFile(filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestOpenRemovesLeftoversOfACrash(t *testing.T) {
	db := store.MustOpen(t)
	dir := filepath.Join(db.Dir, "blobs")
	s, err := Open(dir, db)
	require.NoError(t, err)
	kept, _, err := s.Put(t.Context(), bytes.NewReader([]byte("recorded")), "a")
	require.NoError(t, err)
	// A crash after the rename, before the record; and a temp file.
	orphan := sum([]byte("orphan"))
	require.NoError(t, os.MkdirAll(filepath.Dir(s.Path(orphan)), 0o700))
	require.NoError(t, os.WriteFile(s.Path(orphan), []byte("orphan"), 0o400))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half"), 0o600))

	s, err = Open(dir, db)
	require.NoError(t, err)
	assert.True(t, s.Has(kept))
	assert.False(t, s.Has(orphan))
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	assert.Empty(t, ents)
}
