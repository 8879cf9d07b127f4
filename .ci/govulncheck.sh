#!/usr/bin/env bash
# govulncheck over Tern, offline. This machine and CI reach the Go module
# proxy but not vuln.go.dev, so the vulnerability database is built from
# the pinned golang.org/x/vulndb module (its data/osv holds every report)
# with the module's own cmd/indexdb, into .vulndb/. The scan is
# symbol-level: only vulnerable code that Tern's call paths reach counts.
# A finding fails, unless its ID is in .ci/govulncheck-accepted.txt, which
# says why it is accepted; those are printed every time.
#
#   .ci/govulncheck.sh db     build the database (make deps-test does)
#   .ci/govulncheck.sh        scan
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
VULN_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
DB=$PWD/.vulndb
BIN=$PWD/bin/govulncheck

build_db() {
  if [ -x "$BIN" ] && [ "$(cat "$DB/.version" 2>/dev/null)" = "$VULNDB_VERSION" ]; then return; fi
  echo "Installing govulncheck $VULN_VERSION and building its database from golang.org/x/vulndb@$VULNDB_VERSION"
  GOBIN=$PWD/bin $GO install golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION
  src=$($GO mod download -json golang.org/x/vulndb@$VULNDB_VERSION | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$DB.tmp" && $GO run golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION -vulns "$src/data/osv" -out "$DB.tmp"
  # indexdb leaves the database's date empty: stamp it with the commit time
  # of the vulndb version, so govulncheck and this script tell its age.
  when=$($GO list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' golang.org/x/vulndb@$VULNDB_VERSION)
  printf '{"modified":"%s"}' "$when" > "$DB.tmp/index/db.json"
  echo "$VULNDB_VERSION" > "$DB.tmp/.version"
  rm -rf "$DB" && mv "$DB.tmp" "$DB"
}

if [ "${1:-}" = db ]; then build_db; exit 0; fi
build_db
when=$(sed -n 's/.*"modified":"\([0-9-]*\)T.*/\1/p' "$DB/index/db.json")
age=$(( ( $(date -u +%s) - $(date -u -d "$when" +%s) ) / 86400 ))
echo "govulncheck $VULN_VERSION, database golang.org/x/vulndb@$VULNDB_VERSION of $when ($age days old; newer reports are not in it)"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
"$BIN" -db "file://$DB" ./... > "$out" 2>&1 || rc=$?
if [ $rc != 0 ] && [ $rc != 3 ]; then cat "$out"; echo "govulncheck could not run (exit $rc)"; exit $rc; fi
found=$(grep -oE '^Vulnerability #[0-9]+: GO-[0-9]+-[0-9]+' "$out" | awk '{print $3}' | sort -u || true)
accepted=$(grep -oE '^GO-[0-9]+-[0-9]+' .ci/govulncheck-accepted.txt | sort -u || true)
new=$(comm -23 <(echo "$found" | sed '/^$/d') <(echo "$accepted" | sed '/^$/d'))
for id in $(comm -12 <(echo "$found" | sed '/^$/d') <(echo "$accepted" | sed '/^$/d')); do
  echo "accepted: $(grep "^$id" .ci/govulncheck-accepted.txt)"
done
if [ -n "$new" ]; then
  cat "$out"
  echo "govulncheck: Tern's call paths reach $(echo "$new" | wc -l) vulnerabilities not accepted in .ci/govulncheck-accepted.txt:" $new
  exit 1
fi
echo "govulncheck: no vulnerability reached from Tern's code beyond the $(echo "$accepted" | sed '/^$/d' | wc -l) accepted ones"
