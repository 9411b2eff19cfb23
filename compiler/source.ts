/**
 * Where sources come from. Like TypeScript's CompilerHost, the pipeline never touches the file
 * system directly: a host lists and reads files, so a build can read a Git tree at a commit
 * (compiler/git.ts) exactly as it reads a working directory.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";

export interface SourceHost {
  /** A label for messages, e.g. the directory or `commit 3f2a…`. */
  readonly description: string;
  /** Every file below the root, as `/`-separated relative paths, sorted. */
  listFiles(): Promise<string[]>;
  /** The file's bytes, or null when it does not exist. Throws only for I/O failures. */
  readFile(relPath: string): Promise<Uint8Array | null>;
}

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "out"]);

/** Reads a directory on disk. */
export class FsHost implements SourceHost {
  readonly description: string;
  constructor(readonly root: string) {
    this.description = root;
  }

  async listFiles(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await fs.readdir(path.join(this.root, rel), { withFileTypes: true });
      for (const e of entries) {
        if (e.name.startsWith(".") || SKIP_DIRS.has(e.name)) continue;
        const child = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(child);
        else if (e.isFile()) out.push(child);
      }
    };
    await walk("");
    return out.sort();
  }

  async readFile(relPath: string): Promise<Uint8Array | null> {
    const full = path.resolve(this.root, relPath);
    // Policy files may only name files inside the repository.
    if (!full.startsWith(path.resolve(this.root) + path.sep)) return null;
    try {
      return await fs.readFile(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "EISDIR") return null;
      throw e;
    }
  }
}

/** An in-memory host (tests, and trees read from Git). */
export class MemoryHost implements SourceHost {
  constructor(
    readonly files: ReadonlyMap<string, Uint8Array>,
    readonly description = "memory",
  ) {}
  async listFiles(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }
  async readFile(relPath: string): Promise<Uint8Array | null> {
    return this.files.get(relPath) ?? null;
  }
}
