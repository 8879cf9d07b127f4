package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

type env struct {
	svc   *Service
	blobs *blob.Store
	dir   string
	bus   *core.Bus
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := store.MustOpen(t)
	b, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	bus := core.NewBus()
	return &env{svc: NewService(db, b, bus, db.Dir), blobs: b, dir: db.Dir, bus: bus}
}

// treeDigest hashes every path, mode and byte under dir, so a test can
// assert that a failed import left the data dir exactly as it was.
var treeBuf = make([]byte, 1<<20)

// hashExtents hashes a file's bytes. Badger's files are large and mostly
// holes (sparse), so on Linux only the data extents are read (SEEK_DATA /
// SEEK_HOLE), each with its offset: holes read as zeros by definition, so
// this is exactly as strict as reading every byte, and much faster.
func hashExtents(t testing.TB, f *os.File, size int64) uint64 {
	const seekData, seekHole = 3, 4
	x := xxhash.New()
	var off int64
	for off < size {
		start, err := f.Seek(off, seekData)
		if err != nil {
			if off == 0 && !strings.Contains(err.Error(), "no such device") {
				// No SEEK_DATA here: read it all.
				f.Seek(0, io.SeekStart)
				_, err := io.CopyBuffer(x, f, treeBuf)
				require.NoError(t, err)
				return x.Sum64()
			}
			break // ENXIO: no data after off
		}
		end, err := f.Seek(start, seekHole)
		require.NoError(t, err)
		fmt.Fprintf(x, "@%d:", start)
		_, err = f.Seek(start, io.SeekStart)
		require.NoError(t, err)
		_, err = io.CopyBuffer(x, io.LimitReader(f, end-start), treeBuf)
		require.NoError(t, err)
		off = end
	}
	return x.Sum64()
}

func treeDigest(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	var paths []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}))
	sort.Strings(paths)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v %d\n", rel, fi.Mode(), fi.Size())
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			require.NoError(t, err)
			fmt.Fprintf(h, "%x\n", hashExtents(t, f, fi.Size()))
			f.Close()
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	// An old modification time, so the re-import cache trusts the file.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	return p
}

func col(p Profile, name string) ColumnProfile {
	for _, c := range p.Columns {
		if c.Name == name {
			return c
		}
	}
	return ColumnProfile{}
}

