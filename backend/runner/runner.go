package runner

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/store"
)

// Store key kinds (see doc.go).
const (
	kJob      = store.PrefixRunner
	kInstance = store.PrefixRunner + 1
)

// Event topics published on the bus.
const (
	TopicJob     = "training.job"     // Job
	TopicMetrics = "training.metrics" // MetricsEvent
	TopicLog     = "training.log"     // LogEvent
)

// MetricsEvent carries the metric points of one ~100 ms window.
type MetricsEvent struct {
	JobID  string        `json:"jobId"`
	RunID  string        `json:"runId"`
	Points []MetricPoint `json:"points"`
}

// MetricPoint is one metric point for the UI.
type MetricPoint struct {
	Key   string  `json:"key"`
	Value float64 `json:"value"`
	Step  int64   `json:"step"`
}

// LogEvent carries log lines of one ~100 ms window.
type LogEvent struct {
	JobID string   `json:"jobId"`
	Lines []string `json:"lines"`
}

// Config builds a Runner. Zero values take defaults where one makes sense.
type Config struct {
	Store *store.Store
	Bus   *core.Bus
	Sink  Sink
	// DataDir holds each job's working folder (DataDir/jobs/<id>).
	DataDir string
	// JobsDir, when set, holds the working folders instead (JobsDir/<id>):
	// with the data dir encrypted they go outside it, because a job's
	// params, data copy, outputs and log are plaintext the container
	// reads and writes. Outputs are sealed into the run's artifacts when
	// the job ends, and the folder's data and outputs removed.
	JobsDir    string
	AppVersion string
	// RuntimeBinary returns the path of the static tern-runtime binary
	// (run by the local runner and baked into the runtime image).
	RuntimeBinary func() (string, error)
	// Docker is the engine (main.go's one *docker.Client); nil means none
	// (local runner only).
	Docker DockerAPI
	// RemoteDocker returns the engine called name (a JobSpec.Engine other
	// than the local one); nil refuses such jobs.
	RemoteDocker func(name string) (DockerAPI, error)
	// TrackingAPI serves the MLflow REST API to jobs that ask for it
	// (JobSpec.Tracking), behind a per-job token; nil refuses such jobs.
	TrackingAPI http.Handler
	// Limit is how many jobs run at once (default 2).
	Limit int
	// StopGrace is how long a cancelled job gets to stop before it is
	// killed (default 1 s).
	StopGrace time.Duration
	// SampleEvery is how often a container's CPU and memory use is logged
	// on its run as system/* metrics (default 5 s).
	SampleEvery time.Duration

	// after paces the retries taken while the engine is unreachable
	// (default time.After); tests hold and release them by hand instead of
	// sleeping on the wall clock.
	after func(time.Duration) <-chan time.Time
}

// Runner runs and watches jobs.
type Runner struct {
	cfg    Config
	docker *dockerEngine
	// remote are the other engines jobs have run on, by name (under mu).
	remote   map[string]*dockerEngine
	local    *localEngine
	sem      chan struct{}
	ctx      context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	jobs     map[string]*tracked
	instance string
	// runtimeID is the built-in runtime's identity (ImageIdentity).
	runtimeID runtimeID
	// lastTicket is closed once the most recently queued job has taken a
	// slot, so queued jobs start in the order they were submitted.
	lastTicket chan struct{}
}

// tracked is a job this runner is responsible for right now.
type tracked struct {
	mu      sync.Mutex
	job     Job
	proc    process
	engine  engine
	started chan struct{} // closed once proc is set (or the job ended before)
	done    chan struct{}
	// dequeue is closed when a queued job is cancelled.
	dequeue      chan struct{}
	dequeueOnce  sync.Once
	prev, ticket chan struct{}
}

// New builds a runner; call Start to reattach to jobs left running.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Sink == nil || cfg.DataDir == "" {
		return nil, core.Errorf(core.Internal, "runner.New needs a store, a bus, a sink and a data dir.")
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 2
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = time.Second
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 5 * time.Second
	}
	if cfg.AppVersion == "" {
		cfg.AppVersion = "dev"
	}
	if cfg.after == nil {
		cfg.after = time.After
	}
	if cfg.RuntimeBinary == nil {
		cfg.RuntimeBinary = func() (string, error) { return runtimeFrom(embeddedRuntime, cfg.DataDir) }
	}
	r := &Runner{cfg: cfg, sem: make(chan struct{}, cfg.Limit), jobs: map[string]*tracked{}, remote: map[string]*dockerEngine{}}
	r.ctx, r.stop = context.WithCancel(context.Background())
	inst, err := r.loadInstance()
	if err != nil {
		return nil, err
	}
	r.instance = inst
	r.local = &localEngine{binary: cfg.RuntimeBinary}
	if cfg.Docker != nil {
		r.docker = r.newDockerEngine(cfg.Docker, "")
	}
	return r, nil
}

