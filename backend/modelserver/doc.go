// Package modelserver is the HTTP model server that runs inside serving
// containers (`tern-runtime serve`) and in-process for local deployments:
// the MLflow scoring protocol (/invocations, /ping, /health, /version),
// Open Inference (KServe V2), batch decoding checked against the model's
// signature, and Prometheus /metrics. It loads model directories through
// backend/modelfmt and links neither Badger nor the Docker SDK, so the
// static runtime binary stays small.
package modelserver
