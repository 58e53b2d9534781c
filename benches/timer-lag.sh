#!/usr/bin/env bash
# Timer lag with many timers pending: P cases that wait a year are started
# first (their timers stay pending), then F cases spread evenly over S
# seconds that wait a minute, while the engine keeps time as `ravand serve`
# does. Prints the lag of the F timers (due instant to the commit of their
# firing, from the engine's own histogram) on a SQLite file and on
# PostgreSQL.
#   benches/timer-lag.sh [P] [F] [S] [sqlite|postgres|both]
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-1000000}
F=${2:-30000}
S=${3:-60}
WHICH=${4:-both}
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$WHICH" != postgres ]; then
  ./target/release/ravand bench-timer-lag --db "sqlite://$tmp/lag.db" --pending "$P" --firing "$F" --over "$S"
fi
if [ "$WHICH" != sqlite ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_lag" -c "CREATE DATABASE ravand_bench_lag" 2>/dev/null
  ./target/release/ravand bench-timer-lag --db "$PG_BASE/ravand_bench_lag" --pending "$P" --firing "$F" --over "$S"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_lag" 2>/dev/null
fi
