#!/usr/bin/env bash
# Screenshots of the console's pages, at a phone's width (390 px) and, for
# the dashboard and the comparison, a desk's (1280 px), made by the browser
# tests in Debian's Chromium: `bash scripts/screenshots.sh [FOLDER]`
# (docs/screens by default, where the README's pictures are). The tests
# check each page as they go (axe-core, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screens}
mkdir -p "$out"
axe_dir=target/ci-tools/axe
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  npm install --silent --no-audit --no-fund --prefix "$axe_dir" axe-core@4.14.1 >/dev/null
fi
export RAVAND_AXE="$PWD/$axe_dir/node_modules/axe-core/axe.min.js"
export RAVAND_SCREENSHOTS="$(cd "$out" && pwd)"
export RAVAND_REQUIRE_BROWSER=1
cargo test --quiet --test it -- in_chromium --test-threads=1
ls "$out"/*.png
