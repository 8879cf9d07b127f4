package runner

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"

	"github.com/tern-studio/tern/backend/core"
)

// runtimeDockerfile bakes the static tern-runtime binary into an empty
// image: nothing else is in it, so there is nothing else to patch.
const runtimeDockerfile = `FROM scratch
COPY tern-runtime /tern-runtime
USER 65532:65532
ENTRYPOINT ["/tern-runtime"]
CMD ["train"]
`

// runtimeImage builds the built-in runtime image once per binary content:
// the tag carries the app version and the binary's hash, so a new binary
// gets a new image and an unchanged one is never rebuilt.
type runtimeImage struct {
	binary     func() ([]byte, error)
	appVersion string
	mu         sync.Mutex
	tag        string
	// Built counts actual builds (tests check that a second ensure does not
	// build again).
	built int
}

var tagUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// RuntimeImageTag is the tag of the runtime image for a binary.
func RuntimeImageTag(appVersion string, bin []byte) string {
	sum := sha256.Sum256(bin)
	v := tagUnsafe.ReplaceAllString(appVersion, "_")
	if v == "" {
		v = "dev"
	}
	return "tern-runtime:" + v + "-" + hex.EncodeToString(sum[:])[:12]
}

func (r *runtimeImage) ensure(ctx context.Context, api DockerAPI) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.binary == nil {
		return "", core.Errorf(core.Unavailable, "The tern-runtime binary is not available to build the runtime image.")
	}
	bin, err := r.binary()
	if err != nil {
		return "", err
	}
	tag := RuntimeImageTag(r.appVersion, bin)
	if r.tag == tag {
		return tag, nil
	}
	if _, err := api.ImageInspect(ctx, tag); err == nil {
		r.tag = tag
		return tag, nil
	}
	ctxTar, err := tarFiles(map[string]tarEntry{
		"Dockerfile":   {data: []byte(runtimeDockerfile), mode: 0o644},
		"tern-runtime": {data: bin, mode: 0o755},
	})
	if err != nil {
		return "", err
	}
	labels := map[string]string{LabelApp: "tern", LabelKind: "runtime", LabelVersion: r.appVersion}
	if err := imageBuild(ctx, api, ctxTar, tag, nil, labels); err != nil {
		return "", err
	}
	r.built++
	r.tag = tag
	return tag, nil
}

type tarEntry struct {
	data []byte
	mode int64
}

// tarFiles writes an in-memory build context.
func tarFiles(files map[string]tarEntry) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		// A fixed time keeps the context byte-identical for the same inputs.
		hdr := &tar.Header{Name: n, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
		}
	}
	if err := tw.Close(); err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
	}
	return &buf, nil
}

// maxBuildContext bounds a user's Dockerfile directory sent to the engine.
const maxBuildContext = 256 << 20

// buildUserImage builds a Dockerfile directory into a local image tagged by
// the directory's content hash. Symlinks and special files are refused, so a
// context never reaches outside its directory.
func buildUserImage(ctx context.Context, api DockerAPI, dir string, args map[string]string, appVersion string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", core.Errorf(core.NotFound, "The build folder %s cannot be opened.", dir)
	}
	defer root.Close()
	if _, err := root.Stat("Dockerfile"); err != nil {
		return "", core.Errorf(core.Invalid, "The build folder %s has no Dockerfile.", dir)
	}
	files := map[string]tarEntry{}
	var total int64
	h := sha256.New()
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
		files[p] = tarEntry{data: b, mode: mode}
		return nil
	})
	if err != nil {
		if _, ok := err.(*core.Error); ok {
			return "", err
		}
		return "", core.Wrap(err, core.Invalid, "The build folder cannot be read: %v", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write(files[n].data)
	}
	argNames := make([]string, 0, len(args))
	for k := range args {
		argNames = append(argNames, k)
	}
	sort.Strings(argNames)
	buildArgs := map[string]*string{}
	for _, k := range argNames {
		v := args[k]
		buildArgs[k] = &v
		h.Write([]byte(k + "=" + v))
	}
	if err := checkBaseImages(ctx, api, files["Dockerfile"].data, args); err != nil {
		return "", err
	}
	tag := "tern-user/" + strings.ToLower(tagUnsafe.ReplaceAllString(filepath.Base(filepath.Clean(dir)), "-")) + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	if _, err := api.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	buf, err := tarFiles(files)
	if err != nil {
		return "", err
	}
	labels := map[string]string{LabelApp: "tern", LabelKind: "user-image", LabelVersion: appVersion}
	if err := imageBuild(ctx, api, buf, tag, buildArgs, labels); err != nil {
		return "", err
	}
	return tag, nil
}

// imageBuild runs a build and reads its progress stream to the end; an
// error message in the stream fails the build (the engine reports build
// failures there, not in the HTTP status). It never pulls: a FROM image
// must already be present.
func imageBuild(ctx context.Context, api DockerAPI, buildCtx io.Reader, tag string, args map[string]*string, labels map[string]string) error {
	resp, err := api.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, PullParent: false,
		BuildArgs: args, Labels: labels, Dockerfile: "Dockerfile",
	})
	if err != nil {
		return core.Wrap(err, core.Unavailable, "Docker could not build image %s: %v", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var lastLines []string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return core.Wrap(err, core.Unavailable, "The build of %s was interrupted: %v", tag, err)
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			lastLines = append(lastLines, s)
			if len(lastLines) > 5 {
				lastLines = lastLines[1:]
			}
		}
		if msg.Error != "" {
			m := msg.Error
			if strings.Contains(m, "pull access denied") || strings.Contains(m, "not found") || strings.Contains(m, "no such host") {
				m += " (the base image must exist locally: Tern never pulls from a registry)"
			}
			return core.Errorf(core.Invalid, "Building image %s failed: %s", tag, m)
		}
	}
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

// checkBaseImages fails before any build when a base image is not on this
// machine, so the engine never reaches for a registry.
func checkBaseImages(ctx context.Context, api DockerAPI, dockerfile []byte, args map[string]string) error {
	for _, img := range baseImages(dockerfile, args) {
		if _, err := api.ImageInspect(ctx, img); err != nil {
			return core.Errorf(core.NotFound, "Base image %q of the Dockerfile is not on this machine. Tern never pulls from a registry: build or load it first (docker build, docker load).", img)
		}
	}
	return nil
}
