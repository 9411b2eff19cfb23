#!/usr/bin/env node
// The installed entry point runs the compiled CLI (dist/), built by `npm run build` / `npm ci`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("waypost: the CLI is not built yet; run `npm run build` (or `npm ci`) first\n");
  process.exit(2);
}
// A reader that stops early (`waypost build | head -1`) closes the pipe: runProcess drops the
// rest of the output and lets the command finish the files it writes (see pipeSafe).
const { runProcess } = await import(main.href);
await runProcess(process.argv.slice(2));
