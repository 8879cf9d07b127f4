// Package store owns Tern's Badger database: where it lives, how it opens
// (one Tern per data dir), its schema version and migrations, the key
// codec every domain package uses, and the value-log GC loop.
//
// Large bytes never go into Badger values; they live in the blob store.
package store
