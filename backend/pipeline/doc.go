// Package pipeline is Tern's continuous-training loop: pipelines are DAGs
// of typed steps (data → validate → train → register → notify …) plus the
// triggers that start them, stored in Badger and run by a durable executor.
//
// # The spec
//
// A Pipeline holds Steps and Triggers. Each Step is an instance of a
// StepType from the engine's registry (Types): the type declares its
// fields (name, kind, required, default, help — what the UI's form is
// generated from), its typed inputs and its typed outputs (PortType:
// dataset_version, run, model_version, deployment, report; an input of
// type "any" only orders). A step wires each input to an upstream step's
// output as "step.output". Validate refuses, each with a sentence naming
// the place: unknown step types, unknown or missing fields, values of the
// wrong kind, inputs wired to missing steps or outputs or to outputs of
// another type, unwired inputs, duplicate ids, and cycles (named: a → b →
// a). Only step types whose service exists are registered, so a pipeline
// never holds a step that does nothing.
//
// # The YAML file
//
// ExportYAML/ParseYAML read and write the same spec (export then import
// gives an equal Pipeline); keys are snake_case, fields and inputs sorted
// so files diff well. ParseYAML walks a yaml.Node tree so every refusal
// names a line; aliases are refused outright (no alias bombs) and files
// above MaxYAML are refused before parsing.
//
//	name: retrain-churn
//	on_active: coalesce
//	triggers:
//	  - kind: dataset
//	    dataset: churn
//	steps:
//	  - id: data
//	    type: data.newest
//	    fields: {dataset: churn}
//	  - id: check
//	    type: validate
//	    inputs: {version: data.version}
//	  - id: train
//	    type: train
//	    fields: {model: gbdt, target: churned}
//	    inputs: {version: check.version}
//
// # Runs and durability
//
// A Run snapshots its pipeline and has one StepRecord per step (state,
// inputs, outputs, logs or the job holding them, links, handles, cache
// key, times). Every state change is written before it is acted on. On
// start-up (Engine.Run) runs left "running" are resumed: steps that ended
// are never repeated, pending ones continue, and a step left "running" is
// handed back to its executor, which finds its work by the handles it
// remembered (Exec.Remember) or by the step's Key it tagged its work with
// (a training job's name), and waits on it instead of starting it again.
// Cancel is written first and finished by whichever process runs next;
// Retry re-queues a failed or cancelled step and what it blocked. At most
// Config.Limit runs execute at once across all pipelines, and one run of
// each pipeline at a time (a second one would train the same data again
// and ramp into the same deployment); others wait as "queued".
//
// # Caching
//
// A cacheable step's key is the SHA-256 of its type, its fields (with
// defaults), its inputs' content identities (a dataset version's digest,
// an upstream run's ID) and what its executor adds through Keyer (the
// newest version's digest, the training image's identity, the dataset's
// rules). A key that matches an earlier successful step reuses that
// step's outputs: the step is "cached" and nothing runs. Steps that act
// on the world (deploy, watch) also say, through Reuser, whether the hit
// still holds: a cached ramp is reused only while its candidate still
// takes all of the deployment's traffic, so a second run with nothing new
// is fully cached and one after a hand rollback ramps again. A run started
// with NoCache ("Re-run without cache") runs every step.
//
// # Triggers while a run is active
//
// Manual starts always make a new run. Other triggers follow the
// pipeline's OnActive: "coalesce" (the default) folds a firing into the
// run already queued, so a storm of alerts or files makes at most one
// waiting run, which reads the newest data when it starts — retraining
// ten times on the same newest version would waste the machine; every
// folded firing is listed in the run's Firings. "queue" makes one run per
// firing.
//
// # Store keys (prefix range 0x80–0x8f)
//
//	0x80 pipelineID               → Pipeline
//	0x81 runID                    → Run (runID sorts by creation time)
//	0x82 runID 0x00 step          → StepRecord
//	0x83 cacheKey                 → {runId, step} of the step that made it
//	0x84 pipelineID 0x00 runID    → (index: a pipeline's runs)
//	0x85 pipelineID 0x00 trigger  → what the trigger fired for (version number, last schedule time)
package pipeline
