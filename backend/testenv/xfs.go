package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// XFS makes a 1 GB XFS filesystem in a sparse image file, loop-mounts it
// and returns the mount point; unmounted and deleted after the test.
// mkfs.xfs turns reflinks on by default (xfsprogs ≥ 5.1), so files on it
// can be cloned. Needs root and mkfs.xfs (xfsprogs): skipped without them
// on a developer's machine, a failure in CI.
func XFS(tb testing.TB) string {
	tb.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		missing(tb, "root on Linux (to loop-mount an XFS image)")
	}
	mkfs, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		missing(tb, "mkfs.xfs (apt xfsprogs)")
	}
	base := tb.TempDir()
	img := filepath.Join(base, "xfs.img")
	dir := filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	run := func(name string, args ...string) {
		tb.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	run("truncate", "-s", "1G", img)
	run(mkfs, "-q", "-m", "reflink=1", img)
	run("mount", "-o", "loop", img, dir)
	tb.Cleanup(func() {
		// Cleanups run last-registered first, so the test's own files are
		// closed by now; a lazy unmount still frees the loop device if a
		// file was left open.
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
