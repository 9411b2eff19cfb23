import { promises as fs } from "node:fs";
import * as path from "node:path";

/**
 * Writes a file so readers see the old bytes or the new ones, never half: a fresh temporary
 * file beside it, fsync, rename, then fsync of the directory so the rename survives a crash.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fh = await fs.open(tmp, "wx");
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  // Make the rename itself durable (best effort: not every platform can fsync a directory).
  try {
    const d = await fs.open(path.dirname(file), "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // see above
  }
}
