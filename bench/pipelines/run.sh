#!/usr/bin/env bash
# Pipelines benchmark: a chain of 10 steps, each a no-op container
# (docker run --rm of a FROM-scratch image whose binary exits at once),
# run by Tern's engine (bench/pipelines/tool) and by Prefect 3.9.1 from pip
# (bench/pipelines/peer.py) on the same machine and image:
#   pipeline_step_overhead    (wall time − the containers' own time) / 10
#   pipeline_cached_rerun_10  the same run again with every step cached
# Prefect is the peer because it is the Python orchestrator with task
# caching built in (cache_policy=INPUTS): Kedro has no run cache, so a
# cached re-run could not be compared. Each side runs REPEAT times
# (default 3) on a fresh store / PREFECT_HOME; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/out/pipelines
REPEAT=${REPEAT:-3}
STEPS=10
IMAGE=tern-bench-noop:1
mkdir -p "$OUT"

CGO_ENABLED=0 go build -o "$OUT/ctx/noop" ./bench/pipelines/noop
printf 'FROM scratch\nCOPY noop /noop\nENTRYPOINT ["/noop"]\n' > "$OUT/ctx/Dockerfile"
docker build -q -t "$IMAGE" "$OUT/ctx" >/dev/null
go build -o "$OUT/tool" ./bench/pipelines/tool

VENV=$OUT/venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import prefect' 2>/dev/null; then
  echo "creating $VENV with prefect 3.9.1 (pip)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check prefect==3.9.1 >&2
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.* $1=\([0-9.-]*\).*/\1/p"; }

declare -a OO OC PO PC
for i in $(seq "$REPEAT"); do
  echo "round $i/$REPEAT" >&2
  rm -rf "$OUT/data"; mkdir -p "$OUT/data"
  ours=$("$OUT/tool" -image "$IMAGE" -steps "$STEPS" -data "$OUT/data")
  echo "  $ours" >&2
  OO+=("$(echo "$ours" | field overhead_ms)"); OC+=("$(echo "$ours" | field cached_ms)")
  rm -rf "$OUT/prefect-home"; mkdir -p "$OUT/prefect-home"
  peer=$(PREFECT_HOME="$OUT/prefect-home" PREFECT_LOGGING_LEVEL=WARNING PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 "$VENV/bin/python" bench/pipelines/peer.py "$IMAGE" "$STEPS" | grep '^peer ')
  echo "  $peer" >&2
  PO+=("$(echo "$peer" | field overhead_ms)"); PC+=("$(echo "$peer" | field cached_ms)")
done
oo=$(printf '%s\n' "${OO[@]}" | median); oc=$(printf '%s\n' "${OC[@]}" | median)
po=$(printf '%s\n' "${PO[@]}" | median); pc=$(printf '%s\n' "${PC[@]}" | median)
printf 'BENCH pipeline_step_overhead ours=%.2f peer=%.2f unit=ms ratio=%.3f\n' "$oo" "$po" "$(echo "$oo/$po" | bc -l)"
printf 'BENCH pipeline_cached_rerun_10 ours=%.2f peer=%.2f unit=ms ratio=%.3f\n' "$oc" "$pc" "$(echo "$oc/$pc" | bc -l)"
