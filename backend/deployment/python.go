package deployment

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"io"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Pickled scikit-learn models are served by two containers from one
// image, because unpickling runs whatever code the pickle holds:
//
//   - the worker runs pyworker.py, which unpickles the model, with no
//     network at all (--network none), non-root, read-only root, every
//     capability dropped, memory, CPU and pids bounded;
//   - the front runs `tern-runtime serve -worker`, the same server as a
//     native model (MLflow scoring, V2, /metrics, the same signature
//     checks and error shapes), publishes the port on 127.0.0.1 and hands
//     accepted rows to the worker over a Unix socket in a small tmpfs
//     volume only the two mount.
//
// Docker publishes ports only from a container with a network, and a
// container with a network can reach out; splitting the two keeps the
// pickle's process without any. Tern itself never unpickles.

//go:embed pyworker.py
var pyworker []byte

// PythonBase is the image Python models are served on: the scikit-learn
// image the shipped template trains on, built locally by
// backend/runner/templates/sklearn/build-base.sh (debootstrap + docker
// import, no registry), so a model is served by the scikit-learn that
// pickled it.
const PythonBase = "tern-sklearn-base:bookworm"

const (
	workerUser   = 65532
	workerSocket = "/run/tern/worker.sock"
)

// pythonDockerfile: the base, the static front binary, the worker script
// and the model. Nothing is installed: the build runs no command, so it
// needs no network either.
const pythonDockerfile = `ARG BASE=` + PythonBase + `
FROM ${BASE}
COPY tern-runtime /tern/tern-runtime
COPY pyworker.py /tern/pyworker.py
COPY model /tern/model
ENV PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
USER 65532:65532
EXPOSE 8080
`

// pythonPickle says which pickle a model directory's Python worker loads,
// or "" when the directory is not a pickled model (a native one).
func pythonPickle(dir string) (string, error) {
	m, err := modelfmt.Inspect(dir)
	if err != nil || !m.Pickle {
		return "", nil
	}
	return m.PythonPickle()
}

func (d *DockerLauncher) pythonBase() string {
	if d.PythonBase != "" {
		return d.PythonBase
	}
	return PythonBase
}

func (d *DockerLauncher) launchPython(ctx context.Context, s Spec, pickle string) (Instance, error) {
	files, err := d.contextFiles(s.Dir, true)
	if err != nil {
		return Instance{}, err
	}
	tag := imageTag(s.Model, s.Version, files)
	_, err = d.API.EnsureImage(ctx, docker.Build{Tag: tag, Files: files, Args: map[string]string{"BASE": d.pythonBase()}, Labels: map[string]string{
		docker.LabelKind: docker.KindServingImage, docker.LabelModel: s.Model, docker.LabelModelVersion: itoa(s.Version)}})
	if err != nil {
		return Instance{}, core.Wrap(err, core.Unavailable, "Docker could not build the Python serving image for %s v%d: %s Python models are served on %s, which backend/runner/templates/sklearn/build-base.sh builds on this machine.", s.Model, s.Version, core.ErrorMessage(err), d.pythonBase())
	}
	mem, pids := d.limits()
	token := strings.ToLower(core.NewID())
	inst := Instance{Backend: s.Backend, Target: "docker", Model: s.Model, Version: s.Version, Worker: token, Image: tag}
	labels := func(kind string) map[string]string {
		return map[string]string{
			docker.LabelKind: kind, docker.LabelServingInstance: d.Instance, docker.LabelDeployment: s.Deployment,
			docker.LabelBackend: s.Backend, docker.LabelModel: s.Model, docker.LabelModelVersion: itoa(s.Version), docker.LabelWorker: token,
		}
	}
	fail := func(err error, format string, args ...any) (Instance, error) {
		d.Stop(context.Background(), inst)
		return Instance{}, core.Wrap(err, core.Unavailable, format, args...)
	}
	bind := []string{socketVolume(token) + ":/run/tern:rw"}
	if err := d.API.CreateSocketVolume(ctx, socketVolume(token), workerUser, labels(docker.KindServingWorker)); err != nil {
		return fail(err, "Docker could not create the socket volume for %s v%d.", s.Model, s.Version)
	}
	worker, err := d.API.Create(ctx, docker.Spec{
		Name: workerName(token), Image: tag, User: "65532:65532",
		Cmd:    []string{"python3", "/tern/pyworker.py", "/tern/model/" + pickle, workerSocket},
		Labels: labels(docker.KindServingWorker), Network: "none", Binds: bind,
		Tmpfs:  map[string]string{"/tmp": "rw,noexec,nosuid,size=64m"},
		Memory: mem, Pids: pids, NanoCPUs: 1e9, RestartOnFailure: 3,
	})
	if err != nil {
		return fail(err, "Docker could not create the Python worker for %s v%d.", s.Model, s.Version)
	}
	if err := d.API.Start(ctx, worker); err != nil {
		return fail(err, "Docker could not start the Python worker for %s v%d.", s.Model, s.Version)
	}
	front, err := d.API.Create(ctx, docker.Spec{
		Image: tag, User: "65532:65532",
		Cmd: []string{"/tern/tern-runtime", "serve", "-model", "/tern/model", "-addr", "0.0.0.0:8080", "-worker", workerSocket},
		Env: []string{"TERN_MODEL_NAME=" + s.Model, "TERN_MODEL_VERSION=" + itoa(s.Version)}, Labels: labels(docker.KindServing),
		Binds: bind, Publish: servePort, Memory: 128 << 20, Pids: 64, NanoCPUs: 1e9, RestartOnFailure: 3,
	})
	if err != nil {
		return fail(err, "Docker could not create the serving container for %s v%d.", s.Model, s.Version)
	}
	inst.ContainerID = front
	if err := d.API.Start(ctx, front); err != nil {
		return fail(err, "Docker could not start the serving container for %s v%d.", s.Model, s.Version)
	}
	if inst.URL, err = d.url(ctx, front); err != nil {
		d.Stop(context.Background(), inst)
		return Instance{}, err
	}
	if err := d.workerLoaded(ctx, worker, inst.URL); err != nil {
		d.Stop(context.Background(), inst)
		return Instance{}, core.Errorf(core.Unavailable, "%s v%d: %s", s.Model, s.Version, core.ErrorMessage(err))
	}
	return inst, nil
}

