package tracking

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"unicode"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
)

// tempPrefix names uploads in flight inside a run's artifact root; such
// names are hidden from listings and refused as user paths.
const tempPrefix = ".tern-upload-"

// CleanArtifactPath checks a relative artifact path after all URL decoding
// and returns it in canonical form ("" for the root). It refuses what could
// leave the run's folder or mean something else on another OS: "..", ".",
// empty parts, absolute and drive paths, backslashes, NUL and other
// control characters, and "%", "#", "?" and ":" (left over from double
// encoding, fragments, schemes such as file://).
func CleanArtifactPath(p string) (string, error) {
	bad := func(why string) (string, error) {
		return "", core.Errorf(core.Invalid, "Artifact path %q is not allowed: %s.", p, why)
	}
	if len(p) > 1024 {
		return bad("it is longer than 1024 characters")
	}
	if p == "" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") {
		return bad("it must be relative to the run's artifact folder")
	}
	for _, c := range p {
		switch {
		case c == 0 || unicode.IsControl(c):
			return bad("it contains a control character")
		case c == '\\':
			return bad("backslashes are not path separators here")
		case c == '%' || c == '#' || c == '?' || c == ':':
			return bad("it contains " + string(c))
		case c == unicode.ReplacementChar:
			return bad("it is not valid UTF-8")
		}
	}
	p = strings.TrimSuffix(p, "/")
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "":
			return bad("it has an empty part")
		case part == "." || part == "..":
			return bad("it has a '" + part + "' part")
		case strings.HasPrefix(part, tempPrefix):
			return bad("names starting with " + tempPrefix + " are reserved")
		}
	}
	return p, nil
}

// runRoot opens the run's artifact folder as an os.Root, so nothing
// opened through it — including symlinks a container planted — can
// resolve outside it.
func (s *Service) runRoot(runID string, create bool) (*os.Root, error) {
	s.mu.RLock()
	_, ok := s.runs[runID]
	s.mu.RUnlock()
	if !ok {
		return nil, core.Errorf(core.NotFound, "No run with id %q.", runID)
	}
	top, err := os.OpenRoot(s.artRoot)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot open its artifacts folder.")
	}
	defer top.Close()
	if fi, err := top.Lstat(runID); err == nil {
		if !fi.IsDir() {
			return nil, core.Errorf(core.Internal, "The artifact folder of run %s is not a folder.", runID)
		}
	} else if !create {
		return nil, nil
	} else if err := top.Mkdir(runID, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot create the artifact folder of run %s.", runID)
	}
	r, err := top.OpenRoot(runID)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot open the artifact folder of run %s.", runID)
	}
	return r, nil
}

// ArtifactDir is the run's artifact folder on disk, created if needed, for
// a runner that mounts it into a container. Reading it back must go
// through ListArtifacts/OpenArtifact, which never follow links out of it.
func (s *Service) ArtifactDir(runID string) (string, error) {
	r, err := s.runRoot(runID, true)
	if err != nil {
		return "", err
	}
	name := r.Name()
	r.Close()
	return name, nil
}

// LogArtifact stores the bytes of rd as the run's artifact relPath. The
// file appears whole or not at all (temp file, then rename); an existing
// file of that name is replaced.
func (s *Service) LogArtifact(runID, relPath string, rd io.Reader) (Artifact, error) {
	return s.logArtifact(runID, relPath, rd, false)
}

// logArtifact is LogArtifact; partOf skips the audit record when the file
// is part of a change recorded as a whole (an mlruns import).
func (s *Service) logArtifact(runID, relPath string, rd io.Reader, partOf bool) (Artifact, error) {
	rel, err := CleanArtifactPath(relPath)
	if err != nil {
		return Artifact{}, err
	}
	if rel == "" {
		return Artifact{}, core.Errorf(core.Invalid, "An artifact needs a file name.")
	}
	root, err := s.runRoot(runID, true)
	if err != nil {
		return Artifact{}, err
	}
	defer root.Close()
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return Artifact{}, artifactErr(err, rel)
		}
	}
	tmp := tempPrefix + core.NewID()
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Artifact{}, artifactErr(err, rel)
	}
	var n int64
	w, err := s.Sealing.Writer(f)
	if err == nil {
		n, err = io.Copy(w, rd)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		_ = root.Remove(tmp)
		var ce *core.Error
		if errors.As(err, &ce) {
			return Artifact{}, err
		}
		return Artifact{}, artifactErr(err, rel)
	}
	if !partOf {
		s.noteArtifact(runID, "run.artifact.write", "", fmt.Sprintf("%s (%d bytes)", rel, n))
	}
	s.bus.Publish("tracking.run.artifact", map[string]string{"runId": runID, "path": rel})
	return Artifact{Path: rel, Size: n}, nil
}

