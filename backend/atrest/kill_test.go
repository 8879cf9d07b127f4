package atrest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

const (
	childEnv       = "TERN_ATREST_KILL_CHILD"
	killPassphrase = "kill test passphrase"
)

// TestKillChild is the child process of TestSIGKILLDuringMigration: it
// encrypts the data dir named in its environment as Tern does — Prepare
// on the running store, then the finish that start-up runs — and is
// killed somewhere along the way.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("only run as the child of TestSIGKILLDuringMigration")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	kf, keys, err := NewKeyFile(pass(killPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := Prepare(context.Background(), dir, st, kf, keys, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := Open(context.Background(), dir, func(*KeyFile) (Secret, error) { return pass(killPassphrase), nil }, quiet, nil); err != nil {
		t.Fatal(err)
	}
}

// snapshot hashes everything a data dir holds, read through Tern: every
// record (key and value), every blob's plaintext, every file of the
// artifact, model and monitor trees.
func snapshot(t *testing.T, dir string, keys *Keys) map[string]string {
	t.Helper()
	opt := store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var enc blob.Encryption
	var seal sealed.Key
	if keys != nil {
		opt.EncryptionKey = keys.Store
		enc, seal = blob.Encryption{Files: keys.Files, Names: keys.Names}, keys.Files
	}
	st, err := store.Open(dir, opt)
	require.NoError(t, err)
	defer st.Close()
	out := map[string]string{}
	var metas []blob.Meta
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			h := sha256.Sum256(v)
			out["record "+hex.EncodeToString(it.Item().Key())] = hex.EncodeToString(h[:])
		}
		metas, err = blob.Recorded(txn)
		return err
	}))
	bs, err := blob.OpenEncrypted(filepath.Join(dir, "blobs"), st, enc)
	require.NoError(t, err)
	for _, m := range metas {
		f, err := bs.Open(m.Digest)
		require.NoError(t, err, "blob %s", m.Digest)
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		require.NoError(t, err, "blob %s", m.Digest)
		out["blob "+string(m.Digest)] = hex.EncodeToString(h.Sum(nil))
	}
	for _, tree := range fileTrees {
		root := filepath.Join(dir, tree)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := seal.Open(p)
			require.NoError(t, err, p)
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			require.NoError(t, err, p)
			rel, _ := filepath.Rel(dir, p)
			out["file "+filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
			return nil
		})
	}
	return out
}

// populate makes a plaintext data dir big enough that the migration takes
// a while: the marker scenario plus 24 blobs of 1 MiB and a few thousand
// metric points.
func populate(t *testing.T, dir string) {
	t.Helper()
	s := openServices(t, dir, nil)
	defer s.close()
	_, runID, _ := fill(t, s)
	for i := 0; i < 24; i++ {
		b := make([]byte, 1<<20)
		rand.Read(b)
		_, _, err := s.blobs.Put(t.Context(), strings.NewReader(string(b)), fmt.Sprintf("test:%d", i))
		require.NoError(t, err)
		_, err = s.tracking.LogArtifact(runID, fmt.Sprintf("extra/%02d.bin", i), strings.NewReader(string(b[:256<<10])))
		require.NoError(t, err)
	}
	for step := 0; step < 3000; step += 500 {
		ms := make([]tracking.Metric, 0, 500)
		for i := step; i < step+500; i++ {
			ms = append(ms, tracking.Metric{Key: "loss", Value: tracking.Float(1 / float64(i+1)), Step: int64(i)})
		}
		require.NoError(t, s.tracking.LogMetrics(runID, ms))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "monitor", "profiles"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "monitor", "profiles", "p.json"), []byte(`{"marker":"`+marker+`"}`), 0o600))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput()
	require.NoError(t, err, string(out))
}

func runChild(dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	return cmd
}

