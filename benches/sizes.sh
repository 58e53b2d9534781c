#!/usr/bin/env bash
# Database size per open and per finished case, on SQLite and PostgreSQL:
# an empty store (schema, definitions, calendars), then N open cases of the
# 137 process (as lists.sh fills them: half past their first task and their
# deadlines, reminders fired), then N finished cases of a one-step process
# (the least a finished case keeps); each store compacted (VACUUM) before
# it is measured. Bytes a case = (size - empty size) / N.
#   benches/sizes.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
fill() { ./target/release/ravand bench-lists --db "$1" --open "$2" --finished "$3" --queries 1 >/dev/null; }
sqlite_size() {
  local f="$tmp/size-$1-$2.db"
  fill "sqlite://$f" "$1" "$2"
  sqlite3 "$f" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
  stat -c %s "$f"
}
pg_size() {
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_size" -c "CREATE DATABASE ravand_bench_size" 2>/dev/null
  fill "$PG_BASE/ravand_bench_size" "$1" "$2"
  psql "$PG_BASE/ravand_bench_size" -qc "VACUUM FULL" 2>/dev/null
  psql "$PG_ADMIN" -Atc "SELECT pg_database_size('ravand_bench_size')"
}
for store in sqlite pg; do
  empty=$(${store}_size 0 0)
  open=$(${store}_size "$n" 0)
  done_=$(${store}_size 0 "$n")
  echo "peer=ravand bench=sizes store=$store cases=$n empty_bytes=$empty open_case_bytes=$(( (open - empty) / n )) finished_case_bytes=$(( (done_ - empty) / n ))"
done
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_size" 2>/dev/null || true
rm -rf "$tmp"
