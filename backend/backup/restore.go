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
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Restore reads the backup at file into dir, a new data dir: dir must not
// exist or must be empty. Everything is extracted into a staging folder
// beside dir and checked — every blob against its hash, every entry
// against the manifest, the record count against the store — and only
// then renamed to dir, so a bad file leaves nothing behind.
func Restore(ctx context.Context, file, dir string, progress func(Progress)) (Summary, error) {
	start := time.Now()
	if progress == nil {
		progress = func(Progress) {}
	}
	dir = filepath.Clean(dir)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return Summary{}, core.Errorf(core.Invalid, "%s is not empty. Restore into a new folder (Tern never restores over data), then start Tern with --data-dir pointing at it.", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Summary{}, core.Wrap(err, core.Invalid, "%s cannot be used: %v", dir, plainErr(err))
	}
	f, err := os.Open(file)
	if err != nil {
		return Summary{}, core.Wrap(err, core.NotFound, "Tern cannot open the backup %s: %v", file, plainErr(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return Summary{}, core.Errorf(core.Invalid, "%s is not a backup file.", file)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern cannot create the folder %s: %v", parent, plainErr(err))
	}
	staging, err := os.MkdirTemp(parent, ".tern-restore-*")
	if err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern cannot write in %s: %v", parent, plainErr(err))
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	pr := &progressReader{r: f, total: fi.Size(), progress: progress}
	sum, err := Read(ctx, pr, staging)
	if err != nil {
		return Summary{}, err
	}
	progress(Progress{Phase: "checking", Done: fi.Size(), Total: fi.Size()})
	os.Remove(dir) // an empty folder the person made for it
	if err := os.Rename(staging, dir); err != nil {
		return Summary{}, core.Wrap(err, core.Unavailable, "Tern could not move the restored data to %s: %v", dir, plainErr(err))
	}
	ok = true
	sum.Path = dir
	sum.Size = fi.Size()
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// Read extracts a backup from r into dst (an empty folder) and checks it
// completely. On error dst holds a partial tree the caller removes.
func Read(ctx context.Context, r io.Reader, dst string) (Summary, error) {
	tr := tar.NewReader(r)
	hdr, err := readHeader(tr)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Created: hdr.Created, ReadTs: hdr.ReadTs}
	x := &extract{ctx: ctx, dst: dst, seen: map[string]Entry{}}
	defer x.abortStore()
	var man *Manifest
	for {
		th, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Summary{}, truncated(err)
		}
		if man != nil {
			return Summary{}, bad("it has entries after its manifest")
		}
		if th.Typeflag != tar.TypeReg {
			return Summary{}, bad(fmt.Sprintf("%q is not a plain file", th.Name))
		}
		if _, dup := x.seen[th.Name]; dup {
			return Summary{}, bad(fmt.Sprintf("%q appears twice", th.Name))
		}
		switch {
		case th.Name == manifestName:
			if err := x.finishStore(); err != nil {
				return Summary{}, err
			}
			man = &Manifest{}
			if err := readJSON(tr, th, man); err != nil {
				return Summary{}, err
			}
			continue
		case strings.HasPrefix(th.Name, storeDir):
			err = x.storeChunk(tr, th)
		case strings.HasPrefix(th.Name, blobsDir):
			err = x.blob(tr, th)
		case strings.HasPrefix(th.Name, filesDir):
			err = x.file(tr, th)
		default:
			err = bad(fmt.Sprintf("it has an unknown entry %q", th.Name))
		}
		if err != nil {
			return Summary{}, err
		}
	}
	if man == nil {
		return Summary{}, bad("it ends before its manifest: the file is truncated or was not written to the end")
	}
	if err := x.check(man); err != nil {
		return Summary{}, err
	}
	if x.records != man.Records {
		return Summary{}, bad(fmt.Sprintf("its store holds %d records but the manifest says %d", x.records, man.Records))
	}
	if err := checkBlobRecords(dst); err != nil {
		return Summary{}, err
	}
	sum.Records = man.Records
	for _, e := range man.Blobs {
		sum.Blobs++
		sum.BlobBytes += e.Size
	}
	for _, e := range man.Files {
		sum.Files++
		sum.FileBytes += e.Size
	}
	return sum, nil
}

func readHeader(tr *tar.Reader) (Header, error) {
	var h Header
	th, err := tr.Next()
	if err != nil {
		if err == io.EOF {
			return h, bad("it is empty")
		}
		return h, notBackup()
	}
	if th.Name != headerName || th.Typeflag != tar.TypeReg {
		return h, notBackup()
	}
	if err := readJSON(tr, th, &h); err != nil {
		return h, err
	}
	if h.Format != Format {
		return h, notBackup()
	}
	if h.Version > Version || h.Version < 1 {
		return h, core.Errorf(core.Invalid, "This backup was written in format %d; this Tern reads format %d. Restore it with a newer Tern.", h.Version, Version)
	}
	if h.Schema > store.SchemaVersion {
		return h, core.Errorf(core.Invalid, "This backup was made by a newer Tern (schema %d; this Tern knows up to %d). Restore it with a newer Tern.", h.Schema, store.SchemaVersion)
	}
	return h, nil
}

func readJSON(tr *tar.Reader, th *tar.Header, v any) error {
	if th.Size > maxMeta {
		return bad(fmt.Sprintf("%s is too large", th.Name))
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return truncated(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return bad(fmt.Sprintf("%s cannot be read", th.Name))
	}
	return nil
}

// extract is one Read in progress.
type extract struct {
	ctx     context.Context
	dst     string
	seen    map[string]Entry
	stage   int // 0 store, 1 blobs, 2 files: sections come in this order
	records int64
	// The store is loaded as its chunks arrive: chunks are written into a
	// pipe that Badger's Load reads in another goroutine.
	pw     *io.PipeWriter
	loaded chan loadResult
	chunks int
}

type loadResult struct {
	n   int64
	err error
}

func (x *extract) enter(stage int, name string) error {
	if stage < x.stage {
		return bad(fmt.Sprintf("%q is out of order", name))
	}
	if stage > 0 {
		if err := x.finishStore(); err != nil {
			return err
		}
	}
	x.stage = stage
	return nil
}

func (x *extract) storeChunk(tr *tar.Reader, th *tar.Header) error {
	if err := x.enter(0, th.Name); err != nil {
		return err
	}
	x.chunks++
	if th.Name != fmt.Sprintf("%s%08d.kv", storeDir, x.chunks) {
		return bad(fmt.Sprintf("store part %q is out of order", th.Name))
	}
	if th.Size > maxChunk {
		return bad(fmt.Sprintf("store part %q is too large", th.Name))
	}
	// The chunk is read whole and checked before Badger sees it: Load
	// trusts the length prefixes and keys it reads, and a crafted file
	// must not make it allocate without bound or write internal keys.
	b, err := io.ReadAll(tr)
	if err != nil {
		return truncated(err)
	}
	if err := validChunk(b); err != nil {
		return bad(fmt.Sprintf("store part %q is damaged (%v)", th.Name, err))
	}
	sum := sha256.Sum256(b)
	x.seen[th.Name] = Entry{Name: th.Name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	if x.pw == nil {
		x.startStore()
	}
	if _, err := x.pw.Write(b); err != nil {
		return x.storeErr(err)
	}
	return nil
}

// maxChunk bounds one store part: the writer cuts at chunkSize, after a
// whole KV list, and one list is far below this.
const maxChunk = 512 << 20

// validChunk checks that b is whole length-prefixed KV lists of user keys,
// as writeStore cuts them.
func validChunk(b []byte) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errors.New("a cut-off length")
		}
		n := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b)) {
			return errors.New("a list longer than its part")
		}
		var list pb.KVList
		if err := proto.Unmarshal(b[:n], &list); err != nil {
			return errors.New("an unreadable list")
		}
		b = b[n:]
		for _, kv := range list.Kv {
			switch {
			case len(kv.Key) == 0 || len(kv.Key) > 1<<16:
				return errors.New("a key of a bad length")
			case bytes.HasPrefix(kv.Key, []byte("!badger!")):
				return errors.New("a database-internal key")
			case kv.Version == 0 || kv.Version > 1<<62:
				return errors.New("a bad version")
			case len(kv.Meta) > 1 || len(kv.Meta) == 1 && kv.Meta[0] != 0, len(kv.UserMeta) > 1:
				return errors.New("bad entry flags")
			case kv.StreamDone || kv.StreamId != 0:
				return errors.New("a stream marker")
			}
		}
	}
	return nil
}

