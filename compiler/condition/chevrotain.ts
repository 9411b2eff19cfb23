/**
 * chevrotain, loaded from the single-module bundle its package ships (`lib/chevrotain.mjs`).
 * The package's entry point (`lib/src/api.js`) loads several hundred modules, lodash-es among
 * them: 0.8 s of CPU at every start of the CLI, most of what `waypost check` spent before it
 * read a file; the bundle is the same code, version and API in one module (0.06 s). Its
 * `exports` map does not expose the bundle, so it is found the way Node finds the package (the
 * `node_modules` folders above this file); without it, the entry point is used.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Chevrotain from "chevrotain";

function bundlePath(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, "node_modules", "chevrotain", "lib", "chevrotain.mjs");
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

const found = bundlePath();
const mod = (found ? await import(pathToFileURL(found).href) : await import("chevrotain")) as typeof Chevrotain;

export const { createToken, Lexer, CstParser, EOF } = mod;
export type Lexer = Chevrotain.Lexer;
export type CstParser = Chevrotain.CstParser;
