package blob

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/tern-studio/tern/backend/core"
	"golang.org/x/sys/unix"
)

// cloneInto clones src into a new file in dir with clonefile(2) (APFS).
// clonefile creates its destination, so the name is picked here; it is
// compiled for macOS but has not been run there (no Mac in CI).
func cloneInto(src *os.File, dir string) (*os.File, error) {
	name := filepath.Join(dir, "clone-"+core.NewID())
	if err := unix.Clonefile(src.Name(), name, unix.CLONE_NOFOLLOW); err != nil {
		return nil, errors.Join(ErrNoClone, err)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		os.Remove(name)
		return nil, errors.Join(ErrNoClone, err)
	}
	os.Chmod(name, 0o600)
	return f, nil
}
