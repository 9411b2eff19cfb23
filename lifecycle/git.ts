/**
 * Policies from Git, through isomorphic-git (no `git` binary at run time): resolving revisions,
 * reading a commit's tree as a SourceHost, detecting a dirty working tree, and the history of a
 * journey node. Everything that can go wrong with the user's repository or revision is an
 * error value with a stable WP50xx code (lifecycle/codes.ts); only internal bugs throw.
 */
import * as fsSync from "node:fs";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import git from "isomorphic-git";
import * as YAML from "yaml";
import { POLICY_DIRS } from "../compiler/load.js";
import { SourceRefusal, type RefusedEntry, type SourceHost, type SourceListing } from "../compiler/source.js";
import type { Problem } from "../runtime/codes.js";
import type { LifecycleCode } from "./codes.js";

/** An error about the user's input (repository, revision, file), as a value (cli/render/problem.ts prints it). */
export type WpError = Problem<LifecycleCode>;

export type Result<T> = { ok: true; value: T } | { ok: false; error: WpError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: LifecycleCode, message: string, help?: string): Result<T> => ({
  ok: false,
  error: { code, message, ...(help !== undefined ? { help } : {}) },
});

export interface Repo {
  /** The working tree root. */
  dir: string;
  gitdir: string;
  /** Commits at the boundary of a shallow clone (their parents are missing). */
  shallow: ReadonlySet<string>;
  /** isomorphic-git's object cache, shared by every call on this repository. */
  cache: object;
}