// newDockerEngine runs jobs on api; remote names an engine other than the
// local one (its jobs get no bind mounts and no MLflow gateway).
func (r *Runner) newDockerEngine(api DockerAPI, remote string) *dockerEngine {
	cfg := r.cfg
	return &dockerEngine{api: api, instance: r.instance, appVersion: cfg.AppVersion, trackingAPI: cfg.TrackingAPI, after: cfg.after, ownData: cfg.JobsDir != "",
		remote: remote,
		runtime: &runtimeImage{appVersion: cfg.AppVersion, binary: func() ([]byte, error) {
			p, err := cfg.RuntimeBinary()
			if err != nil {
				return nil, err
			}
			return os.ReadFile(p)
		}}}
}

// isRemote reports whether an engine name is another machine's.
func isRemote(name string) bool { return name != "" && name != "local" }

// dockerFor returns the Docker engine called name ("" or "local": this
// machine's), nil with no error when there is no local one.
func (r *Runner) dockerFor(name string) (*dockerEngine, error) {
	if !isRemote(name) {
		return r.docker, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.remote[name]; d != nil {
		return d, nil
	}
	if r.cfg.RemoteDocker == nil {
		return nil, core.Errorf(core.Unavailable, "This Tern cannot run jobs on other engines.")
	}
	api, err := r.cfg.RemoteDocker(name)
	if err != nil {
		return nil, err
	}
	d := r.newDockerEngine(api, name)
	r.remote[name] = d
	return d, nil
}

// runtimeFrom returns a path to the runtime binary: the embedded one,
// written once into the data dir under its content hash, else
// DefaultRuntimeBinary.
func runtimeFrom(embedded []byte, dataDir string) (string, error) {
	if len(embedded) == 0 {
		return DefaultRuntimeBinary()
	}
	sum := sha256.Sum256(embedded)
	p := filepath.Join(dataDir, "runtime", "tern-runtime-"+hex.EncodeToString(sum[:])[:12])
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(embedded)) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", core.Wrap(err, core.Internal, "Cannot write the runtime binary into %s.", filepath.Dir(p))
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, embedded, 0o755); err != nil {
		return "", core.Wrap(err, core.Internal, "Cannot write the runtime binary into %s.", filepath.Dir(p))
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", core.Wrap(err, core.Internal, "Cannot write the runtime binary into %s.", filepath.Dir(p))
	}
	return p, nil
}

// RuntimeBinary is the path of the runtime this runner uses (the embedded
// one when the app carries it), for other parts that start it, such as
// serving containers.
func (r *Runner) RuntimeBinary() (string, error) { return r.cfg.RuntimeBinary() }

// DefaultRuntimeBinary finds tern-runtime beside the running executable or
// on PATH.
func DefaultRuntimeBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "tern-runtime")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("tern-runtime"); err == nil {
		return p, nil
	}
	return "", core.Errorf(core.Unavailable, "The tern-runtime binary was not found beside Tern or on PATH.")
}

func (r *Runner) loadInstance() (string, error) {
	key := store.Key(kInstance, []byte("instance"))
	var id string
	err := r.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err == nil {
			return item.Value(func(v []byte) error { id = string(v); return nil })
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		id = core.NewID()
		return txn.Set(key, []byte(id))
	})
	if err != nil {
		return "", core.Wrap(err, core.Internal, "Cannot read the runner's instance ID.")
	}
	return id, nil
}

// Instance is the label value marking this data dir's containers.
func (r *Runner) Instance() string { return r.instance }

// DockerStatus says whether Docker answers, in words for the UI.
type DockerStatus struct {
	Available bool   `json:"available"`
	Message   string `json:"message"`
}

// Docker reports the engine's state.
func (r *Runner) Docker(ctx context.Context) DockerStatus {
	if r.docker == nil {
		return DockerStatus{Message: "Docker is not configured: jobs run as local processes."}
	}
	if err := r.docker.available(ctx); err != nil {
		return DockerStatus{Message: "Docker is not running: jobs with the built-in model run as local processes (no isolation, no memory limit)."}
	}
	return DockerStatus{Available: true, Message: "Docker is running."}
}

