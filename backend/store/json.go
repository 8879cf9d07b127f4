package store

import (
	"bytes"
	"encoding/json"

	"github.com/dgraph-io/badger/v4"
)

// GetJSON reads key in txn into v; a missing key is badger.ErrKeyNotFound.
func GetJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// SetJSON writes v as JSON under key in txn.
func SetJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}

// EachJSON decodes every value under prefix into a T and hands it to each,
// in key order, or the reverse with newestFirst (keys that end in a time or
// sequence then come newest first). An error from each stops the scan and
// is returned. Records of one kind share a prefix, so this lists a kind.
func EachJSON[T any](txn *badger.Txn, prefix []byte, newestFirst bool, each func(T) error) error {
	opt := badger.DefaultIteratorOptions
	opt.Reverse = newestFirst
	if !newestFirst {
		opt.Prefix = prefix
	}
	it := txn.NewIterator(opt)
	defer it.Close()
	if newestFirst {
		// A reverse seek lands on the greatest key <= its target, which is
		// the next prefix's first key when that key is exactly PrefixEnd;
		// step past it. (A Badger iterator bounded by opt.Prefix could not
		// step: it would stop there, so the reverse scan is unbounded.)
		it.Seek(PrefixEnd(prefix))
		if it.Valid() && !bytes.HasPrefix(it.Item().Key(), prefix) {
			it.Next()
		}
	} else {
		it.Rewind()
	}
	for ; it.ValidForPrefix(prefix); it.Next() {
		var v T
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
			return err
		}
		if err := each(v); err != nil {
			return err
		}
	}
	return nil
}

// EachKey hands every key under prefix, in order, to each without reading
// the values (Badger then answers from its index alone). The key is only
// valid during the call. An error from each stops the scan and is returned.
func EachKey(txn *badger.Txn, prefix []byte, each func(key []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Prefix = prefix
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := each(it.Item().Key()); err != nil {
			return err
		}
	}
	return nil
}
