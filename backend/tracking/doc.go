// Package tracking holds experiments and runs: params, metric step series,
// tags, notes, artifacts, heartbeats and crash detection, and the run search
// language. It is the store behind the runs table, the run detail and the
// MLflow-compatible REST API (package mlflowapi).
//
// # Go API for producers of runs
//
// The training runner and anything else that creates runs uses:
//
//	run, err := svc.CreateRun(tracking.RunSpec{ExperimentID: "0", Name: "gbdt-1", HeartbeatTimeout: time.Minute})
//	svc.LogParams(run.ID, map[string]string{"lr": "0.1"})
//	svc.LogMetrics(run.ID, []tracking.Metric{{Key: "loss", Value: 0.3, Step: 1}})
//	svc.SetTags(run.ID, map[string]string{"team": "risk"})
//	svc.Heartbeat(run.ID)                      // while the process lives
//	svc.LogArtifact(run.ID, "model/model.bin", r)
//	svc.EndRun(run.ID, tracking.StatusFinished) // or SetStatus(id, StatusCrashed, "container exited 137")
//
// Every write is one Badger transaction: a batch is all written or not at
// all, and a call that returned nil is durable against a process kill.
//
// # Key schema (prefix range 0x20–0x2f, see store/keys.go)
//
//	0x20 expID(u64)                          → Experiment JSON
//	0x21 name                                → expID(u64)       experiment name index
//	0x22 runID                               → RunInfo JSON
//	0x23 runID 0 metricKey                   → latest point (step, ts, value)  read by the runs table
//	0x24 runID 0 metricKey 0 step ts bits    → (none)           history, ordered by step then time
//	0x25 runID 0 paramKey                    → value
//	0x26 runID 0 tagKey                      → value
//	0x27 expID(u64) runID                    → (none)           runs of an experiment
//	0x28 paramKey 0 value 0 runID            → (none)           param index
//	0x29 tagKey 0 value 0 runID              → (none)           tag index
//	0x2a viewName                            → SavedView JSON
//	0x2b runID                               → last heartbeat (i64 ms)
//	0x2c "expseq"                            → next experiment id
//	0x2d runID 0 name 0 digest               → DatasetInput JSON  a dataset the run read (log-inputs)
//
// A history point's value is in its key (float64 bits), so logging the same
// (step, timestamp, value) twice is one point, as in MLflow, and a
// retried batch is harmless.
//
// Search runs over an in-memory summary of every run (info, params, tags,
// latest metrics) loaded at start and kept current after each commit; the
// summary is what makes filtering and sorting tens of thousands of runs
// instant, Badger stays the source of truth.
package tracking
