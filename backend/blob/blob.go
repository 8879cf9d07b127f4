// Package blob keeps Tern's large bytes (dataset files, artifacts, models)
// as content-addressed files on disk, named by their SHA-256, so the same
// bytes are stored once however many versions, runs or models use them.
//
// Who uses a blob is recorded as holder keys in Badger, written in the same
// transaction as the caller's own records; a blob with no holders is
// garbage and GC deletes its file. Files are written to a temp file in the
// store's own tmp directory and renamed into place, so a reader never sees
// a half-written blob and a failed write leaves nothing behind.
package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

// Key prefixes inside the blob range (0x70–0x7f).
const (
	prefixMeta   = store.PrefixBlob     // digest → Meta
	prefixHolder = store.PrefixBlob + 1 // digest, holder → nothing
)

// Digest is a SHA-256 of a blob's bytes, as 64 lowercase hex characters.
type Digest string

// ParseDigest checks that s is a well-formed digest, so a digest from a
// request can never become a path outside the store.
func ParseDigest(s string) (Digest, error) {
	if len(s) != 64 {
		return "", core.Errorf(core.Invalid, "%q is not a SHA-256 digest (64 hex characters).", s)
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", core.Errorf(core.Invalid, "%q is not a SHA-256 digest (64 lowercase hex characters).", s)
		}
	}
	return Digest(s), nil
}

func (d Digest) raw() []byte {
	b, _ := hex.DecodeString(string(d))
	return b
}

