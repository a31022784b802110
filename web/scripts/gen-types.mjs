// Turns src/api/schema.json (the JSON Schema of dyngen's Python wire models, written by
// `python -m dyngen.entrypoints.schema_export`) into src/api/types.gen.ts with json-schema-to-typescript.
// The output is deterministic: same schema, same file. Its header carries the schema's sha256, which
// tests/unit/test_web_types.py compares with the committed schema, so a schema change without a
// regeneration fails `make test`.
//
// It also writes src/api/labels.gen.ts: each enum's human label (`PurposeLabels`, from the hand-written
// src/api/enum-labels.json), checked against the schema so that every value has a label and no label is
// left for a value that is gone.
//
//   node scripts/gen-types.mjs           write src/api/types.gen.ts and src/api/labels.gen.ts
//   node scripts/gen-types.mjs --check   exit 1 when a committed file is not what the schema gives
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = join(here, "..", "src", "api", "schema.json");
const outPath = join(here, "..", "src", "api", "types.gen.ts");
const labelsPath = join(here, "..", "src", "api", "enum-labels.json");
const labelsOutPath = join(here, "..", "src", "api", "labels.gen.ts");

const raw = readFileSync(schemaPath);
const digest = createHash("sha256").update(raw).digest("hex");
const schema = JSON.parse(raw.toString("utf-8"));

// Pydantic titles every field ("Moodfrom"); json-schema-to-typescript would make each one a named alias.
// Only the models and enums (the `$defs`) keep their titles, so fields get inline types.
function untitle(node) {
  if (Array.isArray(node)) return node.map(untitle);
  if (node === null || typeof node !== "object") return node;
  // A `$ref` with siblings (pydantic puts the default there) would become a numbered copy of the type.
  if (typeof node.$ref === "string") return { $ref: node.$ref };
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "title") continue;
    out[key] =
      key === "properties"
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, untitle(v)]))
        : untitle(value);
  }
  return out;
}
for (const [name, def] of Object.entries(schema.$defs)) {
  schema.$defs[name] = { ...untitle(def), title: def.title ?? name };
}

const banner = [
  "/* eslint-disable */",
  "// GENERATED FILE: do not edit. `npm run gen:types` writes it from src/api/schema.json,",
  "// the JSON Schema of dyngen's Python wire models (dyngen.entrypoints.schema_export).",
  `// schema-sha256: ${digest}`,
].join("\n");

const types = await compile(schema, schema.title, {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  declareExternallyReferenced: true,
  enableConstEnums: false,
  maxItems: -1,
  strictIndexSignatures: true,
  format: true,
  style: { printWidth: 120, semi: true, singleQuote: false, trailingComma: "all" },
});

// Each string enum's values as a constant (`PacingValues`), in the schema's order: the editor's choices are
// read from here, never copied by hand.
function enumValues(name, values) {
  const line = `export const ${name}Values: readonly ${name}[] = [${values.map((v) => JSON.stringify(v)).join(", ")}];`;
  if (line.length <= 120) return line;
  return [`export const ${name}Values: readonly ${name}[] = [`, ...values.map((v) => `  ${JSON.stringify(v)},`), "];"].join("\n");
}
const enums = Object.entries(schema.$defs)
  .filter(([, def]) => Array.isArray(def.enum) && def.enum.every((v) => typeof v === "string"))
  .map(([name, def]) => enumValues(name, def.enum));
const ts = `${types}\n// The values of each enum, in the schema's order.\n${enums.join("\n")}\n`;

// Each enum's labels, in the schema's order: `PurposeLabels` maps a value to its words, `labelOf` reads any.
const labels = JSON.parse(readFileSync(labelsPath, "utf-8"));
const stringEnums = Object.entries(schema.$defs).filter(
  ([, def]) => Array.isArray(def.enum) && def.enum.every((v) => typeof v === "string"),
);
const labelProblems = [];
for (const [name, def] of stringEnums) {
  const given = labels[name] ?? {};
  for (const value of def.enum) if (typeof given[value] !== "string") labelProblems.push(`${name}.${value} has no label`);
  for (const value of Object.keys(given)) if (!def.enum.includes(value)) labelProblems.push(`${name}.${value} is not a value`);
}
for (const name of Object.keys(labels)) {
  if (name !== "$comment" && !stringEnums.some(([n]) => n === name)) labelProblems.push(`${name} is not an enum of the schema`);
}
if (labelProblems.length) {
  console.error(`src/api/enum-labels.json does not match the schema's enums:\n  ${labelProblems.join("\n  ")}`);
  process.exit(1);
}
const labelLines = stringEnums.map(([name, def]) =>
  [
    `export const ${name}Labels: Readonly<Record<${name}, string>> = {`,
    ...def.enum.map((v) => `  ${JSON.stringify(v)}: ${JSON.stringify(labels[name][v])},`),
    "};",
  ].join("\n"),
);
const labelsTs = [
  "// GENERATED FILE: do not edit. `npm run gen:types` writes it from src/api/enum-labels.json, checked",
  "// against the enums of src/api/schema.json (every value has a label).",
  `// schema-sha256: ${digest}`,
  `import type { ${stringEnums.map(([n]) => n).join(", ")} } from "./types.gen";`,
  "",
  ...labelLines,
  "",
].join("\n");

const outputs = [
  [outPath, ts, "src/api/types.gen.ts"],
  [labelsOutPath, labelsTs, "src/api/labels.gen.ts"],
];
if (process.argv.includes("--check")) {
  let stale = false;
  for (const [path, text, name] of outputs) {
    let current;
    try {
      current = readFileSync(path, "utf-8");
    } catch {
      current = null;
    }
    if (current !== text) {
      console.error(`${name} is stale: run \`npm run gen:types\``);
      stale = true;
    }
  }
  if (stale) process.exit(1);
  console.log("src/api/types.gen.ts and labels.gen.ts match src/api/schema.json");
} else {
  for (const [path, text] of outputs) writeFileSync(path, text);
  console.log(`wrote ${outPath} and ${labelsOutPath} (schema-sha256 ${digest.slice(0, 12)})`);
}
