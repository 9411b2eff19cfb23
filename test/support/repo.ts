/**
 * Policy repositories for tests: the example repository in this package, optionally patched
 * (text replacements, added, removed files), served from memory through a SourceHost.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryHost } from "../../compiler/source.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The example policy repository (what `npm start` builds). */
export const EXAMPLE = path.join(ROOT, "examples", "northwind");

function walk(dir: string, rel: string, out: Map<string, Uint8Array>): void {
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const full = path.join(dir, r);
    if (statSync(full).isDirectory()) walk(dir, r, out);
    else out.set(r, readFileSync(full));
  }
}

/** The example repository's files (policies/, journeys/, tests/). */
export function exampleFiles(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const d of ["policies", "journeys", "tests"]) {
    try {
      walk(EXAMPLE, d, out);
    } catch {
      // tests/ may not exist
    }
  }
  return out;
}

export interface Patch {
  file: string;
  replace?: string;
  with?: string;
  /** Insert `with` after the first occurrence of `after`. */
  after?: string;
}

export interface RepoChange {
  patches?: Patch[];
  files?: Record<string, string>;
  remove?: string[];
  /** Files of the given size in bytes (YAML comment lines), for size limits. */
  large?: Record<string, number>;
}

export function patchedFiles(change: RepoChange): Map<string, Uint8Array> {
  const files = exampleFiles();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  for (const r of change.remove ?? []) {
    if (!files.delete(r)) throw new Error(`fixture removes ${r}, which does not exist`);
  }
  for (const p of change.patches ?? []) {
    const cur = files.get(p.file);
    if (!cur) throw new Error(`fixture patches ${p.file}, which does not exist`);
    const text = dec.decode(cur);
    const anchor = p.replace ?? p.after;
    if (anchor === undefined || !text.includes(anchor)) throw new Error(`fixture patch for ${p.file}: text not found: ${JSON.stringify(anchor)}`);
    const next = p.replace !== undefined ? text.replace(p.replace, p.with ?? "") : text.replace(p.after!, p.after! + (p.with ?? ""));
    files.set(p.file, enc.encode(next));
  }
  for (const [name, content] of Object.entries(change.files ?? {})) files.set(name, enc.encode(content));
  for (const [name, size] of Object.entries(change.large ?? {})) files.set(name, enc.encode("# padding line\n".repeat(Math.ceil(size / 15))));
  return files;
}

export const patchedHost = (change: RepoChange): MemoryHost => new MemoryHost(patchedFiles(change), "fixture");