export interface CommitInfo {
  oid: string;
  tree: string;
  parents: string[];
  author: { name: string; email: string };
  /** Author date, RFC 3339 UTC (what the manifest records). */
  authorDate: string;
  message: string;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const errCode = (e: unknown): string => (typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "");

/** Finds the repository containing `dir` (like git, looking upwards). */
export async function openRepo(dir: string): Promise<Result<Repo>> {
  const abs = path.resolve(dir);
  let st;
  try {
    st = await fs.stat(abs);
  } catch {
    return fail("WP5001", `\`${dir}\` does not exist`, "give the folder of a Git repository");
  }
  if (!st.isDirectory()) return fail("WP5001", `\`${dir}\` is not a directory`, "give the folder of a Git repository");
  let root: string;
  try {
    root = await git.findRoot({ fs: fsSync, filepath: abs });
  } catch {
    return fail("WP5001", `\`${dir}\` is not inside a Git repository`, "run `git init` there, or give the repository's folder");
  }
  let gitdir = path.join(root, ".git");
  // A worktree or submodule has a `.git` file naming the real git directory.
  try {
    if ((await fs.stat(gitdir)).isFile()) {
      const m = /^gitdir:\s*(.+)$/m.exec(await fs.readFile(gitdir, "utf8"));
      if (!m) return fail("WP5004", `\`${gitdir}\` is not a valid gitdir link`, "repair the repository or clone it again");
      gitdir = path.resolve(root, m[1]!.trim());
    }
  } catch (e) {
    return fail("WP5004", `cannot read \`${gitdir}\`: ${errText(e)}`, "repair the repository or clone it again");
  }
  let shallow = new Set<string>();
  try {
    const text = await fs.readFile(path.join(gitdir, "shallow"), "utf8");
    shallow = new Set(text.split("\n").map((l) => l.trim()).filter((l) => /^[0-9a-f]{40}$/.test(l)));
  } catch {
    // Not shallow: the file exists only in shallow clones.
  }
  return ok({ dir: root, gitdir, shallow, cache: {} });
}

const corrupt = <T>(what: string, e: unknown): Result<T> =>
  fail("WP5004", `the repository is corrupt: cannot read ${what} (${errText(e)})`, "run `git fsck` to see what is damaged, or clone the repository again");

/** Reads a commit; a missing object behind a shallow boundary is WP5003, otherwise WP5004. */
export async function readCommitInfo(repo: Repo, oid: string): Promise<Result<CommitInfo>> {
  try {
    const { commit } = await git.readCommit({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, cache: repo.cache });
    return ok({
      oid,
      tree: commit.tree,
      parents: commit.parent,
      author: { name: commit.author.name, email: commit.author.email },
      authorDate: new Date(commit.author.timestamp * 1000).toISOString().replace(/\.000Z$/, "Z"),
      message: commit.message,
    });
  } catch (e) {
    return corrupt(`commit \`${oid}\``, e);
  }
}

/** Peels a tag object to the commit it names. */
async function peelToCommit(repo: Repo, oid: string, spelled: string): Promise<Result<string>> {
  for (let depth = 0; depth < 10; depth++) {
    let obj;
    try {
      obj = await git.readObject({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, format: "parsed", cache: repo.cache });
    } catch (e) {
      return corrupt(`object \`${oid}\` (named by \`${spelled}\`)`, e);
    }
    if (obj.type === "commit") return ok(oid);
    if (obj.type === "tag") {
      oid = (obj.object as { object: string }).object;
      continue;
    }
    return fail("WP5002", `\`${spelled}\` names a ${obj.type}, not a commit`, "give a branch, a tag or a commit id");
  }
  return fail("WP5002", `\`${spelled}\` is a chain of tags that is too long`, "give a commit id");
}

/**
 * Resolves a revision: a branch, tag, `HEAD`, a full or abbreviated commit id, optionally
 * followed by `~N` and `^`/`^N` steps (first and N-th parent), as git spells them.
 */
export async function resolveRevision(repo: Repo, spelled: string): Promise<Result<string>> {
  const m = /^(.*?)((?:[~^]\d*)*)$/.exec(spelled.trim());
  const base = m?.[1] ?? "";
  const steps = m?.[2] ?? "";
  if (base === "") return fail("WP5002", `\`${spelled}\` is not a revision`, "give a branch, a tag or a commit id, e.g. `main` or `HEAD~1`");
  let oid: string | undefined;
  try {
    oid = await git.resolveRef({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, ref: base });
  } catch (e) {
    const code = errCode(e);
    if (code !== "NotFoundError" && code !== "InvalidRefNameError") {
      // HEAD pointing at an unborn branch is the usual case in a fresh repository.
      if (base === "HEAD") return fail("WP5002", "the repository has no commits yet", "commit the policies first");
      return corrupt(`ref \`${base}\``, e);
    }
  }
  if (oid === undefined && /^[0-9a-f]{4,40}$/i.test(base)) {
    try {
      oid = await git.expandOid({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid: base.toLowerCase(), cache: repo.cache });
    } catch (e) {
      if (errCode(e) === "AmbiguousError") {
        return fail("WP5002", `the commit id \`${base}\` is ambiguous`, "give more digits of the commit id");
      }
    }
  }
  if (oid === undefined) {
    if (base === "HEAD") return fail("WP5002", "the repository has no commits yet", "commit the policies first");
    return fail("WP5002", `unknown revision \`${base}\``, "give a branch, a tag or a commit id; list them with `git log --oneline --all`");
  }
  const peeled = await peelToCommit(repo, oid, spelled);
  if (!peeled.ok) return peeled;
  oid = peeled.value;
  for (const step of steps.match(/[~^]\d*/g) ?? []) {
    const n = step.length > 1 ? Number(step.slice(1)) : 1;
    const count = step[0] === "~" ? n : 1;
    const parentIndex = step[0] === "^" ? n - 1 : 0;
    if (step[0] === "^" && n === 0) continue; // `X^0` is X itself
    for (let i = 0; i < count; i++) {
      if (repo.shallow.has(oid)) {
        return fail("WP5003", `\`${spelled}\` reaches past the history of this shallow clone`, "fetch the full history with `git fetch --unshallow`");
      }
      const c = await readCommitInfo(repo, oid);
      if (!c.ok) return c;
      const parent = c.value.parents[parentIndex];
      if (parent === undefined) return fail("WP5002", `\`${spelled}\` does not exist: commit \`${oid.slice(0, 12)}\` has no such parent`, "count the commits with `git log --oneline`");
      oid = parent;
    }
  }
  return ok(oid);
}

/** One entry of a tree, as listTree records it. */
type TreeNode = { kind: "file"; oid: string } | { kind: "dir" } | { kind: "link"; oid: string } | { kind: "submodule" };

/** Every entry of a tree by `/`-separated path (folders too), skipping what FsHost skips. */
async function listTree(repo: Repo, treeOid: string): Promise<Result<Map<string, TreeNode>>> {
  const out = new Map<string, TreeNode>([["", { kind: "dir" }]]);
  const SKIP = new Set(["node_modules", "dist", "out"]);
  const walkTree = async (oid: string, prefix: string): Promise<Result<true>> => {
    let tree;
    try {
      tree = (await git.readTree({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, cache: repo.cache })).tree;
    } catch (e) {
      return corrupt(`tree \`${oid}\`${prefix ? ` (\`${prefix}\`)` : ""}`, e);
    }
    for (const entry of tree) {
      // As FsHost: dotfiles and build folders are not sources.
      if (entry.path.startsWith(".") || SKIP.has(entry.path)) continue;
      const rel = prefix ? `${prefix}/${entry.path}` : entry.path;
      if (entry.type === "tree") {
        out.set(rel, { kind: "dir" });
        const r = await walkTree(entry.oid, rel);
        if (!r.ok) return r;
      } else if (entry.type === "blob") out.set(rel, entry.mode === "120000" ? { kind: "link", oid: entry.oid } : { kind: "file", oid: entry.oid });
      else out.set(rel, { kind: "submodule" });
    }
    return ok(true);
  };
  const r = await walkTree(treeOid, "");
  return r.ok ? ok(out) : r;
}

/** Symlinks followed per path before it counts as a loop (Linux's limit). */
const MAX_LINK_HOPS = 40;

type TreeTarget = { path: string; node: TreeNode } | { refused: "outside" | "loop" | "dangling" };

/**
 * Resolves `p` in the tree as the OS resolves a path in a checkout: each symlink met on the
 * way is replaced by its target, relative to the link's folder. Leaving the root (`..` above
 * it, an absolute target) is `outside`: the root is the policy repository, as for FsHost.
 */
function resolveInTree(nodes: ReadonlyMap<string, TreeNode>, targets: ReadonlyMap<string, string>, p: string): TreeTarget {
  let todo = p.split("/");
  let done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const seg = todo.shift()!;
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (done.length === 0) return { refused: "outside" };
      done.pop();
      continue;
    }
    done.push(seg);
    const here = done.join("/");
    const node = nodes.get(here);
    if (node === undefined) return { refused: "dangling" };
    if (node.kind !== "link") continue;
    if (++hops > MAX_LINK_HOPS) return { refused: "loop" };
    const target = targets.get(here) ?? "";
    if (target.startsWith("/") || /^[A-Za-z]:[\\/]/.test(target)) return { refused: "outside" };
    done.pop();
    todo = [...target.split("/"), ...todo];
    if (target === "") return { refused: "dangling" };
  }
  const at = done.join("/");
  return { path: at, node: nodes.get(at)! };
}

/**
 * The files a checkout of the tree would show, with symlinks inside the root followed (a
 * linked file under its link's path, a linked folder's files under the link's folder) and the
 * entries a checkout could not give the compiler refused: links leaving the root, loops,
 * dangling links, submodules. Mirrors FsHost.scan, so a commit and its checkout agree.
 */
function treeListing(nodes: ReadonlyMap<string, TreeNode>, targets: ReadonlyMap<string, string>): { blobs: Map<string, string>; refused: RefusedEntry[] } {
  const children = new Map<string, string[]>();
  for (const p of nodes.keys()) {
    if (p === "") continue;
    const slash = p.lastIndexOf("/");
    const parent = slash < 0 ? "" : p.slice(0, slash);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(p.slice(slash + 1));
  }
  const blobs = new Map<string, string>();
  const refused: RefusedEntry[] = [];
  const isAncestorOrSelf = (a: string, b: string): boolean => a === "" || a === b || b.startsWith(a + "/");
  const walk = (virtual: string, real: string, chain: readonly string[]): void => {
    for (const name of (children.get(real) ?? []).sort()) {
      const v = virtual === "" ? name : `${virtual}/${name}`;
      const r = real === "" ? name : `${real}/${name}`;
      const node = nodes.get(r)!;
      if (node.kind === "file") blobs.set(v, node.oid);
      else if (node.kind === "dir") walk(v, r, [...chain, real]);
      else if (node.kind === "submodule") refused.push({ path: v, kind: "special", what: "a Git submodule, which a build from a commit does not read", folder: true });
      else {
        const target = targets.get(r) ?? "";
        const to = resolveInTree(nodes, targets, r);
        if ("refused" in to) {
          const what =
            to.refused === "outside" ? `a symlink to \`${target}\`, which resolves outside the repository`
            : to.refused === "loop" ? `a symlink loop (\`${target}\`)`
            : `a symlink to \`${target}\`, which does not exist`;
          // A checkout's target outside the tree may be a folder: what the link stands for is
          // unknown, so it is refused as one would be (an error whatever its name).
          refused.push({ path: v, kind: to.refused, what, folder: to.refused === "outside" });
        } else if (to.node.kind === "file") blobs.set(v, to.node.oid);
        else if (to.node.kind === "submodule") refused.push({ path: v, kind: "special", what: `a symlink to a Git submodule (\`${target}\`)`, folder: true });
        else if ([...chain, real].some((a) => isAncestorOrSelf(to.path, a))) {
          refused.push({ path: v, kind: "loop", what: `a symlink to \`${target}\`, a folder that contains it (a loop)`, folder: true });
        } else walk(v, to.path, [...chain, real]);
      }
    }
  };
  walk("", "", []);
  return { blobs, refused };
}

