package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"

	"github.com/tern-studio/tern/backend/core"
)

// HashFile returns the SHA-256 of a file without storing it. Reading and
// hashing overlap (one goroutine reads the next block while this one
// hashes), so a warm file hashes at SHA-256's speed, not read+hash.
func HashFile(path string) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, core.Wrap(err, core.NotFound, "Tern cannot open %s: %v", path, plain(err))
	}
	defer f.Close()
	d, n, err := hashReader(f)
	if err != nil {
		return "", n, core.Wrap(err, core.Unavailable, "Tern could not read %s: %v", path, plain(err))
	}
	return d, n, nil
}

func hashReader(r io.Reader) (Digest, int64, error) {
	h := sha256.New()
	total, err := hashInto(h, r)
	if err != nil {
		return "", total, err
	}
	return Digest(hex.EncodeToString(h.Sum(nil))), total, nil
}

// hashInto writes everything read from r into h, reading the next block
// while this goroutine hashes the last.
func hashInto(h hash.Hash, r io.Reader) (int64, error) {
	const block = 4 << 20
	type buf struct {
		b   []byte
		n   int
		err error
	}
	full := make(chan *buf, 2)
	free := make(chan *buf, 3)
	for i := 0; i < 3; i++ {
		free <- &buf{b: make([]byte, block)}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			var b *buf
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.n, b.err = io.ReadFull(r, b.b)
			select {
			case full <- b:
			case <-stop:
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	var total int64
	for b := range full {
		h.Write(b.b[:b.n])
		total += int64(b.n)
		if b.err == io.EOF || b.err == io.ErrUnexpectedEOF {
			break
		}
		if b.err != nil {
			return total, b.err
		}
		free <- b
	}
	return total, nil
}
