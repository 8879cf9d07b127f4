package mlflowapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/tracking"
)

// artifactTarget splits an mlflow-artifacts path "<exp>/<run>/artifacts/<rel>"
// (already URL-decoded once by the router) into the run and the path
// inside its artifact root. The run must exist in that experiment, so a
// path can only ever name files of the run it names.
func (a *API) artifactTarget(req *http.Request, p string) (runID, rel string, err error) {
	parts := strings.SplitN(p, "/", 4)
	if len(parts) < 3 || parts[2] != "artifacts" {
		return "", "", invalid("Artifact path %q is not of the form <experiment>/<run>/artifacts/<path>.", p)
	}
	if err := checkScope(req, parts[1]); err != nil {
		return "", "", err
	}
	r, gerr := a.svc.GetRun(parts[1])
	if gerr != nil || r.ExperimentID != parts[0] {
		return "", "", &apiError{http.StatusNotFound, errNotFound, sprintf("No run %q in experiment %q.", parts[1], parts[0])}
	}
	if len(parts) == 4 {
		rel = parts[3]
	}
	if rel, err = tracking.CleanArtifactPath(rel); err != nil {
		return "", "", err
	}
	return r.ID, rel, nil
}

func (a *API) uploadArtifact(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.PathValue("path"), registryPrefix) {
		writeErr(w, a.log, invalid("A registered model version's files cannot be changed."))
		return
	}
	runID, rel, err := a.artifactTarget(r, r.PathValue("path"))
	if err == nil && rel == "" {
		err = invalid("An artifact upload needs a file name.")
	}
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxArtifactBytes)
	if _, err := a.svc.LogArtifact(runID, rel, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeErr(w, a.log, &apiError{http.StatusRequestEntityTooLarge, errBad, sprintf("Artifacts may be at most %d bytes.", int64(MaxArtifactBytes))})
			return
		}
		writeErr(w, a.log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, struct{}{})
}

func (a *API) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	if p := r.PathValue("path"); strings.HasPrefix(p, registryPrefix) {
		a.serveRegistryFile(w, p)
		return
	}
	runID, rel, err := a.artifactTarget(r, r.PathValue("path"))
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	f, info, err := a.svc.OpenArtifact(runID, rel)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	defer f.Close()
	sendFile(w, f, rel, info.Size)
}

// sendFile answers a download (a run's artifact, a model version's file)
// as an attachment, typed by its extension but never as HTML: a browser must
// not render an uploaded page on Tern's origin.
func sendFile(w http.ResponseWriter, f io.Reader, name string, size int64) {
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" || strings.HasPrefix(ct, "text/html") {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	_, _ = io.Copy(w, f)
}

func (a *API) deleteArtifact(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.PathValue("path"), registryPrefix) {
		writeErr(w, a.log, invalid("A registered model version's files cannot be deleted here; delete the version."))
		return
	}
	runID, rel, err := a.artifactTarget(r, r.PathValue("path"))
	if err == nil {
		err = a.svc.DeleteArtifact(runID, rel)
	}
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, struct{}{})
}

type fileJSON struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// listArtifacts answers GET .../mlflow-artifacts/artifacts?path=..., one
// level, with paths relative to the listed folder (as MLflow's server).
func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request) {
	if p := strings.Trim(r.URL.Query().Get("path"), "/"); strings.HasPrefix(p+"/", registryPrefix) && p != "" {
		a.listRegistryFiles(w, p)
		return
	}
	runID, rel, err := a.artifactTarget(r, strings.Trim(r.URL.Query().Get("path"), "/"))
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	list, err := a.svc.ListArtifacts(runID, rel)
	if err != nil {
		writeErr(w, a.log, err)
		return
	}
	writeFiles(w, list)
}

// writeFiles answers a listing of a folder (a run's artifacts, a model
// version's files) as MLflow does: base names, a size for files only.
func writeFiles(w http.ResponseWriter, list []tracking.Artifact) {
	files := make([]fileJSON, 0, len(list))
	for _, f := range list {
		fj := fileJSON{Path: path.Base(f.Path), IsDir: f.IsDir}
		if !f.IsDir {
			n := f.Size
			fj.FileSize = &n
		}
		files = append(files, fj)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"files": files})
}

// listRunArtifacts is the older /mlflow/artifacts/list (by run id), whose
// paths are relative to the run's artifact root.
func (a *API) listRunArtifacts(_ *http.Request, in args) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	p, err := in.str("path")
	if err != nil {
		return nil, err
	}
	run, err := a.svc.GetRun(id)
	if err != nil {
		return nil, err
	}
	list, err := a.svc.ListArtifacts(id, p)
	if err != nil {
		return nil, err
	}
	files := make([]fileJSON, 0, len(list))
	for _, f := range list {
		fj := fileJSON{Path: f.Path, IsDir: f.IsDir}
		if !f.IsDir {
			n := f.Size
			fj.FileSize = &n
		}
		files = append(files, fj)
	}
	return map[string]any{"root_uri": run.ArtifactURI, "files": files}, nil
}