// Submit validates spec, records a run for it and queues it.
func (r *Runner) Submit(spec JobSpec) (Job, error) {
	if spec.DataPath == "" {
		return Job{}, core.Errorf(core.Invalid, "Choose a dataset version to train on.")
	}
	st, err := os.Stat(spec.DataPath)
	if err != nil || !st.Mode().IsRegular() {
		return Job{}, core.Errorf(core.NotFound, "The data file %s does not exist.", spec.DataPath)
	}
	if len(spec.Params) == 0 {
		spec.Params = json.RawMessage("{}")
	}
	if !json.Valid(spec.Params) {
		return Job{}, core.Errorf(core.Invalid, "The parameters are not valid JSON.")
	}
	if spec.Image == "" && spec.BuildDir == "" {
		var p ml.Params
		if err := json.Unmarshal(spec.Params, &p); err != nil {
			return Job{}, core.Errorf(core.Invalid, "The parameters do not fit the built-in models: %v.", err)
		}
		if _, err := p.WithDefaults(); err != nil {
			return Job{}, err
		}
	}
	switch spec.Backend {
	case "", BackendDocker, BackendLocal:
	default:
		return Job{}, core.Errorf(core.Invalid, "Unknown backend %q: use docker or local.", spec.Backend)
	}
	if isRemote(spec.Engine) {
		if spec.Backend == BackendLocal {
			return Job{}, core.Errorf(core.Invalid, "A job on engine %q runs in Docker there, not as a local process.", spec.Engine)
		}
		if spec.Tracking {
			return Job{}, core.Errorf(core.Invalid, "Logging through the MLflow client is only available on this machine's engine; on engine %q, log metrics as JSON lines on stdout.", spec.Engine)
		}
		if _, err := r.dockerFor(spec.Engine); err != nil {
			return Job{}, err
		}
	}
	if spec.Resources.MemoryMB != 0 && spec.Resources.MemoryMB < 6 {
		return Job{}, core.Errorf(core.Invalid, "The memory limit must be at least 6 MB (Docker's minimum).")
	}
	// What ran it, for whoever repeats it: Tern's version and the host.
	tags := map[string]string{}
	for k, v := range spec.Tags {
		tags[k] = v
	}
	tags[TagVersion], tags[TagHost] = r.cfg.AppVersion, goruntime.GOOS+"/"+goruntime.GOARCH
	spec.Tags = tags
	j := Job{ID: core.NewID(), Spec: spec, State: Queued, CreatedAt: time.Now().UTC()}
	runID, err := r.cfg.Sink.StartRun(&j)
	if err != nil {
		return Job{}, err
	}
	j.RunID = runID
	if err := r.save(&j); err != nil {
		return Job{}, err
	}
	t := r.track(j)
	r.publish(j)
	r.wg.Add(1)
	go r.run(t)
	return j, nil
}

func (r *Runner) track(j Job) *tracked {
	t := &tracked{job: j, started: make(chan struct{}), done: make(chan struct{}), dequeue: make(chan struct{}), ticket: make(chan struct{})}
	r.mu.Lock()
	r.jobs[j.ID] = t
	t.prev, r.lastTicket = r.lastTicket, t.ticket
	r.mu.Unlock()
	return t
}

// save writes the job, with the audit records of the change when it is
// one a person asked for (a job's own progress is its run's records).
func (r *Runner) save(j *Job, recs ...audit.Record) error {
	b, err := json.Marshal(j)
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot encode job %s.", j.ID)
	}
	if err := r.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		for _, rec := range recs {
			if err := audit.Append(txn, rec); err != nil {
				return err
			}
		}
		return txn.Set(store.Key(kJob, []byte(j.ID)), b)
	}); err != nil {
		return core.Wrap(err, core.Internal, "Cannot save job %s.", j.ID)
	}
	return nil
}

func (r *Runner) publish(j Job) { r.cfg.Bus.Publish(TopicJob, j) }

// Get returns a job.
func (r *Runner) Get(id string) (Job, error) {
	r.mu.Lock()
	t := r.jobs[id]
	r.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.job, nil
	}
	var j Job
	err := r.cfg.Store.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(store.Key(kJob, []byte(id)))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &j) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Job{}, core.Errorf(core.NotFound, "There is no job %s.", id)
	}
	if err != nil {
		return Job{}, core.Wrap(err, core.Internal, "Cannot read job %s.", id)
	}
	return j, nil
}

// List returns every job, newest first.
func (r *Runner) List() ([]Job, error) {
	var out []Job
	err := r.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kJob}, true, func(j Job) error {
			out = append(out, j)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot list jobs.")
	}
	for i := range out {
		if live, err := r.Get(out[i].ID); err == nil {
			out[i] = live
		}
	}
	return out, nil
}

