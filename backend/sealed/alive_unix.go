//go:build unix

package sealed

import (
	"os"
	"syscall"
)

// alive reports whether process pid still runs (signal 0 probes it).
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
