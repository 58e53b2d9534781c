#!/usr/bin/env bash
# Ravand side by side with the peer engines, in one run on this machine:
# each model with `ravand bench` and with SpiffWorkflow (and, with
# WITH_NODE=1, bpmn-engine, which is slow), then the ratio of instances per
# second. The peers' harnesses live in ../shared/peers/engines/ and install
# their engine from its registry on first use.
#   benches/peers.sh [N_RAVAND] [N_PEER]
set -euo pipefail
cd "$(dirname "$0")/.."
N_RAVAND=${1:-100000}
N_PEER=${2:-2000}
PEERS=${PEERS:-../shared/peers/engines}
if [ ! -d "$PEERS" ]; then
  echo "error: the peer harnesses are not at $PEERS: they live in the shared/ folder beside" >&2
  echo "the project root (../shared/peers/); put it there, or set PEERS=DIR to where they are." >&2
  exit 2
fi
cargo build --release --quiet -p ravand-cli
out=$(mktemp)
for m in linear10 parallel xor; do
  ./target/release/ravand bench "benches/models/$m.yaml" --instances "$N_RAVAND" | tee -a "$out"
  "$PEERS/spiff/run.sh" "$N_PEER" "$m" --mode run 2>/dev/null | grep -E '^(peer=|# spiff)' | tee -a "$out"
  if [ "${WITH_NODE:-0}" = 1 ]; then
    "$PEERS/bpmn-engine/run.sh" "$((N_PEER / 10))" "$m" --scripts fn 2>/dev/null | grep -E '^(peer=|# bpmn)' | tee -a "$out"
  fi
done
echo
echo "| model | ravand inst/s | ravand steps/s | peer | peer inst/s | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
awk '
  /^peer=/ {
    split("", f); for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if (f["peer"] == "ravand") { r[f["model"]] = f["inst_per_s"]; s[f["model"]] = f["steps_per_s"] }
    else { p[f["model"] SUBSEP f["peer"]] = f["inst_per_s"] }
  }
  END {
    for (k in p) { split(k, mk, SUBSEP); m = mk[1];
      printf "| %s | %.0f | %.0f | %s | %.1f | %.0fx |\n", m, r[m], s[m], mk[2], p[k], r[m] / p[k] }
  }' "$out" | sort
rm -f "$out"
