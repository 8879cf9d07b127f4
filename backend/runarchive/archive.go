// Package runarchive moves a run between Tern installations as one file:
// a gzipped tar holding what is needed to train it again — the dataset
// version's bytes and how to read them, the job (parameters with the seed,
// command, resources), the build context of a Dockerfile job — and what it
// gave: its params, tags, every metric's history and its artifacts.
//
// Importing brings the dataset version in (same bytes, same digest), the
// run in as a finished run of an experiment of the same name, and the job
// in as the one that produced it, so "Re-run" repeats it on this machine.
// A built-in model re-runs to the same metrics when both sides run the same
// tern-runtime (its version is on the run as tern.runtime.version).
package runarchive

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/tracking"
)

// Format names the archive layout in its manifest.
const Format = "tern-run-archive/1"

// TagImportedFrom is set on an imported run: the run's ID where it was
// trained.
const TagImportedFrom = "tern.imported_from"

// Manifest is manifest.json, the archive's first entry.
type Manifest struct {
	Format      string `json:"format"`
	TernVersion string `json:"ternVersion"`
	Run         Run    `json:"run"`
	// Job is the spec that trained the run, with the host's paths taken
	// out: the data is data/<Dataset.File>, a build context is context/.
	Job     runner.JobSpec `json:"job"`
	Dataset Dataset        `json:"dataset"`
	// Artifacts are the run's files, under artifacts/ in the archive.
	Artifacts []string `json:"artifacts"`
	// Context lists the build context's files (a Dockerfile job only).
	Context []string `json:"context,omitempty"`
}

// Run is what the run recorded.
type Run struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Experiment string                      `json:"experiment"`
	Status     tracking.Status             `json:"status"`
	StartTime  int64                       `json:"startTime"`
	EndTime    int64                       `json:"endTime"`
	Params     map[string]string           `json:"params"`
	Tags       map[string]string           `json:"tags"`
	Metrics    map[string][]tracking.Point `json:"metrics"`
}

// Dataset is the dataset version the run trained on.
type Dataset struct {
	Name    string        `json:"name"`
	Number  int           `json:"number"`
	Digest  string        `json:"digest"`
	File    string        `json:"file"`
	Reading table.Options `json:"reading"`
}

// Service exports and imports runs.
type Service struct {
	Runner      *runner.Runner
	Tracking    *tracking.Service
	Datasets    *dataset.Service
	TernVersion string
}

