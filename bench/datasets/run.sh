#!/usr/bin/env bash
# Datasets benchmark, side by side on one generated numeric CSV (1 GB by
# default; BENCH_DATASETS_BYTES overrides):
#   hashing            Tern's blob.HashFile      vs sha256sum
#   import + profile   Tern's one-pass import    vs pandas read_csv + describe(),
#                                                 vs polars read_csv + describe(),
#                                                 vs duckdb SUMMARIZE over read_csv
#                      (wall time, CPU seconds and peak memory of each)
#   versioning         Tern's blob put (hash, copy, record) vs dvc add,
#                      and vs the floor on this filesystem: cp + sync
#   re-import          Tern, unchanged file       vs Tern's own first import
#   versioning on XFS  clone + hash (clone.sh)   vs cp --reflink=always, and vs hashing alone
# Each is run REPEAT times (default 3); the median is reported and the
# spread printed, because this 2-core machine is shared with other builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/out/datasets
SIZE=${BENCH_DATASETS_BYTES:-1073741824}
REPEAT=${REPEAT:-3}
mkdir -p "$OUT"
CSV=$OUT/numeric-$SIZE.csv

go build -o "$OUT/tool" ./bench/datasets/tool
if [ ! -s "$CSV" ]; then
  echo "generating $CSV ($SIZE bytes)" >&2
  "$OUT/tool" gen -file "$CSV" -size "$SIZE"
fi
BYTES=$(stat -c %s "$CSV")

VENV=$OUT/venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pandas, dvc, polars, duckdb' 2>/dev/null; then
  echo "creating $VENV with pandas, polars, duckdb and dvc (pip)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pandas polars duckdb dvc >&2
fi
PY=$VENV/bin/python
cat "$CSV" > /dev/null   # warm the page cache for everyone alike

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s..%s", lo, hi}'; }
secs() { sed -n "s/^$1 seconds=\([0-9.]*\).*/\1/p"; }
now() { date +%s.%N; }

declare -a H_OURS H_PEER I_OURS I_PEER V_OURS V_PEER R_OURS C_OURS C_PEER P_PEER D_PEER C_POLARS C_DUCK CP_PEER
for i in $(seq "$REPEAT"); do
  echo "round $i/$REPEAT" >&2
  H_OURS+=("$("$OUT/tool" hash -file "$CSV" | secs hash)")
  s=$(now); sha256sum "$CSV" > /dev/null; e=$(now)
  H_PEER+=("$(echo "$e - $s" | bc -l)")

  rm -rf "$OUT/tern-import"; mkdir -p "$OUT/tern-import"
  res=$(/usr/bin/time -f "cpu %U %S %M" -o "$OUT/cpu-ours" "$OUT/tool" import -file "$CSV" -data "$OUT/tern-import")
  C_OURS+=("$(awk '/^cpu/ {print $2 + $3, $4}' "$OUT/cpu-ours")")
  I_OURS+=("$(echo "$res" | secs import)")
  R_OURS+=("$(echo "$res" | secs reimport)")
  I_PEER+=("$(/usr/bin/time -f "cpu %U %S %M" -o "$OUT/cpu-peer" "$PY" - "$CSV" <<'PYEOF'
import sys, time
t = time.perf_counter()
import pandas as pd
df = pd.read_csv(sys.argv[1])
d = df.describe()
print(f"{time.perf_counter() - t:.3f}")
PYEOF
)")
  C_PEER+=("$(awk '/^cpu/ {print $2 + $3, $4}' "$OUT/cpu-peer")")
  P_PEER+=("$(/usr/bin/time -f "cpu %U %S %M" -o "$OUT/cpu-polars" "$PY" - "$CSV" <<'PYEOF'
import sys, time
t = time.perf_counter()
import polars as pl
d = pl.read_csv(sys.argv[1]).describe()
print(f"{time.perf_counter() - t:.3f}")
PYEOF
)")
  C_POLARS+=("$(awk '/^cpu/ {print $2 + $3, $4}' "$OUT/cpu-polars")")
  D_PEER+=("$(/usr/bin/time -f "cpu %U %S %M" -o "$OUT/cpu-duckdb" "$PY" - "$CSV" <<'PYEOF'
import sys, time
t = time.perf_counter()
import duckdb
duckdb.sql(f"SUMMARIZE SELECT * FROM read_csv('{sys.argv[1]}')").fetchall()
print(f"{time.perf_counter() - t:.3f}")
PYEOF
)")
  C_DUCK+=("$(awk '/^cpu/ {print $2 + $3, $4}' "$OUT/cpu-duckdb")")

  rm -rf "$OUT/tern-version"; mkdir -p "$OUT/tern-version"
  V_OURS+=("$("$OUT/tool" version -file "$CSV" -data "$OUT/tern-version" | secs version)")
  # The floor where the filesystem cannot clone: read the file once and
  # write it once, durably (Tern's version is fsynced too).
  rm -f "$OUT/cp-floor.csv"; sync
  s=$(now); cp --reflink=never "$CSV" "$OUT/cp-floor.csv"; sync; e=$(now)
  CP_PEER+=("$(echo "$e - $s" | bc -l)")
  rm -f "$OUT/cp-floor.csv"
  rm -rf "$OUT/dvc-repo"; mkdir -p "$OUT/dvc-repo"
  cp --reflink=auto "$CSV" "$OUT/dvc-repo/data.csv"
  ( cd "$OUT/dvc-repo" && git init -q && "$VENV/bin/dvc" init -q && "$VENV/bin/dvc" config core.analytics false )
  s=$(now); ( cd "$OUT/dvc-repo" && "$VENV/bin/dvc" add -q data.csv ); e=$(now)
  V_PEER+=("$(echo "$e - $s" | bc -l)")
  rm -rf "$OUT/tern-import" "$OUT/tern-version" "$OUT/dvc-repo"
