/**
 * Where sources come from. Like TypeScript's CompilerHost, the pipeline never touches the file
 * system directly: a host lists and reads files, so a build can read a Git tree at a commit
 * (compiler/git.ts) exactly as it reads a working directory.
 *
 * The repository boundary: a host reads only regular files inside its root. Symlinks inside
 * the repository are followed (a shared file linked into `policies/` works); a symlink, or a
 * symlinked folder, that resolves outside the root is refused, and so are symlink loops,
 * dangling links and special files (FIFOs, sockets, devices: a FIFO would block the read
 * forever). Listing reports each refused entry (`scan`), and reading one throws a
 * `SourceRefusal`, so the loader turns both into located diagnostics instead of skipping them.
 */
import * as fsSync from "node:fs";
import { constants as fsc, promises as fs, type Stats } from "node:fs";
import * as path from "node:path";

/** Why a host will not read an entry. */
export type RefusalKind = "outside" | "special" | "loop" | "dangling";

/** An entry below the root that the host refuses to read. */
export interface RefusedEntry {
  /** `/`-separated, relative to the root. */
  path: string;
  kind: RefusalKind;
  /** What it is, for messages: "a FIFO", "a symlink to `/etc/passwd`". */
  what: string;
  /** A folder (or a link to one): whatever is inside is not read either. */
  folder: boolean;
}

export interface SourceListing {
  files: string[];
  refused: RefusedEntry[];
}

/** Thrown by `readFile` for a path the host refuses to read. */
export class SourceRefusal extends Error {
  constructor(readonly entry: RefusedEntry) {
    super(`\`${entry.path}\` is ${entry.what}`);
    this.name = "SourceRefusal";
  }
}

export interface SourceHost {
  /** A label for messages, e.g. the directory or `commit 3f2a…`. */
  readonly description: string;
  /** Every file below the root, as `/`-separated relative paths, sorted. */
  listFiles(): Promise<string[]>;
  /**
   * The file's bytes, or null when it does not exist. Throws a `SourceRefusal` for a path the
   * host will not read, otherwise only for I/O failures.
   */
  readFile(relPath: string): Promise<Uint8Array | null>;
  /** `listFiles` plus the entries refused while listing; hosts that cannot have any omit it. */
  scan?(): Promise<SourceListing>;
}

/** A host's listing with its refusals (none for hosts without `scan`). */
export async function scanHost(host: SourceHost): Promise<SourceListing> {
  return host.scan ? host.scan() : { files: await host.listFiles(), refused: [] };
}

const errno = (e: unknown): string => (typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "");

const inside = (rootReal: string, p: string): boolean => p === rootReal || p.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep);

function specialKind(st: Pick<Stats, "isFIFO" | "isSocket" | "isCharacterDevice" | "isBlockDevice">): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/** Symlinks are resolved by the OS; these flags keep a FIFO from blocking `open`. */
const OPEN_FLAGS = fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0) | (fsc.O_NOFOLLOW ?? 0);

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "out"]);

/** Reads a directory on disk, within the repository boundary (see the top of this file). */
export class FsHost implements SourceHost {
  readonly description: string;
  private rootReal: Promise<string> | null = null;
  /** The root as an absolute path (resolved once: readFile runs once per policy file). */
  private readonly rootAbs: string;
  constructor(readonly root: string) {
    this.description = root;
    this.rootAbs = path.resolve(root);
  }

  private realRoot(): Promise<string> {
    this.rootReal ??= fs.realpath(this.root);
    return this.rootReal;
  }

  async listFiles(): Promise<string[]> {
    return (await this.scan()).files;
  }

  async scan(): Promise<SourceListing> {
    const rootReal = await this.realRoot();
    const files: string[] = [];
    const refused: RefusedEntry[] = [];
    // `real` is where `rel` really is; `chain` the real folders walked to get there (a link
    // back to one of them, or to an ancestor, is a loop).
    const walk = async (rel: string, real: string, chain: readonly string[]): Promise<void> => {
      const entries = await fs.readdir(path.join(this.root, rel), { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name.startsWith(".") || SKIP_DIRS.has(e.name)) continue;
        const child = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(child, path.join(real, e.name), [...chain, real]);
        else if (e.isFile()) files.push(child);
        else if (e.isSymbolicLink()) {
          const r = await resolveLink(path.join(this.root, child), rootReal);
          if ("kind" in r) refused.push({ path: child, ...r });
          else if (r.stat.isFile()) files.push(child);
          else if (r.stat.isDirectory()) {
            const loops = [...chain, real].some((a) => a === r.real || inside(r.real, a));
            if (loops) refused.push({ path: child, kind: "loop", what: `a symlink to \`${r.target}\`, a folder that contains it (a loop)`, folder: true });
            else await walk(child, r.real, [...chain, real]);
          } else refused.push({ path: child, kind: "special", what: `a symlink to ${specialKind(r.stat)}`, folder: false });
        } else refused.push({ path: child, kind: "special", what: specialKind(e), folder: false });
      }
    };
    await walk("", rootReal, []);
    return { files: files.sort(), refused };
  }

  /** Real paths of the folders files were read from (folders inside the root only). */
  private readonly realDirs = new Map<string, string>();

