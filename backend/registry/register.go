package registry

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

// Bounds on what an imported directory may hold.
const (
	maxImportFiles = 1000
	maxImportBytes = 1 << 30
)

// Meta is what a caller may add to a registration.
type Meta struct {
	Description    string
	RunID          string
	ExperimentID   string
	DatasetVersion string
	Metrics        map[string]float64
	Params         map[string]string
	Source         string
	// From the MLflow API: the source URI, logged model ID and tags.
	SourceURI string
	ModelID   string
	Tags      map[string]string
	// MustExist refuses to create the model (MLflow's create-model-version
	// needs a registered model).
	MustExist bool
}

// RegisterRun registers the model a run wrote (its artifact directory
// artifactPath, "model" by default) as the next version of name, creating
// the model if needed. Lineage (dataset version, run, metrics, params) is
// copied from the run.
func (s *Service) RegisterRun(name, runID, artifactPath string) (Version, error) {
	return s.RegisterRunMeta(name, runID, artifactPath, Meta{})
}

// RegisterRunMeta is RegisterRun with the MLflow API's extras (source URI,
// logged model, tags, description) in meta; lineage still comes from the
// run.
func (s *Service) RegisterRunMeta(name, runID, artifactPath string, extra Meta) (Version, error) {
	if s.runs == nil {
		return Version{}, core.Errorf(core.Unavailable, "Run tracking is not available.")
	}
	run, err := s.runs.GetRun(runID)
	if err != nil {
		return Version{}, err
	}
	if artifactPath == "" {
		artifactPath = "model"
	}
	adir, err := s.runs.ArtifactDir(runID)
	if err != nil {
		return Version{}, err
	}
	src := filepath.Join(adir, filepath.FromSlash(artifactPath))
	if rel, err := filepath.Rel(adir, src); err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) > 2 && rel[:3] == ".."+string(filepath.Separator) {
		return Version{}, core.Errorf(core.Invalid, "Artifact path %q is outside the run's artifacts.", artifactPath)
	}
	metrics := map[string]float64{}
	for k, p := range run.Metrics {
		metrics[k] = float64(p.Value)
	}
	return s.registerDir(name, src, s.Sealing, Meta{
		RunID: runID, ExperimentID: run.ExperimentID, DatasetVersion: run.DatasetVersion,
		Metrics: metrics, Params: run.Params, Source: "run",
		Description: extra.Description, SourceURI: extra.SourceURI, ModelID: extra.ModelID, Tags: extra.Tags, MustExist: extra.MustExist,
	})
}

// RegisterDir copies a model directory (MLmodel + files) into the registry
// as the next version of name. The directory is validated by loading it
// for serving first, so only servable models are registered; nothing is
// left behind on failure.
func (s *Service) RegisterDir(name, src string, meta Meta) (Version, error) {
	return s.registerDir(name, src, nil, meta)
}

