#!/usr/bin/env bash
# Drift engine benchmark, Tern vs Evidently on the same data, same tests.
#
#  1. 356,000 rows × 100 numeric columns, reference vs current (30 columns
#     shifted by 0.2 sd), every column forced to the same test on both sides:
#     normed Wasserstein, then KS. Tern: drift.CompareColumns (both samples
#     kept exactly). Peer: Evidently's DataDriftPreset(method=…), and for
#     reference a bare scipy loop doing only the statistics.
#  2. A frozen 1,000,000-row reference profile vs a 100,000-row window × 100
#     columns (Tern only: Evidently has no frozen profile to compare with).
#
# Each result is cross-checked: the per-column statistics of both sides must
# agree, or the script fails. Output: BENCH lines (see CONTRACT): wall
# seconds, and CPU seconds (user+system of the whole process, all threads),
# which other work on a shared machine disturbs far less than wall time.
# Env: EVIDENTLY_REPEAT (default 1; one Evidently run takes minutes here),
#      REPEAT (Tern repetitions, default 5), SKIP_PEER=1 to time Tern only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/bench/out/drift"
mkdir -p "$out"
cd "$out"

REPEAT="${REPEAT:-5}"
EVIDENTLY_REPEAT="${EVIDENTLY_REPEAT:-1}"

echo "# building drift-bench" >&2
(cd "$root" && go build -o "$out/drift-bench" ./bench/drift)

if [[ "${SKIP_PEER:-}" != 1 ]]; then
  venv="$root/bench/out/evidently-venv"
  if ! "$venv/bin/python" -c "import evidently, pandas; assert evidently.__version__ == '0.7.23'; assert pandas.__version__.startswith('2.')" 2>/dev/null; then
    echo "# creating Evidently venv (evidently 0.7.23 needs pandas < 3)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "evidently==0.7.23" "pandas==2.3.3" "scipy==1.17.1" "numpy==2.4.6"
  fi
fi

if [[ ! -f ref.bin || ! -f cur.bin ]]; then
  echo "# generating 356k × 100 reference and current" >&2
  ./drift-bench gen -rows 356000 -cols 100 -seed 1 -out ref.bin
  ./drift-bench gen -rows 356000 -cols 100 -seed 2 -shift 0.2 -drifted 30 -out cur.bin
fi

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'; }

for test in wasserstein ks; do
  echo "# Tern, $test, $REPEAT runs" >&2
  ours_line=$(./drift-bench compare -ref ref.bin -cur cur.bin -test "$test" -repeat "$REPEAT" -stats "ours-$test.json")
  echo "# $ours_line" >&2
  ours=$(echo "$ours_line" | field compare_median_s)
  ours_min=$(echo "$ours_line" | field min_s)
  ours_max=$(echo "$ours_line" | field max_s)
  ours_cpu=$(echo "$ours_line" | field cpu_s)
  if [[ "${SKIP_PEER:-}" == 1 ]]; then
    echo "BENCH drift_356k_x100_${test} ours=$ours peer=- unit=s ratio=-"
    continue
  fi
  echo "# Evidently, $test, $EVIDENTLY_REPEAT run(s) (minutes)" >&2
  peer_out=$("$venv/bin/python" "$here/evidently_bench.py" ref.bin cur.bin "$test" "$EVIDENTLY_REPEAT" "evidently-$test.json")
  echo "$peer_out" | sed 's/^/# /' >&2
  peer=$(echo "$peer_out" | grep evidently_median_s | field evidently_median_s)
  scipy=$(echo "$peer_out" | grep scipy_median_s | field scipy_median_s)
  peer_cpu=$(echo "$peer_out" | grep evidently_median_s | field cpu_s)
  # Same tests, same numbers: fail loudly if the two sides disagree.
  python3 - "ours-$test.json" "evidently-$test.json" "$test" <<'EOF'
import json, sys
ours = {r["column"]: r for r in json.load(open(sys.argv[1]))}
ev = json.load(open(sys.argv[2]))
key = "pvalue" if sys.argv[3] == "ks" else "statistic"
assert len(ev) == len(ours) == 100, (len(ev), len(ours))
worst = max(abs(ours[c][key] - v) for c, v in ev.items())
print(f"# cross-check {sys.argv[3]}: max |Tern - Evidently| over 100 columns = {worst:.3g}", file=sys.stderr)
assert worst < 1e-6, worst
EOF
  echo "# Tern spread over $REPEAT runs: min $ours_min s, max $ours_max s" >&2
  echo "BENCH drift_356k_x100_${test} ours=$ours peer=$peer unit=s ratio=$(ratio "$ours" "$peer")"
  echo "BENCH drift_356k_x100_${test}_cpu ours=$ours_cpu peer=$peer_cpu unit=cpu_s ratio=$(ratio "$ours_cpu" "$peer_cpu")"
  echo "BENCH drift_356k_x100_${test}_vs_bare_scipy ours=$ours peer=$scipy unit=s ratio=$(ratio "$ours" "$scipy")"
done

echo "# Tern, 1M-row reference profile vs 100k-row window × 100 columns" >&2
win=$(./drift-bench window -refrows 1000000 -currows 100000 -cols 100 -repeat "$REPEAT")
echo "$win" | sed 's/^/# /' >&2
echo "BENCH drift_window_1Mprofile_100k_x100 ours=$(echo "$win" | field window_median_s) peer=- unit=s ratio=-"
echo "BENCH drift_window_1Mprofile_100k_x100_cpu ours=$(echo "$win" | grep window_median_s | field cpu_s) peer=- unit=cpu_s ratio=-"
echo "BENCH drift_profile_build_1M_x100 ours=$(echo "$win" | field profile_build_s) peer=- unit=s ratio=-"
echo "BENCH drift_profile_size_1M_x100 ours=$(echo "$win" | field profile_bytes) peer=- unit=bytes ratio=-"
