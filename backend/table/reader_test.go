package table

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/testenv"
)

// addSeeds seeds the fuzz targets with the import's test files.
func addSeeds(f *testing.F) {
	for _, b := range testenv.TableSeeds(f) {
		f.Add(b, uint16(len(b)/2))
	}
	f.Add([]byte("a,b\n\"x\"\"y\",2\n\"\",\"\"\n"), uint16(7))
	f.Add([]byte("a\r\n\"\r\n\"\r\n"), uint16(3))
	f.Add([]byte("x\"y,\"z\n1,2\n"), uint16(4))
}

func readBytes(data []byte, name string, opts Options) (*Result, error) {
	return Read(context.Background(), Source{Name: name, R: bytes.NewReader(data),
		ReaderAt: func() (io.ReaderAt, int64, error) { return bytes.NewReader(data), int64(len(data)), nil }}, opts, Hooks{})
}

// FuzzCSV checks the CSV path never panics, always words its errors, and
// that splitting a stream where lastBoundary says gives exactly the records
// of the unsplit stream (the parallel parse depends on it).
func FuzzCSV(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		res, err := readBytes(data, "fuzz.csv", Options{Format: "csv"})
		if err != nil {
			if !isCoreErr(err) {
				t.Fatalf("unworded error: %v", err)
			}
		} else {
			if _, err := json.Marshal(res.Detected); err != nil {
				t.Fatalf("detection does not marshal: %v", err)
			}
			if res.Rows <= 0 {
				t.Fatalf("success with %d rows", res.Rows)
			}
		}
		for _, delim := range []byte{',', ';'} {
			whole, werr := sampleRecords(data, delim, math.MaxInt, true)
			c := int(cut) % (len(data) + 1)
			b := lastBoundary(data[:c], delim)
			if b < 0 {
				continue
			}
			left, lerr := sampleRecords(data[:b], delim, math.MaxInt, true)
			if lerr != nil {
				t.Fatalf("a chunk cut at a boundary had an open quote: %q", data[:b])
			}
			right, rerr := sampleRecords(data[b:], delim, math.MaxInt, true)
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
	good := testenv.ScoresParquet(f, 50)
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
			_, err := readBytes(b, "fuzz.parquet", Options{Format: "parquet"})
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

func TestFastFloatMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-12.5", "3.14159", "0.1", "123456789012345", "99999.99999", "+7", "1.", ".5"} {
		v, ok := fastFloat([]byte(s))
		if !ok {
			continue
		}
		want := mustParse(s)
		assert.Equal(t, math.Float64bits(want), math.Float64bits(v), s)
	}
	for _, s := range []string{"", "-", ".", "1e5", "1.2.3", "12345678901234567", "inf", "0x10", "1,5"} {
		_, ok := fastFloat([]byte(s))
		assert.False(t, ok, s)
	}
}

// BenchmarkCSVRecords is the record splitter alone.
func BenchmarkCSVRecords(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("a,b,c,d\n")
	for i := 0; buf.Len() < 16<<20; i++ {
		fmt.Fprintf(&buf, "%d,%d.5,%d,%d\n", i, i%977, i*7%1000, i%3)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &csvRecords{data: data, line: 1, delim: ','}
		for {
			if _, _, err := r.next(); err != nil {
				break
			}
		}
	}
}

// TestCollectKeepsFileOrder: a file of several blocks is parsed on several
// workers, and Collect still returns its rows in file order.
func TestCollectKeepsFileOrder(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("i,pad\n")
	n := 0
	for ; b.Len() < 3*blockSize; n++ {
		fmt.Fprintf(&b, "%d,%s\n", n, strings.Repeat("x", 40))
	}
	p := testenv.File(t, "big.csv", b.Bytes())
	res, rows, err := Collect(func(h Hooks) (*Result, error) {
		return ReadFile(t.Context(), p, Options{}, h)
	}, func(_ []Column, r *Row) (float64, error) { return r.Num[0], nil })
	require.NoError(t, err)
	require.Equal(t, int64(n), res.Rows)
	require.Len(t, rows, n)
	for i, v := range rows {
		if v != float64(i) {
			t.Fatalf("row %d holds %v", i, v)
		}
	}
}

// TestReadWithASchema: a known schema (a dataset version read again) is
// used as given, and a file it does not fit is refused in words.
func TestReadWithASchema(t *testing.T) {
	data := []byte("zip,n\n01234,1\n99999,2\n")
	header := true
	schema := []Column{{Name: "zip", Type: Categorical}, {Name: "n", Type: Float}}
	res, rows, err := Collect(func(h Hooks) (*Result, error) {
		return Read(t.Context(), Source{Name: "z.csv", R: bytes.NewReader(data)}, Options{Header: &header, Columns: schema}, h)
	}, func(_ []Column, r *Row) (string, error) { return string(r.Fields[0]), nil })
	require.NoError(t, err)
	assert.Equal(t, schema, res.Detected.Columns)
	assert.Equal(t, []string{"01234", "99999"}, rows)

	for _, bad := range [][]Column{schema[:1], {{Name: "zip"}, {Name: "m"}}} {
		_, err := readBytes(data, "z.csv", Options{Header: &header, Columns: bad})
		require.Error(t, err)
		assert.Equal(t, core.Invalid, core.ErrorCode(err))
		assert.Contains(t, err.Error(), "not the file the schema was made for")
	}
}

// TestLongLineBoundIsExact: a record one byte over MaxRecordBytes is
// refused even when a newline follows it within the last block.
func TestLongLineBoundIsExact(t *testing.T) {
	data := append([]byte("a\n"), bytes.Repeat([]byte("x"), MaxRecordBytes+1)...)
	data = append(data, '\n')
	_, err := readBytes(data, "long.csv", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Line 2 is longer than 8 MB")
	ok := append(append([]byte("a\n"), bytes.Repeat([]byte("x"), MaxRecordBytes)...), '\n')
	_, err = readBytes(ok, "long.csv", Options{})
	assert.NoError(t, err)
}
