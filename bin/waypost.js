#!/usr/bin/env node
// The installed entry point runs the compiled CLI (dist/), built by `npm run build` / `npm ci`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("waypost: the CLI is not built yet; run `npm run build` (or `npm ci`) first\n");
  process.exit(2);
}
// A reader that stops early (`waypost history X | head`) closes the pipe: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
