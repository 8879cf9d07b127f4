package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/tern-studio/tern/backend/core"
)

// DockerAPI is the part of the Docker SDK client Tern uses; tests and a
// remote host can stand in for it.
type DockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	ContainerCreate(ctx context.Context, config *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, opts container.StartOptions) error
	ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error)
	ContainerStop(ctx context.Context, id string, opts container.StopOptions) error
	ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error
	ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	ImageInspect(ctx context.Context, id string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, body io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
	NetworkCreate(ctx context.Context, name string, opts network.CreateOptions) (network.CreateResponse, error)
	NetworkInspect(ctx context.Context, id string, opts network.InspectOptions) (network.Inspect, error)
	NetworkRemove(ctx context.Context, id string) error
}

// Labels on everything Tern creates in Docker.
const (
	LabelApp      = "io.tern.app"
	LabelJob      = "io.tern.job"
	LabelRun      = "io.tern.run"
	LabelKind     = "io.tern.kind"
	LabelVersion  = "io.tern.version"
	LabelInstance = "io.tern.instance"
)

// NewDockerClient connects to the engine named by the environment
// (DOCKER_HOST etc.), negotiating the API version so older engines work.
func NewDockerClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

type dockerEngine struct {
	api        DockerAPI
	instance   string
	appVersion string
	runtime    *runtimeImage
	// trackingAPI serves the MLflow API to tracking jobs (nil: refused).
	trackingAPI http.Handler
}

func (d *dockerEngine) name() string { return BackendDocker }

func (d *dockerEngine) available(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := d.api.Ping(ctx)
	return err
}

// containerUser picks the user a container runs as: the app's own user, so
// output files belong to it, or a fixed unprivileged one when the app runs
// as root.
func containerUser() (string, bool) {
	if uid := os.Getuid(); uid > 0 {
		return fmt.Sprintf("%d:%d", uid, os.Getgid()), false
	}
	return "65532:65532", true
}

func (d *dockerEngine) labels(j *Job) map[string]string {
	return map[string]string{
		LabelApp: "tern", LabelJob: j.ID, LabelRun: j.RunID, LabelKind: "train",
		LabelVersion: d.appVersion, LabelInstance: d.instance,
	}
}

func (d *dockerEngine) start(ctx context.Context, j *Job, w workdir) (process, error) {
	img, err := d.image(ctx, j)
	if err != nil {
		return nil, err
	}
	j.Image = img
	res := j.Spec.Resources.withDefaults()
	user, rootApp := containerUser()
	if rootApp {
		// The container's user is not the app's: let it write its outputs.
		_ = os.Chmod(w.outputs, 0o777)
	}
	dataTarget := "/tern/data/" + filepath.Base(j.Spec.DataPath)
	dataSource := j.Spec.DataPath
	if rootApp {
		// The container's user cannot read a file only its owner may read
		// (blobs are 0400): give it a readable copy in the job folder.
		if st, err := os.Stat(dataSource); err == nil && st.Mode().Perm()&0o004 == 0 {
			cp := filepath.Join(w.root, "data", filepath.Base(dataSource))
			if err := copyFile(dataSource, cp); err != nil {
				return nil, core.Wrap(err, core.Internal, "Cannot stage the dataset for the container: %v", err)
			}
			dataSource = cp
		}
	}
	cmd := j.Spec.Command
	if len(cmd) == 0 && j.Spec.Image == "" && j.Spec.BuildDir == "" {
		cmd = []string{"train", "-data", dataTarget}
	}
	cfg := &container.Config{
		Image: img,
		Cmd:   cmd,
		User:  user,
		Env: []string{
			"TERN_RUN_ID=" + j.RunID, "TERN_JOB_ID=" + j.ID, "TERN_PARAMS=" + string(j.Spec.Params),
			"TERN_DATA=" + dataTarget, "HOME=/tmp", "PYTHONUNBUFFERED=1",
		},
		Labels:          d.labels(j),
		NetworkDisabled: true,
	}
	pids := res.Pids
	host := &container.HostConfig{
		Binds: []string{
			dataSource + ":" + dataTarget + ":ro",
			w.params + ":/tern/params.json:ro",
			w.outputs + ":/tern/outputs:rw",
		},
		NetworkMode:    "none",
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Privileged:     false,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=256m"},
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "50m", "max-file": "2"}},
		Resources: container.Resources{
			Memory:     int64(res.MemoryMB) << 20,
			MemorySwap: int64(res.MemoryMB) << 20, // no swap: over the limit is an OOM kill
			NanoCPUs:   int64(res.CPUs * 1e9),
			PidsLimit:  &pids,
		},
	}
	var cleanup func()
	if j.Spec.Tracking {
		if cleanup, err = d.trackingNetwork(ctx, j, cfg, host); err != nil {
			return nil, err
		}
	}
	// A container of this name can only be a leftover of this same job
	// (Tern quit between starting it and recording it): start afresh.
	_ = d.api.ContainerRemove(ctx, "tern-job-"+j.ID, container.RemoveOptions{Force: true})
	created, err := d.api.ContainerCreate(ctx, cfg, host, nil, nil, "tern-job-"+j.ID)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		// The engine may have made the container before the call failed
		// (e.g. Tern quitting mid-call): remove it by name, not leave it.
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = d.api.ContainerRemove(rm, "tern-job-"+j.ID, container.RemoveOptions{Force: true})
		cancel()
		if client.IsErrNotFound(err) {
			return nil, core.Errorf(core.NotFound, "Image %q not found locally. Tern never pulls from a registry: build or load the image first.", img)
		}
		return nil, core.Wrap(err, core.Unavailable, "Docker could not create the container: %v", err)
	}
	p := &dockerProc{api: d.api, id: created.ID, cleanup: cleanup}
	j.ContainerID = created.ID
	if err := d.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		p.remove(context.WithoutCancel(ctx))
		return nil, core.Wrap(err, core.Unavailable, "Docker could not start the container: %v", err)
	}
	return p, nil
}

