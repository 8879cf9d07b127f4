// Package backup writes a whole Tern data dir to one file while Tern runs,
// and restores such a file into a new data dir.
//
// The file is a POSIX tar (so `tar tf` lists it) laid out as:
//
//	tern-backup.json      header: format, version, schema, read timestamp
//	store/00000001.kv …   the store: Badger's backup stream (length-prefixed
//	                      KV lists, what DB.Load reads), cut into chunks
//	blobs/<sha256>        every blob recorded at the read timestamp
//	files/<path>          the data dir's other files (artifacts, models,
//	                      monitor reports, the access token)
//	manifest.json         last: every entry above with its size and SHA-256
//
// Records and blobs are exact to one Badger read timestamp: one read
// transaction is held open for the whole backup, so compaction keeps the
// versions it sees, the store stream keeps only versions at or below its
// timestamp, and blob GC is held off so every blob it names is still there.
// Files outside the store are copied as each is when read.
//
// The manifest comes last because sizes and hashes are known only once
// written; a reader therefore extracts into a staging folder, checks every
// entry against the manifest (and each blob against its name), and only
// then moves the folder into place, so a bad or truncated file leaves
// nothing behind.
package backup