func TestImportCSVProfile(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("id,age,income,city,member,joined\n")
	cities := []string{"Oslo", "Lima", "Pune"}
	for i := 1; i <= 1000; i++ {
		age := fmt.Sprint(20 + i%50)
		if i%10 == 0 {
			age = "NA"
		}
		fmt.Fprintf(&b, "%d,%s,%d.5,%s,%v,2024-01-%02d\n", i, age, 1000+i*3, cities[i%3], i%2 == 0, 1+i%28)
	}
	path := writeFile(t, "people.csv", []byte(b.String()))
	v, err := e.svc.ImportPath(t.Context(), path, Options{})
	require.NoError(t, err)
	assert.Equal(t, "people", v.Dataset)
	assert.Equal(t, 1, v.Number)
	assert.EqualValues(t, 1000, v.Rows)
	assert.Equal(t, 6, v.Columns)
	assert.Equal(t, ",", v.Delimiter)
	assert.True(t, v.Header)
	sum := sha256.Sum256([]byte(b.String()))
	assert.Equal(t, hex.EncodeToString(sum[:]), v.Digest)

	types := map[string]ColumnType{}
	roles := map[string]Role{}
	for _, c := range v.Schema {
		types[c.Name], roles[c.Name] = c.Type, c.Role
	}
	assert.Equal(t, map[string]ColumnType{"id": Integer, "age": Integer, "income": Float, "city": Categorical, "member": Boolean, "joined": Datetime}, types)
	assert.Equal(t, IDRole, roles["id"])

	p, err := e.svc.Profile(v.ID)
	require.NoError(t, err)
	age := col(p, "age")
	assert.EqualValues(t, 900, age.Count)
	assert.EqualValues(t, 100, age.Missing)
	assert.EqualValues(t, 21, age.Numeric.Min) // i%50==0 rows are all NA
	assert.EqualValues(t, 69, age.Numeric.Max)
	assert.InDelta(t, 45, age.Distinct, 2)
	var hsum float64
	for _, c := range age.Numeric.Histogram.Counts {
		hsum += c
	}
	assert.InDelta(t, 900, hsum, 9) // sketch-derived counts: within 1%
	id := col(p, "id")
	assert.InDelta(t, 500.5, id.Numeric.Mean, 1e-9)
	assert.InDelta(t, 288.8194, id.Numeric.Std, 1e-3) // pandas' std of 1..1000
	assert.InDelta(t, 500, id.Numeric.Quantiles[3].Value, 15)
	city := col(p, "city")
	require.NotNil(t, city.Categories)
	assert.Len(t, city.Categories.Top, 3)
	assert.EqualValues(t, 334, city.Categories.Top[0].Count)
	require.NotNil(t, p.Correlations)
	ii := indexOf(p.Correlations.Columns, "id")
	ji := indexOf(p.Correlations.Columns, "income")
	require.True(t, ii >= 0 && ji >= 0)
	assert.InDelta(t, 1.0, p.Correlations.Matrix[ii][ji], 1e-9)
	assert.Len(t, p.Preview, previewRows)
	assert.Equal(t, []string{"1", "21", "1003.5", "Lima", "false", "2024-01-02"}, p.Preview[0])

	file, err := e.svc.VersionFile(v.ID)
	require.NoError(t, err)
	got, _ := os.ReadFile(file)
	assert.Equal(t, b.String(), string(got))
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func TestVersioningDedupeAndDiff(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v1data := "x,y,kind\n1,2,a\n2,4,a\n3,6,b\n"
	p1 := writeFile(t, "data.csv", []byte(v1data))
	v1, err := e.svc.ImportPath(ctx, p1, Options{})
	require.NoError(t, err)

	// Same bytes from another path and through a stream: same version.
	v1b, err := e.svc.ImportReader(ctx, strings.NewReader(v1data), "data.csv", 0, Options{})
	require.NoError(t, err)
	assert.Equal(t, v1.ID, v1b.ID)
	assert.True(t, v1b.Reused)
	// Re-import of the unchanged file hits the stat cache.
	v1c, err := e.svc.ImportPath(ctx, p1, Options{})
	require.NoError(t, err)
	assert.Equal(t, v1.ID, v1c.ID)
	assert.True(t, v1c.Reused)

	v2data := "x,y,z\n1,2,0.5\n2,4,0.5\n3,6,0.5\n100,200,1\n"
	p2 := writeFile(t, "data.csv", []byte(v2data))
	v2, err := e.svc.ImportPath(ctx, p2, Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, v2.Number)
	assert.Equal(t, v1.DatasetID, v2.DatasetID)

	d, err := e.svc.Diff(v2.ID)
	require.NoError(t, err)
	require.NotNil(t, d.From)
	assert.Equal(t, v1.ID, d.From.ID)
	assert.EqualValues(t, 1, d.RowsDelta)
	require.Len(t, d.Added, 1)
	assert.Equal(t, "z", d.Added[0].Name)
	require.Len(t, d.Removed, 1)
	assert.Equal(t, "kind", d.Removed[0].Name)
	require.Len(t, d.Columns, 2)
	assert.Equal(t, "ks", d.Columns[0].Method)
	assert.InDelta(t, 0.25, d.Columns[0].Distance, 1e-9) // one of four values moved past all others

	first, err := e.svc.Diff(v1.ID)
	require.NoError(t, err)
	assert.Nil(t, first.From)

	list, err := e.svc.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].Versions)
	assert.Equal(t, v2.ID, list[0].Current.ID)
}

