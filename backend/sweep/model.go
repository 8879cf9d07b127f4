package sweep

import (
	"math"
	"time"

	"github.com/tern-studio/tern/backend/runner"
)

// Spec is what a sweep searches and how long.
type Spec struct {
	// Name of the sweep and of its parent run.
	Name string `json:"name"`
	// Train is the base request every trial starts from: the dataset
	// version, target, experiment, model (or own image) and the parameters
	// held fixed. Each trial adds its values to Train.Params.
	Train runner.TrainRequest `json:"train"`
	Space Space               `json:"space"`
	// Sampler: grid, random or tpe.
	Sampler string `json:"sampler"`
	// Seed makes the trials' values repeatable (0 takes 1).
	Seed uint64 `json:"seed"`
	// Objective is the run metric to optimise (e.g. test_roc_auc) and
	// Maximize its direction.
	Objective string `json:"objective"`
	Maximize  bool   `json:"maximize"`
	// MaxTrials is the trial budget; MaxMinutes the time budget (0: none),
	// counted in wall-clock time from the start, so time spent while Tern
	// was closed counts too. When either runs out no trial starts; running
	// ones finish.
	MaxTrials  int     `json:"maxTrials"`
	MaxMinutes float64 `json:"maxMinutes"`
	// Parallelism caps how many trials run at once (0: as many as the
	// runner's slots, cores and memory allow).
	Parallelism int     `json:"parallelism"`
	Prune       Pruning `json:"prune"`
}

// Pruning stops poor trials early by the median rule (see Median).
type Pruning struct {
	Enabled bool `json:"enabled"`
	// Metric is the validation curve watched, always minimised (default
	// val_loss, which the built-in GBDT logs each boosting round when it
	// holds out a validation split).
	Metric string `json:"metric"`
	// StartupTrials must finish before anything is pruned (default 5);
	// WarmupSteps are never pruned (default 10).
	StartupTrials int `json:"startupTrials"`
	WarmupSteps   int `json:"warmupSteps"`
}

// States of a sweep.
type State string

const (
	Running   State = "running"
	Finished  State = "finished"
	Cancelled State = "cancelled"
	Failed    State = "failed"
)

// TrialState is where a trial is.
type TrialState string

const (
	// TrialPending: values chosen and saved, the job not yet known.
	TrialPending  TrialState = "pending"
	TrialRunning  TrialState = "running"
	TrialComplete TrialState = "complete"
	TrialPruned   TrialState = "pruned"
	TrialFailed   TrialState = "failed"
	// TrialCancelled: stopped with the sweep.
	TrialCancelled TrialState = "cancelled"
)

func (s TrialState) final() bool {
	return s == TrialComplete || s == TrialPruned || s == TrialFailed || s == TrialCancelled
}

// Trial is one configuration tried.
type Trial struct {
	Number int        `json:"number"`
	Values Assignment `json:"values"`
	State  TrialState `json:"state"`
	JobID  string     `json:"jobId,omitempty"`
	RunID  string     `json:"runId,omitempty"`
	// Value is the objective (nil until the trial completes).
	Value *float64 `json:"value,omitempty"`
	// Step is the last step of the watched curve seen (where a pruned
	// trial stopped) and Last its value there.
	Step   int64    `json:"step,omitempty"`
	Last   *float64 `json:"last,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// Attempts counts submissions: a trial whose job was lost with Tern
	// (a local process) is submitted again, once.
	Attempts   int       `json:"attempts"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// PruneAt is set when the pruner asked the job to stop.
	PruneAt string `json:"pruneAt,omitempty"`
}

// Sweep is a search and its trials.
type Sweep struct {
	ID          string `json:"id"`
	Spec        Spec   `json:"spec"`
	ParentRunID string `json:"parentRunId"`
	State       State  `json:"state"`
	Reason      string `json:"reason,omitempty"`
	// Parallelism is how many trials run at once and ParallelismWhy says
	// what set it.
	Parallelism    int       `json:"parallelism"`
	ParallelismWhy string    `json:"parallelismWhy"`
	CreatedAt      time.Time `json:"createdAt"`
	Deadline       time.Time `json:"deadline,omitzero"`
	FinishedAt     time.Time `json:"finishedAt,omitzero"`
	// Budget is the trial budget after capping (a grid has no more points
	// than its size).
	Budget          int     `json:"budget"`
	Trials          []Trial `json:"trials"`
	CancelRequested bool    `json:"cancelRequested,omitempty"`
	// Best is the best complete trial's number, -1 before one completes.
	Best int `json:"best"`
	// Registered names the model version made from the best trial.
	Registered string `json:"registered,omitempty"`
}

// score turns a trial's value into the minimised score samplers use.
func (s *Sweep) score(v float64) float64 {
	if s.Spec.Maximize {
		return -v
	}
	return v
}

// observations are the finished trials samplers learn from.
func (s *Sweep) observations() []Observation {
	var out []Observation
	for _, t := range s.Trials {
		switch {
		case t.State == TrialComplete && t.Value != nil:
			out = append(out, Observation{Number: t.Number, Values: t.Values, Score: s.score(*t.Value)})
		case t.State == TrialPruned:
			out = append(out, Observation{Number: t.Number, Values: t.Values, Score: math.Inf(1), Pruned: true})
		}
	}
	return out
}

func (s *Sweep) updateBest() {
	s.Best = -1
	for _, t := range s.Trials {
		if t.State != TrialComplete || t.Value == nil {
			continue
		}
		if s.Best < 0 || s.score(*t.Value) < s.score(*s.Trials[s.Best].Value) {
			s.Best = t.Number
		}
	}
}

func (s *Sweep) running() int {
	n := 0
	for _, t := range s.Trials {
		if !t.State.final() {
			n++
		}
	}
	return n
}
