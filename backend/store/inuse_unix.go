//go:build unix

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// inUse says whether a Badger directory's lock is held: Badger takes an
// exclusive flock on the directory itself while open (and writes its pid
// to LOCK beside it).
func inUse(dbDir string) bool {
	f, err := os.Open(dbDir)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
