package dataset

import (
	"context"
	"crypto/sha256"
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
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
)

// Key prefixes in the datasets range (0x10–0x1f).
const (
	pDataset    = store.PrefixDatasets + iota // id → Dataset
	pName                                     // name → id (live datasets only)
	pVerIdx                                   // datasetID, U64(number) → versionID
	pVersion                                  // versionID → Version
	pProfile                                  // versionID → Profile
	pStat                                     // absolute path → statEntry
	pRules                                    // datasetID → []Rule
	pValidation                               // versionID → Validation
)

// Event topics published on the bus.
const (
	TopicProgress = "dataset.import.progress"
	TopicChanged  = "dataset.changed"
)

// Progress is the payload of TopicProgress events.
type Progress struct {
	ImportID  string `json:"importId"`
	Name      string `json:"name"`
	Phase     string `json:"phase"` // reading, done, failed, cancelled
	Bytes     int64  `json:"bytes"`
	Total     int64  `json:"total"` // 0 when unknown (streamed upload)
	Rows      int64  `json:"rows"`
	Error     string `json:"error,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	// Detected is set once, as soon as the format, delimiter, header,
	// encoding and column types are known: a preview while the rest is read.
	Detected *Detected `json:"detected,omitempty"`
}

// Service imports and keeps datasets.
type Service struct {
	db      *store.Store
	blobs   *blob.Store
	bus     *core.Bus
	dataDir string
	// Now is the clock, replaceable in tests.
	Now func() time.Time

	mu      sync.Mutex // serialises commits, so version numbers never collide
	imports sync.Map   // importID → context.CancelFunc
}

// NewService builds the dataset service; blobs live under <dataDir>/blobs.
func NewService(db *store.Store, blobs *blob.Store, bus *core.Bus, dataDir string) *Service {
	if bus == nil {
		bus = core.NewBus()
	}
	return &Service{db: db, blobs: blobs, bus: bus, dataDir: dataDir, Now: time.Now}
}

func holder(versionID string) string { return "dataset-version:" + versionID }

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, format, args...)
	}
	if err != nil && !isCoreErr(err) {
		return core.Wrap(err, core.Internal, "Tern could not read its dataset records.")
	}
	return err
}

// requestKey identifies an import's settings, so the same bytes imported
// the same way are recognised as the same version.
func requestKey(o Options) string {
	o.Name, o.ImportID = "", ""
	b, _ := json.Marshal(o)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

type statEntry struct {
	Size       int64  `json:"size"`
	ModNanos   int64  `json:"modNanos"`
	Name       string `json:"name"`
	RequestKey string `json:"requestKey"`
	VersionID  string `json:"versionId"`
}

// datasetName is the name an import goes under.
func datasetName(o Options, source string) (string, error) {
	n := strings.TrimSpace(o.Name)
	if n == "" {
		base := filepath.Base(source)
		n = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if n == "" || n == "." || len(n) > 200 || strings.ContainsAny(n, "\x00\n\r") {
		return "", core.Errorf(core.Invalid, "A dataset needs a name of 1 to 200 characters on one line.")
	}
	return n, nil
}

// ImportPath imports a file from disk (file dialog, desktop drop). A file
// already imported with the same settings and unchanged since (same size
// and modification time, as git and DVC check) returns its version at once
// without reading it again.
func (s *Service) ImportPath(ctx context.Context, path string, opts Options) (Version, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Version{}, core.Errorf(core.Invalid, "%q is not a usable file path.", path)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Version{}, core.Errorf(core.NotFound, "There is no file at %s.", abs)
		}
		return Version{}, core.Wrap(err, core.Unavailable, "Tern cannot open %s: %v", abs, plain(err))
	}
	if fi.IsDir() {
		return Version{}, core.Errorf(core.Invalid, "%s is a folder. Drop a CSV, Parquet or JSON-lines file.", abs)
	}
	name, err := datasetName(opts, abs)
	if err != nil {
		return Version{}, err
	}
	rk := requestKey(opts)
	if v, ok := s.statHit(abs, fi, name, rk); ok {
		v.Reused = true
		s.publish(Progress{ImportID: opts.ImportID, Name: name, Phase: "done", Bytes: v.Size, Total: v.Size, Rows: v.Rows, VersionID: v.ID})
		return v, nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return Version{}, core.Wrap(err, core.Unavailable, "Tern cannot open %s: %v", abs, plain(err))
	}
	defer f.Close()
	start := s.Now()
	v, err := s.importStream(ctx, f, fi.Size(), filepath.Base(abs), name, opts, s.clone(f))
	if err != nil {
		return v, err
	}
	// A file modified within the clock's granularity of being read could
	// change again without its time changing: do not trust it later.
	if start.Sub(fi.ModTime()) > 2*time.Second {
		s.db.DB.Update(func(txn *badger.Txn) error {
			return store.SetJSON(txn, store.Key(pStat, []byte(abs)), statEntry{
				Size: fi.Size(), ModNanos: fi.ModTime().UnixNano(), Name: name, RequestKey: rk, VersionID: v.ID})
		})
	}
	return v, nil
}

func (s *Service) statHit(abs string, fi os.FileInfo, name, rk string) (Version, bool) {
	var v Version
	err := s.db.DB.View(func(txn *badger.Txn) error {
		var e statEntry
		if err := store.GetJSON(txn, store.Key(pStat, []byte(abs)), &e); err != nil {
			return err
		}
		if e.Size != fi.Size() || e.ModNanos != fi.ModTime().UnixNano() || e.Name != name || e.RequestKey != rk {
			return errMiss
		}
		if err := store.GetJSON(txn, store.Key(pVersion, []byte(e.VersionID)), &v); err != nil {
			return err
		}
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(v.DatasetID)), &d); err != nil {
			return err
		}
		if v.Trashed || d.Trashed || d.Latest != v.Number || d.Name != name {
			return errMiss
		}
		return nil
	})
	return v, err == nil
}

var errMiss = errors.New("miss")

// ImportReader imports a stream (browser upload). size is 0 when unknown.
func (s *Service) ImportReader(ctx context.Context, r io.Reader, sourceName string, size int64, opts Options) (Version, error) {
	name, err := datasetName(opts, sourceName)
	if err != nil {
		return Version{}, err
	}
	return s.importStream(ctx, r, size, filepath.Base(sourceName), name, opts, nil)
}

// clone starts the blob of a file on disk as a clone of it where the blob
// folder's filesystem can clone (see blob.Store.Clone); nil means copy.
func (s *Service) clone(f *os.File) *blob.Temp {
	t, err := s.blobs.Clone(f)
	if err != nil {
		return nil
	}
	return t
}

// Cancel stops a running import; it reports whether one was found.
func (s *Service) Cancel(importID string) bool {
	if c, ok := s.imports.Load(importID); ok {
		c.(context.CancelFunc)()
		return true
	}
	return false
}

func (s *Service) publish(p Progress) {
	if p.ImportID != "" {
		s.bus.Publish(TopicProgress, p)
	}
}

// importStream reads r once: parsing and profiling it while its bytes go
// into a new blob and its hash. When clone is given (a file on a
// filesystem that clones), the blob already holds the bytes: the clone,
// not r, is read, so the profile and digest are of exactly the bytes kept.
func (s *Service) importStream(ctx context.Context, r io.Reader, size int64, source, name string, opts Options, clone *blob.Temp) (Version, error) {
	if clone != nil {
		defer clone.Abort()
	}
	if opts.ImportID == "" {
		opts.ImportID = core.NewID()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, dup := s.imports.LoadOrStore(opts.ImportID, cancel); dup {
		return Version{}, core.Errorf(core.Conflict, "An import with id %s is already running.", opts.ImportID)
	}
	defer s.imports.Delete(opts.ImportID)
	start := s.Now()
	prog := Progress{ImportID: opts.ImportID, Name: name, Phase: "reading", Total: size}
	s.publish(prog)
	fail := func(err error) (Version, error) {
		prog.Phase, prog.Error = "failed", core.ErrorMessage(err)
		if errors.Is(err, ErrCancelled) || ctx.Err() != nil {
			prog.Phase, prog.Error, err = "cancelled", "", ErrCancelled
		}
		s.publish(prog)
		return Version{}, err
	}
	tmp, sink, stored := clone, io.Writer(io.Discard), blob.Cloned
	if clone != nil {
		r = clone.Reader()
	} else {
		t, err := s.blobs.Create()
		if err != nil {
			return fail(err)
		}
		defer t.Abort()
		tmp, sink, stored = t, t, blob.Copied
	}
	readAt := func() (io.ReaderAt, int64, error) {
		ra, err := tmp.ReaderAt()
		return ra, tmp.Size(), err
	}
	// The dataset's rules are known before the pass, so the values the
	// format and category rules need are tested as the profile counts them.
	opts.checks = s.rulesByName(name)
	p, err := parseStream(ctx, r, sink, readAt, source, opts, func(b, rows int64) {
		prog.Bytes, prog.Rows = b, rows
		s.publish(prog)
	}, func(d Detected) {
		d.Rows = d.Rows[:min(len(d.Rows), 3)]
		first := prog
		first.Detected = &d
		s.publish(first)
	})
	if err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(ErrCancelled)
	}
	if err := tmp.HashRest(); err != nil {
		return fail(err)
	}
	digest := string(tmp.Digest())
	rk := requestKey(opts)

	s.mu.Lock()
	defer s.mu.Unlock()
	// Same bytes, same settings as the latest version: that version.
	var ds Dataset
	var latest Version
	dsErr := s.db.DB.View(func(txn *badger.Txn) error {
		var id string
		item, err := txn.Get(store.Key(pName, []byte(name)))
		if err != nil {
			return err
		}
		if err := item.Value(func(b []byte) error { id = string(b); return nil }); err != nil {
			return err
		}
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(id)), &ds); err != nil {
			return err
		}
		lv, err := s.latestLive(txn, ds.ID)
		if err == nil {
			latest = lv
		}
		return nil
	})
	if dsErr != nil && !errors.Is(dsErr, badger.ErrKeyNotFound) {
		return fail(core.Wrap(dsErr, core.Internal, "Tern could not read its dataset records."))
	}
	if latest.ID != "" && latest.Digest == digest && latest.requestKey == rk {
		latest.Reused = true
		prog.Phase, prog.VersionID, prog.Bytes, prog.Rows = "done", latest.ID, latest.Size, latest.Rows
		s.publish(prog)
		return latest, nil
	}
	now := s.Now().UTC()
	if ds.ID == "" {
		ds = Dataset{ID: core.NewID(), Name: name, Created: now}
	}
	det := p.det
	v := Version{
		ID: core.NewID(), DatasetID: ds.ID, Dataset: name, Number: ds.Latest + 1, SourceName: source,
		Size: tmp.Size(), Digest: digest, Rows: p.profile.Rows, Columns: len(p.profile.Columns),
		Format: det.Format, Encoding: det.Encoding, Delimiter: det.Delimiter, Header: det.Header,
		NullTokens: opts.NullTokens, Imported: now, Stored: stored, requestKey: rk, Origin: opts.Origin,
	}
	for i, c := range det.Columns {
		c.Type = p.profile.Columns[i].Type
		v.Schema = append(v.Schema, c)
	}
	// Carry the user's roles forward to a new version of the same data.
	if latest.ID != "" {
		carryRoles(v.Schema, latest.Schema)
	} else if opts.Target != "" {
		for i := range v.Schema {
			if v.Schema[i].Name == opts.Target {
				v.Schema[i].Role = Target
			}
		}
	}
	v.ImportMillis = s.Now().Sub(start).Milliseconds()
	ds.Latest = v.Number
	var prevProf *Profile
	var prev *Version
	if latest.ID != "" {
		if pp, err := s.Profile(latest.ID); err == nil {
			prev, prevProf = &latest, &pp
		}
	}
	var val *Validation
	if len(opts.checks) > 0 {
		vv := evaluate(opts.checks, v, &p.profile, p.vals, prev, prevProf, now)
		val, v.Checks = &vv, vv.summary()
	}
	_, err = tmp.Commit(holder(v.ID), func(txn *badger.Txn, _ blob.Digest) error {
		if err := store.SetJSON(txn, store.Key(pDataset, []byte(ds.ID)), ds); err != nil {
			return err
		}
		if err := txn.Set(store.Key(pName, []byte(name)), []byte(ds.ID)); err != nil {
			return err
		}
		if err := txn.Set(store.Key(pVerIdx, []byte(ds.ID), store.U64(uint64(v.Number))), []byte(v.ID)); err != nil {
			return err
		}
		if err := store.SetJSON(txn, store.Key(pVersion, []byte(v.ID)), v.stored()); err != nil {
			return err
		}
		if err := store.SetJSON(txn, store.Key(pProfile, []byte(v.ID)), p.profile); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "dataset.import", Objects: []audit.Object{datasetObj(ds), versionObj(v)},
			After: fmt.Sprintf("%s, %d rows, %d columns, from %s", v.Format, v.Rows, len(v.Schema), v.SourceName)}); err != nil {
			return err
		}
		// A version that breaks a rule is imported all the same, and marked.
		if val != nil {
			return store.SetJSON(txn, store.Key(pValidation, []byte(v.ID)), val)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	prog.Phase, prog.VersionID, prog.Bytes, prog.Rows = "done", v.ID, v.Size, v.Rows
	s.publish(prog)
	s.bus.Publish(TopicChanged, map[string]string{"datasetId": ds.ID, "versionId": v.ID})
	return v, nil
}

func carryRoles(dst, src []Column) {
	for i := range dst {
		for _, o := range src {
			if o.Name == dst[i].Name {
				dst[i].Role, dst[i].Protected = o.Role, o.Protected
			}
		}
	}
}

// rulesByName is the rules of the live dataset called name (none when
// there is no such dataset yet).
func (s *Service) rulesByName(name string) []Rule {
	var rules []Rule
	s.db.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(store.Key(pName, []byte(name)))
		if err != nil {
			return err
		}
		id, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return s.rules(txn, string(id), &rules)
	})
	return rules
}

// latestLive is the highest-numbered version of a dataset not in the trash.
func (s *Service) latestLive(txn *badger.Txn, datasetID string) (Version, error) {
	vs, err := s.versions(txn, datasetID, false)
	if err != nil {
		return Version{}, err
	}
	if len(vs) == 0 {
		return Version{}, badger.ErrKeyNotFound
	}
	return vs[0], nil
}

// versions lists a dataset's versions, newest first.
func (s *Service) versions(txn *badger.Txn, datasetID string, withTrashed bool) ([]Version, error) {
	prefix := store.Key(pVerIdx, []byte(datasetID))
	opt := badger.DefaultIteratorOptions
	opt.Reverse = true
	opt.Prefix = prefix
	it := txn.NewIterator(opt)
	defer it.Close()
	var out []Version
	for it.Seek(store.PrefixEnd(prefix)); it.Valid(); it.Next() {
		var id []byte
		if err := it.Item().Value(func(b []byte) error { id = append([]byte(nil), b...); return nil }); err != nil {
			return nil, err
		}
		var v Version
		if err := store.GetJSON(txn, store.Key(pVersion, id), &v); err != nil {
			return nil, err
		}
		if v.Trashed && !withTrashed {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// eachDataset calls fn with every dataset record, trashed ones too.
func eachDataset(txn *badger.Txn, fn func(Dataset) error) error {
	return store.EachJSON(txn, []byte{pDataset}, false, fn)
}

// Summary is a dataset with its newest live version, for lists.
type Summary struct {
	Dataset
	Versions int      `json:"versions"`
	Current  *Version `json:"current,omitempty"`
}

// List returns the datasets not in the trash, by name.
func (s *Service) List() ([]Summary, error) {
	var out []Summary
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return eachDataset(txn, func(d Dataset) error {
			if d.Trashed {
				return nil
			}
			vs, err := s.versions(txn, d.ID, false)
			if err != nil {
				return err
			}
			sm := Summary{Dataset: d, Versions: len(vs)}
			if len(vs) > 0 {
				sm.Current = &vs[0]
			}
			out = append(out, sm)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not list its datasets.")
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// Versions lists a dataset's live versions, newest first.
func (s *Service) Versions(datasetID string) ([]Version, error) {
	var out []Version
	err := s.db.DB.View(func(txn *badger.Txn) error {
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(datasetID)), &d); err != nil {
			return notFound(err, "There is no dataset with id %s.", datasetID)
		}
		var err error
		out, err = s.versions(txn, datasetID, false)
		return err
	})
	return out, err
}

// Version returns one version.
func (s *Service) Version(versionID string) (Version, error) {
	var v Version
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return store.GetJSON(txn, store.Key(pVersion, []byte(versionID)), &v)
	})
	return v, notFound(err, "There is no dataset version with id %s.", versionID)
}

// Profile returns the stored profile of a version.
func (s *Service) Profile(versionID string) (Profile, error) {
	var p Profile
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return store.GetJSON(txn, store.Key(pProfile, []byte(versionID)), &p)
	})
	return p, notFound(err, "There is no profile for dataset version %s.", versionID)
}

// VersionFile is the path of a version's bytes, for the runner and
// serving to mount read-only: the blob's file, or (when the data dir is
// encrypted) a plaintext copy outside the data dir that lives while Tern
// runs. The file is immutable; callers that keep using it should hold it
// with blob.Store.Hold(digest).
func (s *Service) VersionFile(versionID string) (string, error) {
	v, err := s.Version(versionID)
	if err != nil {
		return "", err
	}
	d, err := blob.ParseDigest(v.Digest)
	if err != nil {
		return "", err
	}
	if !s.blobs.Has(d) {
		return "", core.Errorf(core.Unavailable, "The file of %s v%d is missing from the blob folder.", v.Dataset, v.Number)
	}
	return s.blobs.PlainPath(d)
}

// ColumnEdit is a user's correction of one column.
type ColumnEdit struct {
	Name      string     `json:"name"`
	Type      ColumnType `json:"type,omitempty"`
	Role      Role       `json:"role,omitempty"`
	Protected *bool      `json:"protected,omitempty"`
	// DateOrder settles a day/month date column: "day-first" or
	// "month-first" (re-reads the version, as a type change does).
	DateOrder string `json:"dateOrder,omitempty"`
}

// EditSchema applies corrections to a version's schema. Roles and the
// protected flag are metadata; a type change re-reads the version's stored
// bytes once to rebuild the profile, and fails (changing nothing) if the
// data does not fit the new type.
func (s *Service) EditSchema(ctx context.Context, versionID string, edits []ColumnEdit) (Version, error) {
	v, err := s.Version(versionID)
	if err != nil {
		return v, err
	}
	types := map[string]ColumnType{}
	order := map[string]string{}
	targets := 0
	for _, c := range v.Schema {
		if c.Role == Target {
			targets++
		}
	}
	byName := map[string]int{}
	for i, c := range v.Schema {
		byName[c.Name] = i
	}
	schema := append([]Column(nil), v.Schema...)
	for _, e := range edits {
		i, ok := byName[e.Name]
		if !ok {
			return v, core.Errorf(core.Invalid, "%s v%d has no column named %q.", v.Dataset, v.Number, e.Name)
		}
		if e.Role != "" {
			switch e.Role {
			case Feature, Target, IDRole, Ignore:
			default:
				return v, core.Errorf(core.Invalid, "%q is not a column role; use feature, target, id or ignore.", e.Role)
			}
			if e.Role == Target {
				// One target per dataset: marking a new one demotes the old.
				for j := range schema {
					if schema[j].Role == Target {
						schema[j].Role = Feature
					}
				}
			}
			schema[i].Role = e.Role
		}
		if e.Protected != nil {
			schema[i].Protected = *e.Protected
		}
		if e.Type != "" && e.Type != schema[i].Type {
			if !table.ValidType(e.Type) {
				return v, core.Errorf(core.Invalid, "%q is not a column type; use integer, float, boolean, categorical, datetime or text.", e.Type)
			}
			types[e.Name] = e.Type
		}
		if e.DateOrder != "" {
			order[e.Name] = e.DateOrder
		}
	}
	var prof *Profile
	if len(types) > 0 || len(order) > 0 {
		for _, c := range v.Schema {
			if _, ok := types[c.Name]; !ok {
				types[c.Name] = c.Type
			}
		}
		path, err := s.VersionFile(v.ID)
		if err != nil {
			return v, err
		}
		f, err := os.Open(path)
		if err != nil {
			return v, core.Wrap(err, core.Unavailable, "Tern cannot read the stored file of %s v%d.", v.Dataset, v.Number)
		}
		defer f.Close()
		// Read as the version was, with the new types on its schema.
		opts := Options{Options: v.Reading()}
		opts.Types, opts.DateOrder = types, order
		fi, _ := f.Stat()
		p, err := parseStream(ctx, f, io.Discard, func() (io.ReaderAt, int64, error) { return f, fi.Size(), nil }, v.SourceName, opts, nil)
		if err != nil {
			return v, err
		}
		prof = &p.profile
		for i := range schema {
			schema[i].Type = p.profile.Columns[i].Type
			schema[i].DateLayout, schema[i].DateNote = p.det.Columns[i].DateLayout, p.det.Columns[i].DateNote
		}
	}
	v.Schema = schema
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		var cur Version
		if err := store.GetJSON(txn, store.Key(pVersion, []byte(v.ID)), &cur); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "dataset.schema", Objects: []audit.Object{versionObj(cur)}, Before: schemaText(cur.Schema), After: schemaText(schema)}); err != nil {
			return err
		}
		cur.Schema = schema
		if err := store.SetJSON(txn, store.Key(pVersion, []byte(v.ID)), cur.stored()); err != nil {
			return err
		}
		if prof != nil {
			return store.SetJSON(txn, store.Key(pProfile, []byte(v.ID)), prof)
		}
		return nil
	})
	if err != nil {
		return v, notFound(err, "There is no dataset version with id %s.", versionID)
	}
	s.bus.Publish(TopicChanged, map[string]string{"datasetId": v.DatasetID, "versionId": v.ID})
	return s.Version(v.ID)
}

func plain(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Reimport reads a version's stored bytes again with other settings (a
// delimiter, header, encoding or type the detection got wrong) and makes
// the result the dataset's next version. The bytes are not copied: the new
// version holds the same blob.
func (s *Service) Reimport(ctx context.Context, versionID string, opts Options) (Version, error) {
	v, err := s.Version(versionID)
	if err != nil {
		return v, err
	}
	path, err := s.VersionFile(versionID)
	if err != nil {
		return Version{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Version{}, core.Wrap(err, core.Unavailable, "Tern cannot read the stored file of %s v%d.", v.Dataset, v.Number)
	}
	defer f.Close()
	opts.Name = v.Dataset
	return s.importStream(ctx, f, v.Size, v.SourceName, v.Dataset, opts, s.clone(f))
}

func isCoreErr(err error) bool {
	var ce *core.Error
	return errors.As(err, &ce)
}

// Detect reads the start of a file and says how Tern would import it: the
// format, encoding, delimiter, header, column types and the first rows. It
// writes nothing; the UI shows it so the person can confirm or correct the
// options before importing.
func (s *Service) Detect(path string, opts Options) (Detected, error) {
	return table.DetectFile(path, opts.Options)
}