/** The tree of `subdir` at a commit. */
async function subtree(repo: Repo, commit: CommitInfo, subdir: string): Promise<Result<string>> {
  let oid = commit.tree;
  for (const part of subdir.split("/").filter((p) => p !== "" && p !== ".")) {
    let tree;
    try {
      tree = (await git.readTree({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, cache: repo.cache })).tree;
    } catch (e) {
      return corrupt(`tree \`${oid}\``, e);
    }
    const entry = tree.find((t) => t.path === part && t.type === "tree");
    if (!entry) return fail("WP5002", `the folder \`${subdir}\` does not exist at commit \`${commit.oid.slice(0, 12)}\``, "give a revision that has the policies, or run from the repository root");
    oid = entry.oid;
  }
  return ok(oid);
}

/** A commit's tree as a SourceHost. Policy files are read up front so corruption is an error value. */
export class GitHost implements SourceHost {
  private constructor(
    readonly description: string,
    private readonly repo: Repo,
    private readonly blobs: ReadonlyMap<string, string>,
    private readonly refused: readonly RefusedEntry[],
    private readonly cached: Map<string, Uint8Array>,
  ) {}

  /**
   * `subdir`: the policy repository's folder inside the Git repository (`""` for the root):
   * paths are relative to it, as FsHost's are to its directory.
   */
  static async open(repo: Repo, commit: CommitInfo, subdir = "", eager: readonly string[] = [...POLICY_DIRS, "tests", "requests"]): Promise<Result<GitHost>> {
    const root = await subtree(repo, commit, subdir);
    if (!root.ok) return root;
    const tree = await listTree(repo, root.value);
    if (!tree.ok) return tree;
    // A symlink's blob is its target path.
    const targets = new Map<string, string>();
    for (const [p, node] of tree.value) {
      if (node.kind !== "link") continue;
      try {
        const { blob } = await git.readBlob({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid: node.oid, cache: repo.cache });
        targets.set(p, new TextDecoder().decode(blob));
      } catch (e) {
        return corrupt(`the symlink \`${p}\` at commit \`${commit.oid.slice(0, 12)}\``, e);
      }
    }
    const { blobs, refused } = treeListing(tree.value, targets);
    const cached = new Map<string, Uint8Array>();
    for (const [p, oid] of blobs) {
      if (!eager.some((d) => p.startsWith(d + "/"))) continue;
      try {
        cached.set(p, (await git.readBlob({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, cache: repo.cache })).blob);
      } catch (e) {
        return corrupt(`\`${p}\` at commit \`${commit.oid.slice(0, 12)}\``, e);
      }
    }
    return ok(new GitHost(`commit ${commit.oid.slice(0, 12)}`, repo, blobs, refused, cached));
  }

