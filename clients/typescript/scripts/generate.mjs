// Generates src/protocol.ts from the protocol's JSON Schema (arena/runtime/protocol.schema.json), the one source
// of the message shapes for the Python host and this client. `npm run generate` after changing the schema;
// test/generated.test.ts fails while the committed file is stale. `--check` prints the output instead of writing.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const here = fileURLToPath(new URL(".", import.meta.url));
export const SCHEMA = `${here}../../../arena/runtime/protocol.schema.json`;
export const OUTPUT = `${here}../src/protocol.ts`;

export async function generate() {
  const schema = JSON.parse(await readFile(SCHEMA, "utf8"));
  return compile(schema, "ArenaProtocol", {
    bannerComment: "/* Generated from arena/runtime/protocol.schema.json by scripts/generate.mjs: do not edit. */",
    additionalProperties: true,
    unreachableDefinitions: true,
    style: { singleQuote: false },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await generate();
  if (process.argv.includes("--check")) process.stdout.write(text);
  else await writeFile(OUTPUT, text);
}
