package store

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOpenStampsSchemaAndReopens(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet})
	require.NoError(t, err)
	v, err := s.Version()
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	require.NoError(t, s.DB.Update(func(txn *badger.Txn) error {
		return txn.Set(Key(PrefixDatasets, []byte("k")), []byte("v"))
	}))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "second close is a no-op")

	s, err = Open(dir, Options{Logger: quiet})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.DB.View(func(txn *badger.Txn) error {
		it, err := txn.Get(Key(PrefixDatasets, []byte("k")))
		require.NoError(t, err)
		return it.Value(func(b []byte) error { assert.Equal(t, "v", string(b)); return nil })
	}))
	assert.DirExists(t, filepath.Join(dir, "db"))
}

func TestSecondOpenSaysAlreadyOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet})
	require.NoError(t, err)
	defer s.Close()

	_, err = Open(dir, Options{Logger: quiet})
	require.Error(t, err)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, err.Error(), "already open by another Tern")
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, s.DB.Update(func(txn *badger.Txn) error {
		return txn.Set(schemaKey, []byte(fmt.Sprint(SchemaVersion+1)))
	}))
	require.NoError(t, s.Close())

	_, err = Open(dir, Options{Logger: quiet})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer Tern")
}

func TestMigrationRunsOnce(t *testing.T) {
	calls := 0
	saved := Migrations
	t.Cleanup(func() { Migrations = saved })
	Migrations = []Migration{func(txn *badger.Txn) error {
		calls++
		return txn.Set(Key(PrefixMeta, []byte("migrated")), []byte("1"))
	}}
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		s, err := Open(dir, Options{Logger: quiet})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	assert.Equal(t, 1, calls)
}

func TestKeyOrdering(t *testing.T) {
	assert.Less(t, string(I64(-5)), string(I64(3)))
	assert.Less(t, string(U64(255)), string(U64(256)))
	assert.Equal(t, int64(-42), DecodeI64(I64(-42)))
	assert.Equal(t, []byte{0x10, 0x02}, PrefixEnd([]byte{0x10, 0x01, 0xff}))
	assert.Nil(t, PrefixEnd([]byte{0xff}))
}

func TestGCOnQuietStore(t *testing.T) {
	s := MustOpen(t)
	assert.GreaterOrEqual(t, s.RunGC(), 0)
}

func BenchmarkStorePut(b *testing.B) {
	s := MustOpen(b)
	val := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	const batch = 1000
	for i := 0; i < b.N; i += batch {
		wb := s.DB.NewWriteBatch()
		for j := i; j < i+batch && j < b.N; j++ {
			if err := wb.Set(Key(PrefixMeta, []byte("bench"), U64(uint64(j))), val); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
