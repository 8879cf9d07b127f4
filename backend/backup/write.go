package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
	"google.golang.org/protobuf/proto"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Source is the running data dir a backup reads.
type Source struct {
	Store   *store.Store
	Blobs   *blob.Store
	DataDir string
	// TernVersion is written into the header.
	TernVersion string
	// Skip names more top-level entries of the data dir to leave out (the
	// folder scheduled backups go to, when it is inside the data dir).
	Skip []string
	// snapshot, when set (tests), is called with the read transaction the
	// backup is exact to, before anything is written.
	snapshot func(txn *badger.Txn)
}

// skipped are the data dir's top-level entries that are not copied as
// files: the store and blobs have their own sections, job folders and the
// runtime binary are rebuilt by the next start, and backups do not nest.
var skipped = map[string]bool{"db": true, "blobs": true, "jobs": true, "runtime": true, "backups": true}

// Write writes a backup of src to w. progress may be nil. Cancelling ctx
// stops it with an error that says so; what was written to w is then no
// backup (WriteFile removes it).
func Write(ctx context.Context, src Source, w io.Writer, progress func(Progress)) (Summary, error) {
	start := time.Now()
	if progress == nil {
		progress = func(Progress) {}
	}
	// Hold blob GC before the snapshot: a blob released and collected
	// after the snapshot is still named by it.
	release := src.Blobs.HoldFiles()
	defer release()
	txn := src.Store.DB.NewTransaction(false)
	defer txn.Discard()
	readTs := txn.ReadTs()
	if src.snapshot != nil {
		src.snapshot(txn)
	}
	schema := 0
	if err := store.GetJSON(txn, store.Key(store.PrefixMeta, []byte("schema")), &schema); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return Summary{}, core.Wrap(err, core.Internal, "Tern could not read its database version.")
	}
	metas, err := blob.Recorded(txn)
	if err != nil {
		return Summary{}, core.Wrap(err, core.Internal, "Tern could not list its stored files.")
	}
	files, err := listFiles(src)
	if err != nil {
		return Summary{}, err
	}
	lsm, vlog := src.Store.DB.Size()
	p := Progress{Phase: "store", Total: lsm + vlog}
	for _, m := range metas {
		p.Total += m.Size
	}
	for _, f := range files {
		p.Total += f.size
	}
	progress(p)

	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	created := time.Now().UTC()
	hb, _ := json.MarshalIndent(Header{Format: Format, Version: Version, Created: created, ReadTs: readTs, Schema: schema, TernVersion: src.TernVersion}, "", "  ")
	if err := putBytes(tw, headerName, hb); err != nil {
		return Summary{}, err
	}
	var man Manifest
	if man.Store, man.Records, err = writeStore(ctx, src.Store.DB, readTs, tw, func(n int64) { p.Done += n; progress(p) }); err != nil {
		return Summary{}, err
	}
	sum := Summary{Created: created, ReadTs: readTs, Records: man.Records}
	p.Phase = "blobs"
	progress(p)
	for _, m := range metas {
		e, err := copyBlob(ctx, src.Blobs, m, tw, func(n int64) { p.Done += n; progress(p) })
		if err != nil {
			return Summary{}, err
		}
		man.Blobs = append(man.Blobs, e)
		sum.Blobs++
		sum.BlobBytes += e.Size
	}
	p.Phase = "files"
	progress(p)
	for _, f := range files {
		e, err := copyFile(ctx, f, tw, func(n int64) { p.Done += n; progress(p) })
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since it was listed (a run's artifacts removed): not part of the data dir now
		}
		if err != nil {
			return Summary{}, err
		}
		man.Files = append(man.Files, e)
		sum.Files++
		sum.FileBytes += e.Size
	}
	mb, _ := json.MarshalIndent(man, "", " ")
	if err := putBytes(tw, manifestName, mb); err != nil {
		return Summary{}, err
	}
	if err := tw.Close(); err != nil {
		return Summary{}, writeErr(err)
	}
	sum.Size = cw.n
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// WriteFile writes a backup to path through a temp file beside it, renamed
// into place only when complete: a failed or cancelled backup leaves no file.
func WriteFile(ctx context.Context, src Source, path string, progress func(Progress)) (Summary, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern cannot create the folder %s: %v", dir, plainErr(err))
	}
	f, err := os.CreateTemp(dir, ".tern-backup-*.partial")
	if err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern cannot write a backup in %s: %v", dir, plainErr(err))
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	sum, err := Write(ctx, src, f, progress)
	if err != nil {
		return Summary{}, err
	}
	if err := f.Sync(); err != nil {
		return Summary{}, writeErr(err)
	}
	if err := f.Close(); err != nil {
		return Summary{}, writeErr(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern could not name the backup %s: %v", path, plainErr(err))
	}
	ok = true
	sum.Path = path
	return sum, nil
}

