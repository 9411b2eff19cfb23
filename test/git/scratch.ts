/**
 * Scratch Git repositories for the Git tests: the example policy repository committed with
 * isomorphic-git into a temp folder, then changed commit by commit (text patches).
 */
import * as fsSync from "node:fs";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { exampleFiles, EXAMPLE, type Patch } from "../support/repo.js";

export interface Scratch {
  dir: string;
  commits: string[];
  commit(message: string, change: { patches?: Patch[]; files?: Record<string, string>; remove?: string[] }, at?: number): Promise<string>;
  patchWorkingTree(patches: Patch[]): Promise<void>;
  cleanup(): Promise<void>;
}

const AUTHOR = { name: "Ada Reviewer", email: "ada@northwind.example" };

export async function scratchRepo(prefix = "wp-git-"): Promise<Scratch> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await git.init({ fs: fsSync, dir, defaultBranch: "main" });
  const commits: string[] = [];
  let clock = 1_780_000_000; // fixed author dates: the bundle must not depend on the clock
  const applyPatches = async (patches: Patch[]): Promise<string[]> => {
    const touched: string[] = [];
    for (const p of patches) {
      const file = path.join(dir, p.file);
      const text = await fs.readFile(file, "utf8");
      const anchor = p.replace ?? p.after!;
      if (!text.includes(anchor)) throw new Error(`scratch patch for ${p.file}: text not found: ${JSON.stringify(anchor)}`);
      const next = p.replace !== undefined ? text.replace(p.replace, p.with ?? "") : text.replace(anchor, anchor + (p.with ?? ""));
      await fs.writeFile(file, next);
      touched.push(p.file);
    }
    return touched;
  };
  const scratch: Scratch = {
    dir,
    commits,
    async commit(message, change, at) {
      const touched: string[] = [];
      for (const [name, content] of Object.entries(change.files ?? {})) {
        await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await fs.writeFile(path.join(dir, name), content);
        touched.push(name);
      }
      touched.push(...(await applyPatches(change.patches ?? [])));
      for (const f of touched) await git.add({ fs: fsSync, dir, filepath: f });
      for (const f of change.remove ?? []) {
        await fs.rm(path.join(dir, f));
        await git.remove({ fs: fsSync, dir, filepath: f });
      }
      clock += 3600;
      const when = { timestamp: at ?? clock, timezoneOffset: 0 };
      const oid = await git.commit({ fs: fsSync, dir, message, author: { ...AUTHOR, ...when }, committer: { ...AUTHOR, ...when } });
      commits.push(oid);
      return oid;
    },
    async patchWorkingTree(patches) {
      await applyPatches(patches);
    },
    async cleanup() {
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  const files: Record<string, string> = {};
  for (const [name, bytes] of exampleFiles()) files[name] = new TextDecoder().decode(bytes);
  // The example requests too: `waypost diff` evaluates them.
  const ex = path.join(EXAMPLE, "requests");
  for (const f of fsSync.existsSync(ex) ? fsSync.readdirSync(ex).sort() : []) files[`requests/${f}`] = fsSync.readFileSync(path.join(ex, f), "utf8");
  await scratch.commit("Import the example policies", { files });
  return scratch;
}
