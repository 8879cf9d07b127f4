#!/usr/bin/env bash
# Serving benchmark: the same XGBoost model (100 trees, depth 6, 10 features)
# and the same one-row MLflow request, on loopback, on this machine:
#   ours   = `tern-runtime serve` (what a serving container runs), directly and
#            through Tern's router with the prediction log writing to Badger;
#   peer   = gunicorn (2 sync workers, one per core) + xgboost, a minimal
#            MLflow-scoring-compatible WSGI app (peer_app.py).
# Load comes from servebench's Go load generator, bounded in time.
# Prints BENCH lines (see CONTRACT). Env: REPEAT (default 3), SECONDS_EACH
# (default 10), LOG_SECONDS (default 60; the 5,000 req/s logging run),
# LOG_WORKERS (default 128), ONLY_LOG=1 (just the logging run), SKIP_PEER=1.
# "not_sent" counts requests the open-loop generator could not issue on
# schedule because all its workers were waiting on the server: when it is
# not 0 the machine could not sustain 5,000 req/s through the router.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/bench/out/serving"
mkdir -p "$out/model"
REPEAT="${REPEAT:-3}"
SECS="${SECONDS_EACH:-10}"
LOG_SECONDS="${LOG_SECONDS:-60}"
PD=18601 PR=18602 PA=18603 PP=18604

venv="$root/bench/out/serving-venv"
if ! "$venv/bin/python" -c "import xgboost, numpy, gunicorn; assert xgboost.__version__ == '3.2.0'" 2>/dev/null; then
  echo "# creating the peer venv (xgboost-cpu, numpy, gunicorn)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "xgboost-cpu==3.2.0" "numpy==2.4.6" "gunicorn==27.0.1"
fi

echo "# training the benchmark model" >&2
ref=$("$venv/bin/python" "$here/train_model.py" "$out/model")
printf 'flavors:\n  xgboost:\n    data: model.json\n    model_format: json\n' > "$out/model/MLmodel"
mv "$out/model/request.json" "$out/request.json"

echo "# building tern-runtime and servebench" >&2
(cd "$root" && CGO_ENABLED=0 go build -o "$out/tern-runtime" ./backend/cmd/tern-runtime && go build -o "$out/servebench" ./bench/serving)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$out/servebench" harness -runtime "$out/tern-runtime" -model "$out/model" -port-direct $PD -port-router $PR -port-admin $PA > "$out/harness.log" 2>&1 &
pids+=($!)
if [[ "${SKIP_PEER:-}" != 1 ]]; then
  (cd "$here" && MODEL_FILE="$out/model/model.json" exec "$venv/bin/gunicorn" -w 2 -b 127.0.0.1:$PP --log-level warning peer_app:app) > "$out/peer.log" 2>&1 &
  pids+=($!)
fi
for url in "http://127.0.0.1:$PR/ping" $([[ "${SKIP_PEER:-}" != 1 ]] && echo "http://127.0.0.1:$PP/ping"); do
  for i in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.2; done
done

body="$out/request.json"
ours_pred=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "http://127.0.0.1:$PR/invocations")
echo "# reference $ref; tern: $ours_pred" >&2
if [[ "${SKIP_PEER:-}" != 1 ]]; then
  peer_pred=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "http://127.0.0.1:$PP/invocations")
  echo "# peer: $peer_pred" >&2
fi