  // Synchronous calls inside: a file is read with five system calls, and through the promise
  // API each costs a thread-pool round trip and a FileHandle (0.5 ms a file, 10,000 journey
  // files: most of the Load stage); the sync calls take a tenth of that.
  async readFile(relPath: string): Promise<Uint8Array | null> {
    const full = path.resolve(this.rootAbs, relPath);
    // Policy files may only name files inside the repository.
    if (!full.startsWith(this.rootAbs + path.sep)) return null;
    const rootReal = await this.realRoot();
    const rel = relPath.split(path.sep).join("/");
    const fast = this.readFast(full, rootReal, rel);
    if (fast !== undefined) return fast;
    const refuse = (kind: RefusalKind, what: string): never => {
      throw new SourceRefusal({ path: rel, kind, what, folder: false });
    };
    let real: string;
    try {
      real = fsSync.realpathSync.native(full);
    } catch (e) {
      if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return null;
      if (errno(e) === "ELOOP") refuse("loop", "a symlink loop");
      throw e;
    }
    if (!inside(rootReal, real)) refuse("outside", `a symlink (or inside a symlinked folder) that resolves to \`${real}\`, outside the repository`);
    // realpath, then open, then check that what was opened is still what realpath found: a
    // path swapped for a link between the two (TOCTOU) gives another file and is refused.
    let fd: number;
    try {
      fd = fsSync.openSync(real, OPEN_FLAGS);
    } catch (e) {
      if (errno(e) === "ENOENT") return null;
      if (errno(e) === "ELOOP") refuse("outside", "a path that changed into a symlink while it was being read");
      if (errno(e) === "EISDIR") return null;
      throw e;
    }
    try {
      const st = fsSync.fstatSync(fd);
      if (st.isDirectory()) return null;
      if (!st.isFile()) refuse("special", specialKind(st));
      let again: Stats;
      try {
        const real2 = fsSync.realpathSync.native(full);
        if (!inside(rootReal, real2)) throw new Error("moved outside");
        again = fsSync.statSync(real2);
      } catch {
        return refuse("outside", "a path that changed while it was being read");
      }
      if (again.dev !== st.dev || again.ino !== st.ino) refuse("outside", "a path that changed while it was being read");
      return readOpened(fd, st.size);
    } finally {
      fsSync.closeSync(fd);
    }
  }

  /**
   * The usual case in fewer system calls: a regular file (not a link) in a folder whose real
   * path is known. The folder's real path is resolved once per folder; the file is opened
   * there without following a link, and the kernel's name for the open file
   * (`/proc/self/fd/N`) must be that real path, so a folder swapped for a link after it was
   * resolved is caught, as readFile's second realpath catches it. Anything else (a link, a
   * missing file, a folder outside the root, no /proc) is left to the full check: undefined.
   */
  private readFast(full: string, rootReal: string, rel: string): Uint8Array | null | undefined {
    if (!PROC_FD) return undefined;
    const dir = path.dirname(full);
    let realDir = this.realDirs.get(dir);
    if (realDir === undefined) {
      try {
        realDir = fsSync.realpathSync.native(dir);
      } catch {
        return undefined;
      }
      if (!inside(rootReal, realDir)) return undefined;
      this.realDirs.set(dir, realDir);
    }
    const real = path.join(realDir, path.basename(full));
    let fd: number;
    try {
      fd = fsSync.openSync(real, OPEN_FLAGS);
    } catch {
      return undefined;
    }
    try {
      let opened: string;
      try {
        opened = fsSync.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return undefined;
      }
      if (opened !== real) return undefined;
      const st = fsSync.fstatSync(fd);
      if (st.isDirectory()) return null;
      if (!st.isFile()) throw new SourceRefusal({ path: rel, kind: "special", what: specialKind(st), folder: false });
      return readOpened(fd, st.size);
    } finally {
      fsSync.closeSync(fd);
    }
  }
}

/**
 * An open regular file's bytes, given the size its fstat reported: readFileSync(fd) would fstat
 * it again (a system call and a Stats object per policy file). An empty or large file is left to
 * readFileSync (it reads files that report no size in chunks, and knows Node's size limit).
 */
function readOpened(fd: number, size: number): Uint8Array {
  if (size === 0 || size > 1 << 20) return fsSync.readFileSync(fd);
  const buf = Buffer.allocUnsafe(size);
  let n = 0;
  while (n < size) {
    const got = fsSync.readSync(fd, buf, n, size - n, null);
    if (got === 0) break; // shorter than it was: what is there, as readFileSync returns
    n += got;
  }
  return n < size ? buf.subarray(0, n) : buf;
}

/** Linux names an open file's path under /proc/self/fd (readFast); elsewhere the full check runs. */
const PROC_FD = process.platform === "linux" && fsSync.existsSync("/proc/self/fd");

type Resolved = { real: string; target: string; stat: Stats } | { kind: RefusalKind; what: string; folder: boolean };

/** Where a symlink leads, or why it is refused (outside the root, a loop, dangling). */
async function resolveLink(full: string, rootReal: string): Promise<Resolved> {
  let target = "";
  try {
    target = await fs.readlink(full);
  } catch {
    // Replaced since it was listed: realpath below reports what it is now.
  }
  let real: string;
  try {
    real = await fs.realpath(full);
  } catch (e) {
    if (errno(e) === "ELOOP") return { kind: "loop", what: `a symlink loop (\`${target}\`)`, folder: false };
    return { kind: "dangling", what: `a symlink to \`${target}\`, which does not exist`, folder: false };
  }
  let stat: Stats;
  try {
    stat = await fs.stat(real);
  } catch {
    return { kind: "dangling", what: `a symlink to \`${target}\`, which cannot be read`, folder: false };
  }
  if (!inside(rootReal, real)) {
    return { kind: "outside", what: `a symlink${stat.isDirectory() ? "ed folder" : ""} to \`${target}\`, which resolves outside the repository (\`${real}\`)`, folder: stat.isDirectory() };
  }
  return { real, target, stat };
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
