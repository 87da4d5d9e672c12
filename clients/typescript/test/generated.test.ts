import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

test("src/protocol.ts is what the protocol's JSON Schema generates (run `npm run generate` after changing it)", async () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));  // dist/test -> the package
  // @ts-ignore: a plain ES module without types
  const { generate } = await import(`${root}scripts/generate.mjs`);
  assert.equal(await generate(), await readFile(`${root}src/protocol.ts`, "utf8"));
});
