// Package sealed is Tern's format for files encrypted at rest: a stream of
// fixed-size chunks, each sealed with AES-256-GCM, so a file of any size is
// written and read with bounded memory and read back at any offset (Parquet
// readers seek to the footer) without decrypting what comes before.
//
// Layout: a 32-byte header (magic "TERNSL", format version, log2 of the
// chunk size, 24 random bytes of salt) and then the chunks, each the
// chunk's plaintext plus a 16-byte tag. Every file gets its own key,
// HKDF-SHA256(data key, salt), so nonces never repeat across files; a
// chunk's nonce is its index and a flag saying whether it is the last one
// (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár), and
// the header is the associated data of every chunk. So a chunk moved to
// another place, swapped with another, cut off the end, or copied from
// another file fails to open, and so does an edited header.
//
// Every chunk but the last holds exactly ChunkSize bytes; the last holds 1
// to ChunkSize (0 only when the whole file is empty). The plaintext size
// therefore follows from the file size alone.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	magic      = "TERNSL"
	version    = 1
	chunkShift = 16
	// ChunkSize is how many plaintext bytes one chunk holds (64 KiB).
	ChunkSize = 1 << chunkShift
	// HeaderSize is the length of a sealed file's header.
	HeaderSize = 32
	tagSize    = 16
	// KeySize is the length of a data key.
	KeySize = 32
)

// ErrCorrupt says a sealed file was cut short, reordered, edited, or
// sealed under another key. Errors wrap it, so errors.Is finds it.
var ErrCorrupt = errors.New("the encrypted file is damaged or was sealed with another key")

// SealedSize is the on-disk size of a plaintext of n bytes.
func SealedSize(n int64) int64 {
	chunks := (n + ChunkSize - 1) / ChunkSize
	if chunks == 0 {
		chunks = 1
	}
	return HeaderSize + n + chunks*tagSize
}

// PlainSize is the plaintext size of a sealed file of n bytes, or an error
// when no sealed file has that size.
func PlainSize(n int64) (int64, error) {
	body := n - HeaderSize
	if body < tagSize {
		return 0, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, n)
	}
	chunks := (body + ChunkSize + tagSize - 1) / (ChunkSize + tagSize)
	last := body - (chunks-1)*(ChunkSize+tagSize)
	if last < tagSize || (last == tagSize && chunks > 1) {
		return 0, fmt.Errorf("%w: its size (%d bytes) does not end on a chunk", ErrCorrupt, n)
	}
	return body - chunks*tagSize, nil
}

func fileAEAD(key, header []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealed: a data key is %d bytes, not %d", KeySize, len(key))
	}
	fk, err := hkdf.Key(sha256.New, key, header[8:], "tern sealed file v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(fk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonce(dst []byte, index uint64, last bool) []byte {
	dst = dst[:12]
	clear(dst)
	binary.BigEndian.PutUint64(dst[3:11], index)
	if last {
		dst[11] = 1
	}
	return dst
}

// Writer seals what is written to it into w. Close writes the last chunk;
// without it the file does not open.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	header [HeaderSize]byte
	buf    []byte // plaintext of the chunk being filled
	out    []byte
	nonce  [12]byte
	index  uint64
	err    error
	closed bool
}

// NewWriter starts a sealed stream on w under key (KeySize bytes) and
// writes its header.
func NewWriter(w io.Writer, key []byte) (*Writer, error) {
	sw := &Writer{w: w, buf: make([]byte, 0, ChunkSize), out: make([]byte, 0, ChunkSize+tagSize)}
	copy(sw.header[:], magic)
	sw.header[6] = version
	sw.header[7] = chunkShift
	if _, err := rand.Read(sw.header[8:]); err != nil {
		return nil, err
	}
	aead, err := fileAEAD(key, sw.header[:])
	if err != nil {
		return nil, err
	}
	sw.aead = aead
	if _, err := w.Write(sw.header[:]); err != nil {
		return nil, err
	}
	return sw, nil
}

