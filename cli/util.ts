import { promises as fs } from "node:fs";
import * as path from "node:path";
export { VERSION } from "../compiler/version.js";
import { UsageError } from "./command.js";


/**
 * Diagnostics that mean the input could not be read (an unreadable folder or file, no policy
 * files where the user pointed): a usage or input error, exit 2, not a policy problem (1).
 */
const INPUT_CODES = new Set(["WP0001", "WP0002", "WP0005"]);

/** The exit status of a failed check or build: 2 when the input could not be read, else 1. */
export const failureExit = (ds: readonly { code: string; severity: string }[]): 1 | 2 =>
  ds.some((d) => d.severity === "error" && INPUT_CODES.has(d.code)) ? 2 : 1;

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
