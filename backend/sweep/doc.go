// Package sweep searches a model's parameters: many trials of one Train
// request, each a child run of one parent run.
//
// A Spec names the base request (runner.TrainRequest: dataset version,
// target, experiment, a built-in model or your own image, fixed params),
// the Space searched (int and float ranges on linear or log scales,
// categorical choices; for a built-in model it is checked against the
// model's schema, ml.Models, and DefaultSpace proposes one), the sampler
// (grid, random or tpe, seeded), the objective metric and its direction,
// a trial budget, a time budget, a parallelism cap and pruning.
//
// Samplers are pure functions of (space, seed, finished trials, trial
// number), so a resumed sweep proposes what an uninterrupted one would.
// TPE follows Optuna's TPESampler defaults (see TPE for what is copied and
// what is simplified).
//
// Trials run on the runner, as many at once as the runner's slots, the
// machine's cores and memory (runner.Capacity) and the person's cap allow.
// Poor trials are stopped early by the median rule on a validation curve
// (val_loss by default; see prune.go for why not successive halving) and
// marked pruned, on the sweep and on their run (tag tern.sweep.pruned).
// The parent run carries the sweep's settings as params, the objective of
// each trial as a metric series and best_<objective>; each trial's run
// carries mlflow.parentRunId, which MLflow clients and UI read as nesting.
//
// State lives in Badger (one record per sweep, key kind 0x68) and every
// step is saved before it is acted on: a trial's values before its job is
// submitted, the job tagged with the trial (TagTrial) so a restart that
// lost the job ID finds the job instead of submitting again. Start resumes
// the sweeps a previous Tern left running; trials whose job was lost with
// Tern (local processes) run again once with the same values.
//
// # Use from a pipeline step
//
// A train step that sweeps calls Run, which blocks until the sweep ends
// and cancels it when ctx ends:
//
//	sw, err := sweeps.Run(ctx, sweep.Spec{
//		Train:     runner.TrainRequest{DatasetVersionID: v, Target: "y", Model: "gbdt"},
//		Space:     sweep.DefaultSpace("gbdt"),
//		Sampler:   sweep.SamplerTPE,
//		Objective: "test_roc_auc", Maximize: true,
//		MaxTrials: 20, Prune: sweep.Pruning{Enabled: true},
//	})
//	best, ok := sw.BestTrial() // best.RunID is the run to register or evaluate
//	v, err := sweeps.RegisterBest(sw.ID, "churn")
//
// Create, Wait, Get and Cancel are the same steps apart, for a caller that
// does not block.
package sweep
