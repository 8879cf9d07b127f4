// Package runner runs training jobs: in locked-down Docker containers
// through the Docker adapter (backend/docker; the DockerAPI interface names
// the calls it makes), or as local processes when Docker is absent. It owns
// job states (queued, running, succeeded, failed, cancelled, crashed), a
// concurrency limit, cancel, live log and metric streaming onto the
// core.Bus, recording into tracking through a Sink, reattaching to its
// containers after a restart (found by io.tern.* labels), asking the
// adapter to reap the orphans, and knowing which image a job runs: the
// built-in runtime image (docker.RuntimeBuild, built once per binary), a
// user's Dockerfile folder, or a named local image. While the engine is
// unreachable it retries with backoff, paced by Config's after hook so
// tests hold the pauses by hand.
//
// # Container contract (what a training image sees)
//
//	/tern/data/<file>      the dataset version, read-only
//	/tern/params.json      the job's parameters, read-only (also in env TERN_PARAMS)
//	/tern/dataset.json     how to read the data as the dataset version was imported (table.Options:
//	                       format, encoding, delimiter, header, nullTokens, columns with types and roles)
//	/tern/outputs/         writable; /tern/outputs/model/ is the model, other files become artifacts
//	/tmp                   a small writable tmpfs (the root filesystem is read-only)
//	env TERN_RUN_ID, TERN_JOB_ID
//	stdout                 JSON lines {"tern":"metric","key":"loss","value":0.3,"step":1},
//	                       {"tern":"param","key":"lr","value":"0.1"}, {"tern":"error","message":"..."};
//	                       any other line is a log line, as is everything on stderr
//
// Containers run as a non-root user with every capability dropped,
// no-new-privileges, a read-only root, no network, and memory, CPU and pids
// limits. Exit 0 succeeds; anything else fails with a worded reason.
//
// A job that asks for tracking (JobSpec.Tracking) instead joins its own
// --internal network; Tern serves the MLflow API on that network's gateway
// address only, to the job's own token, for the job's own run.
//
// # Store keys (prefix range 0x60–0x6f)
//
//	0x60 jobID       → Job JSON (state, container, log cursors)
//	0x61 "instance"  → this data dir's runner instance ID (label io.tern.instance)
//	0x62 jobID       → a tracking job's token and listener address (never in the Job JSON)
package runner
