#!/usr/bin/env bash
# make bench-training: the built-in GBDT against scikit-learn's
# HistGradientBoosting on the same generated train/test split (quality and
# training time), and the time from Train to the first metric against a
# bare `docker run --rm` of the same image.
# Prints BENCH lines; everything it creates lives under bench/out/training.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/bench/out/training"
ROWS="${BENCH_ROWS:-200000}"
REPEAT="${BENCH_REPEAT:-3}"
mkdir -p "$OUT"
VENV="$OUT/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn, pandas" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6
fi
PY="$VENV/bin/python"
if [ ! -s "$OUT/cls_train.csv" ] || [ "$(cat "$OUT/rows" 2>/dev/null)" != "$ROWS" ]; then
  "$PY" "$ROOT/bench/training/gen.py" "$OUT" "$ROWS"
  echo "$ROWS" > "$OUT/rows"
fi
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$OUT/tern-runtime" ./backend/cmd/tern-runtime)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for kind in cls reg; do
  metric=test_roc_auc; [ "$kind" = reg ] && metric=test_rmse
  : > "$OUT/$kind.ours"; : > "$OUT/$kind.peer"
  for i in $(seq "$REPEAT"); do
    echo '{"target":"y","task":"'"$([ "$kind" = cls ] && echo classification || echo regression)"'"}' > "$OUT/params.json"
    "$OUT/tern-runtime" train -data "$OUT/${kind}_train.csv" -test "$OUT/${kind}_test.csv" \
      -params "$OUT/params.json" -out "$OUT/ours-$kind" > "$OUT/ours-$kind.jsonl"
    score=$(grep "\"key\":\"$metric\"" "$OUT/ours-$kind.jsonl" | sed 's/.*"value":\([^,}]*\).*/\1/')
    secs=$(grep '"key":"training_seconds"' "$OUT/ours-$kind.jsonl" | sed 's/.*"value":\([^,}]*\).*/\1/')
    iters=$(grep '"key":"n_iter"' "$OUT/ours-$kind.jsonl" | sed 's/.*"value":\([^,}]*\).*/\1/')
    echo "$score $secs $iters" >> "$OUT/$kind.ours"
    "$PY" "$ROOT/bench/training/peer.py" "$kind" "$OUT/${kind}_train.csv" "$OUT/${kind}_test.csv" \
      | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["score"], d["fit_seconds"], d["n_iter"])' >> "$OUT/$kind.peer"
  done
  os=$(awk '{print $1}' "$OUT/$kind.ours" | median); ps=$(awk '{print $1}' "$OUT/$kind.peer" | median)
  ot=$(awk '{print $2}' "$OUT/$kind.ours" | median); pt=$(awk '{print $2}' "$OUT/$kind.peer" | median)
  name=auc; unit=auc; [ "$kind" = reg ] && { name=rmse; unit=rmse; }
  echo "spread $kind ours(score secs iters): $(tr '\n' ';' < "$OUT/$kind.ours") peer: $(tr '\n' ';' < "$OUT/$kind.peer")"
  echo "BENCH training_${kind}_${name} ours=$os peer=$ps unit=$unit ratio=$(awk -v a="$os" -v b="$ps" 'BEGIN{printf "%.4f", a/b}')"
  echo "BENCH training_${kind}_fit_seconds ours=$ot peer=$pt unit=s ratio=$(awk -v a="$ot" -v b="$pt" 'BEGIN{printf "%.3f", a/b}')"
  # One thread each: on a busy 2-core machine OpenMP's spinning threads make
  # the two-thread figure swing wildly; this one compares the algorithms.
  o1=$(GOMAXPROCS=1 "$OUT/tern-runtime" train -data "$OUT/${kind}_train.csv" -test "$OUT/${kind}_test.csv" \
      -params "$OUT/params.json" -out "$OUT/ours-$kind" | grep '"key":"training_seconds"' | sed 's/.*"value":\([^,}]*\).*/\1/')
  p1=$(OMP_NUM_THREADS=1 "$PY" "$ROOT/bench/training/peer.py" "$kind" "$OUT/${kind}_train.csv" "$OUT/${kind}_test.csv" \
      | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["fit_seconds"])')
  echo "BENCH training_${kind}_fit_seconds_1thread ours=$o1 peer=$p1 unit=s ratio=$(awk -v a="$o1" -v b="$p1" 'BEGIN{printf "%.3f", a/b}')"
done

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  (cd "$ROOT" && go run ./bench/training/firstmetric -runtime "$OUT/tern-runtime" -repeat "$REPEAT")
else
  echo "BENCH training_first_metric ours=- peer=- unit=s ratio=- (no Docker engine)"
fi