// Wait blocks until the job is final (or ctx ends) and returns it.
func (r *Runner) Wait(ctx context.Context, id string) (Job, error) {
	r.mu.Lock()
	t := r.jobs[id]
	r.mu.Unlock()
	if t != nil {
		select {
		case <-t.done:
		case <-ctx.Done():
			return Job{}, ctx.Err()
		}
	}
	return r.Get(id)
}

// Cancel stops a job: a queued one never starts, a running one is sent
// SIGTERM and killed after the grace period.
func (r *Runner) Cancel(id string) error {
	r.mu.Lock()
	t := r.jobs[id]
	r.mu.Unlock()
	if t == nil {
		j, err := r.Get(id)
		if err != nil {
			return err
		}
		return core.Errorf(core.Conflict, "Job %s has already ended (%s).", id, j.State)
	}
	t.mu.Lock()
	if t.job.State.Final() {
		t.mu.Unlock()
		return core.Errorf(core.Conflict, "Job %s has already ended (%s).", id, t.job.State)
	}
	t.job.CancelRequested = true
	j := t.job
	proc := t.proc
	t.mu.Unlock()
	if err := r.save(&j, audit.Record{Action: "job.cancel", Objects: []audit.Object{{Kind: "job", ID: j.ID}, {Kind: "run", ID: j.RunID}}, Before: string(j.State)}); err != nil {
		return err
	}
	if proc == nil {
		t.dequeueOnce.Do(func() { close(t.dequeue) })
	}
	if proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StopGrace+10*time.Second)
		defer cancel()
		return proc.stop(ctx, r.cfg.StopGrace)
	}
	return nil
}

