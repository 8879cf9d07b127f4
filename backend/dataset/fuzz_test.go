package dataset

import (
	"bytes"
	"encoding/json"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/testenv"
)

// FuzzProfileCSV checks an import of any bytes either fails in words or
// gives a profile with rows that marshals (the table reader's own fuzz
// targets check the parse itself).
func FuzzProfileCSV(f *testing.F) {
	for _, b := range testenv.TableSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseStream(t.Context(), bytes.NewReader(data), io.Discard, nil, "fuzz.csv", Options{Options: table.Options{Format: "csv"}}, nil)
		if err != nil {
			if !isCoreErr(err) {
				t.Fatalf("unworded error: %v", err)
			}
			return
		}
		if _, err := json.Marshal(p.profile); err != nil {
			t.Fatalf("profile does not marshal: %v", err)
		}
		if p.profile.Rows <= 0 {
			t.Fatalf("success with %d rows", p.profile.Rows)
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
	v, err := e.svc.ImportReader(t.Context(), &genCSV{left: size}, "gen.csv", size, Options{})
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