// image resolves the image a job runs: the built-in runtime, a Dockerfile
// directory built locally, or a named image that must already be present.
func (d *dockerEngine) image(ctx context.Context, j *Job) (string, error) {
	switch {
	case j.Spec.BuildDir != "":
		return buildUserImage(ctx, d.api, j.Spec.BuildDir, j.Spec.BuildArgs, d.appVersion)
	case j.Spec.Image == "":
		return d.runtime.ensure(ctx, d.api)
	}
	if _, err := d.api.ImageInspect(ctx, j.Spec.Image); err != nil {
		if client.IsErrNotFound(err) {
			return "", core.Errorf(core.NotFound, "Image %q not found locally. Tern never pulls from a registry: build or load the image first.", j.Spec.Image)
		}
		return "", core.Wrap(err, core.Unavailable, "Docker could not look up image %q: %v", j.Spec.Image, err)
	}
	return j.Spec.Image, nil
}

func (d *dockerEngine) attach(ctx context.Context, j *Job) (process, error) {
	if j.ContainerID == "" {
		return nil, core.Errorf(core.NotFound, "The job never got a container.")
	}
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelJob+"="+j.ID), filters.Arg("label", LabelInstance+"="+d.instance))})
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not list containers: %v", err)
	}
	for _, c := range list {
		// Only the container this job created is adopted: a look-alike
		// wearing the same labels is not.
		if c.ID == j.ContainerID {
			p := &dockerProc{api: d.api, id: c.ID}
			if j.Spec.Tracking && j.gate.Addr != "" {
				// The container still has the old address in its env: listen
				// there again.
				g, err := startGateway(j.gate.Addr, j.RunID, j.gate.Token, d.trackingAPI)
				netName := "tern-job-" + j.ID
				p.cleanup = func() {
					g.stop()
					_ = d.api.NetworkRemove(context.Background(), netName)
				}
				_ = err // without the listener the job still runs; its MLflow calls fail
			}
			return p, nil
		}
	}
	return nil, core.Errorf(core.NotFound, "The job's container is gone.")
}

// reap removes this instance's training containers that belong to no live
// job. Only kind=train: serving containers share the io.tern.* labels and
// are not the runner's to remove.
func (d *dockerEngine) reap(ctx context.Context, live func(jobID, containerID string) bool) int {
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelInstance+"="+d.instance), filters.Arg("label", LabelKind+"=train"))})
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range list {
		if live(c.Labels[LabelJob], c.ID) {
			continue
		}
		if err := d.api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err == nil {
			n++
		}
	}
	return n
}

type dockerProc struct {
	api     DockerAPI
	id      string
	cleanup func() // tracking listener and network, if any
}

// trackingNetwork gives a tracking job its internal network and a
// token-only listener on the network's gateway, and points the
// container's MLflow client at it.
func (d *dockerEngine) trackingNetwork(ctx context.Context, j *Job, cfg *container.Config, host *container.HostConfig) (func(), error) {
	if d.trackingAPI == nil {
		return nil, core.Errorf(core.Unavailable, "Logging through the MLflow client is not available in this Tern.")
	}
	name := "tern-job-" + j.ID
	if _, err := d.api.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Internal: true, Labels: d.labels(j)}); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not create the job's network: %v", err)
	}
	removeNet := func() { _ = d.api.NetworkRemove(context.Background(), name) }
	info, err := d.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil || len(info.IPAM.Config) == 0 || info.IPAM.Config[0].Gateway == "" {
		removeNet()
		return nil, core.Errorf(core.Unavailable, "The job's network has no gateway address.")
	}
	g, err := startGateway(net.JoinHostPort(info.IPAM.Config[0].Gateway, "0"), j.RunID, j.gate.Token, d.trackingAPI)
	if err != nil {
		removeNet()
		return nil, core.Wrap(err, core.Unavailable, "Tern could not listen on the job's network: %v", err)
	}
	j.gate.Addr = g.addr
	cfg.NetworkDisabled = false
	host.NetworkMode = container.NetworkMode(name)
	cfg.Env = append(cfg.Env, "MLFLOW_TRACKING_URI=http://"+g.addr, "MLFLOW_TRACKING_TOKEN="+j.gate.Token,
		"MLFLOW_RUN_ID="+j.RunID, "MLFLOW_EXPERIMENT_ID="+j.Spec.ExperimentID)
	return func() { g.stop(); removeNet() }, nil
}

