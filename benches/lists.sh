#!/usr/bin/env bash
# The lists an outside system reads (a role's task page, an empty role's,
# the overdue page, a search by searchable data, a lookup by tracking code,
# the unpaged worklist), p50 and p99 per call, at two sizes on SQLite and
# PostgreSQL: the growth between them is what the read rows and their
# indexes are for.
#   benches/lists.sh [OPEN_SMALL] [OPEN_LARGE] [FINISHED_LARGE]
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${1:-1000}
LARGE=${2:-20000}
FINISHED=${3:-0}
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
for open in "$SMALL" "$LARGE"; do
  finished=0
  [ "$open" = "$LARGE" ] && finished=$FINISHED
  ./target/release/ravand bench-lists --db "sqlite://$tmp/lists-$open.db" --open "$open" --finished "$finished"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_lists" -c "CREATE DATABASE ravand_bench_lists" 2>/dev/null
  ./target/release/ravand bench-lists --db "$PG_BASE/ravand_bench_lists" --open "$open" --finished "$finished"
done
rm -rf "$tmp"
