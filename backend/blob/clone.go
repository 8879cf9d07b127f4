package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/tern-studio/tern/backend/core"
)

// ErrNoClone says the blob folder's filesystem cannot clone the file (no
// reflink support, another filesystem, another OS): store it by copying.
var ErrNoClone = errors.New("the filesystem cannot clone this file")

// How a blob's bytes got into the store, as the version record and the UI
// say it.
const (
	// Cloned: the filesystem shares the source's blocks (a reflink on XFS
	// or btrfs, clonefile on APFS); no second copy of the bytes was written.
	Cloned = "cloned"
	// Copied: the bytes were read once and written into the store while
	// being hashed.
	Copied = "copied"
)

// Clone starts a blob from the file src by cloning it into the store's tmp
// folder: the clone shares src's blocks, and writes to src later get new
// blocks, so editing the original never changes the stored bytes (a hard
// link would). Nothing is hashed yet: read the bytes through Reader (the
// import parses and hashes them in its one pass) and Commit hashes what
// was not read, so the digest is always that of the clone's bytes, which
// are what is kept. A file changing while it is imported therefore cannot
// make the digest disagree with the stored bytes. errors.Is(err,
// ErrNoClone) means "copy instead".
func (s *Store) Clone(src *os.File) (*Temp, error) {
	if s.Encrypted() {
		return nil, ErrNoClone // the stored bytes are sealed, never the source's blocks
	}
	dst, err := cloneInto(src, filepath.Join(s.dir, "tmp"))
	if err != nil {
		return nil, err
	}
	return &Temp{s: s, f: dst, w: dst, h: sha256.New(), cloned: true}, nil
}

// Cloned reports whether the blob's bytes came from a clone.
func (t *Temp) Cloned() bool { return t.cloned }

// Reader reads a cloned blob's bytes from the start, hashing them as they
// are read; Size and Digest follow what has been read.
func (t *Temp) Reader() io.Reader { return &hashingReader{t: t} }

type hashingReader struct{ t *Temp }

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.t.f.ReadAt(p, r.t.n)
	if n > 0 {
		r.t.h.Write(p[:n])
		r.t.n += int64(n)
	}
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// HashRest hashes the part of a clone nobody read (a caller that stopped
// early), so Digest and Size cover every byte kept. Commit calls it; call
// it first when the digest is needed before Commit. A copied blob has
// nothing left to hash.
func (t *Temp) HashRest() error { return t.finishHash() }

func (t *Temp) finishHash() error {
	if !t.cloned {
		return nil
	}
	// Read on from where the caller stopped, the next block read while
	// this one is hashed (all of it, when the digest alone was wanted).
	n, err := hashInto(t.h, io.NewSectionReader(t.f, t.n, 1<<62))
	t.n += n
	if err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not read the cloned file: %v", plain(err))
	}
	return nil
}

// PutFile stores the file at path as a blob held by holder: a clone plus
// a hash where the blob folder's filesystem can clone it, else one read
// that hashes while it copies. how is Cloned or Copied.
func (s *Store) PutFile(ctx context.Context, path, holder string) (d Digest, size int64, how string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, "", core.Wrap(err, core.NotFound, "Tern cannot open %s: %v", path, plain(err))
	}
	defer f.Close()
	t, err := s.Clone(f)
	if err != nil {
		d, size, err = s.Put(ctx, f, holder)
		return d, size, Copied, err
	}
	defer t.Abort()
	if ctx.Err() != nil {
		return "", 0, "", core.Errorf(core.Invalid, "Storing the file was cancelled.")
	}
	d, err = t.Commit(holder, nil)
	return d, t.n, Cloned, err
}