// Logs returns the last n lines of a job's log.
func (r *Runner) Logs(id string, n int) ([]string, error) {
	if _, err := r.Get(id); err != nil {
		return nil, err
	}
	f, err := os.Open(r.workdir(id).log)
	if err != nil {
		return []string{}, nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine+1)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if n > 0 && len(lines) > 2*n {
			lines = append([]string(nil), lines[len(lines)-n:]...)
		}
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

// workdir is a job's folder on the host.
type workdir struct {
	root, outputs, params, log string
	// reading is the dataset version's read settings (dataset.json),
	// written when the job has them.
	reading string
}

func (r *Runner) workdir(id string) workdir {
	root := filepath.Join(r.cfg.DataDir, "jobs", id)
	if r.cfg.JobsDir != "" {
		root = filepath.Join(r.cfg.JobsDir, id)
	}
	return workdir{root: root, outputs: filepath.Join(root, "outputs"), params: filepath.Join(root, "params.json"), log: filepath.Join(root, "job.log"),
		reading: filepath.Join(root, "dataset.json")}
}

func (r *Runner) prepare(j *Job) (workdir, error) {
	w := r.workdir(j.ID)
	if err := os.MkdirAll(w.outputs, 0o755); err != nil {
		return w, core.Wrap(err, core.Internal, "Cannot create the job folder %s.", w.root)
	}
	if err := os.WriteFile(w.params, j.Spec.Params, 0o644); err != nil {
		return w, core.Wrap(err, core.Internal, "Cannot write the job's parameters.")
	}
	if j.Spec.DataReading != nil {
		b, err := json.Marshal(j.Spec.DataReading)
		if err != nil {
			return w, core.Wrap(err, core.Internal, "Cannot encode the dataset's read settings.")
		}
		if err := os.WriteFile(w.reading, b, 0o644); err != nil {
			return w, core.Wrap(err, core.Internal, "Cannot write the dataset's read settings.")
		}
	}
	return w, nil
}

// pickEngine chooses Docker or the local runner, and says why.
func (r *Runner) pickEngine(j *Job) (engine, string, error) {
	if isRemote(j.Spec.Engine) {
		d, err := r.dockerFor(j.Spec.Engine)
		if err != nil {
			return nil, "", err
		}
		if err := d.available(r.ctx); err != nil {
			return nil, "", core.Wrap(err, core.Unavailable, "The job cannot start: %s", core.ErrorMessage(err))
		}
		return d, fmt.Sprintf("Running in a Docker container on engine %q (inputs copied in, outputs copied back).", j.Spec.Engine), nil
	}
	switch j.Spec.Backend {
	case BackendLocal:
		return r.local, "Running as a local process (chosen), without container isolation or memory limit.", nil
	case BackendDocker:
		if r.docker == nil || r.docker.available(r.ctx) != nil {
			return nil, "", core.Errorf(core.Unavailable, "Docker is not running; start it, or run the job locally.")
		}
		return r.docker, "Running in a Docker container.", nil
	}
	if r.docker != nil && r.docker.available(r.ctx) == nil {
		return r.docker, "Running in a Docker container.", nil
	}
	return r.local, "Docker is not available, so this job runs as a local process (no isolation, no memory limit).", nil
}

// run takes a job from queued to final.
func (r *Runner) run(t *tracked) {
	defer r.wg.Done()
	defer audit.Bind(audit.Actor{Face: audit.Job, Who: t.job.RunID})() // what the job changes is the job's
	passTicket := sync.OnceFunc(func() { close(t.ticket) })
	defer passTicket()
	if t.prev != nil {
		select {
		case <-t.prev:
		case <-t.dequeue:
		case <-r.ctx.Done():
			return
		}
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-t.dequeue:
	case <-r.ctx.Done():
		return // stays queued; the next start picks it up
	}
	passTicket()
	t.mu.Lock()
	j := t.job
	t.mu.Unlock()
	if j.CancelRequested {
		r.finish(t, nil, Cancelled, "Cancelled before it started.", 0)
		return
	}
	eng, why, err := r.pickEngine(&j)
	if err != nil {
		r.finish(t, nil, Failed, core.ErrorMessage(err), 0)
		return
	}
	w, err := r.prepare(&j)
	if err != nil {
		r.finish(t, nil, Failed, core.ErrorMessage(err), 0)
		return
	}
	if j.Spec.Tracking {
		if eng.name() != BackendDocker {
			r.finish(t, nil, Failed, "Logging through the MLflow client needs Docker (a job network); start Docker, or log with JSON lines.", 0)
			return
		}
		j.gate.Token = newToken()
	}
	proc, err := eng.start(r.ctx, &j, w)
	if err == nil && j.Spec.Tracking {
		err = r.saveGate(j.ID, j.gate)
		if err != nil {
			proc.remove(context.Background())
		}
	}
	if err != nil {
		if r.ctx.Err() != nil {
			return // Tern is quitting: the job stays queued for the next start
		}
		r.finish(t, nil, Failed, core.ErrorMessage(err), 0)
		return
	}
	t.mu.Lock()
	t.job.Backend, t.job.Image, t.job.ContainerID, t.job.PID = eng.name(), j.Image, j.ContainerID, j.PID
	t.job.State, t.job.StartedAt, t.job.Note = Running, time.Now().UTC(), why
	t.proc, t.engine = proc, eng
	cancelled := t.job.CancelRequested
	snap := t.job
	t.mu.Unlock()
	close(t.started)
	_ = r.save(&snap)
	_ = r.cfg.Sink.EndRun(snap.RunID, Running, "")
	_ = r.cfg.Sink.SetTags(snap.RunID, r.imageTags(eng, snap))
	r.publish(snap)
	if cancelled {
		_ = proc.stop(r.ctx, r.cfg.StopGrace)
	}
	r.monitor(t)
}

// sampler is a process whose engine reports its resource use (a Docker
// container; a local process is not sampled).
type sampler interface {
	samples(ctx context.Context, fn func(docker.Sample)) error
}

// System metrics, under MLflow's names for them (mlflow.system_metrics),
// logged while a job runs so its run shows what it cost beside its curves.
const (
	MetricCPU           = "system/cpu_utilization_percentage"
	MetricMemory        = "system/system_memory_usage_megabytes"
	MetricMemoryPercent = "system/system_memory_usage_percentage"
)

// sample logs the job's resource use until ctx ends: a reading every
// Config.SampleEvery (the engine reads about once a second), numbered from 0 as MLflow numbers them (from 0 again after
// a reattach).
func (r *Runner) sample(ctx context.Context, sp sampler, s *streamer) {
	var step int64 = -1
	var last time.Time
	_ = sp.samples(ctx, func(x docker.Sample) {
		now := time.Now()
		if now.Sub(last) < r.cfg.SampleEvery {
			return
		}
		last = now
		step++
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.dirty { // as handle: the cursors saved with it stay the job's
			s.t.mu.Lock()
			s.cursors = s.t.job.Cursors
			s.t.mu.Unlock()
		}
		s.dirty = true
		s.metrics = append(s.metrics,
			Metric{Key: MetricCPU, Value: x.CPUPercent, Step: step, Time: now},
			Metric{Key: MetricMemory, Value: x.MemoryMB, Step: step, Time: now},
			Metric{Key: MetricMemoryPercent, Value: x.MemoryPercent, Step: step, Time: now})
	})
}

// Run tags the runner sets: enough to repeat a run exactly.
const (
	TagVersion       = "tern.version"        // Tern's version
	TagHost          = "tern.host.platform"  // OS/arch of the machine that started the job
	TagImage         = "tern.image"          // the image (or runtime) the job ran
	TagImageDigest   = "tern.image.digest"   // its content: the image ID, or the runtime binary's hash
	TagDatasetDigest = "tern.dataset.digest" // SHA-256 of the dataset version's bytes
	TagRerunOf       = "tern.rerun_of"       // the run a re-run repeats
	TagGitCommit     = "mlflow.source.git.commit"
	TagGitDirty      = "tern.source.git.dirty"
)

// imageTags names what a started job runs: its image and that image's
// content (Docker's image ID), or for a local process the runtime binary
// (its tag carries the binary's hash).
func (r *Runner) imageTags(eng engine, j Job) map[string]string {
	if eng.name() == BackendLocal {
		id, err := r.ImageIdentity(r.ctx, "")
		if err != nil {
			return nil
		}
		return map[string]string{TagImage: "tern-runtime (local process)", TagImageDigest: id}
	}
	tags := map[string]string{TagImage: j.Image}
	// Asked of the engine that ran it: another engine's image is not here.
	if d, ok := eng.(*dockerEngine); ok {
		if img, err := d.api.InspectImage(r.ctx, j.Image); err == nil {
			tags[TagImageDigest] = img.ID
		}
	}
	return tags
}

// monitor streams a running job's output into tracking and the bus until
// it exits, then finalises it. If the runner is closing, it returns without
// finalising: the container keeps running and the next start reattaches.
func (r *Runner) monitor(t *tracked) {
	t.mu.Lock()
	proc, eng, j := t.proc, t.engine, t.job
	t.mu.Unlock()
	w := r.workdir(j.ID)
	logf, _ := os.OpenFile(w.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if logf != nil {
		_ = logf.Truncate(j.LogSize)
	}
	s := &streamer{r: r, t: t, log: logf, logSize: j.LogSize, params: map[string]string{}, tags: map[string]string{}}

	streamCtx, stopStream := context.WithCancel(r.ctx)
	streamDone := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(streamDone)
		for {
			t.mu.Lock()
			from := t.job.Cursors
			t.mu.Unlock()
			_ = proc.stream(streamCtx, from, s.handle)
			select {
			case <-exited:
				return
			case <-streamCtx.Done():
				return
			default:
			}
			if eng.name() == BackendLocal {
				return
			}
			// The log stream broke while the job still runs (the engine
			// restarted): resume from the cursors.
			select {
			case <-r.cfg.after(time.Second):
			case <-exited:
			case <-streamCtx.Done():
				return
			}
		}
	}()
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		if sp, ok := proc.(sampler); ok {
			r.sample(streamCtx, sp, s)
		}
	}()
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				s.flush()
			case <-streamDone:
				return
			}
		}
	}()

	ex, err := proc.wait(r.ctx)
	close(exited)
	if err == nil {
		// Let the tail of the output arrive; the stream ends at exit.
		select {
		case <-streamDone:
		case <-time.After(3 * time.Second):
		}
	}
	stopStream()
	<-streamDone
	<-sampleDone
	<-flushDone
	s.flush()
	if logf != nil {
		logf.Close()
	}
	if err != nil {
		// The runner is closing (r.ctx done): leave the job running.
		if eng.name() == BackendLocal {
			_ = proc.stop(context.Background(), 0)
			r.finish(t, proc, Crashed, "Tern quit while the job ran as a local process.", -1)
		}
		return
	}
	t.mu.Lock()
	cancelReq, lastErr := t.job.CancelRequested, t.job.LastError
	mem := t.job.Spec.Resources.withDefaults().MemoryMB
	t.mu.Unlock()
	state, reason := describeExit(ex, cancelReq, mem, lastErr)
	if state == Succeeded {
		// On another engine the outputs are in the job's volume there.
		if c, ok := proc.(copiesOut); ok {
			if err := c.copyOut(r.ctx, w.outputs); err != nil {
				state, reason = Failed, "The job finished but its outputs could not be copied back: "+core.ErrorMessage(err)
			}
		}
	}
	if state == Succeeded {
		if err := r.cfg.Sink.SaveOutputs(j.RunID, w.outputs); err != nil {
			state, reason = Failed, "The job finished but its outputs could not be saved: "+core.ErrorMessage(err)
		}
	}
	r.finish(t, proc, state, reason, ex.code)
}