// Export writes runID's archive to w.
func (s *Service) Export(runID string, w io.Writer) error {
	job, err := s.Runner.JobOfRun(runID)
	if err != nil {
		return core.Errorf(core.NotFound, "Run %s was not trained by a job here, so there is nothing to repeat elsewhere: only runs Tern trained can be exported.", runID)
	}
	if !job.State.Final() {
		return core.Errorf(core.Conflict, "The run is still %s; export it once it has ended.", job.State)
	}
	spec := job.Spec
	if spec.Image != "" {
		// A named image is not ours to ship: it may be gigabytes, and the
		// other machine may hold it under the same name.
		return core.Errorf(core.Invalid, "This run used the image %s, which an archive does not carry yet; export runs of the built-in models or of a Dockerfile folder.", spec.Image)
	}
	run, err := s.Tracking.GetRun(runID)
	if err != nil {
		return err
	}
	exp, err := s.Tracking.Experiment(run.ExperimentID)
	if err != nil {
		return err
	}
	m := Manifest{Format: Format, TernVersion: s.TernVersion,
		Run: Run{ID: run.ID, Name: run.Name, Experiment: exp.Name, Status: run.Status, StartTime: run.StartTime, EndTime: run.EndTime,
			Params: run.Params, Tags: run.Tags, Metrics: map[string][]tracking.Point{}}}
	for k := range run.Metrics {
		pts, err := s.Tracking.MetricHistory(runID, k)
		if err != nil {
			return err
		}
		m.Run.Metrics[k] = pts
	}
	if spec.DatasetVersion != "" {
		v, err := s.Datasets.Version(spec.DatasetVersion)
		if err != nil {
			return core.Wrap(err, core.NotFound, "The run's dataset version is gone, so the archive cannot carry it: %s", core.ErrorMessage(err))
		}
		m.Dataset = Dataset{Name: v.Dataset, Number: v.Number, Digest: v.Digest, File: filepath.Base(spec.DataPath), Reading: v.Reading()}
	} else {
		m.Dataset = Dataset{File: filepath.Base(spec.DataPath)}
		if spec.DataReading != nil {
			m.Dataset.Reading = *spec.DataReading
		}
	}
	if m.Dataset.Name == "" {
		m.Dataset.Name = strings.TrimSuffix(m.Dataset.File, filepath.Ext(m.Dataset.File))
	}
	m.Artifacts, err = s.artifacts(runID, "")
	if err != nil {
		return err
	}
	buildDir := spec.BuildDir
	if buildDir != "" {
		if m.Context, err = contextFiles(buildDir); err != nil {
			return err
		}
	}
	dataPath := spec.DataPath
	spec.DataPath, spec.BuildDir, spec.DatasetVersion, spec.ExperimentID = "", "", "", ""
	m.Job = spec

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot encode the archive's manifest.")
	}
	if err := addBytes(tw, "manifest.json", manifest); err != nil {
		return err
	}
	if err := addFile(tw, "data/"+m.Dataset.File, dataPath); err != nil {
		return err
	}
	for _, rel := range m.Context {
		if err := addFile(tw, "context/"+rel, filepath.Join(buildDir, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	for _, rel := range m.Artifacts {
		f, a, err := s.Tracking.OpenArtifact(runID, rel)
		if err != nil {
			return err
		}
		err = addReader(tw, "artifacts/"+rel, f, a.Size)
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return writeErr(err)
	}
	return writeErr(gz.Close())
}

// artifacts lists the run's files under dir, recursively.
func (s *Service) artifacts(runID, dir string) ([]string, error) {
	list, err := s.Tracking.ListArtifacts(runID, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range list {
		if !a.IsDir {
			out = append(out, a.Path)
			continue
		}
		sub, err := s.artifacts(runID, a.Path)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// contextFiles lists a build folder's regular files (slash-separated),
// skipping .git: the commit is on the run as a tag, the image is built
// from what is on disk.
func contextFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "Cannot read the run's build folder %s: %v.", dir, err)
	}
	return out, nil
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	return addReader(tw, name, strings.NewReader(string(b)), int64(len(b)))
}

func addFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return core.Wrap(err, core.NotFound, "Cannot read %s for the archive: %v.", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot read %s for the archive: %v.", src, err)
	}
	return addReader(tw, name, f, st.Size())
}

func addReader(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return writeErr(err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return writeErr(err)
	}
	return nil
}

func writeErr(err error) error {
	if err == nil {
		return nil
	}
	return core.Wrap(err, core.Internal, "Cannot write the run archive: %v.", err)
}

// Imported is what an import made.
type Imported struct {
	RunID          string `json:"runId"`
	ExperimentID   string `json:"experimentId"`
	DatasetVersion string `json:"datasetVersion"`
	JobID          string `json:"jobId"`
}

// Import reads an archive written by Export. Its files are unpacked under
// dir (a folder of the data dir that the imported job keeps using: the
// build context of a Dockerfile job lives there). Nothing is recorded
// until the whole archive has been read and checked.
func (s *Service) Import(ctx context.Context, r io.Reader, dir string) (Imported, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Imported{}, core.Wrap(err, core.Internal, "Cannot make a folder for the imported run: %v.", err)
	}
	m, err := unpack(r, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return Imported{}, err
	}
	imp, err := s.record(ctx, m, dir)
	if err != nil && m.Job.BuildDir == "" {
		_ = os.RemoveAll(dir)
	}
	return imp, err
}