// writeStore streams every record visible at readTs, in Badger's backup
// format, into store/ entries of up to chunkSize bytes.
func writeStore(ctx context.Context, db *badger.DB, readTs uint64, tw *tar.Writer, done func(int64)) ([]Entry, int64, error) {
	st := db.NewStream()
	st.LogPrefix = "Tern backup"
	st.NumGo = 2
	// Stream's readers open their own transactions, later than ours and so
	// possibly seeing newer versions; keeping only the newest version at or
	// below readTs gives exactly our snapshot. Our open transaction keeps
	// compaction from discarding those versions meanwhile.
	var keyErr error
	var keyErrOnce sync.Once
	st.KeyToList = func(key []byte, itr *badger.Iterator) (*pb.KVList, error) {
		for ; itr.Valid(); itr.Next() {
			item := itr.Item()
			if !bytes.Equal(item.Key(), key) {
				break
			}
			if item.Version() > readTs {
				continue
			}
			if item.IsDeletedOrExpired() {
				return nil, nil
			}
			val, err := item.ValueCopy(nil)
			if err != nil {
				// Stream only logs a KeyToList error and skips the key; a
				// backup missing a record must fail instead.
				keyErrOnce.Do(func() { keyErr = err })
				return nil, err
			}
			return &pb.KVList{Kv: []*pb.KV{{Key: append([]byte(nil), key...), Value: val,
				UserMeta: []byte{item.UserMeta()}, Version: item.Version(), ExpiresAt: item.ExpiresAt()}}}, nil
		}
		return nil, nil
	}
	var entries []Entry
	var records int64
	var chunk bytes.Buffer
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		name := fmt.Sprintf("%s%08d.kv", storeDir, len(entries)+1)
		sum := sha256.Sum256(chunk.Bytes())
		if err := putBytes(tw, name, chunk.Bytes()); err != nil {
			return err
		}
		entries = append(entries, Entry{Name: name, Size: int64(chunk.Len()), SHA256: hex.EncodeToString(sum[:])})
		done(int64(chunk.Len()))
		chunk.Reset()
		return nil
	}
	// Send is called from one goroutine at a time.
	st.Send = func(buf *z.Buffer) error {
		list, err := badger.BufferToKVList(buf)
		if err != nil {
			return err
		}
		out := list.Kv[:0]
		for _, kv := range list.Kv {
			if !kv.StreamDone {
				kv.StreamId = 0
				out = append(out, kv)
			}
		}
		if len(out) == 0 {
			return nil
		}
		list.Kv = out
		records += int64(len(out))
		b, err := proto.Marshal(list)
		if err != nil {
			return err
		}
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		chunk.Write(n[:])
		chunk.Write(b)
		if chunk.Len() >= chunkSize {
			return flush()
		}
		return nil
	}
	if err := st.Orchestrate(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, 0, cancelled()
		}
		var ce *core.Error
		if errors.As(err, &ce) {
			return nil, 0, err
		}
		return nil, 0, core.Wrap(err, core.Internal, "Tern could not read its database for the backup: %v", err)
	}
	if keyErr != nil {
		return nil, 0, core.Wrap(keyErr, core.Internal, "Tern could not read a record for the backup: %v", keyErr)
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	return entries, records, nil
}

