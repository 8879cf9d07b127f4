package tracking

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Status is a run's state. The terminal ones never change into each other:
// the first end wins.
type Status string

const (
	StatusScheduled Status = "SCHEDULED"
	StatusRunning   Status = "RUNNING"
	StatusFinished  Status = "FINISHED"
	StatusFailed    Status = "FAILED"
	StatusKilled    Status = "KILLED"
	// StatusCrashed is Tern's own: the process or container died without
	// ending the run (missed heartbeats, or the runner saw it exit). The
	// MLflow API reports it as FAILED.
	StatusCrashed Status = "CRASHED"
)

// Terminal reports whether s ends a run.
func (s Status) Terminal() bool {
	switch s {
	case StatusFinished, StatusFailed, StatusKilled, StatusCrashed:
		return true
	}
	return false
}

func (s Status) valid() bool {
	return s == StatusScheduled || s == StatusRunning || s.Terminal()
}

// Lifecycle stages as MLflow names them.
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// DefaultExperimentID is MLflow's pre-created "Default" experiment.
const DefaultExperimentID = "0"

// Float is a metric value that survives JSON: NaN and ±Inf are written as
// the strings "NaN", "Infinity" and "-Infinity" (as MLflow does) instead of
// failing the whole response.
type Float float64

func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	case v == 0 && math.Signbit(v):
		// "-0" would read back as the integer 0 in Python; "-0.0" keeps the sign
		return []byte(`-0.0`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *Float) UnmarshalJSON(b []byte) error {
	v, err := ParseFloat(b)
	if err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// ParseFloat reads a JSON number or one of the strings MLflow clients send
// for non-finite values ("NaN", "Infinity", "-Infinity", also "inf").
func ParseFloat(b []byte) (float64, error) {
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) && ValidJSONNumber(b) {
		// the hot path of ingest: skip a second JSON decode
		return strconv.ParseFloat(string(b), 64)
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		return strconv.ParseFloat(s, 64)
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(string(n), 64)
}

// Metric is one point of a metric series.
type Metric struct {
	Key   string `json:"key"`
	Value Float  `json:"value"`
	// Timestamp is milliseconds since the epoch; 0 means now.
	Timestamp int64 `json:"timestamp"`
	Step      int64 `json:"step"`
}

// Point is a metric value at a step, without its key.
type Point struct {
	Value     Float `json:"value"`
	Timestamp int64 `json:"timestamp"`
	Step      int64 `json:"step"`
}

// Param is one immutable input of a run.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tag is one mutable label of a run.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Experiment groups runs.
type Experiment struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	ArtifactLocation string            `json:"artifactLocation"`
	LifecycleStage   string            `json:"lifecycleStage"`
	CreationTime     int64             `json:"creationTime"`
	LastUpdateTime   int64             `json:"lastUpdateTime"`
	Tags             map[string]string `json:"tags"`
	// RunCount is filled by reads, not stored.
	RunCount int `json:"runCount"`
}

// RunInfo is a run's own record, apart from its params, tags and metrics.
type RunInfo struct {
	ID             string `json:"id"`
	ExperimentID   string `json:"experimentId"`
	Name           string `json:"name"`
	Status         Status `json:"status"`
	StartTime      int64  `json:"startTime"`
	EndTime        int64  `json:"endTime"`
	UserID         string `json:"userId"`
	LifecycleStage string `json:"lifecycleStage"`
	// DeletedTime is when the run went to the trash (0 while active), as
	// MLflow's runs table keeps deleted_time for its gc --older-than.
	DeletedTime    int64  `json:"deletedTime,omitempty"`
	ArtifactURI    string `json:"artifactUri"`
	Source         string `json:"source,omitempty"`
	DatasetVersion string `json:"datasetVersion,omitempty"`
	ImageDigest    string `json:"imageDigest,omitempty"`
	GitCommit      string `json:"gitCommit,omitempty"`
	// Note is the user's markdown note.
	Note string `json:"note,omitempty"`
	// HeartbeatTimeoutMs > 0 makes the run crash when no heartbeat (or any
	// write) arrives for that long while it is running.
	HeartbeatTimeoutMs int64  `json:"heartbeatTimeoutMs,omitempty"`
	StatusReason       string `json:"statusReason,omitempty"`
}

// Duration is how long the run ran (until now for a live one), in ms.
func (r RunInfo) Duration(now time.Time) int64 {
	if r.StartTime == 0 {
		return 0
	}
	end := r.EndTime
	if end == 0 {
		if r.Status.Terminal() {
			return 0
		}
		end = now.UnixMilli()
	}
	return end - r.StartTime
}

// Run is a run with everything the runs table shows: params, tags and the
// latest value of every metric.
type Run struct {
	RunInfo
	Params        map[string]string `json:"params"`
	Tags          map[string]string `json:"tags"`
	Metrics       map[string]Point  `json:"metrics"`
	LastHeartbeat int64             `json:"lastHeartbeat"`
}

// RunSpec describes a run to create.
type RunSpec struct {
	// ExperimentID; empty means the Default experiment "0".
	ExperimentID string
	Name         string
	UserID       string
	// StartTime in ms since the epoch; 0 means now.
	StartTime      int64
	Source         string
	DatasetVersion string
	ImageDigest    string
	GitCommit      string
	Params         map[string]string
	Tags           map[string]string
	// Status defaults to RUNNING.
	Status Status
	// HeartbeatTimeout, when set, turns on crash detection: a running run
	// that goes this long without a heartbeat or a write becomes CRASHED.
	HeartbeatTimeout time.Duration
}

// Batch is what one MLflow log-batch call carries; it is written whole or
// not at all.
type Batch struct {
	Metrics []Metric `json:"metrics"`
	Params  []Param  `json:"params"`
	Tags    []Tag    `json:"tags"`
	// partOf marks a batch written as part of a change with its own audit
	// record (an mlruns import records the run once, not each chunk).
	partOf bool
}

// Limits of one batch, the same as MLflow's.
const (
	MaxMetricsPerBatch    = 1000
	MaxParamsTagsPerBatch = 100
	MaxEntitiesPerBatch   = 1000
	MaxBatchBytes         = 1_000_000
	MaxKeyLength          = 250
	MaxParamValueLength   = 6000
	MaxTagValueLength     = 8000
	MaxExperimentNameLen  = 500
)

// Artifact is one file or directory of a run's artifacts.
type Artifact struct {
	Path  string `json:"path"`
	IsDir bool   `json:"isDir"`
	Size  int64  `json:"size"`
}

// SavedView is a named search: query, sort and the columns shown.
type SavedView struct {
	Name          string   `json:"name"`
	ExperimentIDs []string `json:"experimentIds"`
	Query         string   `json:"query"`
	OrderBy       []string `json:"orderBy"`
	Columns       []string `json:"columns"`
}

// ValidJSONNumber accepts exactly JSON's number grammar, which is narrower
// than strconv's (no "Inf", hex, underscores or leading "+").
func ValidJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	ok := true
	if i < len(b) && b[i] == '.' {
		if i, ok = skipDigits(b, i+1); !ok {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = skipDigits(b, i); !ok {
			return false
		}
	}
	return i == len(b)
}

// skipDigits moves past one or more ASCII digits from i; ok is false when
// there are none.
func skipDigits(b []byte, i int) (next int, ok bool) {
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i, i > start
}
