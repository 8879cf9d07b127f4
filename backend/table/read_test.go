package table

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

// TestCollectKeepsFileOrder: a file of several blocks is parsed on several
// workers, and Collect still returns its rows in file order.
func TestCollectKeepsFileOrder(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("i,pad\n")
	n := 0
	for ; b.Len() < 3*blockSize; n++ {
		fmt.Fprintf(&b, "%d,%s\n", n, strings.Repeat("x", 40))
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
	res, rows, err := Collect(func(h Hooks) (*Result, error) {
		return ReadFile(context.Background(), p, Options{}, h)
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
		return Read(context.Background(), Source{Name: "z.csv", R: bytes.NewReader(data)}, Options{Header: &header, Columns: schema}, h)
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
