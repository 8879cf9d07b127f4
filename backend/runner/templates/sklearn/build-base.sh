#!/usr/bin/env bash
# Builds a local Python + scikit-learn base image without any registry:
# debootstrap a minimal Debian bookworm root filesystem with python3-sklearn
# (from the Debian mirror apt already uses) and `docker import` it.
# The root filesystem tarball is cached, so a second run only imports it, and
# an image that already exists is left alone.
#
# Usage: build-base.sh [image-tag]   (default tern-sklearn-base:bookworm)
# Env:   TERN_CACHE (default ~/.cache/tern), DEBIAN_MIRROR (default from apt sources)
set -euo pipefail
TAG="${1:-tern-sklearn-base:bookworm}"
CACHE="${TERN_CACHE:-$HOME/.cache/tern}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TARBALL="$CACHE/sklearn-bookworm-rootfs.tar"
start=$(date +%s)

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "build-base: $TAG already present"
  exit 0
fi
mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { echo "build-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  ROOT=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$ROOT"' EXIT
  # minbase keeps the image small; only the Python stack the template needs.
  debootstrap --variant=minbase \
    --include=python3,python3-sklearn,python3-numpy,python3-scipy,python3-pandas \
    bookworm "$ROOT" "$MIRROR"
  # Trim what a training container never needs.
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \
         "$ROOT"/usr/share/doc "$ROOT"/usr/share/man "$ROOT"/usr/share/locale
  tar -C "$ROOT" --numeric-owner -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'CMD ["python3"]' \
  "$TARBALL" "$TAG" >/dev/null
echo "build-base: built $TAG in $(( $(date +%s) - start ))s"