func (x *extract) startStore() {
	pr, pw := io.Pipe()
	x.pw = pw
	x.loaded = make(chan loadResult, 1)
	go func() {
		n, err := store.Load(x.dst, store.Options{Logger: slog.New(slog.DiscardHandler)}, pr)
		pr.CloseWithError(errLoadStopped) // a writer still writing learns Load has stopped
		x.loaded <- loadResult{n, err}
	}()
}

var errLoadStopped = errors.New("store load stopped")

// storeErr turns an error while feeding the store into the real reason:
// a write into the pipe fails when Load gave up, and Load's error says why.
func (x *extract) storeErr(err error) error {
	if strings.Contains(err.Error(), errLoadStopped.Error()) {
		return x.finishStore()
	}
	return err
}

// finishStore ends the store section (loading an empty stream if it had
// no chunks) and returns Load's verdict.
func (x *extract) finishStore() error {
	if x.loaded == nil {
		x.startStore()
	}
	if x.pw == nil {
		return nil // finished already
	}
	x.pw.Close()
	x.pw = nil
	res := <-x.loaded
	if res.err != nil {
		var ce *core.Error
		if errors.As(res.err, &ce) {
			return res.err
		}
		return bad("its store cannot be loaded (" + res.err.Error() + ")")
	}
	x.records = res.n
	return nil
}

// abortStore stops a Load still reading, so Read never returns with
// Badger holding files in dst.
func (x *extract) abortStore() {
	if x.pw != nil {
		x.pw.CloseWithError(errors.New("restore stopped"))
		x.pw = nil
		<-x.loaded
	}
}

