package atrest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

// Migrating a plaintext data dir to an encrypted one happens in two steps,
// so that a SIGKILL at any moment leaves a data dir that opens, either
// still plain or fully encrypted:
//
//  1. Prepare, while Tern runs (progress, cancel): every file of the
//     trees below is sealed into a copy beside them, in StagingDir, with
//     the new key file; a manifest (readyFile) written last says the copy
//     is complete and which version of each file it holds. Nothing the
//     running Tern uses is touched.
//  2. Finish, at the next start, before anything opens the store: files
//     written since Prepare are sealed too (the manifest tells which), the
//     Badger database is streamed into a new encrypted one, and the switch
//     is committed by one atomic rename: the key file into the data dir.
//     Then each tree is swapped for its sealed copy (old tree into
//     oldDir, copy into place; each step repeatable), and the old
//     plaintext is deleted.
//
// On start (Open): a committed key file with leftovers of a swap is
// rolled forward; a staged copy without its manifest (killed during
// Prepare, or cancelled) is removed — rolled back; a complete staged copy
// is finished.
const (
	// StagingDir holds the sealed copy while it is built.
	StagingDir = ".encrypting"
	oldDir     = ".plaintext-old"
	readyFile  = "READY.json"
)

// Trees are the data dir's folders that hold user data; each is swapped
// as a whole. "db" is Badger's (re-created with its own encryption), the
// others are sealed file by file. Jobs' working folders are not here: with
// encryption on they live in the scratch folder, outside the data dir.
var Trees = []string{"db", "blobs", "artifacts", "models", "monitor"}

// fileTrees are sealed file by file, keeping their paths.
var fileTrees = []string{"artifacts", "models", "monitor"}

// Progress of a migration; bytes are plaintext.
type Progress struct {
	Phase string `json:"phase"` // "blobs", "files", "database", "switching", "done"
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total"`
}

// stamp is what the manifest remembers of a file it sealed.
type stamp struct {
	Size  int64 `json:"size"`
	MTime int64 `json:"mtime"` // ns
}

type manifest struct {
	Files map[string]stamp `json:"files"` // "tree/rel/path" → source stamp
}

func stampOf(fi fs.FileInfo) stamp { return stamp{Size: fi.Size(), MTime: fi.ModTime().UnixNano()} }

// Prepare is step 1. st is the running store (read through a snapshot);
// kf and keys are the new key file and its keys. A cancelled or failed
// Prepare removes its copy.
func Prepare(ctx context.Context, dataDir string, st *store.Store, kf *KeyFile, keys *Keys, progress func(Progress)) (err error) {
	if k, _ := ReadKeyFile(dataDir); k != nil {
		return core.Errorf(core.Conflict, "This data folder is already encrypted.")
	}
	stage := filepath.Join(dataDir, StagingDir)
	if err := os.RemoveAll(stage); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern cannot clear the unfinished encrypted copy in %s: %v", stage, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern cannot create %s: %v", stage, err)
	}
	m := &manifest{Files: map[string]stamp{}}
	p := Progress{Phase: "blobs"}
	p.Total = planSize(dataDir, st)
	report := func() {
		if progress != nil {
			progress(p)
		}
	}
	report()
	var metas []blob.Meta
	if err := st.DB.View(func(txn *badger.Txn) (e error) { metas, e = blob.Recorded(txn); return }); err != nil {
		return core.Wrap(err, core.Internal, "Tern could not read its blob records.")
	}
	if err := sealBlobs(ctx, dataDir, stage, metas, keys, &p, report); err != nil {
		return err
	}
	p.Phase = "files"
	for _, tree := range fileTrees {
		if err := sealTree(ctx, dataDir, stage, tree, keys.Files, m, &p, report); err != nil {
			return err
		}
	}
	if err := writeJSONAtomic(filepath.Join(stage, KeyFileName), kf); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not write the new key file: %v", err)
	}
	if err := writeJSONAtomic(filepath.Join(stage, readyFile), m); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not finish the encrypted copy: %v", err)
	}
	p.Phase = "ready"
	report()
	return nil
}