// unpack reads the archive into dir and returns its manifest.
func unpack(r io.Reader, dir string) (Manifest, error) {
	bad := func(format string, a ...any) error {
		return core.Errorf(core.Invalid, "This is not a run archive Tern can read: "+format, a...)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, bad("it is not gzip-compressed (%v).", err)
	}
	tr := tar.NewReader(gz)
	var m Manifest
	seen := map[string]bool{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, bad("the file is damaged or cut short (%v).", err)
		}
		if i == 0 {
			if h.Name != "manifest.json" || h.Size > 64<<20 {
				return Manifest{}, bad("it does not start with manifest.json.")
			}
			dec := json.NewDecoder(tr)
			if err := dec.Decode(&m); err != nil {
				return Manifest{}, bad("its manifest.json does not parse (%v).", err)
			}
			if m.Format != Format {
				return Manifest{}, bad("its format is %q, this Tern reads %q.", m.Format, Format)
			}
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return Manifest{}, bad("it holds %s, which is not a plain file.", h.Name)
		}
		name := path.Clean(h.Name)
		if !filepath.IsLocal(name) {
			return Manifest{}, bad("it holds a file outside the archive's folder (%s).", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return Manifest{}, core.Wrap(err, core.Internal, "Cannot unpack the archive: %v.", err)
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return Manifest{}, bad("it holds %s twice or cannot be unpacked (%v).", h.Name, err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Manifest{}, bad("the file is damaged or cut short at %s (%v).", h.Name, err)
		}
		seen[name] = true
	}
	if m.Format == "" {
		return Manifest{}, bad("it is empty.")
	}
	need := []string{"data/" + m.Dataset.File}
	for _, a := range m.Artifacts {
		need = append(need, "artifacts/"+a)
	}
	for _, c := range m.Context {
		need = append(need, "context/"+c)
	}
	for _, n := range need {
		if !seen[path.Clean(n)] {
			return Manifest{}, bad("%s is listed in its manifest but missing.", n)
		}
	}
	return m, nil
}

// record brings the unpacked archive in: the dataset version, the run,
// and the job that produced it.
func (s *Service) record(ctx context.Context, m Manifest, dir string) (Imported, error) {
	var imp Imported
	dataFile := filepath.Join(dir, "data", m.Dataset.File)
	v, err := s.Datasets.ImportPath(ctx, dataFile, dataset.Options{Name: m.Dataset.Name, Options: m.Dataset.Reading})
	if err != nil {
		return imp, err
	}
	if m.Dataset.Digest != "" && v.Digest != m.Dataset.Digest {
		return imp, core.Errorf(core.Invalid, "The archive's data does not match its manifest (SHA-256 %.12s… recorded, %.12s… read).", m.Dataset.Digest, v.Digest)
	}
	imp.DatasetVersion = v.ID
	exp, err := s.Tracking.ExperimentByName(m.Run.Experiment)
	if core.ErrorCode(err) == core.NotFound {
		exp, err = s.Tracking.CreateExperiment(m.Run.Experiment, nil)
	}
	if err != nil {
		return imp, err
	}
	imp.ExperimentID = exp.ID
	tags := map[string]string{}
	for k, v := range m.Run.Tags {
		// tern.job names the job here, set below.
		if k != "tern.job" {
			tags[k] = v
		}
	}
	tags[TagImportedFrom] = m.Run.ID
	spec := m.Job
	spec.ExperimentID, spec.DatasetVersion = exp.ID, v.ID
	spec.DataPath, err = s.Datasets.VersionFile(v.ID)
	if err != nil {
		return imp, err
	}
	reading := v.Reading()
	spec.DataReading = &reading
	if len(m.Context) > 0 {
		spec.BuildDir = filepath.Join(dir, "context")
	}
	status := m.Run.Status
	if status == "" || status == tracking.StatusRunning || status == tracking.StatusScheduled {
		status = tracking.StatusFinished
	}
	run, err := s.Tracking.CreateRun(tracking.RunSpec{ExperimentID: exp.ID, Name: m.Run.Name, StartTime: m.Run.StartTime,
		Source: "imported run archive", DatasetVersion: v.ID, Params: m.Run.Params, Tags: tags})
	if err != nil {
		return imp, err
	}
	imp.RunID = run.ID
	var ms []tracking.Metric
	for k, pts := range m.Run.Metrics {
		for _, p := range pts {
			ms = append(ms, tracking.Metric{Key: k, Value: p.Value, Timestamp: p.Timestamp, Step: p.Step})
		}
	}
	if len(ms) > 0 {
		if err := s.Tracking.LogMetrics(run.ID, ms); err != nil {
			return imp, err
		}
	}
	for _, a := range m.Artifacts {
		f, err := os.Open(filepath.Join(dir, "artifacts", filepath.FromSlash(a)))
		if err != nil {
			return imp, core.Wrap(err, core.Internal, "Cannot read the archive's %s: %v.", a, err)
		}
		_, err = s.Tracking.LogArtifact(run.ID, a, f)
		f.Close()
		if err != nil {
			return imp, err
		}
	}
	job, err := s.Runner.Adopt(spec, run.ID, fmt.Sprintf("Imported: run %s, trained by Tern %s.", m.Run.ID, m.TernVersion))
	if err != nil {
		return imp, err
	}
	imp.JobID = job.ID
	if err := s.Tracking.SetTags(run.ID, map[string]string{"tern.job": job.ID}); err != nil {
		return imp, err
	}
	end := m.Run.EndTime
	if _, err := s.Tracking.UpdateRun(run.ID, tracking.RunUpdate{Status: status, EndTime: end}); err != nil {
		return imp, err
	}
	// The artifacts now live in tracking; the unpacked copies and the data
	// file (now a dataset version) are not needed. A build context stays.
	_ = os.RemoveAll(filepath.Join(dir, "artifacts"))
	_ = os.RemoveAll(filepath.Join(dir, "data"))
	if len(m.Context) == 0 {
		_ = os.Remove(dir)
	}
	return imp, nil
}
