package runner

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
)

// DockerAPI is the part of the Docker adapter (backend/docker) the runner
// calls; tests stand a flaky engine in for it.
type DockerAPI interface {
	Ping(ctx context.Context) error
	EnsureImage(ctx context.Context, b docker.Build) (bool, error)
	InspectImage(ctx context.Context, ref string) (docker.Image, error)
	Create(ctx context.Context, s docker.Spec) (string, error)
	Start(ctx context.Context, id string) error
	Wait(ctx context.Context, id string) error
	Inspect(ctx context.Context, id string) (docker.Container, error)
	Logs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	List(ctx context.Context, all bool, labels map[string]string) ([]docker.Container, error)
	Reap(ctx context.Context, labels map[string]string, keep func(docker.Container) bool) (int, error)
	ReapImages(ctx context.Context, labels map[string]string, keep func(docker.Image) bool) (int, error)
	CreateInternalNetwork(ctx context.Context, name string, labels map[string]string) error
	NetworkGateway(ctx context.Context, name string) (string, error)
	RemoveNetwork(ctx context.Context, name string) error
	CreateVolume(ctx context.Context, name string, labels map[string]string) error
	RemoveVolume(ctx context.Context, name string) error
	CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	Stats(ctx context.Context, id string, fn func(docker.Sample)) error
}

type dockerEngine struct {
	api        DockerAPI
	instance   string
	appVersion string
	runtime    *runtimeImage
	// trackingAPI serves the MLflow API to tracking jobs (nil: refused).
	trackingAPI http.Handler
	// ownData gives every job its own copy of its dataset in its folder,
	// removed when it ends (set with an encrypted data dir, where the
	// shared plaintext copy is Tern's, not a container's to mount).
	ownData bool
	// remote names the engine when it is another machine's: its jobs get
	// their inputs copied into a volume, never a bind mount.
	remote string
	// after paces retries while the engine is unreachable (time.After, or
	// a test's hand).
	after func(time.Duration) <-chan time.Time
}

func (d *dockerEngine) name() string { return BackendDocker }

func (d *dockerEngine) available(ctx context.Context) error {
	return d.api.Ping(ctx)
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
		docker.LabelApp: "tern", docker.LabelJob: j.ID, docker.LabelRun: j.RunID, docker.LabelKind: docker.KindTrain,
		docker.LabelVersion: d.appVersion, docker.LabelInstance: d.instance,
	}
}

func (d *dockerEngine) start(ctx context.Context, j *Job, w workdir) (process, error) {
	img, err := d.image(ctx, j)
	if err != nil {
		return nil, err
	}
	j.Image = img
	if d.remote != "" {
		return d.startRemote(ctx, j, w, img)
	}
	res := j.Spec.Resources.withDefaults()
	user, rootApp := containerUser()
	if rootApp {
		// The container's user is not the app's: let it write its outputs.
		_ = os.Chmod(w.outputs, 0o777)
	}
	dataTarget := "/tern/data/" + filepath.Base(j.Spec.DataPath)
	dataSource := j.Spec.DataPath
	if rootApp || d.ownData {
		// The container's user cannot read a file only its owner may read
		// (blobs are 0400): give it a readable copy in the job folder.
		if st, err := os.Stat(dataSource); err == nil && (d.ownData || st.Mode().Perm()&0o004 == 0) {
			cp := filepath.Join(w.root, "data", filepath.Base(dataSource))
			if err := copyFile(dataSource, cp); err != nil {
				return nil, core.Wrap(err, core.Internal, "Cannot stage the dataset for the container: %v", err)
			}
			dataSource = cp
		}
	}
	spec := d.spec(j, img, user, dataTarget, res)
	spec.Binds = []string{
		dataSource + ":" + dataTarget + ":ro",
		w.params + ":/tern/params.json:ro",
		w.outputs + ":/tern/outputs:rw",
	}
	if j.Spec.DataReading != nil {
		// Read by the built-in runtime (and documented for user images).
		spec.Binds = append(spec.Binds, w.reading+":/tern/dataset.json:ro")
	}
	var cleanup func()
	if j.Spec.Tracking {
		if cleanup, err = d.trackingNetwork(ctx, j, &spec); err != nil {
			return nil, err
		}
	}
	// A container of this name can only be a leftover of this same job
	// (Tern quit between starting it and recording it): start afresh.
	_ = d.api.Remove(ctx, spec.Name)
	id, err := d.api.Create(ctx, spec)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		// The engine may have made the container before the call failed
		// (e.g. Tern quitting mid-call): remove it by name, not leave it.
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = d.api.Remove(rm, spec.Name)
		cancel()
		if docker.IsNotFound(err) {
			return nil, core.Errorf(core.NotFound, "Image %q not found locally. Tern never pulls from a registry: build or load the image first.", img)
		}
		return nil, core.Wrap(err, core.Unavailable, "Docker could not create the container: %v", err)
	}
	p := &dockerProc{api: d.api, id: id, cleanup: cleanup, after: d.after}
	j.ContainerID = id
	if err := d.api.Start(ctx, id); err != nil {
		p.remove(context.WithoutCancel(ctx))
		return nil, core.Wrap(err, core.Unavailable, "Docker could not start the container: %v", err)
	}
	return p, nil
}

