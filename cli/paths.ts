/**
 * Paths as the consumers of our reports expect them. Diagnostics and test results carry paths
 * relative to the policy repository (DIR); code scanning, workflow annotations and test-report
 * views resolve paths against the Git repository root, so a policy folder inside a monorepo
 * (`waypost check sub/`) must report `sub/policies/x.yaml`, not `policies/x.yaml`. The mapping
 * is done once, on the values, before any renderer runs: every format then agrees.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Diagnostic, Span } from "../compiler/diagnostics.js";
import { SourceFile } from "../compiler/source-file.js";
import type { TestReport } from "../lifecycle/testing/index.js";
import { UsageError } from "./command.js";

/** The nearest folder at or above `dir` holding `.git` (a folder, or a file in worktrees and submodules). */
export async function findGitRoot(dir: string): Promise<string | undefined> {
  let cur = path.resolve(dir);
  for (;;) {
    try {
      await fs.stat(path.join(cur, ".git"));
      return cur;
    } catch {
      // not here; go up
    }
    const up = path.dirname(cur);
    if (up === cur) return undefined;
    cur = up;
  }
}

/**
 * The prefix (`sub/dir/`, `/`-separated, or "") that turns a DIR-relative path into one relative
 * to `--base` when given, else to the Git repository root, else to DIR itself (no repository).
 */
export async function displayPrefix(dir: string, base: string | undefined, cwd: string): Promise<string> {
  const real = await fs.realpath(dir);
  let root: string | undefined;
  if (base !== undefined) {
    try {
      root = await fs.realpath(path.resolve(cwd, base));
    } catch {
      throw new UsageError(`\`--base ${base}\` does not exist`);
    }
  } else root = await findGitRoot(real);
  if (root === undefined) return "";
  const rel = path.relative(root, real);
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw new UsageError(`\`${dir}\` is not inside \`--base ${base}\``, );
  return rel === "" ? "" : rel.split(path.sep).join("/") + "/";
}

const spanAt = (s: Span, p: string): Span => ({ ...s, file: p + s.file });

export function rebaseDiagnostics(ds: readonly Diagnostic[], p: string): Diagnostic[] {
  if (!p) return [...ds];
  return ds.map((d) => ({
    ...d,
    ...(d.span ? { span: spanAt(d.span, p) } : {}),
    ...(d.related ? { related: d.related.map((r) => ({ ...r, span: spanAt(r.span, p) })) } : {}),
  }));
}

export function rebaseFiles(files: ReadonlyMap<string, SourceFile>, p: string): Map<string, SourceFile> {
  if (!p) return new Map(files);
  return new Map([...files].map(([k, f]) => [p + k, new SourceFile(p + f.path, f.text)]));
}

/** A test report with every path (diagnostics, cases, failures, invariants, coverage) rebased. */
export function rebaseReport(r: TestReport, p: string): TestReport {
  if (!p) return r;
  // Coverage sources are `file:line:col` strings made from DIR-relative paths.
  const source = (s: string): string => (s && !s.startsWith(p) && /:\d+:\d+$/.test(s) ? p + s : s);
  return {
    ...r,
    diagnostics: rebaseDiagnostics(r.diagnostics, p),
    files: rebaseFiles(r.files, p),
    cases: r.cases.map((k) => ({ ...k, file: p + k.file, span: spanAt(k.span, p), failures: k.failures.map((f) => ({ ...f, span: spanAt(f.span, p) })) })),
    invariants: r.invariants.map((i) => (i.file !== undefined ? { ...i, file: p + i.file } : i)),
    ...(r.coverage
      ? {
          coverage: {
            ...r.coverage,
            nodes: r.coverage.nodes.map((n) => ({ ...n, file: p + n.file, items: n.items.map((x) => ({ ...x, source: source(x.source) })) })),
            outcomes: r.coverage.outcomes.map((x) => ({ ...x, source: source(x.source) })),
          },
        }
      : {}),
  };
}