// planSize is the plaintext bytes Prepare will seal, for its progress.
func planSize(dataDir string, st *store.Store) int64 {
	var n int64
	_ = st.DB.View(func(txn *badger.Txn) error {
		ms, err := blob.Recorded(txn)
		for _, m := range ms {
			n += m.Size
		}
		return err
	})
	for _, tree := range fileTrees {
		filepath.WalkDir(filepath.Join(dataDir, tree), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}

func cancelled(ctx context.Context) error {
	if ctx.Err() != nil {
		return core.Errorf(core.Invalid, "Encrypting the data folder was cancelled; it is unchanged.")
	}
	return nil
}

// sealBlobs seals each recorded blob that has no sealed copy yet (blobs
// never change, so an existing copy is current).
func sealBlobs(ctx context.Context, dataDir, stage string, metas []blob.Meta, keys *Keys, p *Progress, report func()) error {
	enc := blob.Encryption{Files: keys.Files, Names: keys.Names}
	for _, m := range metas {
		if err := cancelled(ctx); err != nil {
			return err
		}
		dst := blob.TreePath(filepath.Join(stage, "blobs"), m.Digest, enc)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		src := blob.TreePath(filepath.Join(dataDir, "blobs"), m.Digest, blob.Encryption{})
		f, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // recorded but gone (GC between the snapshot and now): nothing to keep
		}
		if err != nil {
			return core.Wrap(err, core.Unavailable, "Tern cannot read the stored file %s…: %v", m.Digest[:12], err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			f.Close()
			return core.Wrap(err, core.Unavailable, "Tern cannot write the encrypted copy: %v", err)
		}
		n, err := keys.Files.WriteFile(dst, f, 0o400)
		f.Close()
		if err != nil {
			return core.Wrap(err, core.Unavailable, "Tern could not encrypt the stored file %s…: %v", m.Digest[:12], err)
		}
		p.Files++
		p.Bytes += n
		report()
	}
	return nil
}

// sealTree seals every regular file of dataDir/tree into stage/tree that
// the manifest does not already hold at its current size and time, and
// removes copies whose source is gone. Links and temp files are skipped:
// nothing Tern reads follows a link out of these trees.
func sealTree(ctx context.Context, dataDir, stage, tree string, key sealed.Key, m *manifest, p *Progress, report func()) error {
	srcRoot, dstRoot := filepath.Join(dataDir, tree), filepath.Join(stage, tree)
	if _, err := os.Stat(srcRoot); errors.Is(err, fs.ErrNotExist) {
		return os.RemoveAll(dstRoot)
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(srcRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := cancelled(ctx); err != nil {
			return err
		}
		rel, _ := filepath.Rel(srcRoot, path)
		dst := filepath.Join(dstRoot, rel)
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(dst, fi.Mode().Perm()|0o700)
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".tern-") {
			return nil
		}
		name := filepath.ToSlash(filepath.Join(tree, rel))
		seen[name] = true
		if old, ok := m.Files[name]; ok && old == stampOf(fi) {
			if _, err := os.Stat(dst); err == nil {
				return nil
			}
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			delete(m.Files, name)
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := key.WriteFile(dst, f, fi.Mode().Perm())
		if err != nil {
			return err
		}
		m.Files[name] = stampOf(fi)
		p.Files++
		p.Bytes += n
		report()
		return nil
	})
	if err != nil {
		var ce *core.Error
		if errors.As(err, &ce) {
			return err
		}
		return core.Wrap(err, core.Unavailable, "Tern could not encrypt %s: %v", tree, err)
	}
	// Copies of files deleted since Prepare.
	filepath.WalkDir(dstRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dstRoot, path)
		name := filepath.ToSlash(filepath.Join(tree, rel))
		if !seen[name] {
			os.Remove(path)
			delete(m.Files, name)
		}
		return nil
	})
	return nil
}

// Pending reports whether dataDir holds a complete sealed copy waiting
// for the next start.
func Pending(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, StagingDir, readyFile))
	return err == nil
}

// Cancel removes an unfinished or pending sealed copy (the data dir stays
// plain). Only while nothing is preparing it.
func Cancel(dataDir string) error {
	if k, _ := ReadKeyFile(dataDir); k != nil {
		return core.Errorf(core.Conflict, "The data folder is already encrypted.")
	}
	return os.RemoveAll(filepath.Join(dataDir, StagingDir))
}

// finish is step 2, for a data dir whose store nobody has open.
func finish(ctx context.Context, dataDir string, keys *Keys, log *slog.Logger, progress func(Progress)) error {
	stage := filepath.Join(dataDir, StagingDir)
	var m manifest
	b, err := os.ReadFile(filepath.Join(stage, readyFile))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || m.Files == nil {
		return core.Errorf(core.Internal, "The manifest of the encrypted copy is damaged (%v); remove %s to keep the data folder unencrypted.", err, stage)
	}
	p := Progress{Phase: "files"}
	report := func() {
		if progress != nil {
			progress(p)
		}
	}
	for _, tree := range fileTrees {
		if err := sealTree(ctx, dataDir, stage, tree, keys.Files, &m, &p, report); err != nil {
			return err
		}
	}
	// The plain store, for the blobs added since and the records.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	old, err := store.Open(dataDir, store.Options{GCInterval: -1, Logger: quiet})
	if err != nil {
		return err
	}
	defer old.Close()
	var metas []blob.Meta
	if err := old.DB.View(func(txn *badger.Txn) (e error) { metas, e = blob.Recorded(txn); return }); err != nil {
		return core.Wrap(err, core.Internal, "Tern could not read its blob records.")
	}
	p.Phase = "blobs"
	if err := sealBlobs(ctx, dataDir, stage, metas, keys, &p, report); err != nil {
		return err
	}
	p.Phase = "database"
	report()
	if err := os.RemoveAll(filepath.Join(stage, "db")); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern cannot clear the unfinished encrypted database: %v", err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := old.DB.Backup(pw, 0); pw.CloseWithError(err) }()
	n, err := store.Load(stage, store.Options{EncryptionKey: keys.Store, GCInterval: -1, Logger: quiet}, pr)
	pr.Close()
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern could not copy its database into the encrypted one: %v", err)
	}
	want := countKeys(old)
	if n != want {
		return core.Errorf(core.Internal, "The encrypted database holds %d records, the original %d; the data folder stays unencrypted.", n, want)
	}
	old.Close()
	if stopAt("loaded") {
		return errStopped
	}
	// Commit: from here on the data dir is encrypted.
	p.Phase = "switching"
	report()
	if err := os.Rename(filepath.Join(stage, KeyFileName), filepath.Join(dataDir, KeyFileName)); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not switch to the encrypted data: %v", err)
	}
	syncDir(dataDir)
	if err := rollForward(dataDir); err != nil {
		return err
	}
	log.Info("data folder encrypted", "dir", dataDir, "records", n, "files", p.Files)
	p.Phase = "done"
	report()
	return nil
}

