#!/usr/bin/env bash
# Sweep benchmark: search quality against pip optuna, and the engine's own
# cost per trial.
#
#  1. Quality: Tern's TPE sampler and Optuna's TPESampler (default settings,
#     seeded) on the same objective (a 5-parameter function: two linear
#     floats with a ridge between them, a log-scale float, a log-scale int
#     and a 4-way choice; main.go and peer.py hold the same code), the same
#     space and the same budget (TRIALS, default 40), over SEEDS seeds
#     (default 5). The score is maximised; the figure is the median best
#     score over the seeds, ratio = ours / optuna's (higher is better; goal
#     >= 1).
#  2. Overhead: OVERHEAD trials (default 200) of a real sweep (Badger store,
#     tracking service, child runs) whose jobs end the instant they are
#     submitted: the wall time per trial is what the engine adds to
#     training. Goal <= 20 ms.
# No training runs: it is light on CPU (a few seconds on one core).
# Env: TRIALS, SEEDS, OVERHEAD, TERN_PYTHON (a Python with optuna; default:
#      a venv in bench/out/sweep with optuna 4.6.0 from pip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/bench/out/sweep"
mkdir -p "$out"
TRIALS="${TRIALS:-40}"
SEEDS="${SEEDS:-5}"
OVERHEAD="${OVERHEAD:-200}"
PY="${TERN_PYTHON:-}"
if [[ -z "$PY" ]] || ! "$PY" -c "import optuna" 2>/dev/null; then
  PY="$out/venv/bin/python"
  if ! "$PY" -c "import optuna" 2>/dev/null; then
    echo "# installing optuna 4.6.0 into $out/venv" >&2
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install -q optuna==4.6.0 >&2
  fi
fi

echo "# building sweep-bench" >&2
(cd "$root" && go build -o "$out/sweep-bench" ./bench/sweep)
echo "# Tern TPE: $TRIALS trials × $SEEDS seeds; overhead sweep of $OVERHEAD trials" >&2
ours_out=$("$out/sweep-bench" -trials "$TRIALS" -seeds "$SEEDS" -overhead "$OVERHEAD" 2>/dev/null)
echo "$ours_out" | sed 's/^/# /' >&2
echo "# Optuna TPESampler: $TRIALS trials × $SEEDS seeds" >&2
peer_out=$("$PY" "$here/peer.py" "$TRIALS" "$SEEDS")
echo "$peer_out" | sed 's/^/# /' >&2

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ours=$(echo "$ours_out" | sed -n 's/^tern_best .*best=\([^ ]*\).*/\1/p' | median)
peer=$(echo "$peer_out" | sed -n 's/^optuna_best .*best=\([^ ]*\).*/\1/p' | median)
overhead=$(echo "$ours_out" | sed -n 's/^overhead_ms=\([^ ]*\).*/\1/p')
ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
echo "BENCH sweep_tpe_best_vs_optuna ours=$ours peer=$peer unit=score ratio=$ratio"
echo "BENCH sweep_trial_overhead ours=$overhead peer=- unit=ms ratio=-"
