package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
)

// DockerAPI is the part of the Docker adapter (backend/docker) the serving
// launcher calls.
type DockerAPI interface {
	Ping(ctx context.Context) error
	EnsureImage(ctx context.Context, b docker.Build) (bool, error)
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
	Create(ctx context.Context, s docker.Spec) (string, error)
	Start(ctx context.Context, id string) error
	Inspect(ctx context.Context, id string) (docker.Container, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	List(ctx context.Context, all bool, labels map[string]string) ([]docker.Container, error)
	ReapImages(ctx context.Context, labels map[string]string, keep func(docker.Image) bool) (int, error)
	Logs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error)
	CreateSocketVolume(ctx context.Context, name string, uid int, labels map[string]string) error
	RemoveVolume(ctx context.Context, name string) error
}

const servePort = "8080/tcp"

// DockerLauncher runs each model version in its own container from an
// image that holds the static tern-runtime binary and the model, FROM
// scratch. The port is published on 127.0.0.1 only; the container is
// locked down like training containers, except that it needs a network
// to be reachable through the published port.
type DockerLauncher struct {
	API DockerAPI
	// Binary returns the static linux tern-runtime binary.
	Binary func() ([]byte, error)
	// Instance tells this data dir's containers from another Tern's (and
	// from foreign containers wearing Tern's labels).
	Instance string
	// Memory and Pids bound each container; 0 means 512 MiB and 128.
	Memory int64
	Pids   int64
	// PythonBase is the image pickled scikit-learn models are served on;
	// empty means PythonBase (tern-sklearn-base:bookworm).
	PythonBase string
}

func (d *DockerLauncher) Name() string { return "docker" }

// Dockerfile of a serving image; the same text goes into exported build
// contexts so they build the same image without Tern.
const serveDockerfile = `FROM scratch
COPY tern-runtime /tern-runtime
COPY model /tern/model
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/tern-runtime", "serve", "-model", "/tern/model", "-addr", "0.0.0.0:8080"]
`

var tagUnsafe = regexp.MustCompile(`[^a-z0-9_.-]`)

// contextFiles reads the model directory (plain files only) and the
// binary into the files of a build context.
func (d *DockerLauncher) contextFiles(modelDir string, python bool) (map[string]docker.File, error) {
	if d.Binary == nil {
		return nil, core.Errorf(core.Unavailable, "The tern-runtime binary is not available to build a serving image.")
	}
	bin, err := d.Binary()
	if err != nil {
		return nil, err
	}
	files := map[string]docker.File{"Dockerfile": {Data: []byte(serveDockerfile), Mode: 0o644}, "tern-runtime": {Data: bin, Mode: 0o755}}
	if python {
		files["Dockerfile"] = docker.File{Data: []byte(pythonDockerfile), Mode: 0o644}
		files["pyworker.py"] = docker.File{Data: pyworker, Mode: 0o644}
	}
	root, err := os.OpenRoot(modelDir)
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "The model folder %s cannot be opened.", modelDir)
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(root.FS(), p)
		if err != nil {
			return err
		}
		files["model/"+p] = docker.File{Data: b, Mode: 0o644}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The model folder %s cannot be read.", modelDir)
	}
	return files, nil
}

// ImageTag names a serving image by model, version and content, so the
// same model and binary are built once.
func imageTag(model string, version int, files map[string]docker.File) string {
	h := sha256.New()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		io.WriteString(h, n)
		h.Write([]byte{0})
		h.Write(files[n].Data)
	}
	name := tagUnsafe.ReplaceAllString(strings.ToLower(model), "-")
	return "tern-serve-" + name + ":v" + itoa(version) + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// EnsureImage builds the serving image for a model directory if it is
// not there yet, and returns its tag.
func (d *DockerLauncher) EnsureImage(ctx context.Context, model string, version int, modelDir string) (string, error) {
	files, err := d.contextFiles(modelDir, false)
	if err != nil {
		return "", err
	}
	tag := imageTag(model, version, files)
	_, err = d.API.EnsureImage(ctx, docker.Build{Tag: tag, Files: files, Labels: map[string]string{
		docker.LabelKind: docker.KindServingImage, docker.LabelModel: model, docker.LabelModelVersion: itoa(version)}})
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Docker could not build the serving image for %s v%d: %s", model, version, core.ErrorMessage(err))
	}
	return tag, nil
}

