package sealed

import (
	"io"
	"os"
	"path/filepath"
)

// ReadFile is what every reader of a file at rest gets: the plaintext at
// any offset, whether or not the file is sealed.
type ReadFile interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
	Name() string
}

// Key is the data key files are sealed with; a nil Key means files are
// kept as plaintext, so callers have one code path either way.
type Key []byte

// Enabled reports whether files are sealed.
func (k Key) Enabled() bool { return len(k) > 0 }

// Open opens path for reading its plaintext.
func (k Key) Open(path string) (ReadFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	rf, err := k.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return rf, nil
}

// OpenFile reads the plaintext of the open file f of size bytes (for
// files opened through an os.Root). Closing the result closes f; on error
// f is left open.
func (k Key) OpenFile(f *os.File, size int64) (ReadFile, error) {
	if !k.Enabled() {
		return plainFile{f, size}, nil
	}
	r, err := NewReader(f, size, k)
	if err != nil {
		return nil, err
	}
	return &sealedFile{Reader: r, f: f}, nil
}

// PlainSize is the plaintext size of a file of n bytes on disk.
func (k Key) PlainSize(n int64) int64 {
	if !k.Enabled() {
		return n
	}
	p, err := PlainSize(n)
	if err != nil {
		return 0
	}
	return p
}

// Writer wraps w so that what is written is sealed (or passed through when
// the key is nil). Close finishes the seal, never closing w.
func (k Key) Writer(w io.Writer) (io.WriteCloser, error) {
	if !k.Enabled() {
		return nopCloser{w}, nil
	}
	return NewWriter(w, k)
}

// WriteFile writes everything read from r to path, sealed, through a temp
// file in the same folder renamed into place: path is whole or absent. It
// returns the plaintext size.
func (k Key) WriteFile(path string, r io.Reader, perm os.FileMode) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tern-seal-*")
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w, err := k.Writer(tmp)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return n, err
	}
	if err := w.Close(); err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, err
	}
	ok = true
	return n, nil
}

type plainFile struct {
	*os.File
	size int64
}

func (p plainFile) Size() int64 { return p.size }

type sealedFile struct {
	*Reader
	f *os.File
}

func (s *sealedFile) Close() error { return s.f.Close() }
func (s *sealedFile) Name() string { return s.f.Name() }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
