package deployment

import (
	"archive/tar"
	"bufio"
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
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/tern-studio/tern/backend/core"
)

// DockerAPI is the part of the Docker SDK the serving launcher uses.
type DockerAPI interface {
	ContainerCreate(ctx context.Context, config *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, opts container.StartOptions) error
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerStop(ctx context.Context, id string, opts container.StopOptions) error
	ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error
	ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	ImageInspect(ctx context.Context, id string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, body io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageSave(ctx context.Context, ids []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
}

// Labels on serving containers and images.
const (
	LabelApp  = "io.tern.app"
	LabelKind = "io.tern.kind"
	// Not io.tern.instance: the runner reaps every container carrying that
	// label that is not one of its jobs, and serving containers must
	// outlive a restart.
	LabelInstance   = "io.tern.serving.instance"
	LabelDeployment = "io.tern.deployment"
	LabelBackend    = "io.tern.backend"
	LabelModel      = "io.tern.model"
	LabelVersion    = "io.tern.model-version"
)

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
func (d *DockerLauncher) contextFiles(modelDir string) (map[string][]byte, error) {
	if d.Binary == nil {
		return nil, core.Errorf(core.Unavailable, "The tern-runtime binary is not available to build a serving image.")
	}
	bin, err := d.Binary()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"Dockerfile": []byte(serveDockerfile), "tern-runtime": bin}
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
		files["model/"+p] = b
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The model folder %s cannot be read.", modelDir)
	}
	return files, nil
}

// ImageTag names a serving image by model, version and content, so the
// same model and binary are built once.
func imageTag(model string, version int, files map[string][]byte) string {
	h := sha256.New()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		io.WriteString(h, n)
		h.Write([]byte{0})
		h.Write(files[n])
	}
	name := tagUnsafe.ReplaceAllString(strings.ToLower(model), "-")
	return "tern-serve-" + name + ":v" + itoa(version) + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

func tarContext(files map[string][]byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if n == "tern-runtime" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		tw.Write(files[n])
	}
	return &buf, tw.Close()
}

// EnsureImage builds the serving image for a model directory if it is
// not there yet, and returns its tag.
func (d *DockerLauncher) EnsureImage(ctx context.Context, model string, version int, modelDir string) (string, error) {
	files, err := d.contextFiles(modelDir)
	if err != nil {
		return "", err
	}
	tag := imageTag(model, version, files)
	if _, err := d.API.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	body, err := tarContext(files)
	if err != nil {
		return "", core.Wrap(err, core.Internal, "Cannot write the build context.")
	}
	resp, err := d.API.ImageBuild(ctx, body, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{LabelApp: "tern", LabelKind: "serving-image", LabelModel: model, LabelVersion: itoa(version)},
	})
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Docker could not build the serving image for %s v%d.", model, version)
	}
	defer resp.Body.Close()
	// The build reports errors inside its JSON stream, not as an HTTP error.
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Error != "" {
			return "", core.Errorf(core.Unavailable, "Docker could not build the serving image for %s v%d: %s", model, version, msg.Error)
		}
	}
	return tag, nil
}

