#!/usr/bin/env bash
# Acknowledged commands per second: N cases of a one-task model started
# through the engine, then their tasks completed over HTTP on loopback by C
# clients, one request per completion, each answered after its commit; p50
# and p99 per request, and how many units of work each commit carried
# (SQLite shares a commit among the units queued for its writer). On a
# SQLite file (WAL, fsync at commit) and on PostgreSQL. Then jobs per second.
#   benches/acks.sh [N] [CLIENTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
shift || true
CLIENTS=("${@:-8 32}")
read -r -a CLIENTS <<< "${CLIENTS[*]}"
PG_ADMIN=${RAVAND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
cargo build --release --quiet -p ravand-cli
tmp=$(mktemp -d)
for c in "${CLIENTS[@]}"; do
  ./target/release/ravand bench-acks --db "sqlite://$tmp/acks-$c.db" --commands "$N" --clients "$c"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_acks" -c "CREATE DATABASE ravand_bench_acks" 2>/dev/null
  ./target/release/ravand bench-acks --db "$PG_BASE/ravand_bench_acks" --commands "$N" --clients "$c"
done
# Jobs for outside workers: 8 workers acquiring 10 at a time with a lease
# and completing each through the engine.
./target/release/ravand bench-jobs --db "sqlite://$tmp/jobs.db" --jobs "$N" --workers 8
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ravand_bench_jobs" -c "CREATE DATABASE ravand_bench_jobs" 2>/dev/null
./target/release/ravand bench-jobs --db "$PG_BASE/ravand_bench_jobs" --jobs "$N" --workers 8
rm -rf "$tmp"