// finish records a final state everywhere, once.
func (r *Runner) finish(t *tracked, proc process, state State, reason string, code int) {
	t.mu.Lock()
	if t.job.State.Final() {
		t.mu.Unlock()
		return
	}
	t.job.State, t.job.Reason, t.job.ExitCode, t.job.FinishedAt = state, reason, code, time.Now().UTC()
	j := t.job
	t.mu.Unlock()
	_ = r.save(&j)
	_ = r.cfg.Sink.EndRun(j.RunID, state, reason)
	if j.Spec.Tracking {
		r.dropToken(j.ID)
	}
	if proc != nil {
		proc.remove(context.Background())
	}
	// The outputs are in the run's artifacts now (or were not worth
	// keeping), and a staged data copy is never needed again: free the
	// disk, keep the log.
	w := r.workdir(j.ID)
	_ = os.RemoveAll(w.outputs)
	_ = os.RemoveAll(filepath.Join(w.root, "data"))
	select {
	case <-t.started:
	default:
		close(t.started)
	}
	r.mu.Lock()
	delete(r.jobs, j.ID)
	r.mu.Unlock()
	close(t.done)
	r.publish(j)
}

// Start reattaches to jobs left running by a previous Tern (found by their
// labels), requeues queued ones, finalises jobs whose process is gone, and
// reaps this instance's containers that belong to no job and runtime
// images of other binaries.
func (r *Runner) Start(ctx context.Context) error {
	jobs, err := r.List()
	if err != nil {
		return err
	}
	// Oldest first, so queued jobs start again in the order they were
	// submitted (List is newest first).
	slices.Reverse(jobs)
	for _, j := range jobs {
		if j.State.Final() {
			continue
		}
		r.mu.Lock()
		_, mine := r.jobs[j.ID]
		r.mu.Unlock()
		if mine {
			continue
		}
		t := r.track(j)
		if j.State != Queued {
			// A job already past the queue never takes a slot, so it hands
			// its ticket on at once: a queued job tracked after it would
			// otherwise wait on it forever.
			close(t.ticket)
		}
		switch {
		case j.State == Queued:
			r.wg.Add(1)
			go r.run(t)
		case j.Backend == BackendDocker && (r.docker != nil || isRemote(j.Spec.Engine)):
			if j.Spec.Tracking {
				j.gate = r.loadGate(j.ID)
			}
			d, err := r.dockerFor(j.Spec.Engine)
			if err != nil {
				r.finish(t, nil, Failed, fmt.Sprintf("The job ran on engine %q, which Tern can no longer reach: %s", j.Spec.Engine, core.ErrorMessage(err)), -1)
				continue
			}
			proc, err := d.attach(ctx, &j)
			if err != nil {
				if core.ErrorCode(err) == core.NotFound {
					r.finish(t, nil, Failed, "The container disappeared while Tern was not running.", -1)
				} else {
					// Docker is down: the job stays running and unknown
					// until it comes back; try again in the background.
					r.wg.Add(1)
					go r.reattachLater(t)
				}
				continue
			}
			r.adopt(t, proc, d)
		default:
			r.finish(t, nil, Crashed, "The job ran as a local process and was lost when Tern stopped.", -1)
		}
	}
	if r.docker != nil && r.docker.available(ctx) == nil {
		r.docker.reap(ctx, func(jobID, containerID string) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			t := r.jobs[jobID]
			if t == nil {
				return false
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			return t.job.ContainerID == containerID || t.job.State == Queued
		})
		r.docker.reapImages(ctx)
	}
	return nil
}