// registerDir is RegisterDir from a folder whose files are sealed with
// from (a run's artifacts in an encrypted data dir) or plain (nil).
func (s *Service) registerDir(name, src string, from sealed.Key, meta Meta) (Version, error) {
	if err := checkName(name); err != nil {
		return Version{}, err
	}
	if meta.Source == "" {
		meta.Source = "import-dir"
	}
	tmp, err := s.stagingDir()
	if err != nil {
		return Version{}, err
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(src, tmp, from, nil); err != nil {
		return Version{}, err
	}
	return s.commit(name, tmp, meta)
}

// maxModelFile bounds a bare model file read into memory.
const maxModelFile = 512 << 20

// ImportPath registers a model from this computer: an MLmodel folder
// (RegisterDir), or an XGBoost JSON / LightGBM text file of at most
// 512 MB (ImportFile, inputs named from the file).
func (s *Service) ImportPath(name, path string) (Version, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Version{}, core.Errorf(core.NotFound, "There is nothing at %s.", path)
	}
	if st.IsDir() {
		return s.RegisterDir(name, path, Meta{})
	}
	if st.Size() > maxModelFile {
		return Version{}, core.Errorf(core.Invalid, "%s is larger than %d MB; that is not a model file Tern reads.", path, maxModelFile>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Version{}, core.Wrap(err, core.Invalid, "%s cannot be read.", path)
	}
	return s.ImportFile(name, data, modelfmt.Signature{}, nil, Meta{})
}

// ImportFile registers a bare XGBoost JSON or LightGBM text model file.
// sig may be empty, in which case the inputs are named from the file (or
// f0..fN). An input example may be given as an MLflow request body.
func (s *Service) ImportFile(name string, data []byte, sig modelfmt.Signature, example json.RawMessage, meta Meta) (Version, error) {
	if err := checkName(name); err != nil {
		return Version{}, err
	}
	g, err := gbdt.Read(data)
	if err != nil {
		return Version{}, err
	}
	if len(sig.Inputs) == 0 {
		sig = modelfmt.DefaultSignature(g.FeatureNames, g.Features)
	}
	if len(sig.Inputs) != g.Features {
		return Version{}, core.Errorf(core.Invalid, "The signature names %d inputs but the model reads %d features.", len(sig.Inputs), g.Features)
	}
	file := "model.json"
	if g.Kind == "lightgbm" {
		file = "model.lgb"
	} else if gbdt.IsUBJSON(data) {
		// Kept as uploaded; the extension tells XGBoost (and MLflow) the format.
		file = "model.ubj"
	}
	tmp, err := s.stagingDir()
	if err != nil {
		return Version{}, err
	}
	defer os.RemoveAll(tmp)
	if len(example) > 0 && !json.Valid(example) {
		return Version{}, core.Errorf(core.Invalid, "The input example is not valid JSON.")
	}
	if err := os.WriteFile(filepath.Join(tmp, file), data, 0o644); err != nil {
		return Version{}, core.Wrap(err, core.Unavailable, "Cannot write the model file.")
	}
	if err := modelfmt.WriteImported(tmp, g.Kind, file, sig, example); err != nil {
		return Version{}, err
	}
	if meta.Source == "" {
		meta.Source = "import-file"
	}
	return s.commit(name, tmp, meta)
}

// commit validates the staged directory, moves it into place and writes
// the version (and model, on first registration) in one transaction.
func (s *Service) commit(name, staged string, meta Meta) (Version, error) {
	// A built-in model saved before the python_function export existed
	// gets it now, so every registered built-in version loads in MLflow.
	if err := modelfmt.AddPyfunc(staged); err != nil {
		return Version{}, err
	}
	loaded, err := modelfmt.Inspect(staged)
	if err != nil {
		return Version{}, err
	}
	var profile json.RawMessage
	if meta.DatasetVersion != "" && s.Profile != nil {
		if p, err := s.Profile(meta.DatasetVersion); err == nil {
			profile, _ = json.Marshal(p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.Get(name)
	if core.ErrorCode(err) == core.NotFound && !meta.MustExist {
		now := time.Now().UnixMilli()
		m = Model{Name: name, Created: now, Aliases: map[string]int{}}
	} else if err != nil {
		return Version{}, err
	}
	n := m.LatestVersion + 1
	rel := filepath.ToSlash(filepath.Join(name, strconv.Itoa(n)))
	dest := filepath.Join(s.root, name, strconv.Itoa(n))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return Version{}, core.Wrap(err, core.Unavailable, "Cannot create the folder for %q.", name)
	}
	// A leftover from a crash between rename and commit holds no version.
	_ = os.RemoveAll(dest)
	if s.Sealing.Enabled() {
		// Sealed into a temp folder beside dest, then renamed: dest is
		// whole or absent, as with plain files.
		sealedTmp, err := os.MkdirTemp(s.root, ".incoming-*")
		if err != nil {
			return Version{}, core.Wrap(err, core.Unavailable, "Cannot write to the model folder.")
		}
		defer os.RemoveAll(sealedTmp)
		if err := os.Remove(sealedTmp); err != nil {
			return Version{}, core.Wrap(err, core.Unavailable, "Cannot write to the model folder.")
		}
		if err := copyTree(staged, sealedTmp, nil, s.Sealing); err != nil {
			return Version{}, err
		}
		staged = sealedTmp
	}
	if err := os.Rename(staged, dest); err != nil {
		return Version{}, core.Wrap(err, core.Unavailable, "Cannot move the model into place.")
	}
	v := Version{
		Model: name, Version: n, Created: time.Now().UnixMilli(), Source: meta.Source,
		RunID: meta.RunID, ExperimentID: meta.ExperimentID, DatasetVersion: meta.DatasetVersion,
		Flavor: loaded.Flavor, Signature: loaded.Signature, InputExample: loaded.Example,
		Metrics: meta.Metrics, Params: meta.Params, Description: meta.Description, Profile: profile, Dir: rel,
		Pickle: loaded.Pickle, SourceURI: meta.SourceURI, ModelID: meta.ModelID, Tags: meta.Tags,
	}
	v.Updated = v.Created
	m.LatestVersion = n
	m.Updated = v.Created
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		if err := store.SetJSON(txn, versionKey(name, n), v); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "model_version.register", Objects: []audit.Object{versionObj(name, n)}, After: "from " + v.Source + " " + v.RunID}); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	if err != nil {
		os.RemoveAll(dest)
		return Version{}, wrap(err, "register version %d of %q", n, name)
	}
	if s.bus != nil {
		s.bus.Publish("registry.version", v)
	}
	return v, nil
}

// Export copies a version's directory to dest, which must not exist: an
// MLflow model directory that `tern-runtime serve` and MLflow both load
// (built-in models through their python_function flavor, imported ones
// through their own xgboost or lightgbm flavor).
func (s *Service) Export(name, ref, dest string) error {
	v, err := s.Version(name, ref)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dest); err == nil {
		return core.Errorf(core.Conflict, "%s already exists; choose a new folder to export into.", dest)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".export-*")
	if err != nil {
		return core.Wrap(err, core.Unavailable, "Cannot write into %s.", filepath.Dir(dest))
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(s.storedDir(v), tmp, s.Sealing, nil); err != nil {
		return err
	}
	// Versions registered before the python_function export existed get it
	// in the copy; the registered version itself is never rewritten.
	if err := modelfmt.AddPyfunc(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return core.Wrap(err, core.Unavailable, "Cannot move the export into %s.", dest)
	}
	return nil
}

// copyTree copies regular files and folders; links, devices and anything
// else are refused, so an imported directory cannot point outside itself.
// Files are read as sealed with from and written sealed with to (nil:
// plaintext), so one walk copies, decrypts or encrypts a model folder.
func copyTree(src, dst string, from, to sealed.Key) error {
	info, err := os.Stat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return core.Errorf(core.NotFound, "There is no model folder at %s.", src)
		}
		return core.Wrap(err, core.Invalid, "The model folder %s cannot be read.", src)
	}
	if !info.IsDir() {
		return core.Errorf(core.Invalid, "%s is a file, not a model folder.", src)
	}
	root, err := os.OpenRoot(src)
	if err != nil {
		return core.Wrap(err, core.Invalid, "The model folder %s cannot be opened.", src)
	}
	defer root.Close()
	files := 0
	var total int64
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return core.Wrap(err, core.Invalid, "The model folder cannot be read at %s.", p)
		}
		target := filepath.Join(dst, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
		default:
			return core.Errorf(core.Invalid, "The model folder holds %s, which is a link or special file; only plain files are imported.", p)
		}
		files++
		if files > maxImportFiles {
			return core.Errorf(core.Invalid, "The model folder holds more than %d files.", maxImportFiles)
		}
		f, err := root.Open(p)
		if err != nil {
			return core.Wrap(err, core.Invalid, "Cannot open %s in the model folder.", p)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return core.Wrap(err, core.Invalid, "Cannot open %s in the model folder.", p)
		}
		in, err := from.OpenFile(f, fi.Size())
		if err != nil {
			f.Close()
			return core.Wrap(err, core.Internal, "Cannot decrypt %s in the model folder: %v", p, err)
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return core.Wrap(err, core.Unavailable, "Cannot write %s.", p)
		}
		w, err := to.Writer(out)
		if err != nil {
			out.Close()
			return core.Wrap(err, core.Internal, "Cannot encrypt %s: %v", p, err)
		}
		n, err := io.Copy(w, io.LimitReader(in, maxImportBytes-total+1))
		total += n
		if err == nil {
			err = w.Close()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return core.Wrap(err, core.Unavailable, "Cannot copy %s.", p)
		}
		if total > maxImportBytes {
			return core.Errorf(core.Invalid, "The model folder is larger than %d MB.", maxImportBytes>>20)
		}
		return nil
	})
}

// Lineage is the chain a version sits in.
type Lineage struct {
	DatasetVersion string   `json:"datasetVersion,omitempty"`
	RunID          string   `json:"runId,omitempty"`
	ExperimentID   string   `json:"experimentId,omitempty"`
	Model          string   `json:"model"`
	Version        int      `json:"version"`
	Deployments    []string `json:"deployments"`
}

// Lineage returns dataset version -> run -> version -> deployments;
// deployments are supplied by the caller (the deployment service knows them).
func (s *Service) Lineage(name, ref string, deployments func(model string, version int) []string) (Lineage, error) {
	v, err := s.Version(name, ref)
	if err != nil {
		return Lineage{}, err
	}
	l := Lineage{DatasetVersion: v.DatasetVersion, RunID: v.RunID, ExperimentID: v.ExperimentID, Model: v.Model, Version: v.Version, Deployments: []string{}}
	if deployments != nil {
		l.Deployments = append(l.Deployments, deployments(v.Model, v.Version)...)
	}
	return l, nil
}
