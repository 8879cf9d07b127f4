package diskspace

import (
	"io/fs"
	"path/filepath"
)

// Size is the total apparent size of the regular files under root.
func Size(root string) int64 { return walk(root, fs.FileInfo.Size) }

// Allocated is the disk space the regular files under root occupy (their
// allocated blocks; the apparent size where the system does not say).
func Allocated(root string) int64 { return walk(root, allocated) }

func walk(root string, size func(fs.FileInfo) int64) int64 {
	var n int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file vanishing mid-walk is fine
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += size(info)
			}
		}
		return nil
	})
	return n
}