func (x *extract) blob(tr *tar.Reader, th *tar.Header) error {
	if err := x.enter(1, th.Name); err != nil {
		return err
	}
	d, err := blob.ParseDigest(strings.TrimPrefix(th.Name, blobsDir))
	if err != nil {
		return bad(fmt.Sprintf("%q is not named by a hash", th.Name))
	}
	p := filepath.Join(x.dst, "blobs", "sha256", string(d[:2]), string(d))
	e, err := x.write(tr, th, p, 0o400)
	if err != nil {
		return err
	}
	if e.SHA256 != string(d) {
		return bad(fmt.Sprintf("the stored file %s… is damaged (its bytes do not match its hash)", d[:12]))
	}
	return nil
}

func (x *extract) file(tr *tar.Reader, th *tar.Header) error {
	if err := x.enter(2, th.Name); err != nil {
		return err
	}
	rel := strings.TrimPrefix(th.Name, filesDir)
	top, _, _ := strings.Cut(rel, "/")
	// Only clean, local paths, and never into the sections restored from
	// their own entries: a crafted entry must not write outside dst or
	// over the store.
	if rel == "" || path.Clean(rel) != rel || !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains(rel, `\`) || skipped[top] || strings.HasPrefix(path.Base(rel), ".tern-") {
		return bad(fmt.Sprintf("%q is not a path inside a data folder", th.Name))
	}
	_, err := x.write(tr, th, filepath.Join(x.dst, filepath.FromSlash(rel)), 0o600)
	return err
}

// write extracts one entry to p, hashing it, and records it as seen.
func (x *extract) write(tr *tar.Reader, th *tar.Header, p string, mode fs.FileMode) (Entry, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return Entry{}, core.Wrap(err, core.Unavailable, "Tern could not write the restored data: %v", plainErr(err))
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Entry{}, bad(fmt.Sprintf("%q appears twice", th.Name))
		}
		return Entry{}, core.Wrap(err, core.Unavailable, "Tern could not write the restored data: %v", plainErr(err))
	}
	h := sha256.New()
	n, err := copyCtx(x.ctx, io.MultiWriter(out, h), tr, func(int64) {})
	cerr := out.Close()
	if err != nil {
		return Entry{}, truncated(err)
	}
	if cerr != nil {
		return Entry{}, core.Wrap(cerr, core.Unavailable, "Tern could not write the restored data: %v", plainErr(cerr))
	}
	os.Chmod(p, mode)
	e := Entry{Name: th.Name, Size: n, SHA256: hashHex(h)}
	x.seen[th.Name] = e
	return e, nil
}

// check compares what was extracted with the manifest, both ways.
func (x *extract) check(man *Manifest) error {
	listed := map[string]bool{}
	for _, group := range [][]Entry{man.Store, man.Blobs, man.Files} {
		for _, e := range group {
			got, ok := x.seen[e.Name]
			if !ok {
				return bad(fmt.Sprintf("%q is in its manifest but not in the file", e.Name))
			}
			if got.Size != e.Size || got.SHA256 != e.SHA256 {
				return bad(fmt.Sprintf("%q does not match its manifest (damaged)", e.Name))
			}
			listed[e.Name] = true
		}
	}
	if len(listed) != len(x.seen) {
		var extra []string
		for n := range x.seen {
			if !listed[n] {
				extra = append(extra, n)
			}
		}
		sort.Strings(extra)
		return bad(fmt.Sprintf("%q is in the file but not in its manifest", extra[0]))
	}
	return nil
}

// checkBlobRecords opens the restored store and checks that every blob it
// records has its file: a backup missing one is refused, not restored.
func checkBlobRecords(dst string) error {
	st, err := store.Open(dst, store.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	return st.DB.View(func(txn *badger.Txn) error {
		metas, err := blob.Recorded(txn)
		if err != nil {
			return bad("its store cannot be read")
		}
		for _, m := range metas {
			fi, err := os.Stat(filepath.Join(dst, "blobs", "sha256", string(m.Digest[:2]), string(m.Digest)))
			if err != nil || fi.Size() != m.Size {
				return bad(fmt.Sprintf("its store records the file %s… but the backup does not hold it", m.Digest[:12]))
			}
		}
		return nil
	})
}

func hashHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func notBackup() error {
	return core.Errorf(core.Invalid, "This file is not a Tern backup (it does not start with a Tern backup header).")
}

func bad(why string) error {
	return core.Errorf(core.Invalid, "This backup cannot be restored: %s. Nothing was restored.", why)
}

func truncated(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return bad("it ends in the middle of an entry (the file is truncated)")
	}
	return bad("it is damaged (" + err.Error() + ")")
}

// progressReader reports bytes read from the backup file.
type progressReader struct {
	r        io.Reader
	done     int64
	total    int64
	progress func(Progress)
	last     time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.progress(Progress{Phase: "restoring", Done: p.done, Total: p.total})
	}
	return n, err
}
