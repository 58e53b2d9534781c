#!/usr/bin/env bash
# Simulation speed side by side with SimPy (../shared/peers/simpy/linear.py):
# 50 sequential activities on a pool of 5 at 80% utilisation, N cases, in one
# run. Installs simpy from PyPI when it is missing.
#   benches/sim-peers.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
PEERS=${PEERS:-../shared/peers}
if [ ! -d "$PEERS" ]; then
  echo "error: the peer harnesses are not at $PEERS: they live in the shared/ folder beside" >&2
  echo "the project root (../shared/peers/); put it there, or set PEERS=DIR to where they are." >&2
  exit 2
fi
cargo build --release --quiet -p ravand-cli
python3 -c 'import simpy' 2>/dev/null || python3 -m pip install -q simpy >/dev/null 2>&1
r=$(./target/release/ravand simulate benches/models/linear50.yaml --scenario benches/models/linear50.scenario.yaml --cases "$N" --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("peer=ravand model=linear50 n=%d cases_per_s=%.1f activities_per_s=%.1f utilisation=%.3f" % (r["finished"], r["timing"]["cases_per_s"], r["timing"]["activities_per_s"], r["roles"][0]["utilisation"]))')
echo "$r"
s=$(python3 "$PEERS/simpy/linear.py" "$N" | grep '^peer=')
echo "$s"
python3 - "$r" "$s" <<'PY'
import sys
f = lambda line: dict(kv.split("=") for kv in line.split())
r, s = f(sys.argv[1]), f(sys.argv[2])
print(f"ratio cases/s: {float(r['cases_per_s']) / float(s['cases_per_s']):.1f}x, activities/s: {float(r['activities_per_s']) / float(s['activities_per_s']):.1f}x")
PY

# The goal of 10,000 cases of today's permit process under a second (the
# committed scenario: 2,000 cases x 5 replications, Tehran calendar).
./target/release/ravand simulate definitions/building-permit-current.yaml --scenario definitions/scenarios/building-permit.yaml --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("peer=ravand model=building-permit-current n=%d elapsed_s=%.3f cases_per_s=%.0f" % (r["finished"], r["timing"]["elapsed_s"], r["timing"]["cases_per_s"]))'

# Prosimos on its purchasing example (WITH_PROSIMOS=1; the first run installs
# Prosimos 2.1.0 from PyPI into /tmp/prosimos-venv). Its harness times the
# whole `prosimos` process, so Ravand's whole process is timed too.
if [ "${WITH_PROSIMOS:-0}" = 1 ]; then
  start=$(date +%s.%N)
  ./target/release/ravand simulate benches/models/padua.yaml --scenario benches/models/padua.scenario.yaml --cases "$N" >/dev/null
  end=$(date +%s.%N)
  rw=$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.3f", e-s}')
  echo "peer=ravand model=padua n=$N wall_s=$rw cases_per_s=$(awk -v n="$N" -v w="$rw" 'BEGIN{printf "%.1f", n/w}')"
  p=$(bash "$PEERS/prosimos/run.sh" "$N" --no-log | grep '^cases=')
  pw=$(echo "$p" | sed -E 's/.*wall_s=([0-9.]+).*/\1/')
  echo "peer=prosimos model=padua n=$N wall_s=$pw cases_per_s=$(awk -v n="$N" -v w="$pw" 'BEGIN{printf "%.1f", n/w}')"
  awk -v r="$rw" -v p="$pw" 'BEGIN{printf "ratio (wall, whole process): %.0fx\n", p/r}'
fi
