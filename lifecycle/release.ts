/**
 * Builds from Git and the local artifact store.
 *
 * Store layout (runtime/contract.ts; runtime/store.ts reads it):
 *   STORE/index.json              {version: 1, current, releases: [...], events: [...]}
 *   STORE/bundles/<revision>.tar.gz
 * Every update writes a temporary file, fsyncs it and renames it over the old one (readers see
 * the old or the new index, never half of one); a bundle is in place before the index names
 * it. Writers take `STORE/.lock` (O_EXCL) so two releases cannot interleave.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { writeFileAtomic } from "../compiler/atomic-write.js";
import * as path from "node:path";
import { build, type BuildResult } from "../compiler/build.js";
import type { SigningKeyInput } from "../compiler/bundle.js";
import { commitMetadata, dirtyPolicyFiles, fail, ok, openRepo, resolveRevision, snapshotOf, subdirOf, type CommitInfo, type Result } from "./git.js";
import { FsHost, type SourceHost } from "../compiler/source.js";
import { REVISION_NAME, STORE_INDEX_FILE, STORE_INDEX_VERSION, storeBundleFile, type StoreIndex, type StoreRelease } from "../runtime/contract.js";
import { bundleDigest } from "../runtime/store.js";

export interface GitBuildOptions {
  /** Build a working tree with uncommitted policy changes (marked `dirty` in the manifest). */
  allowDirty?: boolean;
  signingKey?: SigningKeyInput;
}

export interface GitBuild {
  result: BuildResult;
  commit: CommitInfo;
  /** The uncommitted policy files built in, or null for a clean build from the commit. */
  dirty: string[] | null;
  host: SourceHost;
}

/**
 * Builds `rev` of the repository containing `dir`. The bundle is a function of the commit
 * alone (its tree, id and author date), so the same commit gives the same bytes anywhere.
 *
 * When `rev` is the checked-out commit and policy files have uncommitted changes, the build
 * is refused (WP5005): the operator most likely expects those edits to be in the release, and
 * a release must be reproducible from a commit. `allowDirty` builds the working tree instead,
 * with revision `<commit>-dirty-<12 hex of the changes>` and `dirty: true` in the manifest.
 */
export async function buildRevision(dir: string, rev: string, opts: GitBuildOptions = {}): Promise<Result<GitBuild>> {
  const repo = await openRepo(dir);
  if (!repo.ok) return repo;
  const subdir = subdirOf(repo.value, dir);
  const snap = await snapshotOf(repo.value, rev, subdir);
  if (!snap.ok) return snap;
  const { commit } = snap.value;
  let dirty: string[] | null = null;
  const head = await resolveRevision(repo.value, "HEAD");
  if (head.ok && head.value === commit.oid) {
    const files = await dirtyPolicyFiles(repo.value, subdir);
    if (!files.ok) return files;
    if (files.value.length > 0) {
      if (!opts.allowDirty) {
        const list = files.value.slice(0, 5).map((f) => `\`${f}\``).join(", ") + (files.value.length > 5 ? `, and ${files.value.length - 5} more` : "");
        return fail("WP5005", `uncommitted changes to policy files: ${list}`, "commit them (a release must come from a commit), or pass `--allow-dirty` to build the working tree, marked dirty");
      }
      dirty = files.value;
    }
  }
  let host: SourceHost = snap.value.host;
  let revision = commit.oid;
  if (dirty !== null) {
    host = new FsHost(path.resolve(dir));
    const h = createHash("sha256");
    for (const f of dirty) {
      h.update(`${f}\0`);
      try {
        h.update(await fs.readFile(path.join(repo.value.dir, f)));
      } catch {
        h.update("\0deleted");
      }
    }
    revision = `${commit.oid}-dirty-${h.digest("hex").slice(0, 12)}`;
  }
  const result = await build(host, {
    revision,
    metadata: commitMetadata(commit, dirty),
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
  });
  return ok({ result, commit, dirty, host });
}

// ---------------------------------------------------------------------------------------------
// The artifact store

export type { StoreIndex, StoreRelease } from "../runtime/contract.js";

const bundlePath = (store: string, revision: string): string => path.join(store, storeBundleFile(revision));

const emptyIndex = (): StoreIndex => ({ version: STORE_INDEX_VERSION, current: null, releases: [], events: [] });