load() { "$out/servebench" load -body "$body" -url "$1/invocations" -c "$2" -d "${3}s" ${4:+-rate $4}; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s..%s", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

declare -A vals
add() { vals[$1]="${vals[$1]:-} $2"; }
[[ "${ONLY_LOG:-}" == 1 ]] && REPEAT=0
for r in $(seq "$REPEAT"); do
  echo "# round $r/$REPEAT" >&2
  for target in direct router peer; do
    case $target in direct) url=http://127.0.0.1:$PD;; router) url=http://127.0.0.1:$PR;; peer) url=http://127.0.0.1:$PP;; esac
    [[ $target == peer && "${SKIP_PEER:-}" == 1 ]] && continue
    res=$(load "$url" 10 "$SECS"); echo "# $target c10: $res" >&2
    add "${target}_c10_rps" "$(field "$res" rps)"; add "${target}_c10_p99" "$(field "$res" p99_ms)"
    res=$(load "$url" 1 "$SECS"); echo "# $target c1: $res" >&2
    add "${target}_c1_p50" "$(field "$res" p50_ms)"; add "${target}_c1_p99" "$(field "$res" p99_ms)"
  done
done
m() { median ${vals[$1]:-0}; }
echo "# spreads over $REPEAT rounds:" >&2
for k in "${!vals[@]}"; do echo "#   $k: $(spread ${vals[$k]})" >&2; done

if [[ "${ONLY_LOG:-}" != 1 ]]; then
peer_rps=$(m peer_c10_rps)
[[ "${SKIP_PEER:-}" == 1 ]] && peer_rps=0
echo "BENCH serving_throughput_c10_direct ours=$(m direct_c10_rps) peer=${peer_rps/#0/-} unit=req/s ratio=$(ratio "$(m direct_c10_rps)" "$peer_rps")"
echo "BENCH serving_throughput_c10_router ours=$(m router_c10_rps) peer=${peer_rps/#0/-} unit=req/s ratio=$(ratio "$(m router_c10_rps)" "$peer_rps")"
echo "BENCH serving_p99_router_c1 ours=$(m router_c1_p99) peer=$(m peer_c1_p99) unit=ms ratio=$(ratio "$(m router_c1_p99)" "$(m peer_c1_p99)")"
echo "BENCH serving_p99_router_c10 ours=$(m router_c10_p99) peer=$(m peer_c10_p99) unit=ms ratio=$(ratio "$(m router_c10_p99)" "$(m peer_c10_p99)")"
overhead=$(awk -v a="$(m router_c1_p50)" -v b="$(m direct_c1_p50)" 'BEGIN{printf "%.3f", a-b}')
echo "BENCH serving_router_overhead_p50 ours=$overhead peer=- unit=ms ratio=-"
fi

echo "# logging: 5000 req/s through the router for ${LOG_SECONDS}s" >&2
before=$(curl -sf "http://127.0.0.1:$PA/stats")
res=$(load "http://127.0.0.1:$PR" "${LOG_WORKERS:-128}" "$LOG_SECONDS" 5000); echo "# $res" >&2
sleep 1
after=$(curl -sf "http://127.0.0.1:$PA/stats")
echo "# log before $before after $after" >&2
dropped=$(( $(field "$after" dropped) - $(field "$before" dropped) ))
written=$(( $(field "$after" written) - $(field "$before" written) ))
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_dropped ours=$dropped peer=- unit=records ratio=-"
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_written ours=$written peer=- unit=records ratio=-"
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_achieved ours=$(field "$res" rps) peer=- unit=req/s ratio=-"
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_p99 ours=$(field "$res" p99_ms) peer=- unit=ms ratio=-"
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_not_sent ours=$(field "$res" skipped) peer=- unit=requests ratio=-"
echo "BENCH serving_log_5000rps_${LOG_SECONDS}s_failed ours=$(field "$res" errors) peer=- unit=requests ratio=-"

echo "# the prediction log alone: 5000 records/s for ${LOG_SECONDS}s into Badger" >&2
res=$("$out/servebench" logonly -rate 5000 -d "${LOG_SECONDS}s"); echo "# $res" >&2
echo "BENCH serving_predlog_only_5000rps_${LOG_SECONDS}s_dropped ours=$(field "$res" dropped) peer=- unit=records ratio=-"
echo "BENCH serving_predlog_only_5000rps_${LOG_SECONDS}s_stored ours=$(field "$res" stored) peer=- unit=records ratio=-"