func (r *Runner) adopt(t *tracked, proc process, eng engine) {
	t.mu.Lock()
	t.proc, t.engine = proc, eng
	t.mu.Unlock()
	close(t.started)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.monitor(t)
	}()
}

func (r *Runner) reattachLater(t *tracked) {
	defer r.wg.Done()
	defer audit.Bind(audit.Actor{Face: audit.Job, Who: t.job.RunID})()
	backoff := time.Second
	for {
		select {
		case <-r.cfg.after(backoff):
		case <-r.ctx.Done():
			return
		}
		t.mu.Lock()
		j := t.job
		t.mu.Unlock()
		if j.Spec.Tracking {
			j.gate = r.loadGate(j.ID)
		}
		d, err := r.dockerFor(j.Spec.Engine)
		if err != nil {
			r.finish(t, nil, Failed, fmt.Sprintf("The job ran on engine %q, which Tern can no longer reach: %s", j.Spec.Engine, core.ErrorMessage(err)), -1)
			return
		}
		proc, err := d.attach(r.ctx, &j)
		if err == nil {
			r.adopt(t, proc, d)
			return
		}
		if core.ErrorCode(err) == core.NotFound {
			r.finish(t, nil, Failed, "The container disappeared while Docker was unreachable.", -1)
			return
		}
		if backoff < 30*time.Second {
			backoff *= 2
		}
	}
}

