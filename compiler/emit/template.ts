/**
 * The runtime-library template (built by scripts/build-wasmlib.mjs) and the splice that turns
 * it into a policy module: the `waypost.eval_cond` and `waypost.heap_base` imports become
 * generated functions, the `wp_*` helper exports (kept only so -O3 would not drop them) are
 * removed, and the policy's constants are appended as a data segment.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TEMPLATE_META, TEMPLATE_WAT } from "./names.js";

export interface TemplateMeta {
  staticEnd: number; // first free address after the library's static data
  evalCond: string; // internal name of the imported eval_cond function
  heapBase: string; // internal name of the imported heap_base function
  helpers: Record<string, string>; // wp_* export name -> internal function name
}

export interface Template {
  meta: TemplateMeta;
  /** Template text with the spliced imports and helper exports removed, minus the closing paren. */
  head: string;
}

/** The package root: the nearest folder with a package.json above this file (src or dist). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error("waypost: cannot find the package root (package.json)");
    dir = up;
  }
}

let cached: Template | undefined;

export function loadTemplate(): Template {
  if (cached) return cached;
  const root = packageRoot();
  const watFile = path.join(root, TEMPLATE_WAT);
  const metaFile = path.join(root, TEMPLATE_META);
  if (!existsSync(watFile) || !existsSync(metaFile)) {
    throw new Error(`waypost: the Wasm runtime template is missing (${TEMPLATE_WAT}); run \`npm run build\``);
  }
  const meta = JSON.parse(readFileSync(metaFile, "utf8")) as TemplateMeta;
  const kept: string[] = [];
  for (const line of readFileSync(watFile, "utf8").split("\n")) {
    const t = line.trim();
    if (t.startsWith('(import "waypost" ')) continue;
    if (t.startsWith('(export "wp_')) continue;
    kept.push(line);
  }
  // The module's closing paren is the last non-empty line; generated items go before it.
  while (kept.length > 0 && kept[kept.length - 1]!.trim() === "") kept.pop();
  if (kept.pop()?.trim() !== ")") throw new Error("waypost: unexpected end of the runtime template");
  cached = { meta, head: kept.join("\n") };
  return cached;
}

/** The internal name of helper `wp_x`; a missing one is a build mismatch (internal error). */
export function helper(t: Template, exportName: string): string {
  const name = t.meta.helpers[exportName];
  if (name === undefined) throw new Error(`waypost: runtime template lacks helper ${exportName}`);
  return name;
}
