package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func allRecords(data []byte, delim byte, final bool) ([][]string, error) {
	r := &csvRecords{data: data, line: 1, delim: delim, final: final}
	var out [][]string
	for {
		f, _, err := r.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec := make([]string, len(f))
		for i, b := range f {
			rec[i] = string(b)
		}
		out = append(out, rec)
	}
}

func addSeeds(f *testing.F) {
	for _, dir := range []string{"testdata/malformed", "testdata/good"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && len(b) < 1<<16 {
				f.Add(b, uint16(len(b)/2))
			}
		}
	}
	f.Add([]byte("a,b\n\"x\"\"y\",2\n\"\",\"\"\n"), uint16(7))
	f.Add([]byte("a\r\n\"\r\n\"\r\n"), uint16(3))
	f.Add([]byte("x\"y,\"z\n1,2\n"), uint16(4))
}

// FuzzCSV checks the CSV path never panics, always words its errors, and
// that splitting a stream where lastBoundary says gives exactly the records
// of the unsplit stream (the parallel parse depends on it).
func FuzzCSV(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		p, err := parseStream(context.Background(), bytes.NewReader(data), io.Discard, nil, "fuzz.csv", Options{Format: "csv"}, nil)
		if err != nil {
			if !isCoreErr(err) {
				t.Fatalf("unworded error: %v", err)
			}
		} else {
			if _, err := json.Marshal(p.profile); err != nil {
				t.Fatalf("profile does not marshal: %v", err)
			}
			if p.profile.Rows <= 0 {
				t.Fatalf("success with %d rows", p.profile.Rows)
			}
		}
		for _, delim := range []byte{',', ';'} {
			whole, werr := allRecords(data, delim, true)
			c := int(cut) % (len(data) + 1)
			b := lastBoundary(data[:c], delim)
			if b < 0 {
				continue
			}
			left, lerr := allRecords(data[:b], delim, false)
			if lerr != nil {
				t.Fatalf("a chunk cut at a boundary had an open quote: %q", data[:b])
			}
			right, rerr := allRecords(data[b:], delim, true)
			if (werr == nil) != (rerr == nil) {
				t.Fatalf("split changed the error: whole %v, right %v", werr, rerr)
			}
			if werr == nil {
				got := append(left, right...)
				if len(got) != len(whole) {
					t.Fatalf("split at %d: %d+%d records, whole %d\n%q", b, len(left), len(right), len(whole), data)
				}
				for i := range got {
					if len(got[i]) != len(whole[i]) {
						t.Fatalf("record %d differs after split at %d: %q vs %q", i, b, got[i], whole[i])
					}
					for j := range got[i] {
						if got[i][j] != whole[i][j] {
							t.Fatalf("record %d differs after split at %d: %q vs %q", i, b, got[i], whole[i])
						}
					}
				}
			}
		}
	})
}

// FuzzParquet checks damaged Parquet input gives a worded error, never a
// panic or a hang.
func FuzzParquet(f *testing.F) {
	good := parquetBytes(f, 50)
	f.Add(good, uint16(0), byte(0))
	f.Add(good, uint16(len(good)-10), byte(0xff))
	f.Add(good[:len(good)/2], uint16(3), byte(1))
	f.Add([]byte("PAR1PAR1"), uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, at uint16, x byte) {
		b := append([]byte(nil), data...)
		if len(b) > 0 {
			b[int(at)%len(b)] ^= x
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, err := parseStream(context.Background(), bytes.NewReader(b), io.Discard,
				func() (io.ReaderAt, int64, error) { return bytes.NewReader(b), int64(len(b)), nil },
				"fuzz.parquet", Options{Format: "parquet"}, nil)
			if err != nil && !isCoreErr(err) {
				t.Errorf("unworded error: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("parquet parse hung")
		}
	})
}

// TestBoundedMemory streams a 200 MB CSV that never exists in memory and
// samples the heap meanwhile: an import holds a few blocks, not the file.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	e := newEnv(t)
	const size = 200 << 20
	// Badger's memtable arena is on the Go heap: measure above it.
	runtime.GC()
	base := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(base)
	var peak atomic.Uint64
	peak.Store(base[0].Value.Uint64())
	stop := make(chan struct{})
	go func() {
		// Live heap after each GC: what the import holds, not garbage
		// waiting to be collected.
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	v, err := e.svc.ImportReader(context.Background(), &genCSV{left: size}, "gen.csv", size, Options{})
	close(stop)
	require.NoError(t, err)
	assert.Greater(t, v.Rows, int64(1_000_000))
	grew := peak.Load() - base[0].Value.Uint64()
	assert.Less(t, grew, uint64(64<<20), "live heap grew by %d MB", grew>>20)
	t.Logf("200 MB import: live heap grew by %d MB (base %d MB), %d rows", grew>>20, base[0].Value.Uint64()>>20, v.Rows)
}

// genCSV produces numeric CSV rows on the fly.
type genCSV struct {
	left    int
	row     int
	pending []byte
	header  bool
}

func (g *genCSV) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		if len(g.pending) == 0 {
			if !g.header {
				g.header = true
				g.pending = []byte("a,b,c,d\n")
			} else {
				g.row++
				g.pending = append(g.pending[:0], []byte(
					itoa(g.row)+","+itoa(g.row%977)+".5,"+itoa(g.row*7%1000)+","+itoa(g.row%3)+"\n")...)
			}
			if len(g.pending) > g.left {
				g.pending = g.pending[:0]
				g.left = 0
				break
			}
		}
		c := copy(p[n:], g.pending)
		g.pending = g.pending[c:]
		n += c
		g.left -= c
	}
	return n, nil
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

func mustParse(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzFastFloat: the fast path must agree with strconv bit for bit.
func FuzzFastFloat(f *testing.F) {
	for _, s := range []string{"1.5", "-0.001", "123456789012345", "7."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := fastFloat([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(want) != math.Float64bits(v) {
			t.Fatalf("%q: fast %v, strconv %v (%v)", s, v, want, err)
		}
	})
}