// Close stops watching jobs. Containers keep running (the next Start
// reattaches); local processes are stopped.
func (r *Runner) Close() {
	r.stop()
	r.wg.Wait()
}

// streamer turns output lines into metrics, params and log lines, batching
// them into ~100 ms flushes to tracking and the bus.
type streamer struct {
	r       *Runner
	t       *tracked
	log     *os.File
	mu      sync.Mutex
	metrics []Metric
	params  map[string]string
	tags    map[string]string
	lines   []string
	cursors [3]Cursor
	logSize int64
	dirty   bool
}

// protocolLine is a JSON line of the container contract.
type protocolLine struct {
	Tern    string          `json:"tern"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Step    int64           `json:"step"`
	Message string          `json:"message"`
}

func (s *streamer) handle(l line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		s.t.mu.Lock()
		s.cursors = s.t.job.Cursors
		s.t.mu.Unlock()
	}
	s.dirty = true
	c := &s.cursors[l.stream]
	if n := l.ts.UnixNano(); n == c.TS {
		c.N++
	} else {
		c.TS, c.N = n, 1
	}
	text := strings.TrimRight(l.text, "\r")
	if l.stream == stdout && strings.HasPrefix(text, "{") && strings.Contains(text, `"tern"`) {
		var p protocolLine
		if json.Unmarshal([]byte(text), &p) == nil && p.Tern != "" {
			switch p.Tern {
			case "metric":
				if v, ok := metricValue(p.Value); ok && p.Key != "" {
					s.metrics = append(s.metrics, Metric{Key: p.Key, Value: v, Step: p.Step, Time: l.ts})
				}
				return
			case "param":
				var v any
				_ = json.Unmarshal(p.Value, &v)
				if p.Key != "" {
					s.params[p.Key] = fmt.Sprint(v)
				}
				return
			case "tag":
				var v any
				_ = json.Unmarshal(p.Value, &v)
				// Tern's own tags are the runner's to set (tern.job names
				// the job); a job may only describe its runtime.
				if p.Key != "" && (!strings.HasPrefix(p.Key, "tern.") || strings.HasPrefix(p.Key, "tern.runtime.")) {
					s.tags[p.Key] = fmt.Sprint(v)
				}
				return
			case "error":
				s.t.mu.Lock()
				s.t.job.LastError = p.Message
				s.t.mu.Unlock()
				text = "error: " + p.Message
			case "status":
				text = p.Message
			}
		}
	}
	s.lines = append(s.lines, text)
}

func metricValue(raw json.RawMessage) (float64, bool) {
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.NaN(), true
		case "Infinity", "inf":
			return math.Inf(1), true
		case "-Infinity", "-inf":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// flush writes what arrived since the last flush: metrics and params to
// the sink first, then the cursors, so a crash in between repeats points
// (harmless: same timestamp, same value, one point) rather than losing them.
func (s *streamer) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return
	}
	s.t.mu.Lock()
	runID, jobID := s.t.job.RunID, s.t.job.ID
	s.t.mu.Unlock()
	if len(s.params) > 0 {
		_ = s.r.cfg.Sink.LogParams(runID, s.params)
		s.params = map[string]string{}
	}
	if len(s.tags) > 0 {
		_ = s.r.cfg.Sink.SetTags(runID, s.tags)
		s.tags = map[string]string{}
	}
	if len(s.metrics) > 0 {
		_ = s.r.cfg.Sink.LogMetrics(runID, s.metrics)
		ev := MetricsEvent{JobID: jobID, RunID: runID}
		for _, m := range s.metrics {
			if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
				ev.Points = append(ev.Points, MetricPoint{Key: m.Key, Value: m.Value, Step: m.Step})
			}
		}
		s.r.cfg.Bus.Publish(TopicMetrics, ev)
		s.metrics = nil
	}
	if len(s.lines) > 0 {
		if s.log != nil {
			var b strings.Builder
			for _, l := range s.lines {
				b.WriteString(l)
				b.WriteByte('\n')
			}
			n, _ := s.log.WriteString(b.String())
			s.logSize += int64(n)
		}
		s.r.cfg.Bus.Publish(TopicLog, LogEvent{JobID: jobID, Lines: s.lines})
		s.lines = nil
	}
	s.t.mu.Lock()
	s.t.job.Cursors = s.cursors
	s.t.job.LogSize = s.logSize
	j := s.t.job
	s.t.mu.Unlock()
	_ = s.r.save(&j)
	s.dirty = false
}