// limits are the memory and pids bounds of a model's container.
func (d *DockerLauncher) limits() (mem, pids int64) {
	mem, pids = d.Memory, d.Pids
	if mem == 0 {
		mem = 512 << 20
	}
	if pids == 0 {
		pids = 128
	}
	return mem, pids
}

func (d *DockerLauncher) Launch(ctx context.Context, s Spec) (Instance, error) {
	pickle, err := pythonPickle(s.Dir)
	if err != nil {
		return Instance{}, err
	}
	if pickle != "" {
		return d.launchPython(ctx, s, pickle)
	}
	tag, err := d.EnsureImage(ctx, s.Model, s.Version, s.Dir)
	if err != nil {
		return Instance{}, err
	}
	mem, pids := d.limits()
	id, err := d.API.Create(ctx, docker.Spec{
		Image: tag,
		User:  "65532:65532",
		Env:   []string{"TERN_MODEL_NAME=" + s.Model, "TERN_MODEL_VERSION=" + itoa(s.Version)},
		Labels: map[string]string{
			docker.LabelKind: docker.KindServing, docker.LabelServingInstance: d.Instance, docker.LabelDeployment: s.Deployment,
			docker.LabelBackend: s.Backend, docker.LabelModel: s.Model, docker.LabelModelVersion: itoa(s.Version),
		},
		Publish:  servePort,
		Memory:   mem,
		Pids:     pids,
		NanoCPUs: 1e9,
		// A crash is retried a few times, then the container stays down and
		// the router keeps it out of rotation.
		RestartOnFailure: 3,
	})
	if err != nil {
		return Instance{}, core.Wrap(err, core.Unavailable, "Docker could not create the serving container for %s v%d.", s.Model, s.Version)
	}
	inst := Instance{Backend: s.Backend, Target: "docker", ContainerID: id, Model: s.Model, Version: s.Version, Image: tag}
	if err := d.API.Start(ctx, id); err != nil {
		d.Stop(context.Background(), inst)
		return Instance{}, core.Wrap(err, core.Unavailable, "Docker could not start the serving container for %s v%d.", s.Model, s.Version)
	}
	url, err := d.url(ctx, id)
	if err != nil {
		d.Stop(context.Background(), inst)
		return Instance{}, err
	}
	inst.URL = url
	return inst, nil
}

