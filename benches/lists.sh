#!/usr/bin/env bash
# The lists an outside system reads (a role's task page, an empty role's,
# the overdue page, a search by two searchable data fields, a lookup by
# tracking code, the unpaged worklist), p50 and p99 per call, at a small and
# a large database on SQLite and PostgreSQL: how little they grow between
# the two is what the read rows and their indexes are for.
#   benches/lists.sh [SMALL_OPEN] [SMALL_FINISHED] [LARGE_OPEN] [LARGE_FINISHED]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${1:-1000}:${2:-9000}" "${3:-10000}:${4:-90000}")
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
for size in "${SIZES[@]}"; do
  open=${size%:*}
  finished=${size#*:}
  ./target/release/ravand bench-lists --db "sqlite://$tmp/lists-$open.db" --open "$open" --finished "$finished"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_lists" -c "CREATE DATABASE ravand_bench_lists" 2>/dev/null
  ./target/release/ravand bench-lists --db "$PG_BASE/ravand_bench_lists" --open "$open" --finished "$finished"
  du -sh "$tmp/lists-$open.db" | sed "s|$tmp/||; s|^|# sqlite file size: |"
  psql "$PG_ADMIN" -Atc "SELECT '# postgres database size: ' || pg_size_pretty(pg_database_size('ravand_bench_lists'))"
done
rm -rf "$tmp"
