package dataset

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/table"
)

// An upload over the browser-mode cap arrives as a body that fails part
// way (http.MaxBytesReader): the import says so, in a way the HTTP face can
// tell from a parse error (it answers 413), and keeps nothing.
func TestImportCutShortKeepsNothing(t *testing.T) {
	e := newEnv(t)
	before := treeDigest(t, e.dir)
	big := bytes.Repeat([]byte("1,2\n"), 1<<19)
	body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(append([]byte("a,b\n"), big...))), 1<<20)
	_, err := e.svc.ImportReader(t.Context(), body, "big.csv", 0, Options{})
	var mbe *http.MaxBytesError
	require.ErrorAs(t, err, &mbe)
	assert.Equal(t, before, treeDigest(t, e.dir))
}

func TestColumnChart(t *testing.T) {
	e := newEnv(t)
	v, err := e.svc.ImportReader(t.Context(), strings.NewReader("n,c\n1,a\n2,b\n3,a\n"), "c.csv", 0, Options{})
	require.NoError(t, err)
	for _, c := range []string{"n", "c"} {
		svg, err := e.svc.ColumnChart(v.ID, c, 300, 160)
		require.NoError(t, err)
		assert.Contains(t, string(svg), `<svg width="300" height="160"`)
	}
	_, err = e.svc.ColumnChart(v.ID, "nope", 300, 160)
	assert.Error(t, err)
}

func TestDetectWritesNothing(t *testing.T) {
	e := newEnv(t)
	before := treeDigest(t, e.dir)
	d, err := e.svc.Detect("testdata/good/semicolon.csv", Options{})
	require.NoError(t, err)
	assert.Equal(t, ";", d.Delimiter)
	assert.True(t, d.Header)
	assert.Equal(t, [][]string{{"1", "2,5", "x"}, {"3", "4,5", "y"}}, d.Rows)
	d, err = e.svc.Detect("testdata/good/windows1252.csv", Options{})
	require.NoError(t, err)
	assert.Equal(t, "windows-1252", d.Encoding)
	assert.Equal(t, "José", d.Rows[0][0])
	_, err = e.svc.Detect("testdata/malformed/duplicate_columns.csv", Options{})
	assert.ErrorContains(t, err, "both named")
	assert.Equal(t, before, treeDigest(t, e.dir))
}

func TestReimportWithOtherSettings(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// Detection takes the first row for data (it has numbers); the person
	// says it is a header.
	v1, err := e.svc.ImportReader(ctx, strings.NewReader("2019,2020\n1,2\n3,4\n"), "years.csv", 0, Options{})
	require.NoError(t, err)
	assert.False(t, v1.Header)
	assert.EqualValues(t, 3, v1.Rows)
	yes := true
	v2, err := e.svc.Reimport(ctx, v1.ID, Options{Options: table.Options{Header: &yes}})
	require.NoError(t, err)
	assert.Equal(t, 2, v2.Number)
	assert.Equal(t, v1.Digest, v2.Digest, "same bytes, same blob")
	assert.EqualValues(t, 2, v2.Rows)
	assert.Equal(t, "2019", v2.Schema[0].Name)
	h, err := e.blobs.Holders(blob.Digest(v1.Digest))
	require.NoError(t, err)
	assert.Len(t, h, 2)
	// The same settings again: the same version.
	v3, err := e.svc.Reimport(ctx, v2.ID, Options{Options: table.Options{Header: &yes}})
	require.NoError(t, err)
	assert.Equal(t, v2.ID, v3.ID)
}

// failAfter is a disk that fills up after n bytes.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, core.Errorf(core.Unavailable, "Tern could not write the file into its blob folder: no space left on device")
	}
	return len(p), nil
}

func TestDiskFullMidImport(t *testing.T) {
	data, _ := io.ReadAll(&genCSV{left: 20 << 20})
	_, err := parseStream(t.Context(), bytes.NewReader(data), &failAfter{n: 9 << 20}, nil, "big.csv", Options{}, nil)
	require.Error(t, err)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "no space left on device", "the disk error wins over any parse error it causes")
}

func TestUnwritableBlobDir(t *testing.T) {
	e := newEnv(t)
	// Something that is not a writable folder where temp files go (a
	// permission error for a normal user; this works as root too).
	tmp := filepath.Join(e.blobs.Dir(), "tmp")
	require.NoError(t, os.Remove(tmp))
	require.NoError(t, os.WriteFile(tmp, nil, 0o400))
	before := treeDigest(t, e.dir)
	_, err := e.svc.ImportReader(t.Context(), strings.NewReader("a\n1\n"), "a.csv", 0, Options{})
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "cannot write to its blob folder")
	assert.Equal(t, before, treeDigest(t, e.dir))
}
