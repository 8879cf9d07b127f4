package modelfmt

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/tern-studio/tern/backend/core"
)

// Files of a model directory.
const (
	MLmodelFile      = "MLmodel"
	InputExampleFile = "input_example.json"
	// TernModelFile is the model.json of the tern flavor.
	TernModelFile = "model.json"
)

// Bounds for reading a model directory, so a hostile directory cannot make
// a reader allocate without limit: the YAML descriptor and the input
// example are small by nature, model files are not.
const (
	maxMLmodelBytes = 1 << 20
	maxExampleBytes = 1 << 20
	maxModelBytes   = 512 << 20
)

// openDir opens a model directory as an os.Root, so that no file name a
// descriptor gives ("../x", a link) can reach outside it.
func openDir(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.NotFound, "There is no model folder at %s.", dir)
		}
		return nil, core.Wrap(err, core.Invalid, "The model folder %s cannot be opened.", dir)
	}
	return root, nil
}

// readFile reads one file of a model directory, refusing more than limit
// bytes. It is the only way this package reads a model file.
func readFile(root *os.Root, name string, limit int64) ([]byte, error) {
	fh, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the model folder has no file %s.", name)
		}
		return nil, core.Wrap(err, core.Invalid, "The model file %s cannot be opened (it may point outside the model folder).", name)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "The model file %s cannot be read.", name)
	}
	if int64(len(b)) > limit {
		return nil, core.Errorf(core.Invalid, "The model file %s is larger than %d MB.", name, limit>>20)
	}
	return b, nil
}

// open opens a model directory and reads its descriptor; the caller
// closes the root.
func open(dir string) (*os.Root, *MLmodel, error) {
	root, err := openDir(dir)
	if err != nil {
		return nil, nil, err
	}
	raw, err := readFile(root, MLmodelFile, maxMLmodelBytes)
	if err == nil {
		var mm *MLmodel
		if mm, err = ParseMLmodel(raw); err == nil {
			return root, mm, nil
		}
	}
	root.Close()
	return nil, nil, err
}