func countKeys(s *store.Store) int64 {
	var n int64
	_ = s.DB.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n
}

// rollForward swaps each tree for its sealed copy once the key file is
// committed. Every step checks what is already done, so it is repeated
// safely after a crash at any point.
func rollForward(dataDir string) error {
	stage, old := filepath.Join(dataDir, StagingDir), filepath.Join(dataDir, oldDir)
	if err := os.MkdirAll(old, 0o700); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern cannot finish encrypting the data folder: %v", err)
	}
	for _, tree := range Trees {
		staged, cur, prev := filepath.Join(stage, tree), filepath.Join(dataDir, tree), filepath.Join(old, tree)
		if !exists(staged) {
			continue // already in place, or the tree never existed
		}
		if exists(cur) {
			if exists(prev) {
				return core.Errorf(core.Internal, "Both %s and %s exist; Tern stopped rather than guess which to keep.", cur, prev)
			}
			if err := os.Rename(cur, prev); err != nil {
				return core.Wrap(err, core.Unavailable, "Tern cannot move %s aside: %v", cur, err)
			}
		}
		if stopAt("moved aside " + tree) {
			return errStopped
		}
		if err := os.Rename(staged, cur); err != nil {
			return core.Wrap(err, core.Unavailable, "Tern cannot move the encrypted %s into place: %v", tree, err)
		}
		syncDir(dataDir)
		if stopAt("swapped " + tree) {
			return errStopped
		}
	}
	// The plaintext goes last, when every tree is in place.
	if err := os.RemoveAll(old); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not delete the unencrypted copy in %s: %v", old, err)
	}
	return os.RemoveAll(stage)
}

// stopAt lets a test stop the migration at a named step, as a SIGKILL
// there would (nil outside tests).
var stopAt = func(string) bool { return false }

var errStopped = errors.New("stopped by a test")

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// SecretFunc asks for what unlocks the key file kf (a passphrase prompt,
// an environment variable); it is called only for an encrypted data dir.
type SecretFunc func(kf *KeyFile) (Secret, error)

// Open brings dataDir to a consistent state and returns its keys: nil for
// a plaintext data dir. It is what start-up calls before opening the
// store: it rolls a committed switch forward, finishes a complete staged
// copy (asking for the secret), and removes an incomplete one.
func Open(ctx context.Context, dataDir string, secret SecretFunc, log *slog.Logger, progress func(Progress)) (*Keys, error) {
	if log == nil {
		log = slog.Default()
	}
	kf, err := ReadKeyFile(dataDir)
	if err != nil {
		return nil, err
	}
	stage := filepath.Join(dataDir, StagingDir)
	if kf != nil {
		if exists(stage) || exists(filepath.Join(dataDir, oldDir)) {
			log.Info("finishing the switch to the encrypted data folder", "dir", dataDir)
			if err := rollForward(dataDir); err != nil {
				return nil, err
			}
		}
		s, err := secret(kf)
		if err != nil {
			return nil, err
		}
		return kf.Unlock(s)
	}
	if !exists(stage) {
		return nil, nil
	}
	if !Pending(dataDir) {
		log.Info("removing an unfinished encrypted copy; the data folder stays unencrypted", "dir", stage)
		return nil, os.RemoveAll(stage)
	}
	staged, err := ReadKeyFile(stage)
	if err != nil || staged == nil {
		log.Warn("the encrypted copy has no key file; removing it", "dir", stage)
		return nil, os.RemoveAll(stage)
	}
	s, err := secret(staged)
	if err != nil {
		return nil, err
	}
	keys, err := staged.Unlock(s)
	if err != nil {
		return nil, err
	}
	log.Info("encrypting the data folder: bringing the prepared copy up to date and switching", "dir", dataDir)
	if err := finish(ctx, dataDir, keys, log, progress); err != nil {
		return nil, err
	}
	return keys, nil
}
