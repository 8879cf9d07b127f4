#!/usr/bin/env bash
# Versioning at the floor: on an XFS filesystem this script makes in a
# sparse image and loop-mounts (reflinks on, as mkfs.xfs defaults), Tern
# versions the generated CSV by cloning it and hashing the clone once,
# compared with
#   cp --reflink=always   the physical floor: a clone, nothing read
#   Tern's hash alone     reading and hashing a fresh clone of the same file
#                         (as cold as the one Tern reads), nothing stored
#   dvc add               on the same filesystem (its cache links by reflink
#                         there too), when run.sh's venv with dvc is given
# Needs root, mkfs.xfs (apt xfsprogs) and a free loop device; says so and
# prints no BENCH line otherwise. Called by run.sh; runs alone too:
#   bench/datasets/clone.sh [CSV]   (default: the file run.sh generates)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/out/datasets
SIZE=${BENCH_DATASETS_BYTES:-1073741824}
REPEAT=${REPEAT:-3}
mkdir -p "$OUT"
CSV=${1:-$OUT/numeric-$SIZE.csv}
if [ "$(id -u)" != 0 ] || ! command -v mkfs.xfs >/dev/null; then
  echo "clone bench skipped: needs root and mkfs.xfs (apt xfsprogs) to loop-mount an XFS image" >&2
  exit 0
fi
go build -o "$OUT/tool" ./bench/datasets/tool
if [ ! -s "$CSV" ]; then
  "$OUT/tool" gen -file "$CSV" -size "$SIZE"
fi
BYTES=$(stat -c %s "$CSV")
IMG=$OUT/xfs.img
MNT=$OUT/xfs
mkdir -p "$MNT"
# Room for the file and one copy of it, should cloning fail.
truncate -s $(( BYTES * 2 / 1048576 + 600 ))M "$IMG"
mkfs.xfs -q -f -m reflink=1 "$IMG"
mount -o loop "$IMG" "$MNT"
trap 'umount "$MNT"; rm -f "$IMG"' EXIT
cp "$CSV" "$MNT/data.csv"
sync

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { sed -n "s/^$1 seconds=\([0-9.]*\).*/\1/p"; }
now() { date +%s.%N; }
declare -a OURS FLOOR HASH DVC
for i in $(seq "$REPEAT"); do
  rm -rf "$MNT/tern" "$MNT/floor.csv"; mkdir -p "$MNT/tern"; sync
  res=$("$OUT/tool" version-file -file "$MNT/data.csv" -data "$MNT/tern")
  if ! grep -q '^stored=cloned' <<<"$res"; then
    echo "Tern did not clone on XFS: $res" >&2
    exit 1
  fi
  OURS+=("$(echo "$res" | secs version)")
  s=$(now); cp --reflink=always "$MNT/data.csv" "$MNT/floor.csv"; e=$(now)
  FLOOR+=("$(echo "$e - $s" | bc -l)")
  # Hash the fresh clone cp just made, not data.csv: a clone is a new inode
  # whose pages are not cached yet, which is what Tern's versioning reads;
  # data.csv's pages are warm from the copy into the image.
  HASH+=("$("$OUT/tool" hash -file "$MNT/floor.csv" | secs hash)")
  if [ -n "${VENV:-}" ] && [ -x "$VENV/bin/dvc" ]; then
    rm -rf "$MNT/dvc-repo"; mkdir -p "$MNT/dvc-repo"
    cp --reflink=always "$MNT/data.csv" "$MNT/dvc-repo/data.csv"; sync
    ( cd "$MNT/dvc-repo" && git init -q && "$VENV/bin/dvc" init -q && "$VENV/bin/dvc" config core.analytics false )
    s=$(now); ( cd "$MNT/dvc-repo" && "$VENV/bin/dvc" add -q data.csv ); e=$(now)
    DVC+=("$(echo "$e - $s" | bc -l)")
    rm -rf "$MNT/dvc-repo"
  fi
done
rm -rf "$MNT/tern" "$MNT/floor.csv"
o=$(printf '%s\n' "${OURS[@]}" | median)
f=$(printf '%s\n' "${FLOOR[@]}" | median)
h=$(printf '%s\n' "${HASH[@]}" | median)
echo "clone bench: $CSV ($BYTES bytes) on loop-mounted XFS, $REPEAT rounds; ours ${OURS[*]} s; cp --reflink=always ${FLOOR[*]} s; hash alone ${HASH[*]} s" >&2
# ratio = ours/peer. The floor reads nothing; a verified version must read
# the bytes once to hash them, so the hash-alone line is the one to hold.
printf 'BENCH dataset_version_clone ours=%.4f peer=%.4f unit=s ratio=%.1f\n' "$o" "$f" "$(echo "$o/$f" | bc -l)"
printf 'BENCH dataset_version_reflink_vs_hash ours=%.4f peer=%.4f unit=s ratio=%.3f\n' "$o" "$h" "$(echo "$o/$h" | bc -l)"
if [ ${#DVC[@]} -gt 0 ]; then
  d=$(printf '%s\n' "${DVC[@]}" | median)
  echo "dvc add on the same XFS: ${DVC[*]} s" >&2
  printf 'BENCH dataset_version_reflink_vs_dvc ours=%.4f peer=%.4f unit=s ratio=%.3f\n' "$o" "$d" "$(echo "$o/$d" | bc -l)"
fi