/** Reads the index; a missing store is empty when `create`, an error otherwise. */
export async function readStore(store: string, create = false): Promise<Result<StoreIndex>> {
  let text: string;
  try {
    text = await fs.readFile(path.join(store, STORE_INDEX_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      if (create) return ok(emptyIndex());
      return fail("WP5009", `\`${store}\` is not an artifact store (no \`${STORE_INDEX_FILE}\`)`, "create one with `waypost release --store DIR`");
    }
    return fail("WP5009", `cannot read the artifact store index \`${path.join(store, STORE_INDEX_FILE)}\`: ${(e as Error).message}`, "check the path and its permissions");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail("WP5009", `the artifact store index \`${path.join(store, STORE_INDEX_FILE)}\` is not valid JSON`, "restore it from a backup; bundles in `bundles/` are intact");
  }
  const idx = v as Partial<StoreIndex>;
  if (typeof v !== "object" || v === null || idx.version !== STORE_INDEX_VERSION || !Array.isArray(idx.releases) || !Array.isArray(idx.events) || !(idx.current === null || typeof idx.current === "string")) {
    return fail("WP5009", `the artifact store index \`${path.join(store, STORE_INDEX_FILE)}\` has an unknown format`, "restore it from a backup; bundles in `bundles/` are intact");
  }
  return ok(idx as StoreIndex);
}

/** Runs `fn` holding the store's lock file. */
async function withLock<T>(store: string, fn: () => Promise<Result<T>>): Promise<Result<T>> {
  const lock = path.join(store, ".lock");
  try {
    await fs.mkdir(store, { recursive: true });
  } catch (e) {
    // EEXIST here is a file where the store folder should be, not a lock.
    const why = (e as NodeJS.ErrnoException).code === "EEXIST" ? "it is a file, not a folder" : (e as Error).message;
    return fail("WP5009", `cannot use \`${store}\` as the artifact store: ${why}`, "give the folder of an artifact store (`--store DIR`)");
  }
  try {
    const fh = await fs.open(lock, "wx");
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      return fail("WP5009", `the artifact store \`${store}\` is locked by another release or rollback`, `wait for it to finish; if none is running, delete \`${lock}\``);
    }
    return fail("WP5009", `cannot write to the artifact store \`${store}\`: ${(e as Error).message}`, "check the path and its permissions");
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

export interface ReleaseInput {
  revision: string;
  bundle: Uint8Array;
  commit?: CommitInfo | null;
  dirty?: boolean;
  /** Defaults to the clock: store timestamps are bookkeeping, not decision inputs. */
  now?: Date;
}

const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** Adds a bundle to the store (if new) and makes it current. */
export async function publishRelease(store: string, input: ReleaseInput): Promise<Result<{ index: StoreIndex; release: StoreRelease; added: boolean; previous: string | null }>> {
  if (!REVISION_NAME.test(input.revision)) {
    return fail("WP5009", `the revision \`${input.revision}\` cannot name a file in the store`, "use letters, digits, `.`, `_` and `-`");
  }
  return withLock(store, async () => {
    const idx = await readStore(store, true);
    if (!idx.ok) return idx;
    const index = idx.value;
    const digest = bundleDigest(input.bundle);
    const at = iso(input.now ?? new Date());
    let release = index.releases.find((r) => r.revision === input.revision);
    const added = release === undefined;
    if (release && release.digest !== digest) {
      return fail("WP5009", `the store already holds revision \`${input.revision}\` with different bytes (${release.digest})`, "a revision names one bundle; release a new commit instead");
    }
    const file = bundlePath(store, input.revision);
    let existing: Uint8Array | null = null;
    try {
      existing = await fs.readFile(file);
    } catch {
      existing = null;
    }
    // Rewrite the bundle when it is missing or damaged: the index must never name bad bytes.
    if (existing === null || bundleDigest(existing) !== digest) await writeFileAtomic(file, input.bundle);
    if (!release) {
      release = {
        revision: input.revision,
        digest,
        bytes: input.bundle.length,
        released_at: at,
        commit: input.commit?.oid ?? null,
        author_date: input.commit?.authorDate ?? null,
        dirty: input.dirty ?? false,
      };
      index.releases.push(release);
    }
    const previous = index.current;
    index.current = input.revision;
    index.events.push({ at, action: "release", revision: input.revision, from: previous });
    await writeFileAtomic(path.join(store, STORE_INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
    return ok({ index, release, added, previous });
  });
}

/**
 * Points `current` at `to` (a revision in the store, or a unique prefix of one), or by
 * default at the release before the current one. The bundle's bytes are checked against the
 * index first: rolling back to a damaged bundle would only make the runtime keep serving.
 */
export async function rollback(store: string, to?: string, now?: Date): Promise<Result<{ index: StoreIndex; from: string | null; to: string }>> {
  return withLock(store, async () => {
    const idx = await readStore(store);
    if (!idx.ok) return idx;
    const index = idx.value;
    let target: StoreRelease | undefined;
    if (to !== undefined) {
      const matches = index.releases.filter((r) => r.revision === to || r.revision.startsWith(to));
      const exact = matches.find((r) => r.revision === to);
      if (exact) target = exact;
      else if (matches.length === 1) target = matches[0];
      else if (matches.length > 1) return fail("WP5010", `\`${to}\` matches ${matches.length} releases`, "give more characters of the revision");
      else {
        return fail("WP5010", `the revision \`${to}\` is not in the artifact store`, `release it first (\`waypost release --rev ${to}\`), or list releases with \`waypost rollback --list\``);
      }
    } else {
      const i = index.releases.findIndex((r) => r.revision === index.current);
      if (i <= 0) return fail("WP5011", index.current === null ? "nothing has been released yet" : `\`${index.current}\` is the first release: there is nothing before it`, "give a revision with `--to REV`");
      target = index.releases[i - 1];
    }
    const t = target!;
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(bundlePath(store, t.revision));
    } catch {
      return fail("WP5009", `the bundle of \`${t.revision}\` is missing from the store`, `release it again with \`waypost release --rev ${t.commit ?? t.revision}\``);
    }
    if (bundleDigest(bytes) !== t.digest) {
      return fail("WP5009", `the bundle of \`${t.revision}\` does not match its digest in the index`, `release it again with \`waypost release --rev ${t.commit ?? t.revision}\``);
    }
    const from = index.current;
    index.current = t.revision;
    index.events.push({ at: iso(now ?? new Date()), action: "rollback", revision: t.revision, from });
    await writeFileAtomic(path.join(store, STORE_INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
    return ok({ index, from, to: t.revision });
  });
}