// url reads the host port Docker published on 127.0.0.1.
func (d *DockerLauncher) url(ctx context.Context, id string) (string, error) {
	for i := 0; i < 50; i++ {
		info, err := d.API.Inspect(ctx, id)
		if err != nil {
			return "", core.Wrap(err, core.Unavailable, "The serving container disappeared.")
		}
		if port := info.LoopbackPorts[servePort]; port != "" {
			return "http://127.0.0.1:" + port, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", core.Errorf(core.Unavailable, "Docker did not publish the serving port on 127.0.0.1.")
}

func (d *DockerLauncher) Stop(ctx context.Context, inst Instance) error {
	if inst.ContainerID != "" {
		_ = d.API.Stop(ctx, inst.ContainerID, 10*time.Second)
		if err := d.API.Remove(ctx, inst.ContainerID); err != nil {
			return core.Wrap(err, core.Unavailable, "Docker could not remove the serving container.")
		}
	}
	if inst.Worker != "" {
		return d.stopWorker(ctx, inst.Worker)
	}
	return nil
}

// Running finds this instance's serving containers of a deployment. Only
// containers whose labels name this Tern instance and the deployment, and
// whose image is a Tern serving image, are adopted.
func (d *DockerLauncher) Running(ctx context.Context, deployment string) ([]Instance, error) {
	list, err := d.API.List(ctx, false, map[string]string{
		docker.LabelKind:            docker.KindServing,
		docker.LabelServingInstance: d.Instance,
		docker.LabelDeployment:      deployment,
	})
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not list serving containers.")
	}
	var out []Instance
	for _, c := range list {
		if !c.Running || !strings.HasPrefix(c.Image, "tern-serve-") {
			continue
		}
		url, err := d.url(ctx, c.ID)
		if err != nil {
			continue
		}
		v := 0
		for _, ch := range c.Labels[docker.LabelModelVersion] {
			if ch < '0' || ch > '9' {
				v = -1
				break
			}
			v = v*10 + int(ch-'0')
		}
		if v <= 0 {
			continue
		}
		out = append(out, Instance{Backend: c.Labels[docker.LabelBackend], Target: "docker", URL: url, ContainerID: c.ID, Model: c.Labels[docker.LabelModel], Version: v,
			Worker: c.Labels[docker.LabelWorker], Image: c.Image})
	}
	return out, nil
}

// WriteBuildContext writes a folder that `docker build` turns into the
// serving image without Tern: Dockerfile, tern-runtime and model/.
func (d *DockerLauncher) WriteBuildContext(modelDir, dest string) error {
	files, err := d.contextFiles(modelDir, false)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dest); err == nil {
		return core.Errorf(core.Conflict, "%s already exists; choose a new folder.", dest)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".context-*")
	if err != nil {
		return core.Wrap(err, core.Unavailable, "Cannot write into %s.", filepath.Dir(dest))
	}
	defer os.RemoveAll(tmp)
	for n, f := range files {
		p := filepath.Join(tmp, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return core.Wrap(err, core.Unavailable, "Cannot write the build context.")
		}
		if err := os.WriteFile(p, f.Data, os.FileMode(f.Mode)); err != nil {
			return core.Wrap(err, core.Unavailable, "Cannot write the build context.")
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return core.Wrap(err, core.Unavailable, "Cannot move the build context into %s.", dest)
	}
	return nil
}

// SaveImage builds the serving image and writes `docker save` of it to
// dest (a tarball `docker load` reads on any host), atomically.
func (d *DockerLauncher) SaveImage(ctx context.Context, model string, version int, modelDir, dest string) (string, error) {
	if d.API == nil {
		return "", core.Errorf(core.Unavailable, "Docker is not reachable, so no image can be built; export the build context instead and build it on a Docker host.")
	}
	tag, err := d.EnsureImage(ctx, model, version, modelDir)
	if err != nil {
		return "", err
	}
	rc, err := d.API.SaveImage(ctx, tag)
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Docker could not save the image %s.", tag)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".image-*.tar")
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Cannot write into %s.", filepath.Dir(dest))
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return "", core.Wrap(err, core.Unavailable, "Writing the image tarball failed.")
	}
	if err := tmp.Close(); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Writing the image tarball failed.")
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", core.Wrap(err, core.Unavailable, "Cannot move the image tarball into place.")
	}
	return tag, nil
}

// DefaultLaunchers picks the launcher for this machine: Docker when the
// engine answers and the tern-runtime binary is found beside Tern, else
// in-process serving. The second result builds images and build contexts
// (nil without the binary; its API is nil without Docker).
func DefaultLaunchers(engine *docker.Client, instance string, binaryPath func() (string, error)) (Launcher, *DockerLauncher) {
	path, err := binaryPath()
	if err != nil {
		return NewProcessLauncher(), nil
	}
	dl := &DockerLauncher{Instance: instance, Binary: func() ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, core.Wrap(err, core.Unavailable, "The tern-runtime binary cannot be read.")
		}
		return b, nil
	}}
	if engine == nil || engine.Ping(context.Background()) != nil {
		return NewProcessLauncher(), dl
	}
	dl.API = engine
	return dl, dl
}

// RemoveServingImage removes the serving image of a model version, as
// this Tern builds it (the tag names the model's and the binary's
// content), unless a container still uses it: Docker refuses then, and
// the image stays. Only that tag goes, never another Tern's image of the
// same version. It is rebuilt from the registry when needed.
func (d *DockerLauncher) RemoveServingImage(ctx context.Context, model string, version int, modelDir string) (bool, error) {
	pickle, err := pythonPickle(modelDir)
	if err != nil {
		return false, err
	}
	files, err := d.contextFiles(modelDir, pickle != "")
	if err != nil {
		return false, err
	}
	tag := imageTag(model, version, files)
	n, err := d.API.ReapImages(ctx, map[string]string{docker.LabelKind: docker.KindServingImage, docker.LabelModel: model, docker.LabelModelVersion: itoa(version)},
		func(img docker.Image) bool { return !slices.Contains(img.Tags, tag) })
	if err != nil {
		return false, core.Wrap(err, core.Unavailable, "Docker could not remove the serving image of %s v%d.", model, version)
	}
	return n > 0, nil
}
