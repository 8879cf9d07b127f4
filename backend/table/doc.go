// Package table is the one reader of tabular files: CSV (any delimiter,
// UTF-8, UTF-16 or Windows-1252, quoted fields), JSON lines and flat
// Parquet. It detects how a file is written (format, encoding, delimiter,
// header, column types), then streams every record through the same
// checks (ragged rows, missing-value tokens, values that do not fit their
// column's type), handing typed rows to a caller's sink.
//
// The dataset import profiles a file through it, training reads a dataset
// version through it with the version's stored Options, and the monitor
// reads uploaded comparison files through it — so what the profile shows is
// what the model trains on. It holds no storage: the tern-runtime binary
// links it without Badger.
package table
