package store

import (
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
