// Package build: compile TypeScript to dist/, then the Wasm runtime library template.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);
const tsc = require.resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
execFileSync(process.execPath, ["scripts/build-wasmlib.mjs"], { cwd: root, stdio: "inherit" });
