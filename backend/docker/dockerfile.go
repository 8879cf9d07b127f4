package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// maxBuildContext bounds a user's Dockerfile folder sent to the engine.
const maxBuildContext = 256 << 20

// DirBuild reads a user's Dockerfile folder into a Build tagged by the
// folder's content and the build args, so an unchanged folder is built
// once. Symlinks and special files are refused, so a context never
// reaches outside its folder.
func DirBuild(dir string, args map[string]string, appVersion string) (Build, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Build{}, core.Errorf(core.NotFound, "The build folder %s cannot be opened.", dir)
	}
	defer root.Close()
	if _, err := root.Stat("Dockerfile"); err != nil {
		return Build{}, core.Errorf(core.Invalid, "The build folder %s has no Dockerfile.", dir)
	}
	files := map[string]File{}
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return core.Errorf(core.Invalid, "The build folder holds %s, which is not a regular file (links are not allowed).", p)
		}
		b, err := root.ReadFile(p)
		if err != nil {
			return err
		}
		total += int64(len(b))
		if total > maxBuildContext {
			return core.Errorf(core.Invalid, "The build folder is larger than %d MB.", maxBuildContext>>20)
		}
		info, _ := d.Info()
		mode := int64(0o644)
		if info != nil && info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		files[p] = File{Data: b, Mode: mode}
		return nil
	})
	if err != nil {
		if _, ok := err.(*core.Error); ok {
			return Build{}, err
		}
		return Build{}, core.Wrap(err, core.Invalid, "The build folder cannot be read: %v", err)
	}
	h := sha256.New()
	for _, n := range sortedNames(files) {
		h.Write([]byte(n))
		h.Write(files[n].Data)
	}
	for _, k := range sortedNames(args) {
		h.Write([]byte(k + "=" + args[k]))
	}
	tag := "tern-user/" + strings.ToLower(tagUnsafe.ReplaceAllString(filepath.Base(filepath.Clean(dir)), "-")) + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	return Build{Tag: tag, Files: files, Args: args,
		Labels: map[string]string{LabelKind: KindUserImage, LabelVersion: appVersion}}, nil
}

var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// baseImages lists the images a Dockerfile's FROM lines need, with build
// args (and ARG defaults declared before the first FROM) substituted;
// "scratch" and earlier stage names are not images to find.
func baseImages(dockerfile []byte, args map[string]string) []string {
	vars := map[string]string{}
	stages := map[string]bool{}
	var out []string
	seenFrom := false
	for _, raw := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(strings.TrimSpace(raw))
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if seenFrom {
				continue
			}
			name, def, _ := strings.Cut(f[1], "=")
			vars[name] = strings.Trim(def, `"'`)
			if v, ok := args[name]; ok {
				vars[name] = v
			}
		case "FROM":
			seenFrom = true
			rest := f[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				continue
			}
			img := argRef.ReplaceAllStringFunc(rest[0], func(m string) string {
				sm := argRef.FindStringSubmatch(m)
				name := sm[1] + sm[4]
				if v, ok := vars[name]; ok && v != "" {
					return v
				}
				return sm[3]
			})
			if img != "" && img != "scratch" && !stages[strings.ToLower(img)] {
				out = append(out, img)
			}
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		}
	}
	return out
}