// SIGKILL a real child process at points spread over the whole migration
// (preparing the copy, loading the database, swapping the trees); after
// each, start-up recovery leaves a data dir that opens — still plain or
// fully encrypted — with every record, blob and file hashing as before.
func TestSIGKILLDuringMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for a while")
	}
	template := t.TempDir()
	populate(t, template)
	want := snapshot(t, template, nil)
	require.Greater(t, len(want), 3000)
	unlock := func(*KeyFile) (Secret, error) { return pass(killPassphrase), nil }

	// One run to the end, to know how long a migration takes here.
	full := t.TempDir()
	copyDir(t, template, full)
	start := time.Now()
	out, err := runChild(full).CombinedOutput()
	require.NoError(t, err, string(out))
	took := time.Since(start)
	keys, err := Open(t.Context(), full, unlock, nil, nil)
	require.NoError(t, err)
	require.NotNil(t, keys, "the uninterrupted migration encrypted the data dir")
	assert.Equal(t, want, snapshot(t, full, keys))
	t.Logf("a whole migration (child process, argon2id included) took %v", took)

	outcomes := map[string]int{}
	const kills = 10
	for i := 1; i <= kills; i++ {
		dir := t.TempDir()
		copyDir(t, template, dir)
		cmd := runChild(dir)
		require.NoError(t, cmd.Start())
		time.Sleep(took * time.Duration(i) / (kills + 1))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		keys, err := Open(t.Context(), dir, unlock, nil, nil)
		require.NoError(t, err, "kill %d: start-up recovery", i)
		state := "rolled back (plain)"
		if keys != nil {
			state = "finished (encrypted)"
		}
		outcomes[state]++
		assert.False(t, exists(filepath.Join(dir, StagingDir)), "kill %d: no staged copy left", i)
		assert.False(t, exists(filepath.Join(dir, oldDir)), "kill %d: no old plaintext left", i)
		got := snapshot(t, dir, keys)
		if !assert.Equal(t, len(want), len(got), "kill %d (%s)", i, state) {
			continue
		}
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, k)
			}
		}
		sort.Strings(diff)
		assert.Empty(t, diff, "kill %d (%s): changed or lost", i, state)
		if keys != nil {
			assert.Empty(t, filesContaining(t, dir, marker), "kill %d: an encrypted result holds no plaintext", i)
		}
	}
	t.Logf("after %d kills: %v", kills, outcomes)
}

// Each step of the switch, stopped there as a kill would stop it: the
// next start finishes it (or, before the commit, finishes again) and
// everything hashes as before.
func TestStopAtEachSwitchStep(t *testing.T) {
	template := t.TempDir()
	populate(t, template)
	want := snapshot(t, template, nil)
	unlock := func(*KeyFile) (Secret, error) { return pass(killPassphrase), nil }
	steps := []string{"loaded"}
	for _, tree := range Trees {
		steps = append(steps, "moved aside "+tree, "swapped "+tree)
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, template, dir)
			st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			require.NoError(t, err)
			kf, keys, err := NewKeyFile(pass(killPassphrase))
			require.NoError(t, err)
			require.NoError(t, Prepare(t.Context(), dir, st, kf, keys, nil))
			st.Close()
			stopAt = func(s string) bool { return s == step }
			_, err = Open(t.Context(), dir, unlock, nil, nil)
			stopAt = func(string) bool { return false }
			require.ErrorIs(t, err, errStopped)

			got, err := Open(t.Context(), dir, unlock, nil, nil)
			require.NoError(t, err)
			require.Equal(t, keys, got)
			assert.Equal(t, want, snapshot(t, dir, got))
			assert.False(t, exists(filepath.Join(dir, StagingDir)))
			assert.False(t, exists(filepath.Join(dir, oldDir)))
			assert.Empty(t, filesContaining(t, dir, marker))
		})
	}
}

// Cancelling Prepare (its context) leaves the data dir as it was and no
// copy behind.
func TestPrepareCancelled(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir)
	want := snapshot(t, dir, nil)
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	kf, keys, err := NewKeyFile(pass(killPassphrase))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	err = Prepare(ctx, dir, st, kf, keys, func(p Progress) {
		if p.Files == 5 {
			cancel()
		}
	})
	st.Close()
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "cancelled")
	assert.False(t, exists(filepath.Join(dir, StagingDir)))
	assert.Equal(t, want, snapshot(t, dir, nil))
	keys2, err := Open(t.Context(), dir, nil, nil, nil)
	require.NoError(t, err)
	assert.Nil(t, keys2, "still a plaintext data dir")
}
