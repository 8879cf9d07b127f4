// Package registry holds named models and their numbered versions: where
// each came from (dataset version -> run -> model version), its signature,
// input example and metrics, the frozen profile of its training data (the
// drift reference), and aliases such as @champion and @challenger that are
// moved atomically. Model files live in MLflow-style directories under the
// data dir; the registry exports and imports such directories and imports
// bare XGBoost JSON and LightGBM text files as servable versions.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// Key layout of the registry range (0x30–0x3f):
//
//	0x30 name                  -> Model (JSON)
//	0x31 name 0x00 U64(version) -> Version (JSON)
const (
	prefixModel   = store.PrefixRegistry
	prefixVersion = store.PrefixRegistry + 1
)

// Model is a named model; versions are numbered from 1.
type Model struct {
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	Created       int64          `json:"created"` // unix ms
	Updated       int64          `json:"updated"`
	LatestVersion int            `json:"latestVersion"`
	Aliases       map[string]int `json:"aliases"`
	// Tags are free key/values (MLflow's registered model tags).
	Tags map[string]string `json:"tags,omitempty"`
	// Archived is when the model was archived (unix ms; 0: not archived):
	// hidden from the default lists, kept whole, brought back by unarchiving.
	Archived int64 `json:"archived,omitempty"`
}

