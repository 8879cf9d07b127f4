package registry

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/tracking"
)

// File is one entry of a version's folder, Path relative to it: the same
// shape as a run's artifact, so both list the same way.
type File = tracking.Artifact

// cleanRel checks a path inside a version folder: relative, no "..".
func cleanRel(rel string) (string, error) {
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return ".", nil
	}
	c := path.Clean(rel)
	if c != rel || !fs.ValidPath(c) {
		return "", core.Errorf(core.Invalid, "Path %q is not a plain relative path inside the model.", rel)
	}
	return c, nil
}

// Files lists one folder level of a version's files.
func (s *Service) Files(name string, version int, dir string) ([]File, error) {
	v, err := s.Version(name, strconv.Itoa(version))
	if err != nil {
		return nil, err
	}
	rel, err := cleanRel(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.storedDir(v))
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "The files of version %d of %q cannot be read.", version, name)
	}
	defer root.Close()
	ents, err := fs.ReadDir(root.FS(), rel)
	if errors.Is(err, fs.ErrNotExist) {
		return []File{}, nil // MLflow lists a missing folder as empty
	}
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "%s is not a folder of version %d of %q.", dir, version, name)
	}
	out := make([]File, 0, len(ents))
	for _, e := range ents {
		f := File{Path: path.Join(rel, e.Name()), IsDir: e.IsDir()}
		if !e.IsDir() {
			if !e.Type().IsRegular() {
				continue
			}
			if info, err := e.Info(); err == nil {
				f.Size = s.Sealing.PlainSize(info.Size())
			}
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// OpenFile opens one file of a version for reading its plaintext; the
// caller closes it.
func (s *Service) OpenFile(name string, version int, file string) (sealed.ReadFile, int64, error) {
	v, err := s.Version(name, strconv.Itoa(version))
	if err != nil {
		return nil, 0, err
	}
	rel, err := cleanRel(file)
	if err != nil || rel == "." {
		return nil, 0, core.Errorf(core.Invalid, "Path %q does not name a file of the model.", file)
	}
	root, err := os.OpenRoot(s.storedDir(v))
	if err != nil {
		return nil, 0, core.Wrap(err, core.Unavailable, "The files of version %d of %q cannot be read.", version, name)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, 0, core.Errorf(core.NotFound, "Version %d of %q has no file %s.", version, name, rel)
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, 0, core.Errorf(core.NotFound, "%s in version %d of %q is not a file.", rel, version, name)
	}
	rf, err := s.Sealing.OpenFile(f, info.Size())
	if err != nil {
		f.Close()
		return nil, 0, core.Wrap(err, core.Internal, "%s in version %d of %q cannot be decrypted: %v", rel, version, name, err)
	}
	return rf, rf.Size(), nil
}
