package store

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEachJSONAndEachKey checks that the scans stay inside their prefix
// (a neighbouring prefix whose key would sort next is not read), run in key
// order or its reverse, and stop at the first error.
func TestEachJSONAndEachKey(t *testing.T) {
	s := MustOpen(t)
	type rec struct{ N int }
	require.NoError(t, s.DB.Update(func(txn *badger.Txn) error {
		for i := 1; i <= 3; i++ {
			if err := SetJSON(txn, Key(0x10, U64(uint64(i))), rec{i}); err != nil {
				return err
			}
		}
		if err := SetJSON(txn, []byte{0x11}, rec{99}); err != nil {
			return err
		}
		return SetJSON(txn, []byte{0x0f, 0xff}, rec{-1})
	}))
	read := func(newestFirst bool) (got []int) {
		require.NoError(t, s.DB.View(func(txn *badger.Txn) error {
			return EachJSON(txn, []byte{0x10}, newestFirst, func(r rec) error { got = append(got, r.N); return nil })
		}))
		return got
	}
	assert.Equal(t, []int{1, 2, 3}, read(false))
	assert.Equal(t, []int{3, 2, 1}, read(true))

	var keys [][]byte
	stop := errors.New("stop")
	err := s.DB.View(func(txn *badger.Txn) error {
		return EachKey(txn, []byte{0x10}, func(k []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			if len(keys) == 2 {
				return stop
			}
			return nil
		})
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, [][]byte{Key(0x10, U64(1)), Key(0x10, U64(2))}, keys)

	err = s.DB.View(func(txn *badger.Txn) error {
		return EachJSON(txn, []byte{0x10}, false, func(r rec) error { return stop })
	})
	assert.ErrorIs(t, err, stop)
	err = s.DB.View(func(txn *badger.Txn) error {
		return EachJSON(txn, []byte{0x10}, false, func(string) error { return nil })
	})
	assert.Error(t, err, "a value that is not the type asked for is an error, not a zero value")
}