// workerLoaded waits until the front answers /ping (it listens only once
// the worker has loaded the model) or the worker has exited, and then
// says why in the worker's own last words: a pickle from another
// scikit-learn, a module the image lacks.
func (d *DockerLauncher) workerLoaded(ctx context.Context, worker, url string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if waitHealthy(ctx, url, 500*time.Millisecond) == nil {
			return nil
		}
		c, err := d.API.Inspect(ctx, worker)
		if err != nil {
			return core.Wrap(err, core.Unavailable, "The Python worker disappeared.")
		}
		if !c.Running && c.ExitCode != 0 {
			why := d.lastLog(worker)
			if c.OOMKilled {
				why = "it ran out of memory"
			}
			return core.Errorf(core.Unavailable, "The Python worker stopped while loading the model (exit %d): %s", c.ExitCode, why)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return core.Errorf(core.Unavailable, "The Python worker did not load the model within 3 minutes.")
}

// lastLog is the last line the container wrote on stderr, or a default.
func (d *DockerLauncher) lastLog(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rc, err := d.API.Logs(ctx, id, time.Time{})
	if err != nil {
		return "no log"
	}
	defer rc.Close()
	var stdout, stderr bytes.Buffer
	_ = docker.Demux(&stdout, &stderr, io.LimitReader(rc, 1<<20))
	last := ""
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " "); ok { // the RFC 3339 time
			line = rest
		}
		if strings.TrimSpace(line) != "" {
			last = line
		}
	}
	if last == "" {
		return "no log"
	}
	if len(last) > 300 {
		last = last[:300] + "…"
	}
	return last
}

func socketVolume(token string) string { return "tern-pysock-" + token }
func workerName(token string) string   { return "tern-pyworker-" + token }

// stopWorker removes a Python front's worker and their socket volume.
func (d *DockerLauncher) stopWorker(ctx context.Context, token string) error {
	_ = d.API.Stop(ctx, workerName(token), 5*time.Second)
	if err := d.API.Remove(ctx, workerName(token)); err != nil {
		return core.Wrap(err, core.Unavailable, "Docker could not remove the Python worker.")
	}
	if err := d.API.RemoveVolume(ctx, socketVolume(token)); err != nil {
		return core.Wrap(err, core.Unavailable, "Docker could not remove the Python worker's socket volume.")
	}
	return nil
}
