#!/usr/bin/env bash
# TreeSHAP benchmark, Tern vs pip shap on the same model and rows.
#
#  1. An XGBoost model of 500 trees of depth 6 (binary:logistic), 10,000 rows
#     × 30 columns with 5% missing: path-dependent SHAP values of every row.
#     Tern: explain.Ensemble.SHAP on THREADS goroutines. Peer:
#     shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
#     .shap_values — which hands XGBoost models to XGBoost's own C++ TreeSHAP
#     (pred_contribs) — with XGBoost's nthread = THREADS. Same thread count on
#     both sides. The values are cross-checked (max |difference| printed;
#     XGBoost computes in float32).
#  2. The time one explanation adds to a request: one row, 100 trees of depth
#     6, one goroutine; p99 over the 10,000 rows.
# Output: BENCH lines (ratio = ours/peer, lower is better for Tern): wall
# seconds, and CPU seconds of the process (user+system, all threads), which
# others' load on a shared machine disturbs far less.
# Env: THREADS (default 1), REPEAT (default 3), TERN_PYTHON (a Python with
#      shap, xgboost: default .venv/bin/python).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/bench/out/explain"
mkdir -p "$out"
THREADS="${THREADS:-1}"
REPEAT="${REPEAT:-3}"
PY="${TERN_PYTHON:-$root/.venv/bin/python}"

echo "# building explain-bench" >&2
(cd "$root" && go build -o "$out/explain-bench" ./bench/explain)
if [[ ! -f "$out/xgb_500x6.json" || ! -f "$out/x.bin" ]]; then
  echo "# training the XGBoost models (500 and 100 trees, depth 6)" >&2
  "$PY" "$here/peer.py" gen "$out" >&2
fi
echo "# shap, $THREADS thread(s), $REPEAT runs" >&2
peer_line=$("$PY" "$here/peer.py" time "$out" "$THREADS" "$REPEAT")
echo "# $peer_line" >&2
echo "# Tern, $THREADS goroutine(s), $REPEAT runs" >&2
ours_out=$("$out/explain-bench" -dir "$out" -threads "$THREADS" -repeat "$REPEAT")
echo "$ours_out" | sed 's/^/# /' >&2

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
peer=$(echo "$peer_line" | field shap_s)
ours=$(echo "$ours_out" | field tern_s)
p99=$(echo "$ours_out" | field row_p99_ms)
peer_cpu=$(echo "$peer_line" | field shap_cpu_s)
ours_cpu=$(echo "$ours_out" | field tern_cpu_s)
echo "BENCH treeshap_xgb_500x6_10k ours=$ours peer=$peer unit=s ratio=$(ratio "$ours" "$peer")"
echo "BENCH treeshap_xgb_500x6_10k_cpu ours=$ours_cpu peer=$peer_cpu unit=cpu_s ratio=$(ratio "$ours_cpu" "$peer_cpu")"
echo "BENCH explain_added_p99_100x6 ours=$p99 peer=- unit=ms ratio=-"