func artifactErr(err error, rel string) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return core.Wrap(err, core.NotFound, "Artifact %q does not exist.", rel)
	case strings.Contains(err.Error(), "escapes"), strings.Contains(err.Error(), "path escapes from parent"):
		return core.Wrap(err, core.Invalid, "Artifact path %q leads outside the run's artifact folder.", rel)
	case errors.Is(err, fs.ErrExist), strings.Contains(err.Error(), "is a directory"), strings.Contains(err.Error(), "not a directory"):
		return core.Wrap(err, core.Conflict, "Artifact path %q clashes with an existing file or folder.", rel)
	}
	return core.Wrap(err, core.Internal, "Tern could not access artifact %q.", rel)
}

// ListArtifacts lists one level of the run's artifacts under dir ("" for
// the top). A path naming a file lists nothing, as MLflow does.
func (s *Service) ListArtifacts(runID, dir string) ([]Artifact, error) {
	rel, err := CleanArtifactPath(dir)
	if err != nil {
		return nil, err
	}
	root, err := s.runRoot(runID, false)
	if err != nil || root == nil {
		return []Artifact{}, err
	}
	defer root.Close()
	name := rel
	if name == "" {
		name = "."
	}
	fi, err := root.Stat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return []Artifact{}, nil
		}
		return nil, artifactErr(err, rel)
	}
	if !fi.IsDir() {
		return []Artifact{}, nil
	}
	entries, err := fs.ReadDir(root.FS(), name)
	if err != nil {
		return nil, artifactErr(err, rel)
	}
	out := []Artifact{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		p := path.Join(rel, e.Name())
		// Stat through the root: a link pointing outside fails here and
		// is left out instead of being described.
		st, err := root.Stat(p)
		if err != nil {
			continue
		}
		a := Artifact{Path: p, IsDir: st.IsDir()}
		if !a.IsDir {
			a.Size = s.Sealing.PlainSize(st.Size())
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// OpenArtifact opens one artifact file for reading its plaintext.
func (s *Service) OpenArtifact(runID, relPath string) (sealed.ReadFile, Artifact, error) {
	rel, err := CleanArtifactPath(relPath)
	if err != nil {
		return nil, Artifact{}, err
	}
	if rel == "" {
		return nil, Artifact{}, core.Errorf(core.Invalid, "Name an artifact file to read.")
	}
	root, err := s.runRoot(runID, false)
	if err != nil {
		return nil, Artifact{}, err
	}
	if root == nil {
		return nil, Artifact{}, core.Errorf(core.NotFound, "Artifact %q does not exist.", rel)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, Artifact{}, artifactErr(err, rel)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Artifact{}, core.Errorf(core.Invalid, "Artifact %q is a folder, not a file.", rel)
	}
	rf, err := s.Sealing.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, Artifact{}, core.Wrap(err, core.Internal, "Artifact %q cannot be decrypted: %v", rel, err)
	}
	return rf, Artifact{Path: rel, Size: rf.Size()}, nil
}

// DeleteArtifact removes a file or folder of the run's artifacts.
func (s *Service) DeleteArtifact(runID, relPath string) error {
	rel, err := CleanArtifactPath(relPath)
	if err != nil {
		return err
	}
	if rel == "" {
		return core.Errorf(core.Invalid, "Name an artifact to delete.")
	}
	root, err := s.runRoot(runID, false)
	if err != nil {
		return err
	}
	if root == nil {
		return core.Errorf(core.NotFound, "Artifact %q does not exist.", rel)
	}
	defer root.Close()
	if _, err := root.Lstat(rel); err != nil {
		return artifactErr(err, rel)
	}
	if err := root.RemoveAll(rel); err != nil {
		return artifactErr(err, rel)
	}
	s.noteArtifact(runID, "run.artifact.delete", rel, "")
	return nil
}
