package pipeline

import (
	"encoding/json"
	"time"
)

// RunState is where a run is.
type RunState string

const (
	RunQueued  RunState = "queued"  // waiting for a slot under the concurrency limit
	RunRunning RunState = "running" // steps are running
	// RunWaiting: nothing can move until a person approves or rejects a
	// waiting step; the run holds no slot of the concurrency limit.
	RunWaiting   RunState = "waiting"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	RunCancelled RunState = "cancelled"
)

// Final says the run will not move again (a retry starts it moving anew).
func (s RunState) Final() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// StepState is where a step of a run is.
type StepState string

const (
	StepPending   StepState = "pending"
	StepRunning   StepState = "running"
	StepSucceeded StepState = "succeeded"
	StepFailed    StepState = "failed"
	// StepCached: an earlier successful step had the same cache key; its
	// outputs were reused and nothing ran.
	StepCached StepState = "cached"
	// StepSkipped: an upstream step failed or was cancelled.
	StepSkipped   StepState = "skipped"
	StepCancelled StepState = "cancelled"
	// StepWaiting: the step waits for a person's approval.
	StepWaiting StepState = "waiting"
)

// done says downstream steps may read this step's outputs.
func (s StepState) done() bool { return s == StepSucceeded || s == StepCached }

// final says the step will not move again in this attempt.
func (s StepState) final() bool {
	return s.done() || s == StepFailed || s == StepSkipped || s == StepCancelled
}

// Value is what flows along an edge: a reference to something Tern holds
// (a dataset version, a run, a model version, a deployment, a report).
type Value struct {
	Type PortType `json:"type"`
	// ID finds the thing: a dataset version ID, a run ID, "model:3" for a
	// model version, a deployment ID.
	ID string `json:"id"`
	// Label is how a person names it ("churn v4", "churn @challenger v3").
	Label string `json:"label"`
	// Identity is its content identity for cache keys: a dataset
	// version's SHA-256, a run's ID (a run is its own content), etc.
	Identity string `json:"identity"`
	// Attrs carry what downstream steps need besides the ID (a model
	// version's model and number, a run's experiment).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Data is a small JSON document the value carries itself (an
	// evaluation report), for the steps after it and the run page.
	Data json.RawMessage `json:"data,omitempty"`
}

// Link points at something a step made or used, for the run page.
type Link struct {
	Kind  string `json:"kind"` // dataset_version, run, job, model_version, deployment, webhook
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Firing is one trigger firing that started (or was folded into) a run.
type Firing struct {
	Kind   TriggerKind `json:"kind"`
	Detail string      `json:"detail"` // "new version churn v5", "alert drift on churn-api", "by hand"
	At     time.Time   `json:"at"`
}

// Run is one execution of a pipeline. It keeps a snapshot of the
// pipeline as it was when the run was made, so editing the pipeline never
// changes a run in flight or the record of a finished one.
type Run struct {
	ID         string   `json:"id"`
	PipelineID string   `json:"pipelineId"`
	Pipeline   Pipeline `json:"pipeline"`
	// Number counts runs per pipeline from 1.
	Number int      `json:"number"`
	State  RunState `json:"state"`
	// NoCache re-runs every step even when a cached result exists.
	NoCache bool `json:"noCache,omitempty"`
	// Firings are the triggers behind this run; more than one means the
	// others were coalesced into it while it was queued (OnActiveCoalesce).
	Firings  []Firing  `json:"firings"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Error is why the run failed: the failed step and its sentence.
	Error string `json:"error,omitempty"`
	// CancelRequested is durable so a restart finishes a cancel.
	CancelRequested bool `json:"cancelRequested,omitempty"`
}

// StepRecord is the durable state of one step of one run: what it read,
// what it made, its logs (or the job holding them), timing and cache key.
type StepRecord struct {
	RunID string    `json:"runId"`
	Step  string    `json:"step"`
	Type  string    `json:"type"`
	State StepState `json:"state"`
	// Inputs and Outputs are the values read and produced.
	Inputs  map[string]Value `json:"inputs"`
	Outputs map[string]Value `json:"outputs"`
	// Logs are the step's own lines (the last maxLogLines); a step that
	// runs a job also links the job, whose full log the runner keeps.
	Logs  []string `json:"logs"`
	JobID string   `json:"jobId,omitempty"`
	Links []Link   `json:"links"`
	// Handles are what the executor remembered to find its work again
	// after a restart (a job ID); never shown.
	Handles    map[string]string `json:"handles,omitempty"`
	CacheKey   string            `json:"cacheKey,omitempty"`
	CachedFrom string            `json:"cachedFrom,omitempty"` // "runID/step" reused
	Started    time.Time         `json:"started,omitzero"`
	Finished   time.Time         `json:"finished,omitzero"`
	DurationMs int64             `json:"durationMs"`
	Error      string            `json:"error,omitempty"`
	// Attempts counts executions (1 normally; a retry adds one). A
	// restart that reattaches does not add one.
	Attempts int `json:"attempts"`
	// Approval is a gate's decision by a person, once made.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval records a person's decision on a waiting step.
type Approval struct {
	Approved bool      `json:"approved"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
}

// RunDetail is a run with its steps in pipeline order, for the run page.
type RunDetail struct {
	Run   Run          `json:"run"`
	Steps []StepRecord `json:"steps"`
}

// Summary is a pipeline in the list: its spec and its newest run.
type Summary struct {
	Pipeline Pipeline `json:"pipeline"`
	LastRun  *Run     `json:"lastRun,omitempty"`
	Runs     int      `json:"runs"`
	Active   int      `json:"active"` // runs queued or running
}

// StartOptions tune a manual start.
type StartOptions struct {
	// NoCache runs every step even when a cached result exists
	// ("Re-run without cache").
	NoCache bool `json:"noCache"`
}
