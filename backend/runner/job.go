package runner

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tern-studio/tern/backend/table"
)

// State is where a job is in its life.
type State string

const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
	// Crashed: the job's process died abnormally (a panic, a signal nobody
	// sent on purpose, or the process lost with Tern).
	Crashed State = "crashed"
)

// Final reports whether the state never changes again.
func (s State) Final() bool {
	return s == Succeeded || s == Failed || s == Cancelled || s == Crashed
}

// Backends.
const (
	BackendDocker = "docker"
	BackendLocal  = "local"
)

// Resources bound a job. Zero values take the defaults.
type Resources struct {
	MemoryMB int     `json:"memoryMb"`
	CPUs     float64 `json:"cpus"`
	Pids     int64   `json:"pids"`
}

// Default limits: enough for the built-in models on a few million rows,
// small enough that a runaway job cannot take the laptop down.
const (
	DefaultMemoryMB = 2048
	DefaultCPUs     = 1.0
	DefaultPids     = 256
)

func (r Resources) withDefaults() Resources {
	if r.MemoryMB <= 0 {
		r.MemoryMB = DefaultMemoryMB
	}
	if r.CPUs <= 0 {
		r.CPUs = DefaultCPUs
	}
	if r.Pids <= 0 {
		r.Pids = DefaultPids
	}
	return r
}

// JobSpec is what to run.
type JobSpec struct {
	// Name of the run to record (defaults to the model and time).
	Name         string `json:"name"`
	ExperimentID string `json:"experimentId"`
	// DataPath is a file on the host (a dataset version's file), mounted
	// read-only at /tern/data/<base name>. DatasetVersion is recorded on
	// the run for lineage.
	DataPath       string `json:"dataPath"`
	DatasetVersion string `json:"datasetVersion"`
	// DataReading is how to read DataPath as its dataset version was
	// imported (format, encoding, delimiter, header, missing-value tokens,
	// the schema after the user's edits): written to /tern/dataset.json,
	// so the built-in runtime trains on the values the profile shows. Nil
	// for a plain file: the runtime detects, as an import would.
	DataReading *table.Options `json:"dataReading,omitempty"`
	// Params go to /tern/params.json and TERN_PARAMS. For the built-in
	// runtime they are ml.Params.
	Params json.RawMessage `json:"params"`
	// Image is a local image to run; empty means the built-in runtime.
	// BuildDir, when set, is a directory with a Dockerfile built locally
	// first (BuildArgs passed to it).
	Image     string            `json:"image"`
	BuildDir  string            `json:"buildDir"`
	BuildArgs map[string]string `json:"buildArgs"`
	// Command overrides the image's command (the built-in runtime's is
	// "train").
	Command   []string  `json:"command"`
	Resources Resources `json:"resources"`
	// Backend forces "docker" or "local"; empty picks Docker when it is
	// running, else the local runner (built-in runtime only).
	Backend string `json:"backend"`
	// Engine names the Docker engine to run on (Settings → Engines);
	// empty or "local" is this machine's. On another engine nothing of the
	// laptop is bind-mounted: the dataset, parameters and read settings
	// are copied into a volume of the job's, and the outputs copied back
	// when it ends.
	Engine string `json:"engine,omitempty"`
	// Tracking gives the container the MLflow tracking API (env
	// MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, MLFLOW_RUN_ID) on a
	// dedicated internal network; Docker only.
	Tracking bool `json:"tracking"`
	// Tags are set on the run when it is created, beside tern.job.
	Tags map[string]string `json:"tags,omitempty"`
}

// Job is a submitted job and what became of it.
type Job struct {
	ID      string  `json:"id"`
	RunID   string  `json:"runId"`
	Spec    JobSpec `json:"spec"`
	State   State   `json:"state"`
	Backend string  `json:"backend"`
	// Note says which backend runs the job and why (e.g. Docker is down).
	Note string `json:"note"`
	// Reason says in words why the job ended.
	Reason      string    `json:"reason"`
	ExitCode    int       `json:"exitCode"`
	Image       string    `json:"image"`
	ContainerID string    `json:"containerId,omitempty"`
	PID         int       `json:"pid,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	// CancelRequested is set when the user cancels, so the exit that
	// follows is worded as a cancel and not as an outside kill.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Cursors are how far each output stream has been processed, so a
	// reattach resumes without duplicates.
	Cursors [3]Cursor `json:"cursors"`
	// LogSize is how much of the log file matches the cursors: a restart
	// cuts the file back to it, so lines written just before a crash are
	// not doubled when they are read again.
	LogSize int64 `json:"logSize"`
	// LastError is the message of the job's {"tern":"error"} line.
	LastError string `json:"lastError,omitempty"`

	// gate is a tracking job's token and listener address; kept out of the
	// JSON (which the UI sees) and stored under its own key.
	gate gateSecret
}

type gateSecret struct {
	Token string `json:"token"`
	Addr  string `json:"addr"`
}

// Cursor marks the last processed line of a stream: its timestamp and how
// many lines carrying exactly that timestamp were processed.
type Cursor struct {
	TS int64 `json:"ts"`
	N  int   `json:"n"`
}

// exit is how a job's process ended.
type exit struct {
	code        int
	oom         bool
	disappeared bool
	lost        bool // a local process that did not survive Tern's restart
}

// describeExit turns an exit into a final state and a sentence.
func describeExit(e exit, cancelRequested bool, memMB int, lastErr string) (State, string) {
	switch {
	case e.disappeared:
		return Failed, "The container disappeared: it was removed from outside Tern while the job ran."
	case e.lost:
		return Crashed, "The job ran as a local process and was lost when Tern stopped."
	case e.oom:
		return Failed, fmt.Sprintf("Out of memory: the job went over its %d MB limit and was killed (exit %d). Raise the memory limit or use less data.", memMB, e.code)
	case cancelRequested:
		return Cancelled, fmt.Sprintf("Cancelled by you (stopped, exit %d).", e.code)
	case e.code == 0:
		return Succeeded, "Finished."
	case e.code == 137:
		return Failed, "Killed from outside Tern (SIGKILL, exit 137), not for lack of memory."
	case e.code == 143:
		return Failed, "Stopped from outside Tern (SIGTERM, exit 143)."
	case e.code == 1 && lastErr != "":
		return Failed, lastErr
	case e.code == 2:
		return Crashed, "The training program crashed (exit 2, e.g. a Go panic or a Python usage error); see the log."
	case e.code > 128:
		return Crashed, fmt.Sprintf("The training program was killed by signal %d (exit %d).", e.code-128, e.code)
	case lastErr != "":
		return Failed, fmt.Sprintf("%s (exit %d)", lastErr, e.code)
	}
	return Failed, fmt.Sprintf("The training program failed with exit code %d; see the log.", e.code)
}
