// The client's wire types are the editor's: web/src/api/types.gen.ts, which json-schema-to-typescript
// generates from web/src/api/schema.json (the JSON Schema of dyngen's Python wire models). Every build copies
// it to src/wire.gen.ts (git-ignored), after checking that its schema-sha256 header is the committed schema's,
// so the client never carries types of its own making and never ships types of a stale schema.
//
//   node scripts/sync-types.mjs
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const api = join(here, "..", "..", "..", "web", "src", "api");
const source = readFileSync(join(api, "types.gen.ts"), "utf-8");
const digest = createHash("sha256").update(readFileSync(join(api, "schema.json"))).digest("hex");
const header = /^\/\/ schema-sha256: ([0-9a-f]{64})$/m.exec(source);
if (!header || header[1] !== digest) {
  console.error("web/src/api/types.gen.ts is stale against schema.json: run `npm run gen:types` in web/");
  process.exit(1);
}
const banner = "// GENERATED FILE: copied from web/src/api/types.gen.ts by clients/typescript/scripts/sync-types.mjs.\n";
writeFileSync(join(here, "..", "src", "wire.gen.ts"), banner + source);