// Write buffers p and seals every chunk that fills. A full chunk is held
// back until more bytes come, because only Close knows which one is last.
func (sw *Writer) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	if sw.closed {
		return 0, errors.New("sealed: write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(sw.buf) == ChunkSize {
			if err := sw.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(sw.buf[len(sw.buf):ChunkSize], p)
		sw.buf = sw.buf[:len(sw.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (sw *Writer) flush(last bool) error {
	sw.out = sw.aead.Seal(sw.out[:0], nonce(sw.nonce[:], sw.index, last), sw.buf, sw.header[:])
	sw.index++
	sw.buf = sw.buf[:0]
	if _, err := sw.w.Write(sw.out); err != nil {
		sw.err = err
		return err
	}
	return nil
}

// Close seals the last chunk. It does not close the underlying writer.
func (sw *Writer) Close() error {
	if sw.closed {
		return sw.err
	}
	sw.closed = true
	if sw.err != nil {
		return sw.err
	}
	return sw.flush(true)
}

// Reader opens a sealed file for reading at any offset. It keeps the last
// chunk it opened, so sequential reads open each chunk once. A Reader is
// not safe for concurrent use.
type Reader struct {
	r      io.ReaderAt
	aead   cipher.AEAD
	header [HeaderSize]byte
	size   int64 // plaintext
	chunks int64
	pos    int64 // for Read and Seek

	cur   int64 // index of the chunk in plain, -1 for none
	plain []byte
	ct    []byte
	nonce [12]byte
}

// NewReader checks the header of the sealed file r (sealedSize bytes long)
// and returns a reader of its plaintext. The first chunk is authenticated
// here, the others as they are read, so damage further on is reported by
// the read that reaches it.
func NewReader(r io.ReaderAt, sealedSize int64, key []byte) (*Reader, error) {
	size, err := PlainSize(sealedSize)
	if err != nil {
		return nil, err
	}
	sr := &Reader{r: r, size: size, cur: -1, plain: make([]byte, 0, ChunkSize), ct: make([]byte, ChunkSize+tagSize)}
	if _, err := r.ReadAt(sr.header[:], 0); err != nil {
		return nil, fmt.Errorf("%w: cannot read its header: %v", ErrCorrupt, err)
	}
	if string(sr.header[:6]) != magic {
		return nil, fmt.Errorf("%w: it is not a Tern encrypted file", ErrCorrupt)
	}
	if sr.header[6] != version || sr.header[7] != chunkShift {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, sr.header[6])
	}
	if sr.aead, err = fileAEAD(key, sr.header[:]); err != nil {
		return nil, err
	}
	sr.chunks = (size + ChunkSize - 1) / ChunkSize
	if sr.chunks == 0 {
		sr.chunks = 1
	}
	// The first chunk is opened now, so a wrong key is told at open, not
	// halfway through a read.
	if err := sr.load(0); err != nil {
		return nil, err
	}
	return sr, nil
}

// Size is the plaintext size.
func (sr *Reader) Size() int64 { return sr.size }

func (sr *Reader) load(i int64) error {
	if sr.cur == i {
		return nil
	}
	sr.cur = -1
	off := HeaderSize + i*(ChunkSize+tagSize)
	n := int64(ChunkSize + tagSize)
	if i == sr.chunks-1 {
		n = sr.size - i*ChunkSize + tagSize
	}
	ct := sr.ct[:n]
	if _, err := sr.r.ReadAt(ct, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: it ends early", ErrCorrupt)
		}
		return err
	}
	p, err := sr.aead.Open(sr.plain[:0], nonce(sr.nonce[:], uint64(i), i == sr.chunks-1), ct, sr.header[:])
	if err != nil {
		return fmt.Errorf("%w (chunk %d of %d does not authenticate)", ErrCorrupt, i+1, sr.chunks)
	}
	sr.plain, sr.cur = p, i
	return nil
}

// ReadAt reads plaintext at off.
func (sr *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("sealed: negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= sr.size {
			return n, io.EOF
		}
		i := off / ChunkSize
		if err := sr.load(i); err != nil {
			return n, err
		}
		k := copy(p, sr.plain[off-i*ChunkSize:])
		p = p[k:]
		n += k
		off += int64(k)
	}
	return n, nil
}

// Read reads plaintext from the current position.
func (sr *Reader) Read(p []byte) (int, error) {
	if sr.pos >= sr.size {
		// An empty file still has one chunk to authenticate.
		if sr.size == 0 {
			if err := sr.load(0); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if len(p) > int(sr.size-sr.pos) {
		p = p[:sr.size-sr.pos]
	}
	n, err := sr.ReadAt(p, sr.pos)
	sr.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek moves the position Read reads from.
func (sr *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += sr.pos
	case io.SeekEnd:
		offset += sr.size
	default:
		return 0, errors.New("sealed: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("sealed: negative position")
	}
	sr.pos = offset
	return offset, nil
}
