package atrest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// marker is what must not be found on disk. It is built at run time so the
// test binary's own bytes (not in the data dir anyway) never matter.
var marker = strings.Join([]string{"TERN", "SECRET", "MARKER", "9c41e7"}, "-")

// services is the part of Tern that writes the data a person brings: the
// store, blobs, datasets, tracking and the registry, wired as main.go does.
type services struct {
	st       *store.Store
	blobs    *blob.Store
	datasets *dataset.Service
	tracking *tracking.Service
	registry *registry.Service
}

func openServices(t *testing.T, dataDir string, keys *Keys) *services {
	t.Helper()
	opt := store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var enc blob.Encryption
	var seal sealed.Key
	if keys != nil {
		opt.EncryptionKey = keys.Store
		enc, seal = blob.Encryption{Files: keys.Files, Names: keys.Names}, keys.Files
	}
	st, err := store.Open(dataDir, opt)
	require.NoError(t, err)
	s := &services{st: st}
	s.blobs, err = blob.OpenEncrypted(filepath.Join(dataDir, "blobs"), st, enc)
	require.NoError(t, err)
	s.datasets = dataset.NewService(st, s.blobs, core.NewBus(), dataDir)
	s.tracking, err = tracking.NewService(st, core.NewBus(), dataDir)
	require.NoError(t, err)
	s.tracking.Sealing = seal
	s.registry, err = registry.NewService(st, core.NewBus(), dataDir, s.tracking)
	require.NoError(t, err)
	s.registry.Sealing = seal
	return s
}

func (s *services) close() {
	s.registry.Close()
	s.blobs.Close()
	s.st.Close()
}

// fill brings the marker in every way the issue names: an imported CSV,
// logged params and metrics, and a model's files (trained on labels that
// are the marker, logged as a run's artifacts, registered).
func fill(t *testing.T, s *services) (registry.Version, string, string) {
	t.Helper()
	var csv bytes.Buffer
	fmt.Fprintf(&csv, "x,y,label,note\n")
	for i := 0; i < 300; i++ {
		label := "plain"
		if i%3 == 0 {
			label = marker
		}
		fmt.Fprintf(&csv, "%d,%d,%s,row %d %s\n", i%7, i%5, label, i, marker)
	}
	src := filepath.Join(t.TempDir(), "customers.csv")
	require.NoError(t, os.WriteFile(src, csv.Bytes(), 0o600))
	dv, err := s.datasets.ImportPath(t.Context(), src, dataset.Options{Name: "customers"})
	require.NoError(t, err)

	run, err := s.tracking.CreateRun(tracking.RunSpec{Name: "run-" + marker, DatasetVersion: dv.ID})
	require.NoError(t, err)
	require.NoError(t, s.tracking.LogParams(run.ID, map[string]string{"secret_param": marker}))
	require.NoError(t, s.tracking.LogMetrics(run.ID, []tracking.Metric{{Key: "m_" + marker, Value: 0.5, Step: 1}}))

	f := &ml.Frame{Columns: []string{"x", "y", "label"}}
	for i := 0; i < 120; i++ {
		label := "plain"
		if i%3 == 0 {
			label = marker
		}
		f.Rows = append(f.Rows, []any{float64(i % 5), float64(i % 3), label})
	}
	m, _, err := ml.Train(t.Context(), f, ml.Params{Target: "label", Model: ml.AlgoLogistic}, nil)
	require.NoError(t, err)
	plainModel := filepath.Join(t.TempDir(), "model")
	require.NoError(t, modelfmt.SaveML(plainModel, m, &ml.Frame{Columns: []string{"x", "y"}, Rows: [][]any{{1.0, 0.0}}}))
	require.True(t, treeContains(t, plainModel, marker), "the model's own files carry the marker")
	require.NoError(t, filepath.WalkDir(plainModel, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(plainModel, p)
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = s.tracking.LogArtifact(run.ID, "model/"+filepath.ToSlash(rel), fh)
		return err
	}))
	v, err := s.registry.RegisterRun("churn", run.ID, "model")
	require.NoError(t, err)
	return v, run.ID, dv.ID
}

// treeContains reports whether any file under dir holds needle.
func treeContains(t *testing.T, dir, needle string) bool {
	return len(filesContaining(t, dir, needle)) > 0
}

func filesContaining(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), needle) {
			hits = append(hits, p+" (name)")
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			hits = append(hits, p)
		}
		return nil
	}))
	return hits
}

