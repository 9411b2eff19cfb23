/**
 * Where a `file:line` links to: the file on the Git host at the commit the report was made
 * from, when the repository has an `origin` remote and the policy files are committed as they
 * are on disk (otherwise the line numbers could point at other text); else a path relative to
 * the report's folder, which works from a checkout and inside a CI artifact that keeps both.
 */
import * as fsSync from "node:fs";
import * as path from "node:path";
import git from "isomorphic-git";
import { dirtyPolicyFiles, openRepo, resolveRevision, subdirOf } from "../git.js";

export type LinkBase = { kind: "remote"; prefix: string; anchor: "L" } | { kind: "relative"; prefix: string };

/** `git@host:o/r.git`, `ssh://git@host/o/r`, `https://user@host/o/r.git` → `https://host/o/r`; null when not a web host. */
export function webUrlOf(remote: string): string | null {
  const r = remote.trim();
  let m = /^[\w.-]+@([\w.-]+):(.+?)(?:\.git)?\/?$/.exec(r);
  if (m) return `https://${m[1]}/${m[2]}`;
  m = /^(?:ssh|git|https?):\/\/(?:[^@/]+@)?([\w.-]+)(?::\d+)?\/(.+?)(?:\.git)?\/?$/.exec(r);
  if (m) return `https://${m[1]}/${m[2]}`;
  return null;
}

/** The blob URL prefix of a commit: GitLab spells it `/-/blob/`, GitHub, Gitea and Bitbucket-likes `/blob/`. */
export const blobPrefix = (web: string, commit: string, subdir: string): string =>
  `${web}${/gitlab/i.test(new URL(web).host) ? "/-/blob/" : "/blob/"}${commit}/${subdir ? `${subdir}/` : ""}`;

/**
 * The link base for a policy folder. `at`: the commit to link to (default HEAD, and then only
 * when the policy files are clean); `outDir`: where the report is written, for relative links.
 */
export async function linkBaseFor(dir: string, outDir: string, at?: string): Promise<LinkBase> {
  const relative: LinkBase = { kind: "relative", prefix: toPosix(path.relative(outDir, dir)) + "/" };
  const repo = await openRepo(dir);
  if (!repo.ok) return relative;
  let url: unknown;
  try {
    url = await git.getConfig({ fs: fsSync, dir: repo.value.dir, gitdir: repo.value.gitdir, path: "remote.origin.url" });
  } catch {
    return relative;
  }
  const web = typeof url === "string" ? webUrlOf(url) : null;
  if (!web) return relative;
  const subdir = subdirOf(repo.value, dir);
  const commit = await resolveRevision(repo.value, at ?? "HEAD");
  if (!commit.ok) return relative;
  if (at === undefined) {
    const dirty = await dirtyPolicyFiles(repo.value, subdir);
    if (!dirty.ok || dirty.value.length > 0) return relative;
  }
  return { kind: "remote", prefix: blobPrefix(web, commit.value, subdir), anchor: "L" };
}

const toPosix = (p: string): string => (p === "" ? "." : p.split(path.sep).join("/"));

/** The href of `file:line` (or a bare file). */
export function hrefOf(base: LinkBase, ref: string): string {
  const m = /^(.*?):(\d+)$/.exec(ref);
  const file = m ? m[1]! : ref;
  const enc = file.split("/").map(encodeURIComponent).join("/");
  if (base.kind === "remote") return `${base.prefix}${enc}${m ? `#L${m[2]}` : ""}`;
  return `${base.prefix}${enc}`;
}
