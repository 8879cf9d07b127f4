package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/tern-studio/tern/backend/core"
)

// DefaultDataDir is where Tern keeps its data unless told otherwise
// (TERN_DATA_DIR, --data-dir): the operating system's place for an
// application's own data — $XDG_DATA_HOME/tern (default
// ~/.local/share/tern) on Linux and other Unix, ~/Library/Application
// Support/tern on macOS, %LocalAppData%\tern on Windows (local, not
// roaming: a store of gigabytes must not follow the user between PCs).
func DefaultDataDir() (string, error) {
	if d := os.Getenv("TERN_DATA_DIR"); d != "" {
		return d, nil
	}
	base, err := dataHome(runtime.GOOS, os.Getenv, os.UserHomeDir, os.UserCacheDir)
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern cannot find your user data folder; start it with --data-dir to choose one.")
	}
	return filepath.Join(base, "tern"), nil
}

// LegacyDataDir is where Tern kept its data before it followed the data
// conventions: the user's config folder ($XDG_CONFIG_HOME/tern, on
// Windows the roaming %AppData%\tern). "" when there is none.
func LegacyDataDir() string {
	base, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(base, "tern")
}

// dataHome is the per-OS application data folder; the lookups are
// parameters so each OS's rule is tested on any OS.
func dataHome(goos string, env func(string) string, home func() (string, error), localAppData func() (string, error)) (string, error) {
	switch goos {
	case "windows":
		if d := env("LocalAppData"); d != "" {
			return d, nil
		}
		return localAppData() // os.UserCacheDir is %LocalAppData% there
	case "darwin", "ios":
		h, err := home()
		if err != nil {
			return "", err
		}
		return filepath.Join(h, "Library", "Application Support"), nil
	}
	// XDG Base Directory: a relative $XDG_DATA_HOME is invalid and ignored.
	if d := env("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	h, err := home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "share"), nil
}

// movedMarker, inside a data folder copied across file systems, names the
// folder it came from until that folder is gone.
const movedMarker = ".tern-moved-from"

// rename is os.Rename; tests make it fail across devices.
var rename = os.Rename

// crashAt, in tests, stops a move at a step as a crash would.
var crashAt = func(step string) error { return nil }

// MoveLegacy moves Tern's data folder from old to dst, once, and says
// what it did ("" when there was nothing to do). It moves only when old
// holds a Tern store and dst is missing or empty, and never a folder
// another Tern has open. On one file system the move is one rename. Across
// file systems it copies into dst.moving, marks the copy with where it
// came from, renames it into place and then removes old: a crash before
// the rename leaves old in use and the copy is redone at the next start;
// a crash after it leaves the marker, and the next start finishes by
// removing old.
func MoveLegacy(old, dst string) (string, error) {
	if old == "" || filepath.Clean(old) == filepath.Clean(dst) {
		return "", nil
	}
	staging := dst + ".moving"
	if from, err := os.ReadFile(filepath.Join(dst, movedMarker)); err == nil {
		// The copy is in place; the old folder may still be there.
		if err := os.RemoveAll(string(from)); err != nil {
			return "", core.Wrap(err, core.Unavailable, "Tern moved its data to %s but could not remove the old copy at %s: %v", dst, from, plainErr(err))
		}
		if err := os.Remove(filepath.Join(dst, movedMarker)); err != nil {
			return "", core.Wrap(err, core.Unavailable, "Tern could not finish moving its data to %s: %v", dst, plainErr(err))
		}
		return fmt.Sprintf("Finished moving the data folder to %s: removed the old copy at %s.", dst, from), nil
	}
	if _, err := os.Stat(filepath.Join(old, "db")); err != nil {
		return "", nil // no Tern data there
	}
	if !emptyOrMissing(dst) {
		return "", nil // dst is in use; old stays as it is
	}
	if inUse(filepath.Join(old, "db")) {
		return "", core.Errorf(core.Unavailable, "Tern's data folder moves from %s to %s, the place this system keeps application data, but another Tern has it open. Close the other Tern window or `tern serve` and start again.", old, dst)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern cannot create %s: %v", filepath.Dir(dst), plainErr(err))
	}
	_ = os.Remove(dst) // empty, or rename refuses
	err := rename(old, dst)
	if err == nil {
		return fmt.Sprintf("Moved the data folder from %s to %s, the place this system keeps application data.", old, dst), nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return "", core.Wrap(err, core.Unavailable, "Tern could not move its data folder from %s to %s: %v", old, dst, plainErr(err))
	}
	// Different file systems: copy, mark, rename into place, remove.
	if err := os.RemoveAll(staging); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern could not clear %s: %v", staging, plainErr(err))
	}
	size, err := copyTree(old, staging)
	if err == nil {
		err = writeSynced(filepath.Join(staging, movedMarker), []byte(old))
	}
	if err == nil {
		err = crashAt("copied")
	}
	if err == nil {
		err = rename(staging, dst)
	}
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern could not copy its data folder from %s to %s; the old folder is untouched: %v", old, dst, plainErr(err))
	}
	syncDir(filepath.Dir(dst))
	if err := crashAt("renamed"); err != nil {
		return "", err
	}
	return MoveLegacyFinish(old, dst, size)
}

// MoveLegacyFinish removes old after its copy is in place at dst.
func MoveLegacyFinish(old, dst string, size int64) (string, error) {
	if err := os.RemoveAll(old); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern copied its data to %s but could not remove the old copy at %s: %v", dst, old, plainErr(err))
	}
	if err := os.Remove(filepath.Join(dst, movedMarker)); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern could not finish moving its data to %s: %v", dst, plainErr(err))
	}
	return fmt.Sprintf("Moved the data folder from %s to %s, the place this system keeps application data (copied %d bytes across file systems).", old, dst, size), nil
}

func emptyOrMissing(dir string) bool {
	entries, err := os.ReadDir(dir)
	return errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0)
}

// copyTree copies src into dst (files synced, modes kept); bytes copied.
func copyTree(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			n, err := copyFile(p, to, info.Mode().Perm())
			total += n
			return err
		}
		return nil // sockets, links: nothing Tern keeps
	})
	return total, err
}

func copyFile(from, to string, mode fs.FileMode) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable (best effort: Windows cannot open
// a directory for sync).
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