func (d *DockerLauncher) Launch(ctx context.Context, s Spec) (Instance, error) {
	tag, err := d.EnsureImage(ctx, s.Model, s.Version, s.Dir)
	if err != nil {
		return Instance{}, err
	}
	mem, pids := d.Memory, d.Pids
	if mem == 0 {
		mem = 512 << 20
	}
	if pids == 0 {
		pids = 128
	}
	cfg := &container.Config{
		Image:        tag,
		User:         "65532:65532",
		ExposedPorts: nat.PortSet{servePort: {}},
		Env:          []string{"TERN_MODEL_NAME=" + s.Model, "TERN_MODEL_VERSION=" + itoa(s.Version)},
		Labels: map[string]string{
			LabelApp: "tern", LabelKind: "serving", LabelInstance: d.Instance, LabelDeployment: s.Deployment,
			LabelBackend: s.Backend, LabelModel: s.Model, LabelVersion: itoa(s.Version),
		},
	}
	host := &container.HostConfig{
		PortBindings:   nat.PortMap{servePort: {{HostIP: "127.0.0.1", HostPort: ""}}},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Resources:      container.Resources{Memory: mem, PidsLimit: &pids, NanoCPUs: 1e9},
		// A crash is retried a few times, then the container stays down and
		// the router keeps it out of rotation.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3},
	}
	created, err := d.API.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return Instance{}, core.Wrap(err, core.Unavailable, "Docker could not create the serving container for %s v%d.", s.Model, s.Version)
	}
	inst := Instance{Backend: s.Backend, Target: "docker", ContainerID: created.ID, Model: s.Model, Version: s.Version}
	if err := d.API.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		d.Stop(context.Background(), inst)
		return Instance{}, core.Wrap(err, core.Unavailable, "Docker could not start the serving container for %s v%d.", s.Model, s.Version)
	}
	url, err := d.url(ctx, created.ID)
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
		info, err := d.API.ContainerInspect(ctx, id)
		if err != nil {
			return "", core.Wrap(err, core.Unavailable, "The serving container disappeared.")
		}
		if info.NetworkSettings != nil {
			for _, b := range info.NetworkSettings.Ports[servePort] {
				if b.HostIP == "127.0.0.1" && b.HostPort != "" {
					return "http://127.0.0.1:" + b.HostPort, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", core.Errorf(core.Unavailable, "Docker did not publish the serving port on 127.0.0.1.")
}

func (d *DockerLauncher) Stop(ctx context.Context, inst Instance) error {
	if inst.ContainerID == "" {
		return nil
	}
	timeout := 10
	_ = d.API.ContainerStop(ctx, inst.ContainerID, container.StopOptions{Timeout: &timeout})
	if err := d.API.ContainerRemove(ctx, inst.ContainerID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
		return core.Wrap(err, core.Unavailable, "Docker could not remove the serving container.")
	}
	return nil
}

// Running finds this instance's serving containers of a deployment. Only
// containers whose labels name this Tern instance and the deployment, and
// whose image is a Tern serving image, are adopted.
func (d *DockerLauncher) Running(ctx context.Context, deployment string) ([]Instance, error) {
	list, err := d.API.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelKind+"=serving"),
		filters.Arg("label", LabelInstance+"="+d.Instance),
		filters.Arg("label", LabelDeployment+"="+deployment),
	)})
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not list serving containers.")
	}
	var out []Instance
	for _, c := range list {
		if c.State != "running" || !strings.HasPrefix(c.Image, "tern-serve-") {
			continue
		}
		url, err := d.url(ctx, c.ID)
		if err != nil {
			continue
		}
		v := 0
		for _, ch := range c.Labels[LabelVersion] {
			if ch < '0' || ch > '9' {
				v = -1
				break
			}
			v = v*10 + int(ch-'0')
		}
		if v <= 0 {
			continue
		}
		out = append(out, Instance{Backend: c.Labels[LabelBackend], Target: "docker", URL: url, ContainerID: c.ID, Model: c.Labels[LabelModel], Version: v})
	}
	return out, nil
}

// WriteBuildContext writes a folder that `docker build` turns into the
// serving image without Tern: Dockerfile, tern-runtime and model/.
func (d *DockerLauncher) WriteBuildContext(modelDir, dest string) error {
	files, err := d.contextFiles(modelDir)
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
	for n, b := range files {
		p := filepath.Join(tmp, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return core.Wrap(err, core.Unavailable, "Cannot write the build context.")
		}
		mode := os.FileMode(0o644)
		if n == "tern-runtime" {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
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
	rc, err := d.API.ImageSave(ctx, []string{tag})
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
func DefaultLaunchers(instance string, binaryPath func() (string, error)) (Launcher, *DockerLauncher) {
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
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return NewProcessLauncher(), dl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return NewProcessLauncher(), dl
	}
	dl.API = cli
	return dl, dl
}
