#!/usr/bin/env bash
# Store micro-benchmark: batched puts of 128-byte values into a real Badger.
# No peer yet; later benches compare against MLflow, DVC, Evidently, KServe.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench '^BenchmarkStorePut$' -benchtime 200000x -count 3 ./backend/store |
  awk '/^BenchmarkStorePut/ { n++; s += $3 } END { if (n) printf "BENCH store_put ours=%.0f peer=- unit=ns/op ratio=-\n", s / n }'