func TestTrashFreesDisk(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a, err := e.svc.ImportReader(ctx, strings.NewReader("a,b\n1,2\n"), "one.csv", 0, Options{})
	require.NoError(t, err)
	b, err := e.svc.ImportReader(ctx, strings.NewReader("a,b\n1,2\n3,4\n"), "one.csv", 0, Options{})
	require.NoError(t, err)
	// A run holds version a's bytes.
	require.NoError(t, e.svc.db.DB.Update(func(txn *badger.Txn) error { return e.blobs.Hold(txn, blob.Digest(a.Digest), "run:r1") }))

	require.NoError(t, e.svc.TrashDataset(a.DatasetID))
	list, _ := e.svc.List()
	assert.Empty(t, list)
	info, err := e.svc.Trash()
	require.NoError(t, err)
	assert.Len(t, info.Versions, 2)
	assert.EqualValues(t, b.Size, info.FreesBytes, "only the blob no run uses is freed")
	assert.Equal(t, []string{a.ID}, info.Kept)

	res, err := e.svc.EmptyTrash(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Blobs)
	assert.EqualValues(t, b.Size, res.Bytes)
	assert.False(t, e.blobs.Has(blob.Digest(b.Digest)))
	assert.True(t, e.blobs.Has(blob.Digest(a.Digest)))
	_, err = e.svc.Version(b.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	_, err = e.svc.Version(a.ID)
	assert.NoError(t, err, "a version a run uses stays (in the trash)")

	// The name is free for a new dataset.
	c, err := e.svc.ImportReader(ctx, strings.NewReader("q\n1\n"), "one.csv", 0, Options{})
	require.NoError(t, err)
	assert.Equal(t, 1, c.Number)
	assert.NotEqual(t, a.DatasetID, c.DatasetID)
}

func TestEditSchemaRolesAndTypes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v, err := e.svc.ImportReader(ctx, strings.NewReader("zip,sex,label\n01234,f,1\n99999,m,0\n01234,f,1\n"), "z.csv", 0, Options{})
	require.NoError(t, err)
	assert.Equal(t, Integer, v.Schema[0].Type)
	yes := true
	v, err = e.svc.EditSchema(ctx, v.ID, []ColumnEdit{{Name: "zip", Type: Categorical}, {Name: "sex", Protected: &yes}, {Name: "label", Role: Target}})
	require.NoError(t, err)
	assert.Equal(t, Categorical, v.Schema[0].Type)
	assert.True(t, v.Schema[1].Protected)
	assert.Equal(t, Target, v.Schema[2].Role)
	p, err := e.svc.Profile(v.ID)
	require.NoError(t, err)
	assert.Equal(t, "01234", p.Columns[0].Categories.Top[0].Value, "leading zeros kept once the column is categorical")

	// A type the data does not fit changes nothing.
	_, err = e.svc.EditSchema(ctx, v.ID, []ColumnEdit{{Name: "sex", Type: Float}})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), `"f" is not a number`)
	v2, _ := e.svc.Version(v.ID)
	assert.Equal(t, Categorical, v2.Schema[1].Type)

	// Roles carry to the next version.
	v3, err := e.svc.ImportReader(ctx, strings.NewReader("zip,sex,label\n11111,f,1\n"), "z.csv", 0, Options{})
	require.NoError(t, err)
	assert.Equal(t, Target, v3.Schema[2].Role)
	assert.True(t, v3.Schema[1].Protected)
}

func TestProgressAndCancel(t *testing.T) {
	e := newEnv(t)
	events, stop := e.bus.Subscribe(1000)
	defer stop()
	before := treeDigest(t, e.dir)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("a,b\n"))
		for i := 0; i < 200; i++ {
			pw.Write(bytes.Repeat([]byte("1,2\n"), 100000))
			if i == 5 {
				time.Sleep(150 * time.Millisecond)
				cancel()
			}
		}
		pw.Close()
	}()
	_, err := e.svc.ImportReader(ctx, pr, "big.csv", 0, Options{ImportID: "imp1"})
	require.ErrorIs(t, err, ErrCancelled)
	pr.Close()
	assert.Equal(t, before, treeDigest(t, e.dir))
	var phases []string
	var det *Detected
	timeout := time.After(time.Second)
loop:
	for {
		select {
		case ev := <-events:
			if p, ok := ev.Data.(Progress); ok {
				phases = append(phases, p.Phase)
				if p.Detected != nil {
					det = p.Detected
				}
				if p.Phase == "cancelled" {
					break loop
				}
			}
		case <-timeout:
			break loop
		}
	}
	assert.Contains(t, phases, "reading")
	assert.Equal(t, "cancelled", phases[len(phases)-1])
	require.NotNil(t, det, "detection is announced before the long pass")
	assert.Equal(t, ",", det.Delimiter)
	assert.Len(t, det.Columns, 2)
}
