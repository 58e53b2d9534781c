#!/usr/bin/env bash
# The HTTP API checked from outside with the real third-party tools, pinned,
# installed in a local folder (target/ci-tools/py):
#   - openapi-spec-validator on the OpenAPI document, and Redocly's lint with
#     its recommended ruleset (npm, in target/ci-tools/npm; the three
#     operations that can answer no 4xx are listed in .redocly.lint-ignore.yaml);
#   - schemathesis against a live `ravand serve` (every check, a fixed seed,
#     .ci/schemathesis.toml), failing on any finding;
#   - openapi-python-client generating a Python client from the document,
#     which tests/python/client_flow.py drives: start a case, page the task
#     list, complete the task, and (as the SMS gateway) do the job that
#     texts the tracking code.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/ci-tools
py=$tools/py
if [ ! -x "$py/bin/openapi-python-client" ]; then
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet openapi-spec-validator==0.9.0 schemathesis==4.32.5 openapi-python-client==0.29.1
fi
cargo build --quiet -p ravand-cli
ravand=target/debug/ravand

"$ravand" schema --openapi > "$tools/openapi.json"
"$py/bin/openapi-spec-validator" "$tools/openapi.json"
redocly=$tools/npm/node_modules/.bin/redocly
if [ ! -x "$redocly" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools/npm" @redocly/cli@2.77.0
fi
"$redocly" lint "$tools/openapi.json" --extends=recommended --format=summary

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$ravand" serve --db "sqlite://$work/api.db" --addr "127.0.0.1:$port" --tokens tokens.example.yaml \
  --deploy definitions/complaint-137.yaml --deploy definitions/building-permit-reformed.yaml 2> "$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "$base/health" >/dev/null && break
  sleep 0.1
done
for _ in 1 2 3; do
  curl -sf -X POST "$base/cases" -H "Authorization: Bearer admin-demo" -H "content-type: application/json" \
    -d '{"process": "complaint-137", "data": {"category": "roads"}}' >/dev/null
done

seed=${SCHEMATHESIS_SEED:-1}
echo "schemathesis seed $seed (SCHEMATHESIS_SEED=N repeats another)"
"$py/bin/schemathesis" --config-file .ci/schemathesis.toml run "$base/openapi.json" \
  -H "Authorization: Bearer admin-demo" --checks all --max-examples 20 --seed "$seed" \
  --request-timeout 30 --no-color

rm -rf "$tools/client"
mkdir -p "$tools/client"
"$py/bin/openapi-python-client" generate --path "$tools/openapi.json" --meta none \
  --output-path "$tools/client/ravand_client" --overwrite >/dev/null
PYTHONPATH="$tools/client" "$py/bin/python" tests/python/client_flow.py "$base" admin-demo gateway-demo
