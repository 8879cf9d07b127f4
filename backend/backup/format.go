package backup

import (
	"time"
)

// Format names the file kind in the header; Version is this layout.
const (
	Format  = "tern-backup"
	Version = 1

	headerName   = "tern-backup.json"
	manifestName = "manifest.json"
	storeDir     = "store/"
	blobsDir     = "blobs/"
	filesDir     = "files/"

	// chunkSize bounds one store entry: tar needs each entry's size before
	// its bytes, so the stream is buffered in memory up to this and cut.
	chunkSize = 8 << 20
	// maxMeta bounds the header and manifest a reader will hold in memory.
	maxMeta = 256 << 20
)

// Header is the first entry: enough to refuse a file early.
type Header struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// ReadTs is the Badger read timestamp the records and blobs are exact to.
	ReadTs      uint64 `json:"read_ts"`
	Schema      int    `json:"schema"`
	TernVersion string `json:"tern_version"`
}

// Entry is one file in the backup, as the manifest lists it.
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest is the last entry: everything before it, with hashes.
type Manifest struct {
	Records int64   `json:"records"`
	Store   []Entry `json:"store"`
	Blobs   []Entry `json:"blobs"`
	Files   []Entry `json:"files"`
}

// Progress is reported while a backup is written or restored.
type Progress struct {
	// Phase is "store", "blobs", "files" or "checking".
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	// Total is an estimate while writing (the store's size on disk is not
	// the size of its stream).
	Total int64 `json:"total"`
}

// Summary says what a backup holds or a restore restored.
type Summary struct {
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	Created   time.Time `json:"created"`
	ReadTs    uint64    `json:"readTs"`
	Records   int64     `json:"records"`
	Blobs     int       `json:"blobs"`
	BlobBytes int64     `json:"blobBytes"`
	Files     int       `json:"files"`
	FileBytes int64     `json:"fileBytes"`
	Seconds   float64   `json:"seconds"`
}