  async listFiles(): Promise<string[]> {
    return [...this.blobs.keys()].sort();
  }

  async scan(): Promise<SourceListing> {
    return { files: await this.listFiles(), refused: [...this.refused] };
  }

  async readFile(relPath: string): Promise<Uint8Array | null> {
    const hit = this.cached.get(relPath);
    if (hit) return hit;
    const oid = this.blobs.get(relPath);
    if (oid === undefined) {
      // A path through a refused link is refused too, not "missing".
      const r = this.refused.find((x) => x.path === relPath || relPath.startsWith(x.path + "/"));
      if (r) throw new SourceRefusal(r.path === relPath ? r : { ...r, path: relPath, what: `inside \`${r.path}\`, ${r.what}` });
      return null;
    }
    const { blob } = await git.readBlob({ fs: fsSync, dir: this.repo.dir, gitdir: this.repo.gitdir, oid, cache: this.repo.cache });
    this.cached.set(relPath, blob);
    return blob;
  }
}

/** A revision opened for building: its commit and its tree as a host. */
export interface Snapshot {
  repo: Repo;
  commit: CommitInfo;
  host: GitHost;
}

/** Opens `rev` of the repository containing `dir`; `dir` may be a subfolder holding the policies. */
export async function openSnapshot(dir: string, rev: string): Promise<Result<Snapshot>> {
  const repo = await openRepo(dir);
  if (!repo.ok) return repo;
  return snapshotOf(repo.value, rev, subdirOf(repo.value, dir));
}

