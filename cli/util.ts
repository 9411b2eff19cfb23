import { promises as fs } from "node:fs";
import * as path from "node:path";
export { VERSION } from "../compiler/version.js";
import { UsageError } from "./command.js";


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
