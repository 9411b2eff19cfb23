import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;
/** The folder holding Waypost's package.json, from sources (vitest) or from dist/. */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json")) || !existsSync(path.join(dir, "schemas"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error("waypost: cannot find the package root (package.json with schemas/)");
    dir = up;
  }
  cached = dir;
  return dir;
}