// Meta is what Badger records about one blob.
type Meta struct {
	Digest  Digest    `json:"digest"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// Encryption seals blob files at rest; the zero value keeps them plain.
type Encryption struct {
	// Files seals each blob's bytes (see package sealed).
	Files sealed.Key
	// Names keys the HMAC-SHA256 a blob file is named by. Blobs are still
	// addressed by the SHA-256 of their plaintext (dedupe, lineage and the
	// digests in records and backups are unchanged), but a file named by
	// that hash would let whoever holds the disk confirm that a known file
	// (a public dataset, a leaked model) is stored here by hashing it; an
	// HMAC under a key derived from the data key tells them nothing. What
	// stays visible: how many blobs there are and their sizes (to within a
	// 16-byte tag per 64 KiB).
	Names []byte
}

// Scratch is where plaintext copies of encrypted blobs go while a reader
// that needs a path (a container's mount, a table reader) uses them:
// outside the data dir, private to this user, each removed when its user
// releases it.
func Scratch() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("tern-plain-%d", os.Getuid()))
}

// Store is the blob directory plus its holder records.
type Store struct {
	dir string
	db  *store.Store
	enc Encryption
	// cache holds PlainPath's copies (under mu); made on first use.
	cache *sealed.Cache
	// mu serialises linking a blob into place with the transaction that
	// records its holder, so a concurrent failed write cannot delete a
	// file that another write has just started to hold.
	mu sync.Mutex
	// readers counts backups in progress (under mu): each names blobs from
	// a snapshot and must find every file it names, so GC waits for none
	// and refuses while one runs.
	readers int
}

// HoldFiles keeps GC from deleting any blob file until release is called:
// a backup reading the blobs its snapshot names must find every one. Take
// it before the snapshot, so no GC can slip between the two.
func (s *Store) HoldFiles() (release func()) {
	s.mu.Lock()
	s.readers++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.readers--
			s.mu.Unlock()
		})
	}
}

// Recorded lists the blobs recorded in txn's snapshot, in digest order.
func Recorded(txn *badger.Txn) ([]Meta, error) {
	var out []Meta
	err := store.EachJSON(txn, []byte{prefixMeta}, false, func(m Meta) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

// Open prepares dir (normally <dataDir>/blobs). Its subdirectories are
// created here, once, so later failed writes leave the tree byte-for-byte
// as it was. Leftovers of a crash (temp files, blob files without a record)
// are removed, so call Open once per data dir, at start-up, and share the
// Store: a second Open while a write is committing could remove its file.
func Open(dir string, db *store.Store) (*Store, error) {
	return OpenEncrypted(dir, db, Encryption{})
}

// OpenEncrypted is Open for a blob tree sealed with enc (or plain when enc
// is the zero value). Every blob of one tree is sealed the same way: a
// migration (package atrest) converts a tree as a whole.
func OpenEncrypted(dir string, db *store.Store, enc Encryption) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, core.Wrap(err, core.Unavailable, "Tern cannot create its blob folder %s.", d)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range ents {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	s := &Store{dir: dir, db: db, enc: enc}
	s.removeUnrecorded()
	return s, nil
}

// removeUnrecorded deletes blob files that have no record: a process
// killed between moving a file into place and committing its record
// leaves one. Nothing else writes yet when Open runs, so none is in flight.
func (s *Store) removeUnrecorded() {
	names, err := s.recordedNames()
	if err != nil {
		return // keep everything rather than guess
	}
	s.walkFiles(func(p, name string, _ fs.DirEntry) {
		if _, ok := names[name]; !ok {
			removeBlobFile(p)
		}
	})
}

// recordedNames maps the file name of every recorded blob to its digest.
func (s *Store) recordedNames() (map[string]Digest, error) {
	metas, _, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Digest, len(metas))
	for d := range metas {
		out[s.fileName(d)] = d
	}
	return out, nil
}

// walkFiles calls fn for every file in the blob tree whose name could be
// a blob's (64 hex characters); anything else there (temp files, strays)
// is none of its business.
func (s *Store) walkFiles(fn func(path, name string, de fs.DirEntry)) {
	filepath.WalkDir(filepath.Join(s.dir, "sha256"), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		if _, perr := ParseDigest(de.Name()); perr == nil {
			fn(p, de.Name(), de)
		}
		return nil
	})
}

func (s *Store) fileName(d Digest) string { return s.enc.FileName(d) }

// FileName is the name of d's file in a tree encrypted with e: the digest
// itself, or its HMAC when names are keyed (see Names).
func (e Encryption) FileName(d Digest) string {
	if len(e.Names) == 0 {
		return string(d)
	}
	m := hmac.New(sha256.New, e.Names)
	m.Write(d.raw())
	return hex.EncodeToString(m.Sum(nil))
}

// TreePath is where d's file lives in the blob tree dir encrypted with e;
// for tools that convert a whole tree (package atrest) without opening it
// as a Store.
func TreePath(dir string, d Digest, e Encryption) string {
	n := e.FileName(d)
	return filepath.Join(dir, "sha256", n[:2], n)
}

// Encrypted reports whether blob files are sealed.
func (s *Store) Encrypted() bool { return s.enc.Files.Enabled() }

// Dir is the root of the blob tree.
func (s *Store) Dir() string { return s.dir }

// Path is where the blob with digest d lives (whether or not it exists).
// When blobs are encrypted the file holds sealed bytes: read them with
// Open, or get a plaintext copy with Plain.
func (s *Store) Path(d Digest) string { return TreePath(s.dir, d, s.enc) }

// Has reports whether the blob's file exists.
func (s *Store) Has(d Digest) bool {
	_, err := os.Stat(s.Path(d))
	return err == nil
}

// Temp is a blob being written: bytes go to a temp file and into the hash.
type Temp struct {
	s    *Store
	f    *os.File
	w    io.Writer // f, or a sealing writer over it
	seal *sealed.Writer
	h    hash.Hash
	n    int64
	done bool
	// cloned: the file already holds the bytes (see Clone); they are
	// hashed as they are read, never written.
	cloned bool
	// flushed is t.n when writeback was last started (startWriteback).
	flushed int64
}

// Create starts a new blob. Always end it with Commit or Abort; Abort after
// Commit is a no-op, so `defer t.Abort()` is the idiom.
func (s *Store) Create() (*Temp, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot write to its blob folder: %v", plain(err))
	}
	t := &Temp{s: s, f: f, w: f, h: sha256.New()}
	if s.Encrypted() {
		if t.seal, err = sealed.NewWriter(f, s.enc.Files); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, core.Wrap(err, core.Internal, "Tern cannot start an encrypted blob: %v", err)
		}
		t.w = t.seal
	}
	return t, nil
}

// Write hashes and stores p. Large writes hash on another core while the
// bytes go to the file, so storing costs about max(hash, write), not both.
func (t *Temp) Write(p []byte) (int, error) {
	if t.cloned {
		return 0, core.Errorf(core.Internal, "A cloned blob already holds its bytes; read it with Reader.")
	}
	var n int
	var err error
	if len(p) >= 256<<10 {
		done := make(chan struct{})
		go func() {
			t.h.Write(p)
			close(done)
		}()
		n, err = t.w.Write(p)
		<-done
	} else {
		t.h.Write(p)
		n, err = t.w.Write(p)
	}
	t.n += int64(n)
	if err != nil {
		return n, core.Wrap(err, core.Unavailable, "Tern could not write the file into its blob folder: %v", plain(err))
	}
	if t.n-t.flushed >= writebackEvery {
		t.flushed = t.n
		startWriteback(t.f)
	}
	return n, nil
}

// writebackEvery is how many written bytes start the next early writeback.
const writebackEvery = 32 << 20

// Size is the number of bytes written so far.
func (t *Temp) Size() int64 { return t.n }

// Digest is the hash of the bytes written so far.
func (t *Temp) Digest() Digest { return Digest(hex.EncodeToString(t.h.Sum(nil))) }

// ReaderAt reads back what was written, for formats that must be read
// before commit (Parquet keeps its schema in a footer). Nothing may be
// written after it: an encrypted blob is sealed off here.
func (t *Temp) ReaderAt() (io.ReaderAt, error) {
	if t.seal == nil {
		return t.f, nil
	}
	if err := t.finishSeal(); err != nil {
		return nil, err
	}
	st, err := t.f.Stat()
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern could not read back the file: %v", plain(err))
	}
	r, err := sealed.NewReader(t.f, st.Size(), t.s.enc.Files)
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read back the encrypted file: %v", err)
	}
	return r, nil
}

// finishSeal writes the last sealed chunk; once only.
func (t *Temp) finishSeal() error {
	if t.seal == nil {
		return nil
	}
	if err := t.seal.Close(); err != nil {
		return core.Wrap(err, core.Unavailable, "Tern could not write the file into its blob folder: %v", plain(err))
	}
	return nil
}

// Abort removes the temp file. Safe to call after Commit.
func (t *Temp) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.f.Close()
	os.Remove(t.f.Name())
}

// Commit moves the blob into place and, in one Badger transaction, records
// holder as using it and runs update (the caller's own records). If update
// or the transaction fails, the blob file is removed again unless it was
// already there, so nothing of a failed write remains.
func (t *Temp) Commit(holder string, update func(txn *badger.Txn, d Digest) error) (Digest, error) {
	if t.done {
		return "", core.Errorf(core.Internal, "This blob write was already finished.")
	}
	if err := t.finishHash(); err != nil {
		t.Abort()
		return "", err
	}
	if err := t.finishSeal(); err != nil {
		t.Abort()
		return "", err
	}
	d := t.Digest()
	if err := t.f.Sync(); err != nil {
		t.Abort()
		return "", core.Wrap(err, core.Unavailable, "Tern could not flush the file to disk: %v", plain(err))
	}
	if err := t.f.Close(); err != nil {
		t.Abort()
		return "", core.Wrap(err, core.Unavailable, "Tern could not finish writing the file: %v", plain(err))
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	dst := s.Path(d)
	existed := s.Has(d)
	newDir := false
	if existed {
		os.Remove(t.f.Name())
	} else {
		if _, err := os.Stat(filepath.Dir(dst)); errors.Is(err, fs.ErrNotExist) {
			newDir = true
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			t.Abort()
			return "", core.Wrap(err, core.Unavailable, "Tern cannot create a blob folder: %v", plain(err))
		}
		// Blobs are immutable: read-only on disk so no tool edits one in place.
		os.Chmod(t.f.Name(), 0o400)
		if err := os.Rename(t.f.Name(), dst); err != nil {
			t.Abort()
			return "", core.Wrap(err, core.Unavailable, "Tern could not move the file into its blob folder: %v", plain(err))
		}
	}
	t.done = true
	err := s.db.DB.Update(func(txn *badger.Txn) error {
		if err := s.hold(txn, d, t.n, holder); err != nil {
			return err
		}
		if update != nil {
			return update(txn, d)
		}
		return nil
	})
	if err != nil {
		if !existed {
			os.Remove(dst)
			if newDir {
				os.Remove(filepath.Dir(dst))
			}
		}
		var ce *core.Error
		if errors.As(err, &ce) {
			return "", err
		}
		return "", core.Wrap(err, core.Internal, "Tern could not record the new file in its database.")
	}
	return d, nil
}

func metaKey(d Digest) []byte { return store.Key(prefixMeta, d.raw()) }
func holderKey(d Digest, holder string) []byte {
	return store.Key(prefixHolder, d.raw(), []byte(holder))
}

func (s *Store) hold(txn *badger.Txn, d Digest, size int64, holder string) error {
	if holder == "" {
		return core.Errorf(core.Internal, "A blob holder needs a name.")
	}
	if _, err := txn.Get(metaKey(d)); errors.Is(err, badger.ErrKeyNotFound) {
		b, _ := json.Marshal(Meta{Digest: d, Size: size, Created: time.Now().UTC()})
		if err := txn.Set(metaKey(d), b); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return txn.Set(holderKey(d, holder), nil)
}

// Hold records holder as a user of an existing blob, inside the caller's
// transaction (a run pinning a dataset version, a second dataset version
// reusing the same bytes).
func (s *Store) Hold(txn *badger.Txn, d Digest, holder string) error {
	item, err := txn.Get(metaKey(d))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, "The stored file %s… does not exist.", d[:12])
	}
	if err != nil {
		return err
	}
	_ = item
	return txn.Set(holderKey(d, holder), nil)
}

// Release drops holder's use of d inside the caller's transaction. The file
// stays until GC, so a release rolled back with its transaction loses nothing.
func (s *Store) Release(txn *badger.Txn, d Digest, holder string) error {
	return txn.Delete(holderKey(d, holder))
}

// Holders lists who uses d.
func (s *Store) Holders(d Digest) ([]string, error) {
	var out []string
	prefix := store.Key(prefixHolder, d.raw())
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return store.EachKey(txn, prefix, func(k []byte) error {
			out = append(out, string(k[len(prefix):]))
			return nil
		})
	})
	return out, err
}

// Stat returns the recorded metadata of d.
func (s *Store) Stat(d Digest) (Meta, error) {
	var m Meta
	err := s.db.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(d))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &m) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, core.Errorf(core.NotFound, "The stored file %s… does not exist.", shortD(d))
	}
	return m, err
}

func shortD(d Digest) string {
	if len(d) > 12 {
		return string(d[:12])
	}
	return string(d)
}

// List returns every recorded blob with its holder count.
func (s *Store) List() (map[Digest]Meta, map[Digest]int, error) {
	metas := map[Digest]Meta{}
	counts := map[Digest]int{}
	err := s.db.DB.View(func(txn *badger.Txn) error {
		err := store.EachJSON(txn, []byte{prefixMeta}, false, func(m Meta) error {
			metas[m.Digest] = m
			return nil
		})
		if err != nil {
			return err
		}
		return store.EachKey(txn, []byte{prefixHolder}, func(k []byte) error {
			if len(k) >= 33 {
				counts[Digest(hex.EncodeToString(k[1:33]))]++
			}
			return nil
		})
	})
	return metas, counts, err
}

// GCResult says what a GC round freed.
type GCResult struct {
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

// GC deletes every blob that has no holder: first its record (so a crash
// between the two leaves an orphan file, which the next GC removes, never a
// record pointing at nothing), then its file. Files on disk with no record
// at all (left by a crash between rename and commit) are removed too.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res GCResult
	if s.readers > 0 {
		return res, core.Errorf(core.Unavailable, "A backup is being written; free the disk space again when it has finished.")
	}
	metas, counts, err := s.List()
	if err != nil {
		return res, core.Wrap(err, core.Internal, "Tern could not read its blob records.")
	}
	for d, m := range metas {
		if ctx.Err() != nil {
			return res, core.Errorf(core.Invalid, "Freeing disk space was cancelled.")
		}
		if counts[d] > 0 {
			continue
		}
		err := s.db.DB.Update(func(txn *badger.Txn) error {
			// Re-check inside the transaction: a holder may have arrived.
			opt := badger.DefaultIteratorOptions
			opt.PrefetchValues = false
			opt.Prefix = store.Key(prefixHolder, d.raw())
			it := txn.NewIterator(opt)
			it.Rewind()
			held := it.Valid()
			it.Close()
			if held {
				return errHeld
			}
			return txn.Delete(metaKey(d))
		})
		if errors.Is(err, errHeld) {
			continue
		}
		if err != nil {
			return res, core.Wrap(err, core.Internal, "Tern could not update its blob records.")
		}
		if err := removeBlobFile(s.Path(d)); err == nil {
			res.Blobs++
			res.Bytes += m.Size
		}
	}
	// Orphan files: on disk, not recorded.
	names := make(map[string]bool, len(metas))
	for d := range metas {
		names[s.fileName(d)] = true
	}
	s.walkFiles(func(p, name string, de fs.DirEntry) {
		if !names[name] {
			if fi, err := de.Info(); err == nil && removeBlobFile(p) == nil {
				res.Blobs++
				res.Bytes += fi.Size()
			}
		}
	})
	return res, nil
}

var errHeld = errors.New("blob held")

func removeBlobFile(p string) error {
	err := os.Remove(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	os.Remove(filepath.Dir(p)) // only succeeds when the fan-out dir is empty
	return nil
}

// Put stores everything read from r as a blob held by holder; a convenience
// for callers that have nothing of their own to write in the transaction.
func (s *Store) Put(ctx context.Context, r io.Reader, holder string) (Digest, int64, error) {
	t, err := s.Create()
	if err != nil {
		return "", 0, err
	}
	defer t.Abort()
	buf := make([]byte, 4<<20)
	for {
		if ctx.Err() != nil {
			return "", 0, core.Errorf(core.Invalid, "Storing the file was cancelled.")
		}
		n, rerr := io.ReadFull(r, buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if n > 0 {
			if _, err := t.Write(buf[:n]); err != nil {
				return "", 0, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", 0, core.Wrap(rerr, core.Unavailable, "Tern could not read the file: %v", plain(rerr))
		}
	}
	d, err := t.Commit(holder, nil)
	return d, t.n, err
}

// Open opens a blob for reading its plaintext.
func (s *Store) Open(d Digest) (sealed.ReadFile, error) {
	f, err := s.enc.Files.Open(s.Path(d))
	if errors.Is(err, sealed.ErrCorrupt) {
		return nil, core.Wrap(err, core.Internal, "The stored file %s… is damaged or was encrypted with another key: %v", shortD(d), plain(err))
	}
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "The stored file %s… is missing from the blob folder.", shortD(d))
	}
	return f, nil
}

func plain(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return strings.TrimSpace(fmt.Sprint(err))
}

// PlainPath gives a path holding d's plaintext, for readers that need a
// path (a table reader, a job's data): the blob's own file when blobs are
// plain, else a copy in a scratch folder outside the data dir, made once
// and removed by Close (or at the next start if Tern died first).
func (s *Store) PlainPath(d Digest) (string, error) {
	if !s.Encrypted() {
		return s.Path(d), nil
	}
	s.mu.Lock()
	if s.cache == nil {
		c, err := sealed.NewCache("blobs")
		if err != nil {
			s.mu.Unlock()
			return "", core.Wrap(err, core.Unavailable, "Tern cannot create its folder for decrypted files in %s: %v", sealed.ScratchRoot(), plain(err))
		}
		s.cache = c
	}
	c := s.cache
	s.mu.Unlock()
	dir, err := c.Get(string(d), func(dir string) error {
		src, err := s.Open(d)
		if err != nil {
			return err
		}
		defer src.Close()
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		_, err = sealed.Key(nil).WriteFile(filepath.Join(dir, string(d)), src, 0o400)
		return err
	})
	if err != nil {
		var ce *core.Error
		if errors.As(err, &ce) {
			return "", err
		}
		if errors.Is(err, sealed.ErrCorrupt) {
			return "", core.Wrap(err, core.Internal, "The stored file %s… is damaged or was encrypted with another key.", shortD(d))
		}
		return "", core.Wrap(err, core.Unavailable, "Tern could not decrypt the stored file %s…: %v", shortD(d), plain(err))
	}
	return filepath.Join(dir, string(d)), nil
}

// Close removes the plaintext copies PlainPath made.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache != nil {
		return s.cache.Close()
	}
	return nil
}
