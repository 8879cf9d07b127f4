package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// dataDir is a real data dir with the services that write into it.
type dataDir struct {
	dir      string
	st       *store.Store
	blobs    *blob.Store
	datasets *dataset.Service
	track    *tracking.Service
	bus      *core.Bus
}

func openDataDir(t testing.TB, dir string) *dataDir {
	t.Helper()
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	bs, err := blob.Open(filepath.Join(dir, "blobs"), st)
	require.NoError(t, err)
	bus := core.NewBus()
	tr, err := tracking.NewService(st, bus, dir)
	require.NoError(t, err)
	return &dataDir{dir: dir, st: st, blobs: bs, datasets: dataset.NewService(st, bs, bus, dir), track: tr, bus: bus}
}

func (d *dataDir) source() Source {
	return Source{Store: d.st, Blobs: d.blobs, DataDir: d.dir, TernVersion: "test"}
}

// importCSV imports a generated CSV of n rows as a dataset version.
func (d *dataDir) importCSV(t *testing.T, name string, n int) dataset.Version {
	t.Helper()
	p := writeCSV(t, name, n)
	v, err := d.datasets.ImportPath(context.Background(), p, dataset.Options{})
	require.NoError(t, err)
	return v
}

func writeCSV(t testing.TB, name string, n int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), uint64(len(name))))
	var b strings.Builder
	b.WriteString("x1,x2,y\n")
	for i := 0; i < n; i++ {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if x1+0.5*x2 > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%.6f,%.6f,%d\n", x1, x2, y)
	}
	p := filepath.Join(t.TempDir(), name+".csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	return p
}

// records reads every record visible in txn, key → value.
func records(t testing.TB, txn *badger.Txn) map[string]string {
	t.Helper()
	out := map[string]string{}
	it := txn.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		require.NoError(t, err)
		out[string(it.Item().KeyCopy(nil))] = string(v)
	}
	return out
}

func storeRecords(t testing.TB, dir string) map[string]string {
	t.Helper()
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st.Close()
	var out map[string]string
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error { out = records(t, txn); return nil }))
	return out
}

// treeHashes hashes every regular file under dir by its relative path.
func treeHashes(t testing.TB, dir string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+string(filepath.Separator)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	}))
	return out
}
