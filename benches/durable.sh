#!/usr/bin/env bash
# Committed steps per second with every acknowledged case durable: Ravand on
# SQLite (a file, WAL, fsync at commit) and PostgreSQL, side by side with
# SpiffWorkflow serialising each case to JSON after every step (no disk
# write at all), from the peer harness in ../shared/peers/engines/. Then the
# timer firing rate with 100,000 pending timers on SQLite.
#   benches/durable.sh [N] [CONCURRENCY] [TIMERS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
C=${2:-8}
T=${3:-100000}
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PEERS=${PEERS:-../shared/peers/engines}
if [ ! -d "$PEERS" ]; then
  echo "error: the peer harnesses are not at $PEERS: they live in the shared/ folder beside" >&2
  echo "the project root (../shared/peers/); put it there, or set PEERS=DIR to where they are." >&2
  exit 2
fi
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
./target/release/ravand bench benches/models/linear10.yaml --db "sqlite://$tmp/bench.db" --instances "$N" --concurrency 1
./target/release/ravand bench benches/models/linear10.yaml --db "sqlite://$tmp/bench-c.db" --instances "$N" --concurrency "$C"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench" -c "CREATE DATABASE ravand_bench" 2>/dev/null
./target/release/ravand bench benches/models/linear10.yaml --db "$PG_BASE/ravand_bench" --instances "$N" --concurrency "$C"
"$PEERS/spiff/run.sh" 1000 linear10 --mode run+json-step 2>/dev/null | grep -E '^(peer=|# spiff)'
./target/release/ravand bench-timers --db "sqlite://$tmp/timers.db" --timers "$T"
rm -rf "$tmp"