func (p *dockerProc) stream(ctx context.Context, from [3]Cursor, fn func(line)) error {
	since := from[stdout].TS
	if from[stderr].TS < since {
		since = from[stderr].TS
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if since > 0 {
		opts.Since = fmt.Sprintf("%d.%09d", since/1e9, since%1e9)
	}
	rc, err := p.api.ContainerLogs(ctx, p.id, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var mu sync.Mutex
	var wg sync.WaitGroup
	read := func(stream int, r io.Reader) {
		defer wg.Done()
		cur := from[stream]
		seen := 0 // lines at cur.TS seen again in this pass
		_ = scanLines(r, func(s string) {
			ts, text := splitTimestamp(s)
			n := ts.UnixNano()
			if n < cur.TS {
				return
			}
			if n == cur.TS {
				seen++
				if seen <= cur.N {
					return
				}
			}
			mu.Lock()
			fn(line{stream: stream, ts: ts, text: text})
			mu.Unlock()
		})
		_, _ = io.Copy(io.Discard, r)
	}
	wg.Add(2)
	go read(stdout, outR)
	go read(stderr, errR)
	_, err = stdcopy.StdCopy(outW, errW, rc)
	outW.Close()
	errW.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// splitTimestamp splits Docker's "RFC3339Nano text" log line.
func splitTimestamp(s string) (time.Time, string) {
	i := strings.IndexByte(s, ' ')
	if i <= 0 {
		return time.Now(), s
	}
	ts, err := time.Parse(time.RFC3339Nano, s[:i])
	if err != nil {
		return time.Now(), s
	}
	return ts, s[i+1:]
}

func (p *dockerProc) wait(ctx context.Context) (exit, error) {
	backoff := 500 * time.Millisecond
	for {
		ch, errCh := p.api.ContainerWait(ctx, p.id, container.WaitConditionNotRunning)
		var werr error
		select {
		case <-ch:
		case werr = <-errCh:
		case <-ctx.Done():
			return exit{}, ctx.Err()
		}
		if werr == nil || client.IsErrNotFound(werr) {
			info, err := p.api.ContainerInspect(ctx, p.id)
			if client.IsErrNotFound(err) {
				return exit{disappeared: true, code: -1}, nil
			}
			if err == nil {
				if info.State != nil && (info.State.Status == container.StateRemoving || info.State.Dead) {
					return exit{disappeared: true, code: info.State.ExitCode}, nil
				}
				if info.State != nil && !info.State.Running {
					if info.State.ExitCode == 137 && !info.State.OOMKilled && p.removedSoon(ctx) {
						// `docker rm -f` kills first and removes a moment later.
						return exit{disappeared: true, code: 137}, nil
					}
					return exit{code: info.State.ExitCode, oom: info.State.OOMKilled}, nil
				}
				continue // still running: the wait was interrupted
			}
			werr = err
		}
		if ctx.Err() != nil {
			return exit{}, ctx.Err()
		}
		// The engine is unreachable (stopped or restarting): keep trying
		// with backoff; the job is still ours when it comes back.
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return exit{}, ctx.Err()
		}
		if backoff < 10*time.Second {
			backoff *= 2
		}
	}
}

// removedSoon reports whether the container vanishes within a moment.
func (p *dockerProc) removedSoon(ctx context.Context) bool {
	for i := 0; i < 5; i++ {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return false
		}
		info, err := p.api.ContainerInspect(ctx, p.id)
		if client.IsErrNotFound(err) || (err == nil && info.State != nil && (info.State.Status == container.StateRemoving || info.State.Dead)) {
			return true
		}
	}
	return false
}

func (p *dockerProc) stop(ctx context.Context, grace time.Duration) error {
	secs := int(grace / time.Second)
	err := p.api.ContainerStop(ctx, p.id, container.StopOptions{Timeout: &secs})
	if err != nil && !client.IsErrNotFound(err) {
		return core.Wrap(err, core.Unavailable, "Docker could not stop the container: %v", err)
	}
	return nil
}

func (p *dockerProc) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = p.api.ContainerRemove(ctx, p.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if p.cleanup != nil {
		p.cleanup()
	}
}

var errNoDocker = errors.New("docker unavailable")

var _ = strconv.Itoa

// DockerFromEnv returns the engine client from the environment, or nil
// when none can be made (the runner then runs jobs locally).
func DockerFromEnv() DockerAPI {
	c, err := NewDockerClient()
	if err != nil {
		return nil
	}
	return c
}

// copyFile copies src to dst (0644) through a temporary file.
func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