done

mb=$(echo "$BYTES / 1048576" | bc -l)
ho=$(printf '%s\n' "${H_OURS[@]}" | median); hp=$(printf '%s\n' "${H_PEER[@]}" | median)
io=$(printf '%s\n' "${I_OURS[@]}" | median); ip=$(printf '%s\n' "${I_PEER[@]}" | median)
vo=$(printf '%s\n' "${V_OURS[@]}" | median); vp=$(printf '%s\n' "${V_PEER[@]}" | median)
ro=$(printf '%s\n' "${R_OURS[@]}" | median)
pp=$(printf '%s\n' "${P_PEER[@]}" | median); dp=$(printf '%s\n' "${D_PEER[@]}" | median)
cpp=$(printf '%s\n' "${CP_PEER[@]}" | median)

echo "file: $CSV ($BYTES bytes), $REPEAT rounds; spreads (s): hash ours $(printf '%s\n' "${H_OURS[@]}" | spread) sha256sum $(printf '%s\n' "${H_PEER[@]}" | spread); import ours $(printf '%s\n' "${I_OURS[@]}" | spread) pandas $(printf '%s\n' "${I_PEER[@]}" | spread); version ours $(printf '%s\n' "${V_OURS[@]}" | spread) dvc $(printf '%s\n' "${V_PEER[@]}" | spread); reimport $(printf '%s\n' "${R_OURS[@]}" | spread)" >&2
# CPU seconds and peak memory say what wall time hides on a busy machine.
echo "import cpu-seconds and peak RSS (KB) per round: ours ${C_OURS[*]}; pandas ${C_PEER[*]}; polars ${C_POLARS[*]}; duckdb ${C_DUCK[*]}" >&2
echo "import wall seconds per round: polars ${P_PEER[*]}; duckdb ${D_PEER[*]}; cp+sync ${CP_PEER[*]}" >&2
printf 'BENCH dataset_hash ours=%.0f peer=%.0f unit=MB/s ratio=%.2f\n' "$(echo "$mb/$ho" | bc -l)" "$(echo "$mb/$hp" | bc -l)" "$(echo "$hp/$ho" | bc -l)"
printf 'BENCH dataset_import_profile ours=%.2f peer=%.2f unit=s ratio=%.2f\n' "$io" "$ip" "$(echo "$io/$ip" | bc -l)"
printf 'BENCH dataset_version ours=%.2f peer=%.2f unit=s ratio=%.3f\n' "$vo" "$vp" "$(echo "$vo/$vp" | bc -l)"
printf 'BENCH dataset_reimport ours=%.6f peer=%.2f unit=s ratio=%.6f\n' "$ro" "$io" "$(echo "$ro/$io" | bc -l)"
# Goals (issue 17): ≤ 1.3× cp+sync, ≤ 1.0× polars, ≤ 0.5× duckdb.
printf 'BENCH dataset_version_vs_cp ours=%.2f peer=%.2f unit=s ratio=%.2f\n' "$vo" "$cpp" "$(echo "$vo/$cpp" | bc -l)"
printf 'BENCH dataset_import_profile_vs_polars ours=%.2f peer=%.2f unit=s ratio=%.2f\n' "$io" "$pp" "$(echo "$io/$pp" | bc -l)"
printf 'BENCH dataset_import_profile_vs_duckdb ours=%.2f peer=%.2f unit=s ratio=%.2f\n' "$io" "$dp" "$(echo "$io/$dp" | bc -l)"

# Versioning on a filesystem that clones (XFS, loop-mounted by the script).
VENV=$VENV bench/datasets/clone.sh "$CSV"