// spec is the container every training job gets, whichever the engine.
func (d *dockerEngine) spec(j *Job, img, user, dataTarget string, res Resources) docker.Spec {
	cmd := j.Spec.Command
	if len(cmd) == 0 && j.Spec.Image == "" && j.Spec.BuildDir == "" {
		cmd = []string{"train", "-data", dataTarget}
	}
	return docker.Spec{
		Name:  "tern-job-" + j.ID,
		Image: img,
		Cmd:   cmd,
		User:  user,
		Env: []string{
			"TERN_RUN_ID=" + j.RunID, "TERN_JOB_ID=" + j.ID, "TERN_PARAMS=" + string(j.Spec.Params),
			"TERN_DATA=" + dataTarget, "HOME=/tmp", "PYTHONUNBUFFERED=1",
		},
		Labels:     d.labels(j),
		Network:    "none",
		Tmpfs:      map[string]string{"/tmp": "rw,nosuid,nodev,size=256m"},
		Memory:     int64(res.MemoryMB) << 20,
		MemorySwap: int64(res.MemoryMB) << 20, // no swap: over the limit is an OOM kill
		NanoCPUs:   int64(res.CPUs * 1e9),
		Pids:       res.Pids,
	}
}

// image resolves the image a job runs: the built-in runtime, a Dockerfile
// directory built locally, or a named image that must already be present.
func (d *dockerEngine) image(ctx context.Context, j *Job) (string, error) {
	switch {
	case j.Spec.BuildDir != "":
		b, err := docker.DirBuild(j.Spec.BuildDir, j.Spec.BuildArgs, d.appVersion)
		if err != nil {
			return "", err
		}
		if _, err := d.api.EnsureImage(ctx, b); err != nil {
			return "", err
		}
		return b.Tag, nil
	case j.Spec.Image == "":
		return d.runtime.ensure(ctx, d.api)
	}
	if _, err := d.api.InspectImage(ctx, j.Spec.Image); err != nil {
		if docker.IsNotFound(err) {
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
	list, err := d.api.List(ctx, true, map[string]string{docker.LabelJob: j.ID, docker.LabelInstance: d.instance})
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not list containers: %v", err)
	}
	for _, c := range list {
		// Only the container this job created is adopted: a look-alike
		// wearing the same labels is not.
		if c.ID == j.ContainerID {
			p := &dockerProc{api: d.api, id: c.ID, after: d.after}
			if d.remote != "" {
				return &remoteProc{dockerProc: p, volume: jobVolume(j.ID)}, nil
			}
			if j.Spec.Tracking && j.gate.Addr != "" {
				// The container still has the old address in its env: listen
				// there again.
				g, err := startGateway(j.gate.Addr, j.RunID, j.gate.Token, d.trackingAPI)
				netName := "tern-job-" + j.ID
				p.cleanup = func() {
					g.stop()
					_ = d.api.RemoveNetwork(context.Background(), netName)
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
	n, _ := d.api.Reap(ctx, map[string]string{docker.LabelInstance: d.instance, docker.LabelKind: docker.KindTrain},
		func(c docker.Container) bool { return live(c.Labels[docker.LabelJob], c.ID) })
	return n
}

// reapImages removes built-in runtime images of other binaries (an older
// Tern, a rebuilt one): each is rebuilt in a moment if wanted again, and
// one a container still runs stays.
func (d *dockerEngine) reapImages(ctx context.Context) int {
	if d.runtime.binary == nil {
		return 0
	}
	bin, err := d.runtime.binary()
	if err != nil {
		return 0
	}
	current := docker.RuntimeImageTag(d.appVersion, bin)
	n, _ := d.api.ReapImages(ctx, map[string]string{docker.LabelKind: docker.KindRuntime},
		func(img docker.Image) bool { return slices.Contains(img.Tags, current) })
	return n
}

// samples streams the container's CPU and memory use (see sampler).
func (p *dockerProc) samples(ctx context.Context, fn func(docker.Sample)) error {
	return p.api.Stats(ctx, p.id, fn)
}

type dockerProc struct {
	api     DockerAPI
	id      string
	cleanup func() // tracking listener and network, if any
	after   func(time.Duration) <-chan time.Time
}

// trackingNetwork gives a tracking job its internal network and a
// token-only listener on the network's gateway, and points the
// container's MLflow client at it.
func (d *dockerEngine) trackingNetwork(ctx context.Context, j *Job, spec *docker.Spec) (func(), error) {
	if d.trackingAPI == nil {
		return nil, core.Errorf(core.Unavailable, "Logging through the MLflow client is not available in this Tern.")
	}
	name := "tern-job-" + j.ID
	if err := d.api.CreateInternalNetwork(ctx, name, d.labels(j)); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Docker could not create the job's network: %v", err)
	}
	removeNet := func() { _ = d.api.RemoveNetwork(context.Background(), name) }
	gw, err := d.api.NetworkGateway(ctx, name)
	if err != nil || gw == "" {
		removeNet()
		return nil, core.Errorf(core.Unavailable, "The job's network has no gateway address.")
	}
	g, err := startGateway(net.JoinHostPort(gw, "0"), j.RunID, j.gate.Token, d.trackingAPI)
	if err != nil {
		removeNet()
		return nil, core.Wrap(err, core.Unavailable, "Tern could not listen on the job's network: %v", err)
	}
	j.gate.Addr = g.addr
	spec.Network = name
	spec.Env = append(spec.Env, "MLFLOW_TRACKING_URI=http://"+g.addr, "MLFLOW_TRACKING_TOKEN="+j.gate.Token,
		"MLFLOW_RUN_ID="+j.RunID, "MLFLOW_EXPERIMENT_ID="+j.Spec.ExperimentID)
	return func() { g.stop(); removeNet() }, nil
}

func (p *dockerProc) stream(ctx context.Context, from [3]Cursor, fn func(line)) error {
	since := from[stdout].TS
	if from[stderr].TS < since {
		since = from[stderr].TS
	}
	var sinceT time.Time
	if since > 0 {
		sinceT = time.Unix(0, since)
	}
	rc, err := p.api.Logs(ctx, p.id, sinceT)
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
	err = docker.Demux(outW, errW, rc)
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
		werr := p.api.Wait(ctx, p.id)
		if ctx.Err() != nil {
			return exit{}, ctx.Err()
		}
		if werr == nil || docker.IsNotFound(werr) {
			info, err := p.api.Inspect(ctx, p.id)
			if docker.IsNotFound(err) {
				return exit{disappeared: true, code: -1}, nil
			}
			if err == nil {
				if info.Removing() {
					return exit{disappeared: true, code: info.ExitCode}, nil
				}
				if !info.Running {
					if info.ExitCode == 137 && !info.OOMKilled && p.removedSoon(ctx) {
						// `docker rm -f` kills first and removes a moment later.
						return exit{disappeared: true, code: 137}, nil
					}
					return exit{code: info.ExitCode, oom: info.OOMKilled}, nil
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
		case <-p.after(backoff):
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
		info, err := p.api.Inspect(ctx, p.id)
		if docker.IsNotFound(err) || (err == nil && info.Removing()) {
			return true
		}
	}
	return false
}

func (p *dockerProc) stop(ctx context.Context, grace time.Duration) error {
	if err := p.api.Stop(ctx, p.id, grace); err != nil {
		return core.Wrap(err, core.Unavailable, "Docker could not stop the container: %v", err)
	}
	return nil
}

func (p *dockerProc) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = p.api.Remove(ctx, p.id)
	if p.cleanup != nil {
		p.cleanup()
	}
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