// Version is one registered model version.
type Version struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	Created int64  `json:"created"`
	// Source says how it arrived: "run", "import-dir", "import-file".
	Source         string             `json:"source"`
	RunID          string             `json:"runId,omitempty"`
	ExperimentID   string             `json:"experimentId,omitempty"`
	DatasetVersion string             `json:"datasetVersion,omitempty"`
	Flavor         string             `json:"flavor"`
	Signature      modelfmt.Signature `json:"signature"`
	InputExample   json.RawMessage    `json:"inputExample,omitempty"`
	Metrics        map[string]float64 `json:"metrics,omitempty"`
	Params         map[string]string  `json:"params,omitempty"`
	Description    string             `json:"description,omitempty"`
	// Profile is the training data's profile, frozen at registration as
	// the reference for drift reports.
	Profile json.RawMessage `json:"profile,omitempty"`
	// Dir is relative to the registry's root.
	Dir     string   `json:"dir"`
	Aliases []string `json:"aliases,omitempty"` // filled on read
	// Pickle marks pickled Python models (sklearn, python_function):
	// registered and exported, never loaded by Tern's own server.
	Pickle bool `json:"pickle,omitempty"`
	// SourceURI is where the files came from as MLflow names it
	// (runs:/..., models:/m-..., mlflow-artifacts:/...), when registered
	// through the MLflow API; ModelID is the logged model's ID.
	SourceURI string            `json:"sourceUri,omitempty"`
	ModelID   string            `json:"modelId,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	Updated   int64             `json:"updated,omitempty"`
	// Archived is when the version was archived (unix ms; 0: not archived).
	Archived int64 `json:"archived,omitempty"`
}

// Runs is what the registry needs of tracking.
type Runs interface {
	GetRun(id string) (tracking.Run, error)
	ArtifactDir(runID string) (string, error)
}

// Service is the registry.
type Service struct {
	st   *store.Store
	root string
	runs Runs
	bus  *core.Bus
	// Profile returns the profile of a dataset version, frozen with the
	// model version; nil skips it.
	Profile func(datasetVersion string) (any, error)
	// DeploymentsOf names the deployments serving a version; deleting,
	// archiving or renaming what they serve is refused. nil means none.
	DeploymentsOf func(model string, version int) []string
	// FollowersOf names the deployments following an alias of a model
	// (@champion): the version the alias names is refused the same way,
	// since the follower would move traffic to it. nil means none.
	FollowersOf func(model, alias string) []string
	// Sealing seals model files at rest (nil: plaintext). Set before the
	// first registration; see package atrest.
	Sealing sealed.Key
	mu      sync.Mutex // serialises version numbering, renames and deletes

	plainMu sync.Mutex
	plain   *sealed.Cache // Dir's plaintext copies, when Sealing is set
}

// NewService keeps model directories under dataDir/models.
func NewService(st *store.Store, bus *core.Bus, dataDir string, runs Runs) (*Service, error) {
	root := filepath.Join(dataDir, "models")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Cannot create the model folder under %s.", dataDir)
	}
	return &Service{st: st, root: root, runs: runs, bus: bus}, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
var aliasRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return core.Errorf(core.Invalid, "Model name %q is not allowed: use 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit.", name)
	}
	return nil
}

func modelKey(name string) []byte { return store.Key(prefixModel, []byte(name)) }
func versionKey(name string, v int) []byte {
	return store.Key(prefixVersion, []byte(name), []byte{0}, store.U64(uint64(v)))
}

// storedDir is where a version's files are kept (sealed when Sealing is).
func (s *Service) storedDir(v Version) string {
	return filepath.Join(s.root, filepath.FromSlash(v.Dir))
}

// Dir is a directory holding a version's files in plaintext, for the
// loaders, evaluators and image builders that read a model folder: the
// stored folder itself, or, when model files are encrypted, a copy in a
// scratch folder outside the data dir made on first use and removed by
// Close. It is "" when that copy cannot be made (the loader then reports
// a missing model folder); DirErr says why.
func (s *Service) Dir(v Version) string {
	d, err := s.DirErr(v)
	if err != nil {
		return ""
	}
	return d
}

// DirErr is Dir with the reason it failed.
func (s *Service) DirErr(v Version) (string, error) {
	if !s.Sealing.Enabled() {
		return s.storedDir(v), nil
	}
	s.plainMu.Lock()
	if s.plain == nil {
		c, err := sealed.NewCache("models")
		if err != nil {
			s.plainMu.Unlock()
			return "", core.Wrap(err, core.Unavailable, "Tern cannot create its folder for decrypted models: %v", err)
		}
		s.plain = c
	}
	c := s.plain
	s.plainMu.Unlock()
	// Versions are immutable; the key includes the creation time so a
	// version number reused after a delete gets a fresh copy.
	return c.Get(fmt.Sprintf("%s@%d", v.Dir, v.Created), func(dst string) error {
		return copyTree(s.storedDir(v), dst, s.Sealing, nil)
	})
}

// Close removes the plaintext copies Dir made.
func (s *Service) Close() error {
	s.plainMu.Lock()
	defer s.plainMu.Unlock()
	if s.plain != nil {
		return s.plain.Close()
	}
	return nil
}

// stagingDir makes a folder to assemble a version in: inside the model
// folder when models are plain (so moving it into place is a rename),
// else in the scratch folder, because assembling means writing plaintext.
func (s *Service) stagingDir() (string, error) {
	parent := s.root
	if s.Sealing.Enabled() {
		parent = sealed.ScratchRoot()
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", core.Wrap(err, core.Unavailable, "Cannot create the folder for models being registered.")
		}
	}
	d, err := os.MkdirTemp(parent, ".incoming-*")
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Cannot write to the model folder.")
	}
	return d, nil
}

// Root is where model directories live.
func (s *Service) Root() string { return s.root }

// CreateModel creates an empty named model.
func (s *Service) CreateModel(name, description string) (Model, error) {
	if err := checkName(name); err != nil {
		return Model{}, err
	}
	now := time.Now().UnixMilli()
	m := Model{Name: name, Description: description, Created: now, Updated: now, Aliases: map[string]int{}}
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(modelKey(name)); err == nil {
			return core.Errorf(core.Conflict, "A model named %q already exists.", name)
		}
		if err := audit.Append(txn, audit.Record{Action: "model.create", Objects: []audit.Object{modelObj(name)}, After: editText(description, nil)}); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	return m, wrap(err, "create model %q", name)
}

func wrap(err error, what string, args ...any) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.Wrap(err, core.Internal, "The registry could not %s.", fmt.Sprintf(what, args...))
}

// Get returns a model.
func (s *Service) Get(name string) (Model, error) {
	var m Model
	err := s.st.DB.View(func(txn *badger.Txn) error { return getModel(txn, name, &m) })
	return m, wrap(err, "read model %q", name)
}

// List returns every model, by name.
func (s *Service) List() ([]Model, error) {
	var out []Model
	err := s.st.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{prefixModel}, false, func(m Model) error {
			out = append(out, m)
			return nil
		})
	})
	return out, wrap(err, "list models")
}

// Versions lists a model's versions, newest first.
func (s *Service) Versions(name string) ([]Version, error) {
	m, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	var out []Version
	err = s.st.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, store.Key(prefixVersion, []byte(name), []byte{0}), true, func(v Version) error {
			out = append(out, withAliases(v, m))
			return nil
		})
	})
	return out, wrap(err, "list versions of %q", name)
}

func withAliases(v Version, m Model) Version {
	v.Aliases = nil
	for a, n := range m.Aliases {
		if n == v.Version {
			v.Aliases = append(v.Aliases, a)
		}
	}
	sort.Strings(v.Aliases)
	return v
}

// Version returns one version. ref is a number, "latest", or an alias
// with or without its "@".
func (s *Service) Version(name, ref string) (Version, error) {
	m, err := s.Get(name)
	if err != nil {
		return Version{}, err
	}
	n, err := resolve(m, ref)
	if err != nil {
		return Version{}, err
	}
	var v Version
	err = s.st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, versionKey(name, n), &v) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return v, core.Errorf(core.NotFound, "Model %q has no version %d.", name, n)
	}
	if err != nil {
		return v, wrap(err, "read version %d of %q", n, name)
	}
	return withAliases(v, m), nil
}

func resolve(m Model, ref string) (int, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || ref == "latest" {
		if m.LatestVersion == 0 {
			return 0, core.Errorf(core.NotFound, "Model %q has no versions yet.", m.Name)
		}
		return m.LatestVersion, nil
	}
	if n, err := strconv.Atoi(ref); err == nil {
		return n, nil
	}
	a := strings.TrimPrefix(ref, "@")
	if n, ok := m.Aliases[a]; ok {
		return n, nil
	}
	return 0, core.Errorf(core.NotFound, "Model %q has no alias @%s.", m.Name, a)
}

// SetAliases points each alias at a version, all in one transaction, so
// promoting a challenger (@champion -> 4, @challenger removed) is never
// seen half done. A version of 0 removes the alias.
func (s *Service) SetAliases(name string, moves map[string]int) (Model, error) {
	var m Model
	err := s.st.DB.Update(func(txn *badger.Txn) (err error) {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		if m.Aliases == nil {
			m.Aliases = map[string]int{}
		}
		before := aliasText(m.Aliases)
		defer func() { // the record says where the aliases ended up
			if err == nil {
				err = audit.Append(txn, audit.Record{Action: "model.alias", Objects: []audit.Object{modelObj(name)}, Before: before, After: aliasText(m.Aliases)})
			}
		}()
		for a, v := range moves {
			a = strings.TrimPrefix(a, "@")
			if !aliasRE.MatchString(a) || a == "latest" {
				return core.Errorf(core.Invalid, "Alias %q is not allowed: use lower-case letters, digits, '_' or '-', starting with a letter (and not \"latest\").", a)
			}
			if v == 0 {
				delete(m.Aliases, a)
				continue
			}
			var ver Version
			if err := store.GetJSON(txn, versionKey(name, v), &ver); err != nil {
				if errors.Is(err, badger.ErrKeyNotFound) {
					return core.Errorf(core.NotFound, "Model %q has no version %d for alias @%s.", name, v, a)
				}
				return err
			}
			if ver.Archived != 0 {
				return core.Errorf(core.Conflict, "Version %d of %q is archived; unarchive it before pointing @%s at it.", v, name, a)
			}
			m.Aliases[a] = v
		}
		m.Updated = time.Now().UnixMilli()
		return store.SetJSON(txn, modelKey(name), m)
	})
	if err == nil && s.bus != nil {
		s.bus.Publish("registry.aliases", m)
	}
	return m, wrap(err, "move aliases of %q", name)
}

// Promote makes the version behind @challenger the @champion and clears
// @challenger, in one transaction: a concurrent alias move cannot slip
// between reading the challenger and moving the champion.
func (s *Service) Promote(name string) (Model, error) {
	var m Model
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		before := aliasText(m.Aliases)
		c, ok := m.Aliases["challenger"]
		if !ok {
			return core.Errorf(core.Conflict, "Model %q has no @challenger to promote.", name)
		}
		m.Aliases["champion"] = c
		delete(m.Aliases, "challenger")
		m.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, audit.Record{Action: "model.promote", Objects: []audit.Object{modelObj(name), versionObj(name, c)}, Before: before, After: aliasText(m.Aliases)}); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	if err == nil && s.bus != nil {
		s.bus.Publish("registry.aliases", m)
	}
	return m, wrap(err, "promote the challenger of %q", name)
}

// getModel reads a model record, worded when there is none.
func getModel(txn *badger.Txn, name string, m *Model) error {
	err := store.GetJSON(txn, modelKey(name), m)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, "There is no model named %q.", name)
	}
	return err
}
