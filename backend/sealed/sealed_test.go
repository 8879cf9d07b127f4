package sealed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func seal(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key)
	require.NoError(t, err)
	// Odd write sizes, so chunk boundaries fall inside writes.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7777)
		_, err := w.Write(p[:n])
		require.NoError(t, err)
		p = p[n:]
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func open(key, ct []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTripSizes(t *testing.T) {
	key := testKey(t)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 5} {
		plain := make([]byte, n)
		rand.Read(plain)
		ct := seal(t, key, plain)
		assert.EqualValues(t, SealedSize(int64(n)), len(ct), "size %d", n)
		ps, err := PlainSize(int64(len(ct)))
		require.NoError(t, err)
		assert.EqualValues(t, n, ps)
		got, err := open(key, ct)
		require.NoError(t, err, "size %d", n)
		assert.True(t, bytes.Equal(plain, got), "size %d", n)
	}
}

func TestReadAtAndSeek(t *testing.T) {
	key := testKey(t)
	plain := make([]byte, 5*ChunkSize+123)
	rand.Read(plain)
	ct := seal(t, key, plain)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), key)
	require.NoError(t, err)
	for _, off := range []int64{0, 1, ChunkSize - 3, 2*ChunkSize + 17, int64(len(plain)) - 10} {
		buf := make([]byte, 10)
		n, err := r.ReadAt(buf, off)
		require.NoError(t, err)
		assert.Equal(t, plain[off:off+int64(n)], buf[:n])
	}
	buf := make([]byte, 20)
	n, err := r.ReadAt(buf, int64(len(plain))-10)
	assert.Equal(t, 10, n)
	assert.ErrorIs(t, err, io.EOF)
	pos, err := r.Seek(-50, io.SeekEnd)
	require.NoError(t, err)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, plain[pos:], rest)
}

// Every way of damaging a sealed file is refused with ErrCorrupt: the
// plaintext is never handed out.
func TestTamperDetected(t *testing.T) {
	key := testKey(t)
	plain := make([]byte, 3*ChunkSize+100)
	rand.Read(plain)
	ct := seal(t, key, plain)
	chunk := ChunkSize + tagSize
	cases := map[string][]byte{
		"truncated at a chunk boundary": ct[:HeaderSize+2*chunk],
		"truncated mid-chunk":           ct[:len(ct)-40],
		"last chunk dropped":            ct[:HeaderSize+3*chunk],
		"one bit flipped":               flip(ct, HeaderSize+chunk+5),
		"header salt edited":            flip(ct, 12),
		"chunks swapped": func() []byte {
			b := bytes.Clone(ct)
			a, c := b[HeaderSize:HeaderSize+chunk], b[HeaderSize+chunk:HeaderSize+2*chunk]
			tmp := bytes.Clone(a)
			copy(a, c)
			copy(c, tmp)
			return b
		}(),
		"chunk duplicated": func() []byte {
			b := bytes.Clone(ct[:HeaderSize+chunk])
			b = append(b, ct[HeaderSize:HeaderSize+chunk]...)
			return append(b, ct[HeaderSize+chunk:]...)
		}(),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := open(key, bad)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		_, err := open(testKey(t), ct)
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("chunk from another file", func(t *testing.T) {
		other := seal(t, key, plain)
		b := bytes.Clone(ct)
		copy(b[HeaderSize:HeaderSize+chunk], other[HeaderSize:HeaderSize+chunk])
		_, err := open(key, b)
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("empty file cut to its header", func(t *testing.T) {
		e := seal(t, key, nil)
		_, err := open(key, e[:HeaderSize])
		assert.ErrorIs(t, err, ErrCorrupt)
	})
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

func TestSameBytesSealDifferently(t *testing.T) {
	key := testKey(t)
	plain := []byte("the same model file, stored twice")
	a, b := seal(t, key, plain), seal(t, key, plain)
	assert.NotEqual(t, a, b, "a fresh salt per file: equal plaintexts do not show")
	assert.False(t, bytes.Contains(a, plain))
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	plain := bytes.Repeat([]byte("MARKER-7f3a "), 20000)
	for _, k := range []Key{nil, Key(testKey(t))} {
		p := filepath.Join(dir, "f")
		n, err := k.WriteFile(p, bytes.NewReader(plain), 0o400)
		require.NoError(t, err)
		assert.EqualValues(t, len(plain), n)
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, !k.Enabled(), bytes.Contains(raw, []byte("MARKER-7f3a")))
		f, err := k.Open(p)
		require.NoError(t, err)
		assert.EqualValues(t, len(plain), f.Size())
		got, err := io.ReadAll(f)
		require.NoError(t, err)
		f.Close()
		assert.Equal(t, plain, got)
		os.Remove(p)
		ents, _ := os.ReadDir(dir)
		assert.Empty(t, ents, "no temp file left")
	}
	_, err := Key(testKey(t)).Open(filepath.Join(dir, "missing"))
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

// FuzzReader: any bytes given as a sealed file open with an error or with
// the plaintext a writer sealed, never a panic.
func FuzzReader(f *testing.F) {
	key := make([]byte, KeySize)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, key)
	w.Write([]byte("hello, sealed world"))
	w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("TERNSL"))
	f.Add(make([]byte, HeaderSize+tagSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), key)
		if err != nil {
			return
		}
		_, _ = io.ReadAll(r)
		p := make([]byte, 100)
		_, _ = r.ReadAt(p, int64(len(b)/3))
	})
}

func BenchmarkSeal(b *testing.B) {
	key := testKey(b)
	plain := make([]byte, 16<<20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, _ := NewWriter(io.Discard, key)
		w.Write(plain)
		w.Close()
	}
}
