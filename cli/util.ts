import { readFileSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { packageRoot } from "../compiler/package-root.js";
import { UsageError } from "./command.js";

export const VERSION: string = (JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;

/** A repository directory argument: must exist and be a directory (usage error otherwise). */
export async function resolveDir(cwd: string, arg: string | undefined): Promise<string> {
  const dir = path.resolve(cwd, arg ?? ".");
  let st;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new UsageError(`\`${arg ?? dir}\` does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`\`${arg ?? dir}\` is not a directory`);
  return dir;
}
