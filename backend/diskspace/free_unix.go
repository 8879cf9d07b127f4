//go:build unix

package diskspace

import (
	"io/fs"
	"syscall"
)

// Free is the space available to Tern on dir's filesystem, -1 if unknown.
func Free(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// allocated is the space a file really takes: Badger preallocates sparse
// value-log and memtable files, whose apparent size would overstate it.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