/** `dir` relative to the repository root, `/`-separated (`""` at the root). */
export const subdirOf = (repo: Repo, dir: string): string => path.relative(repo.dir, path.resolve(dir)).split(path.sep).join("/");

export async function snapshotOf(repo: Repo, rev: string, subdir = ""): Promise<Result<Snapshot>> {
  const oid = await resolveRevision(repo, rev);
  if (!oid.ok) return oid;
  const commit = await readCommitInfo(repo, oid.value);
  if (!commit.ok) return commit;
  const host = await GitHost.open(repo, commit.value, subdir);
  if (!host.ok) return host;
  return ok({ repo, commit: commit.value, host: host.value });
}

/** The manifest metadata of a build from a commit (same commit, same metadata: no clock). */
export function commitMetadata(commit: CommitInfo, dirty: readonly string[] | null): Record<string, string | boolean | string[]> {
  return {
    git_commit: commit.oid,
    git_author_date: commit.authorDate,
    ...(dirty !== null ? { dirty: true, dirty_files: [...dirty] } : {}),
  };
}

/**
 * Policy files whose working copy differs from HEAD (modified, added, deleted, untracked and
 * not ignored), sorted. Only the folders the compiler reads count: an edited README does not
 * change a bundle.
 */
export async function dirtyPolicyFiles(repo: Repo, subdir = ""): Promise<Result<string[]>> {
  try {
    const filepaths = POLICY_DIRS.map((d) => (subdir ? `${subdir}/${d}` : d));
    const rows = await git.statusMatrix({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, filepaths, cache: repo.cache });
    return ok(rows.filter(([, head, work, stage]) => !(head === 1 && work === 1 && stage === 1)).map(([f]) => f).sort());
  } catch (e) {
    if (errCode(e) === "NotFoundError" && /HEAD|ref/i.test(errText(e))) return fail("WP5002", "the repository has no commits yet", "commit the policies first");
    return corrupt("the working tree status", e);
  }
}

// ---------------------------------------------------------------------------------------------
// History of a journey node

