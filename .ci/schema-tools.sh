#!/usr/bin/env bash
# Ravand's JSON Schemas checked with the validators other tools use, pinned:
#   - Ajv (npm, installed by .ci/run in target/ci-tools/editors) compiles
#     each in strict mode, draft 2020-12, and validates the committed files;
#   - Python's jsonschema (PyPI, in target/ci-tools/schema-py) checks each as
#     a 2020-12 schema with format checking, and validates the committed
#     files as PyYAML (a YAML 1.1 reader) reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/ci-tools
editors=$tools/editors
if [ ! -f "$editors/node_modules/ajv-formats/package.json" ]; then
  npm install --silent --no-audit --no-fund --prefix "$editors" \
    yaml-language-server@1.25.0 yaml@2.8.3 ajv@8.20.0 ajv-formats@3.0.1 >/dev/null
fi
node scripts/ajv-check.mjs "$editors/node_modules"
py=$tools/schema-py
if [ ! -x "$py/bin/python" ] || ! "$py/bin/python" -c 'import jsonschema, yaml' 2>/dev/null; then
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet jsonschema==4.25.1 PyYAML==6.0.3
fi
"$py/bin/python" scripts/jsonschema-check.py
