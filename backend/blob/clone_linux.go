package blob

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// cloneInto clones src into a new temp file in dir with the FICLONE ioctl
// (XFS with reflink, btrfs, bcachefs, OCFS2): one call, whatever the size,
// and the kernel locks both files so the clone is one point in time.
func cloneInto(src *os.File, dir string) (*os.File, error) {
	dst, err := os.CreateTemp(dir, "clone-*")
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err != nil {
		dst.Close()
		os.Remove(dst.Name())
		// EXDEV (another filesystem), EOPNOTSUPP/ENOTTY (no reflinks),
		// EINVAL (a special file): all mean "copy instead"; so does any
		// other failure, since copying is always correct.
		return nil, errors.Join(ErrNoClone, err)
	}
	return dst, nil
}
