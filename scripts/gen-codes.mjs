// Generates docs/codes.md from the diagnostic registry (lifecycle/codes.ts): `npm run docs:codes`.
// With --check it writes nothing and exits 1 when the page is stale (as the test does).
import { readFileSync, writeFileSync } from "node:fs";
import { register } from "node:module";
import { fileURLToPath } from "node:url";

// The registry is TypeScript: run it from the sources, as the tests do (no build needed).
register("../test/support/ts-hooks.mjs", import.meta.url);
const { renderCodesDoc, CODES_PAGE } = await import("../test/support/codes-doc.ts");

const file = fileURLToPath(new URL(`../${CODES_PAGE}`, import.meta.url));
const text = renderCodesDoc();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    process.stderr.write(`${CODES_PAGE} is stale: run \`npm run docs:codes\`\n`);
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${CODES_PAGE}\n`);
}
