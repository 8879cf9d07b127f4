// Package mlflowapi serves Tern's tracking store over the MLflow REST API
// (/api/2.0/mlflow/...) and the mlflow-artifacts proxy endpoints, so an
// unmodified `mlflow` Python client pointed at Tern (MLFLOW_TRACKING_URI,
// MLFLOW_TRACKING_TOKEN) logs and reads runs as it would against
// `mlflow server`.
//
// Wire behaviour follows MLflow's server: protobuf-JSON field names,
// int64 fields as JSON numbers, non-finite metric values as the strings
// "NaN", "Infinity" and "-Infinity", errors as
// {"error_code": "...", "message": "..."} with MLflow's status codes
// (400 INVALID_PARAMETER_VALUE / RESOURCE_ALREADY_EXISTS, 404
// RESOURCE_DOES_NOT_EXIST, 500 INTERNAL_ERROR). GET endpoints read query
// parameters, POST endpoints a JSON object; IDs are accepted as strings or
// numbers and unknown fields are ignored.
//
// Retries: log-metric and log-batch are idempotent (a point is its key,
// step, timestamp and value), log-parameter with the same value succeeds,
// set-tag overwrites, update-run to an end status a second time is
// accepted and keeps the first end. Only experiments/create is not: a
// retry after a lost response gets RESOURCE_ALREADY_EXISTS, as in MLflow.
//
// Tern's CRASHED status is reported as FAILED (the client knows no other).
//
// The Model Registry (registered-models/*, model-versions/*) and MLflow 3's
// logged models (logged-models/*, runs/outputs) run over Tern's registry
// (registry.go, logged.go; the API's Registry field): a model version is
// an ordinary registry version copied from the run's artifacts, so the
// Models area lists it. A logged model's files live among its run's
// artifacts at models/<model id>; a version's files are served read-only
// at mlflow-artifacts:/models/<name>/<version>. Stages are not kept
// (MLflow 3 deprecates them for aliases). Pickled flavors (sklearn,
// python_function) are registered and exported but never loaded by Tern.
//
// The routes are handed to httpapi (which applies Host, token and Origin
// checks) by main.go via Routes; Handler is the same API for the runner's
// per-job tracking gateways, which check the job's token themselves.
package mlflowapi
