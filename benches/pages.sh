#!/usr/bin/env bash
# The console's pages at city scale: a database filled as for lists.sh
# (open cases of the 137 process, half past their deadlines, and finished
# ones), the service on loopback, an administrator signed in through the
# login form, each page asked in turn: p50 and p99 per page, request to
# last byte.
#   benches/pages.sh [OPEN] [FINISHED] [QUERIES] [sqlite|postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
open=${1:-100000}
finished=${2:-0}
queries=${3:-100}
store=${4:-sqlite}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
if [ "$store" = postgres ]; then
  PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_pages" -c "CREATE DATABASE ravand_bench_pages" 2>/dev/null
  db="${PG_ADMIN%/*}/ravand_bench_pages"
else
  db="sqlite://$tmp/pages.db"
fi
./target/release/ravand bench-pages --db "$db" --open "$open" --finished "$finished" --queries "$queries"
rm -rf "$tmp"
