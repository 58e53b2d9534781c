"""Ravand's JSON Schemas in Python's `jsonschema` (Draft 2020-12, with format
checking), and every committed definition, calendar and scenario read by
PyYAML -- a YAML 1.1 reader, as many tools are -- and validated against its
schema: a date or an `off` left unquoted would reach it as a date or as
false and fail here.

    python scripts/jsonschema-check.py
"""
import json
import pathlib
import sys

import jsonschema
import yaml

root = pathlib.Path(__file__).resolve().parent.parent
kinds = [
    ("ravand-process.schema.json", "definitions"),
    ("ravand-calendar.schema.json", "definitions/calendars"),
    ("ravand-scenario.schema.json", "definitions/scenarios"),
]
failed = False
for schema_name, folder in kinds:
    schema = json.loads((root / "definitions/schema" / schema_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    print(f"{schema_name}: a valid Draft 2020-12 schema")
    for path in sorted((root / folder).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{path.relative_to(root)}: {where}: {e.message}", file=sys.stderr)
        failed |= bool(errors)
        if not errors:
            print(f"{path.relative_to(root)}: valid as YAML 1.1 reads it")
sys.exit(1 if failed else 0)
