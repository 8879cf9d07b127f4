#!/usr/bin/env bash
# Governance benchmark: the cost of the audit trail on tracking ingest and
# on dataset import, and of encryption at rest on import, ingest and
# serving p99, each against the same work without it (see
# bench/governance/main.go). Goals: audit ≤ 5 %, encryption ≤ 15 %
# (ratio ≤ 1.05 / 1.15). Prints BENCH lines with ratio = ours/peer.
# REPEAT (default 3) rounds per pair, medians reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=bench/out/governance
mkdir -p "$OUT"
go build -o "$OUT/governancebench" ./bench/governance
"$OUT/governancebench" -out "$OUT" -repeat "${REPEAT:-3}" "$@"
