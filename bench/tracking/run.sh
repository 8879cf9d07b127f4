#!/usr/bin/env bash
# Tern tracking vs `mlflow server` (SQLite backend), same machine, same
# requests (bench/tracking/driver speaks the MLflow REST API to both):
#   1. log-batch ingest: 500-point batches from 20 concurrent clients
#   2. listing 1,500 runs x 100 metrics with latest values (runs/search), p95
#   3. a 100k-point series: full get-history, and its downsample to 1,000
#      points (get-history-bulk-interval, what MLflow's UI charts with)
# Prints BENCH lines. Needs python3 (for the mlflow venv) and go.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=bench/out/tracking
VENV=bench/out/mlflow-venv
MLFLOW_VERSION=3.17.2
INGEST_SECONDS=${INGEST_SECONDS:-15}
LIST_REPEAT=${LIST_REPEAT:-15}
HISTORY_REPEAT=${HISTORY_REPEAT:-5}
rm -rf "$OUT" && mkdir -p "$OUT"

if [ ! -x "$VENV/bin/mlflow" ] || ! "$VENV/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION')" 2>/dev/null; then
  echo "setting up mlflow $MLFLOW_VERSION in $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "mlflow==$MLFLOW_VERSION"
fi
go build -o "$OUT/driver" ./bench/tracking/driver
DRIVER="$OUT/driver"
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

pids=()
# each server runs in its own process group, so its workers go with it
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null || true; done
}
trap cleanup EXIT

setsid "$DRIVER" serve -data "$OUT/tern-data" -addr 127.0.0.1:0 -token "$TOKEN" > "$OUT/tern.log" 2>&1 &
pids+=($!)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# MLflow 3's background job workers (huey) are off: they have nothing to
# do with tracking and would take CPU from both servers during the runs.
# A long worker health-check timeout keeps uvicorn from killing a worker
# that is busy with a big search on a loaded machine (it otherwise does,
# and the request fails with EOF).
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$PWD/$OUT/mlflow.db" \
  --artifacts-destination "$PWD/$OUT/mlflow-artifacts" --host 127.0.0.1 --port "$PORT" \
  --uvicorn-opts "--timeout-worker-healthcheck 600" > "$OUT/mlflow.log" 2>&1 &
pids+=($!)
PEER="http://127.0.0.1:$PORT"

for i in $(seq 1 120); do grep -q LISTEN "$OUT/tern.log" 2>/dev/null && break; sleep 0.25; done
OURS="http://$(awk '/LISTEN/{print $2}' "$OUT/tern.log")"
for i in $(seq 1 240); do curl -sf "$PEER/health" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sf "$PEER/health" >/dev/null || { echo "mlflow server did not start; see $OUT/mlflow.log" >&2; exit 1; }

field() { sed -n "s/.*[[:space:]]$1=\([^ ]*\).*/\1/p" | head -1; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.3g}' if b else '-')" "$1" "$2"; }
run() { local who=$1; shift; if [ "$who" = ours ]; then "$DRIVER" "$1" -url "$OURS" -token "$TOKEN" "${@:2}"; else "$DRIVER" "$1" -url "$PEER" "${@:2}"; fi; }

echo "# 1. ingest (${INGEST_SECONDS}s each)" >&2
o=$(run ours ingest -clients 20 -batch 500 -seconds "$INGEST_SECONDS"); echo "ours: $o" >&2
p=$(run peer ingest -clients 20 -batch 500 -seconds "$INGEST_SECONDS"); echo "peer: $p" >&2
oi=$(echo "$o" | field points_per_s); pi=$(echo "$p" | field points_per_s)

echo "# 2. list 1500 runs x 100 metrics" >&2
o=$(run ours populate -runs 1500 -metrics 100); echo "ours: $o" >&2
p=$(run peer populate -runs 1500 -metrics 100); echo "peer: $p" >&2
oe=$(echo "$o" | field exp); pe=$(echo "$p" | field exp)
o=$(run ours list -exp "$oe" -repeat "$LIST_REPEAT"); echo "ours: $o" >&2
p=$(run peer list -exp "$pe" -repeat "$LIST_REPEAT"); echo "peer: $p" >&2
ol=$(echo "$o" | field list_p95_ms); pl=$(echo "$p" | field list_p95_ms)

echo "# 3. 100k-point series" >&2
o=$(run ours history -points 100000 -repeat "$HISTORY_REPEAT"); echo "ours: $o" >&2
p=$(run peer history -points 100000 -repeat "$HISTORY_REPEAT"); echo "peer: $p" >&2
oh=$(echo "$o" | field history_p50_ms); ph=$(echo "$p" | field history_p50_ms)
os_=$(echo "$o" | field sample_p50_ms); ps=$(echo "$p" | field sample_p50_ms)

echo "BENCH tracking_ingest_logbatch_500x20 ours=$oi peer=$pi unit=points/s ratio=$(ratio "$oi" "$pi")"
echo "BENCH tracking_list_1500runs_100metrics_p95 ours=$ol peer=$pl unit=ms ratio=$(ratio "$ol" "$pl")"
echo "BENCH tracking_history_100k_points_p50 ours=$oh peer=$ph unit=ms ratio=$(ratio "$oh" "$ph")"
echo "BENCH tracking_history_downsample_1000_p50 ours=$os_ peer=$ps unit=ms ratio=$(ratio "$os_" "$ps")"