export interface NodeChange {
  commit: CommitInfo;
  change: "added" | "modified" | "removed";
  /** The file defining the node after the change (before it, for `removed`). */
  file: string;
}

/** node id -> canonical JSON of its document, for every JourneyNode in the policy folders. */
async function nodesAt(repo: Repo, commit: CommitInfo, byBlob: Map<string, Map<string, { json: string; file: string }>>): Promise<Result<Map<string, { json: string; file: string }>>> {
  const tree = await listTree(repo, commit.tree);
  if (!tree.ok) return tree;
  const out = new Map<string, { json: string; file: string }>();
  for (const [p, node] of tree.value) {
    // Regular files only: history follows the file that defines a node, not links to it.
    if (node.kind !== "file" || !POLICY_DIRS.some((d) => p.startsWith(d + "/")) || !/\.ya?ml$/i.test(p)) continue;
    const oid = node.oid;
    let nodes = byBlob.get(`${oid}:${p}`);
    if (!nodes) {
      nodes = new Map();
      let text: string;
      try {
        text = new TextDecoder().decode((await git.readBlob({ fs: fsSync, dir: repo.dir, gitdir: repo.gitdir, oid, cache: repo.cache })).blob);
      } catch (e) {
        return corrupt(`\`${p}\` at commit \`${commit.oid.slice(0, 12)}\``, e);
      }
      // A file that does not parse at some commit defines no node there (the compiler said so then).
      try {
        for (const d of YAML.parseAllDocuments(text)) {
          const v: unknown = d.toJS({ maxAliasCount: 100 });
          if (typeof v === "object" && v !== null && (v as Record<string, unknown>)["kind"] === "JourneyNode") {
            const id = (v as Record<string, unknown>)["id"];
            if (typeof id === "string") nodes.set(id, { json: JSON.stringify(v), file: p });
          }
        }
      } catch {
        // see above
      }
      byBlob.set(`${oid}:${p}`, nodes);
    }
    for (const [id, n] of nodes) out.set(id, n);
  }
  return ok(out);
}

/**
 * The commits (first-parent history of `rev`, newest first) that changed the node's
 * definition: its document's content, not its comments or formatting.
 */
export async function nodeHistory(repo: Repo, rev: string, node: string, limit = 1000): Promise<Result<NodeChange[]>> {
  const head = await resolveRevision(repo, rev);
  if (!head.ok) return head;
  const byBlob = new Map<string, Map<string, { json: string; file: string }>>();
  const changes: NodeChange[] = [];
  let seen = false;
  const first = await readCommitInfo(repo, head.value);
  if (!first.ok) return first;
  const firstNodes = await nodesAt(repo, first.value, byBlob);
  if (!firstNodes.ok) return firstNodes;
  let commit: CommitInfo = first.value;
  let mine = firstNodes.value;
  for (let n = 0; n < limit; n++) {
    const here = mine.get(node);
    if (here) seen = true;
    const parentOid = commit.parents[0];
    if (parentOid === undefined) {
      if (here) changes.push({ commit, change: "added", file: here.file });
      break;
    }
    if (repo.shallow.has(commit.oid)) {
      return fail("WP5003", `the history of \`${node}\` stops at commit \`${commit.oid.slice(0, 12)}\`: this is a shallow clone`, "fetch the full history with `git fetch --unshallow`");
    }
    const parent = await readCommitInfo(repo, parentOid);
    if (!parent.ok) return parent;
    const parentNodes = await nodesAt(repo, parent.value, byBlob);
    if (!parentNodes.ok) return parentNodes;
    const before = parentNodes.value.get(node);
    if (here && !before) changes.push({ commit, change: "added", file: here.file });
    else if (!here && before) changes.push({ commit, change: "removed", file: before.file });
    else if (here && before && here.json !== before.json) changes.push({ commit, change: "modified", file: here.file });
    commit = parent.value;
    mine = parentNodes.value;
  }
  if (!seen && changes.length === 0) {
    return fail("WP5012", `no commit of \`${rev}\` defines the journey node \`${node}\``, "check the node id (the `id:` of a JourneyNode document)");
  }
  return ok(changes);
}