// copyBlob copies one blob, checking its bytes against its name on the
// way: a damaged blob fails the backup rather than hiding in it.
func copyBlob(ctx context.Context, bs *blob.Store, m blob.Meta, tw *tar.Writer, done func(int64)) (Entry, error) {
	f, err := bs.Open(m.Digest)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	e := Entry{Name: blobsDir + string(m.Digest), Size: m.Size}
	if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: 0o400, Size: m.Size, ModTime: m.Created, Format: tar.FormatPAX}); err != nil {
		return Entry{}, writeErr(err)
	}
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(tw, h), io.LimitReader(f, m.Size), done)
	if err != nil {
		return Entry{}, readErr(err, "the stored file "+string(m.Digest[:12])+"…")
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	if n != m.Size || e.SHA256 != string(m.Digest) {
		return Entry{}, core.Errorf(core.Internal, "The stored file %s… is damaged (its bytes no longer match its hash); the backup was stopped. Re-import what used it.", m.Digest[:12])
	}
	return e, nil
}

type fileRef struct {
	path string // absolute
	rel  string // slash-separated, relative to the data dir
	size int64
	mode fs.FileMode
}

// listFiles lists the regular files of the data dir outside the skipped
// folders. Symlinks are not followed: nothing Tern writes is one, and one
// planted there must not pull outside files into a backup.
func listFiles(src Source) ([]fileRef, error) {
	skip := map[string]bool{}
	for k := range skipped {
		skip[k] = true
	}
	for _, s := range src.Skip {
		skip[s] = true
	}
	var out []fileRef
	err := filepath.WalkDir(src.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == src.DataDir {
			return nil
		}
		rel, _ := filepath.Rel(src.DataDir, p)
		rel = filepath.ToSlash(rel)
		top, _, _ := strings.Cut(rel, "/")
		if skip[top] || strings.HasPrefix(d.Name(), ".tern-") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, fileRef{path: p, rel: rel, size: fi.Size(), mode: fi.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern could not list its data folder: %v", plainErr(err))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// copyFile copies a file as it is now; its size is taken from the open
// file, and a file that shrinks while read fails the backup in words.
func copyFile(ctx context.Context, f fileRef, tw *tar.Writer, done func(int64)) (Entry, error) {
	r, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Entry{}, err
		}
		return Entry{}, core.Wrap(err, core.Unavailable, "Tern could not read %s for the backup: %v", f.rel, plainErr(err))
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil {
		return Entry{}, core.Wrap(err, core.Unavailable, "Tern could not read %s for the backup: %v", f.rel, plainErr(err))
	}
	e := Entry{Name: filesDir + f.rel, Size: fi.Size()}
	if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: int64(f.mode), Size: e.Size, ModTime: fi.ModTime(), Format: tar.FormatPAX}); err != nil {
		return Entry{}, writeErr(err)
	}
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(tw, h), io.LimitReader(r, e.Size), done)
	if err != nil {
		return Entry{}, readErr(err, f.rel)
	}
	if n != e.Size {
		return Entry{}, core.Errorf(core.Unavailable, "%s got shorter while it was being backed up; the backup was stopped. Try again.", f.rel)
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	return e, nil
}

func putBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: time.Now(), Format: tar.FormatPAX}); err != nil {
		return writeErr(err)
	}
	if _, err := tw.Write(b); err != nil {
		return writeErr(err)
	}
	return nil
}

// copyCtx copies in 1 MiB steps, checking ctx between them and reporting
// each step to done.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, done func(int64)) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	for {
		if ctx.Err() != nil {
			return total, cancelled()
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return total, writeErr(err)
			}
			total += int64(n)
			done(int64(n))
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr // the caller words it: reading a data dir and reading a backup fail differently
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readErr words a failed read of the data dir; worded errors (a failed
// write, a cancel) pass through.
func readErr(err error, what string) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.Wrap(err, core.Unavailable, "Tern could not read %s for the backup: %v", what, plainErr(err))
}

func cancelled() error {
	return core.Errorf(core.Invalid, "The backup was cancelled; no file was left.")
}

func writeErr(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.Wrap(err, core.Unavailable, "Tern could not write the backup: %v", plainErr(err))
}

func plainErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
