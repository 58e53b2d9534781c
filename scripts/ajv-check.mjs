// Compiles each of Ravand's JSON Schemas with Ajv in strict mode (draft
// 2020-12, with the standard formats), and validates every committed file
// of its kind against it. Exit 1 on the first schema Ajv refuses or the
// first file it finds invalid.
//   node scripts/ajv-check.mjs <node_modules dir>
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const modules = process.argv[2];
const require = createRequire(join(resolve(modules), "noop.js"));
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;
const YAML = require("yaml");

const kinds = [
  ["definitions/schema/ravand-process.schema.json", "definitions", (f) => f.endsWith(".yaml")],
  ["definitions/schema/ravand-calendar.schema.json", "definitions/calendars", (f) => f.endsWith(".yaml")],
  ["definitions/schema/ravand-scenario.schema.json", "definitions/scenarios", (f) => f.endsWith(".yaml")],
];
let failed = false;
for (const [schemaFile, dir, pick] of kinds) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
  } catch (e) {
    console.error(`${schemaFile}: Ajv (strict) refuses the schema: ${e.message}`);
    failed = true;
    continue;
  }
  console.log(`${schemaFile}: compiles in Ajv strict mode`);
  for (const f of readdirSync(dir).filter(pick).sort()) {
    const path = join(dir, f);
    // YAML 1.2 core schema, as Ravand reads it.
    const doc = YAML.parse(readFileSync(path, "utf8"), { version: "1.2" });
    if (!validate(doc)) {
      console.error(`${path}: ${ajv.errorsText(validate.errors)}`);
      failed = true;
    } else {
      console.log(`${path}: valid`);
    }
  }
}
process.exit(failed ? 1 : 0);