// With encryption on, the marker is nowhere in the data dir's bytes —
// every file, Badger's value log and tables included — while Tern reads
// all of it back. The same scenario without encryption finds it, so the
// scan is one that can fail.
func TestMarkerNowhereOnDisk(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			dataDir := t.TempDir()
			var keys *Keys
			if encrypted {
				var err error
				keys, err = InitEmpty(dataDir, pass("a long passphrase"))
				require.NoError(t, err)
			}
			s := openServices(t, dataDir, keys)
			v, runID, dvID := fill(t, s)

			// Tern still reads all of it.
			loaded, err := modelfmt.Load(s.registry.Dir(v))
			require.NoError(t, err, "the model loads from its plaintext view")
			assert.NotNil(t, loaded)
			run, err := s.tracking.GetRun(runID)
			require.NoError(t, err)
			assert.Equal(t, marker, run.Params["secret_param"])
			arts, err := s.tracking.ListArtifacts(runID, "model")
			require.NoError(t, err)
			require.NotEmpty(t, arts)
			rf, info, err := s.tracking.OpenArtifact(runID, arts[0].Path)
			require.NoError(t, err)
			b, _ := io.ReadAll(rf)
			rf.Close()
			assert.EqualValues(t, info.Size, len(b), "listed and read sizes are the plaintext's")
			assert.EqualValues(t, arts[0].Size, len(b))
			path, err := s.datasets.VersionFile(dvID)
			require.NoError(t, err)
			csv, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Contains(t, string(csv), marker)
			if encrypted {
				assert.False(t, strings.HasPrefix(path, dataDir), "the plaintext copy is outside the data dir")
			}

			// Badger flushed to its files: close everything but the
			// plaintext views, so the scan sees the final bytes.
			s.st.Close()
			hits := filesContaining(t, dataDir, marker)
			if encrypted {
				assert.Empty(t, hits, "the marker is on disk in plaintext")
			} else {
				// Each part encryption covers is one the scan finds it in.
				for _, part := range []string{"/db/", "/blobs/sha256/", "/artifacts/", "/models/"} {
					assert.True(t, anyContains(hits, dataDir+part), "without encryption the scan finds the marker under %s: %v", part, hits)
				}
			}
			s.registry.Close()
			s.blobs.Close()
		})
	}
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A plaintext data dir encrypted by migration (Prepare while running,
// finish at the next start) keeps everything and leaves no marker behind.
func TestMigratedDataDirHoldsNoMarker(t *testing.T) {
	dataDir := t.TempDir()
	s := openServices(t, dataDir, nil)
	v, runID, dvID := fill(t, s)
	kf, keys, err := NewKeyFile(pass("migration passphrase"))
	require.NoError(t, err)
	var last Progress
	require.NoError(t, Prepare(t.Context(), dataDir, s.st, kf, keys, func(p Progress) { last = p }))
	assert.Equal(t, "ready", last.Phase)
	assert.Positive(t, last.Files)
	assert.Equal(t, last.Total, last.Bytes, "progress ends at its total")
	assert.True(t, Pending(dataDir))
	// Written after Prepare: carried over by finish.
	require.NoError(t, s.tracking.LogParams(runID, map[string]string{"late_param": marker}))
	_, err = s.tracking.LogArtifact(runID, "late.txt", strings.NewReader("late "+marker))
	require.NoError(t, err)
	s.close()

	var phases []string
	got, err := Open(t.Context(), dataDir, func(*KeyFile) (Secret, error) { return pass("migration passphrase"), nil }, nil,
		func(p Progress) { phases = append(phases, p.Phase) })
	require.NoError(t, err)
	require.Equal(t, keys, got)
	assert.Contains(t, phases, "switching")
	assert.False(t, exists(filepath.Join(dataDir, StagingDir)))
	assert.False(t, exists(filepath.Join(dataDir, oldDir)))
	assert.Empty(t, filesContaining(t, dataDir, marker))

	s = openServices(t, dataDir, keys)
	defer s.close()
	run, err := s.tracking.GetRun(runID)
	require.NoError(t, err)
	assert.Equal(t, marker, run.Params["late_param"])
	rf, _, err := s.tracking.OpenArtifact(runID, "late.txt")
	require.NoError(t, err)
	b, _ := io.ReadAll(rf)
	rf.Close()
	assert.Equal(t, "late "+marker, string(b))
	_, err = modelfmt.Load(s.registry.Dir(v))
	require.NoError(t, err)
	path, err := s.datasets.VersionFile(dvID)
	require.NoError(t, err)
	csv, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(csv), marker)

	// A wrong passphrase at the next start: a clear message, nothing touched.
	_, err = Open(t.Context(), dataDir, func(*KeyFile) (Secret, error) { return pass("not the passphrase"), nil }, nil, nil)
	assert.Contains(t, core.ErrorMessage(err), "does not open")
}
